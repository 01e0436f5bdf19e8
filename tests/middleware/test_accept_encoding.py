"""The Accept-Encoding parser and the choice of coding (RFC 9110 §12.5.3), on hypothesis-made headers."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from fulmen.middleware import UNBOUND_APP
from fulmen.middleware.compression import CompressionMiddleware, parse_accept_encoding, select_encoding

CODINGS = ["gzip", "x-gzip", "br", "zstd", "deflate", "compress", "identity", "*", "exi", "pack200-gzip"]
OFFERED = ["zstd", "br", "gzip"]
TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"

ows = st.sampled_from(["", " ", "  ", "\t"])
qvalues = st.one_of(
    st.integers(0, 1000).map(lambda n: (n / 1000, f"{n / 1000:.3f}".rstrip("0").rstrip(".") or "0")),
    st.sampled_from([(1.0, "1"), (1.0, "1.0"), (1.0, "1.000"), (0.0, "0"), (0.0, "0."), (0.0, "0.000")]),
)


@st.composite
def header(draw: st.DrawFn) -> tuple[str, dict[str, float]]:
    """A well-formed Accept-Encoding value in varied spellings, and the q-value each coding should get."""
    expected: dict[str, float] = {}
    elements = []
    for _ in range(draw(st.integers(0, 8))):
        coding = draw(st.sampled_from(CODINGS))
        spelled = "".join(c.upper() if draw(st.booleans()) else c for c in coding)
        weight = draw(st.one_of(st.none(), qvalues))
        q = 1.0 if weight is None else weight[0]
        element = spelled
        if weight is not None:
            q_name = draw(st.sampled_from(["q", "Q"]))
            element += f"{draw(ows)};{draw(ows)}{q_name}={weight[1]}"
        elements.append(draw(ows) + element + draw(ows))
        name = "gzip" if coding == "x-gzip" else coding
        expected[name] = min(expected.get(name, q), q)
        if draw(st.booleans()):
            elements.append(draw(ows))  # empty list elements are allowed
    return ",".join(elements), expected


@settings(max_examples=500, deadline=None, database=None)
@given(header())
def test_well_formed_headers_parse_to_their_weights(case: tuple[str, dict[str, float]]) -> None:
    value, expected = case
    assert parse_accept_encoding(value) == expected


@settings(max_examples=500, deadline=None, database=None)
@given(st.text(alphabet=st.characters(codec="latin-1"), max_size=80))
def test_any_text_parses_to_tokens_and_valid_weights(value: str) -> None:
    parsed = parse_accept_encoding(value)
    for coding, q in parsed.items():
        assert coding and coding == coding.lower() and set(coding) <= set(TOKEN_CHARS.lower())
        assert 0.0 <= q <= 1.0


@settings(max_examples=300, deadline=None, database=None)
@given(
    header(),
    st.sampled_from(["q=2", "q=1.5", "q=0.1234", "q=abc", "q=", "q=-0", "q=.5", "q=1.001"]),
)
def test_an_invalid_weight_drops_its_element(case: tuple[str, dict[str, float]], bad: str) -> None:
    value, expected = case
    assert parse_accept_encoding(f"{value}, lz4;{bad}" if value else f"lz4;{bad}") == expected


@settings(max_examples=1000, deadline=None, database=None)
@given(header(), st.permutations(OFFERED).flatmap(lambda p: st.integers(1, 3).map(lambda n: p[:n])))
def test_the_choice_follows_rfc_9110(case: tuple[str, dict[str, float]], offered: list[str]) -> None:
    """Chosen: acceptable (q > 0), weighted highest, the server's order among equals; identity only when the
    client rates it above every offered coding, or nothing offered is acceptable."""
    value, accepted = case
    chosen = select_encoding(parse_accept_encoding(value), offered)

    def q(coding: str) -> float:
        return accepted.get(coding, accepted.get("*", 0.0))

    best = max(q(o) for o in offered)
    if chosen is None:
        assert best == 0.0 or accepted.get("identity", 0.0) > best
    else:
        assert chosen in offered and q(chosen) == best > 0.0
        assert all(q(o) < best for o in offered[: offered.index(chosen)])
        assert accepted.get("identity", 0.0) <= best


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(header(), min_size=1, max_size=5))
def test_the_middleware_cache_answers_as_the_parser(cases: list[tuple[str, dict[str, float]]]) -> None:
    middleware = CompressionMiddleware(UNBOUND_APP)
    for _ in range(2):  # the second round is answered from the cache
        for value, _expected in cases:
            codec = middleware.choose(value.encode("latin-1"))
            name = select_encoding(parse_accept_encoding(value), middleware.encodings)
            assert (None if codec is None else codec.name) == name


def test_the_cache_is_bounded() -> None:
    middleware = CompressionMiddleware(UNBOUND_APP)
    for i in range(2000):
        assert middleware.choose(f"gzip;q=0.5, x{i}".encode()).name == "gzip"  # type: ignore[union-attr]
    assert len(middleware._choices) <= 256
