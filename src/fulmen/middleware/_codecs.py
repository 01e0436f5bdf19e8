"""Content codings for ``CompressionMiddleware``: zstd, Brotli and gzip, and ``Accept-Encoding`` negotiation.

Each codec has a one-shot ``compress`` for whole bodies and an ``encoder()`` for streams, whose ``chunk``
flushes after every piece (the client can decode what it has, so server-sent events stay real-time). The
libraries are imported when a codec is built (at start-up), never by ``import fulmen``.
"""

from __future__ import annotations

import importlib
import re
import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

#: The codings the middleware can produce, in its default order of preference.
ENCODINGS = ("zstd", "br", "gzip")
#: Levels chosen for dynamic responses: fast enough per request, most of the ratio of the high levels.
DEFAULT_LEVELS: Mapping[str, int] = {"zstd": 3, "br": 4, "gzip": 6}
# Allowed levels. zstd stops at 19: 20-22 ("ultra") use windows over the 8 MB that HTTP clients accept
# (RFC 9659); negative zstd levels are its fast modes.
_LEVEL_RANGES: Mapping[str, range] = {"zstd": range(-(1 << 17), 20), "br": range(0, 12), "gzip": range(0, 10)}
_EXTRA_HINT = 'pip install "fulmen[compression]"'


class Encoder(Protocol):
    """One response's compression stream."""

    def chunk(self, data: bytes) -> bytes:
        """Compress ``data`` and flush: the output decodes to everything given so far."""

    def finish(self, data: bytes) -> bytes:
        """Compress the last ``data`` and end the stream."""


class Codec:
    """A content coding at a chosen level: ``compress`` for whole bodies, ``encoder()`` for streams."""

    __slots__ = ("compress", "encoder", "level", "name", "token")

    def __init__(
        self, name: str, level: int, compress: Callable[[bytes], bytes], encoder: Callable[[], Encoder]
    ) -> None:
        self.name = name
        #: ``name`` as the Content-Encoding header value.
        self.token = name.encode("latin-1")
        self.level = level
        self.compress = compress
        self.encoder = encoder

    def __repr__(self) -> str:
        return f"<Codec {self.name} level={self.level}>"


# -- gzip (stdlib zlib) -------------------------------------------------------------------------------------
class _GzipEncoder:
    __slots__ = ("_c",)

    def __init__(self, level: int) -> None:
        self._c = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def chunk(self, data: bytes) -> bytes:
        return self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)

    def finish(self, data: bytes) -> bytes:
        return self._c.compress(data) + self._c.flush()


def _gzip(level: int) -> Codec:
    def compress(data: bytes) -> bytes:
        # PERF: a window just large enough for the body: the same output, and a 4 KB body compresses ~4x
        # faster (zlib sets up the whole window for every stream). 16 + wbits: the gzip wrapper.
        wbits = max(9, min(15, (len(data) - 1).bit_length()))
        c = zlib.compressobj(level, zlib.DEFLATED, 16 + wbits)
        return c.compress(data) + c.flush()

    return Codec("gzip", level, compress, lambda: _GzipEncoder(level))


# -- Brotli (brotli) -----------------------------------------------------------------------------------------
class _BrotliEncoder:
    __slots__ = ("_c",)

    def __init__(self, brotli: Any, quality: int) -> None:
        self._c = brotli.Compressor(quality=quality)

    def chunk(self, data: bytes) -> bytes:
        out: bytes = self._c.process(data) + self._c.flush()
        return out

    def finish(self, data: bytes) -> bytes:
        out: bytes = self._c.process(data) + self._c.finish()
        return out


def _brotli(level: int) -> Codec:
    brotli = _library("brotli", "br")

    def compress(data: bytes) -> bytes:
        # PERF: as gzip's, a window (2**lgwin - 16 bytes) just large enough for the body, not 4 MB.
        lgwin = max(10, min(22, (len(data) + 15).bit_length()))
        out: bytes = brotli.compress(data, quality=level, lgwin=lgwin)
        return out

    return Codec("br", level, compress, lambda: _BrotliEncoder(brotli, level))


# -- zstd (zstandard, or the standard library's compression.zstd from Python 3.14) ---------------------------
class _ZstandardEncoder:
    __slots__ = ("_c", "_flush")

    def __init__(self, zstandard: Any, level: int) -> None:
        self._c = zstandard.ZstdCompressor(level=level).compressobj()
        self._flush = zstandard.COMPRESSOBJ_FLUSH_BLOCK

    def chunk(self, data: bytes) -> bytes:
        out: bytes = self._c.compress(data) + self._c.flush(self._flush)
        return out

    def finish(self, data: bytes) -> bytes:
        out: bytes = self._c.compress(data) + self._c.flush()
        return out


class _StdlibZstdEncoder:
    __slots__ = ("_c", "_flush")

    def __init__(self, zstd: Any, level: int) -> None:
        self._c = zstd.ZstdCompressor(level=level)
        self._flush = zstd.ZstdCompressor.FLUSH_BLOCK

    def chunk(self, data: bytes) -> bytes:
        out: bytes = self._c.compress(data, self._flush)
        return out

    def finish(self, data: bytes) -> bytes:
        out: bytes = self._c.compress(data) + self._c.flush()
        return out


def _zstd(level: int) -> Codec:
    try:
        zstandard = _library("zstandard", "zstd")
    except ImportError:
        try:
            stdlib = importlib.import_module("compression.zstd")  # Python 3.14+
        except ImportError:
            raise ImportError(
                f"zstd compression needs the zstandard package (or Python 3.14+): {_EXTRA_HINT}"
            ) from None
        return stdlib_zstd(stdlib, level)
    local = threading.local()

    def compress(data: bytes) -> bytes:
        # PERF: one compression context per thread, reused: a new context allocates its working memory.
        context = getattr(local, "context", None)
        if context is None:
            context = local.context = zstandard.ZstdCompressor(level=level)
        out: bytes = context.compress(data)
        return out

    return Codec("zstd", level, compress, lambda: _ZstandardEncoder(zstandard, level))


def stdlib_zstd(module: Any, level: int) -> Codec:
    """The zstd codec over the standard library's ``compression.zstd`` API (also ``backports.zstd``)."""

    def compress(data: bytes) -> bytes:
        out: bytes = module.compress(data, level=level)
        return out

    return Codec("zstd", level, compress, lambda: _StdlibZstdEncoder(module, level))


def _library(module: str, coding: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{coding} compression needs the {module} package: {_EXTRA_HINT}") from None


_BUILDERS: Mapping[str, Callable[[int], Codec]] = {"zstd": _zstd, "br": _brotli, "gzip": _gzip}


def check_level(name: str, level: object) -> int:
    """``level`` for codec ``name``, or a ValueError that gives the allowed range."""
    allowed = _LEVEL_RANGES[name]
    if type(level) is not int or level not in allowed:
        raise ValueError(
            f"{name} level must be an int from {allowed.start} to {allowed.stop - 1}, got {level!r}"
        )
    return level


def build_codec(name: str, level: int) -> Codec:
    """The codec ``name`` at ``level`` (ImportError naming the extra when its library is missing)."""
    return _BUILDERS[name](level)


# -- Accept-Encoding (RFC 9110 §12.5.3) ----------------------------------------------------------------------
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


def parse_accept_encoding(value: str) -> dict[str, float]:
    """The codings an ``Accept-Encoding`` value lists, lower-cased, with their q-values (``x-gzip`` is gzip).

    Lenient where RFC 9110 allows it (empty list elements, whitespace, unknown parameters are ignored) and
    strict about weights: an element whose ``q`` is not a valid qvalue is dropped, not guessed. A coding
    listed twice keeps its lowest q-value, so a refusal (``q=0``) is never overridden.
    """
    result: dict[str, float] = {}
    for element in value.split(","):
        coding, *params = element.split(";")
        coding = coding.strip(" \t").lower()
        if not coding or not _TOKEN.fullmatch(coding):
            continue
        q = 1.0
        for param in params:
            key, _, raw = param.partition("=")
            if key.strip(" \t").lower() == "q":
                raw = raw.strip(" \t")
                if not _QVALUE.fullmatch(raw):
                    q = -1.0
                    break
                q = float(raw)
        if q < 0:
            continue
        if coding == "x-gzip":
            coding = "gzip"  # RFC 9110 §8.4.1.3: a recipient SHOULD consider it equivalent to gzip
        previous = result.get(coding)
        result[coding] = q if previous is None else min(previous, q)
    return result


def select_encoding(accepted: Mapping[str, float], offered: Sequence[str]) -> str | None:
    """The coding to answer with: the highest q-value among ``offered``, ties going to ``offered``'s order.

    None means identity: nothing offered is acceptable, or the client rates ``identity`` strictly higher
    than every offered coding. ``*`` stands for every coding not listed by name.
    """
    star = accepted.get("*", 0.0)
    best: str | None = None
    best_q = 0.0
    for name in offered:
        q = accepted.get(name, star)
        if q > best_q:
            best, best_q = name, q
    if best is not None and accepted.get("identity", 0.0) > best_q:
        return None
    return best
