"""Parameter markers: ``Path``, ``Query``, ``Header``, ``Cookie``, ``Body``, ``Form``, ``File``, ``Depends``.

Same names, arguments and defaults as FastAPI's. A marker only records what the user declared; ``plan.py``
turns it into a validator once, when the route is registered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import weakref
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, Literal

from fulmen._typing import is_class


class _UndefinedType:
    """The 'no default given' sentinel (FastAPI's ``Undefined``)."""

    __slots__ = ()
    _instance: _UndefinedType | None = None

    def __new__(cls) -> _UndefinedType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "PydanticUndefined"

    def __bool__(self) -> bool:
        return False

    def __copy__(self) -> _UndefinedType:
        return self

    def __deepcopy__(self, memo: Any) -> _UndefinedType:
        return self


Undefined: Any = _UndefinedType()


class _UnsetType:
    """'Not passed', for marker settings a pydantic ``Field()`` in ``Annotated`` may fill in (FastAPI's)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "None"

    def __bool__(self) -> bool:
        return False


_Unset: Any = _UnsetType()
#: Marker settings that, when not passed, come from a pydantic ``Field()`` in the same ``Annotated``.
FIELD_INFO_SETTINGS = (
    "alias",
    "validation_alias",
    "serialization_alias",
    "title",
    "description",
    "examples",
    "deprecated",
    "json_schema_extra",
    "discriminator",
)


def _deprecated(message: str) -> None:
    import sys
    import warnings

    from fulmen.exceptions import FastAPIDeprecationWarning

    # Point at the user's Query(...)/Header(...) call, past however many marker __init__s it went through.
    level = 2
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
        level += 1
    warnings.warn(message, FastAPIDeprecationWarning, stacklevel=level)


class ParamTypes(Enum):
    """Where a parameter comes from."""

    query = "query"
    header = "header"
    path = "path"
    cookie = "cookie"


class Param:
    """Common fields of every request-parameter marker (validation constraints and schema metadata)."""

    in_: ParamTypes | None = None

    def __init__(
        self,
        default: Any = Undefined,
        *,
        default_factory: Callable[[], Any] | None = None,
        annotation: Any | None = None,
        alias: str | None = _Unset,
        alias_priority: int | None = None,
        validation_alias: str | None = _Unset,
        serialization_alias: str | None = _Unset,
        title: str | None = _Unset,
        description: str | None = _Unset,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        regex: str | None = None,
        discriminator: str | None = _Unset,
        strict: bool | None = None,
        validate_default: bool | None = None,
        union_mode: Literal["smart", "left_to_right"] | None = None,
        fail_fast: bool | None = None,
        multiple_of: float | None = None,
        allow_inf_nan: bool | None = None,
        max_digits: int | None = None,
        decimal_places: int | None = None,
        examples: list[Any] | None = _Unset,
        example: Any = Undefined,
        openapi_examples: dict[str, Any] | None = None,
        deprecated: bool | str | None = _Unset,
        include_in_schema: bool = True,
        json_schema_extra: dict[str, Any] | None = _Unset,
        **extra: Any,
    ) -> None:
        passed = {
            "alias": alias,
            "validation_alias": validation_alias,
            "serialization_alias": serialization_alias,
            "title": title,
            "description": description,
            "examples": examples,
            "deprecated": deprecated,
            "json_schema_extra": json_schema_extra,
            "discriminator": discriminator,
        }
        #: The settings given here, even as None (they then override a pydantic ``Field()`` in ``Annotated``).
        self.explicit_settings = frozenset(k for k, v in passed.items() if v is not _Unset)
        if "alias" in self.explicit_settings:  # the alias is the validation alias too (FastAPI)
            self.explicit_settings |= {"validation_alias", "serialization_alias"}
        alias = None if alias is _Unset else alias
        validation_alias = None if validation_alias is _Unset else validation_alias
        serialization_alias = None if serialization_alias is _Unset else serialization_alias
        title = None if title is _Unset else title
        description = None if description is _Unset else description
        examples = None if examples is _Unset else examples
        deprecated = None if deprecated is _Unset else deprecated
        json_schema_extra = None if json_schema_extra is _Unset else json_schema_extra
        discriminator = None if discriminator is _Unset else discriminator
        if default is not Undefined and default_factory is not None:
            raise TypeError("cannot specify both default and default_factory")
        # FastAPI's deprecations, same words and category, so code moving over sees the same warnings.
        if example is not Undefined:
            _deprecated("`example` has been deprecated, please use `examples` instead")
        if regex is not None:
            _deprecated("`regex` has been deprecated, please use `pattern` instead")
        self.default = default
        self.default_factory = default_factory
        self.annotation = annotation
        self.alias = alias
        self.alias_priority = alias_priority
        self.validation_alias = validation_alias
        self.serialization_alias = serialization_alias
        self.title = title
        self.description = description
        self.gt = gt
        self.ge = ge
        self.lt = lt
        self.le = le
        self.min_length = min_length
        self.max_length = max_length
        self.pattern = pattern if pattern is not None else regex
        self.discriminator = discriminator
        self.strict = strict
        #: Accepted as in FastAPI (pydantic field settings); fulmen's validators don't use them.
        self.validate_default = validate_default
        self.union_mode = union_mode
        self.fail_fast = fail_fast
        self.multiple_of = multiple_of
        self.allow_inf_nan = allow_inf_nan
        self.max_digits = max_digits
        self.decimal_places = decimal_places
        self.examples = examples
        self.example = example
        self.openapi_examples = openapi_examples
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.json_schema_extra = json_schema_extra
        self.extra = extra

    @property
    def required(self) -> bool:
        """True when neither a default nor a default factory was given (``...`` also means required)."""
        return self.default_factory is None and (self.default is Undefined or self.default is Ellipsis)

    def __repr__(self) -> str:
        # FastAPI's form: the default's str(), and "..." shown as the pydantic 'undefined' it stands for.
        default = Undefined if self.default is Ellipsis else self.default
        return f"{type(self).__name__}({default})"


class Path(Param):
    """A path parameter (``/items/{item_id}``); always required."""

    in_ = ParamTypes.path

    def __init__(self, default: Any = ..., **kwargs: Any) -> None:
        if default is not ...:
            raise AssertionError("Path parameters cannot have a default value")
        super().__init__(default, **kwargs)


class Query(Param):
    """A query-string parameter."""

    in_ = ParamTypes.query


class Header(Param):
    """A request header; ``convert_underscores`` maps ``user_agent`` to ``user-agent``."""

    in_ = ParamTypes.header

    def __init__(self, default: Any = Undefined, *, convert_underscores: bool = True, **kwargs: Any) -> None:
        super().__init__(default, **kwargs)
        self.convert_underscores = convert_underscores


class Cookie(Param):
    """A cookie value."""

    in_ = ParamTypes.cookie


class Body(Param):
    """A (part of the) JSON request body; ``embed=True`` expects ``{"name": value}``."""

    def __init__(
        self,
        default: Any = Undefined,
        *,
        embed: bool | None = None,
        media_type: str = "application/json",
        **kw: Any,
    ) -> None:
        super().__init__(default, **kw)
        self.embed = embed
        self.media_type = media_type


class Form(Body):
    """A form field (``application/x-www-form-urlencoded`` or multipart)."""

    def __init__(
        self, default: Any = Undefined, *, media_type: str = "application/x-www-form-urlencoded", **kw: Any
    ):
        super().__init__(default, embed=True, media_type=media_type, **kw)


class File(Form):
    """An uploaded file in a multipart form."""

    def __init__(
        self, default: Any = Undefined, *, media_type: str = "multipart/form-data", **kw: Any
    ) -> None:
        super().__init__(default, media_type=media_type, **kw)


class ConcurrencyLimit:
    """The slots of one ``Depends(max_concurrency=n)`` declaration: one semaphore per event loop.

    Shared by every route, router and app that uses the same declaration object (and kept by
    ``dataclasses.replace`` copies with the same limit), as in FastAPI.
    """

    __slots__ = ("__weakref__", "limit", "semaphores")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # A semaphore belongs to the loop that first waits on it; an app may be served by several loops.
        self.semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> asyncio.Semaphore:
        """The running loop's semaphore for this declaration."""
        loop = asyncio.get_running_loop()
        sem = self.semaphores.get(loop)
        if sem is None:
            sem = self.semaphores[loop] = asyncio.Semaphore(self.limit)
        return sem


@dataclasses.dataclass(frozen=True, repr=False)
class Depends:
    """Declare a dependency: ``dependency`` is called per request and its result injected.

    ``scope="function"`` ends a ``yield`` dependency right after the handler returns; the default
    (``"request"``) ends it after the response has been sent, as in FastAPI. A frozen dataclass, as
    FastAPI's: equal declarations hash alike and ``dataclasses.replace`` copies one.
    """

    dependency: Callable[..., Any] | None = None
    use_cache: bool = dataclasses.field(default=True, kw_only=True)
    scope: Literal["function", "request"] | None = dataclasses.field(default=None, kw_only=True)
    #: At most this many calls of this dependency run at once (a ``yield`` one counts until it ends).
    max_concurrency: int | None = dataclasses.field(default=None, kw_only=True)
    #: The declaration's own slots: two declarations with the same arguments don't share a limit.
    _limit: ConcurrencyLimit | None = dataclasses.field(default=None, kw_only=True)

    def __new__(cls, *args: Any, **kwargs: Any) -> Depends:
        # Once the program has imported FastAPI, a Depends() is also FastAPI's: user dependencies handed to a
        # library that builds a fastapi.APIRouter (fastapi-users' get_user_manager) are analysed by FastAPI.
        if (cls is Depends or cls is Security) and "fastapi.params" in sys.modules:
            twin = _fastapi_twin(cls)
            if twin is not None:
                return object.__new__(twin)
        return object.__new__(cls)

    def __post_init__(self) -> None:
        if self.scope not in (None, "function", "request"):
            raise ValueError(f"Depends(scope=...) must be 'function' or 'request', got {self.scope!r}")
        limit = self.max_concurrency
        if limit is None:
            object.__setattr__(self, "_limit", None)
            return
        if type(limit) is not int or limit < 1:
            raise ValueError("max_concurrency must be a positive integer or None")
        # A copy (dataclasses.replace) keeps the original's slots unless it changed the limit.
        if self._limit is None or self._limit.limit != limit:
            object.__setattr__(self, "_limit", ConcurrencyLimit(limit))

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__name__", type(self.dependency).__name__)
        cache = "" if self.use_cache else ", use_cache=False"
        return f"{type(self).__name__}({name}{cache})"


@dataclasses.dataclass(frozen=True, repr=False)
class Security(Depends):
    """A dependency that also declares OAuth2 scopes (for security schemes and ``SecurityScopes``)."""

    scopes: Sequence[str] | None = dataclasses.field(default=None, kw_only=True)


#: fulmen's Depends/Security -> the subclass that is also FastAPI's class of the same name (see ``__new__``).
_twins: dict[type, type | None] = {}


def _fastapi_twin(cls: type[Depends]) -> type | None:
    """A frozen dataclass deriving from ``cls`` and from FastAPI's class of the same name (made once).

    FastAPI recognises its markers with ``isinstance``; the twin is fulmen's marker first (fulmen's fields,
    ``__post_init__`` and repr win) and runs FastAPI's ``__post_init__`` too, so both see a valid declaration.
    """
    if cls in _twins:
        return _twins[cls]
    theirs = getattr(sys.modules["fastapi.params"], cls.__name__, None)
    # ``fastapi`` may be fulmen itself (a program that aliases the module for its libraries): no twin then.
    if not (is_class(theirs) and dataclasses.is_dataclass(theirs)) or issubclass(cls, theirs):
        _twins[cls] = None
        return None
    their_post_init = getattr(theirs, "__post_init__", None)

    def __post_init__(self: Any) -> None:
        cls.__post_init__(self)
        if their_post_init is not None:
            their_post_init(self)

    namespace = {
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__post_init__": __post_init__,
    }
    twin: type = dataclasses.dataclass(frozen=True, repr=False)(type(cls.__name__, (cls, theirs), namespace))
    _twins[cls] = twin
    return twin
