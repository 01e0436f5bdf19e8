"""Cross-check against FastAPI 0.165: ``jsonable_encoder`` and returned values with Pydantic's special types
(secrets, URLs, ``NameEmail``, ``PydanticUndefined``), subclasses of the ``ipaddress`` types, and times and
datetimes whose UTC offset msgspec would write differently from ``isoformat`` (``Z``, offsets with seconds).

Returned values are compared through every front door against FastAPI's answers (TestClient, in process);
the fast path (``_is_native``) is checked to still take the common values.

No ``from __future__ import annotations`` here: FastAPI must resolve the handlers' annotations.
"""

import datetime
import ipaddress
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import fastapi
import fastapi.encoders
import fastapi.responses
import httpx
import pydantic
import pydantic_core
import pytest

import fulmen
import fulmen.encoders
import fulmen.responses
from fulmen.encoders import _is_native
from fulmen.testclient import TestClient
from tests.test_crosscheck_fastapi import _reraise_only_unanswered

pytestmark = pytest.mark.timeout(60)

TD = datetime.timedelta
UTC = datetime.timezone.utc


class MyIPv4(ipaddress.IPv4Address):
    pass


class MyNetwork(ipaddress.IPv6Network):
    pass


class MySecret(pydantic.SecretStr):
    pass


class Login(pydantic.BaseModel):
    user: str
    password: pydantic.SecretStr
    home: pydantic.HttpUrl


class SecondsOffset(datetime.tzinfo):
    """A zone one hour and 15 seconds east of UTC."""

    def utcoffset(self, dt: Any) -> datetime.timedelta:
        return TD(hours=1, seconds=15)

    def dst(self, dt: Any) -> None:
        return None


def _tz(**offset: int) -> datetime.timezone:
    return datetime.timezone(TD(**offset))


#: Values whose FastAPI encoding fulmen got wrong (or failed on); each is returned by a route, too.
SPECIAL: dict[str, Any] = {
    "secret": pydantic.SecretStr("pw"),
    "secret-bytes": pydantic.SecretBytes(b"pw"),
    "secret-subclass": MySecret("pw"),
    "secret-in-dict": {"s": pydantic.SecretStr("pw"), "l": [pydantic.SecretBytes(b"x")]},
    "http-url": pydantic.HttpUrl("https://example.com/a?b=1"),
    "any-url": pydantic.AnyUrl("foo://bar"),
    "any-http-url": [pydantic.AnyHttpUrl("http://a.b/c")],
    "core-url": pydantic_core.Url("https://x.org"),
    "name-email": pydantic.NameEmail("n", "a@b.c"),
    "undefined": pydantic_core.PydanticUndefined,
    "undefined-in-dict": {"a": pydantic_core.PydanticUndefined},
    "model-with-secret": Login(user="u", password="pw", home="https://x.org"),
    "ip-subclass": MyIPv4("1.2.3.4"),
    "network-subclass": {"n": MyNetwork("2001:db8::/32")},
    "pattern": re.compile("a+b"),
    "time-utc": datetime.time(1, 2, tzinfo=UTC),
    "time-utc-micro": datetime.time(1, 2, 3, 500, tzinfo=UTC),
    "time-seconds-offset": datetime.time(1, tzinfo=SecondsOffset()),
    "time-microsecond-offset": [datetime.time(1, tzinfo=_tz(microseconds=7))],
    "datetime-lmt": {"t": datetime.datetime(1800, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam"))},
    "datetime-negative-seconds": datetime.datetime(2020, 1, 1, tzinfo=_tz(hours=-3, seconds=-30)),
    "datetime-microsecond-offset": datetime.datetime(2020, 1, 1, tzinfo=_tz(microseconds=7)),
    "datetime-seconds-offset": [datetime.datetime(2020, 1, 1, tzinfo=SecondsOffset())],
    "datetime-utc": datetime.datetime(2020, 1, 1, tzinfo=UTC),
}

#: Values that stay on the fast path (msgspec writes them exactly as FastAPI does).
NATIVE: dict[str, Any] = {
    "naive": {"t": datetime.datetime(2020, 1, 2, 3, 4, 5, 6), "d": datetime.date(1, 1, 1)},
    "offset": [
        datetime.datetime(2020, 1, 1, tzinfo=_tz(hours=2)),
        datetime.datetime(2020, 1, 1, tzinfo=_tz(hours=-3)),
    ],
    "zoneinfo-summer": datetime.datetime(2020, 6, 1, 12, tzinfo=ZoneInfo("Europe/Amsterdam")),
    "time-naive": [datetime.time(1, 2, 3, 100000), datetime.time(0)],
    "time-offset": datetime.time(1, 2, tzinfo=_tz(hours=-5, minutes=-30)),
    "time-zoneinfo": datetime.time(1, 2, tzinfo=ZoneInfo("Europe/Amsterdam")),  # no offset without a date
    "plain": {"a": [1, "b", None, True, 2.5]},
}


def test_jsonable_encoder_matches_fastapi() -> None:
    for name, value in {**SPECIAL, **NATIVE}.items():
        assert fulmen.encoders.jsonable_encoder(value) == fastapi.encoders.jsonable_encoder(value), name


def test_jsonable_encoder_known_values() -> None:
    """Guards against comparing two broken encoders."""
    enc = fulmen.encoders.jsonable_encoder
    assert enc(SPECIAL["secret-in-dict"]) == {"s": "**********", "l": ["b'**********'"]}
    assert enc(SPECIAL["http-url"]) == "https://example.com/a?b=1"
    assert enc(SPECIAL["name-email"]) == "n <a@b.c>"
    assert enc(SPECIAL["undefined-in-dict"]) == {"a": None}
    assert enc(SPECIAL["ip-subclass"]) == "1.2.3.4"
    assert enc(SPECIAL["time-utc"]) == "01:02:00+00:00"
    assert enc(SPECIAL["datetime-lmt"]) == {"t": "1800-01-01T00:00:00+00:19:32"}


def test_fast_path_takes_the_common_values_only() -> None:
    for name, value in NATIVE.items():
        assert _is_native(value), name
    for name, value in SPECIAL.items():
        assert not _is_native(value), name


def test_encoding_does_not_import_pydantic() -> None:
    code = (
        "import sys, ipaddress, datetime\n"
        "from fulmen.encoders import jsonable_encoder, encode_json_converted\n"
        "class Thing:\n"
        "    def __init__(self): self.a = ipaddress.IPv4Address('1.1.1.1')\n"
        "assert jsonable_encoder(Thing()) == {'a': '1.1.1.1'}\n"
        "utc = datetime.timezone.utc\n"
        "assert encode_json_converted([datetime.time(1, tzinfo=utc)]) == b'[\"01:00:00+00:00\"]'\n"
        "try:\n"
        "    jsonable_encoder(1j)\n"
        "except ValueError:\n"
        "    pass\n"
        "print('pydantic' in sys.modules, 'pydantic_core' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


# ------------------------------------------------------------------------------------------------------------
# Returned values and JSONResponse content, through every front door
# ------------------------------------------------------------------------------------------------------------
def _returning(value: Any) -> Callable[[], Any]:
    def endpoint() -> Any:
        return value

    return endpoint


def build(fw: Any) -> Any:
    app = fw.FastAPI()
    for name, value in {**SPECIAL, **NATIVE}.items():
        # response_model=None: no annotation-derived model, the value goes through jsonable_encoder.
        app.add_api_route(f"/value/{name}", _returning(value), methods=["GET"], response_model=None)

    @app.get("/json-response/time-utc")
    def json_response_time() -> Any:
        # Starlette's JSONResponse json.dumps its content: a time is not JSON data, a 500. fulmen writes it as
        # jsonable_encoder does (a documented difference, test_json_response_writes_what_json_dumps_cannot).
        return fw.responses.JSONResponse({"t": datetime.time(1, 2, tzinfo=UTC)})

    @app.get("/json-response/lmt")
    def json_response_lmt() -> Any:
        return fw.responses.JSONResponse([datetime.datetime(1800, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam"))])

    @app.get("/json-response/plain")
    def json_response_plain() -> Any:
        return fw.responses.JSONResponse({"a": [1, "é", None]})

    return app


def _urls() -> list[str]:
    return [f"/value/{name}" for name in {**SPECIAL, **NATIVE}] + [
        "/json-response/time-utc",
        "/json-response/lmt",
        "/json-response/plain",
    ]


def _answer(client: httpx.Client, url: str) -> tuple[int, str | None, bytes]:
    r = client.get(url)
    return r.status_code, r.headers.get("content-type"), r.content


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, tuple[int, str | None, bytes]]:
    app = _reraise_only_unanswered(build(fastapi))
    with TestClient(app, raise_server_exceptions=False) as client:
        return {url: _answer(client, url) for url in _urls()}


def test_fastapi_answers_are_meaningful(fastapi_answers: dict[str, tuple[int, str | None, bytes]]) -> None:
    assert fastapi_answers["/value/secret"] == (200, "application/json", b'"**********"')
    assert fastapi_answers["/value/time-utc"][2] == b'"01:02:00+00:00"'
    assert fastapi_answers["/value/datetime-negative-seconds"][2] == b'"2020-01-01T00:00:00-03:00:30"'
    tiny_offset = b'"2020-01-01T00:00:00+00:00:00.000007"'
    assert fastapi_answers["/value/datetime-microsecond-offset"][2] == tiny_offset
    assert fastapi_answers["/json-response/time-utc"][0] == 500


def test_same_answers_as_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, tuple[int, str | None, bytes]]
) -> None:
    client = serve(build(fulmen))
    failures = []
    for url in _urls():
        if url in _LENIENT:
            continue
        got = _answer(client, url)
        if got != fastapi_answers[url]:
            failures.append(f"  {url}\n    fastapi: {fastapi_answers[url]}\n    fulmen:  {got}")
    assert not failures, f"{len(failures)} answers differ from FastAPI:\n" + "\n".join(failures)


#: JSONResponse content json.dumps can't write: FastAPI answers 500; fulmen writes jsonable_encoder's text.
_LENIENT = {
    "/json-response/time-utc": b'{"t":"01:02:00+00:00"}',
    "/json-response/lmt": b'["1800-01-01T00:00:00+00:19:32"]',
}


def test_json_response_writes_what_json_dumps_cannot(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, tuple[int, str | None, bytes]]
) -> None:
    """Aware datetimes and times in JSONResponse content come out as jsonable_encoder writes them (no 500),
    like the naive datetimes, dates and UUIDs fulmen's JSONResponse already accepted."""
    client = serve(build(fulmen))
    for url, body in _LENIENT.items():
        assert fastapi_answers[url][0] == 500
        assert _answer(client, url) == (200, "application/json", body)
