"""Pipeline benchmark (not part of the test suite).

Generates N rows for one day (default 1,000,000, split over the three sample
sources), runs every stage's transforms as the assets do - raw parse,
validation + split, DuckDB dedup, enrichment, snapshots and scores - then the
Postgres load (COPY into staging + transactional replace) of the final rows.
In the same process it times a `psql \\copy` of the same rows as the
baseline and prints the ratio.

Prints rows/s per stage, wall time and peak RSS; the last line is one JSON
object with those figures.

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
import threading
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import polars as pl  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from pipeline_assets.samples import generate  # noqa: E402
from pipeline_assets.transforms.dedup import dedup  # noqa: E402
from pipeline_assets.transforms.enrich import enrich  # noqa: E402
from pipeline_assets.transforms.history import presence, scores, snapshots  # noqa: E402
from pipeline_assets.transforms.kinds import get_kind  # noqa: E402
from pipeline_assets.transforms.readers import read_to_parquet  # noqa: E402
from pipeline_assets.transforms.sources import load_sources  # noqa: E402
from pipeline_assets.transforms.validate import rejected_view, valid_view, validate  # noqa: E402
from resources.embedded_postgres import start_embedded, with_database  # noqa: E402
from resources.postgres import PostgresResource  # noqa: E402

DAY = date(2026, 11, 16)


class RssSampler:
    """Peak resident memory (VmRSS) of this process, sampled every 20 ms, per stage."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss_mb() -> float:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss_mb())
            time.sleep(0.02)

    def reset(self) -> None:
        self.peak = self.rss_mb()

    def start(self) -> "RssSampler":
        self._t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._t.join()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", help="work in this directory and keep it")
    args = ap.parse_args()

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="listings-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rss = RssSampler().start()
    stages: dict[str, dict] = {}
    t_all = time.perf_counter()

    def stage(name: str, rows: int, fn):
        rss.reset()
        t0 = time.perf_counter()
        out = fn()
        secs = time.perf_counter() - t0
        stages[name] = {"rows": rows, "seconds": round(secs, 3), "rows_per_s": round(rows / secs) if secs else None,
                        "peak_rss_mb": round(rss.peak, 1)}
        print(f"{name:<22} {rows:>11,} rows {secs:8.2f} s {rows / secs if secs else 0:>12,.0f} rows/s "
              f"peak RSS {rss.peak:8.1f} MB", flush=True)
        return out

    t0 = time.perf_counter()
    generate(work / "samples", start=DAY, days=1, rows=args.rows)
    print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s into {work}", flush=True)

    sources = [s for s in load_sources(ROOT / "data" / "sources.yaml")]
    lake = work / "lake"
    raw_files, n_raw = {}, {}

    def collect():
        for s in sources:
            loc = Path(s.location_for(DAY).replace("data/samples", str(work / "samples")))
            out = lake / f"raw_{s.name}.parquet"
            n_raw[s.name] = read_to_parquet(loc, s.format, out, origin=str(loc), record_path=s.record_path,
                                            fetched_at=datetime(2026, 11, 16, 6, tzinfo=timezone.utc))
            raw_files[s.name] = out
    lake.mkdir(parents=True, exist_ok=True)
    stage("raw (parse)", args.rows, collect)
    total_raw = sum(n_raw.values())

    valid_files = {}

    def validate_all():
        for s in sources:
            chk = lake / f"checked_{s.name}.parquet"
            validate(pl.scan_parquet(raw_files[s.name]), source=s.name, kind=get_kind(s.kind), fields=s.fields,
                     day=DAY).sink_parquet(chk)
            valid_files[s.name] = lake / f"valid_{s.name}.parquet"
            valid_view(pl.scan_parquet(chk)).sink_parquet(valid_files[s.name])
            rejected_view(pl.scan_parquet(chk)).sink_parquet(lake / f"rejected_{s.name}.parquet")
            chk.unlink()
    stage("validate + split", total_raw, validate_all)
    n_valid = sum(pl.scan_parquet(f).select(pl.len()).collect().item() for f in valid_files.values())

    deduped_files = []

    def dedup_all():
        for s in sources:
            con = duckdb.connect(config={"memory_limit": os.environ.get("LISTINGS_DUCKDB_MEMORY", "2GB"),
                                         "threads": 2, "temp_directory": str(work / "duckdb_tmp"),
                                         "preserve_insertion_order": False})
            d, x = dedup(con, str(valid_files[s.name]), get_kind(s.kind))
            out = lake / f"deduped_{s.name}.parquet"
            d.write_parquet(str(out))
            x.write_parquet(str(lake / f"dups_{s.name}.parquet"))
            deduped_files.append(out)
            con.close()
    stage("dedup (duckdb)", n_valid, dedup_all)
    n_deduped = pl.scan_parquet(deduped_files).select(pl.len()).collect().item()

    enriched = lake / "enriched.parquet"
    stage("enrich", n_deduped, lambda: enrich(pl.scan_parquet(deduped_files)).sink_parquet(enriched))

    def history():
        pres = presence(pl.scan_parquet(deduped_files))
        counts = pl.LazyFrame([{"source": s.name, "kind": s.kind, "raw_rows": n_raw[s.name], "rejected_rows": 0,
                                "duplicate_rows": 0} for s in sources])
        snapshots(pres, DAY, counts).sink_parquet(lake / "snapshots.parquet")
        scores(pl.scan_parquet(lake / "snapshots.parquet"), pres, pl.scan_parquet(enriched), DAY).sink_parquet(
            lake / "scores.parquet")
    stage("snapshots + scores", n_deduped, history)

    # Postgres: our load vs a psql \copy of the same rows.
    base = os.environ.get("DATABASE_URL") or start_embedded(work / "pg")
    dbname = f"listings_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(with_database(base, "postgres"), autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = with_database(base, dbname)
    try:
        pg = PostgresResource(database_url=url, ddl_dir=str(ROOT / "sql"))
        pg.apply_ddl()
        result = stage("postgres load (COPY)", n_deduped,
                       lambda: pg.replace_partition("core", "listings", [enriched], {"observed_date": DAY}))
        assert result["rows"] == n_deduped

        csv_path = work / "enriched.csv"
        with psycopg.connect(url) as conn:
            cols = pg.table_columns(conn, "core", "listings")
            conn.execute("CREATE TABLE core.listings_psql (LIKE core.listings INCLUDING ALL)")
            conn.commit()
        duckdb.sql(f"COPY (SELECT {', '.join(cols)} FROM '{enriched}') TO '{csv_path}' (HEADER false)")
        psql = shutil.which("psql")
        if psql:
            rss.reset()
            t0 = time.perf_counter()
            subprocess.run([psql, url, "-q", "-v", "ON_ERROR_STOP=1", "-c",
                            f"\\copy core.listings_psql ({', '.join(cols)}) FROM '{csv_path}' (FORMAT csv)"],
                           check=True)
            psql_s = time.perf_counter() - t0
            label = "baseline psql \\copy"
            print(f"{label:<22} {n_deduped:>11,} rows {psql_s:8.2f} s "
                  f"{n_deduped / psql_s:>12,.0f} rows/s (CSV already on disk)")
        else:
            psql_s = None
            print("psql not found: baseline skipped")
    finally:
        with psycopg.connect(with_database(base, "postgres"), autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))

    rss.stop()
    wall = time.perf_counter() - t_all
    load_s = stages["postgres load (COPY)"]["seconds"]
    summary = {
        "rows": args.rows, "raw_rows": total_raw, "valid_rows": n_valid, "deduped_rows": n_deduped,
        "wall_seconds": round(wall, 2),
        "pipeline_rows_per_s": round(args.rows / sum(s["seconds"] for s in stages.values())),
        "peak_rss_mb": round(max(s["peak_rss_mb"] for s in stages.values()), 1),
        "stages": stages,
        "psql_copy_seconds": round(psql_s, 3) if psql_s else None,
        "load_vs_psql_copy_ratio": round(load_s / psql_s, 2) if psql_s else None,
    }
    print(f"\ntotal {wall:.1f} s; our load takes {summary['load_vs_psql_copy_ratio']}x the time of psql \\copy")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
