"""JSON Schemas with pydantic's own generator, exactly as FastAPI drives it.

Each field becomes the ``TypeAdapter`` FastAPI would build for it (the same ``FieldInfo`` attributes and
metadata), and all of them go through one ``GenerateJsonSchema.generate_definitions`` call with FastAPI's
``ref_template``, so component names, ``$ref``s and the ``-Input``/``-Output`` split come out identical.
msgspec Structs are first replaced by their equivalent pydantic models (``fulmen.response_model``).
Imported only while a document is generated.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import warnings
import weakref
from collections.abc import Callable
from typing import Annotated, Any, ForwardRef, Literal, Optional, Union, get_args, get_origin

import msgspec
import pydantic
from pydantic import GetPydanticSchema
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema

from fulmen import params
from fulmen._typing import is_class
from fulmen.openapi._fields import Mode, SchemaField, form_body_schema, marker_field_kwargs
from fulmen.openapi.constants import REF_TEMPLATE

JsonSchema = dict[str, Any]


class FulmenGenerateJsonSchema(GenerateJsonSchema):
    """pydantic's generator with FastAPI's one change: bytes are ``application/octet-stream`` strings."""

    def bytes_schema(self, schema: Any) -> JsonSchema:
        out: JsonSchema = {"type": "string", "contentMediaType": "application/octet-stream"}
        config = self._config
        encoding = config.ser_json_bytes if self.mode == "serialization" else config.val_json_bytes
        if encoding == "base64":
            out["contentEncoding"] = "base64"
        self.update_with_validations(out, schema, self.ValidationsMapping.bytes)
        return out


#: Empty-container factories msgspec makes of ``= []`` / ``= {}`` defaults: documented as those defaults.
_EMPTY_FACTORIES = (list, dict, set, frozenset, bytearray)
#: Struct class -> the pydantic model describing it (built once per process).
_SCHEMA_MODELS: weakref.WeakKeyDictionary[type, Any] = weakref.WeakKeyDictionary()


class _Translator:
    """Replaces what pydantic can't read in an annotation: msgspec Structs and Meta, fulmen's markers.

    A Struct becomes the pydantic model with the same fields, defaults, aliases, docstring and extra-field
    policy: the model a FastAPI user would have written, so the schema is that model's.
    """

    def __init__(self) -> None:
        self._building: dict[type, str] = {}
        self._namespace: dict[str, Any] = {}
        self._made: list[Any] = []

    def annotation(self, tp: Any) -> Any:
        out = self._translate(tp)
        for model in self._made:
            if not model.__pydantic_complete__:
                model.model_rebuild(_types_namespace=self._namespace)
        self._made.clear()
        return out

    def _translate(self, tp: Any) -> Any:
        if is_class(tp) and issubclass(tp, msgspec.Struct):
            return self._model(tp)
        origin = get_origin(tp)
        args = get_args(tp)
        if not args or origin is Literal:
            return tp
        if origin is Annotated:
            parts = (self._translate(args[0]), *self.metadata(list(args[1:])))
            return Annotated[parts]
        new = tuple(self._translate(a) for a in args)
        if all(a is b for a, b in zip(new, args, strict=True)):
            return tp
        if origin is Union or type(tp).__name__ == "UnionType":
            return Union[new]
        copy_with = getattr(tp, "copy_with", None)
        if copy_with is not None:
            return copy_with(new)
        return origin[new]

    def metadata(self, items: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if isinstance(item, (params.Param, params.Body)):
                out.append(pydantic.Field(**marker_field_kwargs(item)))
            elif isinstance(item, msgspec.Meta):
                out.append(pydantic.Field(**_meta_kwargs(item)))
            elif not isinstance(item, params.Depends):
                out.append(item)
        return out

    def _model(self, struct: type[msgspec.Struct]) -> Any:
        model = _SCHEMA_MODELS.get(struct)
        if model is not None:
            return model
        ref = self._building.get(struct)
        if ref is not None:
            return ForwardRef(ref)  # resolved by model_rebuild once the whole cycle exists
        ref = self._building[struct] = f"_fulmen_schema_{id(struct)}"
        config = struct.__struct_config__
        fields: dict[str, Any] = {}
        if config.tag is not None and config.tag_field is not None:
            fields[config.tag_field] = (Literal[config.tag], pydantic.Field(default=config.tag))
        for info in msgspec.structs.fields(struct):
            kwargs: dict[str, Any] = {}
            if info.default is not msgspec.NODEFAULT:
                kwargs["default"] = info.default
            elif info.default_factory in _EMPTY_FACTORIES:
                kwargs["default"] = info.default_factory()
            elif info.default_factory is not msgspec.NODEFAULT:
                kwargs["default_factory"] = info.default_factory
            if info.encode_name != info.name:
                kwargs["alias"] = info.encode_name
            fields[info.name] = (self._translate(info.type), pydantic.Field(**kwargs))
        settings = pydantic.ConfigDict(extra="forbid") if config.forbid_unknown_fields else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = pydantic.create_model(
                struct.__name__,
                __config__=settings,
                __doc__=struct.__doc__,
                __module__=struct.__module__,
                **fields,
            )
        model.__qualname__ = struct.__qualname__
        del self._building[struct]
        self._namespace[ref] = model
        self._made.append(model)
        _SCHEMA_MODELS[struct] = model
        return model


def _meta_kwargs(meta: msgspec.Meta) -> dict[str, Any]:
    """``msgspec.Meta`` as pydantic ``Field()`` arguments (constraints and schema annotations)."""
    out: dict[str, Any] = {}
    for name in ("gt", "ge", "lt", "le", "multiple_of", "pattern", "min_length", "max_length", "title"):
        value = getattr(meta, name)
        if value is not None:
            out[name] = value
    if meta.description is not None:
        out["description"] = meta.description
    if meta.examples is not None:
        out["examples"] = list(meta.examples)
    if meta.extra_json_schema is not None:
        out["json_schema_extra"] = dict(meta.extra_json_schema)
    return out


def _split_annotated(tp: Any) -> tuple[Any, list[Any]]:
    if get_origin(tp) is Annotated:
        args = get_args(tp)
        return args[0], list(args[1:])
    return tp, []


class MarkerFieldInfo(FieldInfo):  # type: ignore[misc]
    """The FieldInfo of a parameter marker. FastAPI's markers subclass FieldInfo, and pydantic treats
    subclasses differently when it builds a model from them (it keeps them whole), so this one does too."""

    __slots__ = ()


def _field_info(field: SchemaField, translator: _Translator) -> FieldInfo:
    """The FieldInfo FastAPI's ``analyze_param`` (or ``create_model_field``) ends up with for ``field``."""
    if field.members is not None:
        # A lone nullable form model keeps its parameter's default (FastAPI copies the parameter's field).
        body = MarkerFieldInfo(annotation=_body_model(field, translator))
        body.default = ... if field.required else pydantic_default(field.default)
        body.default_factory = field.default_factory
        return body
    if field.marker is None:
        return FieldInfo(annotation=translator.annotation(field.annotation))
    base, metadata = _split_annotated(field.annotation)
    base = translator.annotation(base)
    kwargs = marker_field_kwargs(field.marker)
    if field.merge_annotated:
        items = translator.metadata(metadata)
        if not any(isinstance(m, (params.Param, params.Body)) for m in metadata):
            items.append(pydantic.Field(**kwargs))
        parts = (base, *items)
        annotated: Any = Annotated[parts] if items else base
        info = MarkerFieldInfo.from_annotation(annotated)
    else:
        info = MarkerFieldInfo(annotation=base, **kwargs)
    info.default = pydantic_default(field.default)
    info.default_factory = field.default_factory
    if field.alias is not None:
        info.alias = field.alias
    return info


def pydantic_default(value: Any) -> Any:
    from pydantic_core import PydanticUndefined

    return PydanticUndefined if value is params.Undefined or value is Ellipsis else value


def _body_model(field: SchemaField, translator: _Translator) -> Any:
    """FastAPI's ``Body_<operation id>`` model: one field per body parameter, under its alias.

    With form models among the parameters (``Annotated[Model, Form()]`` next to other form fields), FastAPI
    names the fields ``field_<n>`` and rewrites the model's schema: plain fields become properties, each
    form model an ``allOf`` condition (see ``_form_body_schema``).
    """
    from fulmen.openapi.utils import _form_models

    members = list(field.members or ())
    fields: dict[str, Any] = {}
    with_models = any(_form_models(m) for m in members)
    config: Any = None
    for index, member in enumerate(members):
        info = _field_info(member, translator)
        if not with_models:
            fields[member.name] = (info.annotation, info)
            continue
        name = f"field_{index}"
        member_models = _form_models(member)
        if len(member_models) == 1:
            # FastAPI sets this field's alias and title after creating it, and pydantic drops such
            # attributes when it merges the Annotated type below: only the marker's own arguments stay.
            model = translator.annotation(member_models[0])
            info = MarkerFieldInfo(annotation=info.annotation, **marker_field_kwargs(member.marker))
            hook = GetPydanticSchema(get_pydantic_json_schema=_form_model_schema(model))
            wrapped: Any = Annotated[model, hook]
            info.annotation = wrapped if info.annotation is model else Optional[wrapped]
        info.alias = info.validation_alias = info.serialization_alias = name
        info.title = info.title or member.name.replace("_", " ").title()
        fields[name] = (info.annotation, info)
    if with_models:
        models = [[translator.annotation(m) for m in _form_models(member)] for member in members]

        def shape(schema: JsonSchema) -> None:
            form_body_schema(members, models, schema, closed=_closed_model, names=_model_field_names)

        config = pydantic.ConfigDict(json_schema_extra=shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydantic.create_model(field.model_name, __config__=config, **fields)


def _form_model_schema(model: Any) -> Callable[[Any, Any], JsonSchema]:
    """The JSON schema hook of a form model in a form body: its properties under the names the form reads.

    As FastAPI: a field read under another name than its schema name (``populate_by_name``, ``AliasChoices``)
    is shown under the first name it is read from, and when it has several, ``required`` becomes an
    ``allOf``/``anyOf`` of them. Only this form's copy of the schema changes, not the shared component.
    """

    def schema(core_schema: Any, handler: Any) -> JsonSchema:
        found: JsonSchema = handler(core_schema)
        if not hasattr(model, "model_fields"):
            return found
        resolved = handler.resolve_ref_schema(found)
        properties = resolved.get("properties", {})
        required = resolved.get("required", [])
        renamed: dict[str, list[str]] = {}
        for name, info in model.model_fields.items():
            va = info.validation_alias
            choices = getattr(va, "choices", None) if type(va).__name__ == "AliasChoices" else None
            shown = choices[0] if choices else (va if isinstance(va, str) and va else info.alias or name)
            names = _form_names(model, name, info)
            if not isinstance(shown, str) or shown not in properties:
                continue
            if names[0] != shown or (len(names) > 1 and shown in required):
                renamed[shown] = names
        if not renamed:
            return found
        out: JsonSchema = copy.deepcopy(resolved)
        out["properties"] = {renamed.get(k, [k])[0]: v for k, v in out["properties"].items()}
        out["required"] = []
        for key in required:
            names = renamed.get(key, [key])
            if len(names) == 1:
                out["required"].append(names[0])
            else:
                out.setdefault("allOf", []).append({"anyOf": [{"required": [n]} for n in names]})
        return out

    return schema


def _form_names(model: Any, name: str, info: Any) -> list[str]:
    """The form names one field of a pydantic model is read from, in preference order (fulmen.forms reads
    them the same way)."""
    config = _model_config(model)
    va = info.validation_alias
    names = [va if isinstance(va, str) and va else (info.alias or name)]
    choices = getattr(va, "choices", None) if type(va).__name__ == "AliasChoices" else None
    if choices and all(isinstance(c, str) for c in choices):
        names = list(choices)
    if config.get("validate_by_alias") is False:
        return [name]
    if config.get("validate_by_name", config.get("populate_by_name", False)) and name not in names:
        names.append(name)
    return names


def _model_config(model: Any) -> dict[str, Any]:
    config = getattr(model, "model_config", None) or getattr(model, "__pydantic_config__", None)
    return dict(config or {})


def _closed_model(model: Any) -> bool:
    return _model_config(model).get("extra") in ("allow", "forbid")


def _model_field_names(model: Any) -> list[str]:
    """The form names a model's fields are read from (alias, and the name too when populating by name)."""
    if not hasattr(model, "model_fields"):  # a dataclass: its field names
        return [f.name for f in dataclasses.fields(model) if f.init]
    return [n for name, info in model.model_fields.items() for n in _form_names(model, name, info)]


def _adapter(info: FieldInfo) -> Any:
    """FastAPI's ModelField type adapter: the annotation, its metadata, then the other attributes."""
    with warnings.catch_warnings():
        # pydantic >= 2.12 warns about field attributes a bare type adapter doesn't use (alias ...).
        warnings.simplefilter("ignore")
        as_dict = getattr(info, "asdict", None)
        if as_dict is not None:
            data = as_dict()
            parts = (data["annotation"], *data["metadata"], pydantic.Field(**data["attributes"]))
            target: Any = Annotated[parts]
        else:  # pragma: no cover - pydantic < 2.12.3
            target = Annotated[info.annotation, info]
        return pydantic.TypeAdapter(target)


def _has_computed_fields(annotation: Any, seen: set[Any]) -> bool:
    if is_class(annotation) and issubclass(annotation, pydantic.BaseModel):
        if annotation in seen:
            return False
        seen.add(annotation)
        if annotation.model_computed_fields:
            return True
        return any(_has_computed_fields(f.annotation, seen) for f in annotation.model_fields.values())
    return any(_has_computed_fields(arg, seen) for arg in get_args(annotation))


def _flat_models(annotation: Any, found: dict[Any, None]) -> None:
    """pydantic models and enums reachable from ``annotation`` (FastAPI documents each one)."""
    if is_class(annotation) and issubclass(annotation, pydantic.BaseModel):
        if annotation in found:
            return
        found[annotation] = None
        for info in annotation.model_fields.values():
            _flat_models(info.annotation, found)
        return
    if is_class(annotation) and issubclass(annotation, enum.Enum):
        found[annotation] = None
        return
    if get_origin(annotation) is None:
        return
    for arg in get_args(annotation):
        if is_class(arg) and issubclass(arg, (pydantic.BaseModel, enum.Enum)):
            if arg not in found:
                found[arg] = None
                if issubclass(arg, pydantic.BaseModel):
                    for info in arg.model_fields.values():
                        _flat_models(info.annotation, found)
        else:
            _flat_models(arg, found)


class PydanticSchemas:
    """Generates every field's schema and the shared definitions in one pass."""

    def __init__(self, fields: list[SchemaField], *, separate_input_output_schemas: bool) -> None:
        self.separate = separate_input_output_schemas
        translator = _Translator()
        adapters: dict[SchemaField, Any] = {}
        infos: dict[SchemaField, FieldInfo] = {}
        for field in fields:
            info = _field_info(field, translator)
            infos[field] = info
            adapters[field] = _adapter(info)
        self._computed: dict[SchemaField, bool] = {}
        self._infos = infos
        inputs: list[tuple[Any, Mode, Any]] = []
        for field in fields:
            mode: Mode = (
                field.mode if (self.separate or self._computed_for(field, adapters)) else "validation"
            )
            inputs.append((field, mode, adapters[field].core_schema))
        # FastAPI also lists every model and enum reachable from the fields, once per mode.
        by_mode: dict[str, dict[Any, None]] = {"validation": {}, "serialization": {}}
        for field in fields:
            _flat_models(infos[field].annotation, by_mode[field.mode])
        input_types = {infos[f].annotation for f in fields}
        for mode_name, models in by_mode.items():
            for model in models:
                if model in input_types:
                    continue
                adapter = _adapter(FieldInfo(annotation=model))
                key = SchemaField(name=model.__name__, annotation=model)
                chosen: Mode = "validation" if mode_name == "validation" else "serialization"
                if not self.separate and not self._computed_for(key, {key: adapter}):
                    chosen = "validation"
                inputs.append((key, chosen, adapter.core_schema))
        generator = FulmenGenerateJsonSchema(ref_template=REF_TEMPLATE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pydantic.json_schema.PydanticJsonSchemaWarning)
            mapping, definitions = generator.generate_definitions(inputs=inputs)
        for item in definitions.values():
            description = item.get("description")
            if isinstance(description, str):
                item["description"] = description.split("\f")[0]
        self.mapping: dict[tuple[Any, str], JsonSchema] = mapping  # type: ignore[assignment]
        self.definitions: dict[str, JsonSchema] = dict(definitions)  # type: ignore[arg-type]
        self._adapters = adapters

    def _computed_for(self, field: SchemaField, adapters: dict[SchemaField, Any]) -> bool:
        found = self._computed.get(field)
        if found is None:
            schema = adapters[field].core_schema
            info = self._infos.get(field)
            annotation = info.annotation if info is not None else field.annotation
            found = bool(schema.get("schema", {}).get("computed_fields", [])) or _has_computed_fields(
                annotation, set()
            )
            self._computed[field] = found
        return found

    def schema(self, field: SchemaField, alias: str | None = None) -> JsonSchema:
        """``field``'s schema, titled as FastAPI's ``get_schema_from_model_field`` titles it."""
        mode: str = field.mode
        if not self.separate and not self._computed_for(field, self._adapters):
            mode = "validation"
        out = dict(self.mapping[(field, mode)])
        if "$ref" not in out:
            name = alias if alias is not None else field.schema_alias()
            out["title"] = self._infos[field].title or name.title().replace("_", " ")
        return out


__all__ = ["FulmenGenerateJsonSchema", "PydanticSchemas"]
