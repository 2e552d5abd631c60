"""collect_source for XML dealer feeds."""

from __future__ import annotations

import asyncio

import pyarrow.parquet as pq
import pytest
from collect_server import LocalServer, Reply, source

from pipeline_assets.collect import collect_source
from pipeline_assets.raw.records import SourceParseError
from pipeline_assets.raw.xml_feed import read_feed

FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<inv:feed xmlns:inv="urn:dealer:inventory" xmlns:x="urn:extra">
  <inv:dealer>Main St Motors</inv:dealer>
  <inv:vehicle id="D1" x:status="new">
    <inv:vin>1G1YY</inv:vin><inv:make>Chevrolet</inv:make>
    <inv:price currency="USD">35000</inv:price>
    <inv:location><inv:city>Austin</inv:city></inv:location>
    <inv:photo url="https://img/1a.jpg"/><inv:photo url="https://img/1b.jpg"/>
  </inv:vehicle>
  <!-- a comment between records -->
  <inv:vehicle id="D2">
    <inv:vin>2HGFC</inv:vin><inv:make>Honda</inv:make>
    <inv:price currency="USD">18500</inv:price>
  </inv:vehicle>
</inv:feed>
"""
FIELDS = {"id": "@id", "status": "@status", "vin": "vin", "make": "make", "price": "price",
          "currency": "price/@currency", "city": "location/city", "photo": "photo/@url"}


def run(cfg, tmp_path, **kw):
    return asyncio.run(collect_source(cfg, state_dir=tmp_path / "state", raw_dir=tmp_path / "raw",
                                      out_parquet=tmp_path / "out.parquet", **kw))


@pytest.fixture
def srv():
    with LocalServer() as s:
        s.route("/feed.xml", lambda r: Reply(body=FEED, headers={"Content-Type": "application/xml"}))
        yield s


def test_feed_with_fields(srv, tmp_path):
    cfg = source("dealer_xml", "xml", srv.url("/feed.xml"), record_tag="vehicle", selectors=FIELDS)
    rep = run(cfg, tmp_path)
    assert (rep.status, rep.pages_ok, rep.records) == ("completed", 1, 2)
    out = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert out[0] == {**out[0], "id": "D1", "status": "new", "vin": "1G1YY", "make": "Chevrolet", "price": "35000",
                      "currency": "USD", "city": "Austin", "photo": "https://img/1a.jpg",
                      "_file": srv.url("/feed.xml"), "_row": 1, "_line": None}
    assert out[1]["city"] is None and out[1]["status"] is None


def test_feed_without_fields_takes_everything(srv, tmp_path):
    rep = run(source("dealer_xml", "xml", srv.url("/feed.xml"), record_tag="vehicle"), tmp_path)
    out = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert rep.records == 2
    first = out[0]
    assert first["@id"] == "D1" and first["vin"] == "1G1YY" and first["location.city"] == "Austin"
    assert first["price.@currency"] == "USD" and first["price.#text"] == "35000"
    assert first["photo"] == '[{"@url":"https://img/1a.jpg"},{"@url":"https://img/1b.jpg"}]'


def test_several_feed_urls_and_replay(srv, tmp_path):
    srv.route("/feed2.xml", lambda r: Reply(body=b"<feed><vehicle id='D9'><vin>X</vin></vehicle></feed>"))
    cfg = source("dealer_xml", "xml", srv.url("/feed.xml"), urls=[srv.url("/feed2.xml")], record_tag="vehicle",
                 selectors=FIELDS)
    rep = run(cfg, tmp_path)
    assert (rep.pages_ok, rep.records) == (2, 3)
    before = pq.read_table(tmp_path / "out.parquet")
    srv.stop()
    assert run(cfg, tmp_path, replay=True).records == 3
    assert pq.read_table(tmp_path / "out.parquet").equals(before)


def test_malformed_xml_names_url_and_line(srv, tmp_path):
    broken = FEED.replace(b"<inv:make>Honda</inv:make>", b"<inv:make>Honda</inv:mak>")
    srv.route("/broken.xml", lambda r: Reply(body=broken))
    rep = run(source("dealer_xml", "xml", srv.url("/broken.xml"), record_tag="vehicle"), tmp_path)
    assert rep.status == "failed" and rep.records == 0  # not a silently shorter inventory
    err = rep.errors[0].error
    assert err.startswith(f"{srv.url('/broken.xml')} line 12: malformed XML")


def test_entities_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file://{secret}">]>'
           f'<f><vehicle><vin>&x;</vin></vehicle></f>').encode()
    recs = list(read_feed(xxe, "xxe.xml", "vehicle", {"vin": "vin"}))
    assert recs == [{"vin": "&x;"}]  # left as written, the file is never read


def test_internal_entities_not_expanded():
    lol = (b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY a "aaaaaaaaaa">'
           b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
           b'<f><vehicle><vin>&c;</vin></vehicle></f>')
    assert list(read_feed(lol, "lol.xml", "vehicle", None)) == [{"vin": "&c;"}]


def test_empty_body_is_an_error():
    with pytest.raises(SourceParseError, match="empty.xml line 1: malformed XML"):
        read_feed(b"", "empty.xml", "vehicle", None)
