"""Map raw source records to the canonical schema and apply the kind's rules.

One lazy pass: every field is parsed and checked, and each failing check adds
a human-readable reason to `_reasons`. A row is valid when it has none. The
caller sinks the result once and splits it, so valid + rejected == raw by
construction.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from .kinds import CANONICAL_SCHEMA, LINEAGE_SCHEMA, Kind, field_dtype
from .parse import describe, parse

REASONS = "_reasons"
RAW_PREFIX = "raw:"


class MappingError(ValueError):
    """A source's field mapping names a column the collected data lacks."""


def check_mapping(source: str, fields: dict[str, str], raw_columns: list[str], origin: str) -> None:
    missing = {canon: col for canon, col in fields.items() if col not in raw_columns}
    if missing:
        pairs = ", ".join(f"{c} <- {s!r}" for c, s in sorted(missing.items()))
        raise MappingError(
            f"source {source}: mapped fields not found in {origin}: {pairs}; "
            f"columns present: {sorted(c for c in raw_columns if not c.startswith('_'))}"
        )


def validate(raw: pl.LazyFrame, *, source: str, kind: Kind, fields: dict[str, str],
             day: date) -> pl.LazyFrame:
    """Return canonical columns + lineage + `_reasons` (list of strings)."""
    day_lit = pl.lit(day, dtype=pl.Date)
    # Source columns are namespaced first: a source field called "year" or
    # "price" must stay the raw text while the typed column of that name is built.
    raw = raw.rename(lambda c: c if c in LINEAGE_SCHEMA else RAW_PREFIX + c)
    fields = {canon: RAW_PREFIX + col for canon, col in fields.items()}
    typed: list[pl.Expr] = []
    reasons: list[pl.Expr] = []
    for f in kind.fields:
        if f.name in fields:
            raw_col = pl.col(fields[f.name])
            value, invalid = parse(f, raw_col)
            reasons.append(pl.when(invalid).then(
                pl.format(f"{f.name}: '{{}}' is not {describe(f)}", raw_col.cast(pl.String))))
        else:
            value = pl.lit(None, dtype=field_dtype(f))
        typed.append(value.cast(field_dtype(f)).alias(f.name))

    lf = raw.with_columns(typed) if typed else raw
    for name, expr in kind.derived:
        lf = lf.with_columns(expr().alias(name))

    for f in kind.fields:
        c = pl.col(f.name)
        if f.required:
            reasons.append(pl.when(c.is_null() & _raw_blank(fields.get(f.name)))
                           .then(pl.lit(f"{f.name}: missing")))
        if f.max_len is not None:
            reasons.append(pl.when(c.str.len_chars() > f.max_len)
                           .then(pl.lit(f"{f.name}: longer than {f.max_len} characters")))
        if f.min is not None:
            reasons.append(pl.when(c < f.min).then(pl.format(f"{f.name}: {{}} below minimum {_num(f.min)}", c)))
        if f.max is not None:
            reasons.append(pl.when(c > f.max).then(pl.format(f"{f.name}: {{}} above maximum {_num(f.max)}", c)))
    for rule in kind.row_rules:
        reasons.append(pl.when(rule.fails(day_lit).fill_null(False)).then(rule.message()))

    lf = lf.with_columns(
        pl.concat_list(reasons).list.drop_nulls().alias(REASONS),
        pl.lit(kind.name).alias("kind"),
        pl.lit(source).alias("source"),
        day_lit.alias("observed_date"),
    )
    # Typed canonical columns; the other kinds' columns exist as nulls.
    out = [pl.col(c).cast(t) if c in kind.field_names or c in ("kind", "source", "observed_date")
           else pl.lit(None, dtype=t).alias(c) for c, t in CANONICAL_SCHEMA.items()]
    # The source's own values, kept as JSON so a rejected row can be read as
    # it arrived (valid rows drop it: the typed columns say the same).
    raw_values = pl.struct([pl.col(c).alias(c.removeprefix(RAW_PREFIX))
                            for c in dict.fromkeys(fields.values())]).struct.json_encode()
    return lf.select(*out, *[pl.col(c).cast(t) for c, t in LINEAGE_SCHEMA.items()],
                     raw_values.alias("raw_values"), pl.col(REASONS))


def _raw_blank(col: str | None) -> pl.Expr:
    # A required field that is present but unparseable already has a
    # "not a valid ..." reason; "missing" is only for empty values.
    if col is None:
        return pl.lit(True)
    return pl.col(col).cast(pl.String).str.strip_chars().fill_null("").str.len_chars() == 0


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def rejected_view(checked: pl.LazyFrame) -> pl.LazyFrame:
    """Rows with at least one reason, with the reasons as a list and as text."""
    return checked.filter(pl.col(REASONS).list.len() > 0).with_columns(
        pl.col(REASONS).list.join("; ").alias("reasons_text"),
        pl.col(REASONS).list.len().alias("reason_count"),
    ).rename({REASONS: "reasons"})


def valid_view(checked: pl.LazyFrame) -> pl.LazyFrame:
    return checked.filter(pl.col(REASONS).list.len() == 0).drop(REASONS, "raw_values")
