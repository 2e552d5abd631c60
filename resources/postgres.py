"""Postgres: idempotent DDL and transactional partition loads with COPY.

A partition load is one transaction:
  1. CREATE an UNLOGGED table in `staging` shaped like the target;
  2. COPY the Parquet rows into it, streamed in Arrow batches as CSV;
  3. DELETE the partition's rows from the target and INSERT the staged ones;
  4. DROP the staging table, COMMIT.
Any failure rolls everything back, so the previous rows stay exactly as they
were, and a re-run replaces instead of duplicating.
"""

from __future__ import annotations

import io
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable

import polars as pl
import psycopg
import pyarrow.parquet as pq
from dagster import ConfigurableResource
from psycopg import sql
from pydantic import Field

COPY_BATCH_ROWS = 100_000


class LoadResult(dict):
    """rows, seconds, table, deleted."""


def _pg_array(col: str) -> pl.Expr:
    # text[] literal for COPY CSV: {"a","b"} with quotes and backslashes escaped.
    quoted = pl.col(col).list.eval(
        pl.concat_str([pl.lit('"'), pl.element().str.replace_all("\\\\", "\\\\\\\\").str.replace_all('"', '\\"'), pl.lit('"')]))
    return pl.concat_str([pl.lit("{"), quoted.list.join(","), pl.lit("}")]).alias(col)


class PostgresResource(ConfigurableResource):
    """The warehouse: `database_url`, else the DATABASE_URL environment variable,
    else an embedded server under `embedded_pgdata`, started on first use
    (never when the code is imported)."""

    database_url: str | None = Field(default=None, description=(
        "postgresql:// URL. Unset: the DATABASE_URL environment variable at run time, else the embedded server."))
    ddl_dir: str = Field(default="sql", description="Directory of idempotent DDL files applied in name order.")
    embedded_pgdata: str = Field(default="data/pg", description=(
        "Data directory of the embedded PostgreSQL used when no URL is configured."))

    @property
    def url(self) -> str:
        if self.database_url:
            return self.database_url
        from .embedded_postgres import ensure_env

        return ensure_env(Path(self.embedded_pgdata), dagster_storage=False)

    def connect(self, **kw) -> psycopg.Connection:
        return psycopg.connect(self.url, **kw)

    def apply_ddl(self) -> list[str]:
        files = sorted(Path(self.ddl_dir).glob("*.sql"))
        with self.connect() as conn, conn.transaction():
            # Serialise concurrent runs that start at the same time.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('listings-ddl'))")
            for f in files:
                conn.execute(f.read_text())
        return [f.name for f in files]

    def table_columns(self, conn: psycopg.Connection, schema: str, table: str) -> list[str]:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position", (schema, table)).fetchall()
        if not rows:
            raise LookupError(f"table {schema}.{table} does not exist (DDL not applied?)")
        return [r[0] for r in rows]

    def replace_partition(self, schema: str, table: str, parquet_files: Iterable[str | Path],
                          partition: dict[str, object], *, merge_on: list[str] | None = None,
                          before_commit: Callable[[psycopg.Connection], None] | None = None,
                          where: sql.Composable | None = None) -> LoadResult:
        """Replace the rows matching `partition` (column -> value) with the files' rows.
        With `merge_on`, replace the rows whose key columns match a new row instead; with `where`
        (a condition on the target), replace the rows it selects (`partition` then only labels the load)."""
        started = time.perf_counter()
        files = [str(f) for f in parquet_files]
        target = sql.Identifier(schema, table)
        with self.connect() as conn:
            with conn.transaction():
                cols = self.table_columns(conn, schema, table)
                stage_name = f"{table}_{uuid.uuid4().hex[:12]}"
                stage = sql.Identifier("staging", stage_name)
                conn.execute(sql.SQL("CREATE UNLOGGED TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(stage, target))
                rows = 0
                copy_stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, NULL '')").format(
                    stage, sql.SQL(", ").join(map(sql.Identifier, cols)))
                with conn.cursor() as cur, cur.copy(copy_stmt) as copy:
                    for f in files:
                        for chunk in _csv_chunks(f, cols):
                            copy.write(chunk)
                rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(stage)).fetchone()[0]
                copied = time.perf_counter()
                if merge_on:
                    # Keyed replace: rows whose key is in the new data are replaced
                    # (a current-state table, where a row moves between days).
                    match = sql.SQL(" AND ").join(
                        sql.SQL("t.{k} = s.{k}").format(k=sql.Identifier(k)) for k in merge_on)
                    deleted = conn.execute(sql.SQL("DELETE FROM {} t USING {} s WHERE {}").format(
                        target, stage, match)).rowcount
                elif where is not None:
                    deleted = conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(target, where)).rowcount
                else:
                    where = sql.SQL(" AND ").join(
                        sql.SQL("{} = %s").format(sql.Identifier(k)) for k in partition)
                    deleted = conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(target, where),
                                           list(partition.values())).rowcount
                conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(target, stage))
                conn.execute(sql.SQL("DROP TABLE {}").format(stage))
                conn.execute(
                    "INSERT INTO pipeline.loads (target_table, partition_key, rows_loaded, rows_replaced, seconds) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    (f"{schema}.{table}", ",".join(f"{k}={v}" for k, v in partition.items()), rows, deleted,
                     round(time.perf_counter() - started, 3)))
                if before_commit is not None:
                    before_commit(conn)
        done = time.perf_counter()
        return LoadResult(rows=rows, deleted=deleted, table=f"{schema}.{table}",
                          seconds=round(done - started, 3), copy_seconds=round(copied - started, 3),
                          swap_seconds=round(done - copied, 3))

    def execute(self, statement: sql.Composable | str, params: tuple | dict | None = None) -> None:
        with self.connect() as conn, conn.transaction():
            conn.execute(statement, params)


def _csv_chunks(path: str, cols: list[str]) -> Iterable[bytes]:
    pf = pq.ParquetFile(path)
    names = set(pf.schema_arrow.names)
    missing = [c for c in cols if c not in names]
    if missing:
        raise ValueError(f"{path}: columns required by the target table are missing: {missing}")
    for batch in pf.iter_batches(batch_size=COPY_BATCH_ROWS, columns=cols):
        df = pl.from_arrow(batch)
        lists = [c for c, t in df.schema.items() if isinstance(t, pl.List)]
        if lists:
            df = df.with_columns(_pg_array(c) for c in lists)
        buf = io.BytesIO()
        df.write_csv(buf, include_header=False, null_value="", quote_style="non_numeric")
        yield buf.getvalue()
