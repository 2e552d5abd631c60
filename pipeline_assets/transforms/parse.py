"""Vectorized parsers from raw strings to typed canonical values.

Every parser returns (value, invalid): `invalid` is True where the raw value
was present but could not be understood, so the validator can reject the row
with the raw text in the reason instead of silently nulling it.
"""

from __future__ import annotations

import polars as pl

from .kinds.base import Field
from .kinds.common import US_STATES

# A URL a browser could open: scheme, a dotted host (or localhost), no spaces.
URL_RE = r"^https?://(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::\d+)?(?:[/?#]\S*)?$"
# ISO 3779: 17 characters, no I, O or Q.
VIN_RE = r"^[A-HJ-NPR-Z0-9]{17}$"
KM_TO_MILES = 0.621371


def clean(raw: pl.Expr) -> pl.Expr:
    """Trim, and treat empty strings as missing."""
    s = raw.cast(pl.String).str.strip_chars()
    return pl.when(s.str.len_chars() > 0).then(s)


def _number(s: pl.Expr) -> pl.Expr:
    return s.str.replace_all(r"[,\s]", "").cast(pl.Float64, strict=False)


def parse(f: Field, raw: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    s = clean(raw)
    p = f.parser
    if p == "text":
        value = s
    elif p == "int":
        num = _number(s)
        value = pl.when(num == num.round(0)).then(num).cast(pl.Int32, strict=False)
    elif p == "money":
        # "$34,995", "34995.00", "USD 80k": currency marks off, k = thousands.
        t = s.str.to_lowercase().str.replace_all(r"usd|\$|,|\s", "")
        thousands = t.str.ends_with("k")
        num = t.str.strip_suffix("k").cast(pl.Float64, strict=False)
        value = pl.when(thousands).then(num * 1000).otherwise(num)
    elif p == "distance_miles":
        # "150,000km", "82,000 mi", "45000": kilometres are converted to miles.
        t = s.str.to_lowercase().str.replace_all(r"[,\s]", "")
        parts = t.str.extract_groups(r"^(-?\d+(?:\.\d+)?)(km|kms|kilometers|kilometres|mi|mile|miles)?$")
        num = parts.struct.field("1").cast(pl.Float64, strict=False)
        is_km = parts.struct.field("2").str.starts_with("k").fill_null(False)
        value = pl.when(is_km).then(num * KM_TO_MILES).otherwise(num).round(0).cast(pl.Int64)
    elif p == "date":
        value = pl.coalesce(
            s.str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d", strict=False),
            s.str.strptime(pl.Date, "%m/%d/%Y", strict=False),
        )
    elif p == "url":
        value = pl.when(s.str.contains(URL_RE)).then(s)
    elif p == "vin":
        up = s.str.to_uppercase().str.replace_all(r"[\s-]", "")
        value = pl.when(up.str.contains(VIN_RE)).then(up)
    elif p == "state":
        up = s.str.to_uppercase()
        value = pl.when(up.is_in(US_STATES)).then(up)
    elif p == "enum":
        assert f.choices
        # An element-wise when-chain, not replace_strict: the latter runs as an
        # in-memory fallback in Polars' streaming engine and buffers the column.
        low = s.str.to_lowercase()
        value = pl.lit(None, dtype=pl.String)
        for c in reversed(f.choices):
            value = pl.when(low == c.lower()).then(pl.lit(c)).otherwise(value)
    else:  # pragma: no cover - guarded by Field.__post_init__
        raise ValueError(p)
    invalid = s.is_not_null() & value.is_null()
    return value, invalid


def describe(f: Field) -> str:
    return {
        "int": "an integer", "money": "an amount", "distance_miles": "a distance",
        "date": "a date", "url": "a valid http(s) URL", "vin": "a 17-character VIN",
        "state": "a US state code", "enum": f"one of {', '.join(f.choices or ())}",
    }.get(f.parser, "text")
