"""Entity tables in Postgres after a two-day run through Dagster.

Day 1: a dealer lists a car with its VIN; a marketplace lists the same car
without one, at a price and mileage too far apart to link with confidence,
so they are two entities. Day 2: the seller adds the VIN to the marketplace
ad. The two day-1 entities merge into the older id; core.listing_entities'
day-1 rows are redirected to it, core.entity_merges records the merge, and
core.canonical_listings keeps one row for the car.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey

sys.path.insert(0, str(Path(__file__).parent))
from test_entities import background, car, write  # noqa: E402

D1, D2 = date(2026, 11, 16), date(2026, 11, 17)
VIN = "1FAFP40431F192737"
ENTITY_ASSETS = [AssetKey("listing_entities"), AssetKey("canonical_listings"),
                 AssetKey(["postgres", "listing_entities"]), AssetKey(["postgres", "canonical_listings"])]

pytestmark = pytest.mark.slow


def _day(day: date, market_vin: str | None) -> dict[str, list[dict]]:
    # Background cars on the dealer feed (the marketplace carries just the one ad).
    bg = [{**r, "source": "dealer_feed"} for r in background(day)]
    for r in bg:
        r["source_listing_id"] = "BG" + r["source_listing_id"]
    from pipeline_assets.transforms.hashing import listing_id
    from pipeline_assets.transforms.kinds import get_kind
    veh = get_kind("vehicles")
    for r in bg:
        r["listing_id"] = listing_id(veh, "dealer_feed", r)
    dealer = car("dealer_feed", "D1", day, vin=VIN)
    market = car("marketplace_csv", "M1", day, vin=market_vin, price=38000.0, mileage=None,
                 title="Ford Mustang 1967 fastback", city="Round Rock")
    return {"dealer_feed": bg + [dealer], "marketplace_csv": [market]}


def _write_lake(lake: Path, day: date, by_source: dict[str, list[dict]]) -> None:
    for source, rows in by_source.items():
        d = lake / "deduped_listings" / f"date={day.isoformat()}" / f"source={source}"
        d.mkdir(parents=True, exist_ok=True)
        write(d, "part-0", rows)


def _q(url: str, query: str, params=None):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def test_two_days_of_entities_in_postgres(clean_db, workdir, instance):
    from pipeline_assets.definitions import build_definitions

    job = build_definitions().resolve_job_def("daily_job")
    lake = workdir / "lake"
    for day, vin in ((D1, None), (D2, VIN)):
        _write_lake(lake, day, _day(day, vin))
        result = job.execute_in_process(partition_key=day.isoformat(), instance=instance,
                                        asset_selection=ENTITY_ASSETS, raise_on_error=False)
        assert result.success, day

    total = _q(clean_db, "SELECT observed_date, count(*), count(DISTINCT (source, listing_id)) "
                         "FROM core.listing_entities GROUP BY 1 ORDER BY 1")
    assert total == [(D1, 62, 62), (D2, 62, 62)]

    def rows_of(source, sid):
        rec = car(source, sid, D1, vin=VIN if source == "dealer_feed" else None)
        return _q(clean_db, "SELECT observed_date, entity_id, link FROM core.listing_entities "
                            "WHERE source = %s AND listing_id = %s ORDER BY 1", (source, rec["listing_id"]))

    dealer = rows_of("dealer_feed", "D1")
    # The marketplace ad's listing_id changes with the VIN (VIN-based ids): look it up both ways.
    market = _q(clean_db, "SELECT observed_date, entity_id, link FROM core.listing_entities "
                          "WHERE source = 'marketplace_csv' ORDER BY 1")
    ids = {e for _, e, _ in dealer + market}
    # After day 2 the car has one id on both days and both sources.
    assert [d for d, _, _ in dealer] == [D1, D2] and [d for d, _, _ in market] == [D1, D2]
    assert len(ids) == 1, (dealer, market)
    the_id = ids.pop()
    merges = _q(clean_db, "SELECT merge_date, into_entity FROM core.entity_merges")
    assert merges == [(D2, the_id)]
    # Day 2: one day-1 entity kept its id, the other was merged into it (the
    # ad with its new, VIN-based listing_id joins the survivor).
    assert "merged" in (dealer[1][2], market[1][2])
    # One canonical row for the car, seen on both days, holding the VIN.
    canon = _q(clean_db, "SELECT first_seen, last_seen, days_seen, vin, records_today FROM core.canonical_listings "
                         "WHERE entity_id = %s", (the_id,))
    assert canon == [(D1, D2, 2, VIN, 2)]
    merged_away = merges and _q(clean_db, "SELECT count(*) FROM core.canonical_listings WHERE entity_id IN "
                                          "(SELECT merged FROM core.entity_merges)")
    assert merged_away == [(0,)]

    # Re-running day 2 changes nothing.
    def dump():
        return (_q(clean_db, "SELECT * FROM core.listing_entities ORDER BY observed_date, source, listing_id"),
                _q(clean_db, "SELECT * FROM core.canonical_listings ORDER BY entity_id"),
                _q(clean_db, "SELECT * FROM core.entity_merges ORDER BY merge_date, merged"))
    before = dump()
    assert job.execute_in_process(partition_key=D2.isoformat(), instance=instance,
                                  asset_selection=ENTITY_ASSETS).success
    assert dump() == before
