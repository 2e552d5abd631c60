"""Metadata every lake asset emits: row count, column schema, a preview, its path."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from dagster import MetadataValue, TableColumn, TableSchema

PREVIEW_ROWS = 10
# Definition metadata of an asset that also writes other lake datasets
# (names, laid out like the asset itself); `listings query` gives each a view.
LAKE_ALSO_WRITES = "listings/lake_also_writes"


def parquet_rows(path: str | Path) -> int:
    return pq.ParquetFile(str(path)).metadata.num_rows


def column_schema(schema: pl.Schema | dict) -> TableSchema:
    return TableSchema(columns=[TableColumn(name=n, type=str(t)) for n, t in schema.items()])


def markdown_table(df: pl.DataFrame, max_chars: int = 40) -> str:
    if df.is_empty():
        return "_no rows_"
    def cell(v: object) -> str:
        s = "" if v is None else (", ".join(map(str, v)) if isinstance(v, list) else str(v))
        s = s.replace("|", "\\|").replace("\n", " ")
        return s if len(s) <= max_chars else s[: max_chars - 1] + "…"
    head = "| " + " | ".join(df.columns) + " |"
    sep = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.iter_rows()]
    return "\n".join([head, sep, *body])


def lake_metadata(local_file: str | Path, uri: str, preview_columns: list[str] | None = None) -> dict:
    lf = pl.scan_parquet(str(local_file))
    schema = lf.collect_schema()
    cols = [c for c in (preview_columns or schema.names()) if c in schema]
    preview = lf.select(cols).head(PREVIEW_ROWS).collect()
    return {
        "dagster/row_count": parquet_rows(local_file),
        "dagster/column_schema": column_schema(schema),
        "preview": MetadataValue.md(markdown_table(preview)),
        "lake_path": MetadataValue.path(uri),
    }
