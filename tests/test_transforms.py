"""Pure transforms, without Dagster: parsing, validation, hashing, dedup,
enrichment, snapshots and source config."""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl
import pytest

from pipeline_assets.transforms import hashing
from pipeline_assets.transforms.dedup import dedup
from pipeline_assets.transforms.enrich import enrich, market_inputs, market_stats_sql
from pipeline_assets.transforms.kinds import CANONICAL_SCHEMA, LINEAGE_SCHEMA, get_kind
from pipeline_assets.sources import SourceConfigError, parse_sources
from pipeline_assets.transforms.validate import rejected_view, valid_view, validate

DAY = date(2026, 11, 16)
VEHICLES, JOBS = get_kind("vehicles"), get_kind("jobs")
VFIELDS = {"make": "Make", "model": "Model", "year": "Year", "price": "Price", "mileage": "Mileage",
           "vin": "VIN", "source_url": "URL", "state": "State", "posted_at": "Posted",
           "source_listing_id": "id", "condition": "Condition"}


def raw_frame(rows: list[dict]) -> pl.LazyFrame:
    n = len(rows)
    cols = sorted({k for r in rows for k in r})
    df = pl.DataFrame({c: [r.get(c) for r in rows] for c in cols}, schema={c: pl.String for c in cols})
    return df.with_columns(
        pl.lit("file.csv").alias("_file"), pl.int_range(1, n + 1, dtype=pl.Int64).alias("_row"),
        pl.lit(None, dtype=pl.Int64).alias("_line"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("_fetched_at"),
        pl.lit("h").alias("_payload_hash")).lazy()


def car(**kw) -> dict:
    base = {"id": "1", "Make": "Ford", "Model": "Mustang", "Year": "1967", "Price": "$34,995",
            "Mileage": "82,000 mi", "VIN": "1FAFP40634F172825", "URL": "https://m.example.com/l/1",
            "State": "tx", "Posted": "11/02/2026", "Condition": "good"}
    base.update(kw)
    return base


def check(rows, kind=VEHICLES, fields=VFIELDS) -> pl.DataFrame:
    return validate(raw_frame(rows), source="m", kind=kind, fields=fields, day=DAY).collect()


def test_valid_vehicle_is_typed_and_normalised():
    df = check([car()])
    r = df.row(0, named=True)
    assert r["_reasons"] == []
    assert (r["price"], r["mileage"], r["year"]) == (34995.0, 82000, 1967)
    assert (r["state"], r["condition"], r["posted_at"]) == ("TX", "Good", date(2026, 11, 2))
    assert r["title"] == "1967 Ford Mustang"  # derived when the source has none
    assert list(df.columns[: len(CANONICAL_SCHEMA)]) == list(CANONICAL_SCHEMA)


@pytest.mark.parametrize("raw,miles", [("150,000km", 93206), ("82,000 mi", 82000), ("45000", 45000),
                                        ("1,000 KM", 621)])
def test_mileage_units(raw, miles):
    assert check([car(Mileage=raw)])["mileage"][0] == miles


@pytest.mark.parametrize("override,reason", [
    ({"Year": "1899"}, "year: 1899 below minimum 1920"),
    ({"Year": "2099"}, "year: 2099 is in the future"),
    ({"Price": "-500"}, "price: -500.0 below minimum 1000"),
    ({"Price": "$500"}, "price: 500.0 below minimum 1000"),
    ({"Make": ""}, "make: missing"),
    ({"URL": "htp:/broken"}, "source_url: 'htp:/broken' is not a valid http(s) URL"),
    ({"VIN": "1FAFP40634F17282O"}, "vin: '1FAFP40634F17282O' is not a 17-character VIN"),
    ({"Year": "abc"}, "year: 'abc' is not an integer"),
    ({"Condition": "Mint"}, "condition: 'Mint' is not one of Excellent, Very Good, Good, Fair, Project"),
])
def test_vehicle_rules_reject_with_reason(override, reason):
    df = check([car(**override)])
    assert df["_reasons"][0].to_list() == [reason]


def test_all_reasons_are_kept_and_rows_split_exactly():
    df = check([car(), car(Year="1899", Price="-5", Make=""), car(id="3")])
    assert sorted(df["_reasons"][1].to_list()) == sorted(
        ["make: missing", "year: 1899 below minimum 1920", "price: -5.0 below minimum 1000"])
    lf = df.lazy()
    valid, rejected = valid_view(lf).collect(), rejected_view(lf).collect()
    assert (valid.height, rejected.height) == (2, 1)
    assert rejected["reason_count"][0] == 3 and "raw_values" not in valid.columns
    assert '"Year":"1899"' in rejected["raw_values"][0]  # the source's own text is kept


def test_year_rule_uses_partition_date_not_wall_clock():
    old_day = validate(raw_frame([car(Year="2027")]), source="m", kind=VEHICLES, fields=VFIELDS,
                       day=date(2020, 1, 1)).collect()
    assert old_day["_reasons"][0].to_list() == ["year: 2027 is in the future"]


def test_jobs_salary_range_rule():
    fields = {"title": "t", "company": "c", "source_url": "u", "salary_min": "lo", "salary_max": "hi"}
    rows = [{"t": "Dev", "c": "Acme", "u": "https://j.example.com/1", "lo": "80k", "hi": "95,000"},
            {"t": "Dev", "c": "Acme", "u": "https://j.example.com/2", "lo": "90000", "hi": "70000"}]
    df = check(rows, JOBS, fields)
    assert df["salary_min"][0] == 80000.0 and df["_reasons"][0].to_list() == []
    assert df["_reasons"][1].to_list() == ["salary: min 90000.0 above max 70000.0"]


def test_content_hash_is_pinned_and_sql_matches_python():
    rec = {"source_listing_id": "1", "source_url": "https://m.example.com/l/1", "make": "Ford",
           "model": "Mustang", "year": 1967, "price": 34995.0, "posted_at": date(2026, 11, 2)}
    h = hashing.content_hash(VEHICLES, "m", rec)
    # Pinned: changing the canonical form must be a deliberate version bump.
    assert h == "5bb7e67180438a2ffd77797f1b3a441b3df71c0427fc4dd4380bba2ae0a527bc"
    df = pl.DataFrame([{**{c: None for c in CANONICAL_SCHEMA}, **rec, "kind": "vehicles", "source": "m"}],
                      schema=CANONICAL_SCHEMA)
    con = duckdb.connect()
    con.register("t", df.to_arrow())
    got = con.execute(f"SELECT {hashing.content_hash_sql(VEHICLES)} FROM t").fetchone()[0]
    assert got == h


def test_listing_id_prefers_vin_then_source_id():
    a = hashing.listing_id(VEHICLES, "dealer", {"vin": "1FAFP40634F172825", "source_listing_id": "D1"})
    b = hashing.listing_id(VEHICLES, "market", {"vin": "1FAFP40634F172825", "source_listing_id": "M9"})
    c = hashing.listing_id(VEHICLES, "market", {"vin": None, "source_listing_id": "M9"})
    d = hashing.listing_id(VEHICLES, "dealer", {"vin": None, "source_listing_id": "M9"})
    assert a == b  # same VIN on two sources: one real-world listing
    assert len({a, c, d}) == 3  # source ids are only unique within their source


def _validated_file(tmp_path, rows) -> str:
    p = tmp_path / "validated.parquet"
    valid_view(check(rows).lazy()).sink_parquet(str(p))
    return str(p)


def test_dedup_counts_exact_and_same_listing(tmp_path):
    rows = [car(id="1"), car(id="1"), car(id="2", VIN="", Price="$40,000"),
            car(id="2", VIN="", Price="$39,000"), car(id="3", VIN="")]
    con = duckdb.connect()
    deduped, dups = dedup(con, _validated_file(tmp_path, rows), VEHICLES)
    d, x = deduped.pl(), dups.pl()
    assert d.height == 3 and x.height == 2
    assert sorted(x["duplicate_kind"].to_list()) == ["exact", "same_listing"]
    # The later version of listing 2 wins (the file's most recent state).
    assert d.filter(pl.col("source_listing_id") == "2")["price"].to_list() == [39000.0]
    assert d["listing_id"].n_unique() == 3
    # Ids match the Python reference implementation.
    r = d.filter(pl.col("source_listing_id") == "3").row(0, named=True)
    assert r["listing_id"] == hashing.listing_id(VEHICLES, "m", {"vin": None, "source_listing_id": "3"})


def test_enrich_grades_regions_and_market():
    base = {c: None for c in CANONICAL_SCHEMA} | {c: None for c in LINEAGE_SCHEMA}
    rows = []
    for i, (make, model, year, price, state) in enumerate([
            ("Porsche", "911", 1973, 80000.0, "CO"), ("Chevrolet", "Camaro", 1969, 40000.0, "TX"),
            ("Chevrolet", "Camaro", 1969, 50000.0, "NY"), ("Chevrolet", "Camaro", 1969, 60000.0, "CA"),
            ("Buick", "Skylark", 1965, 20000.0, "OH"), ("Buick", "Skylark", 1985, 9000.0, None)]):
        rows.append(base | {"listing_id": f"L{i}", "kind": "vehicles", "source": "s", "make": make,
                            "model": model, "year": year, "price": price, "state": state})
    schema = {"listing_id": pl.String, **CANONICAL_SCHEMA, **LINEAGE_SCHEMA}
    df = enrich(pl.LazyFrame(rows, schema=schema)).collect().sort("listing_id")
    assert df["investment_grade"].to_list() == ["A+", "A", "A", "A", "A-", "B+"]
    assert df["region"].to_list() == ["West", "South", "Northeast", "West", "Midwest", None]
    camaros = df.filter(pl.col("model") == "Camaro")
    assert camaros["market_median"].to_list() == [50000.0] * 3
    assert camaros["market_position"].to_list() == ["below", "at", "above"]
    assert df.filter(pl.col("model") == "911")["market_position"][0] is None  # segment of 1: no position

    # The DuckDB statistics used by the asset give the same answer as Polars.
    lf = pl.LazyFrame(rows, schema=schema)
    con = duckdb.connect()
    con.register("inputs", market_inputs(lf).collect().to_arrow())
    market = con.sql(market_stats_sql("inputs")).pl().lazy()
    via_duckdb = enrich(lf, market).collect().sort("listing_id")
    assert via_duckdb.select("market_median", "market_position").equals(df.select("market_median", "market_position"))


# Snapshots and scores: tests/test_history.py (incremental state, hand-computed multi-day fixtures).


@pytest.mark.parametrize("doc,message", [
    ({"sources": [{"name": "x", "kind": "boats", "format": "csv", "location": "a.csv",
                   "fields": {"make": "m"}}]}, "source x: kind unknown listing kind 'boats'"),
    ({"sources": [{"name": "x", "kind": "vehicles", "format": "csv", "location": "a.csv",
                   "fields": {"make": "m"}}]}, "source x: required field(s) not mapped: source_url, model, year"),
    ({"sources": [{"name": "x", "kind": "vehicles", "format": "csv", "location": "ftp://h/a.csv",
                   "fields": {"make": "m"}}]}, "source x: location: unsupported URL scheme 'ftp'"),
    ({"sources": [{"name": "x", "kind": "vehicles", "format": "csv", "location": "https:///a.csv",
                   "fields": {"make": "m"}}]}, "has no host"),
    ({"sources": [{"name": "Bad Name; DROP", "kind": "vehicles", "format": "csv", "location": "a",
                   "fields": {}}]}, "is invalid: use lowercase letters"),
    ({"sources": [{"name": "x", "kind": "jobs", "format": "xls", "location": "a", "fields": {}}]},
     "source x: format 'xls' is not one of"),
    ({"sources": [{"name": "x", "kind": "jobs", "format": "csv", "location": "a",
                   "fields": {"title": "t", "colour": "c"}}]}, "source x: fields.colour: not a field of kind jobs"),
])
def test_source_config_errors_name_source_and_key(doc, message):
    with pytest.raises(SourceConfigError) as e:
        parse_sources(doc)
    assert message in str(e.value)


def test_json_reader_widens_schema_when_a_field_appears_late(tmp_path, monkeypatch):
    from datetime import datetime, timezone

    from pipeline_assets.raw import files as readers

    monkeypatch.setattr(readers, "CHUNK_ROWS", 2)
    lines = [{"id": i, "company": {"name": f"C{i}"}} for i in range(3)] + [{"id": 3, "company": None, "x": 1}]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(__import__("json").dumps(r) for r in lines) + "\n")
    out = tmp_path / "out.parquet"
    n = readers.read_to_parquet(src, "jsonl", out, origin="in.jsonl", fetched_at=datetime.now(timezone.utc))
    df = pl.read_parquet(out)
    assert n == 4 and df["_row"].to_list() == [1, 2, 3, 4] and df["_line"].to_list() == [1, 2, 3, 4]
    assert df["company.name"].to_list() == ["C0", "C1", "C2", None]
    assert df["x"].to_list() == [None, None, None, "1"]
    assert not list(tmp_path.glob("*.part*"))


def test_batched_transform_equals_one_pass(tmp_path):
    from pipeline_assets.transforms.batches import map_batches_to_parquet

    rows = [car(id=str(i), Year=str(1950 + i % 80), Price=f"${1000 + i}") for i in range(1050)]
    raw = tmp_path / "raw.parquet"
    raw_frame(rows).sink_parquet(raw)
    fn = lambda lf: validate(lf, source="m", kind=VEHICLES, fields=VFIELDS, day=DAY)  # noqa: E731
    out = tmp_path / "batched.parquet"
    n = map_batches_to_parquet([raw, raw], fn, out, batch_rows=100)
    once = pl.concat([fn(pl.scan_parquet(raw)), fn(pl.scan_parquet(raw))]).collect()
    assert n == 2100 and pl.read_parquet(out).equals(once)
    assert pq_row_groups(out) == 22  # 11 batches per file: memory bounded by the batch, not the file


def pq_row_groups(path) -> int:
    import pyarrow.parquet as pq
    return pq.ParquetFile(str(path)).metadata.num_row_groups


def test_xml_file_reader(tmp_path):
    from datetime import datetime, timezone

    from pipeline_assets.raw import files as readers

    src = tmp_path / "feed.xml"
    src.write_text('<?xml version="1.0"?><feed xmlns="urn:x"><vehicle id="V1"><make>Ford</make>'
                   '<price currency="USD">35000</price></vehicle><vehicle id="V2"><make>Dodge</make></vehicle></feed>')
    out = tmp_path / "out.parquet"
    assert readers.read_to_parquet(src, "xml", out, origin="feed.xml", record_path="vehicle",
                                   fetched_at=datetime.now(timezone.utc)) == 2
    df = pl.read_parquet(out)
    assert df["make"].to_list() == ["Ford", "Dodge"] and df["_row"].to_list() == [1, 2]
    bad = tmp_path / "bad.xml"
    bad.write_text('<feed>\n<vehicle><make>Ford</make></vehicle>\n<vehicle><make>Do')
    with pytest.raises(readers.SourceParseError, match="bad.xml"):
        readers.read_to_parquet(bad, "xml", out, origin="bad.xml", record_path="vehicle",
                                fetched_at=datetime.now(timezone.utc))
