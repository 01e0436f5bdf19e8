"""Richer models for the OpenAPI corpus (dataclasses); the three flavour modules share names."""

import dataclasses
import datetime
import decimal
import sys
import uuid
from typing import Literal, Optional

from tests.openapi.enums import Color, Level


@dataclasses.dataclass
class Address:
    """A postal address."""

    street: str
    zip_code: str
    country: str = "DE"


@dataclasses.dataclass
class Customer:
    name: str
    age: int
    color: Color = Color.red
    level: Level = Level.low
    balance: decimal.Decimal = decimal.Decimal("0")
    created: Optional[datetime.datetime] = None
    tags: set[str] = dataclasses.field(default_factory=set)
    addresses: list[Address] = dataclasses.field(default_factory=list)
    scores: dict[str, float] = dataclasses.field(default_factory=dict)
    pair: tuple[int, str] = (1, "a")
    ident: Optional[uuid.UUID] = None
    kind: Literal["person", "company"] = "person"


@dataclasses.dataclass
class Tree:
    value: int
    # Python 3.10's typing leaves a string inside list[...] unresolved: docs/validation.md.
    children: list["Tree"] if sys.version_info >= (3, 11) else "list[Tree]" = dataclasses.field(  # type: ignore[valid-type]
        default_factory=list
    )


@dataclasses.dataclass
class Closed:
    key: str
    weight: float = 1.0


@dataclasses.dataclass
class Credentials:
    __pydantic_config__ = {"extra": "forbid"}

    username: str
    password: str
    remember: bool = False


@dataclasses.dataclass
class Profile:
    name: str
    age: int = 18
    nick: Optional[str] = None
