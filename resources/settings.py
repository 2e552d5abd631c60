"""Tunable settings (not secrets), editable from the launchpad: the pipeline's
and the CSV uploads'."""

import os
from urllib.parse import urlparse

import fsspec
from dagster import ConfigurableResource
from pydantic import Field

from pipeline_assets.paths import DATA_DIR, PROJECT_ROOT


class PipelineSettings(ConfigurableResource):
    max_rejection_rate: float = Field(
        default=0.10, description="The rejection-rate check fails above this share of a source-day.")
    history_window_days: int = Field(
        default=30, description="Trailing days read to tell new listings from reposts.")


class UploadSettings(ConfigurableResource):
    """Where uploads come from and how they are read."""

    inbox: str = Field(default="data/uploads/inbox", description=(
        "Watched location: a local folder (relative to the project) or an s3:// prefix."))
    config_path: str = Field(default="data/uploads.yaml", description="Upload options and type overrides.")
    duckdb_memory: str = Field(default="1GB", description="DuckDB memory limit for the CSV reader.")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint for an s3:// inbox.")

    def inbox_url(self) -> str:
        return resolve_location(self.inbox)

    def upload_config(self):
        from pipeline_assets.uploads import load_upload_config

        path = self.config_path
        if not os.path.isabs(path):
            path = str(PROJECT_ROOT / path)
        return load_upload_config(path)

    def fs(self, url: str) -> tuple[fsspec.AbstractFileSystem, str]:
        opts = {"client_kwargs": {"endpoint_url": self.s3_endpoint_url}} \
            if self.s3_endpoint_url and url.startswith("s3://") else {}
        return fsspec.core.url_to_fs(url, **opts)


def resolve_location(loc: str) -> str:
    loc = os.path.expandvars(loc)
    if urlparse(loc).scheme in ("", "file") and not os.path.isabs(loc.removeprefix("file://")):
        loc = str(PROJECT_ROOT / loc)
    return loc


def upload_settings_from_env() -> UploadSettings:
    return UploadSettings(inbox=os.environ.get("LISTINGS_UPLOAD_INBOX", "data/uploads/inbox"),
                          config_path=os.environ.get("LISTINGS_UPLOAD_CONFIG", str(DATA_DIR / "uploads.yaml")),
                          duckdb_memory=os.environ.get("LISTINGS_UPLOAD_DUCKDB_MEMORY", "1GB"),
                          s3_endpoint_url=os.environ.get("LISTINGS_S3_ENDPOINT_URL"))
