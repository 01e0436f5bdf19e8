"""JSON Schemas without pydantic, in exactly the shape pydantic (and so FastAPI) gives them.

Used when pydantic is not installed (a core-only install): the app's types are then plain Python types,
msgspec Structs, dataclasses and TypedDicts, and each gets the schema its pydantic equivalent would get: the
same keys in the same order, titles, defaults, ``$ref``s to ``components.schemas`` named after the classes,
``-Input``/``-Output`` names where the two modes differ, and pydantic's key sorting inside definitions.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import inspect
import ipaddress
import re
import typing
import uuid
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

from fulmen import params
from fulmen._typing import is_class
from fulmen.openapi._fields import CONSTRAINT_ATTRIBUTES, Mode, SchemaField, form_body_schema
from fulmen.openapi.constants import REF_PREFIX

JsonSchema = dict[str, Any]

_EMPTY_FACTORIES = (list, dict, set, frozenset, bytearray)
_NUMERIC = (
    ("multiple_of", "multipleOf"),
    ("le", "maximum"),
    ("ge", "minimum"),
    ("lt", "exclusiveMaximum"),
    ("gt", "exclusiveMinimum"),
)
_STRING = (("min_length", "minLength"), ("max_length", "maxLength"), ("pattern", "pattern"))
_ARRAY = (("min_length", "minItems"), ("max_length", "maxItems"))
_OBJECT = (("min_length", "minProperties"), ("max_length", "maxProperties"))
_UNSET: Any = object()


class _DefRef:
    """A ``$ref`` placeholder: the definition's final name is known only once every schema exists."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[Any, str]) -> None:
        self.key = key


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = get_origin(tp)
    if origin is Union or type(tp).__name__ == "UnionType":
        return get_args(tp)
    return None


def _is_upload(tp: Any) -> bool:
    from fulmen.datastructures import UploadFile

    return is_class(tp) and issubclass(tp, UploadFile)


def _is_typeddict(tp: Any) -> bool:
    return is_class(tp) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _is_model(tp: Any) -> bool:
    if not is_class(tp):
        return False
    return issubclass(tp, msgspec.Struct) or dataclasses.is_dataclass(tp) or _is_typeddict(tp)


def _constraints(items: Sequence[Any]) -> dict[str, Any]:
    """Constraints declared by markers, ``msgspec.Meta`` and annotated-types objects, later ones winning."""
    out: dict[str, Any] = {}
    for item in items:
        if isinstance(item, (params.Param, params.Body)):
            for name in CONSTRAINT_ATTRIBUTES:
                value = getattr(item, name, None)
                if value is not None:
                    out[name] = value
        elif isinstance(item, msgspec.Meta):
            for name in ("gt", "ge", "lt", "le", "multiple_of", "pattern", "min_length", "max_length"):
                value = getattr(item, name)
                if value is not None:
                    out[name] = value
        else:
            kind = type(item).__name__
            mapping = {"Gt": "gt", "Ge": "ge", "Lt": "lt", "Le": "le", "MultipleOf": "multiple_of"}
            if kind in mapping:
                out[mapping[kind]] = getattr(item, mapping[kind])
            elif kind == "MinLen":
                out["min_length"] = item.min_length
            elif kind == "MaxLen":
                out["max_length"] = item.max_length
            elif kind == "Interval":
                for name in ("gt", "ge", "lt", "le"):
                    if getattr(item, name, None) is not None:
                        out[name] = getattr(item, name)
    return out


def _annotations(items: Sequence[Any]) -> dict[str, Any]:
    """Schema annotations (title, description, examples, extra keys) from ``msgspec.Meta`` items."""
    out: dict[str, Any] = {}
    for item in items:
        if isinstance(item, msgspec.Meta):
            if item.title is not None:
                out["title"] = item.title
            if item.description is not None:
                out["description"] = item.description
            if item.examples is not None:
                out["examples"] = list(item.examples)
            if item.extra_json_schema is not None:
                out.setdefault("json_schema_extra", {}).update(item.extra_json_schema)
    return out


def _json_default(value: Any, mode: str) -> Any:
    """A default value as pydantic writes it in a schema (its JSON-mode serialisation)."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, enum.Enum):
        return _json_default(value.value, mode)
    if isinstance(value, Mapping):
        return {str(_json_default(k, mode)): _json_default(v, mode) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, collections.deque)):
        return [_json_default(v, mode) for v in value]
    if isinstance(value, datetime.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        from fulmen.response_model import _duration

        return _duration(value)
    if isinstance(
        value, (decimal.Decimal, uuid.UUID, PurePath, ipaddress._BaseAddress, ipaddress._BaseNetwork)
    ):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode()
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, msgspec.Struct):
        return {
            f.encode_name: _json_default(getattr(value, f.name), mode) for f in msgspec.structs.fields(value)
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json_default(getattr(value, f.name), mode) for f in dataclasses.fields(value)}
    for base in (bool, str, int, float):
        if isinstance(value, base):
            return base(value)
    return msgspec.to_builtins(value)


def _sort(value: Any, parent_key: str | None = None) -> Any:
    """pydantic's key sorting inside definitions (``properties`` and ``default`` keep their order)."""
    if isinstance(value, dict):
        keys = value.keys() if parent_key in ("properties", "default") else sorted(value)
        return {k: _sort(value[k], k) for k in keys}
    if isinstance(value, list):
        return [_sort(v, parent_key) for v in value]
    return value


@dataclasses.dataclass
class _FieldSpec:
    """One model field (or field-like declaration) as the generator needs it."""

    annotation: Any
    metadata: list[Any]
    title: str | None = None
    description: str | None = None
    deprecated: Any = None
    examples: Any = None
    json_schema_extra: Any = None
    default: Any = _UNSET


class _Generator:
    """Builds schemas with ``$ref`` placeholders and collects the definitions they point to."""

    def __init__(self) -> None:
        #: (class, mode) -> the definition's schema (placeholders inside), in first-use order.
        self.defs: dict[tuple[Any, str], JsonSchema] = {}
        self._building: set[tuple[Any, str]] = set()

    # -- types ---------------------------------------------------------------------------------------------
    def type_schema(self, tp: Any, mode: str, constraints: dict[str, Any]) -> JsonSchema:
        """The schema of ``tp`` with ``constraints`` applied where pydantic applies them."""
        if get_origin(tp) is Annotated:
            args = get_args(tp)
            merged = {**_constraints(args[1:]), **constraints}
            return self.type_schema(args[0], mode, merged)
        if tp is Any or tp is object or tp is inspect.Parameter.empty:
            return {}
        if tp is None or tp is type(None):
            return {"type": "null"}
        members = _union_args(tp)
        if members is not None:
            return self._union(members, mode, constraints)
        origin = get_origin(tp)
        if origin is Literal:
            return self._literal(get_args(tp))
        if is_class(tp) and issubclass(tp, enum.Enum):
            return self._ref(tp, mode)
        if _is_model(tp):
            return self._ref(tp, mode)
        if _is_upload(tp):
            return {"type": "string", "contentMediaType": "application/octet-stream"}
        if origin is not None or tp in (list, set, frozenset, tuple, dict, collections.deque):
            return self._container(tp, origin or tp, mode, constraints)
        return self._scalar(tp, mode, constraints)

    def _scalar(self, tp: Any, mode: str, constraints: dict[str, Any]) -> JsonSchema:
        if tp is bool:
            return {"type": "boolean"}
        if is_class(tp) and issubclass(tp, int):
            return self._apply({"type": "integer"}, constraints, _NUMERIC)
        if is_class(tp) and issubclass(tp, float):
            return self._apply({"type": "number"}, constraints, _NUMERIC)
        if tp is decimal.Decimal:
            if mode == "serialization":
                return {"type": "string"}
            number = self._apply({"type": "number"}, constraints, _NUMERIC)
            return {"anyOf": [number, {"type": "string"}]}
        if is_class(tp) and issubclass(tp, str):
            return self._apply({"type": "string"}, constraints, _STRING)
        if tp in (bytes, bytearray):
            return self._apply(
                {"type": "string", "contentMediaType": "application/octet-stream"}, constraints, _STRING[:2]
            )
        formats = {
            datetime.datetime: "date-time",
            datetime.date: "date",
            datetime.time: "time",
            datetime.timedelta: "duration",
            uuid.UUID: "uuid",
        }
        for cls, fmt in formats.items():
            if tp is cls:
                return {"type": "string", "format": fmt}
        if tp in (ipaddress.IPv4Address, ipaddress.IPv6Address):
            return {"type": "string", "format": "ipv4" if tp is ipaddress.IPv4Address else "ipv6"}
        if is_class(tp) and issubclass(tp, PurePath):
            return {"type": "string", "format": "path"}
        return {}

    @staticmethod
    def _apply(
        schema: JsonSchema, constraints: dict[str, Any], mapping: Sequence[tuple[str, str]]
    ) -> JsonSchema:
        for name, key in mapping:
            value = constraints.get(name)
            if value is not None:
                schema[key] = value.pattern if isinstance(value, re.Pattern) else value
        return schema

    def _union(self, members: tuple[Any, ...], mode: str, constraints: dict[str, Any]) -> JsonSchema:
        nullable = type(None) in members
        rest = [m for m in members if m is not type(None) and m is not None]
        if len(rest) == 1:
            inner = self.type_schema(rest[0], mode, constraints)
            if not nullable:
                return inner
            if list(inner) == ["anyOf"]:
                return {"anyOf": [*inner["anyOf"], {"type": "null"}]}
            return {"anyOf": [inner, {"type": "null"}]}
        choices: list[JsonSchema] = []
        for m in rest:
            choice = self.type_schema(m, mode, constraints)
            if "anyOf" in choice and len(choice) == 1:
                choices.extend(choice["anyOf"])
            else:
                choices.append(choice)
        if nullable:
            choices.append({"type": "null"})
        return {"anyOf": choices}

    @staticmethod
    def _literal(values: tuple[Any, ...]) -> JsonSchema:
        flat = [v.value if isinstance(v, enum.Enum) else v for v in values]
        types = {type(v) for v in flat}
        out: JsonSchema = {"const": flat[0]} if len(flat) == 1 else {"enum": flat}
        names = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
        if len(types) == 1 and next(iter(types)) in names:
            out["type"] = names[next(iter(types))]
        return out

    def _container(self, tp: Any, origin: Any, mode: str, constraints: dict[str, Any]) -> JsonSchema:
        args = get_args(tp)
        name = getattr(origin, "__name__", "")
        if origin in (dict, Mapping) or name in ("Mapping", "MutableMapping", "dict", "Dict", "OrderedDict"):
            value: Any = self.type_schema(args[1], mode, {}) if len(args) == 2 else True
            if value == {}:
                value = True  # pydantic writes "any value" as true here
            return self._apply({"type": "object", "additionalProperties": value}, constraints, _OBJECT)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if args == ((),):
                return {"type": "array", "minItems": 0, "maxItems": 0}
            prefix = [self.type_schema(a, mode, {}) for a in args]
            return {"type": "array", "prefixItems": prefix, "minItems": len(args), "maxItems": len(args)}
        item = self.type_schema(args[0], mode, {}) if args else {}
        schema: JsonSchema = {"type": "array"}
        if origin in (set, frozenset) or name in ("Set", "FrozenSet", "AbstractSet", "MutableSet"):
            schema["uniqueItems"] = True
        schema["items"] = item
        return self._apply(schema, constraints, _ARRAY)

    # -- definitions ---------------------------------------------------------------------------------------
    def _ref(self, cls: Any, mode: str) -> JsonSchema:
        key = (cls, mode)
        if key not in self.defs and key not in self._building:
            self._building.add(key)
            self.defs[key] = {}  # reserve the position: pydantic lists definitions in first-use order
            self.defs[key] = self._definition(cls, mode)
            self._building.discard(key)
        return {"$ref": _DefRef(key)}

    def _definition(self, cls: Any, mode: str) -> JsonSchema:
        if issubclass(cls, enum.Enum):
            return self._enum(cls)
        doc = cls.__doc__
        name: str = cls.__name__
        if dataclasses.is_dataclass(cls):
            fields, required, extra = self._dataclass_fields(cls)
            extra = _pydantic_extra(cls) == "forbid"
            if doc and doc.startswith(name + "("):
                doc = None  # the signature dataclasses write as a default docstring
        elif issubclass(cls, msgspec.Struct):
            fields, required, extra = self._struct_fields(cls)
        else:
            fields, required, extra = self._typeddict_fields(cls)
            if doc == dict.__doc__:
                doc = None
        properties: JsonSchema = {}
        for key, spec in fields:
            properties[key] = self.field_schema(spec, mode, key)
        out: JsonSchema = {"properties": properties}
        if required:
            out["required"] = required
        out["title"] = cls.__name__
        out["type"] = "object"
        if extra:
            out["additionalProperties"] = False
        if doc:
            out["description"] = inspect.cleandoc(doc)
        return out

    @staticmethod
    def _enum(cls: type[enum.Enum]) -> JsonSchema:
        values = [m.value for m in cls]
        out: JsonSchema = {"enum": values, "title": cls.__name__}
        doc = cls.__doc__
        if doc and doc != "An enumeration.":
            out["description"] = inspect.cleandoc(doc)
        kinds = {type(v) for v in values}
        if issubclass(cls, str) or kinds == {str}:
            out["type"] = "string"
        elif issubclass(cls, int) or kinds == {int}:
            out["type"] = "integer"
        elif kinds <= {int, float}:
            out["type"] = "number"
        elif kinds == {bool}:
            out["type"] = "boolean"
        return out

    @staticmethod
    def _split(tp: Any) -> tuple[Any, list[Any]]:
        if get_origin(tp) is Annotated:
            args = get_args(tp)
            return args[0], list(args[1:])
        return tp, []

    def _spec(self, tp: Any, default: Any) -> _FieldSpec:
        base, metadata = self._split(tp)
        notes = _annotations(metadata)
        return _FieldSpec(
            annotation=base,
            metadata=metadata,
            title=notes.get("title"),
            description=notes.get("description"),
            examples=notes.get("examples"),
            json_schema_extra=notes.get("json_schema_extra"),
            default=default,
        )

    def _struct_fields(self, cls: Any) -> tuple[list[tuple[str, _FieldSpec]], list[str], bool]:
        config = cls.__struct_config__
        out: list[tuple[str, _FieldSpec]] = []
        required: list[str] = []
        if config.tag is not None and config.tag_field is not None:
            out.append((config.tag_field, _FieldSpec(Literal[config.tag], [], default=config.tag)))
        for info in msgspec.structs.fields(cls):
            default = _UNSET
            if info.default is not msgspec.NODEFAULT:
                default = info.default
            elif info.default_factory in _EMPTY_FACTORIES:
                default = info.default_factory()
            elif info.default_factory is not msgspec.NODEFAULT:
                default = _FACTORY
            if default is _UNSET:
                required.append(info.encode_name)
            out.append((info.encode_name, self._spec(info.type, default)))
        return out, required, bool(config.forbid_unknown_fields)

    def _dataclass_fields(self, cls: Any) -> tuple[list[tuple[str, _FieldSpec]], list[str], bool]:
        hints = typing.get_type_hints(cls, include_extras=True)
        out: list[tuple[str, _FieldSpec]] = []
        required: list[str] = []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            default = _UNSET
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = _FACTORY
            if default is _UNSET:
                required.append(f.name)
            out.append((f.name, self._spec(hints.get(f.name, f.type), default)))
        return out, required, False

    def _typeddict_fields(self, cls: Any) -> tuple[list[tuple[str, _FieldSpec]], list[str], bool]:
        hints = typing.get_type_hints(cls, include_extras=True)
        required_keys = getattr(cls, "__required_keys__", frozenset(hints))
        out: list[tuple[str, _FieldSpec]] = []
        required: list[str] = []
        for name, tp in hints.items():
            base = _strip_required(tp)
            if name in required_keys:
                required.append(name)
            out.append((name, self._spec(base, _UNSET)))
        return out, required, False

    # -- fields --------------------------------------------------------------------------------------------
    def field_schema(self, spec: _FieldSpec, mode: str, title_from: str | None) -> JsonSchema:
        """A field's schema: its type's, then title, description, deprecation, examples, extras, default."""
        schema = dict(self.type_schema(spec.annotation, mode, _constraints(spec.metadata)))
        title = spec.title
        if title is None and title_from is not None and "$ref" not in schema:
            title = title_from.title().replace("_", " ")
        if title is not None:
            schema["title"] = title
        if spec.description is not None:
            schema["description"] = spec.description
        if spec.deprecated:
            schema["deprecated"] = True
        if spec.examples is not None:
            schema["examples"] = _json_default(spec.examples, mode)
        extra = spec.json_schema_extra
        if isinstance(extra, dict):
            schema.update(extra)
        elif callable(extra):
            extra(schema)
        if spec.default is not _UNSET and spec.default is not _FACTORY:
            schema["default"] = _json_default(spec.default, mode)
        return schema


#: A default produced by a factory (pydantic doesn't show it).
_FACTORY: Any = object()


def _strip_required(tp: Any) -> Any:
    origin = get_origin(tp)
    name = getattr(origin, "_name", None) or getattr(tp, "_name", None)
    if name in ("Required", "NotRequired", "ReadOnly") and get_args(tp):
        return _strip_required(get_args(tp)[0])
    if origin is Annotated:
        args = get_args(tp)
        inner = _strip_required(args[0])
        parts = (inner, *args[1:])
        return Annotated[parts] if inner is not args[0] else tp
    return tp


def _marker_spec(field: SchemaField) -> _FieldSpec:
    """The spec of a request parameter or body parameter: its marker's attributes over its annotation."""
    tp = field.annotation
    base, metadata = (get_args(tp)[0], list(get_args(tp)[1:])) if get_origin(tp) is Annotated else (tp, [])
    marker = field.marker
    if not field.merge_annotated:
        metadata = []
    if marker is not None and marker not in metadata:
        metadata.append(marker)
    metadata = [m for m in metadata if not isinstance(m, params.Depends)]
    notes = _annotations(metadata)
    declared = [m for m in metadata if isinstance(m, (params.Param, params.Body))]
    for m in declared:
        for name in ("title", "description", "examples"):
            value = getattr(m, name, None)
            if value is not None:
                notes[name] = value
        if getattr(m, "json_schema_extra", None) is not None:
            notes["json_schema_extra"] = m.json_schema_extra
        if getattr(m, "deprecated", None) is not None:
            notes["deprecated"] = m.deprecated
    default: Any = _UNSET
    if field.default_factory is not None:
        default = _FACTORY
    elif not (field.default is params.Undefined or field.default is Ellipsis):
        default = field.default
    return _FieldSpec(
        annotation=base,
        metadata=metadata,
        title=notes.get("title"),
        description=notes.get("description"),
        deprecated=notes.get("deprecated"),
        examples=notes.get("examples"),
        json_schema_extra=notes.get("json_schema_extra"),
        default=default,
    )


class PlainSchemas:
    """Every field's schema and the shared definitions, as ``PydanticSchemas`` has them, without pydantic."""

    def __init__(self, fields: list[SchemaField], *, separate_input_output_schemas: bool) -> None:
        self.separate = separate_input_output_schemas
        gen = _Generator()
        raw: dict[tuple[SchemaField, str], JsonSchema] = {}
        for field in fields:
            mode: Mode = field.mode if self.separate else "validation"
            raw[(field, mode)] = self._field(gen, field, mode)
        names = self._names(gen)
        self.mapping = {key: _resolve(schema, names) for key, schema in raw.items()}
        self.definitions: dict[str, JsonSchema] = {}
        for key, schema in gen.defs.items():
            name = names[key]
            if name not in self.definitions:
                definition = _sort(_resolve(schema, names))
                if isinstance(definition.get("description"), str):
                    definition["description"] = definition["description"].split("\f")[0]
                self.definitions[name] = definition

    @staticmethod
    def _field(gen: _Generator, field: SchemaField, mode: str) -> JsonSchema:
        if field.members is not None:
            return _body_ref(gen, field, mode)
        if field.marker is None:
            return gen.type_schema(field.annotation, mode, {})
        spec = _marker_spec(field)
        return gen.field_schema(spec, mode, None)

    @staticmethod
    def _names(gen: _Generator) -> dict[tuple[Any, str], str]:
        """Definition names: the class name, with ``-Input``/``-Output`` where the two modes differ."""
        classes: dict[Any, list[str]] = {}
        for cls, mode in gen.defs:
            classes.setdefault(cls, []).append(mode)
        base: dict[Any, str] = {}
        taken: dict[str, Any] = {}
        for cls in classes:
            name = cls.model_name if isinstance(cls, _BodyModel) else _normalize(cls.__name__)
            if name in taken and taken[name] is not cls:
                name = _normalize(f"{cls.__module__}__{cls.__qualname__}".replace(".", "__"))
            taken[name] = cls
            base[cls] = name
        split: set[Any] = set()
        while True:
            names = {
                (cls, mode): base[cls]
                + (("-Input" if mode == "validation" else "-Output") if cls in split else "")
                for cls, mode in gen.defs
            }
            changed = False
            for cls, modes in classes.items():
                if cls in split or len(modes) < 2:
                    continue
                a = _resolve(gen.defs[(cls, "validation")], names)
                b = _resolve(gen.defs[(cls, "serialization")], names)
                if a != b:
                    split.add(cls)
                    changed = True
            if not changed:
                return names

    def schema(self, field: SchemaField, alias: str | None = None) -> JsonSchema:
        """``field``'s schema, titled as FastAPI's ``get_schema_from_model_field`` titles it."""
        mode = field.mode if self.separate else "validation"
        out = dict(self.mapping[(field, mode)])
        if "$ref" not in out:
            name = alias if alias is not None else field.schema_alias()
            out["title"] = field.title or name.title().replace("_", " ")
        return out


def _normalize(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9.\-_]", "_", name)


class _BodyModel:
    """FastAPI's ``Body_<operation id>`` model, as a definition key."""

    def __init__(self, field: SchemaField) -> None:
        self.field = field
        self.model_name = field.model_name
        self.__name__ = field.model_name
        self.__module__ = __name__
        self.__qualname__ = field.model_name


def _body_ref(gen: _Generator, field: SchemaField, mode: str) -> JsonSchema:
    """FastAPI's ``Body_<operation id>`` model as a definition (see ``_pydantic._body_model``)."""
    from fulmen.openapi.utils import _form_models

    model = _BodyModel(field)
    key = (model, mode)
    members = list(field.members or ())
    models = [_form_models(m) for m in members]
    with_models = any(models)
    properties: JsonSchema = {}
    required: list[str] = []
    for index, member in enumerate(members):
        spec = _marker_spec(member)
        key_name = f"field_{index}" if with_models else (member.alias or member.name)
        if not with_models:
            properties[key_name] = gen.field_schema(spec, mode, key_name)
        elif len(models[index]) == 1:
            # As pydantic builds FastAPI's field: the marker's own title only, and none on a bare reference.
            model_schema = gen.type_schema(_strip_annotated(member.annotation), mode, {})
            if "$ref" not in model_schema:
                model_schema["title"] = spec.title or member.name.replace("_", " ").title()
            elif spec.title is not None:
                model_schema["title"] = spec.title
            properties[key_name] = model_schema
        else:
            spec.title = spec.title or member.name.replace("_", " ").title()
            properties[key_name] = gen.field_schema(spec, mode, None)
        if member.required:
            required.append(key_name)
    schema: JsonSchema = {"properties": properties}
    if required:
        schema["required"] = required
    schema["title"] = field.model_name
    schema["type"] = "object"
    if with_models:
        form_body_schema(members, models, schema, closed=_closed_model, names=_model_names)
    gen.defs[key] = schema
    return {"$ref": _DefRef(key)}


def _strip_annotated(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _closed_model(model: Any) -> bool:
    if is_class(model) and issubclass(model, msgspec.Struct):
        return bool(model.__struct_config__.forbid_unknown_fields)
    return _pydantic_extra(model) in ("allow", "forbid")


def _pydantic_extra(cls: Any) -> Any:
    """A dataclass's ``__pydantic_config__["extra"]``: pydantic (and so FastAPI) honours it on dataclasses."""
    config = getattr(cls, "__pydantic_config__", None)
    return config.get("extra") if isinstance(config, dict) else None


def _model_names(model: Any) -> list[str]:
    if issubclass(model, msgspec.Struct):
        return [f.encode_name for f in msgspec.structs.fields(model)]
    if dataclasses.is_dataclass(model):
        return [f.name for f in dataclasses.fields(model) if f.init]
    return list(typing.get_type_hints(model))


def _resolve(value: Any, names: dict[tuple[Any, str], str]) -> Any:
    if isinstance(value, dict):
        return {
            k: (REF_PREFIX + names[v.key] if isinstance(v, _DefRef) else _resolve(v, names))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_resolve(v, names) for v in value]
    return value


__all__ = ["PlainSchemas"]
