"""raw_listings: collect one source-day as it arrived.

File sources read every file matching their location (local, s3://, https://,
globs); HTTP sources (json_api, html, xml) are collected by
pipeline_assets.collect. Either way the result is one all-text Parquet file
with lineage, and the source's outcome (completed / partial / failed) is kept
in pipeline.configs, with each failed page or file in pipeline.errors.
"""

from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import fsspec
from dagster import AssetExecutionContext, Config, Failure, MaterializeResult, MetadataValue, asset
from psycopg.types.json import Jsonb
from pydantic import Field

from resources import LakeResource, PostgresResource

from ..collect.http import DownloadError, download_file
from ..metadata import lake_metadata
from ..partitions import source_catalog, source_day, source_day_partitions
from ..paths import PROJECT_ROOT
from ..raw.files import read_to_parquet, sha256_file
from ..raw.records import SourceParseError, concat_raw
from ..sources import FileSource, Source
from .collect_http import CollectionFailed, collect_http


class CollectionConfig(Config):
    replay: bool = Field(default=False, description=(
        "Rebuild raw_listings from the raw payloads kept in the lake (raw_payloads/) without fetching "
        "anything: re-run validation and later stages after a mapping or parser fix."))


def record_error(postgres: PostgresResource, day: date, source: str, stage: str, uri: str | None,
                 message: str, run_id: str, http_status: int | None = None, attempts: int | None = None,
                 raw_path: str | None = None) -> None:
    postgres.apply_ddl()
    postgres.execute(
        "INSERT INTO pipeline.errors (observed_date, source, stage, uri, message, run_id, http_status, attempts, "
        "raw_path) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (day, source, stage, uri, message, run_id, http_status, attempts, raw_path))


def mirror_config(postgres: PostgresResource, source: Source) -> None:
    """Keep pipeline.configs in step with sources.yaml (values as parameters)."""
    postgres.apply_ddl()
    postgres.execute(
        "INSERT INTO pipeline.configs (source, kind, source_type, enabled, schedule, config) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (source) DO UPDATE SET kind = EXCLUDED.kind, "
        "source_type = EXCLUDED.source_type, enabled = EXCLUDED.enabled, schedule = EXCLUDED.schedule, "
        "config = EXCLUDED.config, updated_at = now()",
        (source.name, source.kind, source.type, source.enabled, source.schedule,
         Jsonb(source.catalog_record())))


def record_outcome(postgres: PostgresResource, source: str, day: date, status: str, error: str | None,
                   run_id: str) -> None:
    postgres.execute(
        "UPDATE pipeline.configs SET last_scrape_at = now(), last_status = %s, last_partition = %s, "
        "last_error = %s, last_run_id = %s WHERE source = %s", (status, day, error, run_id, source))


def location_files(uri: str) -> list[str]:
    """The files a location names: itself, or every match of its glob.

    An http(s) location is always one file, fetched by the guarded client: HTTP
    has no listing (fsspec would scrape an index page, outside the allowed-host
    and private-address checks), and `?` there starts a query, not a glob."""
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        if any(ch in uri for ch in "*["):
            raise OSError("globs are not supported over http(s); name one file per day")
        return [uri]
    if not any(ch in uri for ch in "*?["):
        return [uri]
    fs, path = fsspec.core.url_to_fs(uri)
    found = sorted(fs.glob(path))
    return [f if scheme in ("", "file") else f"{scheme}://{f}" for f in found]


def _fetch(uri: str, lake: LakeResource, source: FileSource) -> tuple[Path, datetime, bool]:
    """A local path for the file plus its modification time. Remote files are
    streamed to scratch; the mtime (not the wall clock) is the fetch stamp, so
    replaying an unchanged file is byte-for-byte idempotent."""
    scheme = urlparse(uri).scheme
    if scheme in ("", "file"):
        p = Path(uri.removeprefix("file://"))
        if not p.exists():
            raise FileNotFoundError(f"{uri}: file not found")
        return p, datetime.fromtimestamp(p.stat().st_mtime, timezone.utc).replace(microsecond=0), False
    if scheme in ("http", "https"):
        # Somebody else's server: allowed hosts, public addresses and checked
        # redirects: the scrapers' own client, streaming (see collect/http.py).
        tmp = lake.scratch_file(Path(urlparse(uri).path).suffix or ".bin")
        got = download_file(uri, tmp, source=source.name, allowed_hosts=list(source.allowed_hosts) or None,
                            allow_private_networks=source.allow_private_networks)
        stamp = got.last_modified or datetime.now(timezone.utc)
        return tmp, stamp.replace(microsecond=0), True
    fs, path = fsspec.core.url_to_fs(uri)
    info = fs.info(path)
    stamp = info.get("LastModified") or info.get("mtime") or info.get("last_modified")
    fetched = (stamp if isinstance(stamp, datetime) else datetime.now(timezone.utc)).astimezone(timezone.utc)
    tmp = lake.scratch_file(Path(path).suffix or ".bin")
    fs.get_file(path, str(tmp))
    return tmp, fetched.replace(microsecond=0), True


def _collect_files(source: FileSource, day: date, lake: LakeResource, postgres: PostgresResource,
                   out: Path) -> dict:
    location = source.location_for(day, PROJECT_ROOT)
    try:
        uris = location_files(location)
    except OSError as e:
        raise CollectionFailed(f"source {source.name} {day}: cannot list {location}: {e}", uri=location) from None
    if not uris:
        raise CollectionFailed(f"source {source.name} {day}: no file matches {location}", uri=location)
    parts: list[tuple[Path, int]] = []
    kept: list[str] = []
    for uri in uris:
        try:
            local, fetched_at, temporary = _fetch(uri, lake, source)
        except DownloadError as e:
            msg = f"source {source.name} {day}: cannot fetch {uri}: {e}"
            raise CollectionFailed(msg, uri=uri, errors=[{"uri": e.url, "message": msg, "http_status": e.status,
                                                          "attempts": e.attempts}]) from None
        except (FileNotFoundError, OSError) as e:
            raise CollectionFailed(f"source {source.name} {day}: cannot fetch {uri}: {e}", uri=uri) from None
        part = lake.scratch_file()
        try:
            n = read_to_parquet(local, source.format, part, origin=uri, fetched_at=fetched_at,
                                record_path=source.record_path)
            checksum, size = sha256_file(local), local.stat().st_size
            kept.append(lake.keep_payload(local, day, source.name, Path(urlparse(uri).path).name))
        except SourceParseError as e:
            part.unlink(missing_ok=True)
            raise CollectionFailed(str(e), uri=uri, stage="parse") from None
        finally:
            if temporary:
                local.unlink(missing_ok=True)
        postgres.execute(
            "INSERT INTO pipeline.files (observed_date, source, uri, sha256, bytes, records, fetched_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (observed_date, source, uri) DO UPDATE SET "
            "sha256 = EXCLUDED.sha256, bytes = EXCLUDED.bytes, records = EXCLUDED.records, "
            "fetched_at = EXCLUDED.fetched_at", (day, source.name, uri, checksum, size, n, fetched_at))
        parts.append((part, n))
    concat_raw(parts, out)
    return {"files": MetadataValue.json(uris), "location": location, "raw_payloads": MetadataValue.json(kept)}


@asset(
    partitions_def=source_day_partitions,
    group_name="collection",
    kinds={"python", "parquet"},
    description=(
        "Records exactly as collected from each source, one partition per source and day: files "
        "(local, s3://, https://, globs) or HTTP sources (paginated JSON APIs, HTML pages, XML feeds). "
        "Every source field is kept as text (nested JSON flattened to dotted names) with lineage: "
        "`_file` (file or page URL), `_row`, `_line`, `_fetched_at` and `_payload_hash` (SHA-256 of the "
        "record). A source-day that cannot collect everything fails with the file, line or URL in the "
        "error; each failure is in `pipeline.errors` and the source's last status in `pipeline.configs`. "
        "HTTP responses are kept gzip-compressed under `raw_payloads/` for replay."
    ),
)
def raw_listings(context: AssetExecutionContext, config: CollectionConfig, lake: LakeResource,
                 postgres: PostgresResource) -> MaterializeResult:
    day, source_name = source_day(context.partition_key)
    source = source_catalog()[source_name]
    mirror_config(postgres, source)
    out = lake.scratch_file()
    try:
        if source.is_http:
            extra = collect_http(source, day, lake, out, replay=config.replay, log=context.log)
        else:
            extra = _collect_files(source, day, lake, postgres, out)
    except CollectionFailed as e:
        out.unlink(missing_ok=True)
        for err in e.errors or [{"uri": e.uri, "message": str(e)}]:
            record_error(postgres, day, source_name, e.stage, err.get("uri"), err.get("message") or str(e),
                         context.run_id, err.get("http_status"), err.get("attempts"), err.get("raw_path"))
        record_outcome(postgres, source_name, day, e.status, str(e)[:2000], context.run_id)
        raise Failure(description=str(e), metadata={"status": e.status, **e.metadata}) from None
    meta = lake_metadata(out, lake.partition_file("raw_listings", day, source_name))
    target = lake.publish(out, "raw_listings", day, source_name)
    record_outcome(postgres, source_name, day, "completed", None, context.run_id)
    context.log.info(f"{source_name} {day}: {meta['dagster/row_count']} records")
    return MaterializeResult(metadata={
        **meta, **extra, "status": "completed", "source_type": source.type, "kind": source.kind,
        "lake_path": MetadataValue.path(target),
    })
