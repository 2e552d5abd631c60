"""Registry of listing kinds and the canonical (union) listing schema.

Every stage writes the same columns whatever the kind, with the other kinds'
columns null. That keeps one hive dataset per asset that DuckDB and Postgres
can read without per-kind unions.
"""

from __future__ import annotations

import polars as pl

from ...raw.records import META_ARROW
from .base import Field, Kind, RowRule
from .job_postings import JOBS
from .vehicles import VEHICLES

KINDS: dict[str, Kind] = {k.name: k for k in (VEHICLES, JOBS)}

_DTYPES = {
    "text": pl.String, "url": pl.String, "vin": pl.String, "state": pl.String,
    "enum": pl.String, "int": pl.Int32, "money": pl.Float64,
    "distance_miles": pl.Int64, "date": pl.Date,
}


def get_kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown listing kind {name!r}; declared kinds: {sorted(KINDS)}") from None


def field_dtype(f: Field) -> pl.DataType:
    return _DTYPES[f.parser]


def _canonical_fields() -> dict[str, pl.DataType]:
    cols: dict[str, pl.DataType] = {}
    for kind in KINDS.values():
        for f in kind.fields:
            dtype = field_dtype(f)
            if cols.setdefault(f.name, dtype) != dtype:
                raise TypeError(f"field {f.name} has different types across kinds")
    return cols


# Collection metadata carried from raw_listings through every stage
# (pipeline_assets.raw.records.META_COLUMNS), as Polars types.
LINEAGE_SCHEMA: dict[str, pl.DataType] = dict(pl.from_arrow(META_ARROW.empty_table()).schema)

CANONICAL_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String,
    "source": pl.String,
    "observed_date": pl.Date,
    **_canonical_fields(),
}

__all__ = ["CANONICAL_SCHEMA", "Field", "KINDS", "Kind", "LINEAGE_SCHEMA", "RowRule",
           "field_dtype", "get_kind"]
