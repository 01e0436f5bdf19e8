"""Form bodies: parsing ``application/x-www-form-urlencoded`` and ``multipart/form-data``, and filling
``Form()``/``File()``/``UploadFile`` parameters from the parsed form with FastAPI's rules and error bodies.

python-multipart is imported only when a form is parsed or a form parameter is declared, with an error naming
the extra (``pip install "fulmen[multipart]"``). Routes without form parameters never reach this module at
request time (DESIGN.md §3.2): ``plan.py`` calls in here only for endpoints that declared form fields.
"""

from __future__ import annotations

import codecs
import dataclasses
import types
import typing
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, Union, cast, get_args, get_origin
from urllib.parse import unquote_plus

import msgspec

from fulmen import params
from fulmen._typing import is_class
from fulmen.background import BackgroundTask
from fulmen.datastructures import FormData, FormValue, Headers, UploadFile
from fulmen.exceptions import BaseHTTPException, FastAPIError, http_error
from fulmen.validation import (
    ValidationFailure,
    is_pydantic_model,
)

if TYPE_CHECKING:
    from types import TracebackType

    from fulmen.plan import BodyField
    from fulmen.requests import Request
    from fulmen.responses import Response

__all__ = [
    "DEFAULT_MAX_FIELDS",
    "DEFAULT_MAX_FILES",
    "DEFAULT_MAX_PART_SIZE",
    "SPOOL_MAX_SIZE",
    "AwaitableForm",
    "FormParseError",
    "close_files_after",
    "compile_form_solver",
    "ensure_multipart_installed",
    "form_fields_are_not_json",
    "form_union_validator",
    "has_form_fields",
    "is_upload_annotation",
    "parse_form",
    "read_route_form",
]

#: Uploaded files stay in memory up to this size, then move to a temporary file on disk (as Starlette).
SPOOL_MAX_SIZE = 1024 * 1024
#: Starlette 1.0's defaults for ``request.form()`` and for the forms FastAPI parses for ``Form()`` routes.
DEFAULT_MAX_FILES = 1000
DEFAULT_MAX_FIELDS = 1000
DEFAULT_MAX_PART_SIZE = 1024 * 1024

#: Bytes handed to the multipart parser at a time: bounds the file data queued between two writes.
_FEED_SIZE = 64 * 1024

MULTIPART_MISSING = (
    'Form data requires "python-multipart" to be installed: pip install "fulmen[multipart]" '
    "(or pip install python-multipart)"
)
_BODY_PARSE_ERROR = "There was an error parsing the body"


class FormParseError(Exception):
    """The form body is malformed or over a limit; ``message`` is the 400 response's detail."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _python_multipart() -> Any:
    try:
        import python_multipart
    except ImportError as exc:
        raise FastAPIError(MULTIPART_MISSING) from exc
    return python_multipart


def ensure_multipart_installed(where: str = "") -> None:
    """Raise ``FastAPIError`` naming the extra when python-multipart is missing (checked at registration)."""
    try:
        _python_multipart()
    except FastAPIError as exc:
        if where:
            raise FastAPIError(f"{where}: {MULTIPART_MISSING}") from exc.__cause__
        raise


# ------------------------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------------------------
def _decode(raw: bytes | bytearray, charset: str) -> str:
    # A part in a charset it doesn't declare must not fail the request: fall back to latin-1 (lossless).
    try:
        return raw.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return raw.decode("latin-1")


class _UrlencodedReader:
    """python-multipart callbacks collecting ``name=value`` pairs, with the field count and size limits."""

    def __init__(self, max_fields: float, max_part_size: int) -> None:
        self.items: list[tuple[str, FormValue]] = []
        self.max_fields = max_fields
        self.max_part_size = max_part_size
        self.count = 0
        self.size = 0
        self.name = bytearray()
        self.value = bytearray()

    def _grow(self, n: int) -> None:
        self.size += n
        if self.size > self.max_part_size:
            raise FormParseError(f"Field exceeded maximum size of {int(self.max_part_size / 1024)}KB.")

    def on_field_start(self) -> None:
        self.size = 0
        self.name = bytearray()
        self.value = bytearray()

    def on_field_name(self, data: bytes, start: int, end: int) -> None:
        self._grow(end - start)
        self.name += data[start:end]

    def on_field_data(self, data: bytes, start: int, end: int) -> None:
        self._grow(end - start)
        self.value += data[start:end]

    def on_field_end(self) -> None:
        self.count += 1
        if self.count > self.max_fields:
            raise FormParseError(f"Too many fields. Maximum number of fields is {self.max_fields}.")
        # Raw bytes are latin-1, %-escapes UTF-8: what browsers send and what Starlette decodes.
        name = unquote_plus(self.name.decode("latin-1"))
        self.items.append((name, unquote_plus(self.value.decode("latin-1"))))


class _MultipartReader:
    """python-multipart callbacks building fields and ``UploadFile`` parts, with Starlette 1.0's limits.

    The callbacks are synchronous; file data is queued and written by ``flush`` (awaited after each chunk)
    so writes to a file that has moved to disk run in the thread pool, not on the event loop.
    """

    def __init__(
        self,
        parse_options_header: Callable[[bytes | None], tuple[bytes, dict[bytes, bytes]]],
        charset: str,
        max_files: float,
        max_fields: float,
        max_part_size: int,
    ) -> None:
        from tempfile import SpooledTemporaryFile  # lazy: only multipart bodies need it

        self.spooled_file = SpooledTemporaryFile
        self.parse_options_header = parse_options_header
        self.charset = charset
        self.max_files = max_files
        self.max_fields = max_fields
        self.max_part_size = max_part_size
        self.items: list[tuple[str, FormValue]] = []
        self.files = 0
        self.fields = 0
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.headers: list[tuple[bytes, bytes]] = []
        self.disposition: bytes | None = None
        self.name = ""
        self.data = bytearray()
        self.upload: UploadFile | None = None
        self.writes: list[tuple[UploadFile, bytes]] = []
        self.finished: list[UploadFile] = []
        #: Every spooled file opened so far, closed if parsing fails half-way.
        self.opened: list[UploadFile] = []

    def on_part_begin(self) -> None:
        self.headers = []
        self.disposition = None
        self.name = ""
        self.data = bytearray()
        self.upload = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        name = bytes(self.header_name).lower()
        value = bytes(self.header_value)
        if name == b"content-disposition":
            self.disposition = value
        self.headers.append((name, value))
        self.header_name = bytearray()
        self.header_value = bytearray()

    def on_headers_finished(self) -> None:
        _, options = self.parse_options_header(self.disposition)
        if b"name" not in options:
            raise FormParseError('The Content-Disposition header field "name" must be provided.')
        self.name = _decode(options[b"name"], self.charset)
        if b"filename" in options:
            self.files += 1
            if self.files > self.max_files:
                raise FormParseError(f"Too many files. Maximum number of files is {self.max_files}.")
            spooled = self.spooled_file(max_size=SPOOL_MAX_SIZE)
            upload = UploadFile(
                cast(BinaryIO, spooled),
                size=0,
                filename=_decode(options[b"filename"], self.charset),
                headers=Headers(raw=self.headers),
            )
            self.opened.append(upload)
            self.upload = upload
        else:
            self.fields += 1
            if self.fields > self.max_fields:
                raise FormParseError(f"Too many fields. Maximum number of fields is {self.max_fields}.")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        upload = self.upload
        if upload is None:
            if len(self.data) + (end - start) > self.max_part_size:
                raise FormParseError(f"Part exceeded maximum size of {int(self.max_part_size / 1024)}KB.")
            self.data += data[start:end]
        else:
            self.writes.append((upload, data[start:end]))

    def on_part_end(self) -> None:
        upload = self.upload
        if upload is None:
            self.items.append((self.name, _decode(self.data, self.charset)))
        else:
            # Listed now, in arrival order; its last bytes are written (and it is rewound) by the next flush.
            self.finished.append(upload)
            self.items.append((self.name, upload))

    async def flush(self) -> None:
        """Write the queued file data and rewind the files that are complete."""
        if self.writes:
            writes, self.writes = self.writes, []
            for upload, chunk in writes:
                await upload.write(chunk)
        if self.finished:
            finished, self.finished = self.finished, []
            for upload in finished:
                await upload.seek(0)

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }


async def _pieces(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    # The engine hands over the whole body at once; feeding it in pieces bounds the file data queued
    # between two flushes to _FEED_SIZE instead of a second copy of the body.
    async for chunk in chunks:
        if len(chunk) <= _FEED_SIZE:
            yield chunk
            continue
        for i in range(0, len(chunk), _FEED_SIZE):
            yield chunk[i : i + _FEED_SIZE]


async def _parse_multipart(
    content_type: str, chunks: AsyncIterator[bytes], max_files: float, max_fields: float, max_part_size: int
) -> FormData:
    multipart = _python_multipart()
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import parse_options_header

    _, options = parse_options_header(content_type)
    charset = options.get(b"charset", b"utf-8").decode("latin-1")
    try:
        charset = codecs.lookup(charset).name
    except LookupError:
        charset = "latin-1"
    boundary = options.get(b"boundary")
    if boundary is None:
        raise FormParseError("Missing boundary in multipart.")
    reader = _MultipartReader(parse_options_header, charset, max_files, max_fields, max_part_size)
    try:
        parser = multipart.MultipartParser(boundary, reader.callbacks())
        async for piece in _pieces(chunks):
            parser.write(piece)
            await reader.flush()
        parser.finalize()
        await reader.flush()
    except BaseException as exc:
        for upload in reader.opened:
            upload.file.close()
        if isinstance(exc, FormParserError):
            raise FormParseError("Invalid multipart data.") from exc
        raise
    return FormData(reader.items)


async def _parse_urlencoded(chunks: AsyncIterator[bytes], max_fields: float, max_part_size: int) -> FormData:
    multipart = _python_multipart()
    reader = _UrlencodedReader(max_fields, max_part_size)
    parser = multipart.QuerystringParser(
        {
            "on_field_start": reader.on_field_start,
            "on_field_name": reader.on_field_name,
            "on_field_data": reader.on_field_data,
            "on_field_end": reader.on_field_end,
        }
    )
    async for chunk in chunks:
        parser.write(chunk)
    parser.finalize()
    return FormData(reader.items)


async def parse_form(
    request: Request,
    *,
    max_files: float = DEFAULT_MAX_FILES,
    max_fields: float = DEFAULT_MAX_FIELDS,
    max_part_size: int = DEFAULT_MAX_PART_SIZE,
) -> FormData:
    """Parse the request body as a form; any other content type gives an empty ``FormData`` (as Starlette).

    Raises ``FormParseError`` for a malformed body or one over a limit.
    """
    content_type = None
    for k, v in request.raw_headers:
        if k == b"content-type":
            content_type = v.decode("latin-1")
            break
    multipart = _python_multipart()
    media, _ = multipart.multipart.parse_options_header(content_type)
    if media == b"multipart/form-data":
        assert content_type is not None
        return await _parse_multipart(content_type, request.stream(), max_files, max_fields, max_part_size)
    if media == b"application/x-www-form-urlencoded":
        return await _parse_urlencoded(request.stream(), max_fields, max_part_size)
    return FormData()


class AwaitableForm:
    """What ``request.form()`` returns: ``await`` it for the ``FormData``, or use ``async with`` to also
    close the uploaded files at the end of the block (as Starlette's)."""

    __slots__ = ("_form", "_max_fields", "_max_files", "_max_part_size", "_request")

    def __init__(self, request: Request, max_files: float, max_fields: float, max_part_size: int) -> None:
        self._request = request
        self._max_files = max_files
        self._max_fields = max_fields
        self._max_part_size = max_part_size
        self._form: FormData | None = None

    async def _read(self) -> FormData:
        request = self._request
        form: FormData | None = getattr(request, "_form", None)
        if form is None:
            try:
                form = await parse_form(
                    request,
                    max_files=self._max_files,
                    max_fields=self._max_fields,
                    max_part_size=self._max_part_size,
                )
            except FormParseError as exc:
                raise http_error(400, exc.message) from exc
            request._form = form
        return form

    def __await__(self) -> Generator[Any, None, FormData]:
        return self._read().__await__()

    async def __aenter__(self) -> FormData:
        self._form = await self._read()
        return self._form

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._form is not None:
            await self._form.close()


# ------------------------------------------------------------------------------------------------------------
# Declarations (start-up)
# ------------------------------------------------------------------------------------------------------------
def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return get_args(tp)
    return None


def _strip(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


_SEQUENCE_ORIGINS: tuple[type, ...] = (list, set, frozenset, tuple, deque, Sequence)


def _is_sequence(tp: Any) -> bool:
    """FastAPI's rule: a list/set/tuple/sequence annotation, or a union with one among its members."""
    tp = _strip(tp)
    members = _union_args(tp)
    if members is not None:
        return any(_is_sequence(m) for m in members)
    candidate = get_origin(tp) or tp
    if not is_class(candidate) or issubclass(candidate, (str, bytes)):
        return False
    try:
        return issubclass(candidate, _SEQUENCE_ORIGINS)
    except TypeError:
        return False


def _is_subclass(tp: Any, cls: type) -> bool:
    return is_class(tp) and issubclass(tp, cls)


def _is_or_has(tp: Any, cls: type) -> bool:
    """``tp`` is ``cls`` or a union with ``cls`` among its members (``bytes | None``)."""
    tp = _strip(tp)
    if _is_subclass(tp, cls):
        return True
    members = _union_args(tp)
    return members is not None and any(_is_subclass(_strip(m), cls) for m in members)


def _is_sequence_of(tp: Any, cls: type) -> bool:
    """``list[cls]`` and the like, or a union with one such member (``list[bytes] | None``)."""
    tp = _strip(tp)
    members = _union_args(tp)
    if members is not None:
        return any(_is_sequence_of(m, cls) for m in members)
    return _is_sequence(tp) and all(_is_or_has(a, cls) for a in get_args(tp))


def is_upload_annotation(tp: Any) -> bool:
    """True when an unmarked parameter is an upload: ``UploadFile``, ``UploadFile | None``, a list of them.

    FastAPI reads such a parameter as ``File()``.
    """
    return _is_or_has(tp, UploadFile) or _is_sequence_of(tp, UploadFile)


def has_form_fields(fields: list[BodyField]) -> bool:
    """True when any body field is a ``Form()``/``File()`` field: the body is then read as a form."""
    return any(isinstance(f.marker, params.Form) for f in fields)


def form_fields_are_not_json(body: bytes) -> Any:
    """``BodyField.decode_json`` of form fields: they are read from the parsed form, never from JSON."""
    raise FastAPIError("form fields are read from a parsed form, not decoded as JSON (fulmen.forms)")


# ------------------------------------------------------------------------------------------------------------
# Form models: one parameter filled from every field of the form
# ------------------------------------------------------------------------------------------------------------
def _is_model_class(tp: Any) -> bool:
    return is_class(tp) and (
        is_pydantic_model(tp)
        or issubclass(tp, msgspec.Struct)
        or dataclasses.is_dataclass(tp)
        or typing.is_typeddict(tp)
    )


def _form_models(tp: Any) -> list[type]:
    """The model classes of a form-model annotation (``Model``, ``Model | None``, ``A | B``), else []."""
    tp = _strip(tp)
    if _is_model_class(tp):
        return [tp]
    members = _union_args(tp)
    if members is None:
        return []
    models = [_strip(m) for m in members if m is not type(None)]
    return models if models and all(_is_model_class(m) for m in models) else []


def _pydantic_union_members(tp: Any) -> tuple[Any, ...] | None:
    """The members (as declared, ``Annotated`` kept) of a union of two or more pydantic models, else None.

    ``None`` may be a member; FastAPI reads only such unions member by member (others as one model).
    """
    members = _union_args(_strip(tp))
    if members is None:
        return None
    models = [_strip(m) for m in members if m is not type(None)]
    if len(models) < 2 or not all(is_pydantic_model(m) for m in models):
        return None
    return members


def _tag_of(member: Any) -> Any:
    for item in reversed(get_args(member)[1:] if get_origin(member) is Annotated else ()):
        if type(item).__name__ == "Tag":
            return item
    return None


def form_union_validator(tp: Any, metadata: list[Any], marker: params.Body) -> Callable[[Any], Any] | None:
    """The validator of a ``Form()`` union of pydantic models, else None (decided once, at registration).

    As in FastAPI, each member reads the submitted fields its own way (its aliases, its lists, "" as not sent)
    before pydantic picks the member, and errors are labelled with the model's name (or its ``Tag``).
    """
    members = _pydantic_union_members(tp)
    if members is None:
        return None
    import pydantic  # lazy: the members are pydantic models, so it is already imported

    from fulmen.validation import _compile_pydantic

    choices: list[Any] = []
    for member in members:
        if member is type(None):
            choices.append(member)
            continue
        model = _strip(member)
        normalize = pydantic.BeforeValidator(_branch_reader(model))
        tag = _tag_of(member) or pydantic.Tag(model.__name__)
        choices.append(Annotated[member, normalize, tag])
    union: Any = Union[tuple(choices)]
    settings = {
        name: getattr(marker, name)
        for name in ("discriminator", "union_mode")
        if getattr(marker, name, None) is not None
    }
    kept = [m for m in metadata if (type(m).__module__ or "").startswith("pydantic")]
    if settings:
        kept.append(pydantic.Field(**settings))
    return _compile_pydantic(Annotated[tuple([union, *kept])] if kept else union)


def _branch_reader(model: type) -> Callable[[Any], Any]:
    """A before-validator giving one union member the form fields the way it would read them alone."""
    keys, _ = _model_keys(model)

    def read_for_member(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        pairs = [
            (k, item)
            for k, items in value.items()
            for item in (items if isinstance(items, list) else [items])
        ]
        form = FormData(pairs)
        data = _read_model_fields(keys, form)
        # A validator before this one may put in values no form can carry (None, an empty list): keep them.
        for k, item in value.items():
            if item is None or (isinstance(item, list) and not item):
                data[k] = item
        return data

    return read_for_member


class _ModelKey:
    """One field of a form model: the form names it is read from (in preference order), and if a list."""

    __slots__ = ("is_list", "names")

    def __init__(self, names: list[str], is_list: bool) -> None:
        self.names = names
        self.is_list = is_list


def _pydantic_keys(model: Any) -> tuple[list[_ModelKey], str | None]:
    config = model.model_config
    by_name = bool(config.get("validate_by_name", config.get("populate_by_name", False)))
    by_alias = config.get("validate_by_alias", True) is not False
    keys = []
    for fname, info in model.model_fields.items():
        va = info.validation_alias
        if isinstance(va, str):
            names = [va]
        elif va is not None and type(va).__name__ == "AliasChoices":
            choices = list(va.choices)
            names = choices if all(isinstance(c, str) for c in choices) else [info.alias or fname]
        else:
            names = [info.alias or fname]
        if not by_alias:
            names = [fname]
        elif by_name and fname not in names:
            names.append(fname)
        keys.append(_ModelKey(names, _is_sequence(info.annotation)))
    extra = config.get("extra")
    return keys, extra if isinstance(extra, str) else None


def _model_keys(model: type) -> tuple[list[_ModelKey], str | None]:
    """The form names a model reads and its extra-field policy (``"forbid"``/``"allow"``/None)."""
    if is_pydantic_model(model):
        return _pydantic_keys(model)
    if issubclass(model, msgspec.Struct):
        config = getattr(model, "__struct_config__", None)
        forbid = "forbid" if config is not None and config.forbid_unknown_fields else None
        keys = [_ModelKey([f.encode_name], _is_sequence(f.type)) for f in msgspec.structs.fields(model)]
        return keys, forbid
    hints = typing.get_type_hints(model, include_extras=True)
    if dataclasses.is_dataclass(model):
        fields = [f.name for f in dataclasses.fields(model) if f.init]
        return [_ModelKey([n], _is_sequence(hints[n])) for n in fields], None
    return [_ModelKey([n], _is_sequence(h)) for n, h in hints.items()], None


# ------------------------------------------------------------------------------------------------------------
# Request-time solving
# ------------------------------------------------------------------------------------------------------------
_MISSING: Any = params.Undefined

#: (request, values, errors) -> the body to show as ``RequestValidationError.body`` (the FormData).
FormSolver = Callable[["Request", dict[str, Any], list[dict[str, Any]]], Awaitable[Any]]


def _is_empty_file(value: Any) -> bool:
    # A browser sends a file input left empty as a part with an empty filename and no content.
    return isinstance(value, UploadFile) and value.filename == "" and value.size == 0


def _lookup(form: FormData, name: str, is_list: bool) -> Any:
    """A form value the way FastAPI reads it: "" and empty file inputs count as not sent."""
    if is_list:
        found = [v for v in form.getlist(name) if not _is_empty_file(v)]
        return found if found else _MISSING
    value = form.get(name)
    if value is None or value == "" or _is_empty_file(value):
        return _MISSING
    return value


async def _file_bytes(upload: UploadFile) -> bytes:
    # Reading for a ``bytes`` parameter must not move the file for another parameter reading the same part.
    position = upload.file.tell()
    try:
        return await upload.read()
    finally:
        await upload.seek(position)


class _FieldPlan:
    """How one form field is read: by name (a value or a list), or as a form model from the whole form."""

    __slots__ = (
        "field",
        "is_list",
        "model_extra",
        "model_keys",
        "model_names",
        "model_optional",
        "model_union",
        "read_bytes",
    )

    def __init__(
        self,
        field: BodyField,
        *,
        is_list: bool = False,
        read_bytes: bool = False,
        model_keys: list[_ModelKey] | None = None,
        model_extra: str | None = None,
        model_optional: bool = False,
        model_union: bool = False,
    ) -> None:
        self.field = field
        self.is_list = is_list
        #: ``File()`` with a ``bytes`` (or list of ``bytes``) annotation: uploads are read into bytes.
        self.read_bytes = read_bytes
        #: For form models: the fields read from the form, every name they cover, the extra-field policy.
        self.model_keys = model_keys
        self.model_names = frozenset(n for k in model_keys or () for n in k.names)
        self.model_extra = model_extra
        self.model_optional = model_optional
        #: A union of pydantic models, validated by ``form_union_validator``.
        self.model_union = model_union


def _plan_field(field: BodyField) -> _FieldPlan:
    tp = field.annotation
    marker = field.marker
    models = _form_models(tp) if isinstance(marker, params.Form) else []
    if models:
        keys: list[_ModelKey] = []
        extra: str | None = None
        for model in models:
            model_keys, model_extra = _model_keys(model)
            keys.extend(model_keys)
            extra = extra or model_extra
        members = _union_args(_strip(tp))
        return _FieldPlan(
            field,
            model_keys=keys,
            model_extra=extra,
            model_optional=members is not None and type(None) in members,
            model_union=_pydantic_union_members(tp) is not None,
        )
    is_file = isinstance(marker, params.File)
    is_list = _is_sequence(tp) and not field.is_json  # Json[list[...]] is one field holding JSON text
    read_bytes = is_file and (_is_sequence_of(tp, bytes) if is_list else _is_or_has(tp, bytes))
    return _FieldPlan(field, is_list=is_list, read_bytes=read_bytes)


def _read_model_fields(keys: list[_ModelKey], form: FormData) -> dict[str, Any]:
    """A model's fields read from a form (the first of its names that was sent), then the other form fields.

    A field's names after the one it was read from are left to the extras, as FastAPI does: another field
    may read them, and ``extra="forbid"`` reports them.
    """
    data: dict[str, Any] = {}
    used: set[str] = set()
    for key in keys:
        for name in key.names:
            used.add(name)
            value = _lookup(form, name, key.is_list)
            if value is not _MISSING:
                data[name] = value
                break
    grouped: dict[str, list[Any]] = {}
    for name, value in form.multi_items():
        if name not in used:
            grouped.setdefault(name, []).append(value)
    for name, found in grouped.items():
        data[name] = found[0] if len(found) == 1 else found
    return data


def _model_input(plan: _FieldPlan, form: FormData) -> Any:
    """The dict a form model is validated from: its fields, then every other form field (extras)."""
    if plan.model_optional:
        supplied = any(n in form for n in plan.model_names) or (
            plan.model_extra in ("allow", "forbid") and len(form) > 0
        )
        if not supplied:
            return _MISSING
    assert plan.model_keys is not None
    # A union of pydantic models gets every field as sent: each member reads them its own way.
    return _read_model_fields([] if plan.model_union else plan.model_keys, form)


def _prefixed(errors: list[dict[str, Any]], prefix: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [{**e, "loc": (*prefix, *e["loc"])} for e in errors]


async def read_route_form(request: Request) -> FormData:
    """``request.form()`` for a route's Form()/File() fields, failing as FastAPI does (400, parse details).

    A route with ``form_limits`` (fulmen.limits) left them on the request; others parse with the defaults.
    """
    limits = getattr(request, "_form_limits", None)
    try:
        return await (request.form() if limits is None else request.form(**limits))
    except BaseHTTPException:
        raise
    except Exception as exc:
        # FastAPI: anything else that goes wrong while reading the form is a 400 with this detail.
        raise http_error(400, _BODY_PARSE_ERROR) from exc


def compile_form_solver(fields: list[BodyField], where: str) -> FormSolver:
    """Build, once, the step that reads the form and validates every form field into ``values``.

    Errors are appended in FastAPI's shape (``loc: ["body", name]``; ``["body", ...]`` for form models); the
    returned coroutine gives the ``FormData`` to show as ``RequestValidationError.body``.
    """
    try:
        plans = [_plan_field(f) for f in fields]
    except Exception as exc:  # a model whose fields can't be inspected
        raise FastAPIError(f"{where}: {exc}") from exc

    async def solve_form(request: Request, values: dict[str, Any], errors: list[dict[str, Any]]) -> Any:
        form = await read_route_form(request)
        for plan in plans:
            f = plan.field
            loc: tuple[Any, ...]
            if plan.model_keys is not None:
                raw = _model_input(plan, form)
                loc = ("body",)
            else:
                # The first of the field's names (AliasChoices) that was sent; errors name that one.
                alias = f.alias
                raw = _lookup(form, alias, plan.is_list)
                if raw is _MISSING:
                    for other in f.alt_aliases:
                        raw = _lookup(form, other, plan.is_list)
                        if raw is not _MISSING:
                            alias = other
                            break
                loc = ("body", alias)
                if plan.read_bytes and raw is not _MISSING:
                    if plan.is_list:
                        raw = [await _file_bytes(v) if isinstance(v, UploadFile) else v for v in raw]
                    elif isinstance(raw, UploadFile):
                        raw = await _file_bytes(raw)
            if raw is _MISSING:
                f.fill_missing(loc, values, errors)
                continue
            try:
                values[f.name] = f.validate(raw)
            except ValidationFailure as exc:
                errors.extend(_prefixed(exc.errors, loc))
        return form

    return solve_form


# ------------------------------------------------------------------------------------------------------------
# Closing uploaded files
# ------------------------------------------------------------------------------------------------------------
RequestHandler = Callable[["Request"], Coroutine[Any, Any, "Response"]]


async def _close_after(background: Callable[[], Awaitable[Any]] | None, form: FormData) -> None:
    try:
        if background is not None:
            await background()
    finally:
        await form.close()


def close_files_after(handler: RequestHandler) -> RequestHandler:
    """Wrap a form route's handler so the form's uploaded files are closed once the response is done.

    With a background task or a streamed body the files stay open until both are done (FastAPI closes them at
    the end of the request, after background tasks); otherwise the body is already complete bytes and they
    are closed right away.
    """

    async def run_and_close(request: Request) -> Response:
        try:
            response = await handler(request)
        except BaseException:
            form: FormData | None = getattr(request, "_form", None)
            if form is not None:
                await form.close()
            raise
        form = getattr(request, "_form", None)
        if form is not None and form.has_files():
            background = response.background
            if background is None and not response.streaming:
                # The body is complete bytes: nothing can read the files any more.
                await form.close()
            else:
                # A streamed body or a background task may still read them: close after both.
                response.background = BackgroundTask(_close_after, background, form)
        return response

    return run_and_close
