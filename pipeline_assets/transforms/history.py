"""Listing history: day D's state = day D-1's state + day D's listings (O(day)).

No Dagster imports: the asset in pipeline_assets/assets/history.py wires this
to the lake, and the benchmark (tests/benchmarks/history_bench.py) calls the
same functions.

State: one row per (source, listing_id) ever seen, with the listing's
`entity_id` (from entity resolution), its life (first/last seen, times seen,
runs on the market), status, repost count and price history, plus the
`event` that happened to it on the state's day. Snapshots and scores are
aggregates of one state file, never a scan over a window of days.

Rules (README, "History"):

* A source is **observed** on D when at least one of its listings reached
  `enriched_listings` that day. A source with no data on D (collection
  failed, file missing, everything rejected) is a **scrape gap**: none of its
  listings changes on D (event `gap`), nothing disappears, no missing day is
  counted.
* A live listing absent on an observed day of its source counts one missing
  day (event `missing`). After `disappear_after_days` consecutive missing
  observed days (per source, `history.disappear_after_days` in sources.yaml,
  default 1) it is **disappeared** (event `disappeared`, on the day the
  threshold is reached; `disappeared_on` keeps that day).
* A listing seen again after it was disappeared is a **repost** of itself
  (event `reposted`, `repost_count` + 1, a new run on the market starts). A
  listing back before the threshold (a blip: one missed page, a flaky feed)
  simply continues; the blip stays visible as `missed_days`.
* A listing key seen for the first time whose entity was seen earlier under
  another key, while none of that entity's known listings is present today,
  is the same vehicle/job **moved or relisted** under a new source id, URL or
  source (event `moved`, `repost_count` = 1, `moved_from` = the previous key).
  If another listing of the entity is present today it is a cross-post: a
  new posting (event `new`), not a repost.
* status: `disappeared` when disappeared; else `reposted` when the listing
  has ever been reposted (`repost_count` > 0); else `active`.
* lifespan_days = last_seen - first_seen + 1 (a listing seen on one day lives
  1 day; off-market gaps between reposts are included). days_on_market sums
  the listing's runs on the market, first to last sighting of each run, so
  off-market gaps are not counted (scrape gaps inside a run are).
  times_seen counts the days it was actually delivered.
* changed_on / last_event: the last day the row changed and that day's last event (`gap` and
  `gone` change nothing but an entity merge re-pointing the row), so the current-state table in Postgres only takes the rows changed on D.
* market_segment: the listing's segment (enrich.market_segment) at its latest sighting, for the
  trailing-window market position of listing_scores.
* price = the kind's market value (vehicles: `price`, jobs: `salary_max`);
  first/last/min/max ignore nulls; `price_changes` counts sightings whose
  price differs from the previous non-null price.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from ..sqltext import literal

# Bump when a rule changes: states written by another version are stale.
HISTORY_VERSION = "h1"
DEFAULT_DISAPPEAR_AFTER_DAYS = 1

# Score weights keep the job-board reference's 40/30/20/10 structure. The
# reference's survey and candidate components have no data here; they are
# replaced by data quality and freshness (see README, "Scores").
SCORE_WEIGHTS = {"lifespan": 0.40, "reposts": 0.30, "data_quality": 0.20, "freshness": 0.10}
# Median days on market at which the lifespan component reaches zero.
LIFESPAN_HORIZON_DAYS = 30
FRESH_DAYS = 30

STATE_COLUMNS: dict[str, str] = {
    "state_date": "DATE", "source": "VARCHAR", "listing_id": "VARCHAR", "kind": "VARCHAR",
    "entity_id": "VARCHAR", "event": "VARCHAR", "status": "VARCHAR",
    "first_seen": "DATE", "last_seen": "DATE", "times_seen": "BIGINT", "lifespan_days": "BIGINT",
    "days_on_market": "BIGINT", "run_start": "DATE", "closed_run_days": "BIGINT",
    "missing_days": "BIGINT", "missed_days": "BIGINT", "disappeared_on": "DATE",
    "repost_count": "BIGINT", "moved_from": "VARCHAR",
    "price_first": "DOUBLE", "price_last": "DOUBLE", "price_min": "DOUBLE", "price_max": "DOUBLE",
    "price_changes": "BIGINT", "changed_on": "DATE", "last_event": "VARCHAR", "market_segment": "VARCHAR",
}
SOURCE_COLUMNS = {"source": "VARCHAR", "last_observed": "DATE", "previous_observed": "DATE",
                  "days_observed": "BIGINT"}
EVENTS = ("new", "continuing", "reposted", "moved", "missing", "disappeared", "gap", "gone")



def _empty(columns: dict[str, str]) -> str:
    return "SELECT " + ", ".join(f"NULL::{t} AS {c}" for c, t in columns.items()) + " LIMIT 0"


@dataclass
class HistoryResult:
    state: Path            # one row per (source, listing_id) ever seen, as of `day`
    sources: Path          # per source: last observed day, the one before, days observed
    stats: Path            # per source: the state's aggregates for the snapshot (STATS_SQL = state_stats)
    rows: int
    fingerprint: str       # content hash of the state (staleness checks of later days)
    events: dict[str, int]
    observed_sources: list[str]


def update_history(con: duckdb.DuckDBPyConnection, day: date, today: str, prev_state: str | Path | None,
                   prev_sources: str | Path | None, out_dir: str | Path,
                   disappear_after: dict[str, int] | None = None,
                   default_disappear_after: int = DEFAULT_DISAPPEAR_AFTER_DAYS,
                   merges: str | None = None) -> HistoryResult:
    """`today`: a relation (SQL) with source, listing_id, kind, entity_id, price: the day's listings of
    every source that delivered. `prev_state` / `prev_sources`: day D-1's files (None on the first day).
    `merges`: a relation (merged, into_entity) of entities entity resolution merged on D; earlier
    listings of a merged entity take the surviving id from D on (earlier days are not rewritten).
    Writes `state.parquet` and `sources.parquet` into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    d = f"DATE '{day.isoformat()}'"
    prev = f"read_parquet({literal(prev_state)})" if prev_state else f"({_empty(STATE_COLUMNS)})"
    prev_src = f"read_parquet({literal(prev_sources)})" if prev_sources else f"({_empty(SOURCE_COLUMNS)})"
    params = disappear_after or {}
    values = ", ".join(f"('{s}', {int(n)})" for s, n in sorted(params.items())) or "(NULL, NULL)"

    # `today` is unique per (source, listing_id) (enriched_listings' unique_listing_per_source check), so
    # it stays a view: only the small pieces below are materialized, and the one big step (state FULL
    # OUTER JOIN day, sorted) is a single query that DuckDB spills under its memory limit.
    con.execute(f"""CREATE OR REPLACE TEMP VIEW _t AS
        SELECT source, listing_id, kind, entity_id, price::DOUBLE AS price, market_segment FROM ({today})""")
    con.execute("CREATE OR REPLACE TEMP TABLE _obs AS SELECT DISTINCT source FROM _t")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _params AS SELECT * FROM (VALUES {values}) v(source, n) "
                "WHERE source IS NOT NULL")
    state_file, sources_file, stats_file = out / "state.parquet", out / "sources.parquet", out / "stats.parquet"
    prev_sql = f"SELECT *, entity_id AS entity_before FROM {prev}"
    if merges:
        prev_sql = (f"SELECT p.* REPLACE (coalesce(m.into_entity, p.entity_id) AS entity_id), "
                    f"p.entity_id AS entity_before FROM {prev} p "
                    f"LEFT JOIN (SELECT merged, any_value(into_entity) AS into_entity FROM ({merges}) GROUP BY 1) m "
                    "ON m.merged = p.entity_id")
    # Moves: only entities of keys new today matter (a few % of the day), so these stay small.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _new AS
        SELECT t.source, t.listing_id, t.entity_id FROM _t t
        ANTI JOIN ({prev_sql}) p ON p.source = t.source AND p.listing_id = t.listing_id
        WHERE t.entity_id IS NOT NULL""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _ent_prev AS
        SELECT entity_id, arg_max(source || ':' || listing_id, last_seen) AS prev_key
        FROM ({prev_sql}) p WHERE entity_id IN (SELECT entity_id FROM _new) GROUP BY entity_id""")
    con.execute("""CREATE OR REPLACE TEMP TABLE _ent_present AS
        SELECT DISTINCT t.entity_id FROM _t t
        WHERE t.entity_id IN (SELECT entity_id FROM _ent_prev)
          AND NOT EXISTS (SELECT 1 FROM _new n WHERE n.source = t.source AND n.listing_id = t.listing_id)""")
    con.execute(f"""
        COPY (
        WITH p AS ({prev_sql}),
        ent_prev AS (SELECT * FROM _ent_prev),
        ent_present AS (SELECT * FROM _ent_present),
        j AS (
            SELECT coalesce(t.source, p.source) AS source, coalesce(t.listing_id, p.listing_id) AS listing_id,
                   t.source IS NOT NULL AS present, p.source IS NOT NULL AS known,
                   coalesce(t.kind, p.kind) AS kind, coalesce(t.entity_id, p.entity_id) AS entity_id,
                   t.price AS t_price, coalesce(t.market_segment, p.market_segment) AS market_segment,
                   o.source IS NOT NULL AS observed,
                   coalesce(pa.n, {int(default_disappear_after)}) AS n,
                   ep.prev_key, ee.entity_id IS NOT NULL AS entity_present,
                   p.status AS p_status, p.first_seen AS p_first_seen, p.last_seen AS p_last_seen,
                   p.times_seen AS p_times_seen, p.run_start AS p_run_start,
                   p.closed_run_days AS p_closed_run_days, p.days_on_market AS p_days_on_market,
                   p.missing_days AS p_missing_days, p.missed_days AS p_missed_days,
                   p.disappeared_on AS p_disappeared_on, p.repost_count AS p_repost_count,
                   p.moved_from AS p_moved_from, p.changed_on AS p_changed_on, p.last_event AS p_last_event,
                   p.entity_id IS DISTINCT FROM p.entity_before AS merged,
                   p.price_first AS p_price_first, p.price_last AS p_price_last,
                   p.price_min AS p_price_min, p.price_max AS p_price_max, p.price_changes AS p_price_changes
            FROM _t t
            FULL OUTER JOIN p ON p.source = t.source AND p.listing_id = t.listing_id
            LEFT JOIN _obs o ON o.source = coalesce(t.source, p.source)
            LEFT JOIN _params pa ON pa.source = coalesce(t.source, p.source)
            LEFT JOIN ent_prev ep ON ep.entity_id = t.entity_id AND p.source IS NULL
            LEFT JOIN ent_present ee ON ee.entity_id = t.entity_id AND p.source IS NULL),
        e AS (
            SELECT *, CASE
                WHEN present AND NOT known THEN
                    CASE WHEN prev_key IS NOT NULL AND NOT entity_present THEN 'moved' ELSE 'new' END
                WHEN present AND p_status = 'disappeared' THEN 'reposted'
                WHEN present THEN 'continuing'
                WHEN p_status = 'disappeared' THEN 'gone'
                WHEN NOT observed THEN 'gap'
                WHEN p_missing_days + 1 >= n THEN 'disappeared'
                ELSE 'missing' END AS event
            FROM j),
        s AS (
            SELECT *,
                CASE WHEN present THEN coalesce(p_repost_count, 0) + (event IN ('reposted', 'moved'))::INT
                     ELSE p_repost_count END AS repost_count,
                CASE WHEN event IN ('new', 'moved', 'reposted') THEN {d} ELSE p_run_start END AS run_start,
                CASE WHEN event = 'reposted' THEN p_closed_run_days + (p_last_seen - p_run_start + 1)
                     WHEN present AND NOT known THEN 0 ELSE p_closed_run_days END AS closed_run_days
            FROM e)
        SELECT {d} AS state_date, source, listing_id, kind, entity_id, event,
               CASE WHEN event IN ('disappeared', 'gone') THEN 'disappeared'
                    WHEN repost_count > 0 THEN 'reposted' ELSE 'active' END AS status,
               coalesce(p_first_seen, {d}) AS first_seen,
               CASE WHEN present THEN {d} ELSE p_last_seen END AS last_seen,
               (coalesce(p_times_seen, 0) + present::INT)::BIGINT AS times_seen,
               (CASE WHEN present THEN {d} ELSE p_last_seen END - coalesce(p_first_seen, {d}) + 1)::BIGINT
                   AS lifespan_days,
               CASE WHEN present THEN closed_run_days + ({d} - run_start + 1) ELSE p_days_on_market END::BIGINT
                   AS days_on_market,
               run_start, closed_run_days::BIGINT AS closed_run_days,
               CASE WHEN present THEN 0 WHEN event IN ('missing', 'disappeared') THEN p_missing_days + 1
                    ELSE p_missing_days END::BIGINT AS missing_days,
               (coalesce(p_missed_days, 0) + (event IN ('missing', 'disappeared'))::INT)::BIGINT AS missed_days,
               CASE WHEN event = 'disappeared' THEN {d} WHEN event = 'gone' THEN p_disappeared_on END
                   AS disappeared_on,
               repost_count::BIGINT AS repost_count,
               CASE WHEN event = 'moved' THEN prev_key ELSE p_moved_from END AS moved_from,
               coalesce(p_price_first, t_price) AS price_first,
               coalesce(t_price, p_price_last) AS price_last,
               least(p_price_min, t_price) AS price_min,
               greatest(p_price_max, t_price) AS price_max,
               (coalesce(p_price_changes, 0)
                + (t_price IS NOT NULL AND p_price_last IS NOT NULL AND t_price <> p_price_last)::INT)::BIGINT
                   AS price_changes,
               CASE WHEN event IN ('gap', 'gone') AND NOT merged THEN p_changed_on ELSE {d} END AS changed_on,
               CASE WHEN event IN ('gap', 'gone') THEN p_last_event ELSE event END AS last_event,
               market_segment
        FROM s
        ORDER BY source, listing_id)
        TO {literal(state_file)} (FORMAT parquet, COMPRESSION zstd)""")
    con.execute(f"""
        COPY (
            SELECT coalesce(o.source, p.source) AS source,
                   CASE WHEN o.source IS NOT NULL THEN {d} ELSE p.last_observed END AS last_observed,
                   CASE WHEN o.source IS NOT NULL THEN p.last_observed ELSE p.previous_observed END
                       AS previous_observed,
                   (coalesce(p.days_observed, 0) + (o.source IS NOT NULL)::INT)::BIGINT AS days_observed
            FROM _obs o FULL OUTER JOIN {prev_src} p ON p.source = o.source
            ORDER BY 1)
        TO {literal(sources_file)} (FORMAT parquet)""")
    con.execute(f"COPY ({STATS_SQL.format(state=f'read_parquet({literal(state_file)})')}) TO {literal(stats_file)} "
                "(FORMAT parquet)")
    rows, fp = con.execute(
        f"SELECT count(*), coalesce(sum(hash(s)::HUGEINT), 0)::VARCHAR FROM read_parquet({literal(state_file)}) s"
    ).fetchone()
    events = dict(con.execute(
        f"SELECT event, count(*) FROM read_parquet({literal(state_file)}) GROUP BY 1").fetchall())
    observed = [r[0] for r in con.execute("SELECT source FROM _obs ORDER BY 1").fetchall()]
    return HistoryResult(state_file, sources_file, stats_file, int(rows), f"{HISTORY_VERSION}:{rows}:{fp}",
                         {e: int(events.get(e, 0)) for e in EVENTS}, observed)


def today_relation(enriched_file: str | Path, entities_file: str | Path | None) -> str:
    """The day's listings for update_history: enriched listings joined to their entity."""
    price = "CASE kind WHEN 'jobs' THEN salary_max ELSE price END"
    listings = (f"SELECT source, listing_id, kind, ({price})::DOUBLE AS price, market_segment "
                f"FROM read_parquet({literal(enriched_file)})")
    if entities_file is None:
        return f"SELECT l.*, NULL::VARCHAR AS entity_id FROM ({listings}) l"
    # listing_entities has exactly one row per listing of the day (its every_listing_resolved check).
    return (f"SELECT l.*, e.entity_id FROM ({listings}) l LEFT JOIN "
            f"(SELECT source, listing_id, entity_id FROM read_parquet({literal(entities_file)})) e "
            f"USING (source, listing_id)")


def write_meta(path: Path, **fields) -> Path:
    path.write_text(json.dumps(fields, sort_keys=True, default=str, indent=1))
    return path


# -- snapshots --------------------------------------------------------------

SNAPSHOT_COLUMNS = [
    "snapshot_date", "source", "kind", "posting_count", "active_postings", "new_postings",
    "continuing_postings", "repost_count", "reposts_same_id", "reposts_new_id", "disappeared_postings",
    "missing_postings", "live_postings", "compared_to", "median_lifespan_disappeared",
    "mean_lifespan_disappeared", "median_days_on_market", "raw_rows", "rejected_rows", "duplicate_rows",
    "rejection_rate", "duplicate_rate", "field_completeness", "avg_quality_score", "fresh_share",
]


# state_stats in DuckDB, run by update_history under the memory limit (the medians hold one value per
# listing, which Polars' streaming engine would collect in memory).
STATS_SQL = """
    SELECT source,
           count(*) FILTER (WHERE event IN ('new', 'continuing', 'reposted', 'moved'))::BIGINT AS active_postings,
           count(*) FILTER (WHERE event = 'new')::BIGINT AS new_postings,
           count(*) FILTER (WHERE event = 'continuing')::BIGINT AS continuing_postings,
           count(*) FILTER (WHERE event = 'reposted')::BIGINT AS reposts_same_id,
           count(*) FILTER (WHERE event = 'moved')::BIGINT AS reposts_new_id,
           count(*) FILTER (WHERE event = 'disappeared')::BIGINT AS disappeared_postings,
           count(*) FILTER (WHERE event = 'missing')::BIGINT AS missing_postings,
           count(*) FILTER (WHERE status <> 'disappeared')::BIGINT AS live_postings,
           (median(lifespan_days) FILTER (WHERE event = 'disappeared'))::DOUBLE AS median_lifespan_disappeared,
           (avg(lifespan_days) FILTER (WHERE event = 'disappeared'))::DOUBLE AS mean_lifespan_disappeared,
           (median(days_on_market) FILTER (WHERE event IN ('new', 'continuing', 'reposted', 'moved')))::DOUBLE
               AS median_days_on_market,
           (count(*) FILTER (WHERE event = 'reposted') + count(*) FILTER (WHERE event = 'moved'))::BIGINT
               AS repost_count
    FROM {state} GROUP BY source ORDER BY source"""


def state_stats(state: pl.LazyFrame) -> pl.LazyFrame:
    """The same aggregates as STATS_SQL in Polars (small states and tests)."""
    """Per source, from one day's history state (a streaming group-by)."""
    ev = pl.col("event")
    present = ev.is_in(["new", "continuing", "reposted", "moved"])
    gone = ev == "disappeared"
    return state.group_by("source").agg(
        present.sum().cast(pl.Int64).alias("active_postings"),
        (ev == "new").sum().cast(pl.Int64).alias("new_postings"),
        (ev == "continuing").sum().cast(pl.Int64).alias("continuing_postings"),
        (ev == "reposted").sum().cast(pl.Int64).alias("reposts_same_id"),
        (ev == "moved").sum().cast(pl.Int64).alias("reposts_new_id"),
        gone.sum().cast(pl.Int64).alias("disappeared_postings"),
        (ev == "missing").sum().cast(pl.Int64).alias("missing_postings"),
        (pl.col("status") != "disappeared").sum().cast(pl.Int64).alias("live_postings"),
        pl.col("lifespan_days").filter(gone).median().cast(pl.Float64).alias("median_lifespan_disappeared"),
        pl.col("lifespan_days").filter(gone).mean().cast(pl.Float64).alias("mean_lifespan_disappeared"),
        pl.col("days_on_market").filter(present).median().cast(pl.Float64).alias("median_days_on_market"),
    ).with_columns((pl.col("reposts_same_id") + pl.col("reposts_new_id")).alias("repost_count"))


def listing_quality(listings_today: pl.LazyFrame, day: date, completeness: pl.Expr | None = None) -> pl.LazyFrame:
    """Per source: mean quality score, field completeness (0-1) and the share posted in the last
    FRESH_DAYS. `completeness` is a per-row expression (share of the kind's fields present)."""
    d = pl.lit(day, dtype=pl.Date)
    aggs = [pl.col("quality_score").mean().alias("avg_quality_score"),
            (pl.col("posted_at") >= d - pl.duration(days=FRESH_DAYS)).mean().alias("fresh_share")]
    if completeness is not None:
        aggs.append(completeness.mean().alias("field_completeness"))
    return listings_today.group_by("source").agg(aggs)


def snapshots(stats: pl.LazyFrame, sources: pl.LazyFrame, day: date, counts: pl.LazyFrame,
              quality: pl.LazyFrame) -> pl.LazyFrame:
    """One row per source observed on `day`. `stats` from state_stats, `sources` the history's
    sources file, `counts` per source: kind, raw_rows, rejected_rows, duplicate_rows; `quality` from
    listing_quality. A source without data that day has no row (a scrape gap, not a zero day)."""
    observed = sources.filter(pl.col("last_observed") == day).select(
        "source", pl.col("previous_observed").alias("compared_to"))
    q = quality.with_columns(pl.col("^(avg_quality_score|fresh_share|field_completeness)$").cast(pl.Float64))
    if "field_completeness" not in q.collect_schema().names():
        q = q.with_columns(pl.lit(None, dtype=pl.Float64).alias("field_completeness"))
    return (
        observed.join(counts, on="source", how="left").join(stats, on="source", how="left")
        .join(q, on="source", how="left")
        .with_columns(
            pl.lit(day, dtype=pl.Date).alias("snapshot_date"),
            pl.col("raw_rows", "rejected_rows", "duplicate_rows").fill_null(0),
            pl.col("raw_rows").fill_null(0).alias("posting_count"),
            pl.when(pl.col("raw_rows") > 0)
            .then((pl.col("rejected_rows") / pl.col("raw_rows")).round(4)).otherwise(0.0).alias("rejection_rate"),
            pl.when(pl.col("raw_rows") - pl.col("rejected_rows") > 0)
            .then((pl.col("duplicate_rows") / (pl.col("raw_rows") - pl.col("rejected_rows"))).round(4))
            .otherwise(0.0).alias("duplicate_rate"),
            pl.col("field_completeness").round(4), pl.col("avg_quality_score").round(2),
            pl.col("fresh_share").round(4),
        )
        .select(SNAPSHOT_COLUMNS)
        .sort("source")
    )


# -- scores -----------------------------------------------------------------

def score_components() -> list[pl.Expr]:
    """The four components (0-100) from the stored inputs: the same expressions rebuild a score."""
    def clip(e: pl.Expr) -> pl.Expr:
        return e.clip(0, 100)
    return [
        clip(100 * (1 - pl.col("median_days_on_market").fill_null(0) / LIFESPAN_HORIZON_DAYS)).round(2)
        .alias("lifespan_component"),
        clip(100 * (1 - pl.when(pl.col("active_postings") > 0)
                    .then(pl.col("repost_count") / pl.col("active_postings")).otherwise(0))).round(2)
        .alias("repost_component"),
        clip(50 * (1 - pl.col("rejection_rate")) + 0.5 * pl.col("avg_quality_score").fill_null(0)).round(2)
        .alias("data_quality_component"),
        clip(100 * pl.col("fresh_share").fill_null(0)).round(2).alias("freshness_component"),
    ]


def scores(snaps: pl.LazyFrame) -> pl.LazyFrame:
    """One score per source, 0-100, with every input, component and weight stored beside it."""
    w = SCORE_WEIGHTS
    return (
        snaps.select("snapshot_date", "source", "kind", "active_postings", "repost_count", "rejection_rate",
                     "median_days_on_market", "avg_quality_score", "fresh_share")
        .with_columns(score_components())
        .with_columns(
            (w["lifespan"] * pl.col("lifespan_component") + w["reposts"] * pl.col("repost_component")
             + w["data_quality"] * pl.col("data_quality_component")
             + w["freshness"] * pl.col("freshness_component")).round(2).alias("score"),
            pl.lit(w["lifespan"]).alias("lifespan_weight"), pl.lit(w["reposts"]).alias("repost_weight"),
            pl.lit(w["data_quality"]).alias("data_quality_weight"), pl.lit(w["freshness"]).alias("freshness_weight"),
        )
        .rename({"snapshot_date": "score_date"})
        .select("score_date", "source", "kind", "score", "lifespan_component", "repost_component",
                "data_quality_component", "freshness_component", "lifespan_weight", "repost_weight",
                "data_quality_weight", "freshness_weight", "median_days_on_market", "avg_quality_score",
                "rejection_rate", "repost_count", "active_postings", "fresh_share")
        .sort("source")
    )
