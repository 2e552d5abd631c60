"""The `listings` command as a user runs it: a subprocess with Dagster's run
storage in Postgres (dagster.yaml), then `query` and `db-url`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def listings(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline_assets.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_run_query_and_db_url(clean_db, workdir):
    home = workdir / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DATABASE_URL": clean_db, "DAGSTER_PG_URL": clean_db, "DAGSTER_HOME": str(home),
           "LISTINGS_DAGSTER_ARTIFACTS": str(workdir / "artifacts")}
    run = listings("run", "--start", "2026-11-16", "--end", "2026-11-17", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 failed run(s)" in run.stdout
    assert "Postgres rows: core.listings 15, pipeline.rejected_listings 6" in run.stdout

    # Runs are in Dagster's Postgres storage: 2 days x (3 ingests + 1 roll-up).
    with psycopg.connect(clean_db) as conn:
        statuses = conn.execute("SELECT status, count(*) FROM runs GROUP BY 1").fetchall()
    assert statuses == [("SUCCESS", 8)]

    q = listings("query", "SELECT count(*) AS n FROM enriched_listings", env=env)
    assert q.returncode == 0 and "15" in q.stdout, q.stderr
    bad = listings("query", "SELECT nope FROM enriched_listings", env=env)
    assert bad.returncode == 1 and "nope" in bad.stderr
    url = listings("db-url", env=env)
    assert url.stdout.strip() == clean_db
