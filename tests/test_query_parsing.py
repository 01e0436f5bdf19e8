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
