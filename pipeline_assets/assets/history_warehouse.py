"""Postgres loads of the history outputs: COPY into staging, replace, one transaction.

A run of day D may have (re)written other days too (catch-up of missing
earlier days, recompute of later days built on an older version of D; see
assets/history.py). The per-day loads therefore replace exactly the days
that run wrote (`affected_days.json`), all in one transaction, so Postgres
never keeps a snapshot or score computed from a superseded history.
`core.listing_history` is a current-state table: it is replaced whole from
the latest day's state.
"""


from contextlib import ExitStack

import polars as pl
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset
from psycopg import sql

from resources import LakeResource, PostgresResource

from ..partitions import daily_partitions
from .history import HISTORY, affected_days, latest_state_day, state_meta

_DOC = (" Loaded with COPY into an UNLOGGED staging table, then, in the same transaction, the rows of every day "
        "this partition's history run wrote (the day, plus earlier days it caught up and later days it "
        "recomputed) are deleted and the staged rows inserted.")


def _load_days(context: AssetExecutionContext, lake: LakeResource, postgres: PostgresResource, asset_name: str,
               table: str, date_column: str) -> MaterializeResult:
    day = context.partition_time_window.start.date()
    postgres.apply_ddl()
    days = [d for d in affected_days(lake, day) if lake.exists(asset_name, d)]
    # A day without a file (listing_scores of a day without listings) only has its rows deleted.
    all_days = sorted(set(days) | {day})
    col = sql.Identifier(date_column)
    where = sql.SQL("{} = ANY({})").format(col, sql.Literal([d for d in all_days]))
    with ExitStack() as stack:
        files = [stack.enter_context(lake.local_file(lake.partition_file(asset_name, d))) for d in days]
        result = postgres.replace_partition("core", table, files, {date_column: day}, where=where)
    return MaterializeResult(metadata={
        "dagster/row_count": result["rows"], "rows_replaced": result["deleted"], "load_seconds": result["seconds"],
        "days_loaded": MetadataValue.json([d.isoformat() for d in all_days]),
        "table": f"core.{table}",
        "query": MetadataValue.md(f"```sql\nSELECT * FROM core.{table} WHERE {date_column} = '{day}';\n```"),
    })


def _daily_load(asset_name: str, date_column: str, description: str):
    """`postgres/<asset_name>`: the day's lake partition into `core.<asset_name>`."""
    @asset(partitions_def=daily_partitions, group_name="warehouse", kinds={"postgres"}, deps=[asset_name],
           key=AssetKey(["postgres", asset_name]), description=description + _DOC)
    def load(context: AssetExecutionContext, lake: LakeResource, postgres: PostgresResource):
        return _load_days(context, lake, postgres, asset_name, asset_name, date_column)
    return load


pg_listing_snapshots = _daily_load("listing_snapshots", "snapshot_date",
                                   "`core.listing_snapshots`: one row per (source, day), unique.")
pg_source_scores = _daily_load("source_scores", "score_date",
                               "`core.source_scores`: one score per (source, day) with its inputs, components "
                               "and weights.")
pg_listing_scores = _daily_load("listing_scores", "observed_date",
                                "`core.listing_scores`: per listing per day, quality, grade and trailing-window "
                                "market position.")


@asset(partitions_def=daily_partitions, group_name="warehouse", kinds={"postgres"},
       deps=["listing_history"], key=AssetKey(["postgres", "listing_history"]),
       description="`core.listing_history`: the current state, one row per (source, listing_id), from the latest "
                   "day's history state. When the table holds the previous day's state (fingerprint in "
                   "`core.listing_history_loaded`), only the rows that changed on the day are replaced (keyed by "
                   "source, listing_id; O(changed rows)); otherwise (backfill, correction, first load) the whole "
                   "table is replaced. Either way one transaction: COPY into staging, delete, insert.")
def pg_listing_history(context: AssetExecutionContext, lake: LakeResource, postgres: PostgresResource):
    day = context.partition_time_window.start.date()
    postgres.apply_ddl()
    latest = latest_state_day(lake) or day
    meta = state_meta(lake, latest)
    with postgres.connect() as conn:
        row = conn.execute("SELECT fingerprint FROM core.listing_history_loaded").fetchone()
    loaded = row[0] if row else None
    if loaded == meta["fingerprint"]:
        return MaterializeResult(metadata={"dagster/row_count": 0, "state_date": latest.isoformat(),
                                           "mode": "unchanged", "table": "core.listing_history"})

    def mark(conn) -> None:
        conn.execute("INSERT INTO core.listing_history_loaded (state_date, fingerprint) VALUES (%s, %s) "
                     "ON CONFLICT (only_row) DO UPDATE SET state_date = EXCLUDED.state_date, "
                     "fingerprint = EXCLUDED.fingerprint, loaded_at = now()", (latest, meta["fingerprint"]))

    with ExitStack() as stack:
        local = stack.enter_context(lake.local_file(lake.partition_file(HISTORY, latest)))
        if loaded is not None and loaded == meta.get("parent"):
            # The table holds the day before: replace the rows that changed today.
            changed = lake.scratch_file()
            stack.callback(changed.unlink, True)
            pl.scan_parquet(local).filter(pl.col("changed_on") == latest).sink_parquet(str(changed))
            mode = "changed rows"
            result = postgres.replace_partition("core", "listing_history", [changed], {"changed_on": latest},
                                                merge_on=["source", "listing_id"], before_commit=mark)
        else:
            mode = "full replace"
            result = postgres.replace_partition("core", "listing_history", [local], {"state_date": latest},
                                                where=sql.SQL("TRUE"), before_commit=mark)
    return MaterializeResult(metadata={
        "dagster/row_count": result["rows"], "rows_replaced": result["deleted"], "load_seconds": result["seconds"],
        "state_date": latest.isoformat(), "mode": mode, "table": "core.listing_history",
        "query": MetadataValue.md("```sql\nSELECT status, count(*) FROM core.listing_history GROUP BY 1;\n"
                                  "SELECT * FROM core.entity_history ORDER BY repost_count DESC LIMIT 20;\n```"),
    })
