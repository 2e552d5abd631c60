"""raw_listings: collect one source-day as it arrived."""


from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import fsspec
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from resources import LakeResource, PostgresResource

from ..metadata import lake_metadata
from ..partitions import source_catalog, source_day, source_day_partitions
from ..settings import PROJECT_ROOT
from ..transforms.readers import SourceParseError, read_to_parquet, sha256_file


def record_error(postgres: PostgresResource, day, source: str, stage: str, uri: str | None,
                 message: str, run_id: str) -> None:
    postgres.apply_ddl()
    postgres.execute(
        "INSERT INTO pipeline.errors (observed_date, source, stage, uri, message, run_id) "
        "VALUES (%s, %s, %s, %s, %s, %s)", (day, source, stage, uri, message, run_id))


def _fetch(uri: str, lake: LakeResource) -> tuple[Path, datetime, bool]:
    """A local path for the file plus its modification time. Remote files are
    streamed to scratch; the mtime (not the wall clock) is the fetch stamp, so
    replaying an unchanged file is byte-for-byte idempotent."""
    scheme = urlparse(uri).scheme
    if scheme in ("", "file"):
        p = Path(uri.removeprefix("file://"))
        if not p.exists():
            raise FileNotFoundError(f"{uri}: file not found")
        return p, datetime.fromtimestamp(p.stat().st_mtime, timezone.utc).replace(microsecond=0), False
    fs, path = fsspec.core.url_to_fs(uri)
    info = fs.info(path)
    stamp = info.get("LastModified") or info.get("mtime") or info.get("last_modified")
    fetched = (stamp if isinstance(stamp, datetime) else datetime.now(timezone.utc)).astimezone(timezone.utc)
    tmp = lake.scratch_file(Path(path).suffix or ".bin")
    fs.get_file(path, str(tmp))
    return tmp, fetched.replace(microsecond=0), True


@asset(
    partitions_def=source_day_partitions,
    group_name="collection",
    kinds={"python", "parquet"},
    description=(
        "Records exactly as collected from each source, one partition per source and day. "
        "Every source field is kept as text (nested JSON flattened to dotted names) with lineage: "
        "`_file`, `_row`, `_line`, `_fetched_at` and `_payload_hash` (SHA-256 of the record). "
        "A file that cannot be parsed fails only its own source-day, with the file and line in the "
        "error, recorded in `pipeline.errors`."
    ),
)
def raw_listings(context: AssetExecutionContext, lake: LakeResource,
                 postgres: PostgresResource) -> MaterializeResult:
    day, source_name = source_day(context.partition_key)
    source = source_catalog()[source_name]
    uri = source.location_for(day, PROJECT_ROOT)
    try:
        local, fetched_at, temporary = _fetch(uri, lake)
    except (FileNotFoundError, OSError) as e:
        msg = f"source {source_name} {day}: cannot fetch {uri}: {e}"
        record_error(postgres, day, source_name, "collect", uri, msg, context.run_id)
        raise Failure(description=msg, metadata={"uri": uri}) from None
    out = lake.scratch_file()
    try:
        records = read_to_parquet(local, source.format, out, origin=uri, fetched_at=fetched_at,
                                  record_path=source.record_path)
        checksum, size = sha256_file(local), local.stat().st_size
    except SourceParseError as e:
        out.unlink(missing_ok=True)
        record_error(postgres, day, source_name, "parse", uri, str(e), context.run_id)
        raise Failure(description=str(e), metadata={"uri": uri}) from None
    finally:
        if temporary:
            local.unlink(missing_ok=True)
    meta = lake_metadata(out, lake.partition_file("raw_listings", day, source_name))
    target = lake.publish(out, "raw_listings", day, source_name)
    postgres.apply_ddl()
    postgres.execute(
        "INSERT INTO pipeline.files (observed_date, source, uri, sha256, bytes, records, fetched_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (observed_date, source, uri) DO UPDATE SET "
        "sha256 = EXCLUDED.sha256, bytes = EXCLUDED.bytes, records = EXCLUDED.records, "
        "fetched_at = EXCLUDED.fetched_at",
        (day, source_name, uri, checksum, size, records, fetched_at))
    context.log.info(f"{source_name} {day}: {records} records from {uri}")
    return MaterializeResult(metadata={
        **meta, "source_uri": MetadataValue.url(uri) if "://" in uri else MetadataValue.path(uri),
        "file_sha256": checksum, "file_bytes": size, "format": source.format, "kind": source.kind,
        "lake_path": MetadataValue.path(target),
    })
