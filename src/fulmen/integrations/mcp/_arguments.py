"""String arguments of resource and prompt functions: read from the signature once, converted per call.

Template variables and prompt arguments arrive as strings (MCP sends prompt arguments as a string map), so a
parameter is converted by its annotation as a route's path or query parameter is, with the same validators
and the same error items, and only scalar annotations (str, int, float, bool, UUID, Enum, Literal ...) fit.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

from fulmen._concurrency import run_in_threadpool
from fulmen._typing import function_type_hints, is_class
from fulmen.encoders import jsonable_encoder
from fulmen.params import Depends, Param
from fulmen.requests import Request
from fulmen.validation import ValidationFailure, compile_validator


class Argument:
    """One string argument of a function: its name, whether it is required, and how it is converted."""

    __slots__ = ("choices", "default", "description", "name", "required", "title", "validate")

    def __init__(
        self,
        name: str,
        required: bool,
        default: Any,
        validate: Callable[[Any], Any],
        title: str | None,
        description: str | None,
        choices: tuple[str, ...] | None = None,
    ) -> None:
        self.name = name
        self.required = required
        self.default = default
        self.validate = validate
        self.title = title
        self.description = description
        #: Every value the annotation allows, as text (an Enum, a Literal, bool), for completion/complete.
        self.choices = choices


class InvalidArguments(Exception):
    """Arguments that don't convert: FastAPI-shaped error items (``loc`` starts with ``where``)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    def summary(self) -> str:
        """The errors in one line: "'user_id': Input should be a valid integer ..."."""
        # loc is [where, argument, *inside]: a union's member ("int", "uuid") follows the argument's name.
        return "; ".join(f"{e['loc'][1]!r}: {e['msg']}" for e in self.errors)


class BoundFunction:
    """A resource or prompt function: its string arguments, prepared once, and how to call it."""

    __slots__ = ("arguments", "func", "is_async", "request_parameter")

    def __init__(self, func: Callable[..., Any], what: str) -> None:
        """Read ``func``'s signature; ``what`` names it in errors ("MCP prompt 'greet' (function greet)").

        Raises ``TypeError`` for a parameter that can't be a string argument (``*args``, a model, a list,
        ``Depends``), naming the function and the parameter.
        """
        try:
            hints = function_type_hints(func)
        except Exception as exc:
            raise TypeError(f"{what}: can't resolve its annotations ({exc})") from exc
        from fulmen.plan import _is_scalar  # the rule routes use for path parameters

        self.func = func
        self.is_async = inspect.iscoroutinefunction(func)
        self.request_parameter: str | None = None
        self.arguments: dict[str, Argument] = {}
        for parameter in inspect.signature(func).parameters.values():
            name = parameter.name
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise TypeError(f"{what}: *args and **kwargs can't be arguments")
            if parameter.kind is parameter.POSITIONAL_ONLY:
                raise TypeError(
                    f"{what}: parameter {name!r} is positional-only; arguments are passed by name"
                )
            annotation = hints.get(name, Any)
            if is_class(annotation) and issubclass(annotation, Request):
                self.request_parameter = name  # the MCP request, given by the server
                continue
            default = parameter.default
            metadata = get_args(annotation)[1:] if get_origin(annotation) is Annotated else ()
            if isinstance(default, (Param, Depends)) or any(isinstance(m, Depends) for m in metadata):
                raise TypeError(
                    f"{what}: parameter {name!r} has a {type(default).__name__}() default; only "
                    "Annotated[type, ...] constraints are supported here (no Depends, Query ...)"
                )
            if not _is_scalar(annotation):
                raise TypeError(
                    f"{what}: parameter {name!r} is {annotation!r}, which a string can't carry; use str, "
                    "int, float, bool, UUID, an Enum, a Literal or a date/time type"
                )
            try:
                validate = compile_validator(annotation)
            except TypeError as exc:
                raise TypeError(f"{what}: parameter {name!r}: {exc}") from exc
            self.arguments[name] = Argument(
                name,
                default is parameter.empty,
                None if default is parameter.empty else default,
                validate,
                _text_of(metadata, "title"),
                _text_of(metadata, "description"),
                choices_of(annotation),
            )

    def convert(self, given: Mapping[str, Any], where: str) -> dict[str, Any]:
        """The keyword arguments for ``given`` (converted; defaults for the rest); ``InvalidArguments``
        when a value doesn't convert or a required one is missing (locations start with ``where``)."""
        values: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for name, argument in self.arguments.items():
            raw = given.get(name)
            if raw is None:
                if argument.required:
                    errors.append(
                        {"type": "missing", "loc": [where, name], "msg": "Field required", "input": None}
                    )
                else:
                    values[name] = argument.default
                continue
            try:
                values[name] = argument.validate(raw)
            except ValidationFailure as exc:
                for error in exc.errors:
                    errors.append({**error, "loc": [where, name, *error["loc"]]})
        if errors:
            raise InvalidArguments(jsonable_encoder(errors))
        return values

    async def call(self, values: dict[str, Any], request: Request) -> Any:
        """Run the function: ``async def`` on the loop, ``def`` in the thread pool (as routes)."""
        if self.request_parameter is not None:
            values[self.request_parameter] = request
        if self.is_async:
            return await self.func(**values)
        return await run_in_threadpool(self.func, **values)


def choices_of(annotation: Any) -> tuple[str, ...] | None:
    """The values an Enum, Literal or bool annotation allows, as a client would type them; else None."""
    from fulmen.plan import _core_type  # without Annotated and "| None"

    core = _core_type(annotation)
    if core is bool:
        return ("true", "false")
    if is_class(core) and issubclass(core, enum.Enum):
        return tuple(str(member.value) for member in core)
    if get_origin(core) is Literal:
        return tuple(_literal_text(value) for value in get_args(core))
    return None


def _literal_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _text_of(metadata: tuple[Any, ...], attribute: str) -> str | None:
    """A ``title``/``description`` given in ``Annotated`` (``Path(description=...)``, pydantic ``Field``)."""
    for item in metadata:
        value = getattr(item, attribute, None)
        if isinstance(value, str) and value:
            return value
    return None
