"""Test fixtures: a real Postgres database per test session, a lake per test.

Postgres is TEST_DATABASE_URL or DATABASE_URL (CI: the machine's server), or
else an embedded server started for the session. Either way the suite works
in its own freshly created database and drops it at the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
# Source partitions are read from this file when pipeline_assets is imported.
os.environ["LISTINGS_SOURCES"] = str(FIXTURES / "sources.yaml")
os.environ.setdefault("LISTINGS_START_DATE", "2026-11-01")
os.environ.setdefault("LISTINGS_FIXTURES", str(FIXTURES))
# HTTP fixture sources are validated at import with these; tests override them.
os.environ.setdefault("COLLECT_TEST_PORT", "9")
os.environ.setdefault("COLLECT_DOWN_PORT", "9")
os.environ.setdefault("LISTINGS_INBOX", str(ROOT / "data" / "inbox"))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from resources.embedded_postgres import start_embedded, with_database  # noqa: E402


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return url
    return start_embedded(tmp_path_factory.mktemp("pgdata"))


@pytest.fixture(scope="session")
def pg_url(pg_server_url: str):
    name = f"listings_test_{uuid.uuid4().hex[:10]}"
    admin = with_database(pg_server_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(pg_server_url, name)
    old = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    yield url
    if old is None:
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = old
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def clean_db(pg_url: str) -> str:
    """The session database with the project's schemas dropped (each test starts empty)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for schema in ("core", "pipeline", "staging"):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    return pg_url


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    """A lake and scratch dir of the test's own, and a copy of the fixture sources."""
    src = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, src)
    monkeypatch.setenv("LISTINGS_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("LISTINGS_SCRATCH_DIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("LISTINGS_FIXTURES", str(src))
    return tmp_path


@pytest.fixture
def instance():
    from dagster import DagsterInstance

    with DagsterInstance.ephemeral() as inst:
        yield inst
