"""FastAPI's own parameter markers (``fastapi.Depends``, ``fastapi.Query`` ...) in a fulmen app's signatures.

Libraries written for FastAPI build their dependencies with ``import fastapi`` and hand them to the user's
app, so ``fastapi.params`` objects reach fulmen's route registration. Each one is translated, once, into the
fulmen marker that means the same thing; the plan compiler and OpenAPI then only ever see fulmen's markers.
FastAPI is never imported here: a marker is recognised by its class's module, and only once the user's
process has imported ``fastapi.params`` itself.
"""

from __future__ import annotations

import sys
import typing
from typing import Annotated, Any, get_args, get_origin

from fulmen import params
from fulmen._typing import is_class
from fulmen.validation import _PYDANTIC_ONLY_SETTINGS

_MODULE = "fastapi.params"
#: FastAPI's marker classes, by name, and fulmen's classes that mean the same.
_KINDS: dict[str, type[Any]] = {
    "Path": params.Path,
    "Query": params.Query,
    "Header": params.Header,
    "Cookie": params.Cookie,
    "Body": params.Body,
    "Form": params.Form,
    "File": params.File,
    "Security": params.Security,
    "Depends": params.Depends,
}
#: pydantic ``FieldInfo`` settings FastAPI's markers keep only when they were passed (``_attributes_set``):
#: the settings fulmen's own markers take from a ``Field()`` beside them.
_NAMED_SETTINGS = params.FIELD_INFO_SETTINGS
#: Constraints pydantic keeps as ``FieldInfo.metadata`` objects (annotated-types and its own), by attribute:
#: the ones fulmen's validators apply, then those only pydantic implements.
_CONSTRAINTS = (
    "gt",
    "ge",
    "lt",
    "le",
    "multiple_of",
    "min_length",
    "max_length",
    "pattern",
    *_PYDANTIC_ONLY_SETTINGS,
)

#: id(FastAPI marker) -> (that marker, its fulmen translation). Keeping the original alive keeps the id
#: valid, and one translation per object keeps identity checks (``default is marker``) and shared
#: ``max_concurrency`` slots working.
_translated: dict[int, tuple[Any, Any]] = {}


def _fastapi_kind(obj: Any) -> str | None:
    """The name of FastAPI's marker class ``obj`` is an instance of (subclasses too), or None."""
    if _MODULE not in sys.modules:  # no FastAPI marker can exist before fastapi.params is imported
        return None
    if isinstance(obj, (params.Param, params.Depends)):
        return None  # fulmen's own (a Depends() made after FastAPI's import is FastAPI's too)
    for cls in type(obj).__mro__:
        if getattr(cls, "__module__", None) == _MODULE and cls.__name__ in _KINDS:
            return cls.__name__
    return None


def is_fastapi_marker(obj: Any) -> bool:
    """True for an instance of one of FastAPI's ``fastapi.params`` markers."""
    return _fastapi_kind(obj) is not None


def translate_marker(obj: Any) -> Any:
    """fulmen's marker for FastAPI's marker ``obj``; anything else is returned as it is."""
    kind = _fastapi_kind(obj)
    if kind is None:
        return obj
    known = _translated.get(id(obj))
    if known is not None and known[0] is obj:
        return known[1]
    new: Any = _depends(obj, kind) if kind in ("Depends", "Security") else _param(obj, kind)
    _translated[id(obj)] = (obj, new)
    return new


def translate_annotation(annotation: Any) -> Any:
    """``annotation`` with FastAPI's markers in its top-level ``Annotated`` replaced by fulmen's, and
    FastAPI's and Starlette's ``UploadFile`` and ``SecurityScopes`` classes, anywhere in it, by fulmen's."""
    if _MODULE not in sys.modules and "starlette.datastructures" not in sys.modules:
        return annotation
    annotation = _swap_classes(annotation)
    if get_origin(annotation) is not Annotated:
        return annotation
    base, *metadata = get_args(annotation)
    new = [translate_marker(m) for m in metadata]
    if all(a is b for a, b in zip(new, metadata, strict=True)):
        return annotation
    parts = (base, *new)
    return Annotated[parts]


#: Foreign classes a handler may be annotated with whose objects fulmen makes itself, by (module, name) in
#: the class's MRO: the parameter gets fulmen's object, which has the same API.
_CLASSES = {
    ("starlette.datastructures", "UploadFile"): ("fulmen.datastructures", "UploadFile"),
    ("fastapi.security.oauth2", "SecurityScopes"): ("fulmen.security.oauth2", "SecurityScopes"),
}
_class_swaps: dict[type, type | None] = {}


def _foreign_class(cls: type) -> type | None:
    known = _class_swaps.get(cls, False)
    if known is not False:
        return known  # type: ignore[return-value]
    found = None
    if not (getattr(cls, "__module__", "") or "").startswith("fulmen"):
        for c in cls.__mro__:
            target = _CLASSES.get((getattr(c, "__module__", ""), c.__name__))
            if target is not None:
                import importlib

                found = getattr(importlib.import_module(target[0]), target[1])
                break
    _class_swaps[cls] = found
    return found


def _swap_classes(tp: Any) -> Any:
    """``tp`` with every class of ``_CLASSES`` (or a subclass) replaced by fulmen's, at any depth."""
    if is_class(tp):
        return _foreign_class(tp) or tp
    args = get_args(tp)
    if not args:
        return tp
    origin = get_origin(tp)
    if origin is Annotated:
        base = _swap_classes(args[0])
        parts = (base, *args[1:])
        return tp if base is args[0] else Annotated[parts]
    if origin is typing.Literal:
        return tp
    new = tuple(_swap_classes(a) for a in args)
    if all(a is b for a, b in zip(new, args, strict=True)):
        return tp
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        return typing.Union[new]
    copy_with = getattr(tp, "copy_with", None)
    if copy_with is not None:
        return copy_with(new)
    return origin[new]


def _depends(obj: Any, kind: str) -> params.Depends:
    kwargs: dict[str, Any] = {
        "use_cache": obj.use_cache,
        "scope": getattr(obj, "scope", None),
        "max_concurrency": getattr(obj, "max_concurrency", None),
    }
    if kind == "Security":
        return params.Security(obj.dependency, scopes=obj.scopes, **kwargs)
    return params.Depends(obj.dependency, **kwargs)


def _undefined(value: Any) -> bool:
    return type(value).__name__ == "PydanticUndefinedType"


def _param(obj: Any, kind: str) -> params.Param:
    """fulmen's marker of class ``kind`` with every setting FastAPI's marker (a pydantic FieldInfo) holds."""
    explicit = getattr(obj, "_attributes_set", {})
    kwargs: dict[str, Any] = {name: getattr(obj, name) for name in _NAMED_SETTINGS if name in explicit}
    for item in getattr(obj, "metadata", ()):
        for name in _CONSTRAINTS:
            value = getattr(item, name, None)
            if value is not None:
                kwargs[name] = value
    if obj.default_factory is not None:
        kwargs["default_factory"] = obj.default_factory
    kwargs["annotation"] = obj.annotation
    kwargs["alias_priority"] = obj.alias_priority
    kwargs["validate_default"] = obj.validate_default
    kwargs["include_in_schema"] = getattr(obj, "include_in_schema", True)
    kwargs["openapi_examples"] = getattr(obj, "openapi_examples", None)
    if kind == "Header":
        kwargs["convert_underscores"] = getattr(obj, "convert_underscores", True)
    if kind == "Body":
        kwargs["embed"] = getattr(obj, "embed", None)
    if kind in ("Body", "Form", "File"):
        kwargs["media_type"] = obj.media_type
    default = obj.default
    if kind == "Path":
        default = ...
    elif _undefined(default):
        default = params.Undefined
    marker: params.Param = _KINDS[kind](default, **kwargs)
    example = getattr(obj, "example", None)
    if type(example).__name__ in ("DefaultPlaceholder", "PydanticUndefinedType"):
        # FastAPI tells "not given" by identity with its ``_Unset``; a copied marker (fastapi-filter
        # deep-copies its fields) holds a copy or pydantic's Undefined: FastAPI's OpenAPI shows "example": {}.
        unset = getattr(sys.modules.get("fastapi.datastructures"), "_Unset", None)
        if example is not unset:
            marker.example = {}
    elif example is not None:
        marker.example = example  # FastAPI already warned that ``example`` is deprecated
    return marker


def is_fastapi_security_scheme(obj: Any) -> bool:
    """True for an instance of FastAPI's ``SecurityBase`` (``fastapi.security.OAuth2PasswordBearer`` ...).

    Like fulmen's, it has ``model`` (its OpenAPI security scheme) and ``scheme_name``.
    """
    if "fastapi.security.base" not in sys.modules:
        return False
    return any(
        getattr(c, "__module__", None) == "fastapi.security.base" and c.__name__ == "SecurityBase"
        for c in type(obj).__mro__
    )
