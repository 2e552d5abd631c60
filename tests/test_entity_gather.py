"""The pair gather of entity resolution (gather.py): every candidate pair comes
back exactly once, with both of its records' values, whether the records
fit in one slice or are cut into many, and whether the pairs go through the
slice files or the plain join."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from pipeline_assets.transforms.entities import gather
from pipeline_assets.transforms.kinds.resolution import Comparison, Resolution


def _res() -> Resolution:
    return Resolution(
        prepare=(), blocking=(),
        comparisons=(
            Comparison("vin", "vin_n", "exact", m=(0.98, 0.02)),
            Comparison("title", "title_n", "fuzzy", (100, 80), scorer="ratio", m=(0.8, 0.15, 0.05)),
            Comparison("price", "price", "numeric", (0.01,), m=(0.8, 0.2)),
            Comparison("location", "city_n", "exact", fallback="state", m=(0.9, 0.07, 0.03)),
        ),
        cannot_link=("vin_n",),
    )


@pytest.fixture
def con(tmp_path):
    c = duckdb.connect(config={"memory_limit": "64MB", "threads": 2, "preserve_insertion_order": False,
                               "temp_directory": str(tmp_path / "spill")})
    # rids with a gap (as carried records filtered out leave), and nulls.
    c.execute("""
        CREATE TEMP TABLE prep AS
        SELECT rid, CASE WHEN rid % 7 = 0 THEN NULL ELSE 'VIN' || (rid // 3) END AS vin_n,
               'title ' || rid AS title_n, rid * 10.0 AS price,
               CASE WHEN rid % 5 = 0 THEN NULL ELSE 'city' || (rid % 11) END AS city_n, 'S' || (rid % 3) AS state
        FROM range(5000) t(rid) WHERE rid NOT BETWEEN 2000 AND 2600""")
    c.execute("SELECT setseed(0.3)")
    c.execute("""
        CREATE TEMP TABLE pairs AS
        SELECT DISTINCT least(x, y) AS a, greatest(x, y) AS b FROM (
            SELECT (random() * 4999)::BIGINT AS x, (random() * 4999)::BIGINT AS y FROM range(30000))
        WHERE x <> y AND x NOT BETWEEN 2000 AND 2600 AND y NOT BETWEEN 2000 AND 2600""")
    yield c
    c.close()


@pytest.mark.parametrize("slice_rows", [None, 100_000, 1250, 333])
def test_every_pair_once_with_both_records(con, tmp_path, monkeypatch, slice_rows):
    monkeypatch.setattr(gather, "SLICE_ROWS", slice_rows)
    stats: dict = {}
    batches = list(gather.pair_batches(con, _res(), "prep", "pairs", tmp_path / "work", 700, stats))
    got = pl.concat(batches)
    expected_pairs = con.sql("SELECT a, b FROM pairs").pl()
    assert got.height == expected_pairs.height
    assert got.select("a", "b").sort("a", "b").equals(expected_pairs.sort("a", "b"))
    assert all(b.height <= 700 for b in batches)
    prep = con.sql("SELECT * FROM prep").pl()
    for side, key in (("a", "a"), ("b", "b")):
        joined = got.join(prep, left_on=key, right_on="rid", how="left")
        # Strings compared by similarity arrive as themselves, numbers too.
        assert joined[f"{side}_title"].equals(joined["title_n"], check_names=False)
        assert joined[f"{side}_price"].equals(joined["price"], check_names=False)
        # Equality-only fields arrive as hashes that keep nulls and equality.
        for hashed, raw in ((f"{side}_vin", "vin_n"), (f"{side}_cl0", "vin_n"), (f"{side}_location", "city_n")):
            assert (joined[hashed].is_null() == joined[raw].is_null()).all()
        assert joined[f"{side}_vin"].dtype == pl.UInt64
    same_vin = got.filter(pl.col("a_vin").is_not_null() & pl.col("b_vin").is_not_null())
    truth = same_vin.select((pl.col("a") // 3 == pl.col("b") // 3).alias("t"))["t"]
    assert (same_vin["a_vin"] == same_vin["b_vin"]).equals(truth, check_names=False)
    # The scratch files are gone.
    assert not (tmp_path / "work").exists()
    assert stats["slices"] == {None: 1, 100_000: 1, 1250: 4, 333: 16}[slice_rows]


def test_slices_follow_the_memory_limit(con):
    cols = gather.select_list(gather.gather_spec(_res()))
    small = gather.slice_rows(con, "prep", cols)
    con.execute("SET memory_limit = '256MB'")
    assert gather.memory_limit_bytes(con) == pytest.approx(256e6, rel=0.05)
    assert gather.slice_rows(con, "prep", cols) == pytest.approx(4 * small, rel=0.05)


def test_memory_limit_parsing(con):
    for setting, expect in (("1GB", 953.6 * 2**20), ("2.5GB", 2.3 * 2**30), ("500MB", 476.8 * 2**20)):
        con.execute(f"SET memory_limit = '{setting}'")
        assert gather.memory_limit_bytes(con) == pytest.approx(expect, rel=0.01)


def _glibc_in_use_mb() -> float:
    import ctypes

    class _MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                   "fsmblks", "uordblks", "fordblks", "keepcost")]
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        pytest.skip("needs glibc's mallinfo2")
    m = libc.mallinfo2()
    return (m.uordblks + m.hblkhd) / 2**20


def test_u_levels_do_not_hold_the_gathered_records(tmp_path, monkeypatch):
    """The random pairs' levels are held in memory, so they must not keep the
    Arrow batches DuckDB exported (every gathered column of every pair)
    alive: that held 130 MB outside DuckDB's limit for a day of vehicles."""
    import gc

    from pipeline_assets.transforms.entities.compare import u_levels

    monkeypatch.setattr(gather, "SLICE_ROWS", 1_000_000)  # the plain join, as for the u-estimate
    c = duckdb.connect(config={"memory_limit": "512MB", "threads": 2, "temp_directory": str(tmp_path / "spill")})
    # 20k pairs whose gathered titles are 1 KB: ~40 MB of exported strings.
    c.execute("""CREATE TEMP TABLE prep AS
                 SELECT rid, 'VIN' || rid AS vin_n, repeat(chr(97 + (rid % 26)::INTEGER), 1000) || rid AS title_n,
                        rid * 1.0 AS price, 'c' AS city_n, 'S' AS state FROM range(20000) t(rid)""")
    c.execute("CREATE TEMP TABLE upairs AS SELECT rid AS a, (rid + 1) % 20000 AS b FROM range(20000) t(rid)")
    gc.collect()
    before = _glibc_in_use_mb()
    got = u_levels(c, _res(), "prep", "upairs", tmp_path / "work")
    gc.collect()
    held = _glibc_in_use_mb() - before
    assert got.columns == ["g_vin", "g_title", "g_price", "g_location"]
    assert got.height == 20_000 and got["g_vin"].to_list() == [1] * 20_000
    assert held < 15, f"u_levels holds {held:.0f} MB of malloc'd memory"
    c.close()
