"""History benchmark (not part of the test suite): one day's incremental update.

Builds a previous-day state of N active listings (default 1,000,000, over three
sources) and a day in which 5% of them disappeared, 5% new ones appeared and
2% changed price, with an entity id per listing. Then it runs, in a fresh
interpreter as an asset step would, what `listing_history` does for a day:
`update_history` (DuckDB full outer join of state and day, events, new state
file, fingerprint, snapshot aggregates), the listing scores (30-day market
percentiles from the new state, joined to the day's listings) and the
snapshot and source scores. Inputs are generated in another process,
so the peak RSS (VmHWM) is the update's own.

    python tests/benchmarks/history_bench.py [--listings 1000000] [--listings 5000000 ...]
                                             [--memory-limit 512MB] [--keep DIR]

Prints seconds, rows/s and peak RSS per size; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DAY = date(2026, 11, 20)
SOURCES = ("dealer_feed", "marketplace_csv", "jobs_board")


def _duck(work: Path, memory_limit: str):
    import duckdb

    (work / "duckdb_tmp").mkdir(exist_ok=True)
    return duckdb.connect(config={"memory_limit": memory_limit, "threads": 2,
                                  "temp_directory": str(work / "duckdb_tmp"), "preserve_insertion_order": False})


def generate(work: Path, n: int, memory_limit: str) -> dict:
    """prev/state.parquet + prev/sources.parquet (day D-1), enriched.parquet + entities.parquet (day D)."""
    from pipeline_assets.transforms.history import STATE_COLUMNS

    prev = work / "prev"
    prev.mkdir(parents=True, exist_ok=True)
    con = _duck(work, memory_limit)
    d1 = (DAY - timedelta(days=1)).isoformat()
    src = "CASE i % 3 WHEN 0 THEN 'dealer_feed' WHEN 1 THEN 'marketplace_csv' ELSE 'jobs_board' END"
    cols = {
        "state_date": f"DATE '{d1}'", "source": src, "listing_id": "md5(i::VARCHAR)",
        "kind": "CASE WHEN i % 3 = 2 THEN 'jobs' ELSE 'vehicles' END", "entity_id": "md5('e' || i::VARCHAR)",
        "event": "'continuing'", "status": "'active'", "first_seen": f"DATE '{d1}' - (i % 60)::INTEGER",
        "last_seen": f"DATE '{d1}'", "times_seen": "(i % 60 + 1)::BIGINT", "lifespan_days": "(i % 60 + 1)::BIGINT",
        "days_on_market": "(i % 60 + 1)::BIGINT", "run_start": f"DATE '{d1}' - (i % 60)::INTEGER",
        "closed_run_days": "0::BIGINT", "missing_days": "0::BIGINT", "missed_days": "0::BIGINT",
        "disappeared_on": "NULL::DATE", "repost_count": "0::BIGINT", "moved_from": "NULL::VARCHAR",
        "price_first": "(10000 + i % 50000)::DOUBLE", "price_last": "(10000 + i % 50000)::DOUBLE",
        "price_min": "(10000 + i % 50000)::DOUBLE", "price_max": "(10000 + i % 50000)::DOUBLE",
        "price_changes": "0::BIGINT", "changed_on": f"DATE '{d1}'", "last_event": "'continuing'",
        "market_segment": "'vehicles|make' || (i % 50) || '|model' || (i % 400) || '|' || (1950 + i % 60)",
    }
    assert list(cols) == list(STATE_COLUMNS)
    select = ", ".join(f"({e})::{STATE_COLUMNS[c]} AS {c}" for c, e in cols.items())
    con.execute(f"COPY (SELECT {select} FROM range({n}) t(i) ORDER BY source, listing_id) "
                f"TO '{prev / 'state.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
    con.execute(f"COPY (SELECT * FROM (VALUES {', '.join(f'({chr(39)}{s}{chr(39)}, DATE {chr(39)}{d1}{chr(39)}, NULL::DATE, 30::BIGINT)' for s in SOURCES)}) "
                f"v(source, last_observed, previous_observed, days_observed)) TO '{prev / 'sources.parquet'}' (FORMAT parquet)")
    gone, new = n // 20, n // 20
    # Day D: ids [gone, n) continue (2% re-priced), ids [n, n + new) are new.
    con.execute(f"""COPY (SELECT DATE '{DAY}' AS observed_date, {src} AS source, md5(i::VARCHAR) AS listing_id,
                                CASE WHEN i % 3 = 2 THEN 'jobs' ELSE 'vehicles' END AS kind,
                                CASE WHEN i % 3 = 2 THEN NULL ELSE (10000 + i % 50000 - CASE WHEN i % 50 = 0 THEN 500 ELSE 0 END)::DOUBLE END AS price,
                                CASE WHEN i % 3 = 2 THEN (10000 + i % 50000)::DOUBLE END AS salary_max,
                                'vehicles|make' || (i % 50) || '|model' || (i % 400) || '|' || (1950 + i % 60)
                                    AS market_segment,
                                (i % 100)::DOUBLE AS quality_score, 'B+' AS investment_grade
                         FROM range({gone}, {n + new}) t(i))
                   TO '{work / 'enriched.parquet'}' (FORMAT parquet, COMPRESSION zstd)""")
    con.execute(f"""COPY (SELECT {src} AS source, md5(i::VARCHAR) AS listing_id, md5('e' || i::VARCHAR) AS entity_id
                         FROM range({gone}, {n + new}) t(i))
                   TO '{work / 'entities.parquet'}' (FORMAT parquet, COMPRESSION zstd)""")
    con.close()
    return {"state_rows": n, "today_rows": n - gone + new, "disappeared": gone, "new": new}


def run_update(work: Path, memory_limit: str) -> dict:
    """What listing_history does for one day (in a child interpreter)."""
    import polars as pl

    from pipeline_assets.transforms.history import scores, snapshots, today_relation, update_history
    from pipeline_assets.transforms.listing_scores import write_listing_scores

    out = work / "out"
    t0 = time.perf_counter()
    con = _duck(work, memory_limit)
    res = update_history(con, DAY, today_relation(work / "enriched.parquet", work / "entities.parquet"),
                         work / "prev" / "state.parquet", work / "prev" / "sources.parquet", out)
    t_update = time.perf_counter() - t0
    update_peak = _vm_hwm_mb()
    t1 = time.perf_counter()
    scored = write_listing_scores(con, DAY, work / "enriched.parquet", res.state, out / "listing_scores.parquet")
    t_listing = time.perf_counter() - t1
    con.close()
    counts = pl.LazyFrame({"source": list(SOURCES), "kind": ["vehicles", "vehicles", "jobs"],
                           "raw_rows": [0, 0, 0], "rejected_rows": [0, 0, 0], "duplicate_rows": [0, 0, 0]})
    quality = pl.LazyFrame({"source": list(SOURCES), "avg_quality_score": [80.0] * 3, "fresh_share": [0.5] * 3,
                            "field_completeness": [0.8] * 3})
    snapshots(pl.scan_parquet(res.stats), pl.scan_parquet(res.sources), DAY, counts,
              quality).sink_parquet(str(out / "snapshots.parquet"))
    scores(pl.scan_parquet(out / "snapshots.parquet")).sink_parquet(str(out / "scores.parquet"))
    snap = pl.read_parquet(out / "snapshots.parquet")
    return {"update_seconds": t_update, "update_peak_rss_mb": update_peak, "listing_scores_seconds": t_listing,
            "listing_scores_rows": scored,
            "snapshot_seconds": time.perf_counter() - t0 - t_update - t_listing,
            "state_rows_out": res.rows, "events": res.events,
            "disappeared": int(snap["disappeared_postings"].sum()), "new": int(snap["new_postings"].sum()),
            "active": int(snap["active_postings"].sum())}


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, work: Path, n: int, memory_limit: str) -> None:
    import duckdb  # noqa: F401 - imported before the clock starts, as in a running step
    import polars  # noqa: F401

    t0 = time.perf_counter()
    out = generate(work, n, memory_limit) if mode == "generate" else run_update(work, memory_limit)
    out["_seconds"] = time.perf_counter() - t0
    out["_peak_rss_mb"] = _vm_hwm_mb()
    (work / f"{mode}.json").write_text(json.dumps(out))


def _run_child(mode: str, work: Path, n: int, memory_limit: str) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--work", str(work), "--listings", str(n),
           "--memory-limit", memory_limit]
    if subprocess.run(cmd).returncode != 0:
        raise SystemExit(f"{mode} failed for {n:,} listings")
    return json.loads((work / f"{mode}.json").read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listings", type=int, action="append",
                    help="active listings in the previous state (repeatable; default 1M and 5M)")
    ap.add_argument("--memory-limit", default="512MB",
                    help="DuckDB memory_limit (LISTINGS_DUCKDB_MEMORY for the asset); peak RSS is about this "
                         "plus ~100 MB whatever the number of listings")
    ap.add_argument("--keep", help="work in this directory and keep it")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sizes = args.listings or [1_000_000, 5_000_000]
    if args.child:
        child(args.child, Path(args.work), sizes[0], args.memory_limit)
        return 0

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="history-bench-"))
    results = []
    load_before = os.getloadavg()
    for n in sizes:
        work = base / f"n{n}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        g = _run_child("generate", work, n, args.memory_limit)
        print(f"{n:>11,} listings: inputs generated in {g['_seconds']:.1f} s "
              f"({g['today_rows']:,} rows today: {g['new']:,} new, {g['disappeared']:,} gone)", flush=True)
        u = _run_child("update", work, n, args.memory_limit)
        secs = u["_seconds"]
        rate = (n + g["today_rows"]) / secs
        ok = (u["disappeared"], u["new"], u["active"]) == (g["disappeared"], g["new"], g["today_rows"])
        print(f"{n:>11,} listings: day updated in {secs:6.2f} s (history update {u['update_seconds']:.2f} s, "
              f"listing scores {u['listing_scores_seconds']:.2f} s, snapshots + scores {u['snapshot_seconds']:.2f} s), {rate:,.0f} rows/s (state + day rows in), "
              f"peak RSS {u['_peak_rss_mb']:,.0f} MB (after the DuckDB update {u['update_peak_rss_mb']:,.0f} MB); counts {'check' if ok else 'MISMATCH'}", flush=True)
        results.append({"listings": n, "today_rows": g["today_rows"], "seconds": round(secs, 2),
                        "update_seconds": round(u["update_seconds"], 2),
                        "listing_scores_seconds": round(u["listing_scores_seconds"], 2),
                        "snapshot_seconds": round(u["snapshot_seconds"], 2),
                        "rows_per_s": round(rate), "peak_rss_mb": round(u["_peak_rss_mb"], 1),
                        "update_peak_rss_mb": round(u["update_peak_rss_mb"], 1),
                        "state_rows_out": u["state_rows_out"], "events": u["events"], "counts_ok": ok})
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    summary = {"memory_limit": args.memory_limit, "cpus": os.cpu_count(),
               "load_avg_before": [round(x, 2) for x in load_before],
               "load_avg_after": [round(x, 2) for x in load_after], "runs": results}
    if len(results) > 1:
        summary["rss_growth"] = round(results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"] - 1, 3)
    print(f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
