"""The last step of schema generation: give the document exactly the shape FastAPI's output has.

FastAPI builds its document as plain dicts, validates it with its pydantic OpenAPI models and dumps it with
``by_alias=True, exclude_none=True``. That round trip is visible in the output: every object's keys are put in
its model's field order (unknown keys after them), ``None`` values disappear, ``float`` fields turn ``1`` into
``1.0``, URL fields are normalised (``https://example.com`` gains a ``/``), and where a field's type is a
union, pydantic's "smart" union rules decide which member (and so which key order) wins. The notable case: a
path item is typed ``PathItem | Any``, and a path item that needs a lax conversion (a parameter's ``"in":
"query"`` string becoming an enum) loses to ``Any``, so it is kept exactly as built.

This module reproduces that round trip without pydantic: a table of the OpenAPI objects (field order, field
types, extra-key policy) and a small validator with pydantic's rules for the types that appear in it
(exactness levels, fields-set counts, smart-union choice). Tests compare it against FastAPI's models.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import math
import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

# -- exactness, as pydantic-core ranks a successful validation -----------------------------------------------
_LAX = 1
_STRICT = 2
_EXACT = 3


class _Fail(Exception):
    """The value doesn't validate against the type (pydantic would raise a ValidationError)."""


class _State:
    __slots__ = ("count", "exactness")

    def __init__(self) -> None:
        self.exactness = _EXACT
        #: Model fields set, summed over every model validated (pydantic's ``fields_set_count``).
        self.count: int | None = None

    def floor(self, level: int) -> None:
        if level < self.exactness:
            self.exactness = level

    def add(self, n: int) -> None:
        self.count = (self.count or 0) + n


# -- type descriptors ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Model:
    name: str
    #: (key in the document, type, default) in field order; default ``_REQUIRED`` when required.
    fields: tuple[tuple[str, Any, Any], ...]
    extra: bool = True  # extra="allow" (kept after the fields); False: ignored
    typed_dict: bool = False


_REQUIRED: Any = object()
_NONE: Any = None


@dataclasses.dataclass(frozen=True)
class _List:
    item: Any
    unique: bool = False  # a set: from a list it is a lax conversion
    min_length: int = 0


@dataclasses.dataclass(frozen=True)
class _Dict:
    value: Any


@dataclasses.dataclass(frozen=True)
class _Union:
    choices: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class _Nullable:
    inner: Any


@dataclasses.dataclass(frozen=True)
class _Enum:
    values: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _Literal:
    values: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _Ref:
    """A forward reference to a model in ``_MODELS`` (the object graph is recursive)."""

    name: str


_ANY = "any"
_STR = "str"
_INT = "int"
_FLOAT = "float"
_BOOL = "bool"
_URL = "url"


def _opt(tp: Any) -> _Nullable:
    return _Nullable(tp)


def _model(name: str, *fields: tuple[str, Any] | tuple[str, Any, Any], extra: bool = True) -> _Model:
    out = []
    for f in fields:
        key, tp = f[0], f[1]
        default = f[2] if len(f) == 3 else (None if isinstance(tp, _Nullable) else _REQUIRED)
        out.append((key, tp, default))
    return _Model(name, tuple(out), extra)


_SCHEMA_OR_BOOL = _Union((_Ref("Schema"), _BOOL))
_SCHEMA_TYPE = _Literal(("array", "boolean", "integer", "null", "number", "object", "string"))
_S = _opt(_STR)

_MODELS: dict[str, _Model] = {}


def _register(*models: _Model) -> None:
    for m in models:
        _MODELS[m.name] = m


_register(
    _model("Contact", ("name", _S), ("url", _opt(_URL)), ("email", _S)),
    _model("License", ("name", _STR), ("identifier", _S), ("url", _opt(_URL))),
    _model(
        "Info",
        ("title", _STR),
        ("summary", _S),
        ("description", _S),
        ("termsOfService", _S),
        ("contact", _opt(_Ref("Contact"))),
        ("license", _opt(_Ref("License"))),
        ("version", _STR),
    ),
    _model(
        "ServerVariable", ("enum", _opt(_List(_STR, min_length=1))), ("default", _STR), ("description", _S)
    ),
    _model(
        "Server",
        ("url", _Union((_URL, _STR))),
        ("description", _S),
        ("variables", _opt(_Dict(_Ref("ServerVariable")))),
    ),
    _model("Reference", ("$ref", _STR), extra=False),
    _model("Discriminator", ("propertyName", _STR), ("mapping", _opt(_Dict(_STR))), extra=False),
    _model(
        "XML",
        ("name", _S),
        ("namespace", _S),
        ("prefix", _S),
        ("attribute", _opt(_BOOL)),
        ("wrapped", _opt(_BOOL)),
    ),
    _model("ExternalDocumentation", ("description", _S), ("url", _URL)),
    _model(
        "Schema",
        ("$schema", _S),
        ("$vocabulary", _S),
        ("$id", _S),
        ("$anchor", _S),
        ("$dynamicAnchor", _S),
        ("$ref", _S),
        ("$dynamicRef", _S),
        ("$defs", _opt(_Dict(_SCHEMA_OR_BOOL))),
        ("$comment", _S),
        ("allOf", _opt(_List(_SCHEMA_OR_BOOL))),
        ("anyOf", _opt(_List(_SCHEMA_OR_BOOL))),
        ("oneOf", _opt(_List(_SCHEMA_OR_BOOL))),
        ("not", _opt(_SCHEMA_OR_BOOL)),
        ("if", _opt(_SCHEMA_OR_BOOL)),
        ("then", _opt(_SCHEMA_OR_BOOL)),
        ("else", _opt(_SCHEMA_OR_BOOL)),
        ("dependentSchemas", _opt(_Dict(_SCHEMA_OR_BOOL))),
        ("prefixItems", _opt(_List(_SCHEMA_OR_BOOL))),
        ("items", _opt(_SCHEMA_OR_BOOL)),
        ("contains", _opt(_SCHEMA_OR_BOOL)),
        ("properties", _opt(_Dict(_SCHEMA_OR_BOOL))),
        ("patternProperties", _opt(_Dict(_SCHEMA_OR_BOOL))),
        ("additionalProperties", _opt(_SCHEMA_OR_BOOL)),
        ("propertyNames", _opt(_SCHEMA_OR_BOOL)),
        ("unevaluatedItems", _opt(_SCHEMA_OR_BOOL)),
        ("unevaluatedProperties", _opt(_SCHEMA_OR_BOOL)),
        ("type", _opt(_Union((_SCHEMA_TYPE, _List(_SCHEMA_TYPE))))),
        ("enum", _opt(_List(_ANY))),
        ("const", _opt(_ANY)),
        ("multipleOf", _opt(_FLOAT)),
        ("maximum", _opt(_FLOAT)),
        ("exclusiveMaximum", _opt(_FLOAT)),
        ("minimum", _opt(_FLOAT)),
        ("exclusiveMinimum", _opt(_FLOAT)),
        ("maxLength", _opt(_INT)),
        ("minLength", _opt(_INT)),
        ("pattern", _S),
        ("maxItems", _opt(_INT)),
        ("minItems", _opt(_INT)),
        ("uniqueItems", _opt(_BOOL)),
        ("maxContains", _opt(_INT)),
        ("minContains", _opt(_INT)),
        ("maxProperties", _opt(_INT)),
        ("minProperties", _opt(_INT)),
        ("required", _opt(_List(_STR))),
        ("dependentRequired", _opt(_Dict(_List(_STR, unique=True)))),
        ("format", _S),
        ("contentEncoding", _S),
        ("contentMediaType", _S),
        ("contentSchema", _opt(_SCHEMA_OR_BOOL)),
        ("title", _S),
        ("description", _S),
        ("default", _opt(_ANY)),
        ("deprecated", _opt(_BOOL)),
        ("readOnly", _opt(_BOOL)),
        ("writeOnly", _opt(_BOOL)),
        ("examples", _opt(_List(_ANY))),
        ("discriminator", _opt(_Ref("Discriminator"))),
        ("xml", _opt(_Ref("XML"))),
        ("externalDocs", _opt(_Ref("ExternalDocumentation"))),
        ("example", _opt(_ANY)),
    ),
    _Model(
        "Example",
        (
            ("summary", _S, _REQUIRED),
            ("description", _S, _REQUIRED),
            ("value", _opt(_ANY), _REQUIRED),
            ("externalValue", _opt(_URL), _REQUIRED),
        ),
        extra=True,
        typed_dict=True,
    ),
    _model(
        "Encoding",
        ("contentType", _S),
        ("headers", _opt(_Dict(_Union((_Ref("Header"), _Ref("Reference")))))),
        ("style", _S),
        ("explode", _opt(_BOOL)),
        ("allowReserved", _opt(_BOOL)),
    ),
    _model(
        "MediaType",
        ("schema", _opt(_Union((_Ref("Schema"), _Ref("Reference"))))),
        ("example", _opt(_ANY)),
        ("examples", _opt(_Dict(_Union((_Ref("Example"), _Ref("Reference")))))),
        ("encoding", _opt(_Dict(_Ref("Encoding")))),
    ),
)

_PARAMETER_BASE: tuple[tuple[str, Any], ...] = (
    ("description", _S),
    ("required", _opt(_BOOL)),
    ("deprecated", _opt(_BOOL)),
    ("style", _S),
    ("explode", _opt(_BOOL)),
    ("allowReserved", _opt(_BOOL)),
    ("schema", _opt(_Union((_Ref("Schema"), _Ref("Reference"))))),
    ("example", _opt(_ANY)),
    ("examples", _opt(_Dict(_Union((_Ref("Example"), _Ref("Reference")))))),
    ("content", _opt(_Dict(_Ref("MediaType")))),
)
_OPERATION = _opt(_Ref("Operation"))
_SECURITY_REQUIREMENTS = _opt(_List(_Dict(_List(_STR))))
_SECURITY_TYPE = _Enum(("apiKey", "http", "oauth2", "openIdConnect"))

_register(
    _model(
        "Parameter", *_PARAMETER_BASE, ("name", _STR), ("in", _Enum(("query", "header", "path", "cookie")))
    ),
    _model("Header", *_PARAMETER_BASE),
    _model(
        "RequestBody",
        ("description", _S),
        ("content", _Dict(_Ref("MediaType"))),
        ("required", _opt(_BOOL)),
    ),
    _model(
        "Link",
        ("operationRef", _S),
        ("operationId", _S),
        ("parameters", _opt(_Dict(_Union((_ANY, _STR))))),
        ("requestBody", _opt(_Union((_ANY, _STR)))),
        ("description", _S),
        ("server", _opt(_Ref("Server"))),
    ),
    _model(
        "Response",
        ("description", _STR),
        ("headers", _opt(_Dict(_Union((_Ref("Header"), _Ref("Reference")))))),
        ("content", _opt(_Dict(_Ref("MediaType")))),
        ("links", _opt(_Dict(_Union((_Ref("Link"), _Ref("Reference")))))),
    ),
    _model(
        "Operation",
        ("tags", _opt(_List(_STR))),
        ("summary", _S),
        ("description", _S),
        ("externalDocs", _opt(_Ref("ExternalDocumentation"))),
        ("operationId", _S),
        ("parameters", _opt(_List(_Union((_Ref("Parameter"), _Ref("Reference")))))),
        ("requestBody", _opt(_Union((_Ref("RequestBody"), _Ref("Reference"))))),
        ("responses", _opt(_Dict(_Union((_Ref("Response"), _ANY))))),
        ("callbacks", _opt(_Dict(_Union((_Dict(_Ref("PathItem")), _Ref("Reference")))))),
        ("deprecated", _opt(_BOOL)),
        ("security", _SECURITY_REQUIREMENTS),
        ("servers", _opt(_List(_Ref("Server")))),
    ),
    _model(
        "PathItem",
        ("$ref", _S),
        ("summary", _S),
        ("description", _S),
        ("get", _OPERATION),
        ("put", _OPERATION),
        ("post", _OPERATION),
        ("delete", _OPERATION),
        ("options", _OPERATION),
        ("head", _OPERATION),
        ("patch", _OPERATION),
        ("trace", _OPERATION),
        ("servers", _opt(_List(_Ref("Server")))),
        ("parameters", _opt(_List(_Union((_Ref("Parameter"), _Ref("Reference")))))),
    ),
    _model(
        "APIKey",
        ("type", _SECURITY_TYPE, "apiKey"),
        ("description", _S),
        ("in", _Enum(("query", "header", "cookie"))),
        ("name", _STR),
    ),
    _model("HTTPBase", ("type", _SECURITY_TYPE, "http"), ("description", _S), ("scheme", _STR)),
    _model(
        "HTTPBearer",
        ("type", _SECURITY_TYPE, "http"),
        ("description", _S),
        ("scheme", _Literal(("bearer",)), "bearer"),
        ("bearerFormat", _S),
    ),
    _model("OAuthFlowImplicit", ("refreshUrl", _S), ("scopes", _Dict(_STR), {}), ("authorizationUrl", _STR)),
    _model("OAuthFlowPassword", ("refreshUrl", _S), ("scopes", _Dict(_STR), {}), ("tokenUrl", _STR)),
    _model("OAuthFlowClientCredentials", ("refreshUrl", _S), ("scopes", _Dict(_STR), {}), ("tokenUrl", _STR)),
    _model(
        "OAuthFlowAuthorizationCode",
        ("refreshUrl", _S),
        ("scopes", _Dict(_STR), {}),
        ("authorizationUrl", _STR),
        ("tokenUrl", _STR),
    ),
    _model(
        "OAuthFlows",
        ("implicit", _opt(_Ref("OAuthFlowImplicit"))),
        ("password", _opt(_Ref("OAuthFlowPassword"))),
        ("clientCredentials", _opt(_Ref("OAuthFlowClientCredentials"))),
        ("authorizationCode", _opt(_Ref("OAuthFlowAuthorizationCode"))),
    ),
    _model("OAuth2", ("type", _SECURITY_TYPE, "oauth2"), ("description", _S), ("flows", _Ref("OAuthFlows"))),
    _model(
        "OpenIdConnect",
        ("type", _SECURITY_TYPE, "openIdConnect"),
        ("description", _S),
        ("openIdConnectUrl", _STR),
    ),
)

_SECURITY_SCHEME = _Union(
    (_Ref("APIKey"), _Ref("HTTPBase"), _Ref("OAuth2"), _Ref("OpenIdConnect"), _Ref("HTTPBearer"))
)


def _or_ref(name: str) -> _Union:
    return _Union((_Ref(name), _Ref("Reference")))


_register(
    _model(
        "Components",
        ("schemas", _opt(_Dict(_or_ref("Schema")))),
        ("responses", _opt(_Dict(_or_ref("Response")))),
        ("parameters", _opt(_Dict(_or_ref("Parameter")))),
        ("examples", _opt(_Dict(_or_ref("Example")))),
        ("requestBodies", _opt(_Dict(_or_ref("RequestBody")))),
        ("headers", _opt(_Dict(_or_ref("Header")))),
        ("securitySchemes", _opt(_Dict(_Union((*_SECURITY_SCHEME.choices, _Ref("Reference")))))),
        ("links", _opt(_Dict(_or_ref("Link")))),
        ("callbacks", _opt(_Dict(_Union((_Dict(_Ref("PathItem")), _Ref("Reference"), _ANY))))),
        ("pathItems", _opt(_Dict(_or_ref("PathItem")))),
    ),
    _model("Tag", ("name", _STR), ("description", _S), ("externalDocs", _opt(_Ref("ExternalDocumentation")))),
    _model(
        "OpenAPI",
        ("openapi", _STR),
        ("info", _Ref("Info")),
        ("jsonSchemaDialect", _S),
        ("servers", _opt(_List(_Ref("Server")))),
        ("paths", _opt(_Dict(_Union((_Ref("PathItem"), _ANY))))),
        ("webhooks", _opt(_Dict(_or_ref("PathItem")))),
        ("components", _opt(_Ref("Components"))),
        ("security", _SECURITY_REQUIREMENTS),
        ("tags", _opt(_List(_Ref("Tag")))),
        ("externalDocs", _opt(_Ref("ExternalDocumentation"))),
    ),
)


# -- validation with pydantic's rules ------------------------------------------------------------------------
def _validate(tp: Any, value: Any, state: _State) -> Any:
    """``value`` as pydantic validates (and then dumps, in JSON mode) it for ``tp``; raises ``_Fail``."""
    if isinstance(tp, str):
        return _SCALARS[tp](value, state)
    if isinstance(tp, _Nullable):
        if value is None:
            return None
        return _validate(tp.inner, value, state)
    if isinstance(tp, _Ref):
        return _validate_model(_MODELS[tp.name], value, state)
    if isinstance(tp, _Union):
        return _validate_union(tp, value, state)
    if isinstance(tp, _List):
        if isinstance(value, list):
            pass
        elif isinstance(value, (tuple, set, frozenset)) and not (tp.unique and isinstance(value, set)):
            state.floor(_LAX)
        elif not (tp.unique and isinstance(value, set)):
            raise _Fail
        if tp.unique and isinstance(value, (list, tuple)):
            state.floor(_LAX)
        out = [_validate(tp.item, item, state) for item in value]
        if len(out) < tp.min_length:
            raise _Fail
        if tp.unique:
            out = list(dict.fromkeys(out))
        return out
    if isinstance(tp, _Dict):
        if not isinstance(value, Mapping):
            raise _Fail
        if not isinstance(value, dict):
            state.floor(_LAX)
        return {_validate(_STR, k, state): _validate(tp.value, v, state) for k, v in value.items()}
    if isinstance(tp, _Enum):
        if isinstance(value, enum.Enum):
            value = value.value
        if not isinstance(value, str) or value not in tp.values:
            raise _Fail
        state.floor(_LAX)  # a plain value becoming the enum member is a lax conversion
        return str(value)
    if isinstance(tp, _Literal):
        if not isinstance(value, str):
            raise _Fail
        if type(value) is not str:
            state.floor(_STRICT)
            value = value.value if isinstance(value, enum.Enum) else str(value)
        if value not in tp.values:
            raise _Fail
        return value
    raise AssertionError(tp)  # pragma: no cover - the table only uses the kinds above


def _validate_model(model: _Model, value: Any, state: _State) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Fail
    if not model.typed_dict:
        state.floor(_STRICT)
    out: dict[str, Any] = {}
    known = set()
    count = 0
    for key, tp, default in model.fields:
        known.add(key)
        if key in value:
            count += 1
            out[key] = _validate(tp, value[key], state)
        elif default is _REQUIRED:
            if not model.typed_dict:
                raise _Fail
        elif default is not None:
            out[key] = default
    if model.extra:
        for key, item in value.items():
            if key not in known:
                if not isinstance(key, str):
                    raise _Fail
                state.floor(_STRICT)  # extras are stored as Any
                out[key] = item
    if not model.typed_dict:
        state.add(count)
    return out


def _validate_union(tp: _Union, value: Any, state: _State) -> Any:
    best: tuple[Any, int, int | None] | None = None
    for choice in tp.choices:
        sub = _State()
        try:
            result = _validate(choice, value, sub)
        except _Fail:
            continue
        if sub.exactness == _EXACT and sub.count is None:
            return result
        if best is None:
            better = True
        else:
            cur_count, new_count = best[2], sub.count
            if cur_count is not None and new_count is not None and cur_count != new_count:
                better = cur_count < new_count
            else:
                better = best[1] < sub.exactness
        if better:
            best = (result, sub.exactness, sub.count)
    if best is None:
        raise _Fail
    state.floor(best[1])
    if best[2] is not None:
        state.add(best[2])
    return best[0]


def _str(value: Any, state: _State) -> str:
    if type(value) is str:
        return value
    if isinstance(value, str):
        state.floor(_STRICT)
        return value.value if isinstance(value, enum.Enum) else str(value)
    raise _Fail


def _int(value: Any, state: _State) -> int:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise _Fail
    if isinstance(value, int):
        state.floor(_STRICT)
        return int(value)
    if isinstance(value, float) and value.is_integer():
        state.floor(_LAX)
        return int(value)
    raise _Fail


def _float(value: Any, state: _State) -> float:
    if type(value) is float:
        return value
    if isinstance(value, bool):
        raise _Fail
    if isinstance(value, (int, float)):
        state.floor(_STRICT)
        return float(value)
    raise _Fail


def _bool(value: Any, state: _State) -> bool:
    if type(value) is bool:
        return value
    if isinstance(value, int) and value in (0, 1):
        state.floor(_LAX)
        return bool(value)
    if isinstance(value, str) and value.lower() in _BOOL_WORDS:
        state.floor(_LAX)
        return _BOOL_WORDS[value.lower()]
    raise _Fail


_BOOL_WORDS = {
    "true": True,
    "1": True,
    "yes": True,
    "on": True,
    "false": False,
    "0": False,
    "no": False,
    "off": False,
}


def _any(value: Any, state: _State) -> Any:
    state.floor(_STRICT)
    return value


def _url(value: Any, state: _State) -> str:
    if not isinstance(value, str):
        raise _Fail
    state.floor(_LAX)
    return normalize_url(value)


_SCALARS: dict[str, Callable[[Any, _State], Any]] = {
    _ANY: _any,
    _STR: _str,
    _INT: _int,
    _FLOAT: _float,
    _BOOL: _bool,
    _URL: _url,
}

_URL_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):(//([^/?#]*))?([^?#]*)(\?[^#]*)?(#.*)?$")
_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp", "file"})


def normalize_url(value: str) -> str:
    """``value`` as pydantic's ``AnyUrl`` writes it back (pydantic's own parser when it is installed)."""
    try:
        from pydantic import AnyUrl
    except ImportError:
        return _normalize_url_plain(value)
    try:
        return str(AnyUrl(value))
    except ValueError:
        return value  # FastAPI would refuse to build the document; keep what the app gave


def _normalize_url_plain(value: str) -> str:
    # The common cases of the WHATWG URL rules pydantic applies: scheme and host lowercased, an empty path
    # of a special scheme becomes "/".
    m = _URL_RE.match(value.strip())
    if m is None:
        return value
    scheme, authority, host, path, query, fragment = m.groups()
    scheme = scheme.lower()
    if authority is None:
        return value
    userinfo, _, hostport = host.rpartition("@")
    hostport = hostport.lower()
    default_ports = {"http": ":80", "https": ":443", "ws": ":80", "wss": ":443", "ftp": ":21"}
    if hostport.endswith(default_ports.get(scheme, "\0")):
        hostport = hostport[: -len(default_ports[scheme])]
    if scheme in _SPECIAL_SCHEMES and not path:
        path = "/"
    host = f"{userinfo}@{hostport}" if userinfo else hostport
    return f"{scheme}://{host}{path}{query or ''}{fragment or ''}"


# -- JSON-compatible output, as pydantic's JSON-mode dump then jsonable_encoder(exclude_none=True) leave it --
_PLAIN = (str, int, float, bool)


def _jsonable(value: Any) -> Any:
    if type(value) is float and not math.isfinite(value):
        # pydantic's JSON mode writes inf and nan as null: a default of float("inf") leaves the document (its
        # key dropped as None), which stays valid JSON for /openapi.json, as FastAPI's does.
        return None
    if type(value) in _PLAIN or value is None:
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is None:
                continue
            key = k if type(k) is str else _key(k)
            if key.startswith("_sa"):
                continue  # jsonable_encoder's sqlalchemy_safe
            item = _jsonable(v)
            if item is not None:
                out[key] = item
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    for base in (bool, str, int, float):
        if isinstance(value, base):
            return _jsonable(base(value))
    return _jsonable(_to_json_data(value))


def _key(key: Any) -> str:
    data = _jsonable(key)
    if isinstance(data, bool):
        return "true" if data else "false"
    return str(data)


def _to_json_data(value: Any) -> Any:
    """An arbitrary object as pydantic's JSON mode dumps a value typed ``Any``."""
    try:
        from pydantic_core import to_jsonable_python
    except ImportError:
        pass
    else:
        return to_jsonable_python(value)
    if isinstance(value, datetime.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        from fulmen.response_model import _duration

        return _duration(value)
    if isinstance(value, (decimal.Decimal, uuid.UUID, PurePath)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode()
    if isinstance(value, re.Pattern):
        return value.pattern
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    import msgspec

    return msgspec.to_builtins(value)


def shape_document(output: dict[str, Any]) -> dict[str, Any]:
    """The document as FastAPI returns it: validated by its OpenAPI models and dumped without ``None``."""
    try:
        shaped = _validate_model(_MODELS["OpenAPI"], output, _State())
    except _Fail:
        shaped = output  # FastAPI would raise; hand back what was built rather than fail here
    result = _jsonable(shaped)
    assert isinstance(result, dict)
    return result


def shape_object(name: str, value: Any) -> Any:
    """One OpenAPI object (``"Operation"``, ``"Schema"`` ...) shaped as ``shape_document`` shapes it."""
    try:
        return _jsonable(_validate_model(_MODELS[name], value, _State()))
    except _Fail:
        return _jsonable(value)
