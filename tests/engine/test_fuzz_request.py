"""The request-path fuzz target (fuzz/fuzz_request.py) without atheris: its seed corpus and a few thousand
hypothesis-generated inputs through a real ``HttpProtocol``, with every invariant checked after each one."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz.fuzz_request import (
    CORPUS,
    SEEDS,
    Violation,
    check,
    decode,
    encode,
    one_input,
    parse_responses,
    run_case,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SEED_FILES = sorted(CORPUS.iterdir())


def test_corpus_on_disk_matches_the_seeds() -> None:
    # `python fuzz/fuzz_request.py --write-seeds` rewrites the corpus from SEEDS.
    assert {p.name: p.read_bytes() for p in SEED_FILES} == SEEDS


@pytest.mark.parametrize("path", SEED_FILES, ids=[p.name for p in SEED_FILES])
def test_seed(path: Path) -> None:
    one_input(path.read_bytes())


def test_seeds_reach_what_they_are_named_for() -> None:
    """The harness really drives the engine: a few seeds' outputs, checked by hand."""

    def statuses(name: str) -> list[int]:
        output, methods, _ = run_case(decode(SEEDS[name]))
        return [r.status for r in parse_responses(output, methods)]

    assert statuses("pipelined") == [200] * 4
    assert statuses("pipeline-over-cap") == [200] * 9
    assert statuses("pipeline-backlog") == [200] * 9  # parsed in slices: a backlog waits for the pipeline
    assert statuses("head") == [200, 200]
    assert statuses("expect-continue") == [100, 200]
    assert statuses("post-invalid") == [422]
    assert statuses("stream") == [200, 200]  # written through pause_writing/resume_writing
    assert statuses("asterisk") == [404, 400]
    assert statuses("te-gzip-chunked") == [501]
    assert statuses("header-timeout") == [408]
    assert statuses("body-timeout") == [408]
    assert statuses("eof-mid-body") == []
    assert statuses("websocket") == [403]


def test_a_broken_invariant_is_reported() -> None:
    # The checker is not a no-op: a response the app never asked for is a violation.
    output, methods, transport = run_case(decode(SEEDS["get"]))
    with pytest.raises(Violation):
        parse_responses(output + b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab", methods)
    with pytest.raises(Violation, match="an engine response with status 200"):
        check(output + output, methods, transport)
    with pytest.raises(Violation, match="3 responses for 1 requests"):
        check(output * 3, methods, transport)


# -- generated inputs --------------------------------------------------------------------------------------
_HEADERS = [
    b"Host: a\r\n",
    b"Host: a b\r\n",
    b"Content-Length: 3\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length: +3\r\n",
    b"Content-Length: 99999\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive\r\n",
    b"Connection: Upgrade\r\nUpgrade: websocket\r\n",
    b"Content-Type: application/json\r\n",
    b"X-Token: t\r\n",
    b"Cookie: session=1\r\n",
]
_TOKENS = [
    b"GET",
    b"POST",
    b"PUT",
    b"HEAD",
    b"OPTIONS",
    b"DELETE",
    b" ",
    b"  ",
    b"\t",
    b"/",
    b"/items/7",
    b"/items/x",
    b"/items",
    b"/raw",
    b"/headers",
    b"/cookies",
    b"/stream?n=4",
    b"/suspend",
    b"?q=1&limit=2",
    b"*",
    b"http://h/items/1",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"\r\n",
    b"\n",
    b"\r",
    *_HEADERS,
    b" folded\r\n",
    b'{"name":"n","price":2}',
    b"abc",
    b"3\r\nabc\r\n",
    b"0\r\n\r\n",
    b"zz\r\n",
    b"ffffffffffffffffff\r\n",
    b":",
    b"\x00",
    b"\xff",
]

_REQUEST = st.builds(
    lambda method, target, version, headers, body: (
        method + b" " + target + b" " + version + b"\r\n" + b"".join(headers) + b"\r\n" + body
    ),
    st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"DELETE"]),
    st.sampled_from([b"/", b"/items/3?q=x", b"/items", b"/raw", b"/headers", b"/stream?n=2", b"/suspend"]),
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]),
    st.lists(st.sampled_from(_HEADERS), max_size=5),
    st.sampled_from([b"", b"abc", b"3\r\nabc\r\n0\r\n\r\n", b'{"name":"n","price":2}']),
)
_PAYLOAD = st.one_of(
    st.lists(st.sampled_from(_TOKENS), max_size=30).map(b"".join),  # token soup
    st.lists(_REQUEST, min_size=1, max_size=6).map(b"".join),  # mostly well-formed pipelines
    st.lists(st.one_of(_REQUEST, st.binary(max_size=20)), max_size=5).map(b"".join),  # with garbage between
    st.binary(max_size=300),
)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(
    payload=_PAYLOAD,
    cuts=st.lists(st.integers(0, 255), max_size=7),
    eof=st.booleans(),
    tiny=st.booleans(),
    slices=st.booleans(),
    fire_timer=st.booleans(),
)
def test_generated_inputs_keep_every_invariant(
    payload: bytes, cuts: list[int], eof: bool, tiny: bool, slices: bool, fire_timer: bool
) -> None:
    data = encode(payload, tuple(cuts), eof=eof, tiny=tiny, slices=slices)
    if fire_timer:
        data = bytes([data[0] | 32]) + data[1:]
    try:
        one_input(data)
    except Violation as exc:  # name the input: it replays with `python fuzz/fuzz_request.py FILE`
        raise Violation(f"{exc}\ninput: {data!r}") from exc
