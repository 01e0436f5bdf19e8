"""Enums shared by the OpenAPI corpus modules."""

import enum


class Color(str, enum.Enum):
    red = "red"
    green = "green"


class Level(enum.IntEnum):
    low = 1
    high = 2
