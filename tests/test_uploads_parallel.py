"""Library calls shared with helper processes (pipeline_assets/uploads/parallel.py):
the same results, in order, as computing every value here; helpers really take
part; a helper that dies costs nothing but time; nothing leaks."""

from __future__ import annotations

import os
import signal

import polars as pl
import pytest

from pipeline_assets.uploads import UploadOptions
from pipeline_assets.uploads.normalize import BoundedCache, normalize_series
from pipeline_assets.uploads.parallel import ValueMapper
from pipeline_assets.uploads.types import ColumnType as T
from pipeline_assets.uploads.values import ValueOptions, compute

OPTS = UploadOptions()


def phones(n: int) -> list[str]:
    # valid, invalid and foreign numbers mixed, all distinct
    out = []
    for i in range(n):
        k = i % 4
        out.append(f"(212) {200 + i % 700:03d}-{i % 10000:04d}" if k == 0 else
                   f"+44 20 7946 {i % 10000:04d}" if k == 1 else
                   f"{i}" if k == 2 else f"212-555-{i % 10000:04d} x{i % 97}")
    return out


def test_helpers_give_the_same_results_in_order():
    values = phones(5000)
    expected = compute("phone", values, ValueOptions.of(OPTS))
    with ValueMapper(workers=1, piece=250, min_parallel=500) as mapper:
        mapper._helpers[0].ready.wait(30)
        got = mapper.map("phone", values, OPTS)
    assert got == expected
    assert mapper.helper_values > 0 and mapper.local_values + mapper.helper_values == len(values)
    assert mapper.helper_peak_rss_kb and mapper.helper_peak_rss_kb[0] > 0


@pytest.mark.parametrize("ctype", [T.EMAIL, T.ADDRESS, T.PERSON_NAME, T.URL])
def test_normalized_columns_are_identical_with_and_without_helpers(ctype):
    values = {
        T.EMAIL: [f"User.{i}@Example{i % 7}.COM" if i % 5 else f"bad{i}@" for i in range(3000)],
        T.ADDRESS: [f"{i} Main St Apt {i % 9}, Springfield, IL 62701" if i % 6 else f"P.O. Box {i}"
                    for i in range(3000)],
        T.PERSON_NAME: [f"Dr. {chr(65 + i % 26)}nn Q. Lee{i % 300} Jr." if i % 3 else f"lee{i % 400}, ann"
                        for i in range(3000)],
        T.URL: [f"www.site{i}.com/x" if i % 4 else f"ftp://x{i}" for i in range(3000)],
    }[ctype]
    s = pl.Series(values, dtype=pl.String)
    serial = normalize_series(s, ctype, OPTS, BoundedCache(10_000))
    with ValueMapper(workers=1, piece=200, min_parallel=400) as mapper:
        mapper._helpers[0].ready.wait(30)
        shared = normalize_series(s, ctype, OPTS, BoundedCache(10_000), mapper)
    assert shared.equals(serial)
    assert mapper.helper_values > 0


def test_a_helper_that_dies_is_replaced_by_local_work():
    values = phones(4000)
    expected = compute("phone", values, ValueOptions.of(OPTS))
    mapper = ValueMapper(workers=1, piece=200, min_parallel=400).start()
    try:
        helper = mapper._helpers[0]
        helper.ready.wait(30)
        os.kill(helper.proc.pid, signal.SIGKILL)
        helper.proc.wait(10)
        assert mapper.map("phone", values, OPTS) == expected
        assert mapper.map("phone", values, OPTS) == expected   # later calls skip the dead helper
    finally:
        mapper.close()
    assert mapper.local_values == 2 * len(values) and mapper.helper_values == 0


def test_small_lists_and_no_workers_stay_in_process():
    with ValueMapper(workers=0) as mapper:
        assert mapper.map("email", ["A@B.COM"], OPTS) == [("a@b.com", True)]
    assert mapper.local_values == 1 and not mapper.helper_peak_rss_kb


def test_helpers_exit_when_closed():
    mapper = ValueMapper(workers=2).start()
    procs = [h.proc for h in mapper._helpers]
    mapper.close()
    assert all(p.poll() is not None for p in procs)
    assert len(mapper.helper_peak_rss_kb) == 2


def test_normalize_file_output_is_the_same_with_helpers(tmp_path):
    from pipeline_assets.uploads import normalize_file

    rows = ["name,email,phone,address"]
    for i in range(9000):
        rows.append(f"Ann{i % 500} Lee{i},ann.{i}@Example.com,(212) {200 + i % 700:03d}-{i % 10000:04d},"
                    f"\"{i} Oak Ave, Austin, TX 78701\"")
    src = tmp_path / "leads.csv"
    src.write_text("\n".join(rows) + "\n")
    outs = {}
    for workers in (0, 1):
        d = tmp_path / f"w{workers}"
        res = normalize_file(src, out_parquet=d / "o.parquet", out_csv=d / "o.csv", out_rejects=d / "r.csv",
                             scratch_dir=d, options=UploadOptions(workers=workers, chunk_rows=3000))
        outs[workers] = (pl.read_parquet(res.parquet), (d / "o.csv").read_bytes(), res)
    assert outs[1][0].equals(outs[0][0]) and outs[1][1] == outs[0][1]
    assert outs[0][2].library_values["helpers"] == 0
    assert outs[1][2].library_values["workers"] == 1 and len(outs[1][2].helper_peak_rss_mb) == 1


def test_large_values_do_not_deadlock_the_pipes():
    # Requests and replies far larger than a pipe buffer (64 kB), several in flight.
    values = [f"{i} Main St, Austin, TX 78701 " + "x" * 5000 for i in range(1200)]
    expected = compute("address", values, ValueOptions.of(OPTS))
    with ValueMapper(workers=1, piece=100, min_parallel=200) as mapper:
        mapper._helpers[0].ready.wait(30)
        assert mapper.map("address", values, OPTS) == expected
    assert mapper.helper_values > 0
