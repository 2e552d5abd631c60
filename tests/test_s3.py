"""The lake and the sources on S3, against an S3-compatible server on loopback (moto)."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

pytestmark = pytest.mark.slow
D1 = date(2026, 11, 16)


@pytest.fixture
def s3_endpoint(monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                 "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(k, v)
    yield endpoint
    server.stop()


def test_s3_lake_and_s3_sources(clean_db, workdir, instance, s3_endpoint, monkeypatch):
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    fs.mkdir("listings")
    fs.put(str(workdir / "fixtures") + "/", "listings/incoming/", recursive=True)
    monkeypatch.setenv("LISTINGS_FIXTURES", "s3://listings/incoming")
    monkeypatch.setenv("LISTINGS_LAKE_ROOT", "s3://listings/lake")
    monkeypatch.setenv("LISTINGS_S3_ENDPOINT_URL", s3_endpoint)

    from pipeline_assets.definitions import build_definitions
    from pipeline_assets.daily_runs import run_days

    outcomes = run_days(build_definitions(), [D1], ["dealer_feed", "jobs_board", "marketplace_csv"], instance)
    assert all(o.success for o in outcomes), [o.message for o in outcomes if not o.success]

    fs.invalidate_cache()
    assert fs.exists("listings/lake/raw_listings/date=2026-11-16/source=marketplace_csv/part-0.parquet")
    assert fs.exists("listings/lake/source_scores/date=2026-11-16/part-0.parquet")
    assert not [p for p in fs.find("listings/lake") if p.endswith(".tmp")]
    with psycopg.connect(clean_db) as conn:
        assert conn.execute("SELECT count(*) FROM core.listings").fetchone() == (7,)
        uris = conn.execute("SELECT uri FROM pipeline.files ORDER BY uri").fetchall()
    assert uris[0][0].startswith("s3://listings/incoming/")
