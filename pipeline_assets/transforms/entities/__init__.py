"""Entity resolution for one kind and one day, with identities carried over
from the previous day's state.

    records of day D ─┐                                  ┌─> members (listing -> entity, score, reason)
                      ├─> prep ─> blocking ─> levels ─> FS weights ─> clusters ─> ids ─┼─> entities (canonical records)
    state of D-1 ─────┘ (entities seen recently are                                    └─> state of D
                         candidates too: reposts)

Why a state file rather than re-reading history: day D costs O(day) (the
day's records plus recently seen entities), and re-running D reads the same
D-1 state, so it yields the same ids. `listing_entities` is a self-dependent
partitioned asset in Dagster for exactly this reason.

Identity rules:
- a listing seen before (same source + listing_id) keeps its entity unless
  today's evidence merges that entity into an older one;
- a cluster holding earlier entities takes the oldest one's id (first seen,
  then smallest id); the others are merged into it and recorded;
- a cluster with no earlier entity gets a new id derived from its smallest
  listing key and the day, so a re-run gives the same id.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Iterable

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..kinds import CANONICAL_SCHEMA, Kind
from ..batches import map_batches_to_parquet
from ..kinds.resolution import Resolution
from .blocking import build_pairs, random_pairs
from .cluster import cluster
from .identity import ENTITIES, MEMBERS, identities
from .compare import gamma_batches, u_levels
from .tokens import dropped_after_tokens, frequent_hashes, token_select_sql, tokenized
from .model import Weights, estimate, reason_expr, score_expr, u_probabilities



@dataclass
class ResolveResult:
    members: Path      # one row per input record: entity_id, match_score, match_reason, matched_to, link
    entities: Path     # entities seen today: canonical record, first/last seen, price history
    state: Path        # directory with members.parquet + entities.parquet, input of the next day
    pairs: Path        # scored candidate pairs with probability >= 0.5 (borderline review)
    merges: Path       # earlier entities merged into another today: merged, into_entity
    weights: Weights
    stats: dict = field(default_factory=dict)


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return float("nan")


def _q(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _record_columns(files: list[str]) -> list[str]:
    have = set(pl.scan_parquet(files).collect_schema().names())
    wanted = [c for c in CANONICAL_SCHEMA if c in have] + ["listing_id"]
    return wanted + [c for c in ("_fetched_at",) if c in have]


def _resolution_columns(res: Resolution, available: list[str]) -> tuple[list[str], list[str]]:
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


def resolve_day(con: duckdb.DuckDBPyConnection, records: str | Path | Iterable[str | Path], kind: Kind, day: date,
                previous_state: str | Path | None, out_dir: str | Path,
                resolution: Resolution | None = None) -> ResolveResult:
    res = resolution or kind.resolution
    if res is None:
        raise ValueError(f"kind {kind.name} declares no entity resolution")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [str(records)] if isinstance(records, (str, Path)) else [str(r) for r in records]
    timings: dict[str, float] = {}
    rss: dict[str, float] = {}  # resident memory after each stage, to see which one holds what
    t0 = time.perf_counter()
    cols = _record_columns(files)
    def prepare(lf: pl.LazyFrame) -> pl.LazyFrame:
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

    # 1. Prepared records, today's and recently seen entities', in bounded
    # batches (Polars' own sink read ahead of the slower prepare and grew
    # with the day; see transforms/batches.py). Row-local, so batches do not
    # change the result.
    today_file = out / "_today.parquet"
    map_batches_to_parquet(files, lambda lf: lf.filter(pl.col("kind") == kind.name).select(cols).pipe(prepare),
                           today_file)
    prev = Path(previous_state) if previous_state else None
    carried_file = out / "_carried.parquet"
    if prev is not None:
        window = (day - timedelta(days=res.repost_window_days), day - timedelta(days=1))
        map_batches_to_parquet(
            [prev / ENTITIES],
            lambda lf: (lf.filter(pl.col("last_seen").is_between(*window))
                        .select([c for c in cols if c != "_fetched_at"] + ["entity_id"]).pipe(prepare)),
            carried_file)
        members_sql = f"SELECT source, listing_id, entity_id FROM read_parquet({_q(prev / MEMBERS)})"
    else:
        members_sql = "SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS listing_id, NULL::VARCHAR AS entity_id LIMIT 0"
    timings["prepare_polars"] = time.perf_counter() - t0
    rss["prepare_polars"] = _rss_mb()
    # Boilerplate tokens: one pass per tokenized column over today's and the
    # carried records (see tokens.py).
    both = (f"SELECT * FROM read_parquet({_q(today_file)})" +
            (f" UNION ALL BY NAME SELECT * FROM read_parquet({_q(carried_file)})" if prev is not None else ""))
    frequent = {col: frequent_hashes(con, both, col, share) for col, share in tokenized(res).items()}
    tokens, slots, bands = token_select_sql(res, frequent)
    timings["prepare_frequent_tokens"] = time.perf_counter() - t0 - timings["prepare_polars"]
    rss["prepare_frequent_tokens"] = _rss_mb()
    # The table of records holds only what blocking and comparisons read
    # (keys, short strings, numbers, token hashes): wide text such as
    # descriptions stays in the Parquet file, read back by row number for the
    # canonical records. rid = row number in today's file, then in the
    # carried file: stable on a re-run, no sort.
    prepared = [name for name, _ in res.prepare]
    keep, text_only = _resolution_columns(res, cols + prepared)
    # Survivorship ranks (identity.py) travel with the record: the canonical
    # record is then picked without re-reading the wide file.
    keep += ["_complete"]
    today_rel = f"read_parquet({_q(today_file)}, file_row_number = true)"
    n_file = con.execute(f"SELECT count(*) FROM read_parquet({_q(today_file)})").fetchall()[0][0]
    base_cols = keep + text_only
    # Most recent fetch first, a missing fetch time last.
    fetched = ("coalesce(-epoch_us(t._fetched_at), 9223372036854775807)" if "_fetched_at" in cols
               else "9223372036854775807::BIGINT")
    if prev is not None:
        carried = f"""
             carried AS (
                SELECT {n_file} + file_row_number AS rid, {', '.join(base_cols)}, true AS is_prior,
                       entity_id AS prior_entity, NULL::BIGINT AS _fetched_key
                FROM read_parquet({_q(carried_file)}, file_row_number = true)
                WHERE entity_id NOT IN (SELECT prior_entity FROM today WHERE prior_entity IS NOT NULL)),"""
        union = "UNION ALL BY NAME SELECT * FROM carried"
    else:
        carried, union = "", ""
    # Text read only to make tokens, and token lists and MinHash slots read
    # only to make LSH band keys, are not kept.
    dropped = text_only + dropped_after_tokens(res)
    drop = f" EXCLUDE ({', '.join(dropped)})" if dropped else ""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE prep AS
        WITH today AS (
                SELECT t.file_row_number AS rid, {', '.join('t.' + c for c in base_cols)}, false AS is_prior,
                       m.entity_id AS prior_entity, {fetched} AS _fetched_key
                FROM {today_rel} t LEFT JOIN ({members_sql}) m ON m.source = t.source AND m.listing_id = t.listing_id),
             {carried}
             base AS (SELECT * FROM today {union}),
             tok AS (SELECT *{', ' + tokens if tokens else ''} FROM base),
             mh AS (SELECT *{', ' + slots if slots else ''} FROM tok)
        SELECT *{drop}{', ' + bands if bands else ''} FROM mh""")
    n_today, n_carried = con.execute(
        "SELECT count(*) FILTER (WHERE NOT is_prior), count(*) FILTER (WHERE is_prior) FROM prep").fetchall()[0]
    timings["prepare"] = time.perf_counter() - t0
    rss["prepare"] = _rss_mb()

    # 2. Blocking.
    t = time.perf_counter()
    block_stats = build_pairs(con, res)
    n_pairs = con.execute("SELECT count(*) FROM pairs").fetchall()[0][0]
    timings["blocking"] = time.perf_counter() - t
    rss["blocking"] = _rss_mb()

    # 3. Comparison levels, streamed to Parquet batch by batch.
    t = time.perf_counter()
    gamma_file = out / "_gamma.parquet"
    writer = None
    n_batches = 0
    fetch_stats: dict = {}
    try:
        for batch in gamma_batches(con, res, "pairs", out / "_fetch", stats=fetch_stats):
            n_batches += 1
            tbl = batch.to_arrow()
            writer = writer or pq.ParquetWriter(str(gamma_file), tbl.schema, compression="zstd")
            writer.write_table(tbl)
    finally:
        if writer is not None:
            writer.close()
    pa.default_memory_pool().release_unused()
    if writer is None:
        empty = {"a": pl.Int64, "b": pl.Int64, **{f"g_{c.name}": pl.Int8 for c in res.comparisons},
                 "conflict": pl.Boolean}
        pl.DataFrame(schema=empty).write_parquet(gamma_file)
    # Every candidate pair now has its levels in the gamma file: free the
    # pair table's share of DuckDB's memory before the u-estimate's join
    # (on a 1M-record day of jobs it was held through that join and set the
    # day's peak).
    con.execute("DROP TABLE IF EXISTS pairs")
    timings["compare"] = time.perf_counter() - t
    rss["compare"] = _rss_mb()

    # 4. Weights: u from random pairs, m by EM over the distinct patterns.
    t = time.perf_counter()
    random_pairs(con, min(res.u_sample_pairs, max(n_today * 2, 1000)))
    gamma_u = u_levels(con, res, "upairs", out / "_fetch")
    u = u_probabilities(gamma_u, res)
    del gamma_u
    g_cols = [f"g_{c.name}" for c in res.comparisons]
    # Every scan of the pair files runs on Polars' streaming engine: the
    # default in-memory engine would load all pairs of the day at once.
    patterns = (pl.scan_parquet(str(gamma_file)).group_by(g_cols).agg(pl.len().alias("n"))
                .collect(engine="streaming"))
    weights = estimate(patterns, u, res)
    # The random pairs are not read again: free their share of DuckDB's
    # memory for the joins of clustering and identity.
    con.execute("DROP TABLE IF EXISTS upairs")
    timings["weights"] = time.perf_counter() - t
    rss["weights"] = _rss_mb()

    # 5. Score; keep the pairs worth showing or clustering.
    t = time.perf_counter()
    w_expr, p_expr = score_expr(weights, res)

    def scored(lf: pl.LazyFrame) -> pl.LazyFrame:
        return (lf.with_columns(w_expr.alias("match_weight"), p_expr.alias("prob"))
                .with_columns(pl.when(pl.col("conflict")).then(0.0)
                              .when(pl.any_horizontal([pl.col(f"g_{c}") == 0 for c in res.must_link] or [pl.lit(False)]))
                              .then(1.0).otherwise(pl.col("prob")).alias("prob")))
    # One pass over the pairs, batch by batch: the score histogram, and the
    # pairs worth showing (>= 0.5) to a file.
    kept_file = out / "_kept.parquet"
    buckets = np.zeros(10, dtype=np.int64)
    writer = None
    try:
        # Row group by row group (each is one comparison batch): pyarrow's
        # iter_batches pre-buffers ahead and held most of a 10M-record day's
        # pair file (0.9 GB) by the end of the loop.
        gamma_pf = pq.ParquetFile(str(gamma_file))
        for i in range(gamma_pf.num_row_groups):
            df = scored(pl.from_arrow(gamma_pf.read_row_group(i)).lazy()).collect()
            buckets += np.bincount(np.clip(np.floor(df["prob"].to_numpy() * 10), 0, 9).astype(np.int64),
                                   minlength=10)
            tbl = (df.lazy().filter(pl.col("prob") >= min(0.5, res.match_probability))
                   .with_columns(reason_expr(res).alias("reason")).collect().to_arrow())
            writer = writer or pq.ParquetWriter(str(kept_file), tbl.schema, compression="zstd")
            writer.write_table(tbl)
    finally:
        if writer is not None:
            writer.close()
    # Freed Arrow buffers go back to the OS now, not at the end of the day.
    pa.default_memory_pool().release_unused()
    if writer is None:
        (scored(pl.scan_parquet(str(gamma_file))).with_columns(reason_expr(res).alias("reason"))
         .collect().write_parquet(kept_file))
    histogram = pl.DataFrame({"bucket": pl.Series(range(10), dtype=pl.Int8), "len": buckets}).filter(pl.col("len") > 0)
    # Clustering edges, in DuckDB: matches, plus listings that were one
    # entity before, unless a rule forbids it. A conflicting pair's
    # probability is 0, so only those prior links need the check, and it is
    # made against the conflicting pairs among them (a semi join on the few
    # prior links, streaming over the pair file), never against a hash table
    # of every conflicting pair of the day.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE edges AS
        WITH prior AS (
            SELECT x.rid AS a, y.rid AS b FROM prep x JOIN prep y
            ON x.prior_entity = y.prior_entity AND x.rid < y.rid),
        bad AS (SELECT a, b FROM read_parquet({_q(gamma_file)}) g SEMI JOIN prior USING (a, b) WHERE g.conflict),
        e AS (
            SELECT a, b, prob FROM read_parquet({_q(kept_file)}) WHERE prob >= {res.match_probability}
            UNION ALL
            SELECT a, b, 1.0 AS prob FROM prior ANTI JOIN bad USING (a, b))
        SELECT a, b, max(prob) AS prob FROM e GROUP BY a, b""")
    timings["score"] = time.perf_counter() - t
    rss["score"] = _rss_mb()

    # 6. Clusters.
    t = time.perf_counter()
    cl_stats = cluster(con, res)
    timings["cluster"] = time.perf_counter() - t
    rss["cluster"] = _rss_mb()

    # 7. Ids, members, entities, state.
    t = time.perf_counter()
    result = identities(con, kept_file, today_file, kind, day, prev, out, res)
    timings["identity"] = time.perf_counter() - t
    rss["identity"] = _rss_mb()
    for f in (today_file, carried_file, gamma_file, kept_file):
        f.unlink(missing_ok=True)
    for name in ("prep", "pairs", "upairs", "edges", "clusters"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    timings["total"] = time.perf_counter() - t0
    rss["total"] = _rss_mb()
    stats = {"records": int(n_today), "carried_entities": int(n_carried), "candidate_pairs": int(n_pairs),
             "compare_batches": n_batches, "compare_slices": fetch_stats.get("slices", 0),
             "slice_rows": fetch_stats.get("slice_rows", 0),
             "blocking": block_stats, "score_histogram": histogram, **cl_stats, **result.pop("stats"),
             "seconds": {k: round(v, 3) for k, v in timings.items()}, "rss_mb": rss, "em_iterations": weights.em_iterations,
             "prior": weights.prior}
    return ResolveResult(weights=weights, stats=stats, **result)


