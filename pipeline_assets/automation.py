"""Schedules and sensors.

- One collection schedule per source, on the cron in data/sources.yaml,
  requesting yesterday's source-day (a day is collected once it is over).
- `daily_rollup_sensor` starts the day's roll-up as soon as every enabled
  source has a deduped partition for it, and again whenever one of them is
  re-materialized (the run key carries the newest materialization id).
"""


from datetime import timedelta

from dagster import (AssetKey, AssetRecordsFilter, DefaultScheduleStatus, DefaultSensorStatus, RunRequest,
                     ScheduleEvaluationContext, SensorEvaluationContext, SkipReason, schedule, sensor)

from .jobs import daily_job, ingest_job
from .partitions import daily_partitions, source_catalog, source_day_key
from .transforms.sources import Source

ROLLUP_LOOKBACK_DAYS = 3


def _collection_schedule(src: Source):
    @schedule(name=f"collect_{src.name}", cron_schedule=src.schedule, job=ingest_job,
              execution_timezone="UTC", default_status=DefaultScheduleStatus.STOPPED,
              description=f"Collect yesterday's {src.name} ({src.kind}, {src.format}) on `{src.schedule}` UTC.")
    def _schedule(context: ScheduleEvaluationContext):
        day = (context.scheduled_execution_time - timedelta(days=1)).date()
        return RunRequest(run_key=f"{src.name}:{day}", partition_key=source_day_key(day, src.name),
                          tags={"source": src.name})
    return _schedule


collection_schedules = [_collection_schedule(s) for s in source_catalog().values() if s.enabled]


@sensor(job=daily_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED,
        description="Runs daily_job for a day once every enabled source has deduped_listings for it.")
def daily_rollup_sensor(context: SensorEvaluationContext):
    enabled = [s.name for s in source_catalog().values() if s.enabled]
    key = AssetKey("deduped_listings")
    done = context.instance.get_materialized_partitions(key)
    requests = []
    last = daily_partitions.get_last_partition_key()
    if last is None:
        return SkipReason("no daily partitions yet")
    keys = daily_partitions.get_partition_keys()[-ROLLUP_LOOKBACK_DAYS:]
    for day_key in keys:
        wanted = [str(source_day_key(daily_partitions.time_window_for_partition_key(day_key).start.date(), s))
                  for s in enabled]
        if not all(k in done for k in wanted):
            continue
        newest = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=wanted), limit=1, ascending=False).records
        stamp = newest[0].storage_id if newest else 0
        requests.append(RunRequest(run_key=f"rollup:{day_key}:{stamp}", partition_key=day_key))
    return requests or SkipReason("no day has every enabled source collected yet")
