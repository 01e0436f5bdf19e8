"""Query, header and cookie parameter models: ``filters: Annotated[FilterParams, Query()]``.

One parameter is filled from every query parameter (or header, or cookie) its model declares, with FastAPI's
rules: a field is read under its alias (headers: the field name with ``_`` turned into ``-``), lists collect
repeated keys, everything else the request sent is passed as an extra so the model's ``extra`` policy
decides (``"forbid"`` answers 422), and ``Model | None`` stays ``None`` when none of its keys were sent.
Analysed once when the route is registered; only routes that declare a model reach this module per request.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from typing import Any

import msgspec

from fulmen.forms import _is_model_class, _is_sequence, _strip, _union_args
from fulmen.validation import is_pydantic_model

__all__ = ["ParamModel", "SchemaInfo", "is_missing", "missing_model", "param_model_of", "schema_infos"]

_MISSING: Any = object()


def param_model_of(tp: Any) -> tuple[type, bool] | None:
    """``(model, optional)`` when ``tp`` is a model class or ``Model | None``, else None.

    The same shapes FastAPI reads as a parameter model; the model may be a Pydantic model, a msgspec Struct,
    a dataclass or a TypedDict (one validation layer serves them all, as for form models).
    """
    tp = _strip(tp)
    if _is_model_class(tp):
        return tp, False
    members = _union_args(tp)
    if members is not None and len(members) == 2 and type(None) in members:
        model = _strip(next(m for m in members if m is not type(None)))
        if _is_model_class(model):
            return model, True
    return None


class _Key:
    """One model field: the (validation key, request name) pairs it may be read from, in preference order."""

    __slots__ = ("field", "is_list", "pairs")

    def __init__(self, field: str, pairs: list[tuple[str, str]], is_list: bool) -> None:
        self.field = field
        self.pairs = pairs
        self.is_list = is_list


def _header_name(name: str, convert: bool) -> str:
    return name.replace("_", "-") if convert else name


def _pydantic_keys(model: Any, convert: bool) -> tuple[list[_Key], Any]:
    config = model.model_config
    by_alias = config.get("validate_by_alias", True) is not False
    by_name = bool(config.get("validate_by_name", config.get("populate_by_name", False)))
    keys = []
    for fname, info in model.model_fields.items():
        va = info.validation_alias
        alias = va if isinstance(va, str) else (info.alias or fname)
        pairs = [(alias, _header_name(alias, convert and alias == fname))]
        if (
            va is not None
            and type(va).__name__ == "AliasChoices"
            and all(isinstance(c, str) for c in va.choices)
        ):
            pairs = [(c, c) for c in va.choices]  # explicit choices are literal names, underscores and all
        if not by_alias:
            pairs = [(fname, _header_name(fname, convert))]
        elif by_name and fname not in [a for a, _ in pairs]:
            pairs.append((fname, _header_name(fname, convert)))
        keys.append(_Key(fname, pairs, _is_sequence(info.annotation)))
    return keys, config.get("extra")


def _model_keys(model: type, convert: bool) -> tuple[list[_Key], Any]:
    """The fields a model reads and its extra-field policy (``"forbid"``/``"allow"``/other)."""
    if is_pydantic_model(model):
        return _pydantic_keys(model, convert)
    if issubclass(model, msgspec.Struct):
        config = model.__struct_config__
        keys = [
            _Key(
                f.name,
                [(f.encode_name, _header_name(f.encode_name, convert and f.encode_name == f.name))],
                _is_sequence(f.type),
            )
            for f in msgspec.structs.fields(model)
        ]
        return keys, "forbid" if config.forbid_unknown_fields else None
    hints = typing.get_type_hints(model, include_extras=True)
    names = (
        [f.name for f in dataclasses.fields(model) if f.init]
        if dataclasses.is_dataclass(model)
        else list(hints)
    )
    return [_Key(n, [(n, _header_name(n, convert))], _is_sequence(hints[n])) for n in names], None


class ParamModel:
    """How one model parameter is read from the query string, the headers or the cookies."""

    __slots__ = ("extra_counts", "header_locs", "keys", "model", "multi", "optional", "own_names", "source")

    def __init__(self, model: type, optional: bool, source: str, convert_underscores: bool) -> None:
        self.model = model
        self.source = source
        self.optional = optional
        #: Query and headers may repeat a key (lists read every value); cookies are a plain dict.
        self.multi = source != "cookie"
        keys, extra = _model_keys(model, source == "header" and convert_underscores)
        self.keys = keys
        lower = source == "header"
        self.own_names = frozenset(r.lower() if lower else r for k in keys for _, r in k.pairs)
        #: Whether other keys alone make an optional model "sent" (its extra policy will judge them).
        self.extra_counts = extra in ("allow", "forbid")
        #: A header's error location names the header (``save-data``), not the field (``save_data``).
        self.header_locs: dict[str, str] = {}
        config: Any = getattr(model, "model_config", None) if is_pydantic_model(model) else None
        if lower and (config is None or config.get("loc_by_alias", True) is not False):
            for k in keys:
                for alias, request in k.pairs:  # the field name read by name (populate_by_name) too
                    if alias != request and alias == k.field:
                        self.header_locs[alias] = request

    def extract(self, received: Any) -> Any:
        """The dict the model is validated from, or ``_MISSING`` for an optional model nobody sent."""
        lower = self.source == "header"
        data: dict[str, Any] = {}
        processed: set[str] = set()
        for key in self.keys:
            pairs = key.pairs
            alias, request = pairs[0]
            if len(pairs) > 1:
                for pair in pairs:
                    if pair[1] in received:
                        alias, request = pair
                        break
            if key.is_list and self.multi:
                value: Any = received.getlist(request)
                if not value:
                    value = None
            else:
                value = received.get(request)
            if value is not None:
                data[alias] = value
            if lower:
                processed.add(request.lower())
                for a, r in pairs:
                    if a != r:
                        processed.add(a.lower())  # the unconverted field name is not an extra header either
            else:
                processed.add(request)
        grouped: dict[str, list[Any]] = {}
        # Headers: every occurrence, names lower-cased; cookies: a plain dict.
        items: Iterable[tuple[str, Any]] = (
            received.multi_items() if self.source == "query" else received.items()
        )
        for name, value in items:
            if name not in processed:
                grouped.setdefault(name, []).append(value)
        for name, found in grouped.items():
            data[name] = found[0] if len(found) == 1 else found
        if self.optional and not (any(n in received for n in self.own_names) or (self.extra_counts and data)):
            return _MISSING
        return data

    def relocate(self, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Errors located under the parameter's source, headers under the names the client sends."""
        out = []
        for e in errors:
            loc = e["loc"]
            if loc and self.header_locs and loc[0] in self.header_locs:
                loc = (self.header_locs[loc[0]], *loc[1:])
            out.append({**e, "loc": (self.source, *loc)})
        return out


class SchemaInfo:
    """One model field as OpenAPI describes it: a parameter of its own (FastAPI flattens the model)."""

    __slots__ = ("alias", "annotation", "default", "default_factory", "field_kwargs", "name", "request_name")

    def __init__(
        self,
        name: str,
        alias: str,
        request_name: str,
        annotation: Any,
        default: Any,
        default_factory: Any,
        field_kwargs: dict[str, Any],
    ) -> None:
        self.name = name
        #: The key the model validates (its alias) and the name the client sends (a header's has hyphens).
        self.alias = alias
        self.request_name = request_name
        self.annotation = annotation
        #: ``fulmen.params.Undefined`` when the field is required.
        self.default = default
        self.default_factory = default_factory
        #: title, description, examples, deprecated, json_schema_extra: as declared on the field.
        self.field_kwargs = field_kwargs


def schema_infos(model: ParamModel) -> list[SchemaInfo]:
    """The model's fields for the OpenAPI document, in declaration order (only called by fulmen.openapi)."""
    from fulmen import params

    cls: Any = model.model
    names = {k.field: k.pairs[0] for k in model.keys}
    out = []
    if is_pydantic_model(cls):
        from pydantic_core import PydanticUndefined

        for name, info in cls.model_fields.items():
            annotation: Any = info.annotation
            if info.metadata:
                parts = (annotation, *info.metadata)
                annotation = typing.Annotated[parts]
            kwargs = {
                k: getattr(info, k)
                for k in ("title", "description", "examples", "deprecated", "json_schema_extra")
                if getattr(info, k) is not None
            }
            default = params.Undefined if info.default is PydanticUndefined else info.default
            out.append(SchemaInfo(name, *names[name], annotation, default, info.default_factory, kwargs))
        return out
    if issubclass(cls, msgspec.Struct):
        for f in msgspec.structs.fields(cls):
            default = params.Undefined if f.default is msgspec.NODEFAULT else f.default
            factory = None if f.default_factory is msgspec.NODEFAULT else f.default_factory
            out.append(SchemaInfo(f.name, *names[f.name], f.type, default, factory, {}))
        return out
    hints = typing.get_type_hints(cls, include_extras=True)
    if dataclasses.is_dataclass(cls):
        for dc_field in dataclasses.fields(cls):
            if not dc_field.init:
                continue
            name = dc_field.name
            default = params.Undefined if dc_field.default is dataclasses.MISSING else dc_field.default
            factory = None if dc_field.default_factory is dataclasses.MISSING else dc_field.default_factory
            out.append(SchemaInfo(name, *names[name], hints[name], default, factory, {}))
        return out
    optional_keys: frozenset[str] = getattr(cls, "__optional_keys__", frozenset())
    for name, hint in hints.items():
        # A TypedDict key that may be left out is not required; it has no default to show.
        default = None if name in optional_keys else params.Undefined
        out.append(SchemaInfo(name, *names[name], hint, default, None, {}))
    return out


def missing_model(model: ParamModel) -> dict[str, Any]:
    """The error for a required model parameter nobody sent (only ``Model | None`` without a default)."""
    return {"type": "missing", "loc": (model.source,), "msg": "Field required", "input": None}


def is_missing(value: Any) -> bool:
    """True for what ``ParamModel.extract`` returns when an optional model was not sent."""
    return value is _MISSING
