"""File drops on web servers: the guarded, streaming downloader, against a
real HTTP server on 127.0.0.1, and a Parquet drop through Dagster."""

from __future__ import annotations

import io
from datetime import date

import polars as pl
import psycopg
import pytest
from collect_server import LocalServer, Reply

from pipeline_assets.collect.download import DownloadError, download

D1 = date(2026, 11, 16)


@pytest.fixture
def srv():
    with LocalServer() as s:
        yield s


def test_streams_body_to_file_and_keeps_last_modified(srv, tmp_path):
    body = b"x" * (3 << 20)
    srv.route("/big.csv", lambda r: Reply(body=body, headers={"Last-Modified": "Mon, 16 Nov 2026 08:00:00 GMT"}))
    got = download(srv.url("/big.csv"), tmp_path / "big.csv", source="t", allow_private_networks=True)
    assert (tmp_path / "big.csv").read_bytes() == body and got.bytes == len(body)
    assert got.last_modified.isoformat() == "2026-11-16T08:00:00+00:00"
    assert not list(tmp_path.glob("*.part"))


def test_loopback_refused_unless_allowed(srv, tmp_path):
    srv.route("/a.csv", lambda r: Reply(body=b"a"))
    with pytest.raises(DownloadError, match="non-public address 127.0.0.1"):
        download(srv.url("/a.csv"), tmp_path / "a.csv", source="t")
    assert srv.hits == []  # refused before any request was sent


def test_redirect_to_other_host_refused(srv, tmp_path):
    srv.route("/moved.csv", lambda r: Reply(status=302, headers={"Location": "http://evil.example.net/x.csv"}))
    with pytest.raises(DownloadError, match=r"host 'evil.example.net' is not in allowed_hosts \['127.0.0.1'\]") as e:
        download(srv.url("/moved.csv"), tmp_path / "x.csv", source="t", allow_private_networks=True)
    assert e.value.url == "http://evil.example.net/x.csv"
    assert not (tmp_path / "x.csv").exists()


def test_same_host_redirect_followed_and_503_retried(srv, tmp_path):
    calls = []

    def flaky(r):
        calls.append(r)
        return Reply(status=503, headers={"Retry-After": "0"}) if len(calls) < 3 else Reply(body=b"ok")
    srv.route("/old.csv", lambda r: Reply(status=301, headers={"Location": "/new.csv"}))
    srv.route("/new.csv", flaky)
    got = download(srv.url("/old.csv"), tmp_path / "n.csv", source="t", allow_private_networks=True,
                   backoff_base=0.01)
    assert (tmp_path / "n.csv").read_bytes() == b"ok" and got.attempts == 4 and got.final_url.endswith("/new.csv")


def test_404_names_url_and_status(srv, tmp_path):
    with pytest.raises(DownloadError, match=r"GET http://127.0.0.1:\d+/gone.csv: HTTP 404") as e:
        download(srv.url("/gone.csv"), tmp_path / "g.csv", source="t", allow_private_networks=True)
    assert e.value.status == 404


@pytest.mark.slow
def test_parquet_drop_on_web_server_through_dagster(clean_db, workdir, instance, srv, monkeypatch):
    from pipeline_assets.definitions import build_definitions
    from pipeline_assets.partitions import source_day_key

    buf = io.BytesIO()
    pl.DataFrame({"id": ["W1", "W2", "W3"], "make": ["Ford", "Ford", "Dodge"], "model": ["Bronco", "F-150", "Dart"],
                  "year": [1972, 1979, 1969], "price": [41000.0, 18000.0, 26000.0],
                  "url": [f"https://web.example.com/{i}" for i in (1, 2, 3)]}).write_parquet(buf)
    srv.route("/drops/2026-11-16.parquet", lambda r: Reply(body=buf.getvalue(),
                                                           headers={"Content-Type": "application/octet-stream"}))
    monkeypatch.setenv("COLLECT_TEST_PORT", str(srv.port))
    job = build_definitions().resolve_job_def("ingest_job")
    ok = job.execute_in_process(partition_key=source_day_key(D1, "web_drop"), instance=instance)
    assert ok.success
    out = pl.read_parquet(workdir / "lake/deduped_listings/date=2026-11-16/source=web_drop/part-0.parquet")
    assert sorted(out["source_listing_id"]) == ["W1", "W2", "W3"] and out["price"].sum() == 85000.0
    assert out["_file"].unique().to_list() == [srv.url("/drops/2026-11-16.parquet")]

    # The same server answering with a redirect elsewhere: the partition fails
    # with the URL, and pipeline.errors has it.
    srv.route("/drops/2026-11-16.parquet", lambda r: Reply(status=302, headers={"Location": "http://10.0.0.7/x"}))
    bad = job.execute_in_process(partition_key=source_day_key(D1, "web_drop"), instance=instance,
                                 raise_on_error=False)
    assert not bad.success
    with psycopg.connect(clean_db) as conn:
        uri, msg = conn.execute("SELECT uri, message FROM pipeline.errors WHERE source = 'web_drop'").fetchone()
    assert uri == "http://10.0.0.7/x" and "not in allowed_hosts ['127.0.0.1']" in msg
