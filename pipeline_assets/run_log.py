"""Copy Dagster's run history into Postgres (`pipeline.dagster_runs`, `pipeline.dagster_run_assets`).

Dagster's run storage is its own database (`<name>_dagster`, see dagster.yaml),
and a view cannot join across databases without an extension, so finished
runs are upserted into the warehouse, where the views `pipeline.pipeline_stats`,
`pipeline.pipeline_schedule` and `pipeline.pipeline_job_stats` read them.
Upserts are keyed by run id: syncing twice changes nothing.

Callers: `run_log_sensor` (every minute in `listings dev`), `listings run`
after its runs, and the tests.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import psycopg
from dagster import (DagsterEventType, DagsterInstance, DagsterRunStatus, DefaultSensorStatus, RunsFilter, SensorEvaluationContext,
                     SkipReason, sensor)

from resources import PostgresResource

FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


def _ts(t: float | None) -> datetime | None:
    return datetime.fromtimestamp(t, tz=timezone.utc) if t else None


def sync_runs(instance: DagsterInstance, database_url: str, updated_after: datetime | None = None,
              limit: int = 1000) -> tuple[int, datetime | None]:
    """Upsert finished runs updated after `updated_after`. Returns (runs synced, newest update time)."""
    records = instance.get_run_records(filters=RunsFilter(statuses=FINISHED, updated_after=updated_after),
                                       limit=limit, order_by="update_timestamp", ascending=True)
    newest = updated_after
    with psycopg.connect(database_url) as conn, conn.transaction():
        for rec in records:
            run = rec.dagster_run
            dur = (rec.end_time - rec.start_time) if rec.start_time and rec.end_time else None
            conn.execute(
                """INSERT INTO pipeline.dagster_runs (run_id, job_name, status, partition_key, started_at, ended_at,
                                                      duration_s, tags, synced_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())
                   ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, started_at = EXCLUDED.started_at,
                       ended_at = EXCLUDED.ended_at, duration_s = EXCLUDED.duration_s, tags = EXCLUDED.tags,
                       synced_at = now()""",
                (run.run_id, run.job_name, run.status.value, run.tags.get("dagster/partition"),
                 _ts(rec.start_time), _ts(rec.end_time), dur,
                 json.dumps({k: v for k, v in run.tags.items() if not k.startswith(".")})))
            steps = {s.step_key: s for s in instance.get_run_step_stats(run.run_id)}
            assets: dict[str, tuple[str | None, bool, str | None, float | None]] = {}
            for s in steps.values():
                took = (s.end_time - s.start_time) if s.start_time and s.end_time else None
                for ev in s.materialization_events or []:
                    key = ev.dagster_event.asset_key.to_user_string()
                    assets[key] = (s.step_key, True, s.status.value if s.status else None, took)
            planned = instance.get_records_for_run(
                run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED, limit=10_000).records
            for key in {r.event_log_entry.dagster_event.asset_key for r in planned} | set(run.asset_selection or []):
                name = key.to_user_string()
                if name not in assets:
                    step = steps.get("__".join(key.path))
                    assets[name] = (step.step_key if step else None, False,
                                    step.status.value if step and step.status else None,
                                    (step.end_time - step.start_time) if step and step.start_time and step.end_time
                                    else None)
            conn.execute("DELETE FROM pipeline.dagster_run_assets WHERE run_id = %s", (run.run_id,))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO pipeline.dagster_run_assets (run_id, asset_key, step_key, materialized, step_status, "
                    "duration_s) VALUES (%s, %s, %s, %s, %s, %s)",
                    [(run.run_id, k, *v) for k, v in sorted(assets.items())])
            ts = _ts(rec.update_timestamp.timestamp()) if rec.update_timestamp else None
            if ts and (newest is None or ts > newest):
                newest = ts
    return len(records), newest


@sensor(minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED,
        description="Copies finished Dagster runs into pipeline.dagster_runs / dagster_run_assets for the "
                    "pipeline_stats, pipeline_schedule and pipeline_job_stats views.")
def run_log_sensor(context: SensorEvaluationContext, postgres: PostgresResource):
    postgres.apply_ddl()
    after = datetime.fromisoformat(context.cursor) if context.cursor else None
    n, newest = sync_runs(context.instance, postgres.url, after)
    if newest is not None:
        context.update_cursor(newest.isoformat())
    return SkipReason(f"synced {n} run(s)")
