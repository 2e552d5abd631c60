"""Find the Postgres to use: DATABASE_URL, or an embedded server under data/.

With no DATABASE_URL the project starts its own PostgreSQL (the `pgserver`
wheel ships the binaries) so a fresh machine needs no server. The server is
left running for later commands and reused; `listings db-url` prints its URL.
Dagster's run storage lives in its own database on the same server.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

DEFAULT_DB = "listings"


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def ensure_database(url: str) -> None:
    """Create the URL's database if it does not exist (needs CREATEDB)."""
    name = database_name(url)
    try:
        psycopg.connect(url, connect_timeout=10).close()
        return
    except psycopg.OperationalError as e:
        if "does not exist" not in str(e):
            raise
    with psycopg.connect(with_database(url, "postgres"), autocommit=True, connect_timeout=10) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            pass


def start_embedded(pgdata: Path) -> str:
    import pgserver  # imported lazily: only needed without DATABASE_URL

    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(pgdata), cleanup_mode=None)
    return with_database(server.get_uri(), DEFAULT_DB)


def ensure_env(pgdata: Path, dagster_storage: bool = True) -> str:
    """Make sure DATABASE_URL (and, for the CLI and UI, DAGSTER_PG_URL) are set
    and their databases exist. Returns DATABASE_URL."""
    url = os.environ.get("DATABASE_URL") or start_embedded(pgdata)
    os.environ["DATABASE_URL"] = url
    ensure_database(url)
    if dagster_storage:
        dagster_url = os.environ.get("DAGSTER_PG_URL") or with_database(url, f"{database_name(url)}_dagster")
        os.environ["DAGSTER_PG_URL"] = dagster_url
        ensure_database(dagster_url)
    return url
