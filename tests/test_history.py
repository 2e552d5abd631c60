"""Listing history, snapshots and scores: hand-computed expectations over multi-day fixtures.

Two layers:
- the pure transforms (update_history chained day by day on real Parquet files);
- the Dagster graph on real files and a real Postgres: forward run, re-run of a
  day, and a reverse-order run that must end with the same tables.

The scenario (the same in both layers; A = dealer_feed, B = marketplace_csv):

    listing              D1   D2   D3   D4   D5
    A:S  steady          x    x    x    x    x
    A:L3 lives 3 days    x    x    x    .    .     disappears on D4, lifespan 3
    A:R  comes back      x    .    .    x    x     disappeared on D2, repost on D4
    A:M  moves A -> B    x    x    .    .    .     disappeared on D3
    B:M  (same car)                x    x    x     moved (repost under a new source) on D3
    B:P  price changes   20k  gap  19k  19k  18.5k 2 changes
    B:Q                  x    gap  x    .    .     disappears on D4, lifespan 3
    B is missing entirely on D2 (no file): a scrape gap, nothing disappears.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import psycopg
import pytest

from pipeline_assets.transforms.history import (SCORE_WEIGHTS, listing_quality, scores, snapshots, state_stats,
                                                today_relation, update_history)
from pipeline_assets.transforms.listing_scores import write_listing_scores

D = [date(2026, 11, 16) + timedelta(days=i) for i in range(5)]
D1, D2, D3, D4, D5 = D

# (key, source, days present, price by day)
PRESENCE = {
    ("dealer_feed", "S"): {D1, D2, D3, D4, D5},
    ("dealer_feed", "L3"): {D1, D2, D3},
    ("dealer_feed", "R"): {D1, D4, D5},
    ("dealer_feed", "M"): {D1, D2},
    ("marketplace_csv", "M"): {D3, D4, D5},
    ("marketplace_csv", "P"): {D1, D3, D4, D5},
    ("marketplace_csv", "Q"): {D1, D3},
}
PRICES = {("marketplace_csv", "P"): {D1: 20000.0, D3: 19000.0, D4: 19000.0, D5: 18500.0}}


# -- pure transforms ----------------------------------------------------------

def _today(tmp: Path, day: date) -> str:
    rows = [{"source": s, "listing_id": lid, "kind": "vehicles", "entity_id": f"E-{lid}",
             "price": PRICES.get((s, lid), {}).get(day, 30000.0), "market_segment": None}
            for (s, lid), days in sorted(PRESENCE.items()) if day in days]
    f = tmp / f"today-{day}.parquet"
    pl.DataFrame(rows, schema={"source": pl.String, "listing_id": pl.String, "kind": pl.String,
                               "entity_id": pl.String, "price": pl.Float64,
                               "market_segment": pl.String}).write_parquet(f)
    return f"SELECT * FROM read_parquet('{f}')"


def _chain(tmp: Path, days=D, disappear_after=None):
    tmp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    prev = None
    out = {}
    for day in days:
        res = update_history(con, day, _today(tmp, day), prev.state if prev else None,
                             prev.sources if prev else None, tmp / f"h-{day}", disappear_after)
        out[day] = res
        prev = res
    return out


def _row(res, source, lid) -> dict:
    return pl.read_parquet(res.state).filter((pl.col("source") == source) & (pl.col("listing_id") == lid)).row(
        0, named=True)


def _snap(res, day, source) -> dict:
    counts = pl.LazyFrame({"source": ["dealer_feed", "marketplace_csv"], "kind": ["vehicles"] * 2,
                           "raw_rows": [10, 10], "rejected_rows": [1, 0], "duplicate_rows": [0, 0]})
    quality = pl.LazyFrame({"source": ["dealer_feed", "marketplace_csv"], "avg_quality_score": [80.0, 60.0],
                            "fresh_share": [1.0, 0.5], "field_completeness": [0.9, 0.7]})
    df = snapshots(state_stats(pl.scan_parquet(res.state)), pl.scan_parquet(res.sources), day, counts,
                   quality).collect()
    rows = df.filter(pl.col("source") == source)
    return rows.row(0, named=True) if rows.height else None


def test_lives_three_days_reposts_moves_prices_and_scrape_gap(tmp_path):
    h = _chain(tmp_path)
    last = h[D5]
    l3 = _row(last, "dealer_feed", "L3")
    assert (l3["first_seen"], l3["last_seen"], l3["times_seen"], l3["lifespan_days"], l3["days_on_market"],
            l3["status"], l3["disappeared_on"], l3["repost_count"]) == (D1, D3, 3, 3, 3, "disappeared", D4, 0)

    r = _row(last, "dealer_feed", "R")   # gone D2-D3 (two missing observed days), back on D4: one repost
    assert (r["first_seen"], r["last_seen"], r["times_seen"], r["lifespan_days"], r["days_on_market"],
            r["status"], r["repost_count"], r["missed_days"], r["run_start"]) == (D1, D5, 3, 5, 3, "reposted", 1, 1, D4)
    assert _row(h[D2], "dealer_feed", "R")["event"] == "disappeared"
    assert _row(h[D3], "dealer_feed", "R")["event"] == "gone"
    assert _row(h[D4], "dealer_feed", "R")["event"] == "reposted"

    # The same car (entity) moves from A to B: a repost under a new source.
    a, b = _row(last, "dealer_feed", "M"), _row(last, "marketplace_csv", "M")
    assert (a["status"], a["disappeared_on"], a["lifespan_days"]) == ("disappeared", D3, 2)
    assert (b["first_seen"], b["times_seen"], b["repost_count"], b["status"], b["moved_from"]) == (
        D3, 3, 1, "reposted", "dealer_feed:M")
    assert _row(h[D3], "marketplace_csv", "M")["event"] == "moved"

    p = _row(last, "marketplace_csv", "P")   # B had no data on D2: not a missing day
    assert (p["price_first"], p["price_last"], p["price_min"], p["price_max"], p["price_changes"]) == (
        20000.0, 18500.0, 18500.0, 20000.0, 2)
    assert (p["times_seen"], p["lifespan_days"], p["days_on_market"], p["missed_days"], p["status"]) == (
        4, 5, 5, 0, "active")
    assert _row(h[D2], "marketplace_csv", "P")["event"] == "gap"
    assert _row(h[D2], "marketplace_csv", "Q")["event"] == "gap"
    assert h[D2].observed_sources == ["dealer_feed"]

    s = _row(last, "dealer_feed", "S")
    assert (s["times_seen"], s["lifespan_days"], s["status"], s["event"]) == (5, 5, "active", "continuing")


def test_snapshots_per_source_and_day(tmp_path):
    h = _chain(tmp_path)
    keys = ("active_postings", "new_postings", "continuing_postings", "repost_count", "reposts_same_id",
            "reposts_new_id", "disappeared_postings", "median_lifespan_disappeared", "compared_to")
    got = {(day, src): (tuple(s[k] for k in keys) if (s := _snap(h[day], day, src)) else None)
           for day in D for src in ("dealer_feed", "marketplace_csv")}
    assert got == {
        (D1, "dealer_feed"): (4, 4, 0, 0, 0, 0, 0, None, None),
        (D1, "marketplace_csv"): (2, 2, 0, 0, 0, 0, 0, None, None),
        (D2, "dealer_feed"): (3, 0, 3, 0, 0, 0, 1, 1.0, D1),        # R gone after 1 day
        (D2, "marketplace_csv"): None,                              # scrape gap: no row, nothing disappeared
        (D3, "dealer_feed"): (2, 0, 2, 0, 0, 0, 1, 2.0, D2),        # M left A (lived D1-D2)
        (D3, "marketplace_csv"): (3, 0, 2, 1, 0, 1, 0, None, D1),   # M arrived on B: a move; compared to D1
        (D4, "dealer_feed"): (2, 0, 1, 1, 1, 0, 1, 3.0, D3),        # R back (repost), L3 gone (lived 3 days)
        (D4, "marketplace_csv"): (2, 0, 2, 0, 0, 0, 1, 3.0, D3),    # Q gone (D1-D3)
        (D5, "dealer_feed"): (2, 0, 2, 0, 0, 0, 0, None, D4),
        (D5, "marketplace_csv"): (2, 0, 2, 0, 0, 0, 0, None, D4),
    }
    snap = _snap(h[D4], D4, "dealer_feed")
    assert snap["mean_lifespan_disappeared"] == 3.0 and snap["rejection_rate"] == 0.1
    assert snap["median_days_on_market"] == 3.0      # S: 4 days; R: 1 (D1) + 1 (D4, new run) = 2
    assert snap["active_postings"] == snap["new_postings"] + snap["continuing_postings"] + snap["repost_count"]


def test_duckdb_stats_equal_polars_stats(tmp_path):
    h = _chain(tmp_path)
    for day in D:
        polars_stats = state_stats(pl.scan_parquet(h[day].state)).collect().sort("source")
        duck = pl.read_parquet(h[day].stats).select(polars_stats.columns)
        assert duck.equals(polars_stats), day


def test_disappear_after_n_days_is_per_source(tmp_path):
    # With 2 missing days needed on A, R (gone D2, D3) disappears on D3; a one-day blip would not count.
    h = _chain(tmp_path, disappear_after={"dealer_feed": 2})
    assert _row(h[D2], "dealer_feed", "R")["event"] == "missing"
    assert _row(h[D2], "dealer_feed", "R")["status"] == "active"
    assert _row(h[D3], "dealer_feed", "R")["event"] == "disappeared"
    assert _row(h[D4], "dealer_feed", "L3")["event"] == "missing"     # L3 only missing 1 day so far
    assert _row(h[D5], "dealer_feed", "L3")["disappeared_on"] == D5
    r = _row(h[D5], "dealer_feed", "R")
    assert (r["repost_count"], r["status"]) == (1, "reposted")
    # Q on B (threshold 1 there) still disappears on D4.
    assert _row(h[D4], "marketplace_csv", "Q")["event"] == "disappeared"


def test_rerun_gives_identical_state(tmp_path):
    first = _chain(tmp_path / "a")
    again = _chain(tmp_path / "b")
    for day in D:
        assert first[day].fingerprint == again[day].fingerprint
        assert pl.read_parquet(first[day].state).equals(pl.read_parquet(again[day].state))


def test_scores_recompute_from_stored_components(tmp_path):
    h = _chain(tmp_path)
    snap = snapshots(state_stats(pl.scan_parquet(h[D4].state)), pl.scan_parquet(h[D4].sources), D4,
                     pl.LazyFrame({"source": ["dealer_feed"], "kind": ["vehicles"], "raw_rows": [2],
                                   "rejected_rows": [0], "duplicate_rows": [0]}),
                     listing_quality(pl.LazyFrame({"source": ["dealer_feed"] * 2, "quality_score": [50.0, 100.0],
                                                   "posted_at": [D4, date(2026, 1, 1)]}), D4))
    s = scores(snap).collect().filter(pl.col("source") == "dealer_feed").row(0, named=True)
    # median days on market of A's listings on D4: S 4, R 2 (1 day in its first run + 1 in the new one)
    assert s["median_days_on_market"] == 3.0
    assert s["lifespan_component"] == 90.0
    assert s["repost_component"] == 50.0                   # 1 repost of 2 active
    assert s["data_quality_component"] == 87.5             # 50 * (1 - 0) + 0.5 * 75
    assert s["freshness_component"] == 50.0
    w = SCORE_WEIGHTS
    assert s["score"] == pytest.approx(w["lifespan"] * s["lifespan_component"] + w["reposts"] * s["repost_component"]
                                       + w["data_quality"] * s["data_quality_component"]
                                       + w["freshness"] * s["freshness_component"], abs=0.006)
    assert (s["lifespan_weight"], s["repost_weight"], s["data_quality_weight"], s["freshness_weight"]) == (
        0.4, 0.3, 0.2, 0.1)


def test_market_percentile_over_trailing_window(tmp_path):
    """Camaros over two days (one re-priced): percentiles are mid-ranks over the window, each listing once
    at its latest price; 40 days later the old listings have left the window."""
    def enriched(day, rows):
        f = tmp_path / f"enriched-{day}.parquet"
        pl.DataFrame([{"observed_date": day, "source": "s", "listing_id": lid, "kind": "vehicles",
                       "market_segment": "vehicles|chevrolet|camaro|1969", "price": price, "salary_max": None,
                       "quality_score": 50.0, "investment_grade": "A"} for lid, price in rows],
                     schema={"observed_date": pl.Date, "source": pl.String, "listing_id": pl.String,
                             "kind": pl.String, "market_segment": pl.String, "price": pl.Float64,
                             "salary_max": pl.Float64, "quality_score": pl.Float64,
                             "investment_grade": pl.String}).write_parquet(f)
        return f
    con = duckdb.connect()
    f1 = enriched(D1, [("a", 10000.0), ("b", 20000.0), ("c", 30000.0), ("x", 99000.0)])
    f2 = enriched(D2, [("c", 40000.0), ("d", 40000.0)])   # c re-priced; a, b, x only in the window
    h1 = update_history(con, D1, today_relation(f1, None), None, None, tmp_path / "h1")
    h2 = update_history(con, D2, today_relation(f2, None), h1.state, h1.sources, tmp_path / "h2")
    out = tmp_path / "ls.parquet"
    assert write_listing_scores(con, D2, f2, h2.state, out) == 2
    df = pl.read_parquet(out).sort("listing_id")
    # window values (latest per listing): a 10k, b 20k, c 40k, d 40k, x 99k -> n 5, median 40k
    assert df["market_sample_size"].to_list() == [5, 5]
    assert df["market_median"].to_list() == [40000.0, 40000.0]
    # c and d: 2 below, 2 equal -> 100 * (2 + 0.5 * 2) / 5 = 60
    assert df["market_percentile"].to_list() == [60.0, 60.0]
    assert df["market_position"].to_list() == ["at", "at"]
    assert df["price_changes"].to_list() == [1, 0] and df["times_seen"].to_list() == [2, 1]
    # 40 days later only c and d are in the window: a segment of 2 has no position.
    later = D2 + timedelta(days=40)
    f3 = enriched(later, [("c", 40000.0), ("d", 41000.0)])
    h3 = update_history(con, later, today_relation(f3, None), h2.state, h2.sources, tmp_path / "h3")
    write_listing_scores(con, later, f3, h3.state, out)
    df = pl.read_parquet(out)
    assert df["market_sample_size"].to_list() == [2, 2] and df["market_position"].to_list() == [None, None]


# -- the Dagster graph, real files, real Postgres --------------------------------

CARS = {  # key: (vin, make, model, year, price, city, state)
    "S": ("1FAFP40431F192751", "Ford", "Mustang", 1967, 40000, "Austin", "TX"),
    "L3": ("1G1FP22P0K2738461", "Chevrolet", "Camaro", 1969, 55000, "Denver", "CO"),
    "R": ("2B3HD46R2WH615283", "Dodge", "Charger", 1968, 62000, "Boston", "MA"),
    "M": ("242176P148562W3AZ", "Pontiac", "GTO", 1966, 48000, "Phoenix", "AZ"),
    "P": ("136370K182734RT55", "Chevrolet", "Chevelle", 1970, 20000, "Tulsa", "OK"),
    "Q": ("4D37H5H2749163851", "Buick", "Skylark", 1965, 15000, "Dayton", "OH"),
}
SOURCES = ["dealer_feed", "marketplace_csv"]


def write_fixtures(root: Path) -> None:
    """The scenario above as source files: dealer_feed JSON, marketplace_csv CSV (none on D2)."""
    for d in ("dealer_feed", "marketplace_csv"):
        for f in (root / d).glob("*"):
            f.unlink()
    for day in D:
        inv = []
        for key in ("S", "L3", "R", "M"):
            if day in PRESENCE[("dealer_feed", key)]:
                vin, make, model, year, price, city, state = CARS[key]
                inv.append({"id": key, "vin": vin, "stock_no": f"S-{key}", "make": make, "model": model,
                            "year": year, "price": price, "odometer": 50000 + year, "condition": "Good",
                            "body_style": "Muscle Cars", "location": {"city": city, "state": state},
                            "description": f"{year} {make} {model}, original paint", "photo": None,
                            "detail_url": f"https://dealer.example.com/inventory/{key}", "listed_on": "2026-11-10"})
        (root / "dealer_feed" / f"{day}.json").write_text(json.dumps({"inventory": inv}))
        if day == D2:
            continue   # marketplace_csv delivers nothing on D2
        lines = ["Listing ID,Title,Make,Model,Year,Price,Mileage,VIN,City,State,Condition,URL,Image,Posted"]
        for key in ("M", "P", "Q"):
            if day in PRESENCE[("marketplace_csv", key)]:
                vin, make, model, year, price, city, state = CARS[key]
                price = PRICES.get(("marketplace_csv", key), {}).get(day, price)
                lines.append(f"{key},{year} {make} {model},{make},{model},{year},{int(price)},{50000 + year} mi,"
                             f"{vin},{city},{state},Good,https://market.example.com/l/{key},,11/10/2026")
        (root / "marketplace_csv" / f"{day}.csv").write_text("\n".join(lines) + "\n")


HISTORY_TABLES = {"core.listing_history": "source, listing_id", "core.listing_snapshots": "snapshot_date, source",
                  "core.source_scores": "score_date, source", "core.listing_scores": "observed_date, source, listing_id"}


def _dump(url: str, tables=HISTORY_TABLES) -> dict[str, bytes]:
    out = {}
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for table, key in tables.items():
            buf = bytearray()
            with cur.copy(f"COPY (SELECT * FROM {table} ORDER BY {key}) TO STDOUT") as copy:
                for chunk in copy:
                    buf += chunk
            out[table] = bytes(buf)
    return out


def _assert_same(got: dict[str, bytes], want: dict[str, bytes]) -> None:
    """Equal dumps, or the first differing rows of each table."""
    diffs = {}
    for table in want:
        if got[table] != want[table]:
            a, b = got[table].splitlines(), want[table].splitlines()
            diffs[table] = {"only_got": [x for x in a if x not in set(b)][:3],
                            "only_want": [x for x in b if x not in set(a)][:3], "rows": (len(a), len(b))}
    if diffs:
        print("DIFFS", diffs)
    assert not diffs, list(diffs)


def _q(url: str, query: str, params=None):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def _defs():
    from pipeline_assets.definitions import build_definitions

    return build_definitions()


def _ingest(defs, instance, days):
    from pipeline_assets.partitions import source_day_key

    job = defs.resolve_job_def("ingest_job")
    for day in days:
        for src in SOURCES:
            job.execute_in_process(partition_key=source_day_key(day, src), instance=instance, raise_on_error=False)


def _daily(defs, instance, days, selection=None):
    from dagster import AssetKey, materialize

    job = defs.resolve_job_def("daily_job")
    for day in days:
        if selection is None:
            res = job.execute_in_process(partition_key=day.isoformat(), instance=instance, raise_on_error=False)
        else:
            assets = {id(a): a for a in (defs.resolve_assets_def(AssetKey.from_user_string(k)) for k in selection)}
            res = materialize(list(assets.values()),
                              partition_key=day.isoformat(), instance=instance,
                              selection=[AssetKey.from_user_string(k) for k in selection], raise_on_error=False)
        assert res.success, day


@pytest.mark.slow
def test_history_end_to_end_forward_rerun_and_reverse(clean_db, workdir, instance):
    from dagster import DagsterInstance

    write_fixtures(workdir / "fixtures")
    defs = _defs()
    _ingest(defs, instance, D)
    _daily(defs, instance, D)
    url = clean_db

    rows = _q(url, """
        SELECT h.source, l.source_listing_id, h.status, h.first_seen, h.last_seen, h.times_seen, h.lifespan_days,
               h.days_on_market, h.repost_count, h.price_first, h.price_last, h.price_changes,
               h.moved_from IS NOT NULL, h.changed_on
        FROM core.listing_history h
        JOIN (SELECT DISTINCT source, listing_id, source_listing_id FROM core.listings) l USING (source, listing_id)
        ORDER BY 1, 2""")
    assert _q(url, "SELECT state_date FROM core.listing_history_loaded") == [(D5,)]
    # After the first day, each daily load replaced only the rows that changed that day.
    assert _q(url, "SELECT partition_key, rows_loaded FROM pipeline.loads WHERE target_table = 'core.listing_history' "
                   "ORDER BY id") == [("state_date=2026-11-16", 6), ("changed_on=2026-11-17", 4),
                                      ("changed_on=2026-11-18", 6), ("changed_on=2026-11-19", 6),
                                      ("changed_on=2026-11-20", 4)]
    hist = {(r[0], r[1]): r[2:-1] for r in rows}
    assert hist == {
        ("dealer_feed", "L3"): ("disappeared", D1, D3, 3, 3, 3, 0, 55000.0, 55000.0, 0, False),
        ("dealer_feed", "M"): ("disappeared", D1, D2, 2, 2, 2, 0, 48000.0, 48000.0, 0, False),
        ("dealer_feed", "R"): ("reposted", D1, D5, 3, 5, 3, 1, 62000.0, 62000.0, 0, False),
        ("dealer_feed", "S"): ("active", D1, D5, 5, 5, 5, 0, 40000.0, 40000.0, 0, False),
        ("marketplace_csv", "M"): ("reposted", D3, D5, 3, 3, 3, 1, 48000.0, 48000.0, 0, True),
        ("marketplace_csv", "P"): ("active", D1, D5, 4, 5, 5, 0, 20000.0, 18500.0, 2, False),
        ("marketplace_csv", "Q"): ("disappeared", D1, D3, 2, 3, 3, 0, 15000.0, 15000.0, 0, False),
    }
    # The moved car is one entity across both sources.
    ent = _q(url, "SELECT listings, sources, repost_count, moves, status FROM core.entity_history "
                  "WHERE entity_id = (SELECT entity_id FROM core.listing_history WHERE moved_from IS NOT NULL)")
    assert ent == [(2, ["dealer_feed", "marketplace_csv"], 1, 1, "reposted")]

    snaps = _q(url, """SELECT snapshot_date, source, posting_count, active_postings, new_postings, continuing_postings,
                              repost_count, reposts_same_id, reposts_new_id, disappeared_postings,
                              median_lifespan_disappeared, mean_lifespan_disappeared, compared_to, rejection_rate,
                              field_completeness > 0
                       FROM core.listing_snapshots ORDER BY 1, 2""")
    assert snaps == [
        (D1, "dealer_feed", 4, 4, 4, 0, 0, 0, 0, 0, None, None, None, 0.0, True),
        (D1, "marketplace_csv", 2, 2, 2, 0, 0, 0, 0, 0, None, None, None, 0.0, True),
        (D2, "dealer_feed", 3, 3, 0, 3, 0, 0, 0, 1, 1.0, 1.0, D1, 0.0, True),
        # no marketplace_csv row on D2: the source delivered nothing (scrape gap)
        (D3, "dealer_feed", 2, 2, 0, 2, 0, 0, 0, 1, 2.0, 2.0, D2, 0.0, True),
        (D3, "marketplace_csv", 3, 3, 0, 2, 1, 0, 1, 0, None, None, D1, 0.0, True),
        (D4, "dealer_feed", 2, 2, 0, 1, 1, 1, 0, 1, 3.0, 3.0, D3, 0.0, True),
        (D4, "marketplace_csv", 2, 2, 0, 2, 0, 0, 0, 1, 3.0, 3.0, D3, 0.0, True),
        (D5, "dealer_feed", 2, 2, 0, 2, 0, 0, 0, 0, None, None, D4, 0.0, True),
        (D5, "marketplace_csv", 2, 2, 0, 2, 0, 0, 0, 0, None, None, D4, 0.0, True),
    ]
    # Scores: hand-checked components, and every total recomputes from its stored components.
    sc = _q(url, """SELECT score_date, source, median_days_on_market, lifespan_component, repost_component,
                           freshness_component, round((data_quality_component - 0.5 * avg_quality_score)::numeric)
                    FROM core.source_scores WHERE score_date IN (%s, %s) ORDER BY 1, 2""", (D4, D5))
    assert sc == [
        (D4, "dealer_feed", 3.0, 90.0, 50.0, 100.0, 50),       # S 4 days, R 1 + 1; 1 repost of 2 active
        (D4, "marketplace_csv", 3.0, 90.0, 100.0, 100.0, 50),  # P 4 (D1-D4, gap day inside the run), M 2
        (D5, "dealer_feed", 4.0, 86.67, 100.0, 100.0, 50),
        (D5, "marketplace_csv", 4.0, 86.67, 100.0, 100.0, 50),
    ]
    assert _q(url, """SELECT count(*) FROM core.source_scores
                      WHERE abs(score - round((lifespan_weight * lifespan_component + repost_weight * repost_component
                                 + data_quality_weight * data_quality_component
                                 + freshness_weight * freshness_component)::numeric, 2)) > 0.005""") == [(0,)]
    assert _q(url, "SELECT count(*) FROM core.source_scores") == [(9,)]
    # Listing scores carry history and a trailing-window market position.
    assert _q(url, "SELECT count(*) FROM core.listing_scores WHERE observed_date = %s", (D5,)) == [(4,)]
    assert _q(url, "SELECT days_on_market, repost_count FROM core.listing_scores l WHERE observed_date = %s "
                   "AND source = 'dealer_feed' AND price = 62000", (D5,)) == [(3, 1)]

    forward = _dump(url)
    lake = workdir / "lake"
    lake_files = {p: p.read_bytes() for p in lake.glob("listing_history/**/*.parquet")}

    # Re-running one day changes nothing (lake and Postgres).
    _daily(defs, instance, [D3])
    _assert_same(_dump(url), forward)
    assert {p: p.read_bytes() for p in lake.glob("listing_history/**/*.parquet")} == lake_files

    # Full-text search over title + description hits the GIN expression index.
    hits = _q(url, "SELECT DISTINCT source_listing_id FROM core.listings "
                   "WHERE core.listing_document(title, description) @@ websearch_to_tsquery('english', 'pontiac gto')")
    assert hits == [("M",)]

    # Run history in Postgres: the reference's pipeline views.
    from pipeline_assets.run_log import sync_runs

    n, _ = sync_runs(instance, url)
    assert n == 5 * 2 + 5 + 1
    assert sync_runs(instance, url)[0] == n   # upsert: syncing again changes nothing
    assert _q(url, "SELECT total_runs, successful_runs, failed_runs FROM pipeline.pipeline_stats") == [(16, 15, 1)]
    assert _q(url, "SELECT sum(runs) FROM pipeline.pipeline_schedule") == [(16,)]
    job_stats = dict((r[0], r[1:]) for r in _q(url, "SELECT asset_key, runs, successful, failed "
                                                    "FROM pipeline.pipeline_job_stats"))
    assert job_stats["listing_history"] == (6, 6, 0)
    assert job_stats["raw_listings"] == (10, 9, 1)   # marketplace_csv on D2 had no file

    # Reverse order from scratch: a fresh lake and database, days materialized newest first.
    # Entity resolution is itself ordered by its self-dependency (a Dagster backfill runs it in date
    # order), so it runs forward here; every history asset runs newest first.
    import shutil

    shutil.rmtree(lake)
    with psycopg.connect(url, autocommit=True) as conn:
        for schema in ("core", "pipeline", "staging"):
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    with DagsterInstance.ephemeral() as fresh:
        _ingest(defs, fresh, D)
        _daily(defs, fresh, D, ["enriched_listings", "listing_entities", "canonical_listings", "postgres/listings"])
        _daily(defs, fresh, list(reversed(D)), ["listing_history", "listing_snapshots", "source_scores",
                                                "listing_scores", "postgres/listing_history",
                                                "postgres/listing_snapshots", "postgres/source_scores",
                                                "postgres/listing_scores"])
    _assert_same(_dump(url), forward)
    assert {p: p.read_bytes() for p in lake.glob("listing_history/**/*.parquet")} == lake_files


def _oracle(url: str, lake: Path) -> dict:
    """Snapshot counts recomputed by brute force from every day's listings (all of history at once),
    with the README's rules and disappear_after_days = 1: the incremental state must agree. Entities
    are point-in-time: each day's listing_entities file, with the merges found up to that day."""
    rows = _q(url, "SELECT observed_date, source, listing_id FROM core.listings")
    ents = pl.scan_parquet(str(lake / "listing_entities" / "date=*" / "part-0.parquet"), hive_partitioning=False
                           ).select("observed_date", "source", "listing_id", "entity_id").collect()
    entity = {(s, lid, d): e for d, s, lid, e in ents.iter_rows()}
    merges: dict[date, dict] = {}
    for f in (lake / "entity_merges").glob("date=*/part-0.parquet"):
        day = date.fromisoformat(f.parent.name.removeprefix("date="))
        merges[day] = dict(pl.read_parquet(f).select("merged", "into_entity").iter_rows())

    def as_of(e, since, until):   # an entity id after the merges of days (since, until]
        for day in sorted(merges):
            if since < day <= until:
                e = merges[day].get(e, e)
        return e

    present: dict[tuple, set] = {}
    observed: dict[str, set] = {}
    for day, src, lid in rows:
        present.setdefault((src, lid), set()).add(day)
        observed.setdefault(src, set()).add(day)
    first = {k: min(v) for k, v in present.items()}
    out = {}
    for src, days in observed.items():
        days = sorted(days)
        for i, d in enumerate(days):
            p = days[i - 1] if i else None
            c = dict.fromkeys(["active", "new", "continuing", "same", "new_id", "disappeared"], 0)
            for (s, lid), ps in present.items():
                if s != src:
                    continue
                if d in ps:
                    c["active"] += 1
                    if first[(s, lid)] == d:
                        ent = entity[(s, lid, d)]
                        seen_before = live_today = False
                        for k, kp in present.items():
                            if k == (s, lid) or first[k] >= d:
                                continue
                            last = max(x for x in kp if x < d)
                            if as_of(entity[(*k, last)], last, d) == ent:
                                seen_before = True
                            if d in kp and entity[(*k, d)] == ent:
                                live_today = True
                        c["new_id" if seen_before and not live_today else "new"] += 1
                    elif p is not None and p in ps:
                        c["continuing"] += 1
                    else:
                        c["same"] += 1
                elif p is not None and p in ps:
                    c["disappeared"] += 1
            out[(d, src)] = (c["active"], c["new"], c["continuing"], c["same"], c["new_id"], c["disappeared"])
    return out


@pytest.mark.slow
def test_two_sample_weeks_any_order_same_tables(clean_db, workdir, instance):
    """Two weeks of the bundled sample generator: the incremental snapshots agree with a brute-force
    recomputation, and the history assets run in a shuffled day order give the same tables."""
    import random
    import shutil

    from pipeline_assets.samples import generate
    from pipeline_assets.daily_runs import run_days

    days = [date(2026, 11, 9) + timedelta(days=i) for i in range(14)]   # partitions end yesterday
    fx = workdir / "fixtures"
    for d in ("dealer_feed", "marketplace_csv", "jobs_board"):
        shutil.rmtree(fx / d)
    generate(fx, start=days[0], days=len(days))
    defs = _defs()
    outcomes = run_days(defs, days, ["dealer_feed", "jobs_board", "marketplace_csv"], instance)
    assert all(o.success for o in outcomes), [o.message for o in outcomes if not o.success]
    url = clean_db
    snaps = {(r[0], r[1]): r[2:] for r in _q(url, """
        SELECT snapshot_date, source, active_postings, new_postings, continuing_postings, reposts_same_id,
               reposts_new_id, disappeared_postings FROM core.listing_snapshots""")}
    assert snaps == _oracle(url, workdir / "lake")
    assert sum(v[3] for v in snaps.values()) > 0 and sum(v[5] for v in snaps.values()) > 0  # reposts happen
    forward = _dump(url)

    # Drop every history output (lake and Postgres), then run the history assets in a shuffled order.
    lake = workdir / "lake"
    for name in ("listing_history", "history_sources", "listing_snapshots", "source_scores", "listing_scores"):
        shutil.rmtree(lake / name)
    with psycopg.connect(url, autocommit=True) as conn:
        for t in [*HISTORY_TABLES, "core.listing_history_loaded"]:
            conn.execute(f"TRUNCATE {t}")
    order = days[:]
    random.Random(7).shuffle(order)
    _daily(defs, instance, order, ["listing_history", "listing_snapshots", "source_scores", "listing_scores",
                                   "postgres/listing_history", "postgres/listing_snapshots",
                                   "postgres/source_scores", "postgres/listing_scores"])
    _assert_same(_dump(url), forward)


@pytest.mark.slow
def test_correcting_an_earlier_day_recomputes_later_days(clean_db, workdir, instance):
    """R was in fact on dealer_feed on D2 (the feed was corrected): after re-collecting D2 and re-running
    that day only, the later days are recomputed from the new D2 (never silently built on the old one),
    in the lake, in Postgres and in Dagster's materializations."""
    from dagster import AssetKey, AssetRecordsFilter

    from pipeline_assets.partitions import source_day_key

    write_fixtures(workdir / "fixtures")
    defs = _defs()
    _ingest(defs, instance, D)
    _daily(defs, instance, D)
    url = clean_db
    r_row = "SELECT status, repost_count, times_seen, days_on_market FROM core.listing_history WHERE source = %s " \
            "AND listing_id = (SELECT listing_id FROM core.listings WHERE source_listing_id = 'R' LIMIT 1)"
    assert _q(url, r_row, ("dealer_feed",)) == [("reposted", 1, 3, 3)]

    feed = workdir / "fixtures" / "dealer_feed" / f"{D2}.json"
    doc = json.loads(feed.read_text())
    d1 = json.loads((workdir / "fixtures" / "dealer_feed" / f"{D1}.json").read_text())
    doc["inventory"].append(next(r for r in d1["inventory"] if r["id"] == "R"))
    feed.write_text(json.dumps(doc))
    assert defs.resolve_job_def("ingest_job").execute_in_process(partition_key=source_day_key(D2, "dealer_feed"), instance=instance).success
    _daily(defs, instance, [D2])

    # R now lived D1-D2, was missing D3 (disappeared), came back D4: still one repost, but 4 sightings.
    assert _q(url, r_row, ("dealer_feed",)) == [("reposted", 1, 4, 4)]
    snaps = _q(url, "SELECT snapshot_date, active_postings, continuing_postings, repost_count, disappeared_postings, "
                    "median_lifespan_disappeared FROM core.listing_snapshots WHERE source = 'dealer_feed' ORDER BY 1")
    assert snaps == [(D1, 4, 0, 0, 0, None), (D2, 4, 4, 0, 0, None), (D3, 2, 2, 0, 2, 2.0),
                     (D4, 2, 1, 1, 1, 3.0), (D5, 2, 2, 0, 0, None)]
    lake = workdir / "lake" / "listing_history"
    assert json.loads((lake / f"date={D2}" / "affected_days.json").read_text())["days"] == [
        d.isoformat() for d in (D2, D3, D4, D5)]
    for d in (D3, D4, D5):
        meta = json.loads((lake / f"date={d}" / "meta.json").read_text())
        parent = json.loads((lake / f"date={d - timedelta(days=1)}" / "meta.json").read_text())
        assert meta["parent"] == parent["fingerprint"]
        # Dagster records the recomputed partitions (their downstream loads show as out of date).
        rec = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("listing_history"), asset_partitions=[d.isoformat()]),
            limit=1).records[0]
        assert rec.asset_materialization.description == f"recomputed by the run of {D2}"


def test_disappear_after_days_is_declared_per_source():
    from pipeline_assets.sources import SourceConfigError, parse_sources

    base = {"name": "x", "kind": "jobs", "format": "csv", "location": "a",
            "fields": {"title": "t", "company": "c", "source_url": "u"}}
    assert parse_sources({"sources": [base]})[0].disappear_after_days == 1
    assert parse_sources({"sources": [dict(base, history={"disappear_after_days": 3})]})[0].disappear_after_days == 3
    assert parse_sources({"defaults": {"history": {"disappear_after_days": 2}},
                          "sources": [base]})[0].disappear_after_days == 2
    with pytest.raises(SourceConfigError, match="history.disappear_after_days should be greater than or equal to 1"):
        parse_sources({"sources": [dict(base, history={"disappear_after_days": 0})]})
    with pytest.raises(SourceConfigError, match="history.days is not a known key"):
        parse_sources({"sources": [dict(base, history={"days": 2})]})
