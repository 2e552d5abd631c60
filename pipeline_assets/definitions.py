"""The code location: assets, checks, jobs, schedules, sensors and resources."""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar

from resources import DuckDBResource, LakeResource, PipelineSettings, PostgresResource
from resources.embedded_postgres import ensure_env

from .assets import collection, dedup, enrichment, entities, history, history_warehouse, validation, warehouse
from .automation import collection_schedules, daily_rollup_sensor, inbox_sensor
from .assets.uploads import UPLOAD_ASSETS, upload_settings_from_env
from .upload_automation import upload_inbox_sensor, upload_job, upload_location_schedule
from .jobs import daily_job, ingest_job
from .run_log import run_log_sensor
from .settings import DATA_DIR, EMBEDDED_PGDATA, SQL_DIR

# Without DATABASE_URL, start (or reuse) the embedded Postgres under data/.
ensure_env(EMBEDDED_PGDATA, dagster_storage=False)


def build_resources() -> dict:
    return {
        "lake": LakeResource(
            root=os.environ.get("LISTINGS_LAKE_ROOT", str(DATA_DIR / "lake")),
            scratch_dir=os.environ.get("LISTINGS_SCRATCH_DIR", str(DATA_DIR / "tmp")),
            s3_endpoint_url=os.environ.get("LISTINGS_S3_ENDPOINT_URL"),
        ),
        "postgres": PostgresResource(database_url=EnvVar("DATABASE_URL"), ddl_dir=str(SQL_DIR)),
        "duckdb": DuckDBResource(memory_limit=os.environ.get("LISTINGS_DUCKDB_MEMORY", "2GB"),
                                 temp_directory=str(DATA_DIR / "tmp" / "duckdb")),
        "settings": PipelineSettings(),
        "upload_settings": upload_settings_from_env(),
    }


def build_definitions() -> Definitions:
    return Definitions(
        assets=[collection.raw_listings, validation.validate_listings, dedup.dedup_listings,
                enrichment.enriched_listings, entities.resolve_entities, history.history,
                warehouse.pg_listings, warehouse.pg_rejected_listings, history_warehouse.pg_listing_snapshots,
                history_warehouse.pg_source_scores, history_warehouse.pg_listing_scores,
                history_warehouse.pg_listing_history, warehouse.pg_listing_entities, warehouse.pg_canonical_listings,
                *UPLOAD_ASSETS],
        jobs=[ingest_job, daily_job, upload_job],
        schedules=[*collection_schedules, upload_location_schedule],
        sensors=[daily_rollup_sensor, inbox_sensor, upload_inbox_sensor, run_log_sensor],
        resources=build_resources(),
    )


defs = build_definitions()
