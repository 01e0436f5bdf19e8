"""The query-string fast path parses exactly as ``urllib.parse.parse_qsl(..., keep_blank_values=True)``."""

from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from fulmen.datastructures import QueryParams, _parse_query


@given(st.text(alphabet="ab=&;%+2 xé\x00", max_size=24))
def test_same_pairs_as_parse_qsl(query: str) -> None:
    assert _parse_query(query) == parse_qsl(query, keep_blank_values=True)


def test_query_params_views() -> None:
    q = QueryParams(b"a=1&b=&a=2&c&&d=x%20y")
    assert q["a"] == "2"
    assert q.getlist("a") == ["1", "2"]
    assert q["b"] == "" and q["c"] == ""
    assert q["d"] == "x y"


def test_get_and_in_match_the_mapping_protocol() -> None:
    """``get``/``in`` are written out (one frame, no KeyError for a miss): same answers as ``[]``."""
    from fulmen.datastructures import Headers

    q = QueryParams(b"a=1&a=2&e=")
    assert q.get("a") == "2" and q.get("e") == ""
    assert q.get("zz") is None and q.get("zz", "d") == "d" and q.get("a", "d") == "2"
    assert "a" in q and "e" in q and "zz" not in q and 1 not in q

    h = Headers(raw=[(b"x-token", b"t1"), (b"x-token", b"t2"), (b"empty", b"")])
    assert h.get("X-Token") == "t1" == h["x-token"]  # the first value, any case
    assert h.get("empty") == "" and h.get("nope") is None and h.get("nope", 0) == 0
    assert "X-TOKEN" in h and "nope" not in h
