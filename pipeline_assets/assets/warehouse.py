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
    postgres.apply_ddl()
    with lake.local_file(lake.partition_file("entity_merges", day)) as merges_local:
        merges = pl.read_parquet(merges_local).select("merged", "into_entity")

    def redirect_merged(conn) -> None:
        # Today's evidence joined entities that earlier days kept apart: their
        # earlier rows move to the surviving id, so an entity's history reads
        # under one id. Same transaction as the load: all or nothing.
        conn.execute("DELETE FROM core.entity_merges WHERE merge_date = %s", (day,))
        if merges.height:
            with conn.cursor() as cur, cur.copy(
                    "COPY core.entity_merges (merge_date, merged, into_entity) FROM STDIN") as copy:
                for merged, into in merges.iter_rows():
                    copy.write_row((day, merged, into))
            conn.execute("""UPDATE core.listing_entities le SET entity_id = m.into_entity
                            FROM core.entity_merges m
                            WHERE m.merge_date = %s AND le.entity_id = m.merged AND le.observed_date < %s""",
                         (day, day))

    with lake.local_file(lake.partition_file("listing_entities", day)) as local:
        result = postgres.replace_partition("core", "listing_entities", [local], {"observed_date": day},
                                            before_commit=redirect_merged)
    return MaterializeResult(metadata={
        "dagster/row_count": result["rows"], "rows_replaced": result["deleted"],
        "entities_merged_into_older": merges.height, "load_seconds": result["seconds"],
        "table": "core.listing_entities",
        "query": MetadataValue.md(f"```sql\nSELECT * FROM core.listing_entities WHERE observed_date = '{day}';\n"
                                  "-- merges that redirected earlier days\nSELECT * FROM core.entity_merges "
                                  f"WHERE merge_date = '{day}';\n```"),
    })


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
