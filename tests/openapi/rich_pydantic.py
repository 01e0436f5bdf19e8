"""Richer models for the OpenAPI corpus (pydantic models); the three flavour modules share names."""

import datetime
import decimal
import uuid
from typing import Annotated, Literal, Optional

import pydantic

from tests.openapi.enums import Color, Level


class Address(pydantic.BaseModel):
    """A postal address."""

    model_config = pydantic.ConfigDict(populate_by_name=True)

    street: Annotated[str, pydantic.Field(min_length=1, max_length=80, description="Street and number")]
    zip_code: Annotated[str, pydantic.Field(pattern=r"^[0-9]{5}$", alias="zipCode")]
    country: str = "DE"


class Customer(pydantic.BaseModel):
    name: Annotated[str, pydantic.Field(max_length=50, title="Full name", examples=["Ada"])]
    age: Annotated[int, pydantic.Field(ge=0, lt=150)]
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


class Tree(pydantic.BaseModel):
    value: int
    children: list["Tree"] = []


class Closed(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    key: str
    weight: Annotated[float, pydantic.Field(gt=0, multiple_of=0.5)] = 1.0


class Credentials(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    username: str
    password: str
    remember: bool = False


class Profile(pydantic.BaseModel):
    name: str
    age: int = 18
    nick: Optional[str] = None
