"""Endpoint plans: inspect a handler once, at registration, and compile a flat request -> response callable.

Everything decided here (where each parameter comes from, its validator, whether a body is read, how the
result becomes bytes) is decided once (DESIGN.md §3.1); a request only runs the prepared steps it needs
(§3.2).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import functools
import inspect
import re
import sys
import typing
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec

from fulmen import params
from fulmen._concurrency import run_in_threadpool
from fulmen._typing import function_type_hints, is_class
from fulmen.background import BackgroundTasks
from fulmen.encoders import _encode, _is_native, encode_json_converted, jsonable_encoder
from fulmen.exceptions import (
    BaseHTTPException,
    DependencyScopeError,
    FastAPIError,
    RequestValidationError,
    ValidationException,
    http_error,
)
from fulmen.foreign import foreign_response, is_starlette_json_class, is_starlette_response
from fulmen.foreign_params import is_fastapi_security_scheme, translate_annotation, translate_marker
from fulmen.forms import (
    FormSolver,
    close_files_after,
    compile_form_solver,
    ensure_multipart_installed,
    form_fields_are_not_json,
    form_union_validator,
    has_form_fields,
    is_upload_annotation,
)
from fulmen.param_models import ParamModel, is_missing, missing_model, param_model_of
from fulmen.requests import HTTPConnection, Request
from fulmen.responses import InjectedResponse, JSONResponse, Response
from fulmen.validation import (
    BodyParseFailure,
    Constraints,
    JSONDecodeFailure,
    ValidationFailure,
    compile_json_body,
    compile_validator,
    constraints_from_metadata,
    is_pydantic_model,
    loads_json,
    marker_needs_pydantic,
)
from fulmen.websockets import WebSocket

Endpoint = Callable[..., Any]
#: What parameter solvers read from: a request, or a WebSocket (its handshake request's views, same names).
Connection = Request | WebSocket
RequestHandler = Callable[[Request], Coroutine[Any, Any, Response]]

_MISSING: Any = params.Undefined


# ------------------------------------------------------------------------------------------------------------
# Declarations
# ------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(eq=False, kw_only=True)
class _Field:
    """What every parameter has: its name, where to find it, its validator and its default."""

    name: str
    alias: str
    annotation: Any
    validate: Callable[[Any], Any]
    default: Any
    default_factory: Callable[[], Any] | None
    #: No default and no default factory; derived once here so requests only read a flag.
    required: bool = dataclasses.field(init=False)
    #: ``validation_alias=AliasChoices("a", "b")``: the other names, tried in order when ``alias`` is missing.
    alt_aliases: tuple[str, ...] = ()
    #: ``validate_default=True``: a default used for a missing value goes through the validator too.
    validate_default: bool = False

    #: The default can change in place (a list, a model instance): each request gets a deep copy of it.
    copy_default: bool = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.required = self.default is _MISSING and self.default_factory is None
        self.copy_default = _needs_copy(self.default)

    def default_value(self) -> Any:
        """The declared default: a fresh one from ``default_factory``, a deep copy when it is mutable."""
        factory = self.default_factory
        if factory is not None:
            return factory()
        # PERF: decided once; immutable defaults (numbers, strings, enums ...) are handed out as they are.
        return copy.deepcopy(self.default) if self.copy_default else self.default

    def fill_missing(
        self, loc: tuple[Any, ...], values: dict[str, Any], errors: list[dict[str, Any]]
    ) -> None:
        """Handle a value the request didn't send: a 'missing' error, or the default (validated if asked)."""
        if self.required:
            errors.append(_missing(loc))
            return
        value = self.default_value()
        if self.validate_default:
            try:
                value = self.validate(value)
            except ValidationFailure as exc:
                errors.extend(_prefixed(exc.errors, loc))
                return
        values[self.name] = value


@dataclasses.dataclass(eq=False, kw_only=True)
class ParamField(_Field):
    """One request parameter (path/query/header/cookie) with its compiled validator."""

    source: str
    marker: params.Param
    is_list: bool
    #: A query/header/cookie parameter model (``Annotated[Filters, Query()]``): how it is read, else None.
    model: ParamModel | None = None


@dataclasses.dataclass(eq=False, kw_only=True)
class BodyField(_Field):
    """One body parameter with both its bytes decoder (fast path) and its Python-value validator."""

    marker: params.Body
    decode_json: Callable[[bytes], Any]
    #: ``Json[...]`` (pydantic): one value holding JSON text, even when it decodes to a list.
    is_json: bool = False


@dataclasses.dataclass(eq=False)
class Dependant:
    """Everything a callable (endpoint or dependency) needs from a request, resolved at start-up."""

    call: Endpoint
    path_params: list[ParamField] = dataclasses.field(default_factory=list)
    query_params: list[ParamField] = dataclasses.field(default_factory=list)
    header_params: list[ParamField] = dataclasses.field(default_factory=list)
    cookie_params: list[ParamField] = dataclasses.field(default_factory=list)
    body_params: list[BodyField] = dataclasses.field(default_factory=list)
    request_param: str | None = None
    response_param: str | None = None
    background_param: str | None = None
    security_scopes_param: str | None = None
    #: Further parameters of those four roles: (name, the role's first parameter), which they share.
    aliases: tuple[tuple[str, str], ...] = ()
    is_coroutine: bool = False
    #: Sub-dependencies in declaration order (``dependencies=[...]`` first, then ``Depends`` parameters).
    dependencies: list[Dependant] = dataclasses.field(default_factory=list)
    #: As a dependency: the parameter it fills in its parent (None for ``dependencies=[...]``).
    name: str | None = None
    use_cache: bool = True
    #: ``"function"`` or ``"request"`` for ``yield`` dependencies, None otherwise.
    scope: str | None = None
    is_generator: bool = False
    is_async_generator: bool = False
    own_scopes: list[str] = dataclasses.field(default_factory=list)
    parent_scopes: list[str] = dataclasses.field(default_factory=list)
    #: Identity for the per-request cache (the call, plus its OAuth2 scopes when it uses them).
    cache_key: Any = None
    #: ``Depends(max_concurrency=n)``: the limit, shared by every request through this declaration.
    limiter: params.ConcurrencyLimit | None = None
    path: str = ""
    where: str = ""
    #: ``strict_content_type=False``: a body sent without a Content-Type header is read as JSON (root only).
    json_without_content_type: bool = False

    @property
    def scopes(self) -> list[str]:
        """The OAuth2 scopes in force here: the parents' then this dependency's own, without repeats."""
        out = list(self.parent_scopes)
        for s in self.own_scopes:
            if s not in out:
                out.append(s)
        return out

    def iter_tree(self) -> list[Dependant]:
        """This dependant and every sub-dependency, depth first (sub-dependencies before their parent)."""
        out: list[Dependant] = []
        for sub in self.dependencies:
            out.extend(sub.iter_tree())
        out.append(self)
        return out


def _needs_copy(value: Any) -> bool:
    """Whether a default must be deep-copied for each request so one request can't leak into the next.

    FastAPI deep-copies every default (a model instance as much as a list); deepcopy gives back the value
    itself for immutable ones, which are then handed out as they are.
    """
    try:
        return copy.deepcopy(value) is not value
    except Exception:  # can't be copied: copy per request anyway, failing there as FastAPI does
        return True


def _unwrap_partial(call: Any) -> Any:
    """The callable a ``functools.partial`` (of a partial ...) calls: its kind decides how it is run."""
    while isinstance(call, functools.partial):
        call = call.func
    return call


def _unwrapped(call: Any) -> Any:
    """What ``call`` stands for: through ``functools.partial`` and ``functools.wraps`` (``__wrapped__``)."""
    call = _unwrap_partial(call)
    try:
        return inspect.unwrap(call)
    except ValueError:  # a __wrapped__ cycle: take the callable as it is
        return call


def _has_kind(call: Any, test: Callable[[Any], bool]) -> bool:
    """Whether ``call`` runs as ``test`` says (coroutine, generator ...), FastAPI's way: the callable or what
    it wraps passes, or else (not for a class) its ``__call__``, or what that wraps, passes.

    So a ``functools.wraps`` decorator around a generator or coroutine function, or around a callable
    instance, keeps the kind of what it decorates, as in FastAPI (the call itself returns the generator or
    awaitable).
    """
    direct, inner = _unwrap_partial(call), _unwrapped(call)
    if test(direct) or test(inner):
        return True
    if inspect.isclass(direct) or inspect.isclass(inner):
        return False
    for owner in (direct, inner):
        dunder = getattr(owner, "__call__", None)  # noqa: B004
        if dunder is not None and (test(_unwrap_partial(dunder)) or test(_unwrapped(dunder))):
            return True
    return False


def _is_coroutine_callable(call: Any) -> bool:
    return _has_kind(call, inspect.iscoroutinefunction)


def _typed_signature(call: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """(name, annotation with extras, default) for each parameter, with forward references resolved."""
    sig = inspect.signature(call)
    target: Any = call
    if not (inspect.isfunction(call) or inspect.ismethod(call)):
        target = call.__init__ if inspect.isclass(call) else type(call).__call__
    try:
        hints = function_type_hints(target)
    except Exception:
        hints = {}
    out = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        ann = hints.get(p.name, p.annotation)
        if isinstance(ann, str):
            ann = _resolve_one(target, p.name, ann)
        # FastAPI's own markers (from libraries written for it) become fulmen's, once, here.
        out.append((p.name, translate_annotation(ann), translate_marker(p.default)))
    return out


def _resolve_one(target: Any, name: str, annotation: str) -> Any:
    """Resolve one string annotation, or say clearly why it can't be (usually a name local to a function)."""
    fn = getattr(target, "__func__", target)
    namespace = dict(getattr(fn, "__globals__", {}))
    try:
        return eval(annotation, namespace)  # the annotation is the program's own source text
    except Exception as exc:
        where = getattr(fn, "__qualname__", repr(fn))
        raise FastAPIError(
            f"{where}: can't resolve the annotation {annotation!r} of parameter {name!r} ({exc}); names in "
            "string annotations (or under `from __future__ import annotations`) must be importable from the "
            "function's module, not local to another function"
        ) from exc


def _annotated(tp: Any, metadata: list[Any]) -> Any:
    """Re-attach ``Annotated`` metadata (constraints such as ``msgspec.Meta``) to a base type."""
    if not metadata:
        return tp
    args = (tp, *metadata)
    # Subscripting with a ready tuple works on every Python (3.13 has no Annotated.__class_getitem__).
    return Annotated[args]


def _with_marker(ann: Any, metadata: list[Any], marker: Any) -> Any:
    """``ann`` with a marker given as the default (``Query(strict=True)``) attached when it asks for a setting
    only pydantic implements (``strict``, ``union_mode``, ``fail_fast``, a compiled ``pattern`` ...)."""
    if any(m is marker for m in metadata):
        return ann
    if not marker_needs_pydantic(marker):
        return ann
    return _annotated(ann, [marker])


def _unwrap_annotated(ann: Any) -> tuple[Any, list[Any]]:
    if get_origin(ann) is Annotated:
        args = get_args(ann)
        return args[0], list(args[1:])
    return ann, []


def _strip_optional(tp: Any) -> Any:
    origin = get_origin(tp)
    if origin is Union or (origin is not None and type(tp).__name__ == "UnionType"):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    try:
        import types

        if isinstance(tp, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) == 1:
                return args[0]
    except AttributeError:  # pragma: no cover - Python < 3.10
        pass
    return tp


def _core_type(tp: Any) -> Any:
    """``tp`` without ``Annotated`` and ``| None`` layers, in any nesting (``Annotated[X, ...] | None``)."""
    while True:
        inner = _strip_optional(_unwrap_annotated(tp)[0])
        if inner is tp:
            return tp
        tp = inner


def _is_sequence(tp: Any) -> bool:
    tp = _core_type(tp)
    origin = get_origin(tp)
    return (
        origin in (list, set, frozenset, tuple)
        or tp in (list, set, frozenset, tuple)
        or (origin is not None and getattr(origin, "__name__", "") in ("Sequence", "List", "Set", "Tuple"))
    )


def _is_scalar(tp: Any) -> bool:
    """True for types that FastAPI reads from the query string by default (not models, dicts or lists)."""
    tp = _core_type(tp)
    origin = get_origin(tp)
    if origin is not None:
        if origin is typing.Literal:
            return True
        if origin is Union or type(tp).__name__ == "UnionType":
            return all(_is_scalar(a) for a in get_args(tp) if a is not type(None))
        return False
    if tp is Any or tp is inspect.Parameter.empty:
        return True
    if not is_class(tp):
        return False
    if issubclass(tp, (dict, list, set, frozenset, tuple, msgspec.Struct)):
        return False
    return not (dataclasses.is_dataclass(tp) or hasattr(tp, "model_fields") or hasattr(tp, "__total__"))


def _has_scalar_items(tp: Any) -> bool:
    """True for a sequence annotation of scalars (``list[int]``): what a repeated key can fill."""
    tp = _core_type(tp)
    return all(_is_scalar(a) for a in get_args(tp) if a is not Ellipsis)


def _validator(tp: Any, constraints: Constraints | None, where: str) -> Callable[[Any], Any]:
    try:
        return compile_validator(tp, constraints)
    except TypeError as exc:
        raise FastAPIError(f"{where}: {exc}") from exc


# ------------------------------------------------------------------------------------------------------------
# Analysis
# ------------------------------------------------------------------------------------------------------------
def get_dependant(
    call: Endpoint,
    *,
    path: str,
    path_param_names: set[str],
    where: str,
    name: str | None = None,
    use_cache: bool = True,
    scope: str | None = None,
    own_scopes: list[str] | None = None,
    parent_scopes: list[str] | None = None,
) -> Dependant:
    """Inspect ``call`` and decide, once, where each of its parameters comes from (sub-dependencies too)."""
    dep = Dependant(
        call=call,
        is_coroutine=_is_coroutine_callable(call),
        name=name,
        use_cache=use_cache,
        own_scopes=list(own_scopes or []),
        parent_scopes=list(parent_scopes or []),
        path=path,
        where=where,
    )
    dep.is_generator, dep.is_async_generator = _generator_kind(call)
    if dep.is_generator or dep.is_async_generator:
        dep.scope = scope or "request"
    elif scope is not None:
        dep.scope = scope
    for pname, annotation, default in _typed_signature(call):
        if type(annotation).__name__ == "TypeAliasType":
            # ``type Alias = Annotated[T, Depends(...)]`` (PEP 695 or typing_extensions): its value declares.
            annotation = translate_annotation(annotation.__value__)
        base, metadata = _unwrap_annotated(annotation)
        marker: Any = None
        for m in metadata:
            if isinstance(m, (params.Param, params.Body, params.Depends)):
                marker = m
        marker_is_default = isinstance(default, (params.Param, params.Body, params.Depends))
        if marker_is_default:
            if marker is not None:
                raise FastAPIError(
                    f"{where}: parameter {pname!r} declares {type(marker).__name__}() in Annotated and "
                    f"{type(default).__name__}() as its default; use only one"
                )
            marker = default
            default = _MISSING
        elif default is inspect.Parameter.empty or default is Ellipsis:
            default = _MISSING  # ``q: str = ...`` is FastAPI's old spelling of "required"
        if isinstance(marker, params.Depends):
            dep.dependencies.append(sub_dependant(marker, dep, name=pname, annotation=base))
            continue
        # A pydantic Field() in Annotated fills in what the marker (there, or implied below) leaves unset; a
        # marker given as the default value stands alone (FastAPI ignores the annotation's Field() then).
        infos = [] if marker_is_default else [m for m in metadata if _is_field_info(m)]
        if infos and marker is not None:
            marker = _with_field_info(marker, infos)
        if marker is None and is_class(base):
            role = _starlette_role(base)
            if role is not None:
                # FastAPI code may annotate with Starlette's classes; fulmen's objects fill the same role.
                _take_role(dep, role, pname)
                continue
            if base is HTTPConnection or issubclass(base, (Request, WebSocket)):
                # A WebSocket route passes its WebSocket where an HTTP route passes its Request.
                _take_role(dep, "request_param", pname)
                continue
            if issubclass(base, Response):
                _take_role(dep, "response_param", pname)
                continue
            if issubclass(base, BackgroundTasks):
                _take_role(dep, "background_param", pname)
                continue
            if _is_security_scopes(base):
                _take_role(dep, "security_scopes_param", pname)
                continue
        if marker is not None and marker.default is not params.Undefined and marker.default is not Ellipsis:
            if default is not _MISSING:
                raise FastAPIError(f"{where}: parameter {pname!r} has two defaults")
            default = marker.default
        where_param = f"{where}, parameter {pname!r}"
        if base is inspect.Parameter.empty:
            base = Any
        is_path = isinstance(marker, params.Path)
        key = _path_key(pname, marker, path_param_names) if is_path else pname
        if key in path_param_names and not isinstance(marker, params.Body):
            if marker is not None and not is_path:
                raise FastAPIError(
                    f"{where_param} is a path parameter in {path!r} but is declared as "
                    f"{type(marker).__name__}()"
                )
            marker = marker or _with_field_info(params.Path(), infos)
            field = _param_field(pname, base, metadata, marker, _MISSING, "path", where_param, key)
            dep.path_params.append(field)
            continue
        if is_path:
            if not _router_prefix_pending.get():
                raise FastAPIError(f"{where_param} is declared with Path() but {path!r} has no {{{key}}}")
            # On an APIRouter the placeholder may come with include_router(prefix=...), where the route is
            # analysed again with its full path; until then it is a path parameter that is never sent.
            field = _param_field(pname, base, metadata, marker, _MISSING, "path", where_param, key)
            dep.path_params.append(field)
            continue
        if marker is None and is_upload_annotation(base):
            marker = _with_field_info(params.File(), infos)  # FastAPI: an UploadFile alone means File()
        if isinstance(marker, params.Body):
            dep.body_params.append(_body_field(pname, base, metadata, marker, default, where_param))
            continue
        if marker is None:
            if _is_scalar(base):
                marker = _with_field_info(params.Query(), infos)
            else:
                dep.body_params.append(
                    _body_field(
                        pname, base, metadata, _with_field_info(params.Body(), infos), default, where_param
                    )
                )
                continue
        source = marker.in_.value if marker.in_ is not None else "query"
        field = _param_field(pname, base, metadata, marker, default, source, where_param)
        getattr(dep, f"{source}_params").append(field)
    dep.cache_key = (call, tuple(sorted(set(dep.scopes))) if _uses_scopes(dep) else (), dep.scope or "")
    return dep


def sub_dependant(
    marker: params.Depends, parent: Dependant, *, name: str | None, annotation: Any = None
) -> Dependant:
    """Analyse the dependency ``marker`` declares, as a child of ``parent``."""
    call = marker.dependency
    if call is None:
        # ``x: Annotated[Thing, Depends()]`` / ``x: Thing = Depends()``: the annotation is the dependency.
        if annotation is None or annotation is inspect.Parameter.empty or not callable(annotation):
            raise FastAPIError(
                f"{parent.where}: Depends() in parameter {name!r} has no dependency and no callable "
                "annotation to use instead"
            )
        call = annotation
    if not callable(call):
        raise FastAPIError(f"{parent.where}: Depends({call!r}) in parameter {name!r} is not callable")
    if (
        (parent.is_generator or parent.is_async_generator)
        and parent.scope == "request"
        and marker.scope == "function"
    ):
        raise DependencyScopeError(
            f'The dependency "{getattr(parent.call, "__name__", parent.call)}" has a scope of "request", '
            'it cannot depend on dependencies with scope "function".'
        )
    own = list(marker.scopes or []) if isinstance(marker, params.Security) else []
    label = getattr(call, "__qualname__", None) or type(call).__qualname__
    sub = get_dependant(
        call,
        path=parent.path,
        path_param_names=_path_param_names(parent.path),
        where=f"{parent.where}, dependency {label}",
        name=name,
        use_cache=marker.use_cache,
        scope=marker.scope,
        own_scopes=own,
        parent_scopes=parent.scopes,
    )
    sub.limiter = marker._limit
    return sub


def add_route_dependencies(dep: Dependant, markers: Sequence[params.Depends]) -> None:
    """Put ``dependencies=[...]`` of a route (and its routers and app) first, in order, as FastAPI does."""
    subs = []
    for marker in map(translate_marker, markers):
        if not isinstance(marker, params.Depends):
            raise FastAPIError(f"{dep.where}: dependencies=[...] takes Depends() items, got {marker!r}")
        subs.append(sub_dependant(marker, dep, name=None))
    dep.dependencies[:0] = subs


_PATH_PARAM_NAME = re.compile(r"{([^{}:]+)(?::[^{}]*)?}")


def _path_param_names(path: str) -> set[str]:
    return set(_PATH_PARAM_NAME.findall(path))


def _generator_kind(call: Any) -> tuple[bool, bool]:
    """(is a generator function, is an async generator function), as ``_has_kind`` decides."""
    return _has_kind(call, inspect.isgeneratorfunction), _has_kind(call, inspect.isasyncgenfunction)


#: Starlette's classes that FastAPI code annotates parameters with, and the ``Dependant`` slot fulmen fills
#: for each (fulmen's Request, WebSocket, Response and BackgroundTasks have the same API). Matched by name,
#: so Starlette is never imported.
_STARLETTE_ROLES = {
    ("starlette.requests", "Request"): "request_param",
    ("starlette.requests", "HTTPConnection"): "request_param",
    ("starlette.websockets", "WebSocket"): "request_param",
    ("starlette.responses", "Response"): "response_param",
    ("starlette.background", "BackgroundTasks"): "background_param",
}


def _take_role(dep: Dependant, role: str, pname: str) -> None:
    """Give parameter ``pname`` the request, response, background tasks or scopes (``role``).

    A second parameter of the same role gets the same object (FastAPI fills only the last one): decorators
    such as fastapi-cache2's add their own ``Request`` parameter beside the endpoint's ``fulmen.Request``.
    """
    first = getattr(dep, role)
    if first is None:
        setattr(dep, role, pname)
    else:
        dep.aliases += ((pname, first),)


def fill_aliases(aliases: tuple[tuple[str, str], ...], values: dict[str, Any]) -> None:
    """Give each later parameter of a role the value of the first (``Dependant.aliases``)."""
    for name, first in aliases:
        values[name] = values[first]


def _starlette_role(cls: type) -> str | None:
    """The ``Dependant`` slot for a parameter annotated with one of Starlette's classes, else None.

    FastAPI's subclasses of them (``fastapi.BackgroundTasks``) fill the same slot.
    """
    module = getattr(cls, "__module__", "")
    if not isinstance(module, str) or not module.startswith(("starlette.", "fastapi.")):
        return None
    for c in cls.__mro__:
        role = _STARLETTE_ROLES.get((getattr(c, "__module__", ""), c.__qualname__))
        if role is not None:
            return role
    return None


def _is_security_scopes(tp: type) -> bool:
    from fulmen.security.oauth2 import SecurityScopes

    return issubclass(tp, SecurityScopes)


def _is_security_scheme(call: Any) -> bool:
    try:
        from fulmen.security.base import SecurityBase
    except ImportError:  # pragma: no cover - the package always ships it
        return False
    return isinstance(call, SecurityBase) or is_fastapi_security_scheme(call)


def _uses_scopes(dep: Dependant) -> bool:
    """Whether OAuth2 scopes can change this dependency's result (then they are part of its cache key)."""
    if dep.own_scopes or dep.security_scopes_param is not None or _is_security_scheme(dep.call):
        return True
    return any(_uses_scopes(sub) for sub in dep.dependencies)


def _is_json_marker(item: Any) -> bool:
    return type(item).__name__ == "Json" and (type(item).__module__ or "").startswith("pydantic")


def _validation_aliases(marker: Any) -> tuple[str, ...]:
    """The names a marker's ``validation_alias`` reads from (a name, or ``AliasChoices`` of names), or ()."""
    va = getattr(marker, "validation_alias", None)
    if isinstance(va, str):
        return (va,) if va else ()
    choices = getattr(va, "choices", None)
    if type(va).__name__ == "AliasChoices" and choices and all(isinstance(c, str) for c in choices):
        return tuple(choices)
    return ()


def _is_field_info(item: Any) -> bool:
    return type(item).__name__ == "FieldInfo" and (type(item).__module__ or "").startswith("pydantic")


def _with_field_info(marker: Any, infos: list[Any]) -> Any:
    """``marker`` (a copy) with the names and metadata of the pydantic ``Field()``s from its ``Annotated``,
    where the marker leaves them unset."""
    found = {}
    for info in infos:
        for name in params.FIELD_INFO_SETTINGS:
            value = getattr(info, name, None)
            if value is not None:
                found[name] = value
    explicit: frozenset[str] = getattr(marker, "explicit_settings", frozenset())
    found = {
        name: value
        for name, value in found.items()
        if name not in explicit and getattr(marker, name, None) is None
    }
    if not found:
        return marker
    marker = copy.copy(marker)
    for name, value in found.items():
        setattr(marker, name, value)
    return marker


class ParameterTypeError(FastAPIError, AssertionError):
    """A parameter declared with a type its source can't carry (a model from the path, a dict from the query).

    Also an ``AssertionError``: FastAPI reports these with ``assert``, so code catching that keeps working.
    """


def _default_settings(marker: Any, metadata: list[Any]) -> tuple[Callable[[], Any] | None, bool]:
    """The default factory and ``validate_default`` of a parameter: the marker's, else a pydantic ``Field``'s
    in ``Annotated`` (FastAPI merges the two, the marker winning where it says something)."""
    factory = marker.default_factory
    validate_default = marker.validate_default
    for m in metadata:
        if type(m).__name__ == "FieldInfo" and (type(m).__module__ or "").startswith("pydantic"):
            if factory is None:
                factory = m.default_factory
            if validate_default is None:
                validate_default = m.validate_default
    return factory, bool(validate_default)


#: True while an APIRouter (not an app) registers a route: ``Path()`` parameters whose ``{placeholder}`` isn't
#: in the route's path yet are accepted, since ``include_router(prefix=...)`` may add it.
_router_prefix_pending: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "fulmen_router_prefix_pending", default=False
)


@contextlib.contextmanager
def path_placeholders_may_come_later(pending: bool) -> Iterator[None]:
    """While registering one route: whether a missing ``{placeholder}`` may still come from a prefix."""
    token = _router_prefix_pending.set(pending)
    try:
        yield
    finally:
        _router_prefix_pending.reset(token)


def _path_key(name: str, marker: params.Param, path_param_names: set[str]) -> str:
    """The ``{placeholder}`` a ``Path()`` parameter reads: the first ``validation_alias`` choice the path has,
    else a plain-string validation alias, else its alias, else its name (as FastAPI looks it up)."""
    for candidate in _validation_aliases(marker):
        if candidate in path_param_names:
            return candidate
    if isinstance(marker.validation_alias, str) and marker.validation_alias:
        return marker.validation_alias
    return marker.alias or name


def _param_field(
    name: str,
    tp: Any,
    metadata: list[Any],
    marker: params.Param,
    default: Any,
    source: str,
    where: str,
    path_key: str | None = None,
) -> ParamField:
    alias = path_key or marker.alias or name
    if source == "header" and marker.alias is None and getattr(marker, "convert_underscores", True):
        alias = name.replace("_", "-")
    # FastAPI reads a parameter under its validation alias when one is declared, literally (no conversion).
    aliases = _validation_aliases(marker) if source != "path" else ()
    if aliases:
        alias = aliases[0]
    if source == "header" and not aliases and marker.alias is None:
        alias = alias.lower()  # a declared name keeps its case in error locations (headers match any case)
    # pydantic's ``Json[list[int]]`` is one value holding JSON text, not a repeated key.
    is_json = any(_is_json_marker(m) for m in metadata)
    is_list = _is_sequence(tp) and not is_json
    if is_list and source == "path":
        raise ParameterTypeError(f"{where}: Path params must be of one of the supported types (not a list)")
    if is_list and source == "cookie":
        raise FastAPIError(f"{where}: a list can't come from a {source} parameter")
    model: ParamModel | None = None
    # ``Json[Model]`` is one value holding a model's JSON, not a parameter model read from many keys.
    found = param_model_of(tp) if source != "path" and not is_list and not is_json else None
    if found is not None:
        try:
            model = ParamModel(*found, source, getattr(marker, "convert_underscores", True))
        except Exception as exc:  # a model whose fields can't be inspected
            raise FastAPIError(f"{where}: {exc}") from exc
    elif source == "path" and not (is_json or _is_scalar(tp)):
        raise ParameterTypeError(
            f"{where}: Path params must be of one of the supported types (scalar types), got {tp!r}"
        )
    elif not (is_json or (_has_scalar_items(tp) if is_list else _is_scalar(tp))):
        raise ParameterTypeError(
            f"{where}: {source.capitalize()} parameter {name!r} must be one of the supported types: scalar "
            "types, lists of them or a parameter model (a Pydantic model, msgspec Struct, dataclass or "
            f"TypedDict, or one of them | None), got {tp!r}; use Body() for structured data"
        )
    ann = _with_marker(_annotated(tp, metadata), metadata, marker)
    validate = _validator(ann, constraints_from_metadata([marker]), where)
    factory, validate_default = _default_settings(marker, metadata)
    return ParamField(
        name=name,
        alias=alias,
        annotation=tp,
        validate=validate,
        default=default,
        default_factory=factory,
        validate_default=validate_default,
        source=source,
        marker=marker,
        is_list=is_list,
        model=model,
        alt_aliases=aliases[1:],
    )


def _body_field(
    name: str, tp: Any, metadata: list[Any], marker: params.Body, default: Any, where: str
) -> BodyField:
    is_form = isinstance(marker, params.Form)
    if is_form:
        ensure_multipart_installed(where)  # needs python-multipart, like FastAPI (at registration)
    ann = _with_marker(_annotated(tp, metadata), metadata, marker)
    constraints = constraints_from_metadata([marker])
    union_validate = form_union_validator(tp, metadata, marker) if is_form else None
    validate = union_validate or _validator(ann, constraints, where)
    decode: Callable[[bytes], Any]
    if is_form:
        decode = form_fields_are_not_json  # read from the parsed form (fulmen.forms), never from JSON
    elif constraints is None:
        try:
            decode = compile_json_body(ann)
        except TypeError as exc:
            raise FastAPIError(f"{where}: {exc}") from exc
    else:
        decode = _decode_then(validate)
    if not is_form and not metadata and constraints is None and is_pydantic_model(tp) and not _is_strict(tp):
        decode = _pydantic_fast_path(tp, decode)
    aliases = _validation_aliases(marker)
    factory, validate_default = _default_settings(marker, metadata)
    return BodyField(
        name=name,
        alias=aliases[0] if aliases else marker.alias or name,
        alt_aliases=aliases[1:],
        annotation=tp,
        validate=validate,
        default=default,
        default_factory=factory,
        validate_default=validate_default,
        marker=marker,
        decode_json=decode,
        is_json=any(_is_json_marker(m) for m in metadata),
    )


def _is_strict(model: Any) -> bool:
    """True when strict validation appears anywhere in the model's schema (config, field, nested model).

    pydantic's strict mode accepts more from JSON than from Python objects (a string for a datetime, a UUID,
    a Decimal, an array for a tuple); FastAPI validates the parsed Python data, so such models skip the JSON
    fast path.
    """
    stack: list[Any] = [model.__pydantic_core_schema__]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("strict") is True:
                return True
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


def _pydantic_fast_path(model: Any, exact: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """Validate a model body with pydantic's own JSON parser; on any failure take the exact path.

    FastAPI parses with json.loads then validates the Python data; the fallback does exactly that, so error
    bodies are FastAPI's, and valid bodies skip building the intermediate dict.
    """
    from pydantic import ValidationError

    def decode(body: bytes) -> Any:
        try:
            # PERF: one pass in Rust from bytes to model for valid bodies; the validator itself, without
            # model_validate_json's Python frame (FastAPI never calls that method either). Read per call:
            # model_rebuild() replaces it.
            return model.__pydantic_validator__.validate_json(body)
        except ValidationError:
            return exact(body)

    return decode


def _decode_then(validate: Callable[[Any], Any]) -> Callable[[bytes], Any]:
    def decode(body: bytes) -> Any:
        return validate(loads_json(body))

    return decode


_BODY_PARSE_ERROR = "There was an error parsing the body"


def _lenient_json(body: bytes) -> Any:
    """The decoded body for ``RequestValidationError.body`` (the raw bytes when it is not JSON)."""
    try:
        return loads_json(body)
    except (JSONDecodeFailure, BodyParseFailure):
        return body


# ------------------------------------------------------------------------------------------------------------
# Errors in FastAPI's shape
# ------------------------------------------------------------------------------------------------------------
def _error(
    kind: str, loc: tuple[Any, ...], msg: str, value: Any, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    err: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx is not None:
        err["ctx"] = ctx
    return err


def _json_invalid(exc: JSONDecodeFailure) -> dict[str, Any]:
    return _error("json_invalid", ("body", exc.pos), "JSON decode error", {}, {"error": exc.msg})


def _json_syntax_error(exc: JSONDecodeFailure, body: bytes) -> RequestValidationError:
    """Unparseable JSON is reported alone (FastAPI parses the body before validating anything else)."""
    return RequestValidationError([_json_invalid(exc)], body=body.decode("utf-8", "replace"))


def _missing(loc: tuple[Any, ...], value: Any = None) -> dict[str, Any]:
    return _error("missing", loc, "Field required", value)


def _prefixed(errors: list[dict[str, Any]], prefix: tuple[Any, ...]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        e = dict(e)
        e["loc"] = (*prefix, *e["loc"])
        out.append(e)
    return out


# ------------------------------------------------------------------------------------------------------------
# Request-time solving
# ------------------------------------------------------------------------------------------------------------
def _solve_params(
    fields: list[ParamField],
    lookup: Callable[[str], Any],
    getlist: Callable[[str], list[Any]] | None,
    values: dict[str, Any],
    errors: list[dict[str, Any]],
    received: Any = None,
) -> None:
    for f in fields:
        if f.model is not None:
            _solve_model(f, f.model, received, values, errors)
            continue
        alias = f.alias
        if f.is_list and getlist is not None:
            raw: Any = getlist(alias)
            if not raw:
                raw = None
        else:
            raw = lookup(alias)
        if raw is None and f.alt_aliases:
            raw, alias = _lookup_alternatives(f, lookup, getlist)
        if raw is None:
            f.fill_missing((f.source, f.alias), values, errors)
            continue
        try:
            values[f.name] = f.validate(raw)
        except ValidationFailure as exc:
            errors.extend(_prefixed(exc.errors, (f.source, alias)))


def _lookup_alternatives(
    f: ParamField, lookup: Callable[[str], Any], getlist: Callable[[str], list[Any]] | None
) -> tuple[Any, str]:
    """The value under the first of ``validation_alias``'s other choices that was sent, and that name."""
    for alias in f.alt_aliases:
        raw = (getlist(alias) or None) if f.is_list and getlist is not None else lookup(alias)
        if raw is not None:
            return raw, alias
    return None, f.alias


def _solve_model(
    f: ParamField, model: ParamModel, received: Any, values: dict[str, Any], errors: list[dict[str, Any]]
) -> None:
    raw = model.extract(received)
    if is_missing(raw):
        if f.required:
            errors.append(missing_model(model))
            return
        if not f.validate_default:
            values[f.name] = f.default_value()
            return
        raw = f.default_value()
    try:
        values[f.name] = f.validate(raw)
    except ValidationFailure as exc:
        errors.extend(model.relocate(exc.errors))


def _is_json_content_type(request: Request, lax: bool = False) -> bool:
    """Whether the body is JSON by its Content-Type (``lax``, from ``strict_content_type=False``: or none)."""
    for k, v in request.raw_headers:
        if k == b"content-type":
            # PERF: the overwhelmingly common value is checked without parsing.
            if v == b"application/json":
                return True
            media = v.split(b";", 1)[0].strip().lower()
            if not media.startswith(b"application/"):
                return False
            sub = media[12:]
            return sub == b"json" or sub.endswith(b"+json")
    return lax


async def read_route_body(request: Request) -> bytes:
    """``request.body()`` for a route's body parameters: a failed read (the client left mid-body under an ASGI
    server) is FastAPI's 400, not a 500 with a logged traceback; HTTP errors (a limit's 413) pass through."""
    try:
        return await request.body()
    except BaseHTTPException:
        raise
    except Exception as exc:
        raise http_error(400, _BODY_PARSE_ERROR) from exc


async def _solve_body(
    dep: Dependant, request: Request, values: dict[str, Any], errors: list[dict[str, Any]]
) -> Any:
    # PERF: read_route_body inlined (one coroutine frame less per body request).
    try:
        body = await request.body()
    except BaseHTTPException:
        raise
    except Exception as unreadable:
        raise http_error(400, _BODY_PARSE_ERROR) from unreadable
    return _decode_body(dep, request, body, values, errors)


def _decode_body(
    dep: Dependant, request: Request, body: bytes, values: dict[str, Any], errors: list[dict[str, Any]]
) -> Any:
    """Validate the read ``body`` into the body fields; returns what a ``RequestValidationError`` shows."""
    fields = dep.body_params
    is_json = bool(body) and _is_json_content_type(request, dep.json_without_content_type)
    embed = len(fields) > 1 or bool(fields[0].marker.embed)
    if not embed:
        f = fields[0]
        if not body:
            f.fill_missing(("body",), values, errors)
            return None
        # One name per except clause: mypyc types a name once per function (docs/engine.md, What to compile).
        try:
            values[f.name] = f.decode_json(body) if is_json else f.validate(body)
        except ValidationFailure as invalid:
            errors.extend(_prefixed(invalid.errors, ("body",)))
            return _lenient_json(body) if is_json else body
        except JSONDecodeFailure as not_json:
            raise _json_syntax_error(not_json, body) from None
        except BodyParseFailure as unparseable:
            raise http_error(400, _BODY_PARSE_ERROR) from unparseable
        return body
    data: Any = None
    if body:
        if is_json:
            try:
                data = loads_json(body)
            except JSONDecodeFailure as not_json:
                raise _json_syntax_error(not_json, body) from None
            except BodyParseFailure as unparseable:
                raise http_error(400, _BODY_PARSE_ERROR) from unparseable
        else:
            data = body
    solve_embedded(fields, data, values, errors, is_json)
    return data


def solve_embedded(
    fields: list[BodyField], data: Any, values: dict[str, Any], errors: list[dict[str, Any]], parsed: bool
) -> None:
    """Validate body fields embedded by name in the parsed JSON ``data`` (``loc: ["body", alias]``).

    ``parsed``: the body was JSON. Then anything but an object (null, a list, a number) misses every field,
    optional ones too, as in FastAPI; an empty or non-JSON body leaves optional fields at their default.
    """
    if parsed and type(data) is not dict:
        errors.extend(_missing(("body", f.alias)) for f in fields)
        return
    for f in fields:
        alias = f.alias
        raw = data.get(alias, _MISSING) if isinstance(data, dict) else _MISSING
        if raw is _MISSING and f.alt_aliases and isinstance(data, dict):
            for alt in f.alt_aliases:
                if alt in data:
                    raw, alias = data[alt], alt
                    break
        if raw is _MISSING:
            f.fill_missing(("body", f.alias), values, errors)
            continue
        try:
            values[f.name] = f.validate(raw)
        except ValidationFailure as exc:
            errors.extend(_prefixed(exc.errors, ("body", alias)))


def _solve_request_params(
    dep: Dependant, request: Connection, values: dict[str, Any], errors: list[dict[str, Any]]
) -> None:
    if dep.path_params:
        _solve_params(dep.path_params, request.path_params.get, None, values, errors)
    if dep.query_params:
        q = request.query_params
        _solve_params(dep.query_params, q.get, q.getlist, values, errors, q)
    if dep.header_params:
        h = request.headers
        _solve_params(dep.header_params, h.get, h.getlist, values, errors, h)
    if dep.cookie_params:
        c = request.cookies
        _solve_params(dep.cookie_params, c.get, None, values, errors, c)


def solve_without_body(dep: Dependant, request: Request, values: dict[str, Any]) -> None:
    """``solve`` for a callable that takes no body: synchronous, so no coroutine is created for it."""
    errors: list[dict[str, Any]] = []
    _solve_request_params(dep, request, values, errors)
    if errors:
        raise RequestValidationError(errors, body=None)
    if dep.request_param is not None:
        values[dep.request_param] = request


def solve_buffered(dep: Dependant, request: Request, body: bytes, values: dict[str, Any]) -> None:
    """``solve`` for a JSON body the front door has already read: synchronous, so no coroutine is created.

    Reading a buffered body can't fail or wait, so the order against the other parameters doesn't show.
    """
    errors: list[dict[str, Any]] = []
    _solve_request_params(dep, request, values, errors)
    data = _decode_body(dep, request, body, values, errors)
    if errors:
        raise RequestValidationError(errors, body=data)
    if dep.request_param is not None:
        values[dep.request_param] = request


def buffered_body(request: Request) -> bytes | None:
    """The body bytes a front door has already read into ``request``, else None (read with ``body()``).

    Only for fulmen's own ``Request``: a subclass may override ``body()`` (a decompressing request class).
    """
    if type(request) is not Request:
        return None
    try:
        return request._body
    except AttributeError:  # made by Request(scope, receive): its body is not read yet
        return None


def needs_solving_besides_body(dep: Dependant) -> bool:
    """Whether ``dep`` takes anything from the request besides its body."""
    return bool(
        dep.path_params or dep.query_params or dep.header_params or dep.cookie_params or dep.request_param
    )


def _path_only_solver(dep: Dependant) -> Callable[[Request, dict[str, Any]], None] | None:
    """A solver for callables that take only path parameters (``/users/{id}``), else None.

    The router guarantees every path parameter is present, so no missing/default/list handling is needed.
    """
    if dep.query_params or dep.header_params or dep.cookie_params or dep.body_params or dep.request_param:
        return None
    fields = [(f.name, f.alias, f.validate) for f in dep.path_params]

    def solve_path(request: Request, values: dict[str, Any]) -> None:
        raw = request.path_params
        errors: list[dict[str, Any]] | None = None
        for name, alias, validate in fields:
            try:
                values[name] = validate(raw[alias])
            except ValidationFailure as exc:
                errors = (errors or []) + _prefixed(exc.errors, ("path", alias))
        if errors:
            raise RequestValidationError(errors, body=None)

    return solve_path


async def solve(
    dep: Dependant, request: Request, values: dict[str, Any], form: FormSolver | None = None
) -> Any:
    """Fill ``values`` with the validated arguments of ``dep`` or raise ``RequestValidationError``.

    ``form`` is the compiled form solver when the body fields are ``Form()``/``File()`` fields.
    """
    errors: list[dict[str, Any]] = []
    _solve_request_params(dep, request, values, errors)
    body: Any = None
    if form is not None:
        body = await form(request, values, errors)
    elif dep.body_params:
        body = await _solve_body(dep, request, values, errors)
    if errors:
        raise RequestValidationError(errors, body=body)
    if dep.request_param is not None:
        values[dep.request_param] = request
    return body


# ------------------------------------------------------------------------------------------------------------
# Responses
# ------------------------------------------------------------------------------------------------------------
def json_response(body: bytes, status_code: int) -> Response:
    """A JSONResponse from ready bytes, skipping ``__init__``'s generic header logic."""
    # PERF: the common case builds two fixed headers directly instead of walking init_headers.
    r = JSONResponse.__new__(JSONResponse)
    r.status_code = status_code
    r.background = None
    r.body = body
    r.raw_headers = [
        (b"content-length", b"%d" % len(body)),
        (b"content-type", b"application/json"),
    ]
    return r


def as_response(response: Any) -> Response:
    """``response`` as fulmen's ``Response``: a ``response_class`` may be Starlette's (FastAPI code)."""
    if isinstance(response, Response):
        return response
    foreign = foreign_response(response)
    if foreign is None:
        raise TypeError(f"response_class made {type(response).__name__}, which is not a Response")
    return foreign


def _make_serializer(
    response_class: type[Response],
    status_code: int | None,
    serialize_result: Callable[[Any], Any] | None = None,
    result_is_json: bool = False,
    status_settable: bool = False,
) -> Callable[[Any], Response]:
    """The ``result -> Response`` step of a route.

    ``status_settable``: an injected ``response`` may change the status, so a route declared with a body-less
    status (204...) still renders the body; ``_merge_sub_response`` drops it if the final status has none.
    """
    default_status = status_code if status_code is not None else 200
    body_less = not status_settable and (default_status < 200 or default_status in (204, 205, 304))
    # A chosen response class gets the content positionally, as FastAPI passes it (RedirectResponse's first
    # argument is ``url``, FileResponse's ``path``), and the route's status only when the route sets one: a
    # RedirectResponse keeps its own 307 otherwise.
    class_status: dict[str, Any] = {} if status_code is None else {"status_code": status_code}
    if serialize_result is not None:
        # A response model (fulmen.response_model): it validates the result and returns JSON-ready data, or
        # with ``result_is_json`` (no response class chosen anywhere) the body bytes, as FastAPI writes them.
        from fulmen.encoders import encode_json_plain

        if result_is_json:

            def model_bytes(result: Any) -> Response:
                if isinstance(result, Response):
                    return result
                foreign = foreign_response(result)
                if foreign is not None:
                    return foreign
                return json_response(serialize_result(result), default_status)

            return model_bytes

        if response_class is JSONResponse:

            def model_json(result: Any) -> Response:
                if isinstance(result, Response):
                    return result
                foreign = foreign_response(result)
                if foreign is not None:
                    return foreign
                return json_response(encode_json_plain(serialize_result(result)), default_status)

            return model_json

        def model_class(result: Any) -> Response:
            if isinstance(result, Response):
                return result
            foreign = foreign_response(result)
            if foreign is not None:
                return foreign
            return as_response(response_class(serialize_result(result), **class_status))

        return model_class

    if response_class is JSONResponse:
        if body_less:

            def no_body(result: Any) -> Response:
                if isinstance(result, Response):
                    return result
                foreign = foreign_response(result)
                if foreign is not None:
                    return foreign
                return Response(status_code=default_status, media_type=response_class.media_type)

            return no_body

        def to_json(result: Any) -> Response:
            if isinstance(result, Response):
                return result
            # PERF: the native case inline (no encoder frame per request); see fulmen.encoders.
            if _is_native(result):
                return json_response(_encode(result), default_status)
            foreign = foreign_response(result)  # a Starlette response (not on the native path above)
            if foreign is not None:
                return foreign
            return json_response(encode_json_converted(result), default_status)

        # For the compiled engine's lane: a plain dict of str keys and str/int/bool/None values (what
        # _is_native accepts without recursing) is answered as json_response(_encode(result), native_status).
        to_json.native_status = default_status  # type: ignore[attr-defined]
        return to_json

    is_json_class = issubclass(response_class, JSONResponse) or is_starlette_json_class(response_class)

    def to_class(result: Any) -> Response:
        if isinstance(result, Response):
            return result
        foreign = foreign_response(result)
        if foreign is not None:
            return foreign
        content = jsonable_encoder(result) if is_json_class else result
        made = as_response(response_class(content, **class_status))
        # As FastAPI: the class renders the content, then a status without a body sends none.
        return _without_body(made) if body_less else made

    return to_class


def _without_body(response: Response) -> Response:
    if not response.streaming:
        response.body = b""
        response.raw_headers = [(k, v) for k, v in response.raw_headers if k != b"content-length"]
    return response


def _merge_sub_response(response: Response, sub: Response) -> Response:
    # Headers and cookies set on an injected ``response: Response`` parameter go onto the real response.
    for name, value in sub.raw_headers:
        if name == b"content-length":
            continue
        response.raw_headers.append((name, value))
    if sub.status_code is not None:
        response.status_code = sub.status_code
    status = response.status_code
    if status < 200 or status in (204, 205, 304):
        # A status that carries no body (set here or declared by the route): FastAPI sends none and no
        # content-length.
        _without_body(response)
    if sub.background is not None and response.background is None:
        response.background = sub.background
    return response


class EndpointContext:
    """Where an endpoint is, for the validation errors raised while answering it: FastAPI 0.165 prints it in
    ``str(exc)``, which custom handlers often answer with. Looked up on the first error, not per request."""

    __slots__ = ("_source", "call", "path")

    def __init__(self, call: Any, path: str) -> None:
        self.call = call
        self.path = path
        self._source: dict[str, Any] | None = None

    def _where(self) -> dict[str, Any]:
        found = self._source
        if found is None:
            found = {}
            try:  # the same lookups as FastAPI, so the file and line are the ones it prints
                file = inspect.getsourcefile(self.call)
                if file is not None:
                    found["file"] = file
                found["line"] = inspect.getsourcelines(self.call)[1]
                name = getattr(self.call, "__name__", None)
                if name is not None:
                    found["function"] = name
            except Exception:  # no source (a builtin, a REPL, a C extension): the path alone is shown
                found = {}
            self._source = found
        return found

    def attach(self, exc: BaseException, method: str, root_path: str) -> None:
        """Record the endpoint on a validation error that has no endpoint yet; other exceptions pass."""
        if isinstance(exc, ValidationException) and exc.endpoint_ctx is None:
            telemetry = sys.modules.get("fulmen.telemetry._api")
            if telemetry is not None:
                telemetry.validation_failed(exc)
            ctx = dict(self._where())
            if self.path:
                ctx["path"] = f"{method} {root_path.rstrip('/')}{self.path}"
            exc.endpoint_ctx = ctx


def compile_plan(
    dep: Dependant,
    *,
    response_class: type[Response],
    status_code: int | None,
    inline_sync: bool,
    serialize_result: Callable[[Any], Any] | None = None,
    result_is_json: bool = False,
    invoke_override: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
    operations: Any = None,
) -> RequestHandler:
    """Build the request handler for an endpoint: only the steps this endpoint needs, in a flat sequence.

    ``serialize_result`` applies a response model to non-Response results (``fulmen.response_model``); it
    returns JSON-ready data for ``response_class``, or the JSON body bytes when ``result_is_json``.
    ``operations`` (``fulmen.telemetry._operations``, for an instrumented app) times the steps in spans.
    """
    call = dep.call
    status_settable = any(d.response_param is not None for d in dep.iter_tree())
    serialize = _make_serializer(
        response_class, status_code, serialize_result, result_is_json, status_settable=status_settable
    )
    needs_solving = bool(
        dep.path_params
        or dep.query_params
        or dep.header_params
        or dep.cookie_params
        or dep.body_params
        or dep.request_param
    )
    extras = dep.response_param is not None or dep.background_param is not None
    has_body = bool(dep.body_params)
    solve_path = _path_only_solver(dep)
    # Form()/File() fields: the body is read as a form by a solver compiled here, once.
    form = compile_form_solver(dep.body_params, dep.where) if has_form_fields(dep.body_params) else None
    json_body = has_body and form is None

    # An ``async def`` endpoint called as it is: the request's coroutine awaits it without invoke's frame.
    direct: Endpoint | None = None
    if dep.is_coroutine:
        invoke: Callable[[dict[str, Any]], Awaitable[Any]] = lambda kw: call(**kw)  # noqa: E731
        direct = call
    elif inline_sync:
        # Distinct names: mypyc can't compile one closure defined twice (docs/engine.md, What to compile).
        async def invoke_inline(kw: dict[str, Any]) -> Any:
            return call(**kw)

        invoke = invoke_inline
    else:

        async def invoke_in_threadpool(kw: dict[str, Any]) -> Any:
            return await run_in_threadpool(call, **kw)

        invoke = invoke_in_threadpool

    streams = invoke_override is not None
    if invoke_override is not None:
        # A generator endpoint (fulmen.stream_endpoints): calling it builds the streaming response.
        invoke = invoke_override
        direct = None

    # An instrumented app's route (APIRoute.instrument): the steps are timed, and the plan takes the general
    # path, whose solver is one step to time. Other routes are compiled without any of it.
    timed = operations
    if timed is not None:
        mode = (
            "other" if streams else "async" if dep.is_coroutine else "inline" if inline_sync else "threadpool"
        )
        invoke = timed.timed_invoke(invoke, call, mode)
        serialize = timed.timed_serialize(serialize, call)
        direct = None

    if dep.dependencies or dep.security_scopes_param is not None or timed is not None:
        from fulmen.dependencies import compile_with_dependencies

        handler = compile_with_dependencies(
            dep,
            invoke=invoke,
            serialize=serialize,
            inline_sync=inline_sync,
            streams=streams,
            operations=timed,
            direct=direct,
        )
        if any(has_form_fields(d.body_params) for d in dep.iter_tree()):
            return close_files_after(handler)
        return handler

    if dep.aliases:
        # Two parameters of one role (a decorator's beside the endpoint's): the later ones get the first's.
        invoke_first, aliases = invoke, dep.aliases

        async def invoke_with_aliases(kw: dict[str, Any]) -> Any:
            fill_aliases(aliases, kw)
            return await invoke_first(kw)

        invoke = invoke_with_aliases
        direct = None

    where = EndpointContext(call, dep.path)
    if not needs_solving and not extras:
        if dep.is_coroutine and invoke_override is None:

            async def run_bare(request: Request) -> Response:
                # PERF: no parameters: no dict, no solver frame.
                try:
                    return serialize(await call())
                except Exception as exc:
                    where.attach(exc, request.method, request.root_path)
                    return await request.app.handle_exception(request, exc)  # type: ignore[union-attr]

            # For the compiled engine's lane (fulmen.engine.lane), which runs these same steps itself.
            run_bare.lane = (call, serialize, where)  # type: ignore[attr-defined]
            return run_bare

        async def run_bare_sync(request: Request) -> Response:
            try:
                return serialize(await invoke({}))
            except Exception as exc:
                where.attach(exc, request.method, request.root_path)
                return await request.app.handle_exception(request, exc)  # type: ignore[union-attr]

        return run_bare_sync

    async def run(request: Request) -> Response:
        try:
            values: dict[str, Any] = {}
            if json_body:
                # PERF: a body the engine has buffered is solved synchronously (no solver coroutines);
                # buffered_body inlined. A subclass may override body() (a decompressing request class).
                try:
                    raw = request._body if type(request) is Request else None
                except AttributeError:  # made by Request(scope, receive): its body is not read yet
                    raw = None
                if raw is not None:
                    solve_buffered(dep, request, raw, values)
                else:
                    await solve(dep, request, values)
            elif has_body:
                await solve(dep, request, values, form)
            elif solve_path is not None:
                # PERF: only path parameters: one tight loop, no generic lookups.
                solve_path(request, values)
            elif needs_solving:
                # PERF: parameters without a body are solved synchronously (no solver coroutine).
                solve_without_body(dep, request, values)
            sub: Response | None = None
            tasks: BackgroundTasks | None = None
            if extras:
                if dep.response_param is not None:
                    sub = values[dep.response_param] = InjectedResponse()
                if dep.background_param is not None:
                    tasks = values[dep.background_param] = BackgroundTasks()
            # PERF: an async endpoint is called here, one frame less than through invoke.
            result = await (direct(**values) if direct is not None else invoke(values))
            response = serialize(result)
            if sub is not None and (
                (response is not result and not is_starlette_response(result)) or streams
            ):
                # FastAPI applies the injected response to data it serialises (and to generator streams), not
                # to a Response the handler returns itself (fulmen's, or Starlette's converted).
                response = _merge_sub_response(response, sub)
            # A generator endpoint adds its tasks while the response streams: attach them even when none
            # was added yet (an empty BackgroundTasks runs nothing).
            if tasks is not None and (tasks.tasks or streams) and response.background is None:
                response.background = tasks
            return response
        except Exception as exc:
            where.attach(exc, request.method, request.root_path)
            return await request.app.handle_exception(request, exc)  # type: ignore[union-attr]

    if solve_path is not None and direct is not None and not extras and len(dep.path_params) == 1:
        # For the compiled engine's lane (fulmen.engine.lane): the endpoint, called with its one path
        # parameter validated by ``validate`` (the lane hands the request over if that fails), then
        # these same steps.
        field = dep.path_params[0]
        run.lane_path = (direct, serialize, where, field.alias, field.validate)  # type: ignore[attr-defined]
    if (
        json_body
        and direct is not None
        and not extras
        and not needs_solving_besides_body(dep)
        and len(dep.body_params) == 1
        and not dep.body_params[0].marker.embed
    ):
        # For the lane too: the endpoint called with its one JSON body parameter, which ``decode_json`` made
        # from a body sent as ``application/json`` (the lane hands the request over if that fails).
        body = dep.body_params[0]
        run.lane_body = (direct, serialize, where, body.name, body.decode_json)  # type: ignore[attr-defined]
    return run if form is None else close_files_after(run)
