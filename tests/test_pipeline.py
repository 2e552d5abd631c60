"""The whole Dagster graph against real files and a real Postgres.

Expected numbers are hand-computed from tests/fixtures (two days, three
sources; see tests/fixtures/README.md).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import pytest

D1, D2 = date(2026, 11, 16), date(2026, 11, 17)
SOURCES = ["dealer_feed", "jobs_board", "marketplace_csv"]
TABLES = {"core.listings": "observed_date, source, listing_id",
          "pipeline.rejected_listings": "observed_date, source, _row",
          "core.listing_snapshots": "snapshot_date, source", "core.source_scores": "score_date, source"}

pytestmark = pytest.mark.slow


def _defs():
    from pipeline_assets.definitions import build_definitions

    return build_definitions()


def _run(defs, instance, days, sources=SOURCES):
    from pipeline_assets.daily_runs import run_days

    return run_days(defs, days, sources, instance)


def _dump(url: str) -> dict[str, bytes]:
    """Every table as COPY text, ordered by its key: equal dumps = equal tables."""
    out = {}
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for table, key in TABLES.items():
            buf = bytearray()
            with cur.copy(f"COPY (SELECT * FROM {table} ORDER BY {key}) TO STDOUT") as copy:
                for chunk in copy:
                    buf += chunk
            out[table] = bytes(buf)
    return out


def _q(url: str, query: str, params=None):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def test_definitions_load_cleanly(pg_url, workdir):
    from dagster import AssetKey, Definitions

    defs = _defs()
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    for name in ["raw_listings", "validated_listings", "rejected_listings", "deduped_listings",
                 "enriched_listings", "listing_snapshots", "source_scores", "listing_entities",
                 "canonical_listings", "listing_history", "listing_scores"]:
        node = graph.get(AssetKey(name))
        assert node.description and node.group_name and node.kinds, name
    planned = {k.to_user_string() for k in defs.resolve_job_def("daily_job").asset_layer.selected_asset_keys}
    assert {"listing_history", "listing_snapshots", "source_scores", "listing_scores", "postgres/listing_history",
            "postgres/listing_scores", "postgres/listing_snapshots", "postgres/source_scores"} <= planned
    # Disabled sources are not scheduled; watched ones are run by inbox_sensor.
    assert {s.name for s in defs.schedules} == {f"collect_{s}" for s in SOURCES} | {"upload_location_schedule"}
    assert {s.name for s in defs.sensors} == {"daily_rollup_sensor", "inbox_sensor", "upload_inbox_sensor",
                                              "run_log_sensor"}


def test_two_days_end_to_end(clean_db, workdir, instance):
    outcomes = _run(_defs(), instance, [D1, D2])
    assert all(o.success for o in outcomes), [o.message for o in outcomes if not o.success]

    # Lake: hive-partitioned Parquet for every lake asset.
    lake = workdir / "lake"
    for asset in ["raw_listings", "validated_listings", "rejected_listings", "deduped_listings"]:
        assert (lake / asset / "date=2026-11-17" / "source=dealer_feed" / "part-0.parquet").exists()
    for asset in ["enriched_listings", "listing_snapshots", "source_scores"]:
        assert (lake / asset / "date=2026-11-17" / "part-0.parquet").exists()

    counts = _q(clean_db, "SELECT observed_date, source, count(*) FROM core.listings GROUP BY 1, 2 ORDER BY 1, 2")
    assert counts == [(D1, "dealer_feed", 3), (D1, "jobs_board", 2), (D1, "marketplace_csv", 2),
                      (D2, "dealer_feed", 3), (D2, "jobs_board", 2), (D2, "marketplace_csv", 3)]
    assert _q(clean_db, "SELECT count(*) FROM (SELECT observed_date, source, listing_id FROM core.listings "
                        "GROUP BY 1, 2, 3 HAVING count(*) > 1) d") == [(0,)]
    # The Camaro on two sources shares one listing_id (VIN).
    assert _q(clean_db, "SELECT count(DISTINCT listing_id), count(*) FROM core.listings "
                        "WHERE vin = '1G1YY22G965104321' AND observed_date = %s", (D1,)) == [(1, 2)]

    rejects = _q(clean_db, "SELECT observed_date, source, _row, reasons FROM pipeline.rejected_listings "
                           "ORDER BY 1, 2, 3")
    assert rejects == [
        (D1, "dealer_feed", 4, ["year: 1899 below minimum 1920"]),
        (D1, "jobs_board", 3, ["company: missing"]),
        (D1, "marketplace_csv", 3, ["price: 500.0 below minimum 1000"]),
        (D2, "dealer_feed", 4, ["make: missing"]),
        (D2, "jobs_board", 3, ["salary: min 90000.0 above max 70000.0"]),
        (D2, "marketplace_csv", 4, ["source_url: 'htp:/broken' is not a valid http(s) URL"]),
    ]
    snaps = _q(clean_db, "SELECT snapshot_date, source, posting_count, active_postings, new_postings, "
                         "continuing_postings, repost_count, disappeared_postings, rejected_rows, duplicate_rows "
                         "FROM core.listing_snapshots ORDER BY 1, 2")
    assert snaps == [
        (D1, "dealer_feed", 5, 3, 3, 0, 0, 0, 1, 1),
        (D1, "jobs_board", 4, 2, 2, 0, 0, 0, 1, 1),
        (D1, "marketplace_csv", 4, 2, 2, 0, 0, 0, 1, 1),
        (D2, "dealer_feed", 4, 3, 1, 2, 0, 1, 1, 0),   # D5 new, D2 gone, D6 rejected
        (D2, "jobs_board", 3, 2, 1, 1, 0, 1, 1, 0),    # J4 new, J1 gone, J5 rejected
        (D2, "marketplace_csv", 4, 3, 1, 2, 0, 0, 1, 0),  # M4 new, M5 rejected
    ]
    # Row accounting: every raw row is a listing, a reject or a counted duplicate.
    for day, src, posting, active, *_rest, rejected, dups in snaps:
        assert posting == active + rejected + dups
    assert _q(clean_db, "SELECT count(*) FROM core.source_scores WHERE score BETWEEN 0 AND 100") == [(6,)]
    grades = dict(_q(clean_db, "SELECT source_listing_id, investment_grade FROM core.listings "
                               "WHERE observed_date = %s AND kind = 'vehicles'", (D2,)))
    assert grades == {"D1": "A", "D3": "A", "D5": "A", "M1": "A", "M2": "A", "M4": "A+"}

    # Checks ran and passed (except the warning on tiny fixture files' rejection rate).
    from dagster import AssetCheckKey, AssetKey
    for check in ("row_accounting", "unique_listing_id"):
        rec = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [AssetCheckKey(AssetKey("deduped_listings"), check)])
        assert rec, check


def test_rematerializing_is_idempotent(clean_db, workdir, instance):
    defs = _defs()
    assert all(o.success for o in _run(defs, instance, [D1, D2]))
    before = _dump(clean_db)
    lake_before = {p: p.read_bytes() for p in (workdir / "lake").rglob("*.parquet")}
    assert all(o.success for o in _run(defs, instance, [D2], ["dealer_feed"]))
    assert _dump(clean_db) == before
    lake_after = {p: p.read_bytes() for p in (workdir / "lake").rglob("*.parquet")}
    assert lake_after.keys() == lake_before.keys()  # replaced, never appended
    assert _q(clean_db, "SELECT count(*) FROM core.listings") == [(15,)]


def test_failed_load_keeps_previous_rows(clean_db, workdir, instance):
    from resources import PostgresResource

    assert all(o.success for o in _run(_defs(), instance, [D1]))
    before = _dump(clean_db)
    pg = PostgresResource(database_url=clean_db, ddl_dir=str(Path(__file__).parents[1] / "sql"))
    part = workdir / "lake" / "enriched_listings" / "date=2026-11-16" / "part-0.parquet"

    def crash(conn):  # after COPY, DELETE and INSERT: right before COMMIT
        assert conn.execute("SELECT count(*) FROM core.listings").fetchone()[0] == 7
        raise RuntimeError("injected failure before commit")

    with pytest.raises(RuntimeError, match="injected"):
        pg.replace_partition("core", "listings", [part], {"observed_date": D1}, before_commit=crash)
    assert _dump(clean_db) == before
    assert _q(clean_db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'staging'") == [(0,)]


def test_broken_files_fail_only_their_partition(clean_db, workdir, instance):
    fx = workdir / "fixtures"
    doc = (fx / "dealer_feed" / "2026-11-17.json").read_text()
    (fx / "dealer_feed" / "2026-11-17.json").write_text(doc[: len(doc) // 2])  # truncated JSON
    csv = fx / "marketplace_csv" / "2026-11-17.csv"
    csv.write_text(csv.read_text() + "M9,Ragged,row\n")  # line 6 has 3 columns
    outcomes = {(o.day, o.source): o for o in _run(_defs(), instance, [D1, D2])}

    dealer, market = outcomes[(D2, "dealer_feed")], outcomes[(D2, "marketplace_csv")]
    assert not dealer.success and "dealer_feed/2026-11-17.json near line" in dealer.message
    assert "malformed JSON" in dealer.message
    assert not market.success and "marketplace_csv/2026-11-17.csv line 6" in market.message
    assert "Expected Number of Columns: 14 Found: 3" in market.message
    assert outcomes[(D2, "jobs_board")].success and outcomes[(D1, "dealer_feed")].success
    assert outcomes[(D2, None)].success  # the roll-up runs over the sources that arrived

    errors = _q(clean_db, "SELECT source, stage FROM pipeline.errors ORDER BY source")
    assert errors == [("dealer_feed", "parse"), ("marketplace_csv", "parse")]
    snaps = _q(clean_db, "SELECT source FROM core.listing_snapshots WHERE snapshot_date = %s", (D2,))
    assert snaps == [("jobs_board",)]  # no false "everything disappeared" rows for failed sources


def test_query_views_over_the_lake(clean_db, workdir, instance):
    from pipeline_assets.cli import duckdb_with_views

    assert all(o.success for o in _run(_defs(), instance, [D1]))
    con = duckdb_with_views(workdir / "lake")
    rows = con.execute("SELECT source, count(*) FROM deduped_listings GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [("dealer_feed", 3), ("jobs_board", 2), ("marketplace_csv", 2)]
    assert con.execute("SELECT count(*) FROM raw_listings").fetchone() == (13,)
    assert con.execute("SELECT count(*) FROM rejected_listings WHERE len(reasons) > 0").fetchone() == (3,)
    # One view per lake dataset of the definitions (no second list of names):
    # every daily and per-source asset the run wrote, entity assets included.
    from pipeline_assets.definitions import defs
    from pipeline_assets.lake_views import lake_datasets

    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    written = {name for name, levels in lake_datasets(defs).items() if levels != ["upload"]}
    assert {"listing_entities", "canonical_listings", "entity_merges", "listing_history"} <= written
    assert views == written
    assert con.execute("SELECT count(DISTINCT entity_id) FROM listing_entities").fetchone()[0] > 0


def test_ddl_matches_canonical_schema(clean_db):
    """Adding a field to a kind without its column in sql/ must fail here, not in a 2 AM load."""
    from resources import PostgresResource
    from pipeline_assets.transforms.kinds import CANONICAL_SCHEMA, LINEAGE_SCHEMA

    pg = PostgresResource(database_url=clean_db, ddl_dir=str(Path(__file__).parents[1] / "sql"))
    pg.apply_ddl()
    pg.apply_ddl()  # idempotent
    with psycopg.connect(clean_db) as conn:
        cols = set(pg.table_columns(conn, "core", "listings"))
        rejected = set(pg.table_columns(conn, "pipeline", "rejected_listings"))
    enrichment = {"listing_id", "content_hash", "region", "investment_grade", "quality_score", "market_segment",
                  "market_median", "market_sample_size", "price_vs_market", "market_position"}
    assert cols == set(CANONICAL_SCHEMA) | set(LINEAGE_SCHEMA) | enrichment
    assert set(LINEAGE_SCHEMA) <= rejected
