"""deduped_listings + duplicate_listings: exact duplicates out, stable ids in."""


from dagster import (AssetCheckResult, AssetCheckSpec, AssetExecutionContext, AssetOut, MaterializeResult,
                     multi_asset)

from resources import DuckDBResource, LakeResource

from ..metadata import lake_metadata, markdown_table, parquet_rows
from ..partitions import source_catalog, source_day, source_day_partitions
from ..transforms.dedup import dedup
from ..transforms.kinds import get_kind


@multi_asset(
    partitions_def=source_day_partitions,
    group_name="dedup",
    outs={
        "deduped_listings": AssetOut(
            kinds={"duckdb", "parquet"},
            description=(
                "One row per listing per source-day. `content_hash` is SHA-256 over a versioned canonical "
                "form of the content fields; `listing_id` is stable across days and re-runs: from the VIN, "
                "else source + source listing id, else the content hash. Fuzzy and cross-source matching "
                "(entity resolution) reads this asset."),
        ),
        "duplicate_listings": AssetOut(
            kinds={"duckdb", "parquet"},
            description=(
                "Every valid row removed as a duplicate, with `duplicate_kind` (`exact`: same content "
                "hash; `same_listing`: an older version of the same listing_id in the same file) and "
                "the row it duplicates. validated = deduped + duplicates."),
        ),
    },
    deps=["validated_listings", "raw_listings", "rejected_listings"],
    check_specs=[
        AssetCheckSpec("row_accounting", asset="deduped_listings",
                       description="raw rows = deduped + duplicates + rejected: every input row is accounted for."),
        AssetCheckSpec("unique_listing_id", asset="deduped_listings",
                       description="No listing_id appears twice in a source-day."),
    ],
)
def dedup_listings(context: AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource):
    day, source_name = source_day(context.partition_key)
    kind = get_kind(source_catalog()[source_name].kind)
    deduped_file, dup_file = lake.scratch_file(), lake.scratch_file()
    con = duckdb.connect()
    with lake.local_file(lake.partition_file("validated_listings", day, source_name)) as validated_local:
        deduped, dups = dedup(con, str(validated_local), kind)
        deduped.write_parquet(str(deduped_file), compression="zstd")
        dups.write_parquet(str(dup_file), compression="zstd")
        by_kind = con.sql(f"SELECT duplicate_kind, count(*) AS rows FROM '{dup_file}' "
                          "GROUP BY 1 ORDER BY 1").pl()
        distinct_ids = con.execute(f"SELECT count(DISTINCT listing_id) FROM '{deduped_file}'").fetchone()[0]
    con.close()

    n_deduped, n_dups = parquet_rows(deduped_file), parquet_rows(dup_file)
    n_raw = lake.parquet_rows("raw_listings", day, source_name)
    n_rejected = lake.parquet_rows("rejected_listings", day, source_name)

    d_meta = lake_metadata(deduped_file, lake.partition_file("deduped_listings", day, source_name),
                           ["listing_id", "source_listing_id", "title", "vin", "price"])
    x_meta = lake_metadata(dup_file, lake.partition_file("duplicate_listings", day, source_name),
                           ["duplicate_kind", "_row", "duplicate_of_row", "source_listing_id", "title"])
    lake.publish(deduped_file, "deduped_listings", day, source_name)
    lake.publish(dup_file, "duplicate_listings", day, source_name)

    yield MaterializeResult(asset_key="deduped_listings", metadata={**d_meta, "duplicates_removed": n_dups})
    yield MaterializeResult(asset_key="duplicate_listings", metadata={
        **x_meta, "by_kind": markdown_table(by_kind)})
    balanced = n_raw == n_deduped + n_dups + n_rejected
    yield AssetCheckResult(
        asset_key="deduped_listings", check_name="row_accounting", passed=balanced,
        metadata={"raw_rows": n_raw, "deduped_rows": n_deduped, "duplicate_rows": n_dups,
                  "rejected_rows": n_rejected, "unaccounted": n_raw - n_deduped - n_dups - n_rejected})
    yield AssetCheckResult(
        asset_key="deduped_listings", check_name="unique_listing_id", passed=distinct_ids == n_deduped,
        metadata={"rows": n_deduped, "distinct_listing_ids": distinct_ids})
