"""CSV uploads: encoding-safe chunked reading, column-type detection and
per-type normalization. Pure Polars/DuckDB and libraries; no dagster imports,
so the benchmark and the tests run exactly what the assets run.

The names below load on first use, so a helper process that imports only
`pipeline_assets.uploads.values` does not pay for Polars, DuckDB and Arrow."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "ColumnType": ".types", "Detection": ".detect", "NormalizeResult": ".pipeline",
    "UploadConfigError": ".config", "UploadOptions": ".config", "UploadReadError": ".reader",
    "detect_columns": ".detect", "load_upload_config": ".config", "normalize_file": ".pipeline",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from .config import UploadConfigError, UploadOptions, load_upload_config
    from .detect import Detection, detect_columns
    from .pipeline import NormalizeResult, normalize_file
    from .reader import UploadReadError
    from .types import ColumnType


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value
