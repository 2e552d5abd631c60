"""Postgres loads: COPY into staging, replace the partition, one transaction."""


from datetime import date

import polars as pl
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from resources import LakeResource, PostgresResource

from ..partitions import daily_partitions, source_day, source_day_partitions


def _load(lake: LakeResource, postgres: PostgresResource, asset_name: str, day: date, source: str | None,
          schema: str, table: str, partition: dict) -> MaterializeResult:
    postgres.apply_ddl()
    with lake.local_file(lake.partition_file(asset_name, day, source)) as local:
        result = postgres.replace_partition(schema, table, [local], partition)
    where = " AND ".join(f"{k} = '{v}'" for k, v in partition.items())
    return MaterializeResult(metadata={
        "dagster/row_count": result["rows"],
        "rows_replaced": result["deleted"],
        "load_seconds": result["seconds"],
        "table": f"{schema}.{table}",
        "query": MetadataValue.md(f"```sql\nSELECT * FROM {schema}.{table} WHERE {where};\n```"),
    })


_LOAD_DOC = (" Loaded with COPY into an UNLOGGED table in `staging`, then the partition's rows are "
             "deleted and inserted from staging in the same transaction: a re-run replaces instead of "
             "duplicating, and a failure leaves the previous rows untouched.")


@asset(partitions_def=daily_partitions, group_name="warehouse", kinds={"postgres"},
       deps=["enriched_listings"], key=AssetKey(["postgres", "listings"]),
       description="`core.listings`: the day's enriched listings (primary key observed_date, source, "
                   "listing_id)." + _LOAD_DOC)
def pg_listings(context: AssetExecutionContext, lake: LakeResource, postgres: PostgresResource):
    day = context.partition_time_window.start.date()
    return _load(lake, postgres, "enriched_listings", day, None, "core", "listings", {"observed_date": day})


@asset(partitions_def=source_day_partitions, group_name="warehouse", kinds={"postgres"},
       deps=["rejected_listings"], key=AssetKey(["postgres", "rejected_listings"]),
       description="`pipeline.rejected_listings`: a source-day's rejected rows with their reasons, for "
                   "review in SQL." + _LOAD_DOC)
def pg_rejected_listings(context: AssetExecutionContext, lake: LakeResource, postgres: PostgresResource):
    day, source = source_day(context.partition_key)
    return _load(lake, postgres, "rejected_listings", day, source, "pipeline", "rejected_listings",
                 {"observed_date": day, "source": source})


# core.listing_snapshots, core.source_scores, core.listing_history, core.listing_scores: see history_warehouse.py.


@asset(partitions_def=daily_partitions, group_name="warehouse", kinds={"postgres"},
       deps=["listing_entities"], key=AssetKey(["postgres", "listing_entities"]),
       description="`core.listing_entities`: the day's listing -> entity map with scores and reasons." + _LOAD_DOC)
def pg_listing_entities(context: AssetExecutionContext, lake: LakeResource, postgres: PostgresResource):
    day = context.partition_time_window.start.date()
    return _load(lake, postgres, "listing_entities", day, None, "core", "listing_entities", {"observed_date": day})


@asset(partitions_def=daily_partitions, group_name="warehouse", kinds={"postgres"},
       deps=["canonical_listings"], key=AssetKey(["postgres", "canonical_listings"]),
       description="`core.canonical_listings`: one current row per entity. The day's entities replace their "
                   "rows by `entity_id` (COPY into staging, keyed delete + insert, one transaction); entities "
                   "merged into an older one that day are deleted in the same transaction.")
def pg_canonical_listings(context: AssetExecutionContext, lake: LakeResource, postgres: PostgresResource):
    day = context.partition_time_window.start.date()
    postgres.apply_ddl()
    with lake.local_file(lake.partition_file("entity_merges", day)) as merges_local:
        merged = pl.read_parquet(merges_local)["merged"].to_list()

    def drop_merged(conn) -> None:
        if merged:
            conn.execute("DELETE FROM core.canonical_listings WHERE entity_id = ANY(%s)", (merged,))

    with lake.local_file(lake.partition_file("canonical_listings", day)) as local:
        result = postgres.replace_partition("core", "canonical_listings", [local], {"last_seen": day},
                                            merge_on=["entity_id"], before_commit=drop_merged)
    return MaterializeResult(metadata={
        "dagster/row_count": result["rows"], "rows_replaced": result["deleted"], "merged_deleted": len(merged),
        "load_seconds": result["seconds"], "table": "core.canonical_listings",
        "query": MetadataValue.md("```sql\nSELECT * FROM core.canonical_listings ORDER BY last_seen DESC LIMIT 100;\n```"),
    })
