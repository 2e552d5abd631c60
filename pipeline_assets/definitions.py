"""The code location: assets, checks, jobs, schedules, sensors and resources.

Importing this module has no side effects: it starts no server and changes
no environment variable. Postgres is resolved when a resource first connects
(DATABASE_URL, else the embedded server under data/pg).
"""

from __future__ import annotations

import os

from dagster import Definitions

from resources import DuckDBResource, LakeResource, PipelineSettings, PostgresResource
from resources.settings import upload_settings_from_env

from .assets import ALL_ASSETS
from .automation import collection_schedules, daily_job, daily_rollup_sensor, inbox_sensor, ingest_job
from .run_log import run_log_sensor
from .paths import DATA_DIR, EMBEDDED_PGDATA, SQL_DIR
from .upload_automation import upload_inbox_sensor, upload_job, upload_location_schedule


def build_resources() -> dict:
    return {
        "lake": LakeResource(
            root=os.environ.get("LISTINGS_LAKE_ROOT", str(DATA_DIR / "lake")),
            scratch_dir=os.environ.get("LISTINGS_SCRATCH_DIR", str(DATA_DIR / "tmp")),
            s3_endpoint_url=os.environ.get("LISTINGS_S3_ENDPOINT_URL"),
        ),
        "postgres": PostgresResource(ddl_dir=str(SQL_DIR), embedded_pgdata=str(EMBEDDED_PGDATA)),
        "duckdb": DuckDBResource(memory_limit=os.environ.get("LISTINGS_DUCKDB_MEMORY", "2GB"),
                                 temp_directory=str(DATA_DIR / "tmp" / "duckdb")),
        "settings": PipelineSettings(),
        "upload_settings": upload_settings_from_env(),
    }


def build_definitions() -> Definitions:
    return Definitions(
        assets=ALL_ASSETS,
        jobs=[ingest_job, daily_job, upload_job],
        schedules=[*collection_schedules, upload_location_schedule],
        sensors=[daily_rollup_sensor, inbox_sensor, upload_inbox_sensor, run_log_sensor],
        resources=build_resources(),
    )


defs = build_definitions()
