"""collect_source for paginated JSON APIs, against real local servers."""

from __future__ import annotations

import asyncio
import gzip

import orjson
import pyarrow.parquet as pq
import pytest
from collect_server import LocalServer, Reply, free_port, source

from pipeline_assets.collect import collect_many, collect_source
from pipeline_assets.raw.records import flatten, payload_hash

N_PAGES, PER_PAGE = 4, 3


def record(i: int) -> dict:
    return {"id": i, "price": 1000.0 + i, "active": i % 2 == 0, "loc": {"city": f"C{i}", "zip": None},
            "tags": ["a", "b"]}


def page_records(page: int) -> list[dict]:
    """Pages 1..N_PAGES have PER_PAGE records; later pages are empty."""
    if not 1 <= page <= N_PAGES:
        return []
    return [record((page - 1) * PER_PAGE + k) for k in range(PER_PAGE)]


def run(cfg, tmp_path, **kw):
    return asyncio.run(collect_source(cfg, state_dir=tmp_path / "state", raw_dir=tmp_path / "raw",
                                      out_parquet=tmp_path / "out.parquet", **kw))


def rows(tmp_path) -> list[dict]:
    return pq.read_table(tmp_path / "out.parquet").to_pylist()


@pytest.fixture
def srv():
    with LocalServer() as s:
        yield s


def test_page_style(srv, tmp_path):
    srv.route("/list", lambda r: Reply(body={"data": {"items": page_records(int(r.query["page"]))}}))
    cfg = source("dealer_api", "json_api", srv.url("/list"), params={"status": "active"}, record_path="data.items",
                 pagination={"style": "page", "size_param": "per_page", "page_size": PER_PAGE, "prefetch": 2})
    rep = run(cfg, tmp_path)
    assert (rep.status, rep.pages_ok, rep.pages_failed, rep.records) == ("completed", 5, 0, 12)
    assert not rep.truncated and rep.stop_reason == "empty page"
    out = rows(tmp_path)
    assert [r["id"] for r in out] == [str(i) for i in range(12)]
    assert [r["_row"] for r in out] == list(range(1, 13))
    first = out[0]
    # all text, nested flattened, lineage as for file sources
    assert first["price"] == "1000" and first["active"] == "true" and first["loc.city"] == "C0"
    assert first["loc.zip"] is None and first["tags"] == '["a","b"]'
    assert first["_file"] == srv.url("/list?status=active&page=1&per_page=3") and first["_line"] is None
    assert first["_payload_hash"] == payload_hash(flatten(record(0)))
    assert first["_fetched_at"].tzinfo is not None
    seen = [h.query for h in srv.hits_for("/list")]
    assert all(q["status"] == "active" and q["per_page"] == "3" for q in seen)
    # one gzip file per page, readable without the network
    raws = sorted((tmp_path / "raw").glob("p*.gz"))
    assert len(raws) >= 5
    assert orjson.loads(gzip.decompress(raws[0].read_bytes()))["data"]["items"][0]["id"] == 0


def test_offset_style(srv, tmp_path):
    def handler(r):
        off, lim = int(r.query["offset"]), int(r.query["limit"])
        return Reply(body=[record(i) for i in range(off, min(off + lim, 7))])
    srv.route("/o", handler)
    cfg = source("t", "json_api", srv.url("/o"), pagination={"style": "offset", "limit": 3})
    rep = run(cfg, tmp_path)
    assert (rep.status, rep.records, rep.pages_ok) == ("completed", 7, 4)
    assert [r["id"] for r in rows(tmp_path)] == [str(i) for i in range(7)]


def test_cursor_style(srv, tmp_path):
    def handler(r):
        page = int(r.query.get("after", "1"))
        nxt = str(page + 1) if page < 3 else None
        return Reply(body={"results": page_records(page), "meta": {"next": nxt}})
    srv.route("/c", handler)
    cfg = source("t", "json_api", srv.url("/c"), record_path="results",
                 pagination={"style": "cursor", "cursor_param": "after", "cursor_path": "meta.next"})
    rep = run(cfg, tmp_path)
    assert (rep.status, rep.records, rep.pages_ok, rep.stop_reason) == ("completed", 9, 3, "no next cursor")
    assert "after" not in srv.hits_for("/c")[0].query


def test_next_link_in_body_relative(srv, tmp_path):
    def handler(r):
        page = int(r.query.get("p", "1"))
        return Reply(body={"items": page_records(page), "links": {"next": f"/n?p={page + 1}" if page < 2 else None}})
    srv.route("/n", handler)
    cfg = source("t", "json_api", srv.url("/n"), record_path="items",
                 pagination={"style": "next_link", "next_path": "links.next"})
    rep = run(cfg, tmp_path)
    assert (rep.status, rep.records, rep.pages_ok) == ("completed", 6, 2)
    assert rows(tmp_path)[-1]["_file"] == srv.url("/n?p=2")


def test_next_link_in_link_header(srv, tmp_path):
    def handler(r):
        page = int(r.query.get("p", "1"))
        links = [f'<{srv.url("/h")}?p=1>; rel="first"']
        if page < N_PAGES:
            links.append(f'<{srv.url("/h")}?p={page + 1}>; rel="next"')
        return Reply(body=page_records(page), headers={"Link": ", ".join(links)})
    srv.route("/h", handler)
    cfg = source("t", "json_api", srv.url("/h"), pagination={"style": "next_link"})
    rep = run(cfg, tmp_path)
    assert (rep.status, rep.records, rep.pages_ok, rep.stop_reason) == ("completed", 12, 4, "no next link")


def test_page_that_never_ends_is_capped(srv, tmp_path):
    srv.route("/forever", lambda r: Reply(body={"items": [{"page": r.query.get("p", "1")}],
                                                "next": f"/forever?p={int(r.query.get('p', '1')) + 1}"}))
    cfg = source("t", "json_api", srv.url("/forever"), record_path="items",
                 pagination={"style": "next_link", "next_path": "next", "max_pages": 5})
    rep = run(cfg, tmp_path)
    assert rep.truncated and rep.status == "partial" and rep.pages_ok == 5 and rep.records == 5
    assert rep.stop_reason == "max_pages (5)" and rep.errors == []
    assert len(srv.hits_for("/forever")) == 5


def test_numbered_pages_that_never_end_are_capped(srv, tmp_path):
    srv.route("/all", lambda r: Reply(body=[{"page": r.query["page"]}]))
    cfg = source("t", "json_api", srv.url("/all"), pagination={"style": "page", "max_pages": 7, "prefetch": 3})
    rep = run(cfg, tmp_path)
    assert rep.truncated and rep.status == "partial" and rep.pages_ok == 7 and len(srv.hits_for("/all")) == 7


def test_repeating_cursor_stops(srv, tmp_path):
    srv.route("/r", lambda r: Reply(body={"items": [{"x": 1}], "next": "same"}))
    cfg = source("t", "json_api", srv.url("/r"), record_path="items",
                 pagination={"style": "cursor", "cursor_path": "next"})
    rep = run(cfg, tmp_path)
    assert rep.truncated and rep.pages_ok == 2 and "repeats" in rep.stop_reason


def test_html_error_page_where_json_expected(srv, tmp_path):
    def handler(r):
        if r.query["page"] == "2":
            return Reply(200, "<html><body>Service temporarily unavailable</body></html>")
        return Reply(body={"items": page_records(int(r.query["page"]))})
    srv.route("/j", handler)
    cfg = source("t", "json_api", srv.url("/j"), record_path="items", pagination={"style": "page", "prefetch": 1})
    rep = run(cfg, tmp_path)
    assert (rep.status, rep.pages_ok, rep.pages_failed, rep.records) == ("partial", 1, 1, 3)
    err = rep.errors[0]
    assert err.url == srv.url("/j?page=2") and err.status == 200 and err.attempts == 1
    assert "is not valid JSON" in err.error and "<html><body>Service" in err.error and srv.url("/j?page=2") in err.error
    assert err.raw_path and gzip.decompress(open(err.raw_path, "rb").read()).startswith(b"<html>")


def test_malformed_json_fails_source(srv, tmp_path):
    srv.route("/bad", lambda r: Reply(200, b'{"items": [{"id": 1}, {"id": '))
    rep = run(source("t", "json_api", srv.url("/bad"), record_path="items"), tmp_path)
    assert rep.status == "failed" and rep.records == 0 and "is not valid JSON" in rep.errors[0].error
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 0  # an empty file with the lineage schema


def test_missing_record_path_is_an_error(srv, tmp_path):
    srv.route("/x", lambda r: Reply(body={"data": []}))
    rep = run(source("t", "json_api", srv.url("/x"), record_path="items"), tmp_path)
    assert rep.status == "failed" and "record_path 'items' not found" in rep.errors[0].error


def test_http_error_mid_pagination(srv, tmp_path):
    srv.route("/e", lambda r: Reply(body=page_records(1)) if r.query["page"] == "1" else Reply(500, "oops"))
    cfg = source("t", "json_api", srv.url("/e"), pagination={"style": "page", "prefetch": 1}, http={"max_attempts": 2})
    rep = run(cfg, tmp_path)
    assert rep.status == "partial" and rep.errors[0].status == 500 and rep.errors[0].attempts == 2
    assert "-page-http500-" in rep.errors[0].raw_path  # kept apart from good bodies


def test_late_field_widens_schema(srv, tmp_path):
    def handler(r):
        page = int(r.query["page"])
        recs = page_records(page)
        if page == 3:
            recs[1]["late"] = {"field": "here"}
        return Reply(body=recs)
    srv.route("/w", handler)
    cfg = source("t", "json_api", srv.url("/w"), pagination={"style": "page"})
    rep = asyncio.run(collect_source(cfg, state_dir=tmp_path, raw_dir=tmp_path / "raw",
                                     out_parquet=tmp_path / "out.parquet", chunk_rows=2))
    out = rows(tmp_path)
    assert rep.records == 12 and [r["_row"] for r in out] == list(range(1, 13))
    assert [r["late.field"] for r in out].count("here") == 1 and out[7]["late.field"] == "here"
    assert list(out[0])[-5:] == ["_file", "_row", "_line", "_fetched_at", "_payload_hash"]
    assert not list(tmp_path.glob("out.parquet.part*"))


def test_replay_rebuilds_same_parquet(srv, tmp_path):
    def handler(r):
        if r.query["page"] == "3":
            return Reply(200, "<html>oops</html>")
        return Reply(body={"items": page_records(int(r.query["page"]))})
    srv.route("/j", handler)
    cfg = source("t", "json_api", srv.url("/j"), record_path="items", pagination={"style": "page"})
    live = run(cfg, tmp_path)
    before = pq.read_table(tmp_path / "out.parquet")
    srv.stop()  # no network from here on
    (tmp_path / "out.parquet").unlink()
    again = run(cfg, tmp_path, replay=True)
    after = pq.read_table(tmp_path / "out.parquet")
    assert after.equals(before) and after.num_rows == 6
    assert (again.status, again.pages_ok, again.pages_failed, again.records) == \
        (live.status, live.pages_ok, live.pages_failed, live.records) == ("partial", 2, 1, 6)
    assert again.replay and again.errors[0].error == live.errors[0].error


def test_conditional_second_run_not_modified(srv, tmp_path):
    def handler(r):
        page = int(r.query["page"])
        tag = f'"p{page}-v1"'
        if r.headers.get("if-none-match") == tag:
            return Reply(304, headers={"ETag": tag})
        return Reply(body=page_records(page), headers={"ETag": tag})
    srv.route("/c", handler)
    cfg = source("t", "json_api", srv.url("/c"), conditional=True, pagination={"style": "page"})
    first = run(cfg, tmp_path)
    table1 = pq.read_table(tmp_path / "out.parquet")
    second = run(cfg, tmp_path)
    table2 = pq.read_table(tmp_path / "out.parquet")
    assert first.pages_ok == 5 and first.pages_not_modified == 0
    assert second.pages_ok == 0 and second.pages_not_modified == 5 and second.status == "completed"
    assert second.records == 12
    cols = [c for c in table1.column_names if c != "_fetched_at"]
    assert table2.select(cols).equals(table1.select(cols))
    assert (tmp_path / "state" / "t.validators.json").exists()
    # and replay of the conditional run still has the bodies
    assert run(cfg, tmp_path, replay=True).records == 12


def test_two_sources_one_server_down(srv, tmp_path):
    srv.route("/ok", lambda r: Reply(body=page_records(int(r.query["page"]))))
    up = source("up_api", "json_api", srv.url("/ok"), pagination={"style": "page"})
    down = source("down_api", "json_api", f"http://127.0.0.1:{free_port()}/x", http={"max_attempts": 2})
    bad = {"name": "bad_cfg", "type": "json_api"}
    reports = asyncio.run(collect_many([up, down, bad], state_dir=tmp_path / "state", raw_root=tmp_path / "raw",
                                       out_dir=tmp_path / "out"))
    by = {r.source: r for r in reports}
    assert by["up_api"].status == "completed" and by["up_api"].records == 12
    assert by["down_api"].status == "failed" and by["down_api"].pages_failed == 1
    assert "connect error" in by["down_api"].errors[0].error and by["down_api"].errors[0].attempts == 2
    assert by["bad_cfg"].status == "failed" and "source bad_cfg:" in by["bad_cfg"].errors[0].error
    assert pq.read_table(tmp_path / "out" / "up_api.parquet").num_rows == 12
