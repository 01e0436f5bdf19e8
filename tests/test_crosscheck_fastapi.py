"""Cross-check: the same app built with FastAPI and with fulmen must answer the same requests identically.

The apps are written once against a framework module (``tests/crosscheck_apps.py``). FastAPI's answers are
collected once per module, in-process; fulmen's come through every front door (``serve``). Compared: status,
body bytes, and every header except those a server adds on its own (date, server, content-length, ...).

Documented differences are excluded from equality and asserted on their own (``test_documented_*``):
- fulmen answers HEAD on GET routes (FastAPI 0.165 says 405), so its ``Allow`` also lists HEAD;
- fulmen's 405 ``Allow`` lists every method of the path, FastAPI's only the first matching route's.
Any other difference found is listed in ``KNOWN_DIFFERENCES`` and runs as a strict xfail.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import re
from collections.abc import Callable
from typing import Any

import fastapi
import fastapi.responses  # the apps use ``fw.responses``
import httpx
import pytest

import fulmen
import fulmen.responses  # the apps use ``fw.responses``
from fulmen.testclient import TestClient
from tests.crosscheck_apps import (
    CASES_BODIES,
    CASES_PARAMS,
    CASES_RESPONSE_MODEL,
    CASES_ROUTING,
    Case,
    build_bodies,
    build_params,
    build_response_model,
    build_routing,
)

GROUPS: dict[str, tuple[Callable[[Any], Any], list[Case]]] = {
    "params": (build_params, CASES_PARAMS),
    "bodies": (build_bodies, CASES_BODIES),
    "routing": (build_routing, CASES_ROUTING),
    "response_model": (build_response_model, CASES_RESPONSE_MODEL),
}

# Headers a server or transport adds by itself; everything else the app sets is compared.
_IGNORED_HEADERS = frozenset(
    {"date", "server", "content-length", "connection", "keep-alive", "transfer-encoding"}
)

#: Differences found by this file, not (yet) fixed or documented: case id -> (reason, front doors affected or
#: None for all). Each runs in ``test_known_difference`` as a strict xfail on the affected front doors.
KNOWN_DIFFERENCES: dict[str, tuple[str, frozenset[str] | None]] = {}


@dataclasses.dataclass(frozen=True)
class Answer:
    """What a client sees of a response, normalised so two servers can be compared."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def show(self) -> str:
        headers = "; ".join(f"{k}: {v}" for k, v in self.headers)
        return f"{self.status} [{headers}]\n      body={self.body!r}"


_EXPIRES = re.compile(r"(?i)(expires=)([^;]+)")


def _relative_expiry(match: re.Match[str]) -> str:
    # delete_cookie() and set_cookie(expires=<int seconds>) give a time relative to now: compare the offset.
    try:
        when = email.utils.parsedate_to_datetime(match.group(2))
        offset = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    except (TypeError, ValueError):
        return match.group(0)
    if abs(offset) < 2 * 86400:
        return f"{match.group(1)}<now{round(offset / 60):+d}min>"
    return match.group(0)


def _normalise_header(name: str, value: str, base_url: str) -> str:
    if name == "location" and value.startswith(base_url):
        return value[len(base_url) :] or "/"
    if name == "set-cookie":
        return _EXPIRES.sub(_relative_expiry, value)
    return value


def ask(client: httpx.Client, case: Case, *, drop_head: bool = False) -> Answer:
    """Send one case; ``drop_head`` removes HEAD from ``Allow`` (fulmen's documented HEAD support)."""
    _, method, url, kwargs = case
    # Both clients send the same User-Agent (the handlers echo it); a case may still override it.
    headers = httpx.Headers(kwargs.get("headers"))
    headers.setdefault("user-agent", "crosscheck")
    options = {k: v for k, v in kwargs.items() if k != "headers"}
    client.cookies.clear()
    r = client.request(method, url, headers=headers, follow_redirects=False, **options)
    client.cookies.clear()
    base = str(client.base_url).rstrip("/")
    out: list[tuple[str, str]] = []
    for raw_name, raw_value in r.headers.raw:
        name = raw_name.decode("latin-1").lower()
        if name in _IGNORED_HEADERS:
            continue
        value = _normalise_header(name, raw_value.decode("latin-1"), base)
        if name == "allow" and drop_head:
            value = ", ".join(m for m in value.split(", ") if m != "HEAD")
        out.append((name, value))
    # A HEAD response has no body on the wire; in-process (FastAPI through TestClient) nothing strips it.
    body = b"" if method == "HEAD" else r.content
    return Answer(r.status_code, tuple(sorted(out)), body)


def _mismatch(case: Case, expected: Answer, got: Answer) -> str:
    cid, method, url, kwargs = case
    return f"  [{cid}] {method} {url} {kwargs!r}\n    fastapi: {expected.show()}\n    fulmen:  {got.show()}"


def _reraise_only_unanswered(app: Any) -> Any:
    """Wrap an ASGI app: an exception raised after the response was sent is dropped, as a server would log it.

    Starlette's ServerErrorMiddleware sends its 500 and then re-raises. fulmen's TestClient drops such an
    error only with ``raise_server_exceptions=False``; this lets a client with the default compare answers.
    """

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, tracking_send)
        except Exception:
            if not started:
                raise

    return wrapped


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, dict[str, Answer]]:
    """FastAPI's answer to every case, collected once (in-process, through fulmen's TestClient)."""
    answers: dict[str, dict[str, Answer]] = {}
    for group, (build, cases) in GROUPS.items():
        app = _reraise_only_unanswered(build(fastapi))
        with TestClient(app, raise_server_exceptions=False) as client:
            answers[group] = {case[0]: ask(client, case) for case in cases}
    return answers


def test_case_ids_are_unique() -> None:
    ids = [case[0] for _, cases in GROUPS.values() for case in cases]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert set(KNOWN_DIFFERENCES) <= set(ids)


@pytest.mark.parametrize("group", list(GROUPS))
def test_same_answers(
    group: str,
    serve: Callable[..., httpx.Client],
    front_door: str,
    fastapi_answers: dict[str, dict[str, Answer]],
) -> None:
    """Every case of the group answers exactly as FastAPI does (known differences run separately)."""
    build, cases = GROUPS[group]
    client = serve(build(fulmen))
    failures = []
    for case in cases:
        known = KNOWN_DIFFERENCES.get(case[0])
        if known is not None and (known[1] is None or front_door in known[1]):
            continue
        got = ask(client, case, drop_head=True)
        expected = fastapi_answers[group][case[0]]
        if got != expected:
            failures.append(_mismatch(case, expected, got))
    assert not failures, f"{len(failures)} of {len(cases)} cases differ from FastAPI:\n" + "\n".join(failures)


def _known_cases() -> list[Any]:
    out = []
    for group, (_, cases) in GROUPS.items():
        for case in cases:
            if case[0] in KNOWN_DIFFERENCES:
                out.append(pytest.param(group, case, id=case[0]))
    return out


@pytest.mark.parametrize(("group", "case"), _known_cases())
def test_known_difference(
    group: str,
    case: Case,
    serve: Callable[..., httpx.Client],
    front_door: str,
    fastapi_answers: dict[str, dict[str, Answer]],
    request: pytest.FixtureRequest,
) -> None:
    """A difference from FastAPI that is neither fixed nor documented yet: fails until fulmen matches."""
    reason, doors = KNOWN_DIFFERENCES[case[0]]
    if doors is None or front_door in doors:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    build, _ = GROUPS[group]
    client = serve(build(fulmen))
    got = ask(client, case, drop_head=True)
    expected = fastapi_answers[group][case[0]]
    assert got == expected, "differs from FastAPI:\n" + _mismatch(case, expected, got)


# ------------------------------------------------------------------------------------------------------------
# Documented differences: asserted on their own, so a change on either side is noticed.
# ------------------------------------------------------------------------------------------------------------
def test_documented_head_and_allow(serve: Callable[..., httpx.Client]) -> None:
    """fulmen answers HEAD on GET routes and lists every method of a path in Allow; FastAPI doesn't."""
    head_get: Case = ("head-on-get", "HEAD", "/only-get", {})
    get: Case = ("get", "GET", "/only-get", {})
    put_both: Case = ("405-two-routes", "PUT", "/both", {})
    post_get: Case = ("405-get-route", "POST", "/only-get", {})

    with TestClient(build_routing(fastapi), raise_server_exceptions=False) as fa:
        fa_head, fa_both, fa_post = ask(fa, head_get), ask(fa, put_both), ask(fa, post_get)
    assert fa_head.status == 405
    assert dict(fa_head.headers)["allow"] == "GET"
    assert fa_both.status == 405
    assert dict(fa_both.headers)["allow"] == "GET"  # the first matching route's methods only
    assert dict(fa_post.headers)["allow"] == "GET"

    client = serve(build_routing(fulmen))
    fu_head, fu_get = ask(client, head_get), ask(client, get)
    assert fu_head.status == 200
    assert fu_head.headers == fu_get.headers
    raw_head, raw_get = client.head("/only-get"), client.get("/only-get")
    assert raw_head.content == b""
    length = raw_get.headers["content-length"]
    assert raw_head.headers["content-length"] == length == str(len(raw_get.content))
    fu_both = ask(client, put_both)
    assert (fu_both.status, fu_both.body) == (fa_both.status, fa_both.body)
    assert dict(fu_both.headers)["allow"] == "GET, HEAD, POST"
    assert dict(ask(client, post_get).headers)["allow"] == "GET, HEAD"


def fastapi_answers_for(build: Callable[[Any], Any], cases: list[Case]) -> dict[str, Answer]:
    """FastAPI's answer to each case, in order, from ``build(fastapi)`` served in-process."""
    app = _reraise_only_unanswered(build(fastapi))
    with TestClient(app, raise_server_exceptions=False) as client:
        return {case[0]: ask(client, case) for case in cases}


def assert_same_as_fastapi(client: httpx.Client, cases: list[Case], expected: dict[str, Answer]) -> None:
    """Send every case, in order, and fail listing each answer that differs from FastAPI's."""
    failures = []
    for case in cases:
        got = ask(client, case, drop_head=True)
        if got != expected[case[0]]:
            failures.append(_mismatch(case, expected[case[0]], got))
    assert not failures, f"{len(failures)} of {len(cases)} cases differ from FastAPI:\n" + "\n".join(failures)
