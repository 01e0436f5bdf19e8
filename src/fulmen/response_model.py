"""Response models: validate and serialise a handler's result through its ``response_model``, as FastAPI does.

FastAPI passes every non-``Response`` result through the route's response model (``response_model=`` or the
handler's return annotation): ``TypeAdapter(model).validate_python(result, from_attributes=True)``, then a
dump with the ``response_model_*`` options. With the default response class it writes pydantic's
``dump_json`` bytes; with an explicit ``response_class`` it hands ``dump_python(mode="json")`` data to that
class. ``compile_response_serializer`` builds, once per route, the function that does exactly that.

With pydantic installed it is pydantic's own machinery (msgspec Structs in the annotation are replaced by
equivalent pydantic models, so they serialise as the equivalent model would in FastAPI). Without pydantic
(core-only install) the result is converted with ``msgspec.convert`` and dumped with pydantic's JSON rules.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import inspect
import ipaddress
import re
import sys
import types
import typing
import uuid
import warnings
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from pathlib import PurePath
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import msgspec

from fulmen._typing import is_class
from fulmen.exceptions import FastAPIError, ResponseValidationError
from fulmen.foreign import is_starlette_response_class
from fulmen.responses import Response

__all__ = [
    "Default",
    "DefaultPlaceholder",
    "IncEx",
    "compile_response_serializer",
    "effective_response_model",
    "is_body_allowed_for_status_code",
]

#: ``response_model_include`` / ``response_model_exclude``: field names, or a nested dict of them.
IncEx = Union[set[int], set[str], dict[int, Any], dict[str, Any]]

_T = TypeVar("_T")


class DefaultPlaceholder:
    """Marks a parameter left at its default, so an explicit value equal to the default can be told apart.

    ``response_model=None`` switches the response model off; leaving it out uses the return annotation.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __bool__(self) -> bool:
        return bool(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DefaultPlaceholder) and other.value == self.value

    def __hash__(self) -> int:
        return hash((DefaultPlaceholder, id(self.value)))

    def __repr__(self) -> str:
        return f"Default({self.value!r})"


def Default(value: _T) -> _T:
    """Wrap a parameter's default value so that an explicitly passed value can be recognised."""
    return DefaultPlaceholder(value)  # type: ignore[return-value]


def is_body_allowed_for_status_code(status_code: int | str | None) -> bool:
    """False for statuses that must not carry a body (1xx, 204, 205, 304)."""
    if status_code is None:
        return True
    if status_code in ("default", "1XX", "2XX", "3XX", "4XX", "5XX"):
        return True
    code = int(status_code)
    return not (code < 200 or code in (204, 205, 304))


# ------------------------------------------------------------------------------------------------------------
# Which model applies
# ------------------------------------------------------------------------------------------------------------
_STREAM_ORIGINS = frozenset({AsyncIterable, AsyncIterator, AsyncGenerator, Iterable, Iterator, Generator})


def _return_annotation(endpoint: Callable[..., Any], where: str) -> Any:
    """The endpoint's return annotation with string annotations resolved; None when there is none."""
    try:
        signature = inspect.signature(endpoint, eval_str=True)
    except NameError:
        signature = inspect.signature(endpoint)
    annotation = signature.return_annotation
    if annotation is inspect.Signature.empty:
        return None
    if isinstance(annotation, str):
        namespace = getattr(inspect.unwrap(endpoint), "__globals__", {})
        try:
            annotation = eval(annotation, namespace, namespace)  # a string annotation, as typing evaluates it
        except Exception as exc:
            raise FastAPIError(
                f"{where}: the return annotation {annotation!r} of "
                f"{getattr(endpoint, '__qualname__', endpoint)!r} can't be resolved ({exc}); define the type "
                "at module level or pass response_model="
            ) from exc
        if annotation is type(None):
            return None
    return annotation


def _is_generator_callable(call: Any) -> bool:
    target = call if inspect.isroutine(call) else getattr(call, "__call__", None)  # noqa: B004
    return inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target)


def effective_response_model(
    endpoint: Callable[..., Any], response_model: Any, *, where: str = "route"
) -> Any:
    """The model a route validates its results with, by FastAPI's rules; None when there is none.

    An explicit ``response_model`` wins (``None`` switches it off); left at its default, the return annotation
    is used unless it is a ``Response`` subclass (or the item type of a generator endpoint).
    """
    if not isinstance(response_model, DefaultPlaceholder):
        return response_model
    annotation = _return_annotation(endpoint, where)
    if is_class(annotation) and (issubclass(annotation, Response) or is_starlette_response_class(annotation)):
        return None
    origin = get_origin(annotation)
    if origin in _STREAM_ORIGINS and _is_generator_callable(endpoint):
        return None
    return annotation


# ------------------------------------------------------------------------------------------------------------
# The serializer
# ------------------------------------------------------------------------------------------------------------
def compile_response_serializer(
    annotation: Any,
    *,
    include: IncEx | None = None,
    exclude: IncEx | None = None,
    by_alias: bool = True,
    exclude_unset: bool = False,
    exclude_defaults: bool = False,
    exclude_none: bool = False,
    where: str = "route",
    json_bytes: bool = False,
) -> Callable[[Any], Any] | None:
    """Build the function that turns a handler result into what FastAPI would send; None without a model.

    The function validates the result against ``annotation`` (``ResponseValidationError`` when it does not
    fit) and returns JSON-compatible data (FastAPI's ``serialize_response`` output, for a response class to
    render), or with ``json_bytes`` the body bytes FastAPI writes with its default response class.
    """
    if not annotation:
        return None
    options = {
        "include": include,
        "exclude": exclude,
        "by_alias": by_alias,
        "exclude_unset": exclude_unset,
        "exclude_defaults": exclude_defaults,
        "exclude_none": exclude_none,
    }
    pydantic = _import_pydantic()
    if pydantic is not None:
        return _pydantic_serializer(pydantic, annotation, options, where, json_bytes)
    return _msgspec_serializer(annotation, options, where, json_bytes)


_checked_models: set[Any] = set()


def check_response_model(annotation: Any, *, where: str = "route") -> None:
    """Raise ``FastAPIError`` at declaration when ``annotation`` can't be a response model (as FastAPI does
    for ``responses={code: {"model": ...}}``); each model is checked once."""
    try:
        if annotation in _checked_models:
            return
    except TypeError:  # unhashable: check it every time
        pass
    compile_response_serializer(annotation, where=where)
    try:
        _checked_models.add(annotation)
    except TypeError:
        pass


def _import_pydantic() -> Any:
    try:
        import pydantic
    except ImportError:
        return None
    return pydantic


_INVALID_ARGS = (
    "{where}: invalid args for response field! Hint: check that {tp!r} is a valid Pydantic field type. "
    "If you are using a return type annotation that is not a valid Pydantic field (e.g. "
    "Union[Response, dict, None]) you can disable generating the response model from the type annotation "
    "with the path operation decorator parameter response_model=None."
)


# -- with pydantic: FastAPI's own machinery ------------------------------------------------------------------
def _pydantic_serializer(
    pydantic: Any, annotation: Any, options: dict[str, Any], where: str, json_bytes: bool
) -> Callable[[Any], Any]:
    models = _StructModels(pydantic)
    try:
        target = models.translate(annotation)
        adapter = pydantic.TypeAdapter(target)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError) as exc:
        raise FastAPIError(_INVALID_ARGS.format(where=where, tp=annotation)) from exc
    validation_error = pydantic.ValidationError
    validator, serializer = adapter.validator, adapter.serializer
    from pydantic_core import SchemaSerializer, SchemaValidator

    if isinstance(validator, SchemaValidator) and isinstance(serializer, SchemaSerializer):
        # PERF: pydantic-core's own methods; TypeAdapter's wrappers cost more than the work for small models.
        validate: Callable[..., Any] = validator.validate_python
        dump_json: Callable[..., Any] = serializer.to_json
        dump_python: Callable[..., Any] = serializer.to_python
    else:  # the schema is still incomplete (forward references): let pydantic rebuild it on first use
        validate, dump_json = adapter.validate_python, adapter.dump_json
        dump_python = adapter.dump_python
    options = {**options, "fallback": models.fallback}
    if json_bytes:
        dump = functools.partial(dump_json, **options)
    else:
        dump = functools.partial(dump_python, mode="json", **options)

    def serialize(result: Any) -> Any:
        try:
            value = validate(result, from_attributes=True)
        except validation_error as exc:
            raise ResponseValidationError(_pydantic_errors(exc), body=result) from None
        return dump(value)

    if is_class(annotation) and issubclass(annotation, msgspec.Struct):
        asdict = msgspec.structs.asdict

        def serialize_struct(result: Any) -> Any:
            if result.__class__ is not annotation:
                return serialize(result)
            try:
                # PERF: pydantic validates a dict of the fields faster than it reads them as attributes, with
                # the same outcome (the stand-in model accepts field names; only the fields are read).
                value = validate(asdict(result), from_attributes=True)
            except validation_error as exc:
                raise ResponseValidationError(_pydantic_errors(exc), body=result) from None
            return dump(value)

        return serialize_struct

    exact = _passthrough_model(target, adapter)
    if exact is None:
        return serialize

    def serialize_model(result: Any) -> Any:
        # PERF: an instance of exactly the model is returned unchanged by validation (pydantic doesn't
        # revalidate instances and the schema has no wrapping validator), so only the dump is run.
        if result.__class__ is exact:
            return dump(result)
        return serialize(result)

    return serialize_model


def _pydantic_errors(exc: Any) -> list[dict[str, Any]]:
    return [{**err, "loc": ("response", *err.get("loc", ()))} for err in exc.errors(include_url=False)]


def _passthrough_model(target: Any, adapter: Any) -> Any:
    """The model class whose exact instances validate to themselves under ``adapter``, else None."""
    if not (is_class(target) and hasattr(target, "__pydantic_core_schema__")):
        return None
    try:
        schema = adapter.core_schema
    except Exception:  # pragma: no cover - an incomplete schema: no shortcut
        return None
    if schema.get("type") == "definitions":
        ref = schema.get("schema", {})
        if ref.get("type") != "definition-ref":
            return None
        found = [d for d in schema.get("definitions", ()) if d.get("ref") == ref.get("schema_ref")]
        if len(found) != 1:
            return None
        schema = found[0]
    if schema.get("type") != "model" or schema.get("cls") is not target:
        return None
    if schema.get("config", {}).get("revalidate_instances", "never") == "always":
        return None
    return target


#: Struct class -> its equivalent pydantic model, built once per process.
_STRUCT_MODELS: dict[type, Any] = {}


class _StructModels:
    """Equivalent pydantic models for msgspec Structs, so they validate and serialise as that model would."""

    def __init__(self, pydantic: Any) -> None:
        self.pydantic = pydantic
        self._building: dict[type, str] = {}
        self._namespace: dict[str, Any] = {}
        self._made: dict[type, Any] = {}

    def translate(self, tp: Any) -> Any:
        """``tp`` with every msgspec Struct (and ``msgspec.Meta`` constraint) replaced for pydantic."""
        out = self._translate(tp)
        for model in self._made.values():
            if not model.__pydantic_complete__:
                model.model_rebuild(_types_namespace=self._namespace)
        _STRUCT_MODELS.update(self._made)
        return out

    def _translate(self, tp: Any) -> Any:
        if is_class(tp) and issubclass(tp, msgspec.Struct):
            return self._model(tp)
        origin = get_origin(tp)
        args = get_args(tp)
        if not args or origin is Literal:
            return tp
        if origin is Annotated:
            inner = self._translate(args[0])
            metadata = [m for meta in args[1:] for m in self._metadata(meta)]
            if inner is args[0] and list(args[1:]) == metadata:
                return tp
            rebuilt = (inner, *metadata)
            return Annotated[rebuilt]
        new = tuple(self._translate(a) for a in args)
        if all(a is b for a, b in zip(new, args, strict=True)):
            return tp
        if origin is Union or (sys.version_info >= (3, 10) and origin is types.UnionType):
            return Union[new]
        copy_with = getattr(tp, "copy_with", None)
        if copy_with is not None:
            return copy_with(new)
        return origin[new]

    def _metadata(self, meta: Any) -> list[Any]:
        if not isinstance(meta, msgspec.Meta):
            return [meta]
        import annotated_types

        out: list[Any] = []
        for name, kind in (
            ("gt", annotated_types.Gt),
            ("ge", annotated_types.Ge),
            ("lt", annotated_types.Lt),
            ("le", annotated_types.Le),
            ("multiple_of", annotated_types.MultipleOf),
            ("min_length", annotated_types.MinLen),
            ("max_length", annotated_types.MaxLen),
        ):
            value = getattr(meta, name)
            if value is not None:
                out.append(kind(value))
        if meta.pattern is not None:
            out.append(self.pydantic.StringConstraints(pattern=meta.pattern))
        return out

    def _model(self, struct: type[msgspec.Struct]) -> Any:
        model = _STRUCT_MODELS.get(struct) or self._made.get(struct)
        if model is not None:
            return model
        ref = self._building.get(struct)
        if ref is not None:
            # A recursive reference: resolved by model_rebuild once every model of the cycle exists.
            return typing.ForwardRef(ref)
        ref = self._building[struct] = f"_fulmen_struct_{id(struct)}"
        pydantic = self.pydantic
        config = struct.__struct_config__
        fields: dict[str, Any] = {}
        if config.tag is not None and config.tag_field is not None:
            fields[config.tag_field] = (Literal[config.tag], pydantic.Field(default=config.tag))
        settings: dict[str, Any] = {}
        for info in msgspec.structs.fields(struct):
            kwargs: dict[str, Any] = {}
            if info.default is not msgspec.NODEFAULT:
                kwargs["default"] = info.default
            elif info.default_factory is not msgspec.NODEFAULT:
                kwargs["default_factory"] = info.default_factory
            if info.encode_name != info.name:
                kwargs["alias"] = info.encode_name
                # A Struct instance (validated from attributes) carries the attribute names.
                settings["populate_by_name"] = True
            fields[info.name] = (self._translate(info.type), pydantic.Field(**kwargs))
        if config.forbid_unknown_fields:
            settings["extra"] = "forbid"
        with warnings.catch_warnings():
            # A Struct field may be called like a BaseModel attribute ("json", "copy"): harmless for a
            # stand-in model nobody sees, so pydantic's shadowing warning would only confuse.
            warnings.simplefilter("ignore", UserWarning)
            model = pydantic.create_model(
                struct.__name__,
                __config__=pydantic.ConfigDict(**settings) if settings else None,
                __module__=struct.__module__,
                **fields,
            )
        model.__qualname__ = struct.__qualname__
        del self._building[struct]
        self._namespace[ref] = model
        self._made[struct] = model
        return model

    def fallback(self, value: Any) -> Any:
        """Serialise a Struct found where the annotation allows anything, as its equivalent model would."""
        if isinstance(value, msgspec.Struct):
            model = _StructModels(self.pydantic).translate(type(value))
            return model.model_validate(value, from_attributes=True)
        from pydantic_core import PydanticSerializationError

        raise PydanticSerializationError(f"Unable to serialize unknown type: {type(value)!r}")


# -- without pydantic: msgspec conversion, pydantic's JSON rules ---------------------------------------------
def _msgspec_serializer(
    annotation: Any, options: dict[str, Any], where: str, json_bytes: bool
) -> Callable[[Any], Any]:
    _check_msgspec_type(annotation, where)
    convert = msgspec.convert
    dumper = _Dumper(
        by_alias=options["by_alias"],
        exclude_unset=options["exclude_unset"],
        exclude_defaults=options["exclude_defaults"],
        exclude_none=options["exclude_none"],
        json_bytes=json_bytes,
    )
    include, exclude = options["include"], options["exclude"]
    dump = dumper.dump
    encode = msgspec.json.encode
    is_any = annotation is Any or annotation is object

    def serialize(result: Any) -> Any:
        if is_any:
            value = result
        else:
            try:
                value = convert(result, annotation, strict=False, from_attributes=True)
            except msgspec.ValidationError as exc:
                raise ResponseValidationError(_msgspec_errors(exc, result), body=result) from None
        data = dump(value, include, exclude)
        return encode(data) if json_bytes else data

    return serialize


def _check_msgspec_type(annotation: Any, where: str) -> None:
    """Raise FastAPIError at registration when msgspec can't convert to ``annotation``."""
    problem: str | None = None
    try:
        msgspec.json.Decoder(annotation)
        info = msgspec.inspect.type_info(annotation)
    except (TypeError, ValueError) as exc:
        problem = str(exc)
    else:
        custom = _custom_types(info, set())
        if custom:
            problem = f"{custom[0]!r} is neither a msgspec Struct, a dataclass nor a builtin type"
    if problem is not None:
        raise FastAPIError(
            f"{where}: the response model {annotation!r} needs pydantic ({problem}); "
            'install it with `pip install "fulmen[pydantic]"`, or pass response_model=None'
        )


def _custom_types(info: Any, seen: set[int]) -> list[Any]:
    if id(info) in seen:
        return []
    seen.add(id(info))
    if isinstance(info, msgspec.inspect.CustomType):
        return [] if info.cls is object else [info.cls]  # ``object`` converts like Any
    found: list[Any] = []
    for name in ("item_type", "key_type", "value_type"):
        sub = getattr(info, name, None)
        if sub is not None:
            found += _custom_types(sub, seen)
    for sub in getattr(info, "types", None) or getattr(info, "item_types", None) or ():
        found += _custom_types(sub, seen)
    for field in getattr(info, "fields", None) or ():
        found += _custom_types(field.type, seen)
    return found


_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[([^\]]*)\]")


def _msgspec_errors(exc: msgspec.ValidationError, result: Any) -> list[dict[str, Any]]:
    message = str(exc)
    loc: list[Any] = ["response"]
    text, sep, path = message.rpartition(" - at `")
    if sep:
        message = text
        for name, index, key in _PATH_PART.findall(path.rstrip("`")[1:]):
            loc.append(int(index) if index else (name or key))
    return [{"type": "msgspec_validation", "loc": tuple(loc), "msg": message, "input": result}]


def _duration(value: datetime.timedelta) -> str:
    """A timedelta as pydantic writes it in JSON: ISO 8601 with 365-day years (``P1Y35DT2H``)."""
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    seconds, micro = divmod(micros, 1_000_000)
    days, seconds = divmod(seconds, 86400)
    years, days = divmod(days, 365)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    out = sign + "P"
    if years:
        out += f"{years}Y"
    if days:
        out += f"{days}D"
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if seconds or micro:
        clock += f"{seconds}.{micro:06d}".rstrip("0").rstrip(".") + "S"
    if clock:
        out += "T" + clock
    elif not years and not days:
        out += "T0S"
    return out


def _is_default(value: Any, default: Any, factory: Any, missing: Any) -> bool:
    if default is not missing:
        return bool(value == default)
    if factory is not missing:
        return bool(value == factory())
    return False


class _Dumper:
    """Python data -> JSON-compatible data with pydantic's ``mode="json"`` rules, for the msgspec path."""

    def __init__(
        self,
        *,
        by_alias: bool,
        exclude_unset: bool,
        exclude_defaults: bool,
        exclude_none: bool,
        json_bytes: bool,
    ) -> None:
        self.by_alias = by_alias
        # No set-field tracking without pydantic: a field still equal to its default counts as unset.
        self.exclude_defaults = exclude_defaults or exclude_unset
        self.exclude_none = exclude_none
        self.json_bytes = json_bytes
        self._float_encode = msgspec.json.encode
        self._scalars: dict[type, Callable[[Any], Any]] = {
            str: _same,
            int: _same,
            bool: _same,
            type(None): _same,
            float: self._float,
            decimal.Decimal: str,
            uuid.UUID: str,
            datetime.datetime: _iso,
            datetime.date: _iso,
            datetime.time: _iso,
            datetime.timedelta: _duration,
            bytes: _utf8,
            bytearray: _utf8,
        }

    def _float(self, value: float) -> Any:
        if value != value or value in (float("inf"), float("-inf")):
            return None
        if self.json_bytes and abs(value) >= 1e16:
            # pydantic writes the exponent with a sign ("1e+16"), msgspec without ("1e16").
            return msgspec.Raw(self._float_encode(value).replace(b"e", b"e+"))
        return value

    def dump(self, value: Any, include: Any = None, exclude: Any = None) -> Any:
        """``value`` as JSON-compatible data, with pydantic-style ``include``/``exclude`` specs."""
        scalar = self._scalars.get(type(value))
        if scalar is not None:
            return scalar(value)
        if isinstance(value, msgspec.Struct):
            data = self._fields(
                value,
                [
                    (f.name, f.encode_name, f.default, f.default_factory)
                    for f in msgspec.structs.fields(value)
                ],
                msgspec.NODEFAULT,
                include,
                exclude,
            )
            config = value.__struct_config__
            if config.tag is None or config.tag_field is None:
                return data
            # The tag is a field of the equivalent pydantic model (a Literal with a default), written first.
            if self.exclude_defaults or not _selected(config.tag_field, include, exclude):
                return data  # the tag always equals its default
            return {config.tag_field: config.tag, **data}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            specs = [(f.name, f.name, f.default, f.default_factory) for f in dataclasses.fields(value)]
            return self._fields(value, specs, dataclasses.MISSING, include, exclude)
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if not _selected(key, include, exclude):
                    continue
                if item is None and self.exclude_none:
                    continue
                out[self._key(key)] = self.dump(item, _sub(include, key), _sub(exclude, key))
            return out
        if isinstance(value, (list, tuple, set, frozenset, deque)):
            items = []
            for index, item in enumerate(value):
                if not _selected(index, include, exclude):
                    continue
                items.append(self.dump(item, _sub(include, index), _sub(exclude, index)))
            return items
        if isinstance(value, enum.Enum):
            return self.dump(value.value)
        for kind, convert in self._scalars.items():
            if isinstance(value, kind):
                return convert(value)
        if isinstance(value, (PurePath, ipaddress._BaseAddress, ipaddress._BaseNetwork)):
            return str(value)
        if isinstance(value, re.Pattern):
            return value.pattern
        raise TypeError(f"Unable to serialize unknown type: {type(value)!r}")

    def _fields(
        self, value: Any, specs: list[tuple[str, str, Any, Any]], missing: Any, include: Any, exclude: Any
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, alias, default, factory in specs:
            if not _selected(name, include, exclude):
                continue
            item = getattr(value, name)
            if item is None and self.exclude_none:
                continue
            if self.exclude_defaults and _is_default(item, default, factory, missing):
                continue
            out[alias if self.by_alias else name] = self.dump(item, _sub(include, name), _sub(exclude, name))
        return out

    def _key(self, key: Any) -> str:
        if type(key) is str:
            return key
        if key is None:
            return "None"
        if isinstance(key, bool):
            return "true" if key else "false"
        if isinstance(key, enum.Enum):
            return self._key(key.value)
        if isinstance(key, float):
            return repr(key)
        data = self.dump(key)
        return data if isinstance(data, str) else str(data)


def _same(value: Any) -> Any:
    return value


def _iso(value: Any) -> str:
    # msgspec writes dates and times exactly as pydantic does (UTC as "Z", microseconds kept).
    return msgspec.json.decode(msgspec.json.encode(value))  # type: ignore[no-any-return]


def _utf8(value: bytes | bytearray) -> str:
    return bytes(value).decode()


def _selected(key: Any, include: Any, exclude: Any) -> bool:
    """Whether ``key`` survives pydantic-style ``include``/``exclude`` specs at this level."""
    if (
        include is not None
        and key not in include
        and not (isinstance(include, dict) and "__all__" in include)
    ):
        return False
    if exclude is not None:
        if isinstance(exclude, dict):
            spec = exclude.get(key, exclude.get("__all__"))
            if spec is True or spec is ...:
                return False
        elif key in exclude:
            return False
    return True


def _sub(spec: Any, key: Any) -> Any:
    """The nested include/exclude spec for ``key`` (None: no restriction below it)."""
    if not isinstance(spec, dict):
        return None
    value = spec.get(key, spec.get("__all__"))
    if value is True or value is ... or value is None:
        return None
    return value
