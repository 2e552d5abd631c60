"""Pipeline benchmark (not part of the test suite).

Generates N rows for one day (default 1,000,000, split over the three sample
sources) and runs every stage's transforms as the assets do: raw parse,
validation + split, DuckDB dedup, enrichment (DuckDB market medians + one
streaming Polars pass), snapshots + scores, and the Postgres load (COPY into
staging + transactional replace). In the same run it times a `psql \\copy`
of the same final rows into a table with the same keys and indexes, as the
baseline, and prints the ratio.

Each stage runs in a fresh interpreter, as each asset runs in its own step,
and its peak RSS is that process's own (VmHWM). Timings exclude interpreter
start-up and imports. Prints rows/s
per stage, wall time and peak RSS; the last line is one JSON object.

    python tests/benchmarks/pipeline_bench.py [--rows N] [--keep DIR]
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
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DAY = date(2026, 11, 16)
STAGES = ["raw (parse)", "validate + split", "dedup (duckdb)", "enrich", "snapshots + scores",
          "postgres load (COPY)"]


def _sources():
    from pipeline_assets.sources import load_sources

    # The sample sources only: not watched inbox folders or HTTP examples.
    return [s for s in load_sources(ROOT / "data" / "sources.yaml") if s.enabled and not s.watch and not s.is_http]


def _duck(work: Path):
    import duckdb

    return duckdb.connect(config={"memory_limit": os.environ.get("LISTINGS_DUCKDB_MEMORY", "2GB"), "threads": 2,
                                  "temp_directory": str(work / "duckdb_tmp"), "preserve_insertion_order": False})


def run_stage(name: str, work: Path, db_url: str | None) -> dict:
    """Executed in a child interpreter. Returns figures for the parent."""
    import polars as pl

    from pipeline_assets.transforms.kinds import get_kind

    lake = work / "lake"
    lake.mkdir(parents=True, exist_ok=True)
    sources = _sources()
    if name == "raw (parse)":
        from pipeline_assets.raw.files import read_to_parquet
        n = 0
        for s in sources:
            loc = Path(s.location_for(DAY).replace("data/samples", str(work / "samples")))
            n += read_to_parquet(loc, s.format, lake / f"raw_{s.name}.parquet", origin=str(loc),
                                 record_path=s.record_path, fetched_at=datetime(2026, 11, 16, 6, tzinfo=timezone.utc))
        return {"out_rows": n}
    if name == "validate + split":
        from pipeline_assets.transforms.batches import map_batches_to_parquet
        from pipeline_assets.transforms.validate import rejected_view, valid_view, validate
        for s in sources:  # as the validation asset does it
            chk = lake / f"checked_{s.name}.parquet"
            map_batches_to_parquet([lake / f"raw_{s.name}.parquet"],
                                   lambda lf, s=s: validate(lf, source=s.name, kind=get_kind(s.kind),
                                                            fields=s.fields, day=DAY), chk)
            map_batches_to_parquet([chk], valid_view, lake / f"valid_{s.name}.parquet")
            map_batches_to_parquet([chk], rejected_view, lake / f"rejected_{s.name}.parquet")
            chk.unlink()
        return {"out_rows": pl.scan_parquet(list(lake.glob("valid_*.parquet"))).select(pl.len()).collect().item()}
    if name == "dedup (duckdb)":
        from pipeline_assets.transforms.dedup import dedup
        for s in sources:
            con = _duck(work)
            d, x = dedup(con, str(lake / f"valid_{s.name}.parquet"), get_kind(s.kind))
            d.write_parquet(str(lake / f"deduped_{s.name}.parquet"))
            x.write_parquet(str(lake / f"dups_{s.name}.parquet"))
            con.close()
        return {"out_rows": pl.scan_parquet(list(lake.glob("deduped_*.parquet"))).select(pl.len()).collect().item()}
    deduped_files = sorted(lake.glob("deduped_*.parquet"))
    if name == "enrich":
        from pipeline_assets.transforms.enrich import enrich, market_inputs, market_stats_sql
        deduped = pl.scan_parquet(deduped_files)
        market_inputs(deduped).sink_parquet(lake / "market_inputs.parquet")
        market = _duck(work).sql(market_stats_sql(f"read_parquet('{lake / 'market_inputs.parquet'}')")).pl().lazy()
        from pipeline_assets.transforms.batches import map_batches_to_parquet
        map_batches_to_parquet(deduped_files, lambda lf: enrich(lf, market), lake / "enriched.parquet")
        return {"out_rows": pl.scan_parquet(lake / "enriched.parquet").select(pl.len()).collect().item()}
    if name == "snapshots + scores":
        # One day of history from an empty previous state (incremental update), then the
        # state's aggregates. tests/benchmarks/history_bench.py measures the update over 1M-5M listings.
        from pipeline_assets.transforms.history import (listing_quality, scores, snapshots, today_relation,
                                                        update_history)
        enriched = lake / "enriched.parquet"
        today = today_relation(enriched, None)  # the relation the listing_history asset builds
        res = update_history(_duck(work), DAY, today, None, None, lake / "history")
        counts = pl.LazyFrame([{"source": s.name, "kind": s.kind,
                                "raw_rows": pl.scan_parquet(lake / f"raw_{s.name}.parquet").select(pl.len()).collect().item(),
                                "rejected_rows": 0, "duplicate_rows": 0} for s in sources])
        snapshots(pl.scan_parquet(res.stats), pl.scan_parquet(res.sources), DAY, counts,
                  listing_quality(pl.scan_parquet(enriched), DAY)).sink_parquet(lake / "snapshots.parquet")
        scores(pl.scan_parquet(lake / "snapshots.parquet")).sink_parquet(lake / "scores.parquet")
        return {"out_rows": pl.scan_parquet(lake / "snapshots.parquet").select(pl.len()).collect().item()}
    if name == "postgres load (COPY)":
        from resources.postgres import PostgresResource
        pg = PostgresResource(database_url=db_url, ddl_dir=str(ROOT / "sql"))
        return dict(pg.replace_partition("core", "listings", [lake / "enriched.parquet"], {"observed_date": DAY}))
    raise ValueError(name)


def _vm_hwm_mb() -> float:
    # Peak RSS of this process since exec (ru_maxrss would include the parent's
    # high-water mark inherited at fork).
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(stage: str, work: Path, db_url: str | None) -> None:
    import duckdb  # noqa: F401 - imported before the clock starts, as in a running step
    import polars  # noqa: F401

    import resources.postgres  # noqa: F401 - imports dagster; not part of the load time

    t0 = time.perf_counter()
    out = run_stage(stage, work, db_url)
    out["_seconds"] = time.perf_counter() - t0
    out["_peak_rss_mb"] = _vm_hwm_mb()
    (work / "stage_result.json").write_text(json.dumps(out, default=str))


def measure(stage: str, work: Path, db_url: str | None) -> tuple[float, float, dict]:
    cmd = [sys.executable, __file__, "--child-stage", stage, "--work", str(work)] + (["--db", db_url] if db_url else [])
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise SystemExit(f"stage {stage!r} failed with exit code {proc.returncode}")
    out = json.loads((work / "stage_result.json").read_text())
    return out.pop("_seconds"), out.pop("_peak_rss_mb"), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", help="work in this directory and keep it")
    ap.add_argument("--child-stage", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_stage:
        child(args.child_stage, Path(args.work), args.db)
        return 0

    import duckdb
    import psycopg
    from psycopg import sql

    from pipeline_assets.samples import generate
    from resources.embedded_postgres import start_embedded, with_database
    from resources.postgres import PostgresResource

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="listings-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    generate(work / "samples", start=DAY, days=1, rows=args.rows)
    print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s into {work}", flush=True)

    base = os.environ.get("DATABASE_URL") or start_embedded(work / "pg")
    dbname = f"listings_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(with_database(base, "postgres"), autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = with_database(base, dbname)
    stages: dict[str, dict] = {}
    rows_in = args.rows
    try:
        pg = PostgresResource(database_url=url, ddl_dir=str(ROOT / "sql"))
        pg.apply_ddl()
        for name in STAGES:
            secs, peak, out = measure(name, work, url)
            stages[name] = {"rows": rows_in, "seconds": round(secs, 3), "rows_per_s": round(rows_in / secs),
                            "peak_rss_mb": round(peak, 1)}
            print(f"{name:<22} {rows_in:>11,} rows {secs:8.2f} s {rows_in / secs:>12,.0f} rows/s "
                  f"peak RSS {peak:8.1f} MB", flush=True)
            if name == "postgres load (COPY)":
                stages[name].update(copy_seconds=out["copy_seconds"], swap_seconds=out["swap_seconds"])
                print(f"  (COPY into staging {out['copy_seconds']} s, replace in core.listings "
                      f"{out['swap_seconds']} s)")
            elif name != "snapshots + scores":
                rows_in = out["out_rows"]
        loaded = rows_in

        # Baseline: psql \copy of the same rows into a table with the same keys and indexes.
        csv_path = work / "enriched.csv"
        with psycopg.connect(url) as conn:
            cols = pg.table_columns(conn, "core", "listings")
            conn.execute("CREATE TABLE core.listings_psql (LIKE core.listings INCLUDING ALL)")
            conn.commit()
        duckdb.sql(f"COPY (SELECT {', '.join(cols)} FROM '{work / 'lake' / 'enriched.parquet'}') "
                   f"TO '{csv_path}' (HEADER false)")
        psql = shutil.which("psql")
        psql_s = None
        if psql:
            t0 = time.perf_counter()
            subprocess.run([psql, url, "-q", "-v", "ON_ERROR_STOP=1", "-c",
                            f"\\copy core.listings_psql ({', '.join(cols)}) FROM '{csv_path}' (FORMAT csv)"],
                           check=True)
            psql_s = time.perf_counter() - t0
            label = "baseline psql \\copy"
            print(f"{label:<22} {loaded:>11,} rows {psql_s:8.2f} s {loaded / psql_s:>12,.0f} rows/s "
                  "(CSV already on disk)")
        else:
            print("psql not found: baseline skipped")
    finally:
        with psycopg.connect(with_database(base, "postgres"), autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))

    wall = time.perf_counter() - t_all
    load_s = stages["postgres load (COPY)"]["seconds"]
    compute_s = sum(v["seconds"] for k, v in stages.items() if k != "postgres load (COPY)")
    summary = {
        "rows": args.rows, "loaded_rows": loaded, "wall_seconds": round(wall, 2),
        "lake_stages_rows_per_s": round(args.rows / compute_s),
        "peak_rss_mb": round(max(s["peak_rss_mb"] for s in stages.values()), 1),
        "stages": stages,
        "psql_copy_seconds": round(psql_s, 3) if psql_s else None,
        "load_vs_psql_copy_ratio": round(load_s / psql_s, 2) if psql_s else None,
    }
    print(f"\ntotal {wall:.1f} s; the transactional load takes {summary['load_vs_psql_copy_ratio']}x "
          "the time of psql \\copy")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
