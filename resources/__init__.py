"""Configurable resources: the lake, Postgres and DuckDB.

Resources own connections and I/O; the assets call them and the transforms
never see them.
"""

from .duckdb_resource import DuckDBResource
from .lake import LakeResource
from .postgres import PostgresResource
from .settings import PipelineSettings, UploadSettings

__all__ = ["DuckDBResource", "LakeResource", "PipelineSettings", "PostgresResource", "UploadSettings"]
