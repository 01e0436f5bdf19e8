"""What the schema generators need to know about one field, independent of the schema library used.

A ``SchemaField`` is fulmen's counterpart of FastAPI's ``ModelField``: a request parameter, a request body
(one parameter, or the ``Body_<operation id>`` model FastAPI makes of several), or a response model. The two
backends (``_pydantic`` with pydantic installed, ``_plain`` without it) turn a list of them into JSON Schemas
and the ``components.schemas`` definitions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args, get_origin

from fulmen import params

Mode = Literal["validation", "serialization"]

#: Marker attributes that become pydantic ``Field()`` arguments, as FastAPI's markers pass them on.
FIELD_ATTRIBUTES = (
    "title",
    "description",
    "examples",
    "deprecated",
    "json_schema_extra",
    "discriminator",
    "alias_priority",
    "strict",
)
CONSTRAINT_ATTRIBUTES = (
    "gt",
    "ge",
    "lt",
    "le",
    "min_length",
    "max_length",
    "pattern",
    "multiple_of",
    "allow_inf_nan",
    "max_digits",
    "decimal_places",
)


@dataclasses.dataclass(eq=False)
class SchemaField:
    """One field to describe: its type, the marker that declared it, its default and its names."""

    name: str
    annotation: Any
    mode: Mode = "validation"
    #: The fulmen marker (``Query()``, ``Body()`` ...) or None for response models.
    marker: params.Param | None = None
    #: True when the marker sits in ``Annotated[...]`` (or was implied): FastAPI then merges every field
    #: declaration in the annotation; a marker given as the default value ignores the annotation's extras.
    merge_annotated: bool = True
    default: Any = params.Undefined
    default_factory: Any = None
    #: FastAPI's ``field_info.alias`` (the parameter name, the header name, or the declared alias).
    alias: str | None = None
    #: ``Body_<operation id>``: the body parameters combined into one model (then ``annotation`` is unused).
    members: list[SchemaField] | None = None
    model_name: str = ""
    #: The synthetic body field's marker class (Body, Form or File) and media type.
    media_type: str | None = None

    @property
    def required(self) -> bool:
        """No default and no default factory (FastAPI's ``field_info.is_required()``)."""
        return (self.default is params.Undefined or self.default is Ellipsis) and self.default_factory is None

    @property
    def title(self) -> str | None:
        """The title the marker declares, if any."""
        return getattr(self.marker, "title", None) if self.marker is not None else None

    @property
    def validation_alias(self) -> str | None:
        """The declared validation alias when it is a plain name (FastAPI names parameters with it)."""
        marker = self.marker
        va = getattr(marker, "validation_alias", None) if marker is not None else None
        if va is None and marker is not None and isinstance(getattr(marker, "alias", None), str):
            va = marker.alias  # FastAPI's markers default validation_alias to alias
        return va if isinstance(va, str) and va else None

    def schema_alias(self) -> str:
        """The name FastAPI titles this field's schema with."""
        return self.validation_alias or self.alias or self.name


def marker_field_kwargs(marker: Any) -> dict[str, Any]:
    """The pydantic ``Field()`` keyword arguments equivalent to a fulmen marker (FastAPI's FieldInfo)."""
    out: dict[str, Any] = {}
    if marker is None:
        return out
    explicit: frozenset[str] = getattr(marker, "explicit_settings", frozenset())
    for name in (*FIELD_ATTRIBUTES, *CONSTRAINT_ATTRIBUTES):
        value = getattr(marker, name, None)
        if value is not None or name in explicit:
            out[name] = value  # an explicit None clears what a pydantic Field() in Annotated says
    if "alias" in explicit and getattr(marker, "alias", None) is None:
        out["alias"] = out["validation_alias"] = None
    alias = getattr(marker, "alias", None)
    if alias is not None:
        out["alias"] = alias
        out["serialization_alias"] = getattr(marker, "serialization_alias", None) or alias
        out["validation_alias"] = getattr(marker, "validation_alias", None) or alias
    else:
        for name in ("validation_alias", "serialization_alias"):
            value = getattr(marker, name, None)
            if value is not None:
                out[name] = value
    return out


def _strip_annotated(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def form_body_schema(
    members: list[SchemaField],
    models: list[list[Any]],
    schema: dict[str, Any],
    *,
    closed: Callable[[Any], bool],
    names: Callable[[Any], list[str]],
) -> None:
    """FastAPI's schema of a form mixing form models and fields: fields as properties, models in ``allOf``."""
    parameter_schemas = schema.pop("properties")
    schema.pop("required", None)
    properties: dict[str, Any] = {}
    required: list[str] = []
    conditions: list[dict[str, Any]] = []
    for index, member in enumerate(members):
        field_schema = parameter_schemas[f"field_{index}"]
        member_models = models[index]
        if not member_models:
            alias = member.schema_alias()
            if alias in properties:
                conditions.append({"properties": {alias: field_schema}})
            else:
                properties[alias] = field_schema
            if member.required and alias not in required:
                required.append(alias)
            continue
        field_schema.pop("default", None)
        if type(None) in get_args(_strip_annotated(member.annotation)):
            # A flat form group is left out by omitting its fields, not by a null body.
            field_schema["anyOf"] = [c for c in field_schema["anyOf"] if c.get("type") != "null"]
            if any(closed(m) for m in member_models):
                absent: dict[str, Any] = {"maxProperties": 0}
            else:
                found = sorted({name for m in member_models for name in names(m)})
                absent = {"not": {"anyOf": [{"required": [n]} for n in found]}} if found else {}
            if member.required:
                conditions.append({"not": absent})
            else:
                field_schema = {"anyOf": [absent, field_schema]}
        conditions.append(field_schema)
    if properties:
        schema["properties"] = properties
    if required:
        schema["required"] = required
    schema["allOf"] = conditions
