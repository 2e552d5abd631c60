"""The vocabulary a listing kind is declared in.

A kind is data, not code paths: its fields (with parser and rules), the
fields that identify a real-world listing, the fields that define "the same
content", the market key used for price position and the weights of its
quality score. The validator, deduper and enricher are generic over it, so a
new kind is one new module in this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import polars as pl

from .resolution import Resolution

# Parsers understood by transforms.parse. Each turns the raw string column
# into a typed one; a non-empty raw value that fails to parse is a rejection.
PARSERS = ("text", "int", "money", "distance_miles", "date", "url", "vin", "state", "enum")


@dataclass(frozen=True)
class Field:
    name: str
    parser: str = "text"
    required: bool = False
    max_len: int | None = None
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    # Weight of this field in the completeness-based quality score (0 = ignored).
    quality_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.parser not in PARSERS:
            raise ValueError(f"field {self.name}: unknown parser {self.parser!r}")
        if self.parser == "enum" and not self.choices:
            raise ValueError(f"field {self.name}: enum parser needs choices")


# A cross-field rule: (reason label, function(partition_date) -> boolean
# expression that is True when the row FAILS the rule, message expression).
@dataclass(frozen=True)
class RowRule:
    name: str
    fails: Callable[[pl.Expr], pl.Expr]
    message: Callable[[], pl.Expr]


@dataclass(frozen=True)
class Kind:
    name: str
    fields: tuple[Field, ...]
    # Identity: the first key whose columns are all non-null gives the
    # listing_id. "source" is implied for keys that are only unique per source.
    identity_keys: tuple[tuple[str, ...], ...]
    # Columns that define "the same content" for exact-duplicate detection.
    content_fields: tuple[str, ...]
    # Columns that define a market segment and the value compared within it.
    market_keys: tuple[str, ...]
    market_value: str
    row_rules: tuple[RowRule, ...] = ()
    # Expressions that fill derived columns after parsing (e.g. a title).
    derived: tuple[tuple[str, Callable[[], pl.Expr]], ...] = field(default=())
    # Entity resolution: blocking keys, comparisons, thresholds (resolution.py).
    resolution: Resolution | None = None

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)
