"""Wiring between raw_listings and pipeline_assets.collect (HTTP sources).

Outcomes follow the job-board reference: `completed` (every page fetched),
`partial` (some pages failed, or the pagination cap was hit) and `failed`
(nothing fetched). Only `completed` publishes raw_listings; a partial
collection is never passed off as the day's data. What was fetched is kept
for review: the records under `raw_partial/`, the responses under
`raw_payloads/`.
"""

import asyncio
import shutil
from datetime import date
from pathlib import Path

from resources import LakeResource

from ..paths import DATA_DIR
from ..sources import HttpSourceConfig, SourceConfigError


class CollectionFailed(Exception):
    def __init__(self, message: str, *, uri: str | None = None, stage: str = "collect", status: str = "failed",
                 errors: list[dict] | None = None, metadata: dict | None = None) -> None:
        super().__init__(message)
        self.uri, self.stage, self.status = uri, stage, status
        self.errors = errors or []
        self.metadata = metadata or {}


def _raw_dir(lake: LakeResource, day: date, source: str) -> tuple[Path, bool]:
    """Where compressed responses live: in the lake for a local lake, else in
    scratch and uploaded after (so S3 lakes keep them too)."""
    target = lake.partition_dir("raw_payloads", day, source)
    if lake.is_local:
        return Path(target), False
    return lake.scratch_file(suffix=""), True


def collect_http(source: HttpSourceConfig, day: date, lake: LakeResource, out: Path, *, replay: bool, log) -> dict:
    from pipeline_assets.collect.collector import collect_source

    raw_dir, remote = _raw_dir(lake, day, source.name)
    if remote and replay:
        lake.fs().get(lake.partition_dir("raw_payloads", day, source.name) + "/", str(raw_dir) + "/", recursive=True)
    # ETag/Last-Modified state per source-day: a 304 re-reads the body kept in
    # that day's raw_payloads, so validators must not outlive it.
    state_dir = DATA_DIR / "state" / source.name / day.isoformat()
    try:
        report = asyncio.run(collect_source(source.resolved(), state_dir=state_dir, raw_dir=raw_dir,
                                            out_parquet=out, replay=replay))
    except (SourceConfigError, FileNotFoundError) as e:  # e.g. an auth token variable that is not set
        raise CollectionFailed(f"source {source.name} {day}: {e}", uri=source.url,
                               stage="config") from None
    if remote and not replay and raw_dir.exists():
        lake.fs().put(str(raw_dir) + "/", lake.partition_dir("raw_payloads", day, source.name) + "/", recursive=True)
        shutil.rmtree(raw_dir, ignore_errors=True)
    summary = {"status": report.status, "pages_ok": report.pages_ok, "pages_failed": report.pages_failed,
               "records": report.records, "truncated": report.truncated}
    log.info(f"{source.name} {day}: {summary}")
    status = "partial" if report.status == "completed" and report.truncated else report.status
    if status == "completed":
        return {"pages_ok": report.pages_ok, "raw_payloads": lake.partition_dir("raw_payloads", day, source.name),
                "replay": replay}
    errors = [{"uri": e.url, "message": e.error, "http_status": e.status, "attempts": e.attempts,
               "raw_path": e.raw_path} for e in report.errors]
    if report.truncated:
        errors.append({"uri": source.url,
                       "message": "pagination cap (max_pages) reached before the last page"})
    if status == "partial" and out.exists():
        # Keep what was fetched for review, outside raw_listings.
        lake.publish(out, "raw_partial", day, source.name)
    first = errors[0] if errors else {}
    msg = (f"source {source.name} {day}: collection {status}: {report.pages_ok} page(s) fetched, "
           f"{report.pages_failed} failed" + (f"; first error at {first.get('uri')}: {first.get('message')}"
                                               if first else ""))
    raise CollectionFailed(msg, uri=first.get("uri"), status=status, errors=errors, metadata=summary)
