"""The OpenAPI document: ``get_openapi`` builds FastAPI's document for fulmen's routes.

The walk is FastAPI's (``fastapi.openapi.utils``), applied to fulmen's route data: the same traversal of the
dependency tree (parameters and security schemes, each dependency once), the same body-field rules (one body
parameter as is, several as a ``Body_<operation id>`` model), the same response entries, the same merge of
``responses=`` and ``openapi_extra``. JSON Schemas come from pydantic's generator when pydantic is installed
(``_pydantic``), or from fulmen's own pydantic-shaped generator otherwise (``_plain``); ``_document`` then
gives the whole document the shape FastAPI's pydantic round trip gives it.
"""

from __future__ import annotations

import copy
import dataclasses
import http.client
import inspect
import typing
import warnings
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec

from fulmen import params
from fulmen._typing import is_class
from fulmen.foreign import is_starlette_json_class
from fulmen.openapi._document import shape_document
from fulmen.openapi._fields import SchemaField
from fulmen.openapi.constants import METHODS_WITH_BODY, REF_PREFIX
from fulmen.param_models import ParamModel
from fulmen.plan import BodyField, Dependant, ParamField
from fulmen.response_model import is_body_allowed_for_status_code
from fulmen.responses import JSONResponse, Response

__all__ = ["get_openapi", "get_openapi_operation_metadata", "get_openapi_path", "status_code_ranges"]

validation_error_definition: dict[str, Any] = {
    "title": "ValidationError",
    "type": "object",
    "properties": {
        "loc": {
            "title": "Location",
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
        "msg": {"title": "Message", "type": "string"},
        "type": {"title": "Error Type", "type": "string"},
        "input": {"title": "Input"},
        "ctx": {"title": "Context", "type": "object"},
    },
    "required": ["loc", "msg", "type"],
}

validation_error_response_definition: dict[str, Any] = {
    "title": "HTTPValidationError",
    "type": "object",
    "properties": {
        "detail": {
            "title": "Detail",
            "type": "array",
            "items": {"$ref": REF_PREFIX + "ValidationError"},
        }
    },
}

status_code_ranges: dict[str, str] = {
    "1XX": "Information",
    "2XX": "Success",
    "3XX": "Redirection",
    "4XX": "Client Error",
    "5XX": "Server Error",
    "DEFAULT": "Default Response",
}

_STREAM_ORIGINS = frozenset({AsyncIterable, AsyncIterator, AsyncGenerator, Iterable, Iterator, Generator})
_SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "data": {"type": "string"},
        "event": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}


# ------------------------------------------------------------------------------------------------------------
# What each route contributes: fields (for schemas), parameters, security, body, responses
# ------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(eq=False)
class _Param:
    field: SchemaField
    source: str  # path | query | header | cookie
    marker: params.Param
    include_in_schema: bool
    #: A field of a ``Model | None`` parameter model with a default: never required (FastAPI's rule).
    in_optional_model: bool = False
    #: One field of a parameter model (its name was worked out by the model's analysis).
    from_model: bool = False


@dataclasses.dataclass(eq=False)
class _RouteData:
    """FastAPI's per-route OpenAPI inputs (``body_field``, ``response_field`` ...) for one fulmen route."""

    route: Any
    params: dict[str, list[_Param]]
    security: list[tuple[Dependant, list[str]]]
    body: SchemaField | None
    body_marker: Any
    response: SchemaField | None
    responses: dict[Any, SchemaField]
    #: The route's ``responses=`` after those its dependencies declare (``openapi_responses``).
    declared: dict[Any, Any]
    stream_item: SchemaField | None
    is_json_stream: bool
    is_sse_stream: bool
    callbacks: list[Any]


#: Callable -> its parameters, kept only as long as the callable lives.
_SIGNATURES: weakref.WeakKeyDictionary[Any, dict[str, tuple[Any, Any]]] = weakref.WeakKeyDictionary()


def _signature(call: Any) -> dict[str, tuple[Any, Any]]:
    """``{parameter: (annotation with extras, default as written)}`` for a dependant's callable."""
    try:
        found = _SIGNATURES.get(call)
    except TypeError:  # not weakly referenceable (or unhashable): read it each time
        found = None
    if found is not None:
        return found
    from fulmen.plan import _typed_signature

    try:
        out = {
            # An unannotated parameter is documented as Any (an empty schema), as FastAPI does.
            name: (Any if ann is inspect.Parameter.empty else ann, default)
            for name, ann, default in _typed_signature(call)
        }
    except (TypeError, ValueError):
        out = {}
    try:
        _SIGNATURES[call] = out
    except TypeError:
        pass
    return out


def _is_marker_default(dep: Dependant, name: str, marker: Any) -> tuple[Any, bool]:
    """(the parameter's full annotation, whether its marker was given as the default value)."""
    annotation, default = _signature(dep.call).get(name, (Any, inspect.Parameter.empty))
    return annotation, default is marker


def _param_field(dep: Dependant, f: ParamField) -> _Param:
    marker = f.marker
    annotation, as_default = _is_marker_default(dep, f.name, marker)
    if f.source == "path":
        alias = f.alias  # the {placeholder} it is read from (validation_alias choice, alias or name)
    elif marker.alias:
        alias = marker.alias
    elif f.source == "header" and getattr(marker, "convert_underscores", True):
        alias = f.name.replace("_", "-")
    else:
        alias = f.name
    field = SchemaField(
        name=f.name,
        annotation=annotation,
        marker=marker,
        merge_annotated=not as_default,
        default=params.Undefined if f.source == "path" else f.default,
        default_factory=None if f.source == "path" else f.default_factory,
        alias=alias,
    )
    return _Param(field, f.source, marker, getattr(marker, "include_in_schema", True))


def _model_params(f: ParamField, model: ParamModel) -> list[_Param]:
    """A parameter model's fields, each described as a parameter of its own (FastAPI flattens the model)."""
    from fulmen.param_models import schema_infos

    marker = f.marker
    include = getattr(marker, "include_in_schema", True)
    # ``Model | None`` with a default: none of its fields is required.
    optional = model.optional and not f.required
    out = []
    for info in schema_infos(model):
        kwargs = dict(info.field_kwargs)
        if isinstance(marker, params.Header):
            # The name the client sends, worked out once by the model's analysis (AliasChoices stay literal).
            kwargs["convert_underscores"] = info.request_name != info.alias
        field_marker = type(marker)(**kwargs)  # the field's own title, description, examples ...
        field = SchemaField(
            name=info.name,
            annotation=info.annotation,
            marker=field_marker,
            default=info.default,
            default_factory=info.default_factory,
            alias=info.alias,
        )
        out.append(_Param(field, f.source, field_marker, include, optional, from_model=True))
    return out


def _body_member(dep: Dependant, f: BodyField) -> SchemaField:
    annotation, as_default = _is_marker_default(dep, f.name, f.marker)
    return SchemaField(
        name=f.name,
        annotation=annotation,
        marker=f.marker,
        merge_annotated=not as_default,
        default=f.default,
        default_factory=f.default_factory,
        alias=f.marker.alias or f.name,
        media_type=f.marker.media_type,
    )


def _is_security_scheme(call: Any) -> bool:
    from fulmen.foreign_params import is_fastapi_security_scheme
    from fulmen.security.base import SecurityBase

    scheme = inspect.unwrap(call) if callable(call) else call
    return isinstance(scheme, SecurityBase) or is_fastapi_security_scheme(scheme)


def _declared_responses(route: Any, visits: list[tuple[Dependant, list[str], bool]]) -> dict[Any, Any]:
    """The route's ``responses=``, after the responses its dependencies declare.

    A dependency contributes through an ``openapi_responses`` mapping on what it calls (an attribute of the
    function or object, as ``RateLimit`` has): the same shape as ``responses=``. The route's own entry for
    a status wins over a dependency's; of two dependencies, the first in FastAPI's walk order wins.
    """
    own: dict[Any, Any] = route.responses
    found: dict[str, tuple[Any, Any]] = {}
    for dep, _, is_root in visits:
        if is_root or isinstance(dep.call, type):  # a class's attribute is its property, not a mapping
            continue
        extra = getattr(dep.call, "openapi_responses", None)
        if not isinstance(extra, dict):
            continue
        for code, answer in extra.items():
            found.setdefault(str(code).upper(), (code, answer))
    if not found:
        return own
    # As ``{**dependencies', **own}`` (how include_router merges ``responses=``): an own entry takes the
    # place of the dependency's entry for its status.
    mine = {str(code).upper(): (code, answer) for code, answer in own.items()}
    merged: dict[Any, Any] = {}
    for status, (code, answer) in found.items():
        code, answer = mine.pop(status, (code, answer))
        merged[code] = answer
    for code, answer in mine.values():
        merged[code] = answer
    return merged


def _walk(root: Dependant) -> tuple[list[tuple[Dependant, list[str], bool]], list[tuple[Dependant, Any]]]:
    """The dependency tree as FastAPI walks it for OpenAPI: depth first, each cache key once.

    Returns (dependant, OAuth2 scopes in force, is the endpoint) in visit order, and every body parameter in
    FastAPI's flat order (depth first, no de-duplication).
    """
    visited: list[Any] = []
    out: list[tuple[Dependant, list[str], bool]] = []
    stack: list[tuple[Dependant, list[str], bool]] = [(root, [], True)]
    while stack:
        dep, parent_scopes, is_root = stack.pop()
        key = dep.cache_key
        if key in visited:
            continue
        visited.append(key)
        scopes = list(parent_scopes)
        for scope in dep.scopes:
            if scope not in scopes:
                scopes.append(scope)
        out.append((dep, scopes, is_root))
        stack.extend((sub, scopes, False) for sub in reversed(dep.dependencies))
    bodies: list[tuple[Dependant, Any]] = []
    todo = [root]
    while todo:
        dep = todo.pop()
        bodies.extend((dep, b) for b in dep.body_params)
        todo.extend(reversed(dep.dependencies))
    return out, bodies


def _model_class(tp: Any) -> bool:
    if not is_class(tp):
        return False
    if issubclass(tp, msgspec.Struct) or dataclasses.is_dataclass(tp):
        return True
    return hasattr(tp, "model_fields") and hasattr(tp, "model_json_schema")


def _strip_annotated(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _form_models(member: SchemaField) -> list[Any]:
    """FastAPI's ``_get_form_models``: the model classes a non-embedded ``Form()`` parameter fills."""
    if not isinstance(member.marker, params.Form):
        return []
    tp = _strip_annotated(member.annotation)
    origin = get_origin(tp)
    if origin is Union or type(tp).__name__ == "UnionType":
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and _model_class(_strip_annotated(args[0])):
            return [_strip_annotated(args[0])]
        stripped = [_strip_annotated(a) for a in args]
        if len(stripped) > 1 and all(_model_class(a) for a in stripped):
            return stripped
        return []
    return [tp] if _model_class(tp) else []


def _should_embed(members: list[SchemaField]) -> bool:
    if not members:
        return False
    if len({m.name for m in members}) > 1:
        return True
    first = members[0]
    if _form_models(first) and any(
        not _form_models(m) or _strip_annotated(m.annotation) is not _strip_annotated(first.annotation)
        for m in members[1:]
    ):
        return True
    embed = None if isinstance(first.marker, params.Form) else getattr(first.marker, "embed", None)
    if embed:
        return True
    return isinstance(first.marker, params.Form) and not _form_models(first)


def _body_field(members: list[SchemaField], unique_id: str) -> tuple[SchemaField | None, Any]:
    """FastAPI's ``route.body_field``: the single body parameter, or the ``Body_<id>`` model of several."""
    if not members:
        return None, None
    embed = _should_embed(members)
    nullable_model = any(
        _form_models(m) and type(None) in get_args(_strip_annotated(m.annotation)) for m in members
    )
    if not embed and not nullable_model:
        return members[0], members[0].marker
    if any(isinstance(m.marker, params.File) for m in members):
        kind: type[params.Body] = params.File
    elif any(isinstance(m.marker, params.Form) for m in members):
        kind = params.Form
    else:
        kind = params.Body
    media_type = kind().media_type
    if kind is not params.File:
        types = [m.marker.media_type for m in members if isinstance(m.marker, kind)]
        if kind is params.Form and "multipart/form-data" in types:
            media_type = "multipart/form-data"
        elif len(set(types)) == 1:
            media_type = types[0]
    required = any(m.required for m in members)
    body = SchemaField(
        name="body",
        annotation=None,
        alias="body",
        members=list(members),
        model_name="Body_" + unique_id,
        default=params.Undefined if required else None,
        media_type=media_type,
    )
    if not embed:
        # A nullable form model: FastAPI keeps the parameter's field but types it with the model.
        body.name = members[0].name
        body.alias = members[0].alias
        body.default = members[0].default
        body.default_factory = members[0].default_factory
    return body, None


def _stream_item_type(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is not None and origin in _STREAM_ORIGINS:
        args = get_args(annotation)
        return args[0] if args else Any
    return None


def _is_generator(call: Any) -> bool:
    target = call if inspect.isroutine(call) else getattr(call, "__call__", None)  # noqa: B004
    return inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target)


def _route_data(route: Any) -> _RouteData:
    visits, bodies = _walk(route.dependant)
    groups: dict[str, list[_Param]] = {"path": [], "query": [], "header": [], "cookie": []}
    security: list[tuple[Dependant, list[str]]] = []
    for dep, scopes, is_root in visits:
        for group, fields in (
            ("path", dep.path_params),
            ("query", dep.query_params),
            ("header", dep.header_params),
            ("cookie", dep.cookie_params),
        ):
            for f in fields:
                if f.model is not None:
                    groups[group].extend(_model_params(f, f.model))
                else:
                    groups[group].append(_param_field(dep, f))
        if not is_root and _is_security_scheme(dep.call):
            security.append((dep, scopes))
    members = [_body_member(dep, b) for dep, b in bodies]
    body, body_marker = _body_field(members, route.unique_id)
    response = None
    if route.response_model:
        response = SchemaField(
            name="Response_" + route.unique_id, annotation=route.response_model, mode="serialization"
        )
    declared = _declared_responses(route, visits)
    responses: dict[Any, SchemaField] = {}
    for code, extra in declared.items():
        model = extra.get("model") if isinstance(extra, dict) else None
        if model:
            responses[code] = SchemaField(
                name=f"Response_{code}_{route.unique_id}", annotation=model, mode="serialization"
            )
    is_generator = _is_generator(route.endpoint)
    from fulmen.responses import EventSourceResponse

    is_sse = is_generator and issubclass(route.response_class, EventSourceResponse)
    is_jsonl = is_generator and route.response_class_is_default
    stream_item = None
    if is_generator and (is_sse or is_jsonl) and not is_class(route.response_model):
        item = _stream_item_type(_return_annotation(route.endpoint))
        if item is not None and not _is_server_sent_event(item):
            stream_item = SchemaField(
                name="StreamItem_" + route.unique_id, annotation=item, mode="serialization"
            )
    return _RouteData(
        route=route,
        params=groups,
        security=security,
        body=body,
        body_marker=body_marker,
        response=response,
        responses=responses,
        declared=declared,
        stream_item=stream_item,
        is_json_stream=is_jsonl,
        is_sse_stream=is_sse,
        callbacks=list(route.extra.get("callbacks") or []),
    )


def _return_annotation(endpoint: Any) -> Any:
    try:
        hints = typing.get_type_hints(endpoint, include_extras=True)
    except Exception:
        return None
    return hints.get("return")


def _is_server_sent_event(tp: Any) -> bool:
    from fulmen.sse import ServerSentEvent

    return is_class(tp) and issubclass(tp, ServerSentEvent)


def _api_routes(routes: Sequence[Any]) -> list[Any]:
    from fulmen.foreign_routing import foreign_api_routes, is_fastapi_api_route
    from fulmen.routing import APIRoute

    out = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif is_fastapi_api_route(route):  # callbacks=fastapi_router.routes, as FastAPI's docs declare them
            out.extend(foreign_api_routes([route]))
    return out


class _Context:
    """One document's generation: route data (built once per route) and the schema backend."""

    def __init__(self, separate_input_output_schemas: bool) -> None:
        self.separate = separate_input_output_schemas
        self.data: dict[int, _RouteData] = {}
        self.backend: Any = None

    def route(self, route: Any) -> _RouteData:
        found = self.data.get(id(route))
        if found is None:
            found = self.data[id(route)] = _route_data(route)
        return found

    def fields(self, routes: Sequence[Any]) -> list[SchemaField]:
        """FastAPI's ``get_fields_from_routes``: callbacks' fields first, then bodies, responses, params."""
        bodies: list[SchemaField] = []
        responses: list[SchemaField] = []
        request: list[SchemaField] = []
        callbacks: list[SchemaField] = []
        for route in _api_routes(routes):
            if not route.include_in_schema:
                continue
            data = self.route(route)
            if data.body is not None:
                bodies.append(data.body)
            if data.response is not None:
                responses.append(data.response)
            responses.extend(data.responses.values())
            if data.stream_item is not None:
                responses.append(data.stream_item)
            if data.callbacks:
                callbacks.extend(self.fields(data.callbacks))
            for group in ("path", "query", "header", "cookie"):
                request.extend(p.field for p in data.params[group])
        return callbacks + bodies + responses + request

    def schema(self, field: SchemaField, alias: str | None = None) -> dict[str, Any]:
        return self.backend.schema(field, alias)  # type: ignore[no-any-return]


def _make_backend(fields: list[SchemaField], separate: bool) -> Any:
    """pydantic's generator when pydantic is installed, else fulmen's pydantic-shaped one."""
    if not _FORCE_PLAIN:
        try:
            from fulmen.openapi._pydantic import PydanticSchemas
        except ImportError:
            pass
        else:
            return PydanticSchemas(fields, separate_input_output_schemas=separate)
    from fulmen.openapi._plain import PlainSchemas

    return PlainSchemas(fields, separate_input_output_schemas=separate)


#: Tests set this to generate with the pydantic-free backend while pydantic is installed.
_FORCE_PLAIN = False


# ------------------------------------------------------------------------------------------------------------
# Operations
# ------------------------------------------------------------------------------------------------------------
def _description(route: Any) -> str | None:
    doc = getattr(route.endpoint, "__doc__", None)
    text = route.description
    if doc and text == doc.split("\f")[0].strip():
        # Taken from the docstring: FastAPI dedents it (inspect.cleandoc) first.
        text = inspect.cleandoc(doc)
    if not text:
        return None
    return str(text).split("\f")[0].strip()


def generate_operation_summary(*, route: Any, method: str) -> str:
    """The operation's summary: ``summary=`` or the endpoint's name in title case."""
    if route.summary:
        return str(route.summary)
    return str(route.name).replace("_", " ").title()


def get_openapi_operation_metadata(*, route: Any, method: str, operation_ids: set[str]) -> dict[str, Any]:
    """Tags, summary, description, operation id (warning on duplicates, as FastAPI) and deprecation."""
    operation: dict[str, Any] = {}
    if route.tags:
        operation["tags"] = route.tags
    operation["summary"] = generate_operation_summary(route=route, method=method)
    description = _description(route)
    if description:
        operation["description"] = description
    operation_id = route.operation_id or route.unique_id
    if operation_id in operation_ids:
        endpoint_name = getattr(route.endpoint, "__name__", "<unnamed_endpoint>")
        message = f"Duplicate Operation ID {operation_id} for function {endpoint_name}"
        file_name = getattr(route.endpoint, "__globals__", {}).get("__file__")
        if file_name:
            message += f" at {file_name}"
        warnings.warn(message, stacklevel=1)
    operation_ids.add(operation_id)
    operation["operationId"] = operation_id
    if route.deprecated:
        operation["deprecated"] = route.deprecated
    return operation


def _security_definitions(
    security: list[tuple[Dependant, list[str]]],
) -> tuple[dict[str, Any], list[dict[str, list[str]]]]:
    definitions: dict[str, Any] = {}
    merged: dict[str, list[str]] = {}
    for dep, scopes in security:
        scheme = inspect.unwrap(dep.call)
        model = scheme.model
        to_openapi = getattr(model, "to_openapi", None)
        if to_openapi is not None:
            definition = to_openapi()
        else:
            from fulmen.encoders import jsonable_encoder

            definition = jsonable_encoder(model, by_alias=True, exclude_none=True)
        name = scheme.scheme_name
        definitions[name] = definition
        merged.setdefault(name, [])
        for scope in scopes:
            if scope not in merged[name]:
                merged[name].append(scope)
    return definitions, [{name: scopes} for name, scopes in merged.items()]


def _parameters(data: _RouteData, ctx: _Context) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for group in ("path", "query", "header", "cookie"):
        for p in data.params[group]:
            if not p.include_in_schema:
                continue
            field, marker = p.field, p.marker
            choices = _alias_choices(marker) if group != "path" and not p.from_model else ()
            if choices:
                alias = name = choices[0]  # FastAPI names it after the first choice, literally
            else:
                alias = field.alias or field.name if group == "path" else field.schema_alias()
                name = alias
                if group == "header" and getattr(marker, "convert_underscores", True) and alias == field.name:
                    name = alias.replace("_", "-")
            parameter: dict[str, Any] = {
                "name": name,
                "in": group,
                "required": field.required and not p.in_optional_model,
                "schema": ctx.schema(field, alias),
            }
            if marker.description:
                parameter["description"] = marker.description
            openapi_examples = getattr(marker, "openapi_examples", None)
            example = getattr(marker, "example", params.Undefined)
            if openapi_examples:
                parameter["examples"] = _encode(openapi_examples)
            elif example is not params.Undefined:
                parameter["example"] = _encode(example)
            if getattr(marker, "deprecated", None):
                parameter["deprecated"] = True
            out.append(parameter)
    return out


def _alias_choices(marker: Any) -> tuple[str, ...]:
    """The names of a marker's ``validation_alias=AliasChoices(...)`` (all plain names), else ()."""
    va = getattr(marker, "validation_alias", None)
    choices = getattr(va, "choices", None)
    if type(va).__name__ == "AliasChoices" and choices and all(isinstance(c, str) for c in choices):
        return tuple(choices)
    return ()


def _encode(value: Any) -> Any:
    from fulmen.encoders import jsonable_encoder

    return jsonable_encoder(value)


def _request_body(data: _RouteData, ctx: _Context) -> dict[str, Any] | None:
    body = data.body
    if body is None:
        return None
    schema = ctx.schema(body)
    marker = data.body_marker
    out: dict[str, Any] = {}
    if body.required:
        out["required"] = True
    content: dict[str, Any] = {"schema": schema}
    openapi_examples = getattr(marker, "openapi_examples", None)
    example = getattr(marker, "example", params.Undefined)
    if openapi_examples:
        content["examples"] = _encode(openapi_examples)
    elif example is not params.Undefined:
        content["example"] = _encode(example)
    media_type = body.media_type or getattr(marker, "media_type", "application/json")
    out["content"] = {media_type: content}
    return out


def _default_status_code(response_class: type[Response]) -> str | None:
    try:
        param = inspect.signature(response_class.__init__).parameters.get("status_code")
    except (TypeError, ValueError):
        return None
    if param is not None and isinstance(param.default, int):
        return str(param.default)
    return None


def deep_dict_update(main: dict[Any, Any], update: dict[Any, Any]) -> None:
    """Merge ``update`` into ``main``: dicts recursively, lists concatenated, anything else replaced."""
    for key, value in update.items():
        if key in main and isinstance(main[key], dict) and isinstance(value, dict):
            deep_dict_update(main[key], value)
        elif key in main and isinstance(main[key], list) and isinstance(value, list):
            main[key] = main[key] + value
        else:
            main[key] = value


def _methods(route: Any) -> list[str]:
    """The documented methods: the declared ones (fulmen answers HEAD for GET routes on its own)."""
    methods = list(route.method_list)
    if "GET" in methods and methods[-1] == "HEAD":
        methods.pop()
    return methods


def get_openapi_path(
    *, route: Any, operation_ids: set[str], ctx: _Context
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The path item, security schemes and extra definitions one route contributes."""
    path: dict[str, Any] = {}
    security_schemes: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    if not route.include_in_schema:
        return path, security_schemes, definitions
    data = ctx.route(route)
    response_class = route.response_class
    media_type: str | None = getattr(response_class, "media_type", None)
    has_params = any(data.params[g] for g in ("path", "query", "header", "cookie"))
    for method in _methods(route):
        operation = get_openapi_operation_metadata(route=route, method=method, operation_ids=operation_ids)
        scheme_definitions, operation_security = _security_definitions(data.security)
        if operation_security:
            operation.setdefault("security", []).extend(operation_security)
        if scheme_definitions:
            security_schemes.update(scheme_definitions)
        parameters = _parameters(data, ctx)
        if parameters:
            everything = {(p["in"], p["name"]): p for p in parameters}
            required = {(p["in"], p["name"]): p for p in parameters if p.get("required")}
            everything.update(required)
            operation["parameters"] = list(everything.values())
        if method in METHODS_WITH_BODY:
            request_body = _request_body(data, ctx)
            if request_body:
                operation["requestBody"] = request_body
        if data.callbacks:
            callbacks: dict[str, Any] = {}
            for callback in _api_routes(data.callbacks):
                cb_path, _, _ = get_openapi_path(route=callback, operation_ids=operation_ids, ctx=ctx)
                callbacks[callback.name] = {callback.path: cb_path}
            operation["callbacks"] = callbacks
        status_code = str(int(route.status_code)) if route.status_code is not None else None
        if status_code is None:
            status_code = _default_status_code(response_class)
        responses = operation.setdefault("responses", {})
        responses.setdefault(status_code, {})["description"] = route.response_description
        if is_body_allowed_for_status_code(route.status_code):
            content = responses.setdefault(status_code, {})
            if data.is_json_stream:
                item_schema: dict[str, Any] = ctx.schema(data.stream_item) if data.stream_item else {}
                content.setdefault("content", {})["application/jsonl"] = {"itemSchema": item_schema}
            elif data.is_sse_stream:
                event = copy.deepcopy(_SSE_EVENT_SCHEMA)
                if data.stream_item is not None:
                    event["required"] = ["data"]
                    event["properties"]["data"] = {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": ctx.schema(data.stream_item),
                    }
                content.setdefault("content", {})["text/event-stream"] = {"itemSchema": event}
            elif media_type:
                response_schema: dict[str, Any] = {"type": "string"}
                if is_class(response_class) and (
                    issubclass(response_class, JSONResponse) or is_starlette_json_class(response_class)
                ):
                    response_schema = ctx.schema(data.response) if data.response is not None else {}
                content.setdefault("content", {}).setdefault(media_type, {})["schema"] = response_schema
        if data.declared:
            for code, extra in data.declared.items():
                processed = copy.deepcopy(extra)
                processed.pop("model", None)
                key = str(code).upper()
                if key == "DEFAULT":
                    key = "default"
                entry = responses.setdefault(key, {})
                if not isinstance(processed, dict):
                    raise AssertionError("An additional response must be a dict")
                field = data.responses.get(code)
                if field is not None:
                    field_schema = ctx.schema(field)
                    target = (
                        processed.setdefault("content", {})
                        .setdefault(media_type or "application/json", {})
                        .setdefault("schema", {})
                    )
                    deep_dict_update(target, field_schema)
                status_text = status_code_ranges.get(str(code).upper()) or http.client.responses.get(
                    int(code)
                )
                description = (
                    processed.get("description")
                    or entry.get("description")
                    or status_text
                    or "Additional Response"
                )
                deep_dict_update(entry, processed)
                entry["description"] = description
        if (has_params or data.body is not None) and not any(
            status in responses for status in ("422", "4XX", "default")
        ):
            responses["422"] = {
                "description": "Validation Error",
                "content": {"application/json": {"schema": {"$ref": REF_PREFIX + "HTTPValidationError"}}},
            }
            if "ValidationError" not in definitions:
                definitions["ValidationError"] = validation_error_definition
                definitions["HTTPValidationError"] = validation_error_response_definition
        if route.openapi_extra:
            deep_dict_update(operation, route.openapi_extra)
        path[method.lower()] = operation
    return path, security_schemes, definitions


# ------------------------------------------------------------------------------------------------------------
# The document
# ------------------------------------------------------------------------------------------------------------
def get_openapi(
    *,
    title: str,
    version: str,
    openapi_version: str = "3.1.0",
    summary: str | None = None,
    description: str | None = None,
    routes: Sequence[Any],
    webhooks: Sequence[Any] | None = None,
    tags: list[dict[str, Any]] | None = None,
    servers: list[dict[str, Any]] | None = None,
    terms_of_service: str | None = None,
    contact: dict[str, Any] | None = None,
    license_info: dict[str, Any] | None = None,
    separate_input_output_schemas: bool = True,
    external_docs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI document for ``routes`` (and ``webhooks``), as FastAPI's ``get_openapi`` returns it."""
    info: dict[str, Any] = {"title": title, "version": version}
    if summary:
        info["summary"] = summary
    if description:
        info["description"] = description
    if terms_of_service:
        info["termsOfService"] = terms_of_service
    if contact:
        info["contact"] = contact
    if license_info:
        info["license"] = license_info
    output: dict[str, Any] = {"openapi": openapi_version, "info": info}
    if servers:
        output["servers"] = servers
    components: dict[str, dict[str, Any]] = {}
    paths: dict[str, dict[str, Any]] = {}
    webhook_paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    ctx = _Context(separate_input_output_schemas)
    all_fields = ctx.fields([*routes, *(webhooks or [])])
    ctx.backend = _make_backend(all_fields, separate_input_output_schemas)
    definitions: dict[str, Any] = dict(ctx.backend.definitions)
    for target, source in ((paths, routes), (webhook_paths, webhooks or [])):
        for route in _api_routes(source):
            path, security_schemes, path_definitions = get_openapi_path(
                route=route, operation_ids=operation_ids, ctx=ctx
            )
            if path:
                target.setdefault(route.path_format, {}).update(path)
            if security_schemes:
                components.setdefault("securitySchemes", {}).update(security_schemes)
            if path_definitions:
                definitions.update(path_definitions)
    if definitions:
        components["schemas"] = {k: definitions[k] for k in sorted(definitions)}
    if components:
        output["components"] = components
    output["paths"] = paths
    if webhook_paths:
        output["webhooks"] = webhook_paths
    if tags:
        output["tags"] = tags
    if external_docs:
        output["externalDocs"] = external_docs
    return shape_document(output)
