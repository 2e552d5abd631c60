"""DuckDB connections with a memory limit and a spill directory.

The limit is what keeps a 10M-row day flat: joins, windows and sorts spill
to `temp_directory` instead of growing the process.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from pydantic import Field


class DuckDBResource(ConfigurableResource):
    memory_limit: str = Field(default="2GB", description="DuckDB memory_limit per connection.")
    threads: int = Field(default=2, description="DuckDB worker threads.")
    temp_directory: str = Field(default="data/tmp/duckdb", description="Where DuckDB spills.")

    def connect(self) -> duckdb.DuckDBPyConnection:
        Path(self.temp_directory).mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(config={
            "memory_limit": self.memory_limit,
            "threads": self.threads,
            "temp_directory": str(Path(self.temp_directory).resolve()),
            "preserve_insertion_order": False,
        })
        return con
