"""listing_snapshots and source_scores: per source per day."""


from contextlib import ExitStack
from datetime import date, timedelta

import polars as pl
from dagster import (AssetCheckResult, AssetCheckSpec, AssetDep, AssetExecutionContext, MaterializeResult,
                     MetadataValue, TimeWindowPartitionMapping, asset)

from resources import DuckDBResource, LakeResource, PipelineSettings

from ..metadata import lake_metadata
from ..partitions import daily_partitions, source_catalog
from ..transforms.history import SCORE_WEIGHTS, listing_quality, presence_stats, scores, snapshots
from .enrichment import by_date

# Day D compares with earlier days, so a backfill must finish D-1 before D.
# Declaring the dependency makes Dagster order the backfill that way.
with_previous_day = TimeWindowPartitionMapping(start_offset=-1, end_offset=0,
                                               allow_nonexistent_upstream_partitions=True)


def _window(day: date, days: int) -> list[date]:
    return [day - timedelta(days=i) for i in range(days, -1, -1)]


def _presence_stats(lake: LakeResource, duckdb: DuckDBResource, day: date,
                    settings: PipelineSettings) -> pl.LazyFrame:
    files = [lake.partition_file("deduped_listings", d, s) for d in _window(day, settings.history_window_days)
             for s in sorted(source_catalog()) if lake.exists("deduped_listings", d, s)]
    if not files:
        raise FileNotFoundError(f"no deduped_listings for {day}")
    with ExitStack() as stack:
        local = [str(stack.enter_context(lake.local_file(f))) for f in files]
        con = duckdb.connect()
        try:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in local)
            stats = presence_stats(con, f"(SELECT source, listing_id, observed_date FROM read_parquet([{listed}]))",
                                   day)
        finally:
            con.close()
    return stats.lazy()


def _counts(lake: LakeResource, day: date) -> tuple[pl.LazyFrame, list[str]]:
    rows, missing = [], []
    for name, src in sorted(source_catalog().items()):
        if not lake.exists("deduped_listings", day, name):
            missing.append(name)
            continue
        n = {asset: lake.parquet_rows(asset, day, name)
             for asset in ("raw_listings", "rejected_listings", "duplicate_listings")}
        rows.append({"source": name, "kind": src.kind, "raw_rows": n["raw_listings"],
                     "rejected_rows": n["rejected_listings"], "duplicate_rows": n["duplicate_listings"]})
    schema = {"source": pl.String, "kind": pl.String, "raw_rows": pl.Int64, "rejected_rows": pl.Int64,
              "duplicate_rows": pl.Int64}
    return pl.LazyFrame(rows, schema=schema), missing


@asset(
    partitions_def=daily_partitions,
    group_name="history",
    kinds={"polars", "parquet"},
    deps=[AssetDep("enriched_listings", partition_mapping=with_previous_day),
          AssetDep("rejected_listings", partition_mapping=by_date),
          AssetDep("duplicate_listings", partition_mapping=by_date)],
    description=(
        "Per source per day: `posting_count` (records collected), `active_postings` (distinct "
        "listings present), `new_postings` (never seen in the trailing window), `continuing_postings`, "
        "`repost_count` (back after missing the comparison day), `disappeared_postings` (present on the "
        "comparison day, gone today) and data quality rates. The comparison day (`compared_to`) is the "
        "source's latest earlier day with data, so a failed collection is not read as every listing "
        "disappearing. Sources with no data for the day get no row and are listed in the metadata."),
    check_specs=[AssetCheckSpec("snapshot_accounting", asset="listing_snapshots",
                                description="active = new + continuing + reposts for every source.")],
)
def listing_snapshots(context: AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource,
                      settings: PipelineSettings):
    day = context.partition_time_window.start.date()
    counts, missing = _counts(lake, day)
    out = lake.scratch_file()
    snapshots(_presence_stats(lake, duckdb, day, settings), day, counts).sink_parquet(str(out))
    df = pl.read_parquet(str(out))
    unbalanced = df.filter(pl.col("active_postings") != pl.col("new_postings") + pl.col("continuing_postings")
                           + pl.col("repost_count")).height
    meta = lake_metadata(out, lake.partition_file("listing_snapshots", day))
    lake.publish(out, "listing_snapshots", day)
    yield MaterializeResult(metadata={**meta, "missing_sources": MetadataValue.json(missing)})
    yield AssetCheckResult(check_name="snapshot_accounting", passed=unbalanced == 0,
                           metadata={"unbalanced_sources": unbalanced})


@asset(
    partitions_def=daily_partitions,
    group_name="history",
    kinds={"polars", "parquet"},
    deps=["listing_snapshots", "enriched_listings"],
    description=(
        "A 0-100 score per source per day with the job-board reference's 40/30/20/10 structure: "
        "lifespan 40% (shorter median listing age is better), reposts 30% (fewer is better), data "
        "quality 20% (replaces surveys: acceptance rate and average listing quality) and freshness 10% "
        "(replaces candidates: share of listings posted in the last 30 days). Each component and "
        "weight is stored beside the total."),
    metadata={"weights": MetadataValue.json(SCORE_WEIGHTS)},
)
def source_scores(context: AssetExecutionContext, lake: LakeResource):
    day = context.partition_time_window.start.date()
    snaps = lake.scan("listing_snapshots", [day], per_source=False)
    today = lake.scan("enriched_listings", [day], per_source=False)
    if snaps is None or today is None:
        raise FileNotFoundError(f"listing_snapshots / enriched_listings missing for {day}")
    out = lake.scratch_file()
    scores(snaps, listing_quality(today, day)).sink_parquet(str(out))
    meta = lake_metadata(out, lake.partition_file("source_scores", day),
                         ["source", "score", "lifespan_component", "repost_component",
                          "data_quality_component", "freshness_component"])
    lake.publish(out, "source_scores", day)
    return MaterializeResult(metadata=meta)
