"""Automation for CSV uploads.

- `upload_inbox_sensor` lists the inbox (LISTINGS_UPLOAD_INBOX: a local folder
  or s3:// prefix) every 30 s. A file not seen at this modification time and
  size is hashed; its key (name + content hash) becomes a dynamic partition and
  one run of upload_job, unless that partition already exists. The cursor
  remembers path -> "mtime:size", so unchanged files are not even re-hashed,
  and a file dropped again with the same bytes gives no new run.
- `upload_location_schedule` does the same for a location on a cron (the
  reference's scheduled jobs): a partner that overwrites one path every night
  gets each new version normalized once.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlparse

from dagster import (DefaultScheduleStatus, DefaultSensorStatus, RunRequest, ScheduleEvaluationContext,
                     SensorEvaluationContext, SensorResult, SkipReason, define_asset_job, schedule, sensor)

from resources.settings import UploadSettings, resolve_location, upload_settings_from_env

from .assets.uploads import UPLOAD_ASSETS, UPLOAD_SUFFIXES, file_sha256, upload_key, upload_partitions

upload_job = define_asset_job(
    "upload_job", selection=UPLOAD_ASSETS, partitions_def=upload_partitions,
    description="Normalize one uploaded CSV: copy it into the lake, detect and normalize its columns, "
                "load core.contacts.")


def _is_candidate(name: str) -> bool:
    # Hidden files and partial uploads (.tmp/.part, still being written) are skipped.
    return not name.startswith(".") and name.lower().endswith(UPLOAD_SUFFIXES)


def scan_location(settings: UploadSettings, location: str, cursor: str | None,
                  known: set[str]) -> tuple[list[tuple[str, str]], str]:
    """New (partition key, file URL) pairs at `location`, and the next cursor.
    The cursor maps file -> "mtime:size" of the version already looked at."""
    seen: dict[str, str] = json.loads(cursor) if cursor else {}
    fs, root = settings.fs(location)
    scheme = urlparse(location).scheme
    found: list[tuple[str, str]] = []
    keys = set(known)
    files = fs.find(root, detail=True) if fs.exists(root) else {}
    for path, info in sorted(files.items()):
        name = path.rsplit("/", 1)[-1]
        if info.get("type") == "directory" or not _is_candidate(name):
            continue
        stamp = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or ""
        version = f"{stamp}:{info.get('size')}"
        if seen.get(path) == version:
            continue
        seen[path] = version
        key = upload_key(name, file_sha256(fs, path))
        if key in keys:
            continue
        keys.add(key)
        found.append((key, path if scheme in ("", "file") else f"{scheme}://{path}"))
    return found, json.dumps(seen, sort_keys=True)


def _run_request(key: str, url: str) -> RunRequest:
    return RunRequest(run_key=f"upload:{key}", partition_key=key, tags={"upload_file": url},
                      run_config={"ops": {"uploaded_files": {"config": {"path": url}}}})


def inbox_sensor_result(settings: UploadSettings, cursor: str | None, known: set[str]) -> SensorResult:
    found, new_cursor = scan_location(settings, settings.inbox_url(), cursor, known)
    return SensorResult(
        run_requests=[_run_request(k, u) for k, u in found],
        dynamic_partitions_requests=[upload_partitions.build_add_request([k for k, _ in found])] if found else [],
        cursor=new_cursor,
        skip_reason=None if found else SkipReason("no new uploads"))


@sensor(job=upload_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.STOPPED,
        description="One upload_job run per new file in the upload inbox (LISTINGS_UPLOAD_INBOX, local or s3://); "
                    "the partition key is the file name plus its content hash.")
def upload_inbox_sensor(context: SensorEvaluationContext):
    known = set(context.instance.get_dynamic_partitions(upload_partitions.name))
    return inbox_sensor_result(upload_settings_from_env(), context.cursor, known)


def scheduled_requests(settings: UploadSettings, location: str, instance) -> list[RunRequest]:
    known = set(instance.get_dynamic_partitions(upload_partitions.name))
    found, _ = scan_location(settings, location, None, known)
    if found:
        # Schedules cannot return partition requests: register the keys first.
        instance.add_dynamic_partitions(upload_partitions.name, [k for k, _ in found])
    return [_run_request(k, u) for k, u in found]


@schedule(job=upload_job, cron_schedule=os.environ.get("LISTINGS_UPLOAD_SCHEDULE", "0 * * * *"),
          execution_timezone="UTC", default_status=DefaultScheduleStatus.STOPPED,
          description="Normalizes every new file version at LISTINGS_UPLOAD_SCHEDULED_LOCATION (default: the inbox) "
                      "on LISTINGS_UPLOAD_SCHEDULE (default hourly). Files already normalized are skipped by hash.")
def upload_location_schedule(context: ScheduleEvaluationContext):
    settings = upload_settings_from_env()

    location = resolve_location(os.environ.get("LISTINGS_UPLOAD_SCHEDULED_LOCATION", settings.inbox))
    requests = scheduled_requests(settings, location, context.instance)
    return requests or SkipReason(f"no new files at {location}")
