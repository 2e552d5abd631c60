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

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Iterable

import duckdb
import polars as pl
import pyarrow.parquet as pq

from ..kinds import CANONICAL_SCHEMA, Kind
from ..kinds.resolution import Resolution
from .blocking import build_pairs, random_pairs
from .cluster import cluster
from .compare import gamma_batches
from .tokens import frequent_hashes, token_select_sql, tokenized
from .model import Weights, estimate, reason_expr, score_expr, u_probabilities

MEMBERS, ENTITIES = "members.parquet", "entities.parquet"
ID_VERSION = "v1"


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
        return lf.with_columns(stage) if stage else lf

    # 1. Prepared records (streamed by Polars), today's and recently seen entities'.
    today_file = out / "_today.parquet"
    (pl.scan_parquet(files).filter(pl.col("kind") == kind.name).select(cols).pipe(prepare)
     .sink_parquet(str(today_file)))
    prev = Path(previous_state) if previous_state else None
    carried_file = out / "_carried.parquet"
    if prev is not None:
        (pl.scan_parquet(str(prev / ENTITIES))
         .filter(pl.col("last_seen").is_between(day - timedelta(days=res.repost_window_days), day - timedelta(days=1)))
         .select([c for c in cols if c != "_fetched_at"] + ["entity_id"]).pipe(prepare)
         .sink_parquet(str(carried_file)))
        members_sql = f"SELECT source, listing_id, entity_id FROM read_parquet({_q(prev / MEMBERS)})"
        carried_sql = f"SELECT * FROM read_parquet({_q(carried_file)})"
    else:
        members_sql = "SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS listing_id, NULL::VARCHAR AS entity_id LIMIT 0"
        carried_sql = f"SELECT *, NULL::VARCHAR AS entity_id FROM read_parquet({_q(today_file)}) LIMIT 0"
    timings["prepare_polars"] = time.perf_counter() - t0
    rss["prepare_polars"] = _rss_mb()
    # Boilerplate tokens: one pass per tokenized column over today's and the
    # carried records (see tokens.py).
    both = (f"SELECT * FROM read_parquet({_q(today_file)})" +
            (f" UNION ALL BY NAME SELECT * FROM read_parquet({_q(carried_file)})" if prev is not None else ""))
    frequent = {col: frequent_hashes(con, both, col, share) for col, share in tokenized(res).items()}
    tokens, slots = token_select_sql(res, frequent)
    timings["prepare_frequent_tokens"] = time.perf_counter() - t0 - timings["prepare_polars"]
    rss["prepare_frequent_tokens"] = _rss_mb()
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE prep AS
        WITH today AS (
                SELECT t.*, false AS is_prior, m.entity_id AS prior_entity
                FROM read_parquet({_q(today_file)}) t LEFT JOIN ({members_sql}) m USING (source, listing_id)),
             carried AS (
                SELECT * EXCLUDE (entity_id), true AS is_prior, entity_id AS prior_entity FROM ({carried_sql})
                WHERE entity_id NOT IN (SELECT prior_entity FROM today WHERE prior_entity IS NOT NULL)),
             -- rid: today's records first, in file order (DuckDB keeps insertion
             -- order), so a re-run over the same files numbers them the same
             -- way without sorting whole records.
             base AS (
                SELECT row_number() OVER () - 1 AS rid, * FROM today
                UNION ALL BY NAME
                SELECT (SELECT count(*) FROM today) + row_number() OVER () - 1 AS rid, * FROM carried),
             tok AS (SELECT *{', ' + tokens if tokens else ''} FROM base)
        SELECT *{', ' + slots if slots else ''} FROM tok""")
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
    try:
        for batch in gamma_batches(con, res, "pairs"):
            tbl = batch.to_arrow()
            writer = writer or pq.ParquetWriter(str(gamma_file), tbl.schema, compression="zstd")
            writer.write_table(tbl)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        empty = {"a": pl.Int64, "b": pl.Int64, **{f"g_{c.name}": pl.Int8 for c in res.comparisons},
                 "conflict": pl.Boolean}
        pl.DataFrame(schema=empty).write_parquet(gamma_file)
    timings["compare"] = time.perf_counter() - t
    rss["compare"] = _rss_mb()

    # 4. Weights: u from random pairs, m by EM over the distinct patterns.
    t = time.perf_counter()
    random_pairs(con, min(res.u_sample_pairs, max(n_today * 2, 1000)))
    gamma_u = pl.concat(list(gamma_batches(con, res, "upairs")) or [pl.DataFrame(
        schema={f"g_{c.name}": pl.Int8 for c in res.comparisons})], how="diagonal")
    u = u_probabilities(gamma_u, res)
    g_cols = [f"g_{c.name}" for c in res.comparisons]
    # Every scan of the pair files runs on Polars' streaming engine: the
    # default in-memory engine would load all pairs of the day at once.
    patterns = (pl.scan_parquet(str(gamma_file)).group_by(g_cols).agg(pl.len().alias("n"))
                .collect(engine="streaming"))
    weights = estimate(patterns, u, res)
    timings["weights"] = time.perf_counter() - t
    rss["weights"] = _rss_mb()

    # 5. Score; keep the pairs worth showing or clustering.
    t = time.perf_counter()
    w_expr, p_expr = score_expr(weights, res)
    scored = (pl.scan_parquet(str(gamma_file))
              .with_columns(w_expr.alias("match_weight"), p_expr.alias("prob"))
              .with_columns(pl.when(pl.col("conflict")).then(0.0)
                            .when(pl.any_horizontal([pl.col(f"g_{c}") == 0 for c in res.must_link] or [pl.lit(False)]))
                            .then(1.0).otherwise(pl.col("prob")).alias("prob")))
    histogram = (scored.select((pl.col("prob") * 10).floor().clip(0, 9).cast(pl.Int8).alias("bucket"))
                 .group_by("bucket").len().sort("bucket").collect(engine="streaming"))
    # Pairs worth showing (>= 0.5) go to a file, streamed: only the edges that
    # cluster (>= match_probability) are held in memory.
    kept_file = out / "_kept.parquet"
    (scored.filter(pl.col("prob") >= min(0.5, res.match_probability))
     .with_columns(reason_expr(res).alias("reason")).sink_parquet(str(kept_file)))
    kept = pl.scan_parquet(str(kept_file))
    nodes = con.sql(
        f"SELECT rid, source, listing_id, observed_date, is_prior, prior_entity"
        f"{''.join(', ' + c for c in res.cannot_link)} FROM prep ORDER BY rid").pl()
    # Listings that were one entity before are linked (unless a rule forbids it).
    prior_links = con.sql("""
        SELECT x.rid AS a, y.rid AS b FROM prep x JOIN prep y
        ON x.prior_entity = y.prior_entity AND x.rid < y.rid""").pl()
    edges = pl.concat([
        kept.filter(pl.col("prob") >= res.match_probability).select("a", "b", "prob").collect(engine="streaming"),
        prior_links.with_columns(pl.lit(1.0).alias("prob")),
    ]).group_by("a", "b").agg(pl.col("prob").max())
    if res.cannot_link:
        conflicts = scored.filter(pl.col("conflict")).select("a", "b").collect(engine="streaming")
        edges = edges.join(conflicts, on=["a", "b"], how="anti")
    timings["score"] = time.perf_counter() - t
    rss["score"] = _rss_mb()

    # 6. Clusters.
    t = time.perf_counter()
    clustered, cl_stats = cluster(nodes, edges, res)
    timings["cluster"] = time.perf_counter() - t
    rss["cluster"] = _rss_mb()

    # 7. Ids, members, entities, state.
    t = time.perf_counter()
    result = _identities(con, clustered, edges, kept, kind, day, prev, out, res)
    timings["identity"] = time.perf_counter() - t
    rss["identity"] = _rss_mb()
    for f in (today_file, carried_file, gamma_file, kept_file):
        f.unlink(missing_ok=True)
    con.execute("DROP TABLE IF EXISTS prep; DROP TABLE IF EXISTS pairs; DROP TABLE IF EXISTS upairs")
    timings["total"] = time.perf_counter() - t0
    rss["total"] = _rss_mb()
    stats = {"records": int(n_today), "carried_entities": int(n_carried), "candidate_pairs": int(n_pairs),
             "blocking": block_stats, "score_histogram": histogram, **cl_stats, **result.pop("stats"),
             "seconds": {k: round(v, 3) for k, v in timings.items()}, "rss_mb": rss, "em_iterations": weights.em_iterations,
             "prior": weights.prior}
    return ResolveResult(weights=weights, stats=stats, **result)


def _identities(con: duckdb.DuckDBPyConnection, nodes: pl.DataFrame, edges: pl.DataFrame, kept: pl.LazyFrame,
                kind: Kind, day: date, prev: Path | None, out: Path, res: Resolution) -> dict:
    laps: dict[str, float] = {}
    t_lap = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        laps[name] = round(now - t_lap[0], 3)
        t_lap[0] = now

    # Best in-cluster edge per record: its score, the partner and why.
    in_cluster = (edges.join(nodes.select(pl.col("rid").alias("a"), pl.col("cluster").alias("ca")), on="a")
                  .join(nodes.select(pl.col("rid").alias("b"), pl.col("cluster").alias("cb")), on="b")
                  .filter(pl.col("ca") == pl.col("cb"))
                  .join(kept.filter(pl.col("prob") >= res.match_probability).select("a", "b", "reason")
                        .collect(engine="streaming"),
                        on=["a", "b"], how="left"))
    ends = pl.concat([in_cluster.select(pl.col("a").alias("rid"), pl.col("b").alias("other"), "prob", "reason"),
                      in_cluster.select(pl.col("b").alias("rid"), pl.col("a").alias("other"), "prob", "reason")])
    best = (ends.sort(["rid", "prob", "other"], descending=[False, True, False])
            .group_by("rid", maintain_order=True).first()
            .join(nodes.select(pl.col("rid").alias("other"),
                               (pl.col("source") + ":" + pl.col("listing_id")).alias("matched_to")), on="other")
            .select("rid", pl.col("prob").alias("match_score"),
                    pl.col("reason").fill_null("same entity on an earlier day").alias("match_reason"),
                    "matched_to"))
    con.register("_nodes", nodes.join(best, on="rid", how="left"))
    lap('best_edges')
    prev_entities = (f"SELECT entity_id, first_seen FROM read_parquet({_q(prev / ENTITIES)})" if prev else
                     "SELECT NULL::VARCHAR AS entity_id, NULL::DATE AS first_seen LIMIT 0")
    # Winner per cluster: the oldest earlier entity, else a new deterministic id.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ids AS
        WITH pe AS ({prev_entities}),
        cand AS (
            SELECT n.cluster, n.prior_entity, pe.first_seen, count(*) AS votes
            FROM _nodes n JOIN pe ON pe.entity_id = n.prior_entity GROUP BY ALL),
        -- An earlier entity split over several clusters today (a cannot-link
        -- rule separated its listings) keeps its id in the cluster holding
        -- most of them; the others get new ids.
        claim AS (SELECT * FROM cand QUALIFY row_number() OVER (
                      PARTITION BY prior_entity ORDER BY votes DESC, cluster) = 1),
        won AS (SELECT cluster, arg_min(prior_entity, (first_seen, prior_entity)) AS entity_id,
                       min(first_seen) AS first_seen FROM claim GROUP BY cluster),
        fresh AS (SELECT cluster, substr(sha256('{ID_VERSION}|entity|{kind.name}|' || min(source || chr(31) || listing_id)
                                                || '|{day.isoformat()}'), 1, 32) AS entity_id
                  FROM _nodes WHERE NOT is_prior GROUP BY cluster)
        SELECT f.cluster, coalesce(w.entity_id, f.entity_id) AS entity_id, w.entity_id IS NULL AS is_new,
               coalesce(w.first_seen, DATE '{day.isoformat()}') AS first_seen
        FROM fresh f LEFT JOIN won w USING (cluster)""")
    lap('ids')
    # Earlier entities merged into another one today.
    merges = con.sql("""
        SELECT n.prior_entity AS merged, arg_max(i.entity_id, 1) AS into_entity
        FROM _nodes n JOIN _ids i USING (cluster)
        WHERE n.prior_entity IS NOT NULL AND n.prior_entity NOT IN (SELECT entity_id FROM _ids)
        GROUP BY n.prior_entity""").pl()
    con.register("_merges", merges)

    members = out / "members.parquet"
    con.execute(f"""
        COPY (SELECT n.source, n.listing_id, n.observed_date, i.entity_id,
                     n.match_score, n.match_reason, n.matched_to,
                     CASE WHEN n.prior_entity = i.entity_id THEN 'known'
                          WHEN n.prior_entity IN (SELECT merged FROM _merges) THEN 'merged'
                          WHEN n.prior_entity IS NOT NULL THEN 'split'
                          WHEN i.is_new THEN 'new_entity'
                          ELSE 'joined' END AS link,
                     count(*) OVER (PARTITION BY i.entity_id) AS entity_records
              FROM _nodes n JOIN _ids i USING (cluster) WHERE NOT n.is_prior ORDER BY n.source, n.listing_id)
        TO {_q(members)} (FORMAT parquet, COMPRESSION zstd)""")
    lap('members')

    # Canonical record per entity seen today: most complete, then most recent.
    complete = " + ".join(f"(p.{c} IS NOT NULL)::INT" for c in res.completeness) or "0"
    recency = "p._fetched_at DESC NULLS LAST, " if "_fetched_at" in con.sql(
        "SELECT * FROM prep LIMIT 0").columns else ""
    price = kind.market_value
    # Ranked on narrow rows, then the one winning record per entity is joined
    # back for its columns (sorting whole records would move every field).
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _canon AS
        WITH r AS (
            SELECT p.rid, i.entity_id, i.first_seen, p.source,
                   row_number() OVER (PARTITION BY i.entity_id
                                      ORDER BY ({complete}) DESC, p.observed_date DESC, {recency}p.source, p.listing_id) AS _rank
            FROM prep p JOIN _nodes n USING (rid) JOIN _ids i USING (cluster) WHERE NOT p.is_prior),
        g AS (SELECT entity_id, count(*) AS records_today, list(DISTINCT source ORDER BY source) AS sources_today
              FROM r GROUP BY entity_id)
        SELECT r.entity_id, r.first_seen, p.*, g.records_today, g.sources_today
        FROM r JOIN g USING (entity_id) JOIN prep p ON p.rid = r.rid
        WHERE r._rank = 1""")
    lap('canonical')
    record_cols = [c for c in CANONICAL_SCHEMA if c in con.sql("SELECT * FROM _canon LIMIT 0").columns]
    record_cols.append("listing_id")
    rc = ", ".join(f"c.{c}" for c in record_cols)
    if prev is not None:
        prev_sql = f"""SELECT e.* REPLACE (coalesce(m.into_entity, e.entity_id) AS entity_id)
                       FROM read_parquet({_q(prev / ENTITIES)}) e LEFT JOIN _merges m ON m.merged = e.entity_id"""
    else:
        prev_sql = None
    entities = out / "entities.parquet"
    today_sql = f"""
        SELECT c.entity_id, '{kind.name}' AS entity_kind, c.first_seen, DATE '{day.isoformat()}' AS last_seen,
               c.records_today, c.sources_today, {rc}, c.{price} AS _price_today
        FROM _canon c"""
    if prev_sql:
        # Earlier entities folded by id (merges first), then today's record on top.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _prev AS
            SELECT entity_id, min(first_seen) AS first_seen, max(last_seen) AS last_seen,
                   max(days_seen) AS days_seen, arg_min(price_first, first_seen) AS price_first,
                   arg_max(price_last, last_seen) AS price_last, min(price_min) AS price_min,
                   max(price_max) AS price_max, max(price_changes) AS price_changes,
                   arg_max(COLUMNS(* EXCLUDE (entity_id, first_seen, last_seen, days_seen, price_first,
                                              price_last, price_min, price_max, price_changes)), last_seen)
            FROM ({prev_sql}) GROUP BY entity_id""")
    else:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _prev AS SELECT entity_id, first_seen, last_seen,
                        0::BIGINT AS days_seen, {price} AS price_first, {price} AS price_last, {price} AS price_min,
                        {price} AS price_max, 0::BIGINT AS price_changes, entity_kind, records_today, sources_today,
                        {', '.join(record_cols)} FROM ({today_sql}) LIMIT 0""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _entities AS
        WITH t AS ({today_sql})
        SELECT t.entity_id, t.entity_kind, least(t.first_seen, p.first_seen) AS first_seen, t.last_seen,
               CAST(coalesce(p.days_seen, 0) + 1 AS BIGINT) AS days_seen,
               coalesce(p.price_first, t._price_today) AS price_first, t._price_today AS price_last,
               least(p.price_min, t._price_today) AS price_min, greatest(p.price_max, t._price_today) AS price_max,
               CAST(coalesce(p.price_changes, 0) + (p.price_last IS DISTINCT FROM t._price_today
                                                    AND p.price_last IS NOT NULL AND t._price_today IS NOT NULL)::INT
                    AS BIGINT) AS price_changes,
               CAST(t.records_today AS BIGINT) AS records_today, t.sources_today, {', '.join('t.' + c for c in record_cols)}
        FROM t LEFT JOIN _prev p USING (entity_id)
        UNION ALL BY NAME
        SELECT * FROM _prev WHERE entity_id NOT IN (SELECT entity_id FROM t)
        ORDER BY entity_id""")
    lap('entities')
    # _entities is stored in entity_id order and DuckDB keeps insertion order,
    # so both files come out sorted (reproducible bytes) without another sort.
    con.execute(f"COPY (SELECT * FROM _entities WHERE last_seen = DATE '{day.isoformat()}') "
                f"TO {_q(entities)} (FORMAT parquet, COMPRESSION zstd)")
    lap('entities_file')

    state = out / "state"
    state.mkdir(exist_ok=True)
    con.execute(f"COPY (SELECT * FROM _entities) TO {_q(state / ENTITIES)} "
                "(FORMAT parquet, COMPRESSION zstd)")
    prev_members = (f"""SELECT m.source, m.listing_id, coalesce(g.into_entity, m.entity_id) AS entity_id,
                               m.first_seen, m.last_seen
                        FROM read_parquet({_q(prev / MEMBERS)}) m LEFT JOIN _merges g ON g.merged = m.entity_id"""
                    if prev else "SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS listing_id, "
                                 "NULL::VARCHAR AS entity_id, NULL::DATE AS first_seen, NULL::DATE AS last_seen LIMIT 0")
    con.execute(f"""
        COPY (
            WITH t AS (SELECT source, listing_id, entity_id FROM read_parquet({_q(members)})),
                 p AS ({prev_members})
            SELECT coalesce(t.source, p.source) AS source, coalesce(t.listing_id, p.listing_id) AS listing_id,
                   coalesce(t.entity_id, p.entity_id) AS entity_id,
                   coalesce(p.first_seen, DATE '{day.isoformat()}') AS first_seen,
                   CASE WHEN t.source IS NOT NULL THEN DATE '{day.isoformat()}' ELSE p.last_seen END AS last_seen
            FROM t FULL OUTER JOIN p USING (source, listing_id) ORDER BY source, listing_id)
        TO {_q(state / MEMBERS)} (FORMAT parquet, COMPRESSION zstd)""")
    lap('state')

    pairs = out / "pairs.parquet"
    keys = nodes.select("rid", (pl.col("source") + ":" + pl.col("listing_id")).alias("key"))
    g_cols = [c for c in kept.collect_schema().names() if c.startswith("g_")]
    (kept.join(keys.lazy().rename({"rid": "a", "key": "left"}), on="a")
     .join(keys.lazy().rename({"rid": "b", "key": "right"}), on="b")
     .select("left", "right", "prob", "match_weight", "reason", "conflict", *g_cols)
     .sink_parquet(str(pairs)))
    lap('pairs_file')
    n_entities = con.execute(f"SELECT count(DISTINCT entity_id), max(entity_records) FROM read_parquet({_q(members)})").fetchall()[0]
    links = dict(con.execute(f"SELECT link, count(*) FROM read_parquet({_q(members)}) GROUP BY 1").fetchall())
    for name in ("_nodes", "_merges"):
        con.unregister(name)
    for name in ("_ids", "_canon", "_prev", "_entities"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    merges_file = out / "merges.parquet"
    merges.write_parquet(merges_file)
    return {"members": members, "entities": entities, "state": state, "pairs": pairs, "merges": merges_file,
            "stats": {"entities": int(n_entities[0]), "largest_cluster": int(n_entities[1] or 0),
                      "merged_entities": merges.height, "links": links,
                      "matched_pairs": int(edges.height), "identity_seconds": laps}}
