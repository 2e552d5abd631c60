"""The records a day's resolution works on: today's records of the kind and
the recently seen entities carried from the previous day's state, prepared
(the kind's derived columns, completeness, token hashes, MinHash band keys).

Two outputs:
- Parquet files of the whole prepared records (today's, carried), written in
  bounded batches (Polars' own sink read ahead of the slower prepare and
  grew with the day; see transforms/batches.py). Row-local, so batches do
  not change the result. Identity reads today's file back by row number for
  the canonical records;
- a DuckDB table of records holding only what blocking and comparisons read
  (keys, short strings, numbers, token hashes): wide text such as
  descriptions stays in the Parquet file. rid = row number in today's file,
  then in the carried file: stable on a re-run, no sort.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from ..batches import map_batches_to_parquet
from ..kinds import CANONICAL_SCHEMA, Kind
from ..kinds.resolution import Resolution
from ...sqltext import literal
from .identity import ENTITIES, MEMBERS
from .tokens import dropped_after_tokens, frequent_hashes, token_select_sql, tokenized


def record_columns(files: list[str]) -> list[str]:
    """The canonical columns the input files have, then listing_id (and the
    fetch time, if present)."""
    have = set(pl.scan_parquet(files).collect_schema().names())
    wanted = [c for c in CANONICAL_SCHEMA if c in have] + ["listing_id"]
    return wanted + [c for c in ("_fetched_at",) if c in have]


def resolution_columns(res: Resolution, available: list[str]) -> tuple[list[str], list[str]]:
    """(columns blocking, comparisons and rules read; columns read only to
    make token hashes). Blocking keys are SQL, so their column names are
    found as identifiers in the text (a stray match only keeps a column)."""
    words: set[str] = set()
    for key in res.blocking:
        words |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", f"{key.sql} {key.order_by or ''}"))
    for c in res.comparisons:
        if c.method != "jaccard":
            words |= {c.column, c.fallback or ""}
    words |= set(res.cannot_link)
    keep = ["source", "listing_id", "observed_date"]
    keep += [c for c in dict.fromkeys(available) if c in words and c not in keep]
    text_only = [c for c in tokenized(res) if c not in keep]
    return keep, text_only


def prepared(lf: pl.LazyFrame, res: Resolution, cols: list[str]) -> pl.LazyFrame:
    """The kind's derived columns, then `_complete`."""
    # Stages: each entry may use the ones before it; independent entries
    # of a stage run in parallel.
    done: set[str] = set()
    stage: list[pl.Expr] = []
    for name, expr in res.prepare:
        e = expr()
        if set(e.meta.root_names()) & done:
            lf, stage, done = lf.with_columns(stage), [], set()
        stage.append(e.alias(name))
        done.add(name)
    lf = lf.with_columns(stage) if stage else lf
    # Survivorship's first criterion, per record while the whole record
    # is at hand: how many of the kind's completeness fields are filled.
    filled = [pl.col(c).is_not_null().cast(pl.Int32) for c in res.completeness if c in cols]
    return lf.with_columns((pl.sum_horizontal(filled) if filled else pl.lit(0, pl.Int32)).alias("_complete"))


def write_today(files: list[str], kind: Kind, res: Resolution, cols: list[str], path: Path) -> None:
    """Today's records of the kind, prepared, to `path`."""
    map_batches_to_parquet(files, lambda lf: lf.filter(pl.col("kind") == kind.name).select(cols)
                           .pipe(prepared, res, cols), path)


def write_carried(prev: Path, day: date, res: Resolution, cols: list[str], path: Path) -> None:
    """The entities of state `prev` seen within the repost window, prepared
    (their canonical record), to `path`."""
    window = (day - timedelta(days=res.repost_window_days), day - timedelta(days=1))
    map_batches_to_parquet(
        [prev / ENTITIES],
        lambda lf: (lf.filter(pl.col("last_seen").is_between(*window))
                    .select([c for c in cols if c != "_fetched_at"] + ["entity_id"]).pipe(prepared, res, cols)),
        path)


def frequent_tokens(con: duckdb.DuckDBPyConnection, res: Resolution, today: Path,
                    carried: Path | None) -> dict[str, list[int]]:
    """Boilerplate tokens: one pass per tokenized column over today's and the
    carried records (see tokens.py)."""
    both = (f"SELECT * FROM read_parquet({literal(today)})" +
            (f" UNION ALL BY NAME SELECT * FROM read_parquet({literal(carried)})" if carried is not None else ""))
    return {col: frequent_hashes(con, both, col, share) for col, share in tokenized(res).items()}


def create_records(con: duckdb.DuckDBPyConnection, res: Resolution, table: str, cols: list[str],
                   frequent: dict[str, list[int]], today: Path, carried: Path | None,
                   prev: Path | None) -> tuple[int, int]:
    """Create table `table` of today's (file `today`) and the carried (file
    `carried`) records, with what blocking, comparisons, clustering and
    identity read; returns (today's records, carried records)."""
    tokens, slots, bands = token_select_sql(res, frequent)
    if prev is not None:
        members_sql = f"SELECT source, listing_id, entity_id FROM read_parquet({literal(prev / MEMBERS)})"
    else:
        members_sql = "SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS listing_id, NULL::VARCHAR AS entity_id LIMIT 0"
    keep, text_only = resolution_columns(res, cols + [name for name, _ in res.prepare])
    # Survivorship ranks (identity.py) travel with the record: the canonical
    # record is then picked without re-reading the wide file.
    keep += ["_complete"]
    today_rel = f"read_parquet({literal(today)}, file_row_number = true)"
    n_file = con.execute(f"SELECT count(*) FROM read_parquet({literal(today)})").fetchall()[0][0]
    base_cols = keep + text_only
    # Most recent fetch first, a missing fetch time last.
    fetched = ("coalesce(-epoch_us(t._fetched_at), 9223372036854775807)" if "_fetched_at" in cols
               else "9223372036854775807::BIGINT")
    if carried is not None:
        carried_cte = f"""
             carried AS (
                SELECT {n_file} + file_row_number AS rid, {', '.join(base_cols)}, true AS is_prior,
                       entity_id AS prior_entity, NULL::BIGINT AS _fetched_key
                FROM read_parquet({literal(carried)}, file_row_number = true)
                WHERE entity_id NOT IN (SELECT prior_entity FROM today WHERE prior_entity IS NOT NULL)),"""
        union = "UNION ALL BY NAME SELECT * FROM carried"
    else:
        carried_cte, union = "", ""
    # Text read only to make tokens, and token lists and MinHash slots read
    # only to make LSH band keys, are not kept.
    dropped = text_only + dropped_after_tokens(res)
    drop = f" EXCLUDE ({', '.join(dropped)})" if dropped else ""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        WITH today AS (
                SELECT t.file_row_number AS rid, {', '.join('t.' + c for c in base_cols)}, false AS is_prior,
                       m.entity_id AS prior_entity, {fetched} AS _fetched_key
                FROM {today_rel} t LEFT JOIN ({members_sql}) m ON m.source = t.source AND m.listing_id = t.listing_id),
             {carried_cte}
             base AS (SELECT * FROM today {union}),
             tok AS (SELECT *{', ' + tokens if tokens else ''} FROM base),
             mh AS (SELECT *{', ' + slots if slots else ''} FROM tok)
        SELECT *{drop}{', ' + bands if bands else ''} FROM mh""")
    n_today, n_carried = con.execute(
        f"SELECT count(*) FILTER (WHERE NOT is_prior), count(*) FILTER (WHERE is_prior) FROM {table}").fetchall()[0]
    return int(n_today), int(n_carried)
