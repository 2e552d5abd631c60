"""Listing enrichment: region, investment grade, market position, quality.

Rules come from the automotive reference: the investment grade is A+ for
sports cars, A for muscle cars, A- for 1950-1970 vehicles and B+ otherwise;
regions are the US Census regions of the listing's state.
"""

from __future__ import annotations

import polars as pl

from .kinds import KINDS

CENSUS_REGIONS = {
    "Northeast": "CT ME MA NH RI VT NJ NY PA",
    "Midwest": "IL IN MI OH WI IA KS MN MO NE ND SD",
    "South": "DE DC FL GA MD NC SC VA WV AL KY MS TN AR LA OK TX",
    "West": "AZ CO ID MT NV NM UT WY AK CA HI OR WA",
}

SPORTS_CARS = ("Corvette", "Porsche", "Ferrari", "Jaguar")
MUSCLE_CARS = ("Chevelle", "GTO", "Challenger", "Camaro", "Mustang")

# A segment needs this many listings before a price position is meaningful.
MIN_MARKET_SAMPLE = 3
# Within +-10% of the segment median counts as "at market".
AT_MARKET_BAND = 0.10


def region() -> pl.Expr:
    # Element-wise (streams); replace_strict would fall back to in-memory.
    expr = pl.lit(None, dtype=pl.String)
    for name, states in CENSUS_REGIONS.items():
        expr = pl.when(pl.col("state").is_in(states.split())).then(pl.lit(name)).otherwise(expr)
    return expr


def _contains_any(s: pl.Expr, words: tuple[str, ...]) -> pl.Expr:
    return s.str.contains("|".join(words))


def investment_grade() -> pl.Expr:
    name = pl.concat_str([pl.col("make"), pl.col("model")], separator=" ", ignore_nulls=True)
    return (
        pl.when(pl.col("kind") != "vehicles").then(None)
        .when(_contains_any(name, SPORTS_CARS)).then(pl.lit("A+"))
        .when(_contains_any(name, MUSCLE_CARS)).then(pl.lit("A"))
        .when(pl.col("year").is_between(1950, 1970)).then(pl.lit("A-"))
        .otherwise(pl.lit("B+"))
    )


def _per_kind(build) -> pl.Expr:
    expr = None
    for kind in KINDS.values():
        branch = build(kind)
        expr = (pl.when(pl.col("kind") == kind.name).then(branch) if expr is None
                else expr.when(pl.col("kind") == kind.name).then(branch))
    return expr.otherwise(None)


def quality_score() -> pl.Expr:
    """Completeness: weighted share of the kind's optional fields present, 0-100."""
    def build(kind):
        weighted = [(f.name, f.quality_weight) for f in kind.fields if f.quality_weight > 0]
        total = sum(w for _, w in weighted)
        return (pl.sum_horizontal([pl.col(n).is_not_null().cast(pl.Float64) * w for n, w in weighted])
                / total * 100).round(1)
    return _per_kind(build)


def market_segment() -> pl.Expr:
    def build(kind):
        return pl.concat_str([pl.lit(kind.name)] + [pl.col(k).cast(pl.String).str.to_lowercase()
                                                     for k in kind.market_keys], separator="|")
    return _per_kind(build)


def market_value() -> pl.Expr:
    return _per_kind(lambda kind: pl.col(kind.market_value).cast(pl.Float64))


def market_inputs(listings: pl.LazyFrame) -> pl.LazyFrame:
    """The narrow projection market statistics need: one value per listing and segment."""
    return listings.select(
        "listing_id", market_segment().alias("market_segment"), market_value().alias("market_value"),
    ).filter(pl.col("market_value").is_not_null() & pl.col("market_segment").is_not_null())


def market_stats_sql(inputs_relation: str) -> str:
    """Segment medians in DuckDB, which spills the per-listing de-duplication to
    disk under its memory limit; the result has one row per segment. A vehicle
    listed on two sites counts once (per listing_id), so cross-posting does not
    move its segment's median."""
    return f"""
        SELECT market_segment, median(market_value) AS market_median,
               count(*)::BIGINT AS market_sample_size
        FROM (SELECT listing_id, any_value(market_segment) AS market_segment,
                     any_value(market_value) AS market_value
              FROM {inputs_relation} GROUP BY listing_id)
        GROUP BY market_segment"""


def enrich(listings: pl.LazyFrame, market: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Add enrichment columns to a day's deduped listings (all sources).

    `market` (from market_stats_sql) is small: one row per segment. Without it
    the statistics are computed here in Polars, which is fine for small frames
    and tests but holds the day in memory."""
    base = listings.with_columns(
        region().alias("region"),
        investment_grade().alias("investment_grade"),
        quality_score().alias("quality_score"),
        market_segment().alias("market_segment"),
        market_value().alias("_market_value"),
    )
    if market is None:
        market = (
            market_inputs(listings).unique(subset=["listing_id"], keep="first")
            .group_by("market_segment")
            .agg(pl.col("market_value").median().alias("market_median"),
                 pl.len().cast(pl.Int64).alias("market_sample_size"))
        )
    ratio = pl.col("_market_value") / pl.col("market_median") - 1
    comparable = (pl.col("market_sample_size") >= MIN_MARKET_SAMPLE) & pl.col("_market_value").is_not_null()
    return (
        base.join(market, on="market_segment", how="left")
        .with_columns(
            pl.when(comparable).then(ratio.round(4)).alias("price_vs_market"),
            pl.when(~comparable).then(None)
            .when(ratio < -AT_MARKET_BAND).then(pl.lit("below"))
            .when(ratio > AT_MARKET_BAND).then(pl.lit("above"))
            .otherwise(pl.lit("at")).alias("market_position"),
        )
        .drop("_market_value")
    )
