"""File drops on web servers: the scrapers' HttpClient in its streaming mode
(`download_file`), against a real HTTP server on 127.0.0.1, and a Parquet
drop through Dagster."""

from __future__ import annotations

import asyncio
import io
import tracemalloc
from datetime import date

import polars as pl
import psycopg
import pytest
from collect_server import FAST_HTTP, LocalServer, Reply, source

from pipeline_assets.collect import HttpClient
from pipeline_assets.collect.http import DownloadError, download_file
from pipeline_assets.sources import HttpConfig, parse_source

D1 = date(2026, 11, 16)
FAST = HttpConfig(**FAST_HTTP)


def download(url, dest, **kw):
    return download_file(url, dest, source="t", http=kw.pop("http", FAST), **kw)


@pytest.fixture
def srv():
    with LocalServer() as s:
        yield s


def test_streams_body_to_file_and_keeps_last_modified(srv, tmp_path):
    body = b"x" * (3 << 20)
    srv.route("/big.csv", lambda r: Reply(body=body, headers={"Last-Modified": "Mon, 16 Nov 2026 08:00:00 GMT"}))
    got = download(srv.url("/big.csv"), tmp_path / "big.csv", allow_private_networks=True)
    assert (tmp_path / "big.csv").read_bytes() == body and got.bytes == len(body)
    assert got.last_modified.isoformat() == "2026-11-16T08:00:00+00:00"
    assert not list(tmp_path.glob("*.part"))


def test_loopback_refused_unless_allowed(srv, tmp_path):
    srv.route("/a.csv", lambda r: Reply(body=b"a"))
    with pytest.raises(DownloadError, match="non-public address 127.0.0.1"):
        download(srv.url("/a.csv"), tmp_path / "a.csv")
    assert srv.hits == []  # refused before any request was sent


def test_redirect_to_other_host_refused(srv, tmp_path):
    srv.route("/moved.csv", lambda r: Reply(status=302, headers={"Location": "http://evil.example.net/x.csv"}))
    with pytest.raises(DownloadError, match=r"host 'evil.example.net' is not in allowed_hosts \['127.0.0.1'\]") as e:
        download(srv.url("/moved.csv"), tmp_path / "x.csv", allow_private_networks=True)
    assert e.value.url == "http://evil.example.net/x.csv"
    assert not (tmp_path / "x.csv").exists()


def test_same_host_redirect_followed_and_503_retried(srv, tmp_path):
    calls = []

    def flaky(r):
        calls.append(r)
        return Reply(status=503, headers={"Retry-After": "0"}) if len(calls) < 3 else Reply(body=b"ok")
    srv.route("/old.csv", lambda r: Reply(status=301, headers={"Location": "/new.csv"}))
    srv.route("/new.csv", flaky)
    got = download(srv.url("/old.csv"), tmp_path / "n.csv", allow_private_networks=True)
    assert (tmp_path / "n.csv").read_bytes() == b"ok" and got.attempts == 4 and got.final_url.endswith("/new.csv")


def test_404_names_url_and_status(srv, tmp_path):
    with pytest.raises(DownloadError, match=r"GET http://127.0.0.1:\d+/gone.csv: HTTP 404") as e:
        download(srv.url("/gone.csv"), tmp_path / "g.csv", allow_private_networks=True)
    assert e.value.status == 404


def fetch(url, http=None):
    """The scraper's path for the same URL (buffered, never raises)."""
    async def go():
        async with HttpClient(parse_source(source("t", "json_api", url, http=http or {}))) as client:
            return await client.fetch(url)
    return asyncio.run(go())


def once_then_ok(status):
    calls = []

    def handler(r):
        calls.append(r)
        return Reply(status, headers={"Retry-After": "0"}) if len(calls) == 1 else Reply(body=b"ok")
    return handler


@pytest.mark.parametrize("status", [429, 500, 501, 503, 507])
def test_download_retries_the_statuses_the_scraper_retries(srv, tmp_path, status):
    srv.route("/f.csv", once_then_ok(status))
    srv.route("/page", once_then_ok(status))
    got = download(srv.url("/f.csv"), tmp_path / "f.csv", allow_private_networks=True)
    page = fetch(srv.url("/page"))
    assert got.attempts == page.attempts == 2 and got.status == page.status == 200
    assert (tmp_path / "f.csv").read_bytes() == page.body == b"ok"


def test_download_gives_up_like_the_scraper(srv, tmp_path):
    srv.route("/f.csv", lambda r: Reply(500, "boom"))
    with pytest.raises(DownloadError, match=r"GET http://127.0.0.1:\d+/f.csv: HTTP 500 after 3 attempts") as e:
        download(srv.url("/f.csv"), tmp_path / "f.csv", allow_private_networks=True)
    assert e.value.status == 500 and e.value.attempts == 3 and fetch(srv.url("/f.csv")).attempts == 3
    assert list(tmp_path.iterdir()) == []


def test_download_is_not_capped_by_max_body_mb(srv, tmp_path):
    srv.route("/f.csv", lambda r: Reply(body=b"z" * 5000))
    http = {**FAST_HTTP, "max_body_mb": 0.001}
    page = fetch(srv.url("/f.csv"), http=http)
    got = download(srv.url("/f.csv"), tmp_path / "f.csv", allow_private_networks=True, http=HttpConfig(**http))
    assert not page.ok and "body larger than" in page.error
    assert got.bytes == 5000 and (tmp_path / "f.csv").stat().st_size == 5000


def test_download_max_bytes_is_a_cap_of_its_own(srv, tmp_path):
    srv.route("/f.csv", lambda r: Reply(body=b"z" * 5000))
    with pytest.raises(DownloadError, match=r"GET http://127.0.0.1:\d+/f.csv: body larger than 1000 bytes") as e:
        download(srv.url("/f.csv"), tmp_path / "f.csv", allow_private_networks=True, max_bytes=1000)
    assert e.value.attempts == 1 and list(tmp_path.iterdir()) == []


def test_unwritable_destination_is_not_retried(srv, tmp_path):
    srv.route("/f.csv", lambda r: Reply(body=b"z"))
    with pytest.raises(DownloadError, match="cannot write") as e:
        download(srv.url("/f.csv"), tmp_path / "no_such_dir" / "f.csv", allow_private_networks=True)
    assert e.value.attempts == 1 and len(srv.hits) == 1


def test_download_memory_stays_bounded(srv, tmp_path):
    body = b"y" * (48 << 20)
    srv.route("/dump.csv", lambda r: Reply(body=body))
    tracemalloc.start()
    try:
        got = download(srv.url("/dump.csv"), tmp_path / "dump.csv", allow_private_networks=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.bytes == len(body) and (tmp_path / "dump.csv").stat().st_size == len(body)
    assert peak < 12 << 20  # chunks of 1 MiB, not the 48 MiB body


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


def test_http_location_globs_are_refused_at_load_and_at_run(srv):
    """A glob over http(s) would be listed by fsspec's HTTP filesystem, outside
    the allowed-host and private-address guard (SSRF): refused, nothing fetched."""
    from pipeline_assets.assets.collection import location_files as files_of
    from pipeline_assets.sources import SourceConfigError, parse_source

    entry = {"name": "drops", "kind": "vehicles", "format": "csv",
             "location": srv.url("/drops/{date}*.csv"),
             "fields": {"make": "make", "model": "model", "year": "year", "source_url": "url"}}
    with pytest.raises(SourceConfigError, match="source drops: location: globs are not supported over http"):
        parse_source(entry)
    with pytest.raises(OSError, match="globs are not supported over http"):
        files_of(srv.url("/drops/2026-11-16*.csv"))
    # `?` in a URL is a query string, one file for the guarded client, not a glob
    assert files_of(srv.url("/export?day=2026-11-16")) == [srv.url("/export?day=2026-11-16")]
    assert not srv.hits  # nothing was requested
