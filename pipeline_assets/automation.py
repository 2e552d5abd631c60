"""Jobs, schedules and sensors of the listings graph (uploads: upload_automation.py).

- Two jobs because a run has one partition key: `ingest_job` runs per
  source-day, `daily_job` (the roll-up) per day once the day's sources are in.
  They select the asset lists of `assets/__init__.py`.

- One collection schedule per source, on the cron in data/sources.yaml. File
  sources request yesterday's source-day (a day's file exists once the day is
  over); HTTP sources request today's (a scrape is the state as of now, and a
  later scrape the same day replaces it).
- `inbox_sensor` watches the locations of sources with `watch: true` (local or
  s3://) and requests one run per new or changed file, keyed by path,
  modification time and size.
- `daily_rollup_sensor` starts the day's roll-up as soon as every enabled
  source has a deduped partition for it, and again whenever one of them is
  re-materialized (the run key carries the newest materialization id).
"""


import json
import os
import re
from datetime import date, timedelta
from urllib.parse import urlparse

import fsspec

from dagster import (AssetKey, AssetRecordsFilter, AssetSelection, DefaultScheduleStatus, DefaultSensorStatus,
                     RunRequest, ScheduleEvaluationContext, SensorEvaluationContext, SkipReason, define_asset_job,
                     schedule, sensor)

from .assets import INGEST_ASSETS, ROLLUP_ASSETS
from .partitions import daily_partitions, source_catalog, source_day_key, source_day_partitions
from .paths import PROJECT_ROOT
from .sources import FileSource, Source, location_regex

ROLLUP_LOOKBACK_DAYS = 3

ingest_job = define_asset_job(
    "ingest_job", selection=AssetSelection.assets(*INGEST_ASSETS), partitions_def=source_day_partitions,
    description="Collect, validate and de-duplicate one source-day; load its rejects into Postgres.")

daily_job = define_asset_job(
    "daily_job", selection=AssetSelection.assets(*ROLLUP_ASSETS), partitions_def=daily_partitions,
    description="Enrich the day's listings across sources, compute snapshots and scores, load Postgres.")


def _collection_schedule(src: Source):
    @schedule(name=f"collect_{src.name}", cron_schedule=src.schedule, job=ingest_job,
              execution_timezone="UTC", default_status=DefaultScheduleStatus.STOPPED,
              description=(f"Collect {'today' if src.is_http else 'yesterday'}'s {src.name} ({src.kind}, "
                           f"{src.type if src.is_http else src.format}) on `{src.schedule}` UTC."))
    def _schedule(context: ScheduleEvaluationContext):
        lag = timedelta(days=0 if src.is_http else 1)
        day = (context.scheduled_execution_time - lag).date()
        return RunRequest(run_key=f"{src.name}:{day}", partition_key=source_day_key(day, src.name),
                          tags={"source": src.name})
    return _schedule


collection_schedules = [_collection_schedule(s) for s in source_catalog().values() if s.enabled and not s.watch]


def _watch_pattern(src: FileSource) -> tuple[fsspec.AbstractFileSystem, str, str]:
    loc = os.path.expandvars(src.location)
    if urlparse(loc).scheme in ("", "file") and not os.path.isabs(loc):
        loc = str(PROJECT_ROOT / loc)
    # "{date}*.csv" must not become "**.csv" (a recursive glob to fsspec).
    fs, path = fsspec.core.url_to_fs(re.sub(r"\*+", "*", loc.replace("{date}", "*")))
    _, template = fsspec.core.url_to_fs(loc)
    return fs, path, template


def inbox_requests(cursor: str | None) -> tuple[list[RunRequest], str, list[str]]:
    """Run requests for new or changed files of watched sources. The cursor maps
    file -> "mtime:size" of the version already requested."""
    seen: dict[str, str] = json.loads(cursor) if cursor else {}
    first_day = daily_partitions.start.date()
    requests, notes = [], []
    for src in source_catalog().values():
        if not (src.enabled and src.watch):
            continue
        fs, pattern, template = _watch_pattern(src)
        rx = location_regex(template)
        for path, info in sorted(fs.glob(pattern, detail=True).items()):
            m = rx.search(path)
            if not m:
                continue
            stamp = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or ""
            version = f"{stamp}:{info.get('size')}"
            key = f"{src.name}:{path}"
            if seen.get(key) == version:
                continue
            day = date.fromisoformat(m.group("date"))
            if day < first_day:
                notes.append(f"{path}: {day} is before the first partition {first_day}")
                seen[key] = version
                continue
            seen[key] = version
            requests.append(RunRequest(run_key=f"inbox:{key}:{version}", partition_key=source_day_key(day, src.name),
                                       tags={"source": src.name, "inbox_file": path}))
    return requests, json.dumps(seen, sort_keys=True), notes


@sensor(job=ingest_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.STOPPED,
        description="Requests an ingest run for each new or changed file at the location of a source with "
                    "`watch: true` (local or s3://). The partition date comes from the file name.")
def inbox_sensor(context: SensorEvaluationContext):
    requests, cursor, notes = inbox_requests(context.cursor)
    for note in notes:
        context.log.warning(note)
    context.update_cursor(cursor)
    return requests or SkipReason("no new files")


@sensor(job=daily_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED,
        description="Runs daily_job for a day once every scheduled source has deduped_listings for it.")
def daily_rollup_sensor(context: SensorEvaluationContext):
    # Scheduled sources only: inbox sources deliver on some days and not others.
    enabled = [s.name for s in source_catalog().values() if s.enabled and not s.watch]
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
