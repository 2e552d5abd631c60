"""enriched_listings: one day across all sources."""


from contextlib import ExitStack

from dagster import (AssetCheckResult, AssetCheckSpec, AssetDep, AssetExecutionContext, MaterializeResult,
                     MultiToSingleDimensionPartitionMapping, asset)

import polars as pl

from resources import DuckDBResource, LakeResource

from ..metadata import lake_metadata, markdown_table
from ..partitions import daily_partitions, source_catalog
from ..transforms.batches import map_batches_to_parquet
from ..transforms.enrich import enrich, market_inputs, market_stats_sql

by_date = MultiToSingleDimensionPartitionMapping(partition_dimension_name="date")


@asset(
    partitions_def=daily_partitions,
    group_name="enrichment",
    kinds={"polars", "parquet"},
    deps=[AssetDep("deduped_listings", partition_mapping=by_date)],
    description=(
        "A day's deduped listings from every source, enriched: `region` (US Census region of the "
        "state), `investment_grade` (A+ sports cars, A muscle cars, A- 1950-1970, else B+), "
        "`quality_score` (0-100, weighted completeness of the kind's optional fields) and market "
        "position: the listing's price against the median of its segment (vehicles: make+model+year; "
        "jobs: title) over the day's listings from all sources (`price_vs_market`, `market_position` "
        "below/at/above with a +-10% band, only for segments with >= 3 listings)."),
    check_specs=[AssetCheckSpec("unique_listing_per_source", asset="enriched_listings",
                                description="(source, listing_id) is unique within the day.")],
)
def enriched_listings(context: AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource):
    day = context.partition_time_window.start.date()
    deduped = lake.scan("deduped_listings", [day])
    if deduped is None:
        raise FileNotFoundError(f"no deduped_listings partitions for {day}: run the ingest for that day first")
    # Market statistics first (narrow, in DuckDB under its memory limit), then
    # one streaming pass that joins the small per-segment table.
    inputs, out = lake.scratch_file(), lake.scratch_file()
    market_inputs(deduped).sink_parquet(str(inputs))
    con = duckdb.connect()
    try:
        market = con.sql(market_stats_sql(f"read_parquet('{inputs}')")).pl().lazy()
    finally:
        con.close()
        inputs.unlink(missing_ok=True)
    files = [lake.partition_file("deduped_listings", day, s) for s in sorted(source_catalog())
             if lake.exists("deduped_listings", day, s)]
    with ExitStack() as stack:
        local = [stack.enter_context(lake.local_file(f)) for f in files]
        map_batches_to_parquet(local, lambda lf: enrich(lf, market), out)
    df = pl.scan_parquet(str(out))
    summary = (df.group_by("source", "kind").agg(
        pl.len().alias("listings"), pl.col("quality_score").mean().round(1).alias("avg_quality"),
        pl.col("market_position").value_counts().alias("_vc")).drop("_vc").sort("source").collect())
    grades = df.group_by("investment_grade").len().sort("investment_grade").collect()
    dupes = df.group_by("source", "listing_id").len().filter(pl.col("len") > 1).select(pl.len()).collect().item()
    meta = lake_metadata(out, lake.partition_file("enriched_listings", day),
                         ["source", "title", "price", "region", "investment_grade", "quality_score",
                          "price_vs_market", "market_position"])
    lake.publish(out, "enriched_listings", day)
    yield MaterializeResult(metadata={**meta, "by_source": markdown_table(summary),
                                      "investment_grades": markdown_table(grades)})
    yield AssetCheckResult(check_name="unique_listing_per_source", passed=dupes == 0,
                           metadata={"duplicated_keys": dupes})
