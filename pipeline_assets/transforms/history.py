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
"""

from __future__ import annotations

from datetime import date

import polars as pl

# Score weights keep the job-board reference's 40/30/20/10 structure. The
# reference's survey and candidate components have no data here; they are
# replaced by data quality and freshness (see README, "Scores").
SCORE_WEIGHTS = {"lifespan": 0.40, "reposts": 0.30, "data_quality": 0.20, "freshness": 0.10}
# Median listing age at which the lifespan component reaches zero.
LIFESPAN_HORIZON_DAYS = 30
FRESH_DAYS = 30


def presence(listings: pl.LazyFrame) -> pl.LazyFrame:
    return listings.select("source", "listing_id", "observed_date").unique()


def snapshots(pres: pl.LazyFrame, day: date, counts: pl.LazyFrame) -> pl.LazyFrame:
    """`pres`: presence over the window up to and including `day`.
    `counts`: per source on `day`: kind, raw_rows, rejected_rows, duplicate_rows."""
    d = pl.lit(day, dtype=pl.Date)
    today = pres.filter(pl.col("observed_date") == d).select("source", "listing_id")
    before = pres.filter(pl.col("observed_date") < d)
    compared = before.group_by("source").agg(pl.col("observed_date").max().alias("compared_to"))
    prev = (before.join(compared, on="source")
            .filter(pl.col("observed_date") == pl.col("compared_to"))
            .select("source", "listing_id").with_columns(pl.lit(True).alias("_prev")))
    seen = before.select("source", "listing_id").unique().with_columns(pl.lit(True).alias("_seen"))

    flagged = (today.join(prev, on=["source", "listing_id"], how="left")
               .join(seen, on=["source", "listing_id"], how="left")
               .with_columns(pl.col("_prev").fill_null(False), pl.col("_seen").fill_null(False)))
    per_source = flagged.group_by("source").agg(
        pl.len().cast(pl.Int64).alias("active_postings"),
        (~pl.col("_seen")).sum().cast(pl.Int64).alias("new_postings"),
        pl.col("_prev").sum().cast(pl.Int64).alias("continuing_postings"),
        (pl.col("_seen") & ~pl.col("_prev")).sum().cast(pl.Int64).alias("repost_count"),
    )
    disappeared = (prev.join(today, on=["source", "listing_id"], how="anti")
                   .group_by("source").agg(pl.len().cast(pl.Int64).alias("disappeared_postings")))
    return (
        counts.join(per_source, on="source", how="left")
        .join(disappeared, on="source", how="left")
        .join(compared, on="source", how="left")
        .with_columns(
            d.alias("snapshot_date"),
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
                "raw_rows", "rejected_rows", "duplicate_rows", "rejection_rate", "duplicate_rate")
        .sort("source")
    )


def scores(snaps: pl.LazyFrame, pres: pl.LazyFrame, listings_today: pl.LazyFrame, day: date) -> pl.LazyFrame:
    """One score per source for `day`, 0-100, with every component stored."""
    d = pl.lit(day, dtype=pl.Date)
    first_seen = pres.group_by("source", "listing_id").agg(pl.col("observed_date").min().alias("first_seen"))
    ages = (pres.filter(pl.col("observed_date") == d).join(first_seen, on=["source", "listing_id"])
            .group_by("source").agg(((d - pl.col("first_seen")).dt.total_days())
                                    .median().alias("median_age_days")))
    quality = listings_today.group_by("source").agg(
        pl.col("quality_score").mean().alias("avg_quality_score"),
        (pl.col("posted_at") >= d - pl.duration(days=FRESH_DAYS)).mean().alias("_fresh_share"),
    )
    clip = lambda e: e.clip(0, 100)  # noqa: E731
    w = SCORE_WEIGHTS
    return (
        snaps.select("snapshot_date", "source", "kind", "active_postings", "repost_count", "rejection_rate")
        .join(ages, on="source", how="left").join(quality, on="source", how="left")
        .with_columns(
            clip(100 * (1 - pl.col("median_age_days").fill_null(0) / LIFESPAN_HORIZON_DAYS)).alias("lifespan_component"),
            clip(100 * (1 - pl.when(pl.col("active_postings") > 0)
                        .then(pl.col("repost_count") / pl.col("active_postings")).otherwise(0))).alias("repost_component"),
            clip(50 * (1 - pl.col("rejection_rate")) + 0.5 * pl.col("avg_quality_score").fill_null(0)).alias("data_quality_component"),
            clip(100 * pl.col("_fresh_share").fill_null(0)).alias("freshness_component"),
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
