"""CSV uploads: encoding-safe chunked reading, column-type detection and
per-type normalization. Pure Polars/DuckDB and libraries; no dagster imports,
so the benchmark and the tests run exactly what the assets run."""

from .config import UploadConfigError, UploadOptions, load_upload_config
from .detect import Detection, detect_columns
from .pipeline import NormalizeResult, normalize_file
from .reader import UploadReadError
from .types import ColumnType

__all__ = ["ColumnType", "Detection", "NormalizeResult", "UploadConfigError", "UploadOptions", "UploadReadError",
           "detect_columns", "load_upload_config", "normalize_file"]
