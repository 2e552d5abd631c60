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
    # DuckDB's allocator (jemalloc) keeps freed pages in per-thread caches and
    # arenas until a task that allocated more than `allocator_flush_threshold`
    # ends, or a bulk free passes the bulk threshold; those pages are still
    # resident when the next spilling statement fills the limit again. At the
    # defaults (128 MB, 512 MB) a 10M-record entity-resolution day peaked at
    # 1,588-1,669 MB in four probes; at 8 MB / 32 MB at 1,450 MB, no slower
    # (README, "Where it still grows").
    allocator_flush_threshold: str = Field(
        default="8MB", description="Flush DuckDB's allocator caches after a task that allocated more than this.")
    allocator_bulk_deallocation_flush_threshold: str = Field(
        default="32MB", description="Flush DuckDB's allocator after freeing more than this at once.")

    def connect(self) -> duckdb.DuckDBPyConnection:
        Path(self.temp_directory).mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(config={
            "memory_limit": self.memory_limit,
            "threads": self.threads,
            "temp_directory": str(Path(self.temp_directory).resolve()),
            "preserve_insertion_order": False,
            "allocator_flush_threshold": self.allocator_flush_threshold,
            "allocator_bulk_deallocation_flush_threshold": self.allocator_bulk_deallocation_flush_threshold,
        })
        return con
