# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled engine's lane: a connection that answers the commonest requests without an engine frame.

Built only by ``FULMEN_COMPILE=1`` (Cython; setup.py). ``fulmen.engine.lane`` decides at start-up whether a
server uses it and builds its route table; this module is the per-connection part. A read that holds exactly
one complete request for a lane route is answered here: parsed by httptools, the path looked up, a path
parameter or JSON body given to the route's own validator, the endpoint run in an eager task, a plain dict
encoded by msgspec (anything else by the route's serializer), the response written. Nothing is ever half-done
here: before an endpoint runs, the whole read is handed to a fresh ``HttpProtocol`` (which parses it again from
its first byte and owns the connection from then on); after an endpoint ran, its outcome is (``_Support`` in
``fulmen.engine.lane``). See docs/engine.md, "The lane".
"""

import sys

from cpython.bytes cimport PyBytes_GET_SIZE, PyBytes_AS_STRING
from cpython.dict cimport PyDict_Next
from cpython.ref cimport PyObject
from cpython.unicode cimport PyUnicode_GET_LENGTH, PyUnicode_READ_CHAR
from cpython.object cimport PyObject_Call
from libc.string cimport memcmp, memcpy
from cpython.bytes cimport PyBytes_FromStringAndSize

import asyncio
import httptools

cdef object HttpParserError = httptools.HttpParserError
cdef object HttpParserUpgrade = httptools.HttpParserUpgrade
cdef object HttpRequestParser = httptools.HttpRequestParser
# 3.12+: asyncio's C Task runs the first step inline (eager_start); 3.10/3.11: fulmen's run_eager.
cdef bint C_EAGER = sys.version_info >= (3, 12)
cdef object Task = asyncio.Task

cdef bytes CRLF = b"\r\n"
cdef bytes JSON_TYPE = b"\r\ncontent-type: application/json\r\n"

# What the lane looks at in a header name (HttpProtocol's _SPECIAL_HEADERS, plus Connection).
cdef enum:
    K_OTHER = 0
    K_HOST = 1
    K_CONTENT_LENGTH = 2
    K_TRANSFER_ENCODING = 3
    K_FORWARDED = 5
    K_CONNECTION = 6
    K_EXPECT = 7
    K_CONTENT_TYPE = 8


cdef inline bint _is(const char* name, const char* lower, Py_ssize_t n):
    """``name`` equals the lower-case ``lower`` (ASCII letters compared without case; both ``n`` bytes)."""
    cdef Py_ssize_t i
    cdef char c
    for i in range(n):
        c = name[i]
        if c >= 65 and c <= 90:
            c = c + 32
        if c != lower[i]:
            return False
    return True


cdef int _kind(bytes name):
    """The header's kind, from its length first: no lower-cased copy per header."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(name)
    cdef const char* p = PyBytes_AS_STRING(name)
    if n == 4:
        return K_HOST if _is(p, b"host", 4) else K_OTHER
    if n == 12:
        return K_CONTENT_TYPE if _is(p, b"content-type", 12) else K_OTHER
    if n == 6:
        return K_EXPECT if _is(p, b"expect", 6) else K_OTHER
    if n == 10:
        return K_CONNECTION if _is(p, b"connection", 10) else K_OTHER
    if n == 14:
        return K_CONTENT_LENGTH if _is(p, b"content-length", 14) else K_OTHER
    if n == 17:
        if _is(p, b"transfer-encoding", 17):
            return K_TRANSFER_ENCODING
        return K_FORWARDED if _is(p, b"x-forwarded-proto", 17) else K_OTHER
    if n == 9:
        return K_FORWARDED if _is(p, b"forwarded", 9) else K_OTHER
    if n == 15:
        return K_FORWARDED if _is(p, b"x-forwarded-for", 15) else K_OTHER
    if n == 16:
        return K_FORWARDED if _is(p, b"x-forwarded-host", 16) else K_OTHER
    return K_OTHER


cdef inline bint _flat_native(dict result):
    """A dict msgspec encodes exactly as FastAPI: str keys (not ``_sa*``) and str/int/bool/None values."""
    cdef Py_ssize_t pos = 0
    cdef PyObject* k
    cdef PyObject* v
    cdef object key
    cdef type tv
    while PyDict_Next(result, &pos, &k, &v):
        if type(<object>k) is not str:
            return False
        key = <object>k
        # jsonable_encoder drops "_sa*" keys (see fulmen.encoders._is_native)
        if PyUnicode_GET_LENGTH(key) >= 3 and PyUnicode_READ_CHAR(key, 0) == 95 and (<str>key).startswith("_sa"):
            return False
        tv = type(<object>v)
        if tv is not str and tv is not int and tv is not bool and v != <PyObject*>None:
            return False
    return True


cdef bytes _response(bytes head, bytes body, bytes date):
    """``head`` + content length + content type + ``date`` (the server's default lines) + body, in one allocation."""
    cdef char digits[24]
    cdef Py_ssize_t blen = PyBytes_GET_SIZE(body)
    cdef Py_ssize_t v = blen
    cdef int dlen = 0
    cdef int i
    cdef char c
    while True:  # decimal digits, reversed below
        digits[dlen] = 48 + v % 10
        dlen += 1
        v //= 10
        if v == 0:
            break
    for i in range(dlen // 2):
        c = digits[i]
        digits[i] = digits[dlen - 1 - i]
        digits[dlen - 1 - i] = c
    cdef Py_ssize_t hlen = PyBytes_GET_SIZE(head)
    cdef Py_ssize_t tlen = PyBytes_GET_SIZE(JSON_TYPE)
    cdef Py_ssize_t alen = PyBytes_GET_SIZE(date)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, hlen + dlen + tlen + alen + 2 + blen)
    cdef char* w = PyBytes_AS_STRING(out)
    memcpy(w, PyBytes_AS_STRING(head), hlen)
    w += hlen
    memcpy(w, digits, dlen)
    w += dlen
    memcpy(w, PyBytes_AS_STRING(JSON_TYPE), tlen)
    w += tlen
    memcpy(w, PyBytes_AS_STRING(date), alen)
    w += alen
    w[0] = 13
    w[1] = 10
    w += 2
    memcpy(w, PyBytes_AS_STRING(body), blen)
    return out


cdef inline bint _has_crlf(bytes b):
    cdef const char* p = PyBytes_AS_STRING(b)
    cdef Py_ssize_t i
    for i in range(PyBytes_GET_SIZE(b)):
        if p[i] == 13 or p[i] == 10:
            return True
    return False


cdef class LaneProtocol:
    """One connection while its requests are lane requests; see the module docstring."""

    cdef object state
    cdef object loop
    cdef object transport
    cdef object parser
    cdef dict static
    cdef dict templates
    cdef frozenset static_paths
    cdef public dict path_params
    cdef object support
    cdef object encode
    # what a read held (reset per read)
    cdef int begins
    cdef int completes
    cdef bint bad
    cdef public object url
    cdef public bytes raw
    cdef bytes body
    cdef object content_type
    cdef Py_ssize_t max_body
    cdef dict posts
    cdef object request
    cdef Py_ssize_t header_count
    cdef int host_count
    cdef object host
    cdef Py_ssize_t header_bytes
    # per connection
    cdef public object client
    cdef public object server
    cdef bint trusted_peer
    cdef object valid_host
    cdef bint write_paused
    cdef Py_ssize_t max_url
    cdef Py_ssize_t max_header_bytes
    cdef Py_ssize_t max_header_count
    cdef Py_ssize_t max_head
    cdef double keep_alive
    cdef double deadline
    cdef double timer_when
    cdef object timer
    cdef dict task_options
    cdef bytes out
    cdef object task
    cdef tuple entry
    cdef dict status_lines

    def __init__(self, state, table, support):
        config = state.config
        self.state = state
        self.loop = state.loop
        self.static = table.static
        self.templates = table.templates
        self.posts = table.posts
        self.static_paths = table.static_paths
        self.support = support
        self.encode = support.encode
        self.status_lines = support.status_lines
        self.parser = HttpRequestParser(self)
        self.max_url = config.max_url_length
        self.max_header_bytes = config.max_header_bytes
        self.max_header_count = config.max_header_count
        self.max_body = config.max_body_size
        self.max_head = self.max_url + self.max_header_bytes + 4096
        self.keep_alive = config.keep_alive_timeout
        self.valid_host = b""
        self.task_options = {"loop": self.loop, "eager_start": True}

    # -- connection lifecycle --------------------------------------------------------------------------------
    def connection_made(self, transport):
        state = self.state
        if len(state.connections) >= state.config.max_connections or state.shutting_down:
            self.support.refuse(self, transport)  # HttpProtocol answers the 503
            return
        self.transport = transport
        self.client, self.server, self.trusted_peer = self.support.peer(state, transport)
        state.connections.add(self)
        self._arm(self.keep_alive)

    def connection_lost(self, exc):
        self.state.connections.discard(self)
        self.transport = None
        self._cancel_timer()

    def eof_received(self):
        self._flush_out()
        return False  # always idle between reads: let the transport close

    def pause_writing(self):
        self.write_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self):
        self.write_paused = False
        if self.transport is not None and self.task is None:  # an endpoint still waiting keeps reading paused
            self.transport.resume_reading()

    def client_disconnected(self):
        """``request.is_disconnected()`` for a Request built here (an exception handler's)."""
        return self.transport is None

    def shutdown(self):
        """Server shutdown: this connection is idle; it gets up to a second for a last request (as HttpProtocol)."""
        if self.transport is None:
            return
        cdef double ka = self.keep_alive if self.keep_alive < 1.0 else 1.0
        cdef double when = self.loop.time() + ka
        if when < self.deadline:
            self.deadline = when
            if when < self.timer_when:
                self._cancel_timer()
                self.timer = self.loop.call_at(when, self._on_timer)
                self.timer_when = when

    def abort(self):
        """Grace period over: cancel a waiting endpoint and drop the connection (as HttpProtocol)."""
        if self.task is not None:
            self.task.cancel()
        if self.transport is not None:
            self.transport.abort()

    cdef _arm(self, double timeout):
        cdef double when = self.loop.time() + timeout
        self.deadline = when
        if self.timer is None:
            self.timer = self.loop.call_at(when, self._on_timer)
            self.timer_when = when

    cdef _cancel_timer(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _on_timer(self):
        self.timer = None
        if self.transport is None:
            return
        if self.task is not None:  # waiting on the app: no client timeout
            self.deadline = self.loop.time() + self.keep_alive
        if self.loop.time() < self.deadline:  # moved later since it was armed: sleep again
            self.timer = self.loop.call_at(self.deadline, self._on_timer)
            self.timer_when = self.deadline
            return
        self._flush_out()
        self.transport.close()  # keep-alive idle time is over

    # -- parsing: callbacks only record --------------------------------------------------------------------
    def on_message_begin(self):
        self.begins += 1

    def on_url(self, url):
        self.url = url if self.url is None else self.url + url

    def on_header(self, bytes name, bytes value):
        cdef int kind = _kind(name)
        self.header_count += 1
        self.header_bytes += PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value)
        if kind == K_OTHER:
            return
        if kind == K_HOST:
            self.host_count += 1
            self.host = value
        elif kind == K_CONTENT_TYPE:
            if self.content_type is None:  # the first one counts (as fulmen.plan reads it)
                self.content_type = value
        elif kind == K_TRANSFER_ENCODING or kind == K_EXPECT:
            self.bad = True  # chunked bodies, and 100 Continue (sent before the body): HttpProtocol's
        elif kind == K_FORWARDED:
            if self.trusted_peer:
                self.bad = True
        elif kind == K_CONNECTION:
            if not (PyBytes_GET_SIZE(value) == 10 and _is(PyBytes_AS_STRING(value), b"keep-alive", 10)):
                self.bad = True  # close, upgrade, or a list: HttpProtocol's

    def on_body(self, bytes body):
        self.body = body if self.body is None else self.body + body
        if PyBytes_GET_SIZE(self.body) > self.max_body:
            self.bad = True  # HttpProtocol answers the 413

    def on_message_complete(self):
        self.completes += 1

    # -- one read --------------------------------------------------------------------------------------------
    def data_received(self, data):
        cdef bytes url
        cdef Py_ssize_t n, i, qpos, slash, m
        cdef bint post
        cdef const char* p
        cdef const char* d
        if self.transport is None:
            return
        self.begins = 0
        self.completes = 0
        self.bad = False
        self.url = None
        self.raw = data
        self.body = None
        self.content_type = None
        self.request = None
        self.path_params = None
        self.header_count = 0
        self.host_count = 0
        self.header_bytes = 0
        if PyBytes_GET_SIZE(data) > self.max_head:
            self._hand_over(data)
            return
        try:
            self.parser.feed_data(data)
        except (HttpParserError, HttpParserUpgrade):
            self._hand_over(data)
            return
        if (
            self.begins != 1
            or self.completes != 1
            or self.bad
            or self.host_count != 1
            or self.header_bytes > self.max_header_bytes
            or self.header_count > self.max_header_count
            or self.state.shutting_down
        ):
            self._hand_over(data)
            return
        if self.host != self.valid_host:
            if not self.support.host_ok(self.host):
                self._hand_over(data)
                return
            self.valid_host = self.host
        url = self.url
        n = PyBytes_GET_SIZE(url)
        if n > self.max_url:
            self._hand_over(data)
            return
        p = PyBytes_AS_STRING(url)
        # Method and version from the request line itself (the read is exactly this one message): a GET or a
        # POST in HTTP/1.1 written the usual way; any other spelling llhttp accepts is HttpProtocol's.
        d = PyBytes_AS_STRING(data)
        if PyBytes_GET_SIZE(data) >= n + 15 and memcmp(d, b"GET ", 4) == 0:
            m = 4
            post = False
        elif PyBytes_GET_SIZE(data) >= n + 16 and memcmp(d, b"POST ", 5) == 0:
            m = 5
            post = True
        else:
            self._hand_over(data)
            return
        if memcmp(d + m, p, n) != 0 or memcmp(d + m + n, b" HTTP/1.1\r\n", 11) != 0:
            self._hand_over(data)
            return
        if p[0] != b"/":
            self._hand_over(data)  # absolute-form or asterisk-form target
            return
        qpos = n
        for i in range(n):
            if p[i] == b"?":
                qpos = i
                break
            if p[i] == b"%" or p[i] == b"#" or <unsigned char>p[i] >= 0x80:
                self._hand_over(data)  # percent-decoding and the rest: HttpProtocol's
                return
        if qpos < n:
            for i in range(qpos, n):
                if p[i] == b"#":
                    self._hand_over(data)
                    return
            path = url[:qpos]
        else:
            path = url
        if post:
            self._post(path, data)
            return
        if self.body is not None:
            self._hand_over(data)  # a GET with a body
            return
        entry = self.static.get(path)
        if entry is not None:
            self._run(<tuple>entry, entry[0]())
            return
        if self.templates and path not in self.static_paths:
            # /prefix/{name}: the last segment, validated by the plan's own validator
            slash = qpos - 1
            while p[slash] != b"/":
                slash -= 1
            if slash < qpos - 1:
                entry = self.templates.get(path[: slash + 1])
                if entry is not None:
                    segment = path[slash + 1 :].decode("ascii")
                    try:
                        value = entry[5](segment)
                    except Exception:
                        self._hand_over(data)  # HttpProtocol answers the 422 (nothing has run yet)
                        return
                    self.path_params = {entry[4]: segment}
                    self._run(<tuple>entry, PyObject_Call(entry[0], (), {entry[4]: value}))
                    return
        self._hand_over(data)  # not a lane route: 404, 405, redirects, everything else

    cdef _post(self, path, data):
        """A POST with a JSON body to a lane route: the body decoded by the route's own decoder."""
        entry = self.posts.get(path)
        ctype = self.content_type
        if (
            entry is None
            or self.body is None
            or ctype is None
            or not (PyBytes_GET_SIZE(ctype) == 16 and memcmp(PyBytes_AS_STRING(ctype), b"application/json", 16) == 0)
        ):
            self._hand_over(data)  # another route, no body, another content type: HttpProtocol's
            return
        try:
            value = entry[5](self.body)
        except Exception:
            self._hand_over(data)  # HttpProtocol answers the 422 or 400 (nothing has run yet)
            return
        self._run(<tuple>entry, PyObject_Call(entry[0], (), {entry[4]: value}))

    cdef _run(self, tuple entry, coro):
        if C_EAGER:
            task = PyObject_Call(Task, (coro,), self.task_options)  # PERF: no keyword dict per call
            if not task.done():
                self._wait(entry, task)
                return
            if task.cancelled() or task.exception() is not None:
                self.support.adopt_task(self, task, entry[1], entry[3])
                return
            self._answer(entry, task.result(), None, task)
        else:
            finished, result, context = self.support.run_eager(coro, self.loop)
            if finished:
                self._answer(entry, result, context, None)
            elif not result.done():
                self._wait(entry, result)
            else:
                self.support.adopt_task(self, result, entry[1], entry[3])

    cdef _wait(self, tuple entry, task):
        """The endpoint suspended: nothing more is read on this connection until it is answered."""
        self.entry = entry
        self.task = task
        self.transport.pause_reading()
        task.add_done_callback(self._task_done)

    def _task_done(self, task):
        entry = self.entry
        self.entry = None
        self.task = None
        if self.transport is None:  # the client left; as HttpProtocol, the handler ran to its end
            if not task.cancelled():
                task.exception()  # retrieved: asyncio doesn't log it as never retrieved
            return
        if not self.write_paused:
            self.transport.resume_reading()
        if task.cancelled() or task.exception() is not None or self.state.shutting_down:
            # HttpProtocol answers it (and during shutdown adds ``connection: close`` and closes after it)
            self.support.adopt_task(self, task, entry[1], entry[3])
            return
        self._answer(entry, task.result(), None, task)

    cdef _answer(self, tuple entry, result, context, task):
        cdef bytes head = entry[2]
        if type(result) is dict and _flat_native(<dict>result):
            try:
                body = self.encode(result)
            except Exception:  # an int beyond 64 bits: serialize raises it again, for the exception handlers
                pass
            else:
                self._hold(_response(head, <bytes>body, <bytes>self.state.date_header))
                return
        # Anything else (a Struct, a model, a list, a Response...) through the route's own serializer, as
        # the plan does; a plain response is written here too.
        try:
            response = entry[1](result)
        except Exception as exc:
            self.support.adopt_error(self, exc, entry[3], context if context is not None else self.support.task_context(task))
            return
        try:
            out = self._plain(response)
        except Exception:  # headers or a body of unusual types: HttpProtocol's to write (or refuse)
            out = None
        if out is None:
            self.support.adopt_response(self, response, context if context is not None else self.support.task_context(task))
            return
        self._hold(out)

    cdef _hold(self, bytes out):
        """Hold ``out`` for the end of this loop turn, written with every other connection's (as HttpProtocol)."""
        state = self.state
        if self.out is None:
            pending = <list>state.pending_writes
            if not pending:
                self.loop.call_soon(state.flush_writes)
            pending.append(self)
            self.out = out
        else:  # not reached: one request per read, and the read's response leaves before the next read
            self.out += out
        state.total_requests += 1
        self.deadline = self.loop.time() + self.keep_alive

    cdef object _plain(self, response):
        """The bytes HttpProtocol._write makes of ``response`` when it is a plain one, else None (adopted)."""
        cdef bytes name, value
        if response.streaming or response.background is not None:
            return None
        status = response.status_code
        if type(status) is not int or status < 200 or status == 204 or status == 304:
            return None
        line = self.status_lines.get(status)
        if line is None:
            return None
        parts = [line]
        for name, value in response.raw_headers:
            if _has_crlf(name) or _has_crlf(value):
                return None  # HttpProtocol answers 500 instead (response splitting)
            if PyBytes_GET_SIZE(name) == 10 and name == b"connection":
                return None
            parts += (name, b": ", value, CRLF)
        parts.append(self.state.date_header)
        parts.append(CRLF)
        body = response.body
        if type(body) is not bytes:
            return None
        parts.append(body)
        return b"".join(parts)

    cdef _hand_over(self, data):
        self.support.hand_over(self, data)

    def _flush_out(self):
        """Write the response held for the end of this loop turn (ServerState.flush_writes calls it)."""
        out = self.out
        if out is not None:
            self.out = None
            if self.transport is not None:
                self.transport.write(out)

    def build_request(self):
        """The Request for the current read (built once, only when something needs it)."""
        if self.request is None:
            self.request = self.support.build_request(self)
        return self.request

    def release(self):
        """Give up the connection (``fulmen.engine.lane`` hands it to an HttpProtocol): no more callbacks here."""
        self._flush_out()  # a response held for this turn goes first
        transport = self.transport
        self.transport = None
        self.state.connections.discard(self)
        self._cancel_timer()
        return transport, self.write_paused
