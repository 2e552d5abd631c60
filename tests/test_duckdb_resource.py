"""The DuckDB resource applies its settings, and the entity-resolution
benchmark measures with the same ones."""

from __future__ import annotations

import sys
from pathlib import Path

from resources import DuckDBResource

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
import er_bench  # noqa: E402


def _setting(con, name: str) -> str:
    return con.execute("SELECT value FROM duckdb_settings() WHERE name = ?", [name]).fetchall()[0][0]


def test_connection_has_the_memory_settings(tmp_path):
    con = DuckDBResource(memory_limit="512MB", temp_directory=str(tmp_path / "spill")).connect()
    try:
        assert _setting(con, "memory_limit") in ("488.2 MiB", "512.0 MB")
        assert _setting(con, "preserve_insertion_order") == "false"
        # DuckDB's defaults are 128 MiB and 512 MiB.
        assert _setting(con, "allocator_flush_threshold") == "8MB"
        assert _setting(con, "allocator_bulk_deallocation_flush_threshold") == "30.5 MiB"  # 32 MB
        assert Path(_setting(con, "temp_directory")) == (tmp_path / "spill").resolve()
    finally:
        con.close()


def test_benchmark_uses_the_pipeline_settings(tmp_path):
    pipeline = DuckDBResource(temp_directory=str(tmp_path / "spill")).connect()
    bench = er_bench._duck(tmp_path)
    try:
        for key in ("threads", "preserve_insertion_order", "allocator_flush_threshold",
                    "allocator_bulk_deallocation_flush_threshold", "allocator_background_threads"):
            assert _setting(bench, key) == _setting(pipeline, key), key
    finally:
        pipeline.close()
        bench.close()
