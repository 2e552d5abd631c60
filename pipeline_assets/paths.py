"""Project paths. Relative paths in config are relative to the project root,
so the CLI, `dagster dev` and tests agree wherever they are started from."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("LISTINGS_HOME") or Path(__file__).resolve().parents[1])
DATA_DIR = PROJECT_ROOT / "data"
SQL_DIR = PROJECT_ROOT / "sql"
SOURCES_FILE = Path(os.environ.get("LISTINGS_SOURCES") or DATA_DIR / "sources.yaml")
EMBEDDED_PGDATA = Path(os.environ.get("LISTINGS_PGDATA") or DATA_DIR / "pg")
