"""The Postgres shape of an upload (core.contacts): one row per accepted CSV row,
with the first column of each contact type mapped to a fixed column, and the
whole row (original and normalized) kept as JSON so no column is lost."""

from __future__ import annotations

import polars as pl

from .detect import Detection
from .types import ColumnType

CONTACT_COLUMNS = ["upload_key", "_row", "source_file", "full_name", "first_name", "last_name", "email", "phone",
                   "phone_region", "address", "city", "state", "postal_code", "valid", "invalid_columns", "raw",
                   "normalized"]


def _first(dets: list[Detection], ctype: ColumnType) -> str | None:
    return next((d.column for d in dets if d.type == ctype), None)


def contacts_frame(lf: pl.LazyFrame, detections: list[Detection], upload_key: str, file_name: str) -> pl.LazyFrame:
    names = [d.column for d in detections if d.type == ColumnType.PERSON_NAME]
    email, phone = _first(detections, ColumnType.EMAIL), _first(detections, ColumnType.PHONE)
    addr, postal = _first(detections, ColumnType.ADDRESS), _first(detections, ColumnType.POSTAL_CODE)
    none = pl.lit(None, dtype=pl.String)
    # "First Name" + "Last Name" columns: the full name is both, the parts come
    # from the first and the last name column.
    full = (pl.concat_str([pl.col(f"{n}__norm") for n in names], separator=" ", ignore_nulls=True)
            if names else none)
    first = pl.col(f"{names[0]}__first") if names else none
    last = (pl.coalesce(pl.col(f"{names[-1]}__last"), pl.col(f"{names[-1]}__first")) if len(names) > 1
            else pl.col(f"{names[0]}__last") if names else none)
    postal_e = (pl.col(f"{postal}__norm") if postal else
                pl.col(f"{addr}__postal_code") if addr else none)
    return lf.select(
        pl.lit(upload_key).alias("upload_key"),
        pl.col("_row"),
        pl.lit(file_name).alias("source_file"),
        pl.when(full.str.len_chars() > 0).then(full).alias("full_name"),
        first.alias("first_name"),
        last.alias("last_name"),
        (pl.col(f"{email}__norm") if email else none).alias("email"),
        (pl.col(f"{phone}__norm") if phone else none).alias("phone"),
        (pl.col(f"{phone}__region") if phone else none).alias("phone_region"),
        (pl.col(f"{addr}__norm") if addr else none).alias("address"),
        (pl.col(f"{addr}__city") if addr else none).alias("city"),
        (pl.col(f"{addr}__state") if addr else none).alias("state"),
        postal_e.alias("postal_code"),
        (pl.col("_invalid_columns") == "").alias("valid"),
        pl.when(pl.col("_invalid_columns") == "").then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(pl.col("_invalid_columns").str.split(",")).alias("invalid_columns"),
        pl.struct([pl.col(d.column).alias(d.header) for d in detections]).struct.json_encode().alias("raw"),
        pl.struct([pl.col(f"{d.column}__norm").alias(d.column) for d in detections]).struct.json_encode()
        .alias("normalized"),
    )
