"""Running a route's dependency tree per request: FastAPI's ``Depends`` semantics on a plan built at start-up.

``plan.get_dependant`` analyses the tree once (sub-dependencies, their parameters, scopes and cache keys);
this module walks it per request. Only routes that declare dependencies come here (DESIGN.md §3.2): a route
without any keeps ``plan.compile_plan``'s flat handler.

Semantics follow FastAPI 0.165: sub-dependencies are solved in declaration order before the dependant's own
parameters; a sub-dependency whose parameters fail validation is not called, but its siblings are; results are
cached per request by call (and OAuth2 scopes when they matter) unless ``use_cache=False``; ``yield``
dependencies end after the response is sent (``scope="request"``, the default) or right after the handler
returns (``scope="function"``), newest first, and an exception raised by the handler is thrown into them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fulmen._concurrency import run_in_threadpool
from fulmen.background import BackgroundTasks
from fulmen.exceptions import FastAPIError, RequestValidationError, http_error
from fulmen.forms import FormSolver, compile_form_solver, has_form_fields, read_route_form
from fulmen.plan import (
    BodyField,
    Connection,
    Dependant,
    EndpointContext,
    _is_json_content_type,
    _json_syntax_error,
    _lenient_json,
    _merge_sub_response,
    _prefixed,
    _solve_request_params,
    buffered_body,
    fill_aliases,
    get_dependant,
    read_route_body,
    solve_embedded,
)
from fulmen.requests import Request
from fulmen.responses import InjectedResponse, Response
from fulmen.validation import BodyParseFailure, JSONDecodeFailure, ValidationFailure, loads_json

_MISSING: Any = object()
_BODY_PARSE_ERROR = "There was an error parsing the body"
# Keeps the phrase FastAPI's message has ("... raising an exception and a dependency with yield ..."): users
# and tests search for it.
_SWALLOWED = (
    "Response not awaited: the application code is raising an exception and a dependency with yield caught "
    "it (a bare except, or except Exception) without raising it again, so there is no response to send. "
    "Re-raise it (or raise an HTTPException) in the dependency's except block. Read more about it in the "
    "docs: https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/#dependencies-with-yield-and-except"
)


class _Body:
    """The request body, read and parsed once for the whole tree (FastAPI reads it before solving)."""

    __slots__ = ("data", "outcome", "raw")

    def __init__(self, raw: bytes, data: Any, outcome: Any) -> None:
        self.raw = raw
        #: The parsed JSON (embedded fields) or the raw bytes; what ``RequestValidationError.body`` shows.
        self.data = data
        #: Non-embedded single field: its value, or a ValidationFailure.
        self.outcome = outcome


class _Run:
    """Per-request state of one route with dependencies."""

    __slots__ = (
        "body",
        "cache",
        "function_exits",
        "guard",
        "inline_sync",
        "overrides",
        "request",
        "request_exits",
        "sub_response",
        "tasks",
    )

    def __init__(self, request: Connection, inline_sync: bool) -> None:
        self.request = request
        self.inline_sync = inline_sync
        self.cache: dict[Any, Any] = {}
        self.request_exits: list[tuple[Any, bool | None]] = []
        self.function_exits: list[tuple[Any, bool | None]] = []
        self.sub_response: Response | None = None
        self.tasks: BackgroundTasks | None = None
        self.body: _Body | None = None
        #: anyio's cancel scope around the yield dependencies, when anyio is loaded (see ``_open_guard``).
        self.guard: Any = None
        # The dict itself, read at each dependency: an override installed by an earlier dependency of this
        # very request applies to the later ones, as in FastAPI.
        self.overrides: dict[Any, Any] | None = getattr(request.app, "dependency_overrides", None)

    @property
    def http_request(self) -> Request:
        """The request where only an HTTP request can be: bodies and forms (WebSocket routes read neither)."""
        request = self.request
        assert isinstance(request, Request), "a WebSocket has no request body"
        return request

    def response_param(self) -> Response:
        sub = self.sub_response
        if sub is None:
            sub = self.sub_response = InjectedResponse()
        return sub


# ------------------------------------------------------------------------------------------------------------
# Body
# ------------------------------------------------------------------------------------------------------------
async def _read_body(request: Request, fields: list[BodyField], embed: bool, lax: bool = False) -> _Body:
    """Read and parse the body once; a JSON syntax error is the only error, as in FastAPI.

    ``lax``: the route's ``strict_content_type=False`` (a body without a Content-Type is JSON)."""
    raw = buffered_body(request)
    if raw is None:
        raw = await read_route_body(request)
    if not raw:
        return _Body(raw, None, _MISSING)
    is_json = _is_json_content_type(request, lax)
    try:
        if embed:
            data = loads_json(raw) if is_json else raw
            return _Body(raw, data, _MISSING)
        field = fields[0]
        try:
            value = field.decode_json(raw) if is_json else field.validate(raw)
        except ValidationFailure as invalid:
            return _Body(raw, _lenient_json(raw) if is_json else raw, invalid)
        return _Body(raw, raw, value)
    # One name per except clause: mypyc types a name once per function (docs/engine.md, What to compile).
    except JSONDecodeFailure as not_json:
        raise _json_syntax_error(not_json, raw) from None
    except BodyParseFailure as unparseable:
        raise http_error(400, _BODY_PARSE_ERROR) from unparseable


def _solve_body(
    fields: list[BodyField], embed: bool, body: _Body, values: dict[str, Any], errors: list[dict[str, Any]]
) -> None:
    if not embed:
        f = fields[0]
        outcome = body.outcome
        if outcome is _MISSING:
            f.fill_missing(("body",), values, errors)
        elif isinstance(outcome, ValidationFailure):
            errors.extend(_prefixed(outcome.errors, ("body",)))
        else:
            values[f.name] = outcome
        return
    data = body.data
    solve_embedded(fields, data, values, errors, bool(body.raw) and not isinstance(data, bytes))


def should_embed(fields: list[BodyField]) -> bool:
    """FastAPI's rule: body fields are embedded by name unless there is exactly one, not marked ``embed``."""
    if len({f.name for f in fields}) > 1:
        return True
    return bool(fields and fields[0].marker.embed)


# ------------------------------------------------------------------------------------------------------------
# Solving
# ------------------------------------------------------------------------------------------------------------
class DependencyRunner:
    """Solves one route's dependency tree per request (built once, at registration)."""

    def __init__(self, root: Dependant, inline_sync: bool) -> None:
        self.root = root
        self.inline_sync = inline_sync
        self.body_fields = [f for d in root.iter_tree() for f in d.body_params]
        self.embed = should_embed(self.body_fields)
        #: Form()/File() bodies: one compiled form solver per dependant that declares form fields.
        self.is_form = has_form_fields(self.body_fields)
        self._form_solvers: dict[int, FormSolver] = {}
        #: Dependants analysed for overriding callables, per (original dependant, override).
        self._overridden: dict[tuple[int, Any], Dependant] = {}

    def solve(self, run: _Run) -> Coroutine[Any, Any, dict[str, Any]]:
        """The root's keyword arguments, or raise ``RequestValidationError`` with every error found."""
        if self.is_form or self.body_fields:
            return self._solve_with_body(run)
        # PERF: no body to read: ``solve_values`` is the whole job, without a coroutine of this step.
        return self.solve_values(run)

    async def _solve_with_body(self, run: _Run) -> dict[str, Any]:
        # PERF: the body step inline (not ``read_body`` then ``solve_values``): one coroutine per request.
        if self.is_form:
            # Parsed once, up front (parse errors come before anything runs); each dependant reads its fields.
            await read_route_form(run.http_request)
        elif self.body_fields:
            run.body = await _read_body(
                run.http_request, self.body_fields, self.embed, self.root.json_without_content_type
            )
        values: dict[str, Any] = {}
        errors = await self._solve(self.root, run, values)
        if errors:
            await self._invalid(run, errors)
        return values

    async def read_body(self, run: _Run) -> None:
        """``solve``'s first step alone: read and parse the body (telemetry times the rest separately)."""
        if self.is_form:
            await read_route_form(run.http_request)
        elif self.body_fields:
            run.body = await _read_body(run.http_request, self.body_fields, self.embed)

    async def solve_values(self, run: _Run) -> dict[str, Any]:
        """``solve`` after ``read_body``: the parameters and dependencies."""
        values: dict[str, Any] = {}
        errors = await self._solve(self.root, run, values)
        if errors:
            await self._invalid(run, errors)
        return values

    async def _invalid(self, run: _Run, errors: list[dict[str, Any]]) -> None:
        body = run.body
        if self.is_form:
            raise RequestValidationError(errors, body=await read_route_form(run.http_request))
        raise RequestValidationError(errors, body=body.data if body is not None else None)

    def _form_solver(self, dep: Dependant) -> FormSolver:
        solver = self._form_solvers.get(id(dep))
        if solver is None:
            solver = self._form_solvers[id(dep)] = compile_form_solver(dep.body_params, dep.where)
        return solver

    async def _solve(self, dep: Dependant, run: _Run, values: dict[str, Any]) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
        for sub in dep.dependencies:
            use = sub
            if run.overrides:
                override = run.overrides.get(sub.call)
                if override is not None:
                    use = self._override(sub, override)
            sub_values: dict[str, Any] = {}
            if use.dependencies or use.body_params:
                sub_errors = await self._solve(use, run, sub_values)
            else:
                # PERF: nothing to await while solving a dependency without sub-dependencies or a body.
                sub_errors = self._solve_leaf(use, run, sub_values)
            if sub_errors:
                errors.extend(sub_errors)
                continue
            key = sub.cache_key
            cache = run.cache
            if sub.use_cache and key in cache:
                solved = cache[key]
            else:
                solved = await self._call(use, run, sub_values)
                if key not in cache:
                    cache[key] = solved
            if sub.name is not None:
                values[sub.name] = solved
        request = run.request
        _solve_request_params(dep, request, values, errors)
        if dep.body_params and self.is_form:
            await self._form_solver(dep)(run.http_request, values, errors)
        elif dep.body_params:
            body = run.body
            if body is None:  # an override brought body parameters the route itself doesn't have
                run.body = body = await _read_body(
                    run.http_request,
                    dep.body_params,
                    should_embed(dep.body_params),
                    self.root.json_without_content_type,
                )
            _solve_body(dep.body_params, self.embed or len(dep.body_params) > 1, body, values, errors)
        self._fill_roles(dep, run, values)
        return errors

    def _solve_leaf(self, dep: Dependant, run: _Run, values: dict[str, Any]) -> list[dict[str, Any]]:
        """``_solve`` for a dependant without sub-dependencies or body parameters: synchronous."""
        errors: list[dict[str, Any]] = []
        _solve_request_params(dep, run.request, values, errors)
        self._fill_roles(dep, run, values)
        return errors

    def _fill_roles(self, dep: Dependant, run: _Run, values: dict[str, Any]) -> None:
        """The request, injected response, background tasks and security scopes ``dep`` asks for."""
        request = run.request
        if dep.request_param is not None:
            values[dep.request_param] = request
        if dep.response_param is not None:
            values[dep.response_param] = run.response_param()
        if dep.background_param is not None:
            if run.tasks is None:
                run.tasks = BackgroundTasks()
            values[dep.background_param] = run.tasks
        if dep.security_scopes_param is not None:
            from fulmen.security.oauth2 import SecurityScopes

            values[dep.security_scopes_param] = SecurityScopes(scopes=dep.scopes)
        if dep.aliases:
            fill_aliases(dep.aliases, values)

    def _call(self, dep: Dependant, run: _Run, kwargs: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        # PERF: hands back the coroutine that calls ``dep`` (no coroutine of its own around it).
        if dep.limiter is not None:
            return self._call_limited(dep, run, kwargs)
        return self._call_now(dep, run, kwargs)

    async def _call_limited(self, dep: Dependant, run: _Run, kwargs: dict[str, Any]) -> Any:
        """``Depends(max_concurrency=n)``: hold a slot for the call (a ``yield`` one until it ends)."""
        assert dep.limiter is not None
        sem = dep.limiter.get()
        await sem.acquire()
        if not (dep.is_generator or dep.is_async_generator):
            try:
                return await self._call_now(dep, run, kwargs)
            finally:
                sem.release()
        exits = run.function_exits if dep.scope == "function" else run.request_exits
        # Released when unwinding reaches it, i.e. right after the generator (pushed next) has ended.
        exits.append((sem, None))
        try:
            return await self._call_now(dep, run, kwargs)
        except BaseException:
            exits.remove((sem, None))
            sem.release()
            raise

    async def _call_now(self, dep: Dependant, run: _Run, kwargs: dict[str, Any]) -> Any:
        call = dep.call
        if run.guard is None and (dep.is_async_generator or dep.is_generator):
            run.guard = _open_guard()
        if dep.is_async_generator:
            if run.guard:
                run.guard.awaits = True
            # PERF: driven directly; a contextlib wrapper per request costs more than the call itself.
            agen = call(**kwargs)
            try:
                value = await agen.__anext__()
            except StopAsyncIteration:
                raise RuntimeError(f"{dep.where}: the dependency's generator didn't yield") from None
            (run.function_exits if dep.scope == "function" else run.request_exits).append((agen, True))
            return value
        if dep.is_generator:
            gen = call(**kwargs)
            try:
                value = next(gen) if run.inline_sync else await run_in_threadpool(next, gen)
            except StopIteration:
                raise RuntimeError(f"{dep.where}: the dependency's generator didn't yield") from None
            (run.function_exits if dep.scope == "function" else run.request_exits).append((gen, False))
            return value
        if dep.is_coroutine:
            return await call(**kwargs)
        if run.inline_sync:
            return call(**kwargs)
        return await run_in_threadpool(call, **kwargs)

    def _override(self, sub: Dependant, override: Callable[..., Any]) -> Dependant:
        key = (id(sub), override)
        found = self._overridden.get(key)
        if found is None:
            label = getattr(override, "__qualname__", None) or type(override).__qualname__
            found = get_dependant(
                override,
                path=sub.path,
                path_param_names=_path_names(sub),
                where=f"{sub.where} (overridden by {label})",
                name=sub.name,
                use_cache=sub.use_cache,
                scope=sub.scope if not (sub.is_generator or sub.is_async_generator) else None,
                parent_scopes=sub.scopes,
            )
            found.limiter = sub.limiter
            self._overridden[key] = found
        return found


def _path_names(dep: Dependant) -> set[str]:
    from fulmen.plan import _path_param_names

    return _path_param_names(dep.path)


# ------------------------------------------------------------------------------------------------------------
# Ending yield dependencies
# ------------------------------------------------------------------------------------------------------------
def _open_guard() -> Any:
    """Enter a cancel scope before the first ``yield`` dependency starts, when anyio is loaded; else False.

    FastAPI runs the code after ``yield`` shielded from cancellation. anyio's cancel scopes re-cancel the
    task at every ``await`` until they exit, so that code could not finish once the request is cancelled.
    One scope, entered before any dependency can open its own, is shielded while the exits run; scopes the
    dependencies opened still close in LIFO order inside it. Without anyio loaded nothing cancels that way.
    """
    anyio = sys.modules.get("anyio")
    if anyio is None:
        return False
    task = asyncio.current_task()
    if not _under_anyio_scope(task):
        # PERF: a plain asyncio task (fulmen's engine, uvicorn, fulmen's TestClient) is cancelled once, the
        # asyncio way, and its exits run to the end without a scope; entering one costs ~65k instructions.
        return False
    scope = anyio.CancelScope()
    scope.__enter__()
    return _Guard(scope, task)


_anyio_task_states: Any = None


def _under_anyio_scope(task: asyncio.Task[Any] | None) -> bool:
    """Whether ``task`` runs inside an anyio cancel scope (an anyio task group, ``anyio.run``, Starlette's
    TestClient portal): only there can a cancellation be re-raised at every ``await`` of the exits."""
    global _anyio_task_states
    states = _anyio_task_states
    if states is None:
        try:
            from anyio._backends._asyncio import _task_states as states
        except Exception:  # another anyio layout: assume a scope, as before this check existed
            return True
        _anyio_task_states = states
    state = states.get(task) if task is not None else None
    return state is not None and getattr(state, "cancel_scope", None) is not None


class _Guard:
    """The cancel scope ``_open_guard`` entered, and the task it belongs to."""

    __slots__ = ("awaits", "scope", "task")

    def __init__(self, scope: Any, task: asyncio.Task[Any] | None) -> None:
        self.scope = scope
        self.task = task
        #: An async generator's exit ran inside: a cancellation it held off is raised on leaving, as in
        #: FastAPI (sync exits leave the response's timing alone).
        self.awaits = False

    async def close(self, exc: BaseException | None) -> None:
        """Leave the scope, in its own task only (the engine runs request exits in another one).

        A cancellation held off while the exits ran is raised now, when no other exception is in flight.
        """
        if self.task is not asyncio.current_task():
            return
        self.task = None
        if exc is not None:
            self.scope.__exit__(type(exc), exc, exc.__traceback__)
            return
        self.scope.__exit__(None, None, None)
        if self.awaits:
            await sys.modules["anyio"].lowlevel.checkpoint_if_cancelled()


def _unwind(
    exits: list[tuple[Any, bool | None]], exc: BaseException | None, inline_sync: bool, guard: Any = None
) -> Coroutine[Any, Any, Any]:
    """End ``yield`` dependencies newest first, passing ``exc`` along as ``AsyncExitStack`` would.

    The coroutine returns the exception still in flight afterwards (None when a dependency swallowed it or
    none was raised). It runs shielded from cancellation inside ``guard`` (``_open_guard``); a cancellation
    is thrown in like any exception and passed on afterwards. Every caller awaits it at once.
    """
    if not guard or guard.task is not asyncio.current_task():
        # No scope, or another task's (the engine ends request-scoped dependencies in a task of their own).
        # PERF: the unwinding coroutine itself, without a shielding layer around it.
        return _unwind_now(exits, exc, inline_sync)
    return _unwind_shielded(exits, exc, inline_sync, guard)


async def _unwind_shielded(
    exits: list[tuple[Any, bool | None]], exc: BaseException | None, inline_sync: bool, guard: Any
) -> Any:
    guard.scope.shield = True
    try:
        return await _unwind_now(exits, exc, inline_sync)
    finally:
        guard.scope.shield = False


async def _unwind_now(
    exits: list[tuple[Any, bool | None]], exc: BaseException | None, inline_sync: bool
) -> Any:
    while exits:
        gen, is_async = exits.pop()
        if is_async is None:
            gen.release()  # a max_concurrency slot held by the generator that just ended
            continue
        try:
            if is_async:
                if exc is None:
                    # PERF: the common case (nothing to throw in) inline, without _end_async's coroutine.
                    try:
                        await gen.__anext__()
                    except StopAsyncIteration:
                        continue
                    raise RuntimeError("a dependency's generator yielded more than once")
                suppressed = await _end_async(gen, exc)
            elif inline_sync:
                suppressed = _end_sync(gen, exc)
            else:
                suppressed = await run_in_threadpool(_end_sync, gen, exc)
            if suppressed:
                exc = None
        except BaseException as new:
            exc = new
    return exc


async def _end_async(gen: Any, exc: BaseException) -> bool:
    """Throw ``exc`` into an async generator at its ``yield``; True if it swallowed ``exc``.

    (Without an exception, ``_unwind`` resumes the generator itself.)
    """
    try:
        await gen.athrow(exc)
    except StopAsyncIteration as stop:
        return stop is not exc
    except BaseException as raised:
        if raised is exc or (isinstance(exc, StopAsyncIteration) and raised.__cause__ is exc):
            return False
        raise
    raise RuntimeError("a dependency's generator yielded again after an exception was thrown into it")


def _end_sync(gen: Any, exc: BaseException | None) -> bool:
    """``_end_async`` for a plain generator."""
    if exc is None:
        try:
            next(gen)
        except StopIteration:
            return False
        raise RuntimeError("a dependency's generator yielded more than once")
    try:
        gen.throw(exc)
    except StopIteration as stop:
        return stop is not exc
    except BaseException as raised:
        if raised is exc or (isinstance(exc, StopIteration) and raised.__cause__ is exc):
            return False
        raise
    raise RuntimeError("a dependency's generator yielded again after an exception was thrown into it")


class _FinishRequest:
    """The response's background: the route's own background tasks, then the request-scoped exits."""

    __slots__ = ("background", "exits", "guard", "inline_sync")

    def __init__(
        self,
        background: Callable[[], Awaitable[Any]] | None,
        exits: list[tuple[Any, bool | None]],
        inline_sync: bool,
        guard: Any,
    ) -> None:
        self.background = background
        self.exits = exits
        self.inline_sync = inline_sync
        self.guard = guard

    async def __call__(self) -> None:
        exc: BaseException | None = None
        if self.background is not None:
            try:
                await self.background()
            except BaseException as e:
                exc = e
        left = await _unwind(self.exits, exc, self.inline_sync, self.guard)
        if self.guard:
            await self.guard.close(left)
        if left is not None:
            raise left

    async def abort(self, exc: BaseException) -> None:
        """Sending the response failed or was cancelled: end the request's ``yield`` dependencies anyway,
        ``exc`` thrown into them (the route's background tasks don't run, as in Starlette)."""
        left = await _unwind(self.exits, exc, self.inline_sync, self.guard)
        if self.guard:
            await self.guard.close(left)
        if left is not None and left is not exc:
            raise left


def compile_with_dependencies(
    dep: Dependant,
    *,
    invoke: Callable[[dict[str, Any]], Awaitable[Any]],
    serialize: Callable[[Any], Response],
    inline_sync: bool,
    streams: bool = False,
    operations: Any = None,
    direct: Callable[..., Any] | None = None,
) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """The request handler for an endpoint that has dependencies (or a ``SecurityScopes`` parameter).

    ``direct``: the ``async def`` endpoint itself when ``invoke`` only calls it with the values.
    """
    runner = DependencyRunner(dep, inline_sync)
    where = EndpointContext(dep.call, dep.path)
    solve = runner.solve
    if operations is not None:  # an instrumented app's route: a span around solving
        solve = operations.timed_solve(runner, dep.call)

    async def run_with_dependencies(request: Request) -> Response:
        run = _Run(request, inline_sync)
        try:
            try:
                values = await solve(run)
                # PERF: an async endpoint is called here, one frame less than through invoke.
                result = await (direct(**values) if direct is not None else invoke(values))
                response = serialize(result)
            except BaseException as exc:
                guard = run.guard
                if not (run.function_exits or run.request_exits):
                    if guard:
                        await guard.close(exc)
                    raise
                left = await _unwind(run.function_exits, exc, inline_sync, guard)
                left = await _unwind(run.request_exits, left, inline_sync, guard)
                if guard:
                    await guard.close(left)
                if left is None:
                    raise FastAPIError(_SWALLOWED) from exc
                if left is exc:
                    raise
                raise left from None
            if run.function_exits:
                left = await _unwind(run.function_exits, None, inline_sync, run.guard)
                if left is not None:
                    left = await _unwind(run.request_exits, left, inline_sync, run.guard)
                    if left is not None:
                        if run.guard:
                            await run.guard.close(left)
                        raise left
            sub = run.sub_response
            if sub is not None and (response is not result or streams):
                response = _merge_sub_response(
                    response, sub
                )  # as plan.compile_plan: not into a returned Response
            tasks = run.tasks
            # A generator endpoint adds its tasks while the response streams: attach them even when none
            # was added yet (an empty BackgroundTasks runs nothing).
            if tasks is not None and (tasks.tasks or streams) and response.background is None:
                response.background = tasks
            if run.request_exits:
                # The response's background slot takes any awaitable callable; both front doors await it.
                response.background = _FinishRequest(  # type: ignore[assignment]
                    response.background, run.request_exits, inline_sync, run.guard
                )
            elif run.guard:
                await run.guard.close(None)
            return response
        except Exception as exc:
            where.attach(exc, request.method, request.root_path)
            return await request.app.handle_exception(request, exc)  # type: ignore[union-attr]

    return run_with_dependencies
