"""collect_source for HTML listing pages (pagination + detail pages)."""

from __future__ import annotations

import asyncio

import pyarrow.parquet as pq
import pytest
from collect_server import LocalServer, Reply, source

from pipeline_assets.collect import collect_source
from pipeline_assets.sources import FieldSpec
from pipeline_assets.collect.html import decode, parse_listing

CARS = {1: ("Ford", "Focus", 9500), 2: ("Honda", "Civic", 12000), 3: ("Kia", "Rio", 7000),
        4: ("Mazda", "3", 11000), 5: ("Audi", "A4", 21000)}
PAGES = {1: [1, 2], 2: [3, 4], 3: [5]}


def listing_page(n: int) -> str:
    items = "".join(
        f'<li class="car" data-id="{i}"><h2> {CARS[i][0]}\n  <small>{CARS[i][1]}</small></h2>'
        f'<span class="price">${CARS[i][2]:,}</span><a class="more" href="/car/{i}">details</a></li>'
        for i in PAGES[n])
    nxt = f'<a rel="next" href="?page={n + 1}">next</a>' if n + 1 in PAGES else ""
    return f"<html><body><ul>{items}</ul><nav>{nxt}</nav></body></html>"


def detail_page(i: int) -> str:
    return (f'<html><body><div id="desc">Nice {CARS[i][0]} &amp; clean</div>'
            f'<img class="photo" src="/img/{i}.jpg"><p class="vin">VIN{i:04d}</p></body></html>')


def html_cfg(srv: LocalServer, **kw) -> dict:
    return source("cars_html", "html", srv.url("/cars"), item_selector="li.car",
                  selectors={"listing_id": {"attr": "data-id"}, "title": "h2", "price": ".price",
                          "url": {"css": "a.more", "attr": "href"}, "missing": ".nope"},
                  next_selector="a[rel=next]",
                  detail={"link_field": "url", "selectors": {"description": "#desc", "vin": ".vin",
                                                          "photo": {"css": "img.photo", "attr": "src"},
                                                          "title": ".not-on-detail"}}, **kw)


@pytest.fixture
def srv():
    with LocalServer() as s:
        s.route("/cars", lambda r: Reply(body=listing_page(int(r.query.get("page", "1")))))
        for i in CARS:
            s.route(f"/car/{i}", lambda r, i=i: Reply(body=detail_page(i)))
        yield s


def run(cfg, tmp_path, **kw):
    return asyncio.run(collect_source(cfg, state_dir=tmp_path / "state", raw_dir=tmp_path / "raw",
                                      out_parquet=tmp_path / "out.parquet", **kw))


def test_listing_pages_with_details(srv, tmp_path):
    rep = run(html_cfg(srv), tmp_path)
    assert (rep.status, rep.pages_ok, rep.details_ok, rep.records) == ("completed", 3, 5, 5)
    assert rep.stop_reason == "no next link" and not rep.truncated
    out = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [r["listing_id"] for r in out] == ["1", "2", "3", "4", "5"]
    first = out[0]
    assert first["title"] == "Ford Focus" and first["price"] == "$9,500" and first["missing"] is None
    assert first["url"] == srv.url("/car/1")  # made absolute
    assert first["description"] == "Nice Ford & clean" and first["vin"] == "VIN0001"
    assert first["photo"] == srv.url("/img/1.jpg")
    assert out[2]["_file"] == srv.url("/cars?page=2")  # the listing page, resolved from "?page=2"
    assert len(list((tmp_path / "raw").glob("*-detail-*.gz"))) == 5


def test_detail_failure_makes_partial(srv, tmp_path):
    srv.route("/car/4", lambda r: Reply(404, "gone"))
    rep = run(html_cfg(srv), tmp_path)
    assert (rep.status, rep.details_ok, rep.details_failed, rep.records) == ("partial", 4, 1, 5)
    err = rep.errors[0]
    assert err.kind == "detail" and err.status == 404 and err.url == srv.url("/car/4")
    row = pq.read_table(tmp_path / "out.parquet").to_pylist()[3]
    assert row["listing_id"] == "4" and row["description"] is None  # listing fields kept


def test_html_replay_same_parquet(srv, tmp_path):
    cfg = html_cfg(srv)
    run(cfg, tmp_path)
    before = pq.read_table(tmp_path / "out.parquet")
    srv.stop()
    rep = run(cfg, tmp_path, replay=True)
    assert pq.read_table(tmp_path / "out.parquet").equals(before)
    assert (rep.status, rep.pages_ok, rep.details_ok) == ("completed", 3, 5)


def test_max_pages_truncates(srv, tmp_path):
    rep = run(html_cfg(srv, max_pages=2), tmp_path)
    assert rep.truncated and rep.pages_ok == 2 and rep.records == 4


def test_next_selector_loop_is_stopped(srv, tmp_path):
    page = '<li class="car" data-id="9"><h2>x</h2></li><a rel="next" href="/loop">again</a>'
    srv.route("/loop", lambda r: Reply(body=page))
    cfg = html_cfg(srv)
    cfg.update(url=srv.url("/loop"), detail=None)
    rep = run(cfg, tmp_path)
    assert rep.truncated and rep.pages_ok == 1 and "repeats" in rep.stop_reason


def test_detail_link_to_other_host_refused(srv, tmp_path):
    srv.route("/ext", lambda r: Reply(body='<li class="car" data-id="1"><a class="more" href="http://evil.example.net/x">x</a></li>'))
    cfg = html_cfg(srv)
    cfg["url"] = srv.url("/ext")
    rep = run(cfg, tmp_path)
    assert rep.status == "partial" and rep.details_failed == 1
    assert "'evil.example.net' is not in allowed_hosts" in rep.errors[0].error


def test_parse_listing_and_charset():
    html = decode('<div class="i"><b>Café</b><a href="../up">u</a></div>'.encode("latin-1"),
                  "text/html; charset=ISO-8859-1")
    items, nxt = parse_listing(html, "https://x.example.com/a/b/", "div.i",
                               {"name": "b", "link": FieldSpec(css="a", attr="href")}, "a.next")
    assert items == [{"name": "Café", "link": "https://x.example.com/a/up"}] and nxt is None
