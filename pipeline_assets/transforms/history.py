"""Daily snapshots per source and source scores.

Presence is the set of (source, listing_id, observed_date) over a trailing
window. For source S on day D, the comparison day is the latest earlier day
on which S delivered data, not blindly D-1: a source that failed to collect
yesterday must not make every listing look disappeared today.

  active      listings present on D
  new         present on D, never seen in the window before D
  continuing  present on D and on the comparison day
  reposts     present on D, absent on the comparison day, seen earlier
  disappeared present on the comparison day, absent on D
so active = new + continuing + reposts.

The set operations run in DuckDB (they need every listing id of the window,
and DuckDB spills under its memory limit); they return one row per source, so
everything after them is small.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

# Score weights keep the job-board reference's 40/30/20/10 structure. The
# reference's survey and candidate components have no data here; they are
# replaced by data quality and freshness (see README, "Scores").
SCORE_WEIGHTS = {"lifespan": 0.40, "reposts": 0.30, "data_quality": 0.20, "freshness": 0.10}
# Median listing age at which the lifespan component reaches zero.
LIFESPAN_HORIZON_DAYS = 30
FRESH_DAYS = 30

PRESENCE_STATS_SCHEMA = {
    "source": pl.String, "active_postings": pl.Int64, "new_postings": pl.Int64,
    "continuing_postings": pl.Int64, "repost_count": pl.Int64, "disappeared_postings": pl.Int64,
    "compared_to": pl.Date, "median_age_days": pl.Float64,
}


def presence_stats(con: duckdb.DuckDBPyConnection, presence: str, day: date) -> pl.DataFrame:
    """Per source on `day`, from a relation with (source, listing_id, observed_date) rows."""
    d = f"DATE '{day.isoformat()}'"
    rel = con.sql(f"""
        WITH p AS (SELECT DISTINCT source, listing_id, observed_date FROM {presence} WHERE observed_date <= {d}),
        today AS (SELECT source, listing_id FROM p WHERE observed_date = {d}),
        cmp AS (SELECT source, max(observed_date) AS compared_to FROM p WHERE observed_date < {d} GROUP BY 1),
        prev AS (SELECT p.source, p.listing_id FROM p JOIN cmp ON p.source = cmp.source
                 AND p.observed_date = cmp.compared_to),
        firsts AS (SELECT source, listing_id, min(observed_date) AS first_seen FROM p GROUP BY 1, 2),
        flags AS (
            SELECT t.source, prev.listing_id IS NOT NULL AS in_prev, f.first_seen < {d} AS seen_before,
                   {d} - f.first_seen AS age_days
            FROM today t
            JOIN firsts f ON f.source = t.source AND f.listing_id = t.listing_id
            LEFT JOIN prev ON prev.source = t.source AND prev.listing_id = t.listing_id),
        agg AS (
            SELECT source, count(*) AS active_postings,
                   count(*) FILTER (WHERE NOT seen_before) AS new_postings,
                   count(*) FILTER (WHERE in_prev) AS continuing_postings,
                   count(*) FILTER (WHERE seen_before AND NOT in_prev) AS repost_count,
                   median(age_days)::DOUBLE AS median_age_days
            FROM flags GROUP BY 1),
        gone AS (SELECT source, count(*) AS disappeared_postings FROM prev
                 WHERE NOT EXISTS (SELECT 1 FROM today t WHERE t.source = prev.source AND t.listing_id = prev.listing_id)
                 GROUP BY 1)
        SELECT agg.source, active_postings, new_postings, continuing_postings, repost_count,
               coalesce(disappeared_postings, 0) AS disappeared_postings, cmp.compared_to, median_age_days
        FROM agg LEFT JOIN gone USING (source) LEFT JOIN cmp USING (source)
        ORDER BY 1""")
    return pl.from_arrow(rel.to_arrow_table()).cast(PRESENCE_STATS_SCHEMA)


def snapshots(stats: pl.LazyFrame, day: date, counts: pl.LazyFrame) -> pl.LazyFrame:
    """`stats` from presence_stats; `counts` per source on `day`: kind, raw_rows,
    rejected_rows, duplicate_rows. One row per source that delivered data."""
    return (
        counts.join(stats, on="source", how="left")
        .with_columns(
            pl.lit(day, dtype=pl.Date).alias("snapshot_date"),
            pl.col("active_postings", "new_postings", "continuing_postings", "repost_count",
                   "disappeared_postings").fill_null(0),
            pl.col("raw_rows").alias("posting_count"),
            pl.when(pl.col("raw_rows") > 0)
            .then((pl.col("rejected_rows") / pl.col("raw_rows")).round(4)).otherwise(0.0)
            .alias("rejection_rate"),
            pl.when(pl.col("raw_rows") - pl.col("rejected_rows") > 0)
            .then((pl.col("duplicate_rows") / (pl.col("raw_rows") - pl.col("rejected_rows"))).round(4))
            .otherwise(0.0).alias("duplicate_rate"),
        )
        .select("snapshot_date", "source", "kind", "posting_count", "active_postings", "new_postings",
                "continuing_postings", "repost_count", "disappeared_postings", "compared_to",
                "raw_rows", "rejected_rows", "duplicate_rows", "rejection_rate", "duplicate_rate",
                "median_age_days")
        .sort("source")
    )


def listing_quality(listings_today: pl.LazyFrame, day: date) -> pl.LazyFrame:
    """Per source: mean quality score and the share posted in the last FRESH_DAYS (a streaming aggregate)."""
    d = pl.lit(day, dtype=pl.Date)
    return listings_today.group_by("source").agg(
        pl.col("quality_score").mean().alias("avg_quality_score"),
        (pl.col("posted_at") >= d - pl.duration(days=FRESH_DAYS)).mean().alias("fresh_share"),
    )


def scores(snaps: pl.LazyFrame, quality: pl.LazyFrame) -> pl.LazyFrame:
    """One score per source, 0-100, with every component and weight stored.
    `snaps` from snapshots(), `quality` from listing_quality()."""
    def clip(e: pl.Expr) -> pl.Expr:
        return e.clip(0, 100)
    w = SCORE_WEIGHTS
    return (
        snaps.select("snapshot_date", "source", "kind", "active_postings", "repost_count", "rejection_rate",
                     "median_age_days")
        .join(quality, on="source", how="left")
        .with_columns(
            clip(100 * (1 - pl.col("median_age_days").fill_null(0) / LIFESPAN_HORIZON_DAYS)).alias("lifespan_component"),
            clip(100 * (1 - pl.when(pl.col("active_postings") > 0)
                        .then(pl.col("repost_count") / pl.col("active_postings")).otherwise(0))).alias("repost_component"),
            clip(50 * (1 - pl.col("rejection_rate")) + 0.5 * pl.col("avg_quality_score").fill_null(0)).alias("data_quality_component"),
            clip(100 * pl.col("fresh_share").fill_null(0)).alias("freshness_component"),
        )
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
                "data_quality_weight", "freshness_weight", "median_age_days", "avg_quality_score",
                "rejection_rate", "repost_count", "active_postings")
        .with_columns(pl.col("^.*_component$").round(2), pl.col("avg_quality_score").round(2))
        .sort("source")
    )
