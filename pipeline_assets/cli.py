"""`listings`: what users do outside the UI.

  listings run [--start D] [--end D] [--source S]   materialize the graph (the main job)
  listings query ["SQL"]                           DuckDB over the lake (REPL without SQL)
  listings dev                                     the Dagster UI with the right environment
  listings db-url                                  the Postgres URL in use (for psql)
  listings samples [--rows N] [--days N]           (re)generate sample data
  listings report [--date D]                       the summary printed after a run
  listings sync-runs                               copy Dagster's run history into Postgres (pipeline views)
  listings check-sources [FILE]                    validate sources.yaml; --write-schema refreshes its JSON Schema
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

from .paths import DATA_DIR, EMBEDDED_PGDATA, PROJECT_ROOT

SAMPLE_START, SAMPLE_DAYS = date(2026, 11, 16), 5
def _env(dagster_storage: bool = True) -> str:
    from resources.embedded_postgres import ensure_env

    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT))
    os.environ.setdefault("LISTINGS_DAGSTER_ARTIFACTS", str(DATA_DIR / "dagster"))
    return ensure_env(EMBEDDED_PGDATA, dagster_storage=dagster_storage)


def _days(start: str | None, end: str | None) -> list[date]:
    s = date.fromisoformat(start) if start else SAMPLE_START
    e = date.fromisoformat(end) if end else (s if start else SAMPLE_START + timedelta(days=SAMPLE_DAYS - 1))
    if e < s:
        raise SystemExit(f"--end {e} is before --start {s}")
    return [s + timedelta(days=i) for i in range((e - s).days + 1)]


def _ensure_samples() -> None:
    if not (DATA_DIR / "samples").exists():
        from .samples import generate
        print("generating bundled sample data in data/samples ...", flush=True)
        generate(DATA_DIR / "samples")


def cmd_run(args: argparse.Namespace) -> int:
    _env()
    if not args.start:
        _ensure_samples()
    from dagster import DagsterInstance

    from .definitions import defs
    from .partitions import source_catalog
    from .daily_runs import RunOutcome, run_days

    instance = DagsterInstance.get()
    # Watched (inbox) sources run when files arrive; name them to run them here.
    sources = args.source or [s.name for s in source_catalog().values() if s.enabled and not s.watch]
    unknown = set(sources) - set(source_catalog())
    if unknown:
        raise SystemExit(f"unknown source(s): {sorted(unknown)}; declared: {sorted(source_catalog())}")
    days = _days(args.start, args.end)
    # The full event stream is in the run history; the terminal gets warnings.
    quiet = {"loggers": {"console": {"config": {"log_level": os.environ.get("LISTINGS_LOG_LEVEL", "WARNING")}}}}
    index = {d: i for i, d in enumerate(days, 1)}

    def progress(o: RunOutcome) -> None:
        what = f"{o.source:<18} ingest" if o.source else f"{'(all sources)':<18} daily "
        print(f"[{index[o.day]}/{len(days)}] {o.day} {what} {'ok    ' if o.success else 'FAILED'} "
              f"{o.seconds:5.1f}s" + (f"  {o.message}" if o.message else ""), flush=True)

    t0 = time.perf_counter()
    outcomes = run_days(defs, days, sources, instance, run_config=quiet, progress=progress)
    failures = sum(not o.success for o in outcomes)
    from .run_log import sync_runs
    sync_runs(instance, os.environ["DATABASE_URL"])  # for the pipeline_stats / _schedule / _job_stats views
    print(f"\n{len(days)} day(s), {len(sources)} source(s) in {time.perf_counter() - t0:.1f}s; "
          f"{failures} failed run(s). Run history: `listings dev` -> Runs.\n")
    _report(days[-1])
    return 1 if failures else 0


def _report(day: date) -> None:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in
                  ("core.listings", "pipeline.rejected_listings", "core.listing_entities", "core.canonical_listings",
                   "core.entity_merges", "core.listing_history", "core.listing_snapshots", "core.source_scores")}
        print("Postgres rows: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
        rows = conn.execute(
            "SELECT s.source, s.posting_count, s.active_postings, s.new_postings, s.repost_count, "
            "s.disappeared_postings, s.rejected_rows, s.duplicate_rows, sc.score "
            "FROM core.listing_snapshots s LEFT JOIN core.source_scores sc "
            "ON sc.score_date = s.snapshot_date AND sc.source = s.source "
            "WHERE s.snapshot_date = %s ORDER BY s.source", (day,)).fetchall()
    header = ("source", "postings", "active", "new", "reposts", "gone", "rejected", "dups", "score")
    print(f"\nSnapshot {day}:")
    print("  " + "".join(f"{h:>10}" if i else f"{h:<18}" for i, h in enumerate(header)))
    for r in rows:
        print("  " + "".join(f"{v!s:>10}" if i else f"{v:<18}" for i, v in enumerate(r)))
    lake = os.environ.get("LISTINGS_LAKE_ROOT") or DATA_DIR / "lake"
    print(f"\nLake: {lake}   Query: listings query \"SELECT * FROM source_scores\"")


def cmd_report(args: argparse.Namespace) -> int:
    _env(dagster_storage=False)
    _report(date.fromisoformat(args.date) if args.date else SAMPLE_START + timedelta(days=SAMPLE_DAYS - 1))
    return 0


def duckdb_with_views(lake_root: str | Path | None = None):
    """A DuckDB connection with one view per lake dataset (derived from the
    asset definitions) that has files."""
    import duckdb

    from resources import LakeResource

    from .definitions import defs
    from .lake_views import lake_datasets
    from .sqltext import identifier, literal

    lake = LakeResource(root=str(lake_root or os.environ.get("LISTINGS_LAKE_ROOT") or DATA_DIR / "lake"))
    con = duckdb.connect()
    for name, levels in lake_datasets(defs).items():
        pattern = lake.asset_glob(name, levels)
        if not lake.fs().glob(pattern):
            continue
        # Columns come from the files (observed_date, source); hive keys are not
        # re-added, so `source` is never ambiguous.
        con.execute(f"CREATE VIEW {identifier(name)} AS SELECT * FROM read_parquet({literal(pattern)}, "
                    "union_by_name=true, hive_partitioning=false)")
    return con


def cmd_query(args: argparse.Namespace) -> int:
    con = duckdb_with_views()
    views = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]
    if args.sql:
        try:
            con.sql(args.sql).show(max_rows=args.max_rows, max_width=200)
        except Exception as e:  # noqa: BLE001 - show the SQL error to the user, not a traceback
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0
    print(f"DuckDB over {DATA_DIR / 'lake'}; views: {', '.join(views) or '(none: run `listings run`)'}")
    print("End statements with ';'. Ctrl-D to quit.")
    buf: list[str] = []
    while True:
        try:
            line = input("listings> " if not buf else "      ...> ")
        except EOFError:
            print()
            return 0
        buf.append(line)
        if line.rstrip().endswith(";"):
            try:
                con.sql("\n".join(buf)).show(max_rows=args.max_rows, max_width=200)
            except Exception as e:  # noqa: BLE001
                print(f"error: {e}")
            buf = []


def cmd_dev(args: argparse.Namespace) -> int:
    _env()
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"),
           "-h", args.host, "-p", str(args.port)]
    print(f"Dagster UI on http://{args.host}:{args.port}  (DAGSTER_HOME={os.environ['DAGSTER_HOME']})", flush=True)
    os.chdir(PROJECT_ROOT)
    os.execv(sys.executable, cmd)


def cmd_db_url(args: argparse.Namespace) -> int:
    url = _env(dagster_storage=False)
    print(os.environ["DAGSTER_PG_URL"] if args.dagster else url)
    return 0


def cmd_sync_runs(args: argparse.Namespace) -> int:
    _env()
    from dagster import DagsterInstance

    from resources import PostgresResource

    from .run_log import sync_runs
    from .paths import SQL_DIR

    PostgresResource(database_url=os.environ["DATABASE_URL"], ddl_dir=str(SQL_DIR)).apply_ddl()
    n, _ = sync_runs(DagsterInstance.get(), os.environ["DATABASE_URL"], limit=args.limit)
    print(f"{n} finished run(s) copied into pipeline.dagster_runs; see pipeline.pipeline_stats, "
          "pipeline.pipeline_schedule, pipeline.pipeline_job_stats")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    _env()
    for k in ("DATABASE_URL", "DAGSTER_PG_URL", "DAGSTER_HOME", "LISTINGS_DAGSTER_ARTIFACTS"):
        print(f"export {k}='{os.environ[k]}'")
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from .samples import generate

    out = Path(args.out)
    info = generate(out, start=date.fromisoformat(args.start), days=args.days, rows=args.rows, seed=args.seed)
    print(f"wrote {len(info['files'])} files to {out}")
    return 0


SCHEMA_FILE = DATA_DIR / "sources.schema.json"


def schema_text() -> str:
    import json

    from .sources import json_schema

    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def cmd_check_sources(args: argparse.Namespace) -> int:
    from .paths import SOURCES_FILE
    from .sources import SourceConfigError, load_sources

    if args.write_schema:
        SCHEMA_FILE.write_text(schema_text())
        print(f"wrote {SCHEMA_FILE}")
    path = Path(args.file or SOURCES_FILE)
    try:
        sources = load_sources(path)
    except SourceConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for s in sources:
        what = s.type if s.is_http else f"{s.format} {s.location}"
        print(f"{s.name:<28} {s.kind:<9} {'enabled ' if s.enabled else 'disabled'} {s.schedule:<12} {what}")
    print(f"{path}: {len(sources)} source(s) OK")
    return 0


def main(argv: list[str] | None = None) -> int:
    # Beta/preview notices about partition mappings are for developers, not users.
    warnings.filterwarnings("ignore", category=Warning, module=r"pipeline_assets\..*")
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    p = argparse.ArgumentParser(prog="listings", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="materialize the whole graph for a date or range (default: the sample days)")
    r.add_argument("--start", help="first day, YYYY-MM-DD (default: the bundled sample days)")
    r.add_argument("--end", help="last day, YYYY-MM-DD (default: --start)")
    r.add_argument("--source", action="append", help="only this source (repeatable)")
    r.set_defaults(fn=cmd_run)
    q = sub.add_parser("query", help="DuckDB SQL over the lake; a REPL without SQL")
    q.add_argument("sql", nargs="?")
    q.add_argument("--max-rows", type=int, default=40)
    q.set_defaults(fn=cmd_query)
    d = sub.add_parser("dev", help="start the Dagster UI")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=3000)
    d.set_defaults(fn=cmd_dev)
    u = sub.add_parser("db-url", help="print the Postgres URL in use")
    u.add_argument("--dagster", action="store_true", help="print Dagster's storage URL instead")
    u.set_defaults(fn=cmd_db_url)
    e = sub.add_parser("env", help="print export lines for running dagster commands directly")
    e.set_defaults(fn=cmd_env)
    s = sub.add_parser("samples", help="generate sample data")
    s.add_argument("--out", default=str(DATA_DIR / "samples"))
    s.add_argument("--start", default=SAMPLE_START.isoformat())
    s.add_argument("--days", type=int, default=SAMPLE_DAYS)
    s.add_argument("--rows", type=int, default=None, help="rows per day (scale mode for benchmarks)")
    s.add_argument("--seed", type=int, default=42)
    s.set_defaults(fn=cmd_samples)
    sr = sub.add_parser("sync-runs", help="copy finished Dagster runs into Postgres for the pipeline_* views")
    sr.add_argument("--limit", type=int, default=10_000)
    sr.set_defaults(fn=cmd_sync_runs)
    cs = sub.add_parser("check-sources", help="validate a sources.yaml (default: the configured one)")
    cs.add_argument("file", nargs="?")
    cs.add_argument("--write-schema", action="store_true", help=f"rewrite {SCHEMA_FILE.name} from the source model")
    cs.set_defaults(fn=cmd_check_sources)
    rep = sub.add_parser("report", help="print the Postgres summary for a day")
    rep.add_argument("--date")
    rep.set_defaults(fn=cmd_report)
    args = p.parse_args(argv)
    return args.fn(args) or 0


if __name__ == "__main__":
    sys.exit(main())
