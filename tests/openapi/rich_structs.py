"""Richer models for the OpenAPI corpus (msgspec Structs); the three flavour modules share names."""

import datetime
import decimal
import sys
import uuid
from typing import Annotated, Literal, Optional

import msgspec

from tests.openapi.enums import Color, Level


class Address(msgspec.Struct):
    """A postal address."""

    street: Annotated[str, msgspec.Meta(min_length=1, max_length=80, description="Street and number")]
    zip_code: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{5}$")] = msgspec.field(name="zipCode")
    country: str = "DE"


class Customer(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(max_length=50, title="Full name", examples=["Ada"])]
    age: Annotated[int, msgspec.Meta(ge=0, lt=150)]
    color: Color = Color.red
    level: Level = Level.low
    balance: decimal.Decimal = decimal.Decimal("0")
    created: Optional[datetime.datetime] = None
    tags: set[str] = set()
    addresses: list[Address] = []
    scores: dict[str, float] = {}
    pair: tuple[int, str] = (1, "a")
    ident: Optional[uuid.UUID] = None
    kind: Literal["person", "company"] = "person"


class Tree(msgspec.Struct):
    value: int
    # Python 3.10's typing (and msgspec there) leave a string inside list[...] unresolved: docs/validation.md.
    children: list["Tree"] if sys.version_info >= (3, 11) else "list[Tree]" = []  # type: ignore[valid-type]


class Closed(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    weight: Annotated[float, msgspec.Meta(gt=0, multiple_of=0.5)] = 1.0


class Credentials(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str
    remember: bool = False


class Profile(msgspec.Struct):
    name: str
    age: int = 18
    nick: Optional[str] = None
