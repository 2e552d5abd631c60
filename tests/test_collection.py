"""raw_listings for HTTP sources and inbox drops, through Dagster, against a
real HTTP server on 127.0.0.1 (no mocks), real files and a real Postgres."""

from __future__ import annotations

import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import polars as pl
import psycopg
import pytest

pytestmark = pytest.mark.slow
D1 = date(2026, 11, 16)


def _cars(page: int) -> list[dict]:
    return [{"id": f"A{page}{i}", "make": "Ford", "model": "Mustang", "year": 1965 + i, "price": 30000 + page * 100 + i,
             "url": f"https://dealer.example.com/a/{page}{i}", "vin": None} for i in range(2)]


class Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        page = int(parse_qs(url.query).get("page", ["1"])[0])
        Handler.hits[url.path] = Handler.hits.get(url.path, 0) + 1
        if url.path == "/api/vehicles":
            self._send(200, json.dumps({"data": _cars(page) if page <= 3 else []}).encode())
        elif url.path == "/api/flaky":
            if page == 2:
                self._send(500, b"oops")
            else:
                self._send(200, json.dumps({"data": _cars(page) if page <= 3 else []}).encode())
        elif url.path.startswith("/html/page"):
            n = int(url.path.removeprefix("/html/page").removesuffix(".html"))
            items = "".join(
                f'<li class="car"><h2>{1960 + n} Chevrolet Camaro {i}</h2><span class="make">Chevrolet</span>'
                f'<span class="model">Camaro</span><span class="year">{1960 + n}</span>'
                f'<span class="price">${40 + n},{i}00</span><a data-id="H{n}{i}" href="/cars/H{n}{i}">more</a></li>'
                for i in range(3))
            nxt = f'<a class="next" href="/html/page{n + 1}.html">next</a>' if n < 2 else ""
            self._send(200, f"<html><body><ul>{items}</ul>{nxt}</body></html>".encode(), "text/html")
        else:
            self._send(404, b"not found", "text/plain")


@pytest.fixture
def http_server(monkeypatch):
    Handler.hits = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("COLLECT_TEST_PORT", str(server.server_address[1]))
    yield server
    server.shutdown()


def _run(instance, sources, run_config=None):
    from pipeline_assets.definitions import build_definitions
    from pipeline_assets.partitions import source_day_key

    job = build_definitions().resolve_job_def("ingest_job")
    return {s: job.execute_in_process(partition_key=source_day_key(D1, s), instance=instance, raise_on_error=False,
                                      run_config=run_config)
            for s in sources}


def _q(url, sql, params=None):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_json_api_and_html_sources_land_in_the_lake(clean_db, workdir, instance, http_server):
    results = _run(instance, ["dealer_api", "dealer_html"])
    assert all(r.success for r in results.values())
    lake = workdir / "lake"
    api = pl.read_parquet(lake / "deduped_listings/date=2026-11-16/source=dealer_api/part-0.parquet")
    html = pl.read_parquet(lake / "deduped_listings/date=2026-11-16/source=dealer_html/part-0.parquet")
    assert api.height == 6 and sorted(api["source_listing_id"]) == ["A10", "A11", "A20", "A21", "A30", "A31"]
    assert html.height == 6 and html["price"].sort().to_list()[0] == 41000.0
    # Relative links resolved against the page URL.
    assert html["source_url"][0].startswith(f"http://127.0.0.1:{http_server.server_address[1]}/cars/")
    status = dict(_q(clean_db, "SELECT source, last_status FROM pipeline.configs"))
    assert status == {"dealer_api": "completed", "dealer_html": "completed"}
    # The manifest lists 3 pages + the empty page that ended pagination, each
    # with its kept body. (Pages prefetched past the end may also leave a body
    # behind, depending on timing, so files are not counted.)
    raw_dir = lake / "raw_payloads/date=2026-11-16/source=dealer_api"
    pages = [json.loads(line) for line in (raw_dir / "manifest.jsonl").read_text().splitlines()
             if line.strip()]
    pages = [p for p in pages if p.get("kind") == "page"]
    assert [p["page"] for p in pages] == [1, 2, 3, 4]
    assert all((raw_dir / p["raw"]).exists() for p in pages)


def test_failed_pages_fail_only_their_source_and_are_recorded(clean_db, workdir, instance, http_server):
    results = _run(instance, ["flaky_api", "dealer_api"])
    assert results["dealer_api"].success and not results["flaky_api"].success
    lake = workdir / "lake"
    assert not (lake / "raw_listings/date=2026-11-16/source=flaky_api").exists()  # never silently partial
    kept = pl.read_parquet(lake / "raw_partial/date=2026-11-16/source=flaky_api/part-0.parquet")
    assert kept.height >= 2  # what was fetched is kept for review
    errors = _q(clean_db, "SELECT source, uri, http_status, attempts FROM pipeline.errors")
    assert len(errors) == 1 and errors[0][0] == "flaky_api" and "page=2" in errors[0][1]
    assert errors[0][2] == 500 and errors[0][3] == 2
    status = dict(_q(clean_db, "SELECT source, last_status FROM pipeline.configs"))
    assert status == {"flaky_api": "partial", "dealer_api": "completed"}


def test_replay_rebuilds_raw_without_network(clean_db, workdir, instance, http_server):
    assert _run(instance, ["dealer_api"])["dealer_api"].success
    part = workdir / "lake/raw_listings/date=2026-11-16/source=dealer_api/part-0.parquet"
    before = pl.read_parquet(part).drop("_fetched_at")
    http_server.shutdown()
    hits = dict(Handler.hits)
    replay = {"ops": {"raw_listings": {"config": {"replay": True}}}}
    assert _run(instance, ["dealer_api"], run_config=replay)["dealer_api"].success
    assert Handler.hits == hits  # nothing fetched
    assert pl.read_parquet(part).drop("_fetched_at").equals(before)


def test_inbox_sensor_requests_one_run_per_new_file(clean_db, workdir, instance, monkeypatch):
    from pipeline_assets.automation import inbox_requests

    inbox = workdir / "inbox"
    (inbox / "market").mkdir(parents=True)
    monkeypatch.setenv("LISTINGS_INBOX", str(inbox))
    requests, cursor, _ = inbox_requests(None)
    assert requests == []
    f = inbox / "market" / "2026-11-16_batch1.csv"
    f.write_text('Listing ID,Make,Model,Year,Price,URL\nI1,Ford,Mustang,1967,"$30,000",https://x.example.com/1\n')
    requests, cursor, _ = inbox_requests(cursor)
    assert len(requests) == 1 and requests[0].partition_key == "2026-11-16|market_inbox"
    again, cursor2, _ = inbox_requests(cursor)
    assert again == [] and cursor2 == cursor  # the same file, unchanged: no second run
    f.write_text(f.read_text() + "I2,Ford,Mustang,1968,$31000,https://x.example.com/2\n")
    changed, _, _ = inbox_requests(cursor)
    assert len(changed) == 1 and changed[0].run_key != requests[0].run_key

    # The requested partition collects every file of that day in the inbox.
    (inbox / "market" / "2026-11-16_batch2.csv").write_text(
        "Listing ID,Make,Model,Year,Price,URL\nI3,Dodge,Dart,1969,$9000,https://x.example.com/3\n")
    assert _run(instance, ["market_inbox"])["market_inbox"].success
    raw = pl.read_parquet(workdir / "lake/raw_listings/date=2026-11-16/source=market_inbox/part-0.parquet")
    assert raw["_row"].to_list() == [1, 2, 3] and raw["_file"].n_unique() == 2
    kept = sorted(p.name for p in (workdir / "lake/raw_payloads/date=2026-11-16/source=market_inbox").iterdir())
    assert kept == ["2026-11-16_batch1.csv.gz", "2026-11-16_batch2.csv.gz"]  # the drops outlive the inbox


def test_a_source_that_is_down_fails_alone(clean_db, workdir, instance, http_server, monkeypatch):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    monkeypatch.setenv("COLLECT_DOWN_PORT", str(s.getsockname()[1]))  # bound, never listening: refused
    try:
        results = _run(instance, ["down_api", "dealer_api"])
    finally:
        s.close()
    assert results["dealer_api"].success and not results["down_api"].success
    status = dict(_q(clean_db, "SELECT source, last_status FROM pipeline.configs"))
    assert status == {"down_api": "failed", "dealer_api": "completed"}
    (uri, attempts, message), = _q(clean_db, "SELECT uri, attempts, message FROM pipeline.errors")
    assert uri.startswith("http://127.0.0.1:") and attempts == 2 and message
