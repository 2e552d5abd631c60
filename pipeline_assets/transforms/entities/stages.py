"""The stages of one day's resolution, each a function of the run and of the
tables (DuckDB temp tables, or Parquet files for what is read once in
batches) that earlier stages returned:

    prepare(run, files)                    -> Records   table `prep` + today's wide records file
    block(run, records)                    -> "pairs"   candidate pairs (a, b)
    compare(run, records, pairs)           -> file      comparison levels of every pair (drops `pairs`)
    weigh(run, records, levels)            -> Weights   u from random pairs, m and the prior
    score(run, records, levels, weights)   -> Scored    kept pairs file + table `edges`
    cluster(run, records, edges)           -> "clusters"
    assign_identities(run, records, scored, clusters) -> the output files

Each stage is timed (seconds, and resident memory after it) under its name
in `run.clock`, and adds its figures to `run.stats`. `Run.finish` removes
every table and scratch file the stages made.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..kinds import Kind
from ..kinds.resolution import Resolution
from ..measure import StageClock
from .blocking import build_pairs, random_pairs
from .cluster import build_clusters, build_edges
from .compare import gamma_batches, u_levels
from .identity import identities
from .model import Weights, estimate, reason_expr, score_expr, u_probabilities
from .prepare import create_records, frequent_tokens, record_columns, write_carried, write_today


@dataclass
class Run:
    """One kind's resolution of one day: what every stage reads, and the
    tables and scratch files the stages made."""

    con: duckdb.DuckDBPyConnection
    kind: Kind
    res: Resolution
    day: date
    prev: Path | None   # the state directory of the day before, if any
    out: Path
    clock: StageClock = field(default_factory=StageClock)
    stats: dict = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def table(self, name: str) -> str:
        """A DuckDB table a stage makes, dropped by `finish`."""
        self.tables.append(name)
        return name

    def file(self, name: str) -> Path:
        """A scratch file in the output directory, removed by `finish`."""
        path = self.out / name
        self.files.append(path)
        return path

    def drop(self, table: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {table}")

    def finish(self) -> None:
        for path in self.files:
            path.unlink(missing_ok=True)
        for table in self.tables:
            self.drop(table)


@dataclass(frozen=True)
class Records:
    table: str      # one row per record (today's, then carried), what blocking, comparisons and identity read
    wide: Path      # today's whole prepared records, rid = row number (identity reads canonical records back)
    today: int      # records of the day
    carried: int    # records of recently seen entities


@dataclass(frozen=True)
class Scored:
    kept: Path      # pairs worth showing or clustering (probability >= 0.5), with their reason
    edges: str      # clustering edges (a, b, prob)


T = TypeVar("T")


def stage(name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Time the decorated stage under `name` in the run's clock."""
    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def timed(run: Run, *args) -> T:
            with run.clock.stage(name):
                return fn(run, *args)
        return timed
    return wrap


def write_batches(path: Path, tables: Iterable[pa.Table]) -> int:
    """Each table as row groups of one zstd Parquet file; returns how many
    tables were written (0: no file). Freed Arrow buffers go back to the OS
    at the end, not at the end of the day."""
    writer = None
    n = 0
    try:
        for tbl in tables:
            writer = writer or pq.ParquetWriter(str(path), tbl.schema, compression="zstd")
            writer.write_table(tbl)
            n += 1
    finally:
        if writer is not None:
            writer.close()
    pa.default_memory_pool().release_unused()
    return n


@stage("prepare")
def prepare(run: Run, files: list[str]) -> Records:
    """Today's records of the kind and the recently seen entities of the
    previous state, prepared (prepare.py)."""
    with run.clock.stage("prepare_polars"):
        cols = record_columns(files)
        today = run.file("_today.parquet")
        write_today(files, run.kind, run.res, cols, today)
        carried = None
        if run.prev is not None:
            carried = run.file("_carried.parquet")
            write_carried(run.prev, run.day, run.res, cols, carried)
    with run.clock.stage("prepare_frequent_tokens"):
        frequent = frequent_tokens(run.con, run.res, today, carried)
    table = run.table("prep")
    n_today, n_carried = create_records(run.con, run.res, table, cols, frequent, today, carried, run.prev)
    run.stats.update(records=n_today, carried_entities=n_carried)
    return Records(table, today, n_today, n_carried)


@stage("blocking")
def block(run: Run, records: Records) -> str:
    pairs = run.table("pairs")
    run.stats["blocking"] = build_pairs(run.con, run.res, records.table, pairs)
    run.stats["candidate_pairs"] = int(run.con.execute(f"SELECT count(*) FROM {pairs}").fetchall()[0][0])
    return pairs


@stage("compare")
def compare(run: Run, records: Records, pairs: str) -> Path:
    """Comparison levels of every candidate pair, streamed to Parquet batch
    by batch; the pair table is dropped once they are written."""
    levels = run.file("_gamma.parquet")
    gathered: dict = {}
    batches = gamma_batches(run.con, run.res, records.table, pairs, run.out / "_gather", stats=gathered)
    n_batches = write_batches(levels, (batch.to_arrow() for batch in batches))
    if not n_batches:
        empty = {"a": pl.Int64, "b": pl.Int64, **{f"g_{c.name}": pl.Int8 for c in run.res.comparisons},
                 "conflict": pl.Boolean}
        pl.DataFrame(schema=empty).write_parquet(levels)
    # Every candidate pair now has its levels in the file: free the pair
    # table's share of DuckDB's memory before the u-estimate's join (on a
    # 1M-record day of jobs it was held through that join and set the day's
    # peak).
    run.drop(pairs)
    run.stats.update(compare_batches=n_batches, compare_slices=gathered.get("slices", 0),
                     slice_rows=gathered.get("slice_rows", 0))
    return levels


@stage("weights")
def weigh(run: Run, records: Records, levels: Path) -> Weights:
    """u from random pairs, m by EM over the distinct patterns of levels."""
    res = run.res
    upairs = run.table("upairs")
    random_pairs(run.con, records.table, upairs, min(res.u_sample_pairs, max(records.today * 2, 1000)))
    gamma_u = u_levels(run.con, res, records.table, upairs, run.out / "_gather")
    u = u_probabilities(gamma_u, res)
    del gamma_u
    g_cols = [f"g_{c.name}" for c in res.comparisons]
    # Every scan of the pair files runs on Polars' streaming engine: the
    # default in-memory engine would load all pairs of the day at once.
    patterns = (pl.scan_parquet(str(levels)).group_by(g_cols).agg(pl.len().alias("n"))
                .collect(engine="streaming"))
    weights = estimate(patterns, u, res)
    # The random pairs are not read again: free their share of DuckDB's
    # memory for the joins of clustering and identity.
    run.drop(upairs)
    run.stats.update(em_iterations=weights.em_iterations, prior=weights.prior)
    return weights


@stage("score")
def score(run: Run, records: Records, levels: Path, weights: Weights) -> Scored:
    """Every pair's probability; the pairs worth showing (>= 0.5) or
    clustering to a file, a histogram of all, and the clustering edges."""
    res = run.res
    w_expr, p_expr = score_expr(weights, res)

    must_link = [pl.col(f"g_{c}") == 0 for c in res.must_link] or [pl.lit(False)]

    def scored(lf: pl.LazyFrame) -> pl.LazyFrame:
        return (lf.with_columns(w_expr.alias("match_weight"), p_expr.alias("prob"))
                .with_columns(pl.when(pl.col("conflict")).then(0.0).when(pl.any_horizontal(must_link))
                              .then(1.0).otherwise(pl.col("prob")).alias("prob")))

    buckets = np.zeros(10, dtype=np.int64)

    def kept_batches() -> Iterator[pa.Table]:
        # Row group by row group (each is one comparison batch): pyarrow's
        # iter_batches pre-buffers ahead and held most of a 10M-record day's
        # pair file (0.9 GB) by the end of the loop.
        nonlocal buckets
        levels_pf = pq.ParquetFile(str(levels))
        for i in range(levels_pf.num_row_groups):
            df = scored(pl.from_arrow(levels_pf.read_row_group(i)).lazy()).collect()
            buckets += np.bincount(np.clip(np.floor(df["prob"].to_numpy() * 10), 0, 9).astype(np.int64),
                                   minlength=10)
            yield (df.lazy().filter(pl.col("prob") >= min(0.5, res.match_probability))
                   .with_columns(reason_expr(res).alias("reason")).collect().to_arrow())

    kept = run.file("_kept.parquet")
    if not write_batches(kept, kept_batches()):
        (scored(pl.scan_parquet(str(levels))).with_columns(reason_expr(res).alias("reason"))
         .collect().write_parquet(kept))
    run.stats["score_histogram"] = pl.DataFrame({"bucket": pl.Series(range(10), dtype=pl.Int8),
                                                 "len": buckets}).filter(pl.col("len") > 0)
    edges = run.table("edges")
    build_edges(run.con, res, records.table, levels, kept, edges)
    return Scored(kept, edges)


@stage("cluster")
def cluster(run: Run, records: Records, edges: str) -> str:
    clusters = run.table("clusters")
    run.stats.update(build_clusters(run.con, run.res, records.table, edges, clusters))
    return clusters


@stage("identity")
def assign_identities(run: Run, records: Records, scored: Scored, clusters: str) -> dict[str, Path]:
    """Ids, members, entities and the next state (identity.py); returns the
    output files by name."""
    result = identities(run.con, run.res, run.kind, run.day, run.prev, run.out, records.table, records.wide,
                        scored.kept, scored.edges, clusters)
    run.stats.update(result.pop("stats"))
    return result
