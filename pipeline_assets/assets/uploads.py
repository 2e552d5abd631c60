"""CSV uploads: uploaded_files -> normalized_uploads -> postgres/contacts, one
dynamic partition per uploaded file (key = file name + content hash).

- `uploaded_files` copies the file from the inbox into the lake and checks its
  hash against the key, so later steps (and re-runs) never depend on the inbox.
- `normalized_uploads` detects column types, normalizes every column in one
  streaming pass (pipeline_assets.uploads), and publishes the Parquet, a
  downloadable CSV, the rejected lines and the report. It runs in the
  `uploads` concurrency pool (dagster.yaml), and logs its progress per chunk.
- `postgres/contacts` loads the rows into core.contacts with COPY and a
  transactional replace of the upload's rows.

A failed partition is retried from the UI (re-execute the run, or materialize
the partition); a queued run can be cancelled there too. pipeline.uploads
keeps each upload's status for SQL users.
"""


import hashlib
import json
import re
from pathlib import Path
from urllib.parse import urlparse

import fsspec
import polars as pl
from dagster import (AssetCheckResult, AssetCheckSpec, AssetExecutionContext, AssetKey, AssetObservation, Config,
                     DynamicPartitionsDefinition, Failure, MaterializeResult, MetadataValue,
                     asset)
from psycopg.types.json import Jsonb
from pydantic import Field

from resources import LakeResource, PostgresResource, UploadSettings

from ..metadata import column_schema, markdown_table, parquet_rows
from ..uploads import UploadConfigError, UploadReadError, normalize_file
from ..uploads.contacts import contacts_frame
from ..uploads.detect import Detection
from ..uploads.types import ColumnType

upload_partitions = DynamicPartitionsDefinition(name="uploads")
UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt")
PREVIEW_ROWS = 10


def upload_key(file_name: str, sha256: str) -> str:
    """Sanitized stem + 12 hex digits of the content hash: the same bytes under
    the same name are one partition, whatever their path or modification time."""
    stem = Path(file_name).stem.lower()
    stem = re.sub(r"[^a-z0-9]+", "_", stem).strip("_")[:60] or "upload"
    return f"{stem}-{sha256[:12]}"


def file_sha256(fs: fsspec.AbstractFileSystem, path: str) -> str:
    h = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        while piece := fh.read(1 << 20):
            h.update(piece)
    return h.hexdigest()


# -- lake paths (one folder per upload) ---------------------------------------------------

def _record_upload(postgres: PostgresResource, key: str, **fields) -> None:
    postgres.apply_ddl()
    cols = ["upload_key", *fields]
    values = [key, *(Jsonb(v) if k == "columns" else v for k, v in fields.items())]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in fields)
    postgres.execute(
        f"INSERT INTO pipeline.uploads ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
        f"ON CONFLICT (upload_key) DO UPDATE SET {updates}", tuple(values))


# -- assets ---------------------------------------------------------------------------------

class UploadFileConfig(Config):
    path: str = Field(default="", description=(
        "The uploaded file (local path or s3:// URL). Set by the inbox sensor; when empty, the inbox is "
        "searched for the file whose name and hash give this partition's key."))


def _find_in_inbox(settings: UploadSettings, key: str) -> str | None:
    fs, root = settings.fs(settings.inbox_url())
    stem = key.rsplit("-", 1)[0]
    for path in sorted(fs.find(root)) if fs.exists(root) else []:
        name = path.rsplit("/", 1)[-1]
        if name.lower().endswith(UPLOAD_SUFFIXES) and upload_key(name, "0" * 12).rsplit("-", 1)[0] == stem:
            if upload_key(name, file_sha256(fs, path)) == key:
                return path if urlparse(settings.inbox_url()).scheme in ("", "file") else f"s3://{path}"
    return None


@asset(partitions_def=upload_partitions, group_name="uploads", kinds={"csv", "s3"},
       description="The uploaded file as received, copied from the inbox into the lake "
                   "(`uploaded_files/upload=<key>/<name>`). The partition key is the file name plus 12 hex digits "
                   "of its SHA-256, so the same file is processed once.")
def uploaded_files(context: AssetExecutionContext, config: UploadFileConfig, lake: LakeResource,
                   upload_settings: UploadSettings, postgres: PostgresResource) -> MaterializeResult:
    key = context.partition_key
    src = config.path or _find_in_inbox(upload_settings, key)
    if not src:
        raise Failure(description=f"upload {key}: no file in {upload_settings.inbox_url()} has this name and "
                                  "content hash (moved away before it was copied?)")
    fs, path = upload_settings.fs(src)
    name = path.rsplit("/", 1)[-1]
    local = lake.scratch_file(Path(name).suffix or ".csv")
    fs.get_file(path, str(local))
    sha = hashlib.sha256()
    with open(local, "rb") as fh:
        while piece := fh.read(1 << 20):
            sha.update(piece)
    digest = sha.hexdigest()
    if upload_key(name, digest) != key:
        local.unlink(missing_ok=True)
        raise Failure(description=f"{src}: content changed since it was registered as {key} "
                                  f"(now {upload_key(name, digest)}); the new version gets its own partition")
    size = local.stat().st_size
    uri = lake.publish_file(local, f"{lake.upload_dir('uploaded_files', key)}/{name}")
    _record_upload(postgres, key, file_name=name, uri=src, sha256=digest, bytes=size, status="pending",
                   run_id=context.run_id)
    return MaterializeResult(metadata={
        "file_name": name, "source": src, "sha256": digest, "bytes": size, "lake_path": MetadataValue.path(uri)})


def _report_md(report: pl.DataFrame) -> str:
    cols = ["column", "type", "confidence", "flagged", "filled", "valid", "invalid", "invalid_pct", "evidence",
            "invalid_examples"]
    return markdown_table(report.select(cols), max_chars=90)


@asset(partitions_def=upload_partitions, group_name="uploads", kinds={"duckdb", "polars", "parquet"},
       deps=[uploaded_files], pool="uploads",
       check_specs=[AssetCheckSpec("no_rejected_lines", asset="normalized_uploads",
                                   description="Every line of the file parsed (bad lines are in the rejects file)."),
                    AssetCheckSpec("no_low_confidence_columns", asset="normalized_uploads",
                                   description="Every column was typed above the confidence threshold.")],
       description="The upload with every column typed and normalized: for each column the original value, "
                   "`<col>__norm`, `<col>__valid` and the type's parts (name parts, E.164 phone and region, "
                   "address components, ISO date, decimal amount...). Also published: the same rows as a "
                   "downloadable CSV, the rejected lines with line numbers and reasons, and `report.json`. "
                   "The metadata has the per-column report (type, confidence, evidence, valid / invalid).")
def normalized_uploads(context: AssetExecutionContext, lake: LakeResource, upload_settings: UploadSettings,
                       postgres: PostgresResource):
    key = context.partition_key
    fs = lake.fs()
    raw_dir = lake.upload_dir("uploaded_files", key)
    # A crash mid-publish can leave "<name>.<hex>.tmp" behind: never read it as the upload.
    found = [p for p in fs.ls(raw_dir, detail=False) if not p.endswith(".tmp")] if fs.exists(raw_dir) else []
    if not found:
        raise Failure(description=f"upload {key}: uploaded_files has no file (materialize it first)")
    raw_uri = found[0] if lake.is_local else f"{urlparse(lake.root).scheme}://{found[0]}"
    name = raw_uri.rsplit("/", 1)[-1]
    try:
        cfg = upload_settings.upload_config()
    except UploadConfigError as e:
        raise Failure(description=str(e)) from None
    options, overrides = cfg.options_for(name), cfg.overrides_for(name)
    postgres.apply_ddl()
    postgres.execute("UPDATE pipeline.uploads SET status = 'processing', started_at = now(), run_id = %s, "
                     "error_message = NULL WHERE upload_key = %s", (context.run_id, key))

    def progress(rows: int, seconds: float, estimate: int | None) -> None:
        pct = min(99.0, 100.0 * rows / estimate) if estimate else None
        context.log.info(f"{name}: {rows:,} rows normalized"
                         + (f" (~{pct:.0f}%)" if pct is not None else "") + f", {rows / seconds:,.0f} rows/s")
        # An observation shows up on the asset page while the run is going.
        context.log_event(AssetObservation(asset_key="normalized_uploads", partition=key,
                                           metadata={"rows_processed": rows,
                                                     "progress_pct": round(pct, 1) if pct is not None else None}))

    out_parquet, out_csv, out_rejects = lake.scratch_file(), lake.scratch_file(".csv"), lake.scratch_file(".csv")
    local, temporary = lake.local_copy(raw_uri, Path(name).suffix or ".csv")
    try:
        result = normalize_file(local, source=name, out_parquet=out_parquet, out_csv=out_csv, out_rejects=out_rejects,
                                scratch_dir=Path(lake.scratch_dir), options=options, overrides=overrides,
                                progress=progress, duckdb_memory=upload_settings.duckdb_memory)
    except UploadReadError as e:
        postgres.execute("UPDATE pipeline.uploads SET status = 'failed', error_message = %s, completed_at = now() "
                         "WHERE upload_key = %s", (str(e), key))
        for p in (out_parquet, out_csv, out_rejects):
            p.unlink(missing_ok=True)
        raise Failure(description=str(e)) from None
    finally:
        if temporary:
            local.unlink(missing_ok=True)

    report = result.report.frame()
    schema = pl.scan_parquet(out_parquet).collect_schema()
    preview_cols = ["_row"] + [c for d in result.detections for c in (d.column, f"{d.column}__norm", f"{d.column}__valid")]
    preview = pl.scan_parquet(out_parquet).select(preview_cols).head(PREVIEW_ROWS).collect()
    valid_rows = pl.scan_parquet(out_parquet).filter(pl.col("_invalid_columns") == "").select(pl.len()).collect().item()
    rows = parquet_rows(out_parquet)

    base = lake.upload_dir("normalized_uploads", key)
    report_file = lake.scratch_file(".json")
    report_json = {"upload_key": key, "file": name, "encoding": result.layout.encoding,
                   "delimiter": result.layout.delimiter, "rows": rows, "valid_rows": valid_rows,
                   "rejected_lines": result.rejected_lines, "seconds": round(result.seconds, 3),
                   "options": options.model_dump(), "columns": result.report.as_dicts()}
    report_file.write_text(json.dumps(report_json, default=str, indent=1))
    parquet_uri = lake.publish_file(out_parquet, f"{base}/part-0.parquet")
    csv_uri = lake.publish_file(out_csv, f"{lake.upload_dir('normalized_uploads_csv', key)}/{Path(name).stem}.normalized.csv")
    report_uri = lake.publish_file(report_file, f"{base}/report.json")
    rejects_uri = None
    rejects_dir = lake.upload_dir("upload_rejects", key)
    if result.rejects is not None:
        rejects_uri = lake.publish_file(result.rejects, f"{rejects_dir}/rejects.csv")
    else:
        out_rejects.unlink(missing_ok=True)
        if fs.exists(f"{rejects_dir}/rejects.csv"):  # a re-run after a fixed file: no stale rejects
            fs.rm(f"{rejects_dir}/rejects.csv")

    invalid_rows = rows - valid_rows
    postgres.execute(
        "UPDATE pipeline.uploads SET status = 'completed', encoding = %s, total_rows = %s, valid_rows = %s, "
        "invalid_rows = %s, rejected_lines = %s, columns = %s, completed_at = now() WHERE upload_key = %s",
        (result.layout.encoding, rows, valid_rows, invalid_rows, result.rejected_lines,
         Jsonb(report_json["columns"]), key))
    flagged = [d.header for d in result.detections if d.flagged]
    yield MaterializeResult(asset_key="normalized_uploads", metadata={
        "dagster/row_count": rows,
        "dagster/column_schema": column_schema(schema),
        "report": MetadataValue.md(_report_md(report)),
        "preview": MetadataValue.md(markdown_table(preview)),
        "valid_rows": valid_rows,
        "rows_with_invalid_cells": invalid_rows,
        "rejected_lines": result.rejected_lines,
        "encoding": result.layout.encoding,
        "rows_per_s": round(result.rows_per_s),
        "lake_path": MetadataValue.path(parquet_uri),
        "csv_download": MetadataValue.path(csv_uri),
        "rejects_path": MetadataValue.path(rejects_uri) if rejects_uri else "none",
        "report_path": MetadataValue.path(report_uri),
        "detected_types": MetadataValue.json({d.header: {"type": d.type.value, "confidence": d.confidence}
                                              for d in result.detections}),
    })
    yield AssetCheckResult(asset_key="normalized_uploads", check_name="no_rejected_lines",
                           passed=result.rejected_lines == 0,
                           metadata={"rejected_lines": result.rejected_lines,
                                     "rejects_path": rejects_uri or "none"})
    yield AssetCheckResult(asset_key="normalized_uploads", check_name="no_low_confidence_columns",
                           passed=not flagged, metadata={"flagged_columns": ", ".join(flagged) or "none",
                                                         "threshold": options.confidence_threshold})


def _detections(report: dict) -> list[Detection]:
    out = []
    for c in report["columns"]:
        out.append(Detection(column=c["column"], header=c["header"], type=ColumnType(c["type"]),
                             confidence=c["confidence"], share=c["share"], sampled=c["sampled"]))
    return out


@asset(partitions_def=upload_partitions, group_name="uploads", kinds={"postgres"}, deps=[normalized_uploads],
       key=AssetKey(["postgres", "contacts"]),
       description="`core.contacts`: the upload's rows (name, e-mail, phone, address fields mapped from the detected "
                   "columns, validity, the whole row as JSON). Loaded with COPY into an UNLOGGED staging table, then "
                   "the upload's rows are replaced in one transaction.")
def pg_contacts(context: AssetExecutionContext, lake: LakeResource, postgres: PostgresResource) -> MaterializeResult:
    key = context.partition_key
    base = lake.upload_dir("normalized_uploads", key)
    report_local, rtmp = lake.local_copy(f"{base}/report.json", ".json")
    parquet_local, ptmp = lake.local_copy(f"{base}/part-0.parquet", ".parquet")
    contacts = lake.scratch_file()
    try:
        report = json.loads(report_local.read_text())
        contacts_frame(pl.scan_parquet(parquet_local), _detections(report), key, report["file"]).sink_parquet(contacts)
        postgres.apply_ddl()
        result = postgres.replace_partition("core", "contacts", [contacts], {"upload_key": key})
    finally:
        contacts.unlink(missing_ok=True)
        for p, t in ((report_local, rtmp), (parquet_local, ptmp)):
            if t:
                p.unlink(missing_ok=True)
    postgres.execute("UPDATE pipeline.uploads SET loaded_rows = %s WHERE upload_key = %s", (result["rows"], key))
    return MaterializeResult(metadata={
        "dagster/row_count": result["rows"], "rows_replaced": result["deleted"], "load_seconds": result["seconds"],
        "table": "core.contacts",
        "query": MetadataValue.md(f"```sql\nSELECT * FROM core.contacts WHERE upload_key = '{key}' ORDER BY _row;\n```"),
    })


UPLOAD_ASSETS = [uploaded_files, normalized_uploads, pg_contacts]
