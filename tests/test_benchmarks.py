"""Every benchmark has a small smoke run here: a benchmark that crashes is a
failure, found by the suite rather than by the next person who measures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent / "benchmarks"
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("script, args, keys", [
    ("pipeline_bench.py", ["--rows", "5000"], {"rows", "stages", "peak_rss_mb"}),
    ("collect_bench.py", ["--pages", "20", "--small", "5"], {"pages_per_s", "records", "status"}),
    ("history_bench.py", ["--listings", "20000"], {"runs"}),
    ("normalize_bench.py", ["--rows", "3000", "--big-rows", "3000"], {"rows_per_s", "peak_rss_mb"}),
    ("er_bench.py", ["--skip-splink", "--entities", "500", "--scale-rows", "0"], {"f1", "precision", "recall"}),
])
def test_benchmark_smoke_run(script, args, keys, pg_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": pg_url}
    out = subprocess.run([sys.executable, str(BENCH / script), *args], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-3000:])
    last = json.loads(out.stdout.strip().splitlines()[-1])  # the one JSON line every benchmark ends with
    assert keys <= set(last), sorted(last)
