"""Entity-resolution benchmark (not part of the test suite): ours vs Splink 5.

1. Generates labeled vehicle and/or job listings over two days
   (`er_data.generate`: duplicates across 2-4 sources, reposts, typos,
   abbreviations, price/mileage drift, missing VINs, look-alike
   non-duplicates) and writes one Parquet per day, without the labels.
2. Runs our resolver (`pipeline_assets.transforms.entities.resolve_day`) day
   by day in a child interpreter (DuckDB memory_limit 2GB, 2 threads), the
   state of day 1 feeding day 2.
3. Scores it over the union of both days' records (record key = observed_date,
   source, listing_id): pairwise and B-cubed precision / recall / F1. Day 2's
   merges (two day-1 entities found to be one) are applied to day 1's rows,
   as the Postgres load does: the ids a user reads after the last day.
4. Runs Splink 5 (DuckDB backend, same DuckDB limits) on the same records
   (union of both days, dedupe_only) in its own child: the same light
   normalisation our resolver gets (case, punctuation, make aliases, job-title
   abbreviations, sorted title tokens), blocking rules and comparisons for
   these fields, lambda from deterministic rules, u from random pairs, m by
   EM (on the VIN block for vehicles, whose pairs are all matches; the m of a
   VIN disagreement is fixed near 0, the same fact as our cannot-link rule),
   predict, then connected components at each threshold of the sweep
   0.5/0.8/0.9/0.95/0.99/0.999/0.9999/0.99999. Splink is reported at its BEST threshold of
   the sweep (chosen with the labels, which favours Splink; the sweep and the
   figures at 0.9 are in the JSON); its time covers loading, normalisation,
   training, predict and clustering at one threshold.
5. Throughput: one day of --scale-rows records, then 2x and 4x that
   (--scale-steps), through our resolver alone, to show rows/s and that
   peak RSS stays flat.

Each measured run is a fresh interpreter; peak RSS is its own VmHWM, and
timings exclude interpreter start-up and imports. The last line printed is
one JSON object.

    python tests/benchmarks/er_bench.py [--kind vehicles|jobs|both] [--entities N]
        [--scale-rows N] [--scale-steps 1,2,4] [--skip-splink] [--resolver ours|naive] [--keep DIR]

`--resolver naive` (entity = listing_id) exercises the harness without the
resolver; `--scale-rows 0` skips the throughput run.
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
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Neither imports more than the standard library (the Splink child may run
# in another interpreter).
from pipeline_assets.transforms.measure import peak_rss_mb  # noqa: E402
from pipeline_assets.sqltext import literal, literal_list  # noqa: E402

SEED = 20261116
DAYS = (date(2026, 11, 16), date(2026, 11, 17))
# ~2.83 records per entity over the two days: 70,000 entities ~ 200k records per kind
DEFAULT_ENTITIES = 70_000
SPLINK_THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 0.9999, 0.99999)
DUCKDB_MEMORY = os.environ.get("LISTINGS_DUCKDB_MEMORY", "2GB")
# The throughput runs' DuckDB limit (--scale-duckdb-memory): peak RSS is this
# limit plus about 0.9 GB once a day fills it, so a 1 GB limit shows the
# plateau from 1M records on; with 2 GB it starts at about 2M.
SCALE_DUCKDB_MEMORY = "1GB"
SCALE_CHUNK_ENTITIES = 250_000


# The other settings of the pipeline's DuckDBResource, repeated here so the
# measured child does not import dagster (test_benchmarks checks they agree).
PIPELINE_DUCKDB = {"threads": 2, "preserve_insertion_order": False, "allocator_flush_threshold": "8MB",
                   "allocator_bulk_deallocation_flush_threshold": "32MB"}


def _duck(work: Path, memory: str | None = None):
    import duckdb

    (work / "duckdb_tmp").mkdir(parents=True, exist_ok=True)
    # The settings of the pipeline's DuckDBResource (resources/duckdb_resource.py).
    return duckdb.connect(config={"memory_limit": memory or DUCKDB_MEMORY, "temp_directory": str(work / "duckdb_tmp"),
                                  **PIPELINE_DUCKDB})


# --- resolvers (child side) -----------------------------------------------------
@dataclass
class _NaiveResult:
    members: Path
    state: Path


def naive_resolve_day(con, records: str, kind, day: date, previous_state, out_dir: Path) -> _NaiveResult:
    """Stand-in with the resolver's interface: one entity per listing_id."""
    out_dir.mkdir(parents=True, exist_ok=True)
    members = out_dir / "members.parquet"
    con.execute(f"""COPY (SELECT source, listing_id, observed_date, listing_id AS entity_id
                          FROM read_parquet({literal(records)})) TO {literal(members)} (FORMAT parquet)""")
    return _NaiveResult(members=members, state=members)


def child_resolve(work: Path, spec: dict) -> dict:
    """Resolve each day of spec["days"] in order, carrying the state."""
    from pipeline_assets.transforms.kinds import get_kind

    if spec["resolver"] == "naive":
        resolve_day = naive_resolve_day
    else:
        from pipeline_assets.transforms.entities import resolve_day
    kind = get_kind(spec["kind"])
    con = _duck(work, spec.get("duckdb_memory"))
    prev = None
    out = {"days": [], "members": []}
    t_all = time.perf_counter()
    for day_s, path in spec["days"]:
        day = date.fromisoformat(day_s)
        out_dir = Path(spec["out"]) / day_s
        t0 = time.perf_counter()
        res = resolve_day(con, records=str(path), kind=kind, day=day, previous_state=prev, out_dir=out_dir)
        secs = time.perf_counter() - t0
        prev = res.state
        out["days"].append({"day": day_s, "seconds": secs})
        out["members"].append([day_s, str(res.members)])
        if getattr(res, "merges", None):
            out.setdefault("merges", []).append([day_s, str(res.merges)])
        stats = getattr(res, "stats", None)
        if stats:
            out["days"][-1]["stats"] = {k: v for k, v in stats.items() if isinstance(v, (int, float, str))}
    out["seconds"] = time.perf_counter() - t_all
    con.close()
    return out


# --- Splink (child side) ----------------------------------------------------------
_MAKE_ALIASES = {"chevy": "chevrolet", "vw": "volkswagen", "mercedes": "mercedesbenz", "mercedes benz": "mercedesbenz",
                 "mb": "mercedesbenz", "benz": "mercedesbenz", "caddy": "cadillac", "dodge ram": "ram"}
_TITLE_ABBREVIATIONS = {"sr": "senior", "jr": "junior", "eng": "engineer", "engr": "engineer", "mgr": "manager",
                        "dev": "developer", "rep": "representative", "admin": "administrative", "asst": "assistant",
                        "tech": "technician", "spec": "specialist", "chevy": "chevrolet", "vw": "volkswagen",
                        "mb": "mercedesbenz", "mercedes": "mercedesbenz", "benz": "mercedesbenz"}


def _norm_sql(col: str) -> str:
    return f"trim(regexp_replace(lower({col}), '[^a-z0-9 ]+', ' ', 'g'))"


def _sorted_tokens_sql(expr: str, synonyms: dict[str, str]) -> str:
    """Tokens with abbreviations expanded, sorted (word order does not matter), joined by spaces."""
    case = "CASE x " + " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in synonyms.items()) + " ELSE x END"
    toks = f"list_transform(list_filter(string_split({expr}, ' '), lambda x: x <> ''), lambda x: {case})"
    return f"array_to_string(list_sort({toks}), ' ')"


def _splink_prepare_sql(kind: str, files: list[str]) -> str:
    src = f"read_parquet({literal_list(files)})"
    if kind == "vehicles":
        make_map = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in _MAKE_ALIASES.items())
        return f"""
        WITH p AS (
        SELECT row_number() OVER () AS unique_id, observed_date, source, listing_id,
               vin, year, price, mileage, model,
               CASE {_norm_sql('make')} {make_map} ELSE replace({_norm_sql('make')}, ' ', '') END AS make_n,
               replace({_norm_sql('model')}, ' ', '') AS model_n,
               {_norm_sql('city')} AS city_n,
               {_sorted_tokens_sql(_norm_sql('title'), _TITLE_ABBREVIATIONS)} AS title_n
        FROM {src}),
        t AS (SELECT *, string_split(make_n || ' ' || model_n || ' ' || {_norm_sql('model')} || ' ' ||
                                     coalesce(CAST(year AS VARCHAR), ''), ' ') AS known FROM p)
        -- what the title says beyond make, model and year: trim, colour, extras
        SELECT * EXCLUDE (known),
               nullif(array_to_string(list_filter(string_split(title_n, ' '),
                                                  lambda x: NOT list_contains(known, x)), ' '), '') AS title_rest
        FROM t"""
    return f"""
        SELECT row_number() OVER () AS unique_id, observed_date, source, listing_id,
               regexp_replace({_norm_sql('company')}, ' (inc|llc|corp|co|group|corporation|ltd)$', '') AS company_n,
               {_sorted_tokens_sql(_norm_sql('title'), _TITLE_ABBREVIATIONS)} AS title_n,
               {_norm_sql('city')} AS city_n, state,
               CASE WHEN source_url ~ '(greenhouse|lever|myworkdayjobs)' THEN regexp_replace(source_url, '[?#].*$', '')
                    ELSE NULL END AS ats_url,
               salary_min, salary_max, employment_type,
               lower(substr(description, 1, 150)) AS desc_n
        FROM {src}"""


def _splink_settings(kind: str):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    def numeric(col: str, levels: list) -> "cl.CustomComparison":
        lv = [cll.NullLevel(col)]
        for typ, v in levels:
            lv.append(cll.AbsoluteDifferenceLevel(col, v) if typ == "abs" else cll.PercentageDifferenceLevel(col, v))
        lv.append(cll.ElseLevel())
        return cl.CustomComparison(lv, output_column_name=col)

    if kind == "vehicles":
        blocking = [block_on("vin"), block_on("make_n", "model_n", "year"), block_on("city_n", "make_n", "year"),
                    block_on("city_n", "model_n")]
        # Two listings with different VINs are two cars: the same fact as our cannot-link rule, given to
        # Splink as fixed m probabilities (left to EM, look-alikes in the training blocks drag it to ~0.3).
        vin = cl.CustomComparison([
            cll.NullLevel("vin"),
            cll.ExactMatchLevel("vin").configure(m_probability=0.9999, fix_m_probability=True),
            cll.ElseLevel().configure(m_probability=0.0001, fix_m_probability=True)], output_column_name="vin")
        comparisons = [
            vin,
            cl.JaroWinklerAtThresholds("make_n", [0.9]),
            cl.JaroWinklerAtThresholds("model_n", [0.95, 0.88]),
            cl.CustomComparison([cll.NullLevel("year"), cll.ExactMatchLevel("year"),
                                 cll.AbsoluteDifferenceLevel("year", 1), cll.ElseLevel()], output_column_name="year"),
            numeric("price", [("pct", 0.01), ("pct", 0.05), ("pct", 0.15)]),
            numeric("mileage", [("abs", 1000), ("pct", 0.1), ("pct", 0.3)]),
            cl.ExactMatch("city_n"),
            cl.JaroWinklerAtThresholds("title_rest", [0.95, 0.8]),
        ]
    else:
        blocking = [block_on("ats_url"), block_on("company_n", "city_n"), block_on("company_n", "title_n"),
                    block_on("title_n", "city_n")]
        comparisons = [
            cl.ExactMatch("ats_url"),
            cl.JaroWinklerAtThresholds("company_n", [0.95, 0.88]),
            cl.JaroWinklerAtThresholds("title_n", [0.95, 0.88, 0.75]),
            cl.ExactMatch("city_n"),
            cl.ExactMatch("state"),
            numeric("salary_max", [("pct", 0.02), ("pct", 0.1)]),
            cl.ExactMatch("employment_type"),
            cl.JaroWinklerAtThresholds("desc_n", [0.95, 0.85]),
        ]
    return SettingsCreator(link_type="dedupe_only", blocking_rules_to_generate_predictions=blocking,
                           comparisons=comparisons, retain_intermediate_calculation_columns=os.environ.get("SPLINK_DEBUG") == "1",
                           retain_matching_columns=False)


def child_splink(work: Path, spec: dict) -> dict:
    import logging

    from splink import DuckDBAPI, Linker, block_on

    kind = spec["kind"]
    out_dir = Path(spec["out"])
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    con = _duck(work)
    con.execute(f"CREATE TABLE records AS {_splink_prepare_sql(kind, [p for _, p in spec['days']])}")
    n = con.execute("SELECT count(*) FROM records").fetchall()[0][0]
    db_api = DuckDBAPI(connection=con)
    sdf = db_api.register("records")
    linker = Linker(sdf, _splink_settings(kind), log_level=logging.WARNING)
    timings = {"load": time.perf_counter() - t0}
    t = time.perf_counter()
    if kind == "vehicles":
        det, recall = [block_on("vin")], 0.5
        # all pairs in the VIN block are matches: m of every other comparison (the VIN's own is fixed),
        # and a second block to train the disagreement levels the VIN block never shows
        em_rules = [block_on("vin"), block_on("model_n", "year", "city_n")]
    else:
        det, recall = [block_on("ats_url"), block_on("company_n", "title_n", "city_n")], 0.7
        em_rules = [block_on("company_n", "city_n"), block_on("title_n")]
    linker.training.estimate_probability_two_random_records_match(det, recall=recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=spec.get("u_pairs", 2e6), seed=1)
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    timings["train"] = time.perf_counter() - t
    t = time.perf_counter()
    pred = linker.inference.predict(threshold_match_probability=min(SPLINK_THRESHOLDS))
    n_pairs = con.execute(f"SELECT count(*) FROM {pred.physical_name}").fetchall()[0][0]
    timings["predict"] = time.perf_counter() - t
    con.execute(f"COPY (SELECT unique_id, observed_date, source, listing_id FROM records) "
                f"TO {literal(out_dir / 'keys.parquet')} (FORMAT parquet)")
    clusters = {}
    for thr in SPLINK_THRESHOLDS:
        t = time.perf_counter()
        cl_ = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, threshold_match_probability=thr)
        path = out_dir / f"clusters_{thr}.parquet"
        con.execute(f"COPY (SELECT unique_id, cluster_id FROM {cl_.physical_name}) TO {literal(path)} (FORMAT parquet)")
        clusters[str(thr)] = {"path": str(path), "seconds": time.perf_counter() - t}
    settings_seconds = timings["load"] + timings["train"] + timings["predict"]
    return {"records": n, "pairs_scored": n_pairs, "timings": timings, "clusters": clusters,
            "seconds_without_clustering": settings_seconds}


# --- parent ------------------------------------------------------------------------
def measure(mode: str, work: Path, spec: dict, python: str | None = None) -> tuple[dict, float]:
    spec_path = work / f"spec_{mode}_{spec['tag']}.json"
    spec_path.write_text(json.dumps(spec, default=str))
    result_path = work / f"result_{mode}_{spec['tag']}.json"
    cmd = [python or sys.executable, __file__, "--child", mode, "--work", str(work), "--spec", str(spec_path),
           "--result", str(result_path)]
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise SystemExit(f"child {mode} {spec['tag']} failed with exit code {proc.returncode}")
    out = json.loads(result_path.read_text())
    return out, out.pop("_peak_rss_mb")


def child_main(args) -> int:
    import duckdb  # noqa: F401 - imported before the clock starts
    import polars  # noqa: F401

    work = Path(args.work)
    spec = json.loads(Path(args.spec).read_text())
    if args.child == "resolve":
        if spec["resolver"] == "ours":
            import pipeline_assets.transforms.entities  # noqa: F401
        out = child_resolve(work, spec)
    elif args.child == "splink":
        import splink  # noqa: F401
        out = child_splink(work, spec)
    else:
        raise SystemExit(f"unknown child mode {args.child}")
    # Peak RSS of this process since exec (ru_maxrss would include the parent's).
    out["_peak_rss_mb"] = peak_rss_mb()
    Path(args.result).write_text(json.dumps(out, default=str))
    return 0


def _members_frame(members: list, kind: str, merges: list | None = None):
    """Every day's listing -> entity rows, with later days' merges applied to
    earlier days (entity X merged into Y on day D: X's rows before D read Y),
    which is what core.listing_entities holds after the last day's load."""
    import polars as pl

    frames = []
    for day_s, path in members:
        df = pl.read_parquet(path)
        if "observed_date" not in df.columns:
            df = df.with_columns(observed_date=pl.lit(date.fromisoformat(day_s)))
        frames.append(df.select(pl.col("observed_date").cast(pl.Date), "source", "listing_id",
                                pl.col("entity_id").cast(pl.String)))
    out = pl.concat(frames)
    for day_s, path in merges or []:
        m = pl.read_parquet(path).select("merged", "into_entity")
        if m.height:
            out = (out.join(m, left_on="entity_id", right_on="merged", how="left")
                   .with_columns(pl.when(pl.col("observed_date") < date.fromisoformat(day_s))
                                 .then(pl.coalesce("into_entity", "entity_id")).otherwise(pl.col("entity_id"))
                                 .alias("entity_id")).drop("into_entity"))
    return out


def _splink_python() -> str:
    """The interpreter that has splink (the main venv, else .venv-bench)."""
    try:
        import splink  # noqa: F401
        return sys.executable
    except ImportError:
        alt = ROOT / ".venv-bench" / "bin" / "python"
        if alt.exists():
            return str(alt)
        raise SystemExit("splink is not installed: `uv pip install -e '.[bench]'` (or pass --skip-splink)")


def _records_per_entity(kind: str, n_days: int) -> float:
    import er_data

    fr = er_data.generate(20_000, kind, seed=SEED + 99, days=DAYS[:n_days])
    return sum(f.height for f in fr.values()) / 20_000


def _scale_data(kind: str, rows: int, work: Path) -> tuple[Path, int]:
    """One day of about `rows` records in one Parquet, generated in chunks."""
    import duckdb
    import polars as pl

    import er_data

    n_ent = max(1, round(rows / _records_per_entity(kind, 1)))
    parts = []
    for i, off in enumerate(range(0, n_ent, SCALE_CHUNK_ENTITIES)):
        fr = er_data.generate(min(SCALE_CHUNK_ENTITIES, n_ent - off), kind, seed=SEED + 7, days=DAYS[:1],
                              entity_offset=off)
        p = work / f"scale_{kind}_{rows}_part{i}.parquet"
        fr[DAYS[0]].drop("true_entity").write_parquet(p)
        parts.append(p)
        del fr
    out = work / f"scale_{kind}_{rows}.parquet"
    con = duckdb.connect(config={"threads": 2, "memory_limit": "2GB"})
    con.execute(f"COPY (SELECT * FROM read_parquet({literal_list([str(p) for p in parts])})) TO {literal(out)} "
                "(FORMAT parquet, ROW_GROUP_SIZE 122880)")
    con.close()
    for p in parts:
        p.unlink()
    n = pl.scan_parquet(out).select(pl.len()).collect().item()
    return out, n


def _fmt(x, nd=3):
    return "-" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def run_kind(kind: str, args, work: Path) -> dict:
    import polars as pl

    import er_data

    kw = work / kind
    kw.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    frames = er_data.generate(args.entities, kind, seed=args.seed, days=DAYS)
    gen_s = time.perf_counter() - t0
    info = er_data.describe(frames)
    paths = er_data.write_days(frames, kw / "records")
    truth = er_data.truth_of(frames)
    del frames
    n = truth.height
    print(f"\n== {kind}: {info['entities']:,} entities, {n:,} records over {len(DAYS)} days "
          f"(generated in {gen_s:.1f} s); {info['entities_with_duplicates']:.0%} of entities have duplicates, "
          f"{info['entities_multi_source']:.0%} on several sources, {info['true_pairs']:,} true pairs", flush=True)
    days = [[d.isoformat(), str(p)] for d, p in paths.items()]
    res = {"records": n, "generator": info}

    # ours (or the naive stand-in)
    out, rss = measure("resolve", work, {"tag": kind, "kind": kind, "resolver": args.resolver, "days": days,
                                         "out": str(kw / f"resolved_{args.resolver}")})
    s = er_data.score(_members_frame(out["members"], kind, out.get("merges")), truth)
    res["ours"] = {**s, "seconds": out["seconds"], "rows_per_s": n / out["seconds"], "peak_rss_mb": rss,
                   "per_day": out["days"], "resolver": args.resolver}
    print(f"  {args.resolver:<8} F1 {s['f1']:.4f} (P {s['precision']:.4f} R {s['recall']:.4f}) "
          f"B3 F1 {s['bcubed_f1']:.4f}  {out['seconds']:.1f} s  {n / out['seconds']:,.0f} rows/s  "
          f"peak RSS {rss:.0f} MB", flush=True)

    # Splink on the same records
    if not args.skip_splink:
        out, rss = measure("splink", work, {"tag": kind, "kind": kind, "days": days,
                                            "out": str(kw / "splink"), "u_pairs": args.splink_u_pairs},
                           python=_splink_python())
        keys = pl.read_parquet(kw / "splink" / "keys.parquet")
        sweep = {}
        for thr, c in out["clusters"].items():
            pred = keys.join(pl.read_parquet(c["path"]), on="unique_id", how="left").select(
                "observed_date", "source", "listing_id", entity_id=pl.col("cluster_id").cast(pl.String))
            sc = er_data.score(pred, truth)
            sweep[thr] = {**sc, "seconds": out["seconds_without_clustering"] + c["seconds"]}
        best_thr = max(sweep, key=lambda k: sweep[k]["f1"])
        best = sweep[best_thr]
        res["splink"] = {**best, "threshold": float(best_thr), "peak_rss_mb": rss,
                         "rows_per_s": n / best["seconds"], "pairs_scored": out["pairs_scored"],
                         "timings": out["timings"],
                         "sweep": {k: {m: v[m] for m in ("f1", "precision", "recall", "bcubed_f1")}
                                   for k, v in sweep.items()},
                         "at_0.9": {m: sweep["0.9"][m] for m in ("f1", "precision", "recall", "bcubed_f1")}}
        print(f"  splink   F1 {best['f1']:.4f} (P {best['precision']:.4f} R {best['recall']:.4f}) "
              f"B3 F1 {best['bcubed_f1']:.4f}  {best['seconds']:.1f} s at its best threshold {best_thr} "
              f"(sweep F1: {', '.join(k + ': ' + format(v['f1'], '.4f') for k, v in sweep.items())}); "
              f"peak RSS {rss:.0f} MB", flush=True)

    # throughput
    res["scale"] = []
    steps = [float(x) for x in args.scale_steps.split(",") if x.strip()]
    for rows in ([int(args.scale_rows * k) for k in steps] if args.scale_rows else []):
        t = time.perf_counter()
        path, n_rows = _scale_data(kind, rows, work)
        print(f"  throughput: {n_rows:,} records generated in {time.perf_counter() - t:.1f} s", flush=True)
        out, rss = measure("resolve", work, {"tag": f"{kind}_{rows}", "kind": kind, "resolver": args.resolver,
                                             "days": [[DAYS[0].isoformat(), str(path)]],
                                             "duckdb_memory": args.scale_duckdb_memory,
                                             "out": str(kw / f"scale_{rows}")})
        secs = out["days"][0]["seconds"]
        res["scale"].append({"rows": n_rows, "seconds": secs, "rows_per_s": n_rows / secs, "peak_rss_mb": rss})
        print(f"  {args.resolver:<8} {n_rows:>10,} rows {secs:8.1f} s {n_rows / secs:>12,.0f} rows/s "
              f"({n_rows / secs * 60 / 1e6:.2f} M/min)  peak RSS {rss:.0f} MB", flush=True)
        path.unlink()
        shutil.rmtree(kw / f"scale_{rows}", ignore_errors=True)
    return res


def _table(results: dict) -> None:
    hdr = (f"{'kind':<9} {'system':<9} {'P':>7} {'R':>7} {'F1':>7} {'B3 P':>7} {'B3 R':>7} {'B3 F1':>7} "
           f"{'seconds':>8} {'rows/s':>10} {'RSS MB':>7}")
    print("\n" + hdr + "\n" + "-" * len(hdr))
    for kind, r in results.items():
        for name in ("ours", "splink"):
            if name not in r:
                continue
            s = r[name]
            label = r["ours"]["resolver"] if name == "ours" else f"splink@{s['threshold']}"
            print(f"{kind:<9} {label:<9} {s['precision']:7.4f} {s['recall']:7.4f} {s['f1']:7.4f} "
                  f"{s['bcubed_precision']:7.4f} {s['bcubed_recall']:7.4f} {s['bcubed_f1']:7.4f} "
                  f"{s['seconds']:8.1f} {s['rows_per_s']:10,.0f} {s['peak_rss_mb']:7.0f}")
        for sc in r.get("scale", []):
            print(f"{kind:<9} {'scale':<9} {sc['rows']:>,} rows: {sc['seconds']:.1f} s, {sc['rows_per_s']:,.0f} rows/s, "
                  f"peak RSS {sc['peak_rss_mb']:.0f} MB")


def _pooled(results: dict, work: Path, system: str) -> dict | None:
    """Pairwise/B-cubed over both kinds together: sums of the per-kind pair counts."""
    rs = [r[system] for r in results.values() if system in r]
    if len(rs) != len(results):
        return None
    tp, pp, tpairs = (sum(r[k] for r in rs) for k in ("tp_pairs", "pred_pairs", "true_pairs"))
    n = sum(r["records"] for r in rs)
    p = tp / pp if pp else 1.0
    rc = tp / tpairs if tpairs else 1.0
    bp = sum(r["bcubed_precision"] * r["records"] for r in rs) / n
    br = sum(r["bcubed_recall"] * r["records"] for r in rs) / n
    f = lambda a, b: 0.0 if a + b == 0 else 2 * a * b / (a + b)  # noqa: E731
    return {"precision": p, "recall": rc, "f1": f(p, rc), "bcubed_precision": bp, "bcubed_recall": br,
            "bcubed_f1": f(bp, br), "seconds": sum(r["seconds"] for r in rs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=["vehicles", "jobs", "both"], default="both")
    ap.add_argument("--entities", type=int, default=DEFAULT_ENTITIES,
                    help=f"entities per kind (default {DEFAULT_ENTITIES:,}: ~200k records per kind over 2 days)")
    ap.add_argument("--scale-rows", type=int, default=1_000_000,
                    help="records of the first throughput run; 0 skips the throughput runs")
    ap.add_argument("--scale-steps", default="1,2,4",
                    help="throughput runs as multiples of --scale-rows (default 1,2,4: 1M, 2M, 4M records)")
    ap.add_argument("--scale-duckdb-memory", default=SCALE_DUCKDB_MEMORY,
                    help=f"DuckDB memory_limit of the throughput runs (default {SCALE_DUCKDB_MEMORY})")
    ap.add_argument("--skip-splink", action="store_true")
    ap.add_argument("--splink-u-pairs", type=float, default=2e6, help="max_pairs of Splink's u estimation")
    ap.add_argument("--resolver", choices=["ours", "naive"], default="ours")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--keep", help="work in this directory and keep it")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child_main(args)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="er-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    kinds = ["vehicles", "jobs"] if args.kind == "both" else [args.kind]
    t_all = time.perf_counter()
    results = {k: run_kind(k, args, work) for k in kinds}
    _table(results)

    ours = _pooled(results, work, "ours")
    spl = _pooled(results, work, "splink")
    scale = [s for r in results.values() for s in r["scale"]]
    first = [s for r in results.values() for s in r["scale"][:1]]
    second = [s for r in results.values() for s in r["scale"][1:2]]
    summary = {
        "resolver": args.resolver, "kinds": kinds, "entities_per_kind": args.entities,
        "records": sum(r["records"] for r in results.values()),
        "f1": ours["f1"], "precision": ours["precision"], "recall": ours["recall"],
        "bcubed_f1": ours["bcubed_f1"], "bcubed_precision": ours["bcubed_precision"],
        "bcubed_recall": ours["bcubed_recall"], "seconds": ours["seconds"],
        "rows_per_s": min(s["rows_per_s"] for s in first) if first else None,
        "peak_rss_mb": max(s["peak_rss_mb"] for s in first) if first else
        max(r["ours"]["peak_rss_mb"] for r in results.values()),
        "peak_rss_mb_2x": max(s["peak_rss_mb"] for s in second) if second else None,
        "peak_rss_mb_largest": max(r["scale"][-1]["peak_rss_mb"] for r in results.values()) if first else None,
        "rows_per_s_largest": min(r["scale"][-1]["rows_per_s"] for r in results.values()) if first else None,
        "scale_rows_largest": max(r["scale"][-1]["rows"] for r in results.values()) if first else None,
        # Peak RSS of the largest day over that of the first, per kind, the worse of the kinds.
        "peak_rss_ratio": max(r["scale"][-1]["peak_rss_mb"] / r["scale"][0]["peak_rss_mb"]
                              for r in results.values()) if first else None,
        "duckdb_memory_limit": DUCKDB_MEMORY, "scale_duckdb_memory_limit": args.scale_duckdb_memory,
        "scale_rows": max(s["rows"] for s in first) if first else None,
        "splink_f1": spl and spl["f1"], "splink_precision": spl and spl["precision"],
        "splink_recall": spl and spl["recall"], "splink_bcubed_f1": spl and spl["bcubed_f1"],
        "splink_seconds": spl and spl["seconds"],
        "splink_peak_rss_mb": max(r["splink"]["peak_rss_mb"] for r in results.values()) if spl else None,
        "speedup_vs_splink": spl and spl["seconds"] / ours["seconds"],
        "wall_seconds": time.perf_counter() - t_all,
        "per_kind": {
            k: {
                "records": r["records"], "generator": r["generator"],
                "ours": {m: r["ours"][m] for m in ("f1", "precision", "recall", "bcubed_f1", "bcubed_precision",
                                                   "bcubed_recall", "seconds", "rows_per_s", "peak_rss_mb",
                                                   "pred_clusters", "true_clusters")},
                "splink": ({m: r["splink"][m] for m in ("f1", "precision", "recall", "bcubed_f1", "seconds",
                                                        "peak_rss_mb", "threshold", "sweep", "at_0.9",
                                                        "pairs_scored", "timings")} if "splink" in r else None),
                "speedup_vs_splink": r["splink"]["seconds"] / r["ours"]["seconds"] if "splink" in r else None,
                "scale": r["scale"],
            } for k, r in results.items()},
    }
    if spl:
        print(f"\nours F1 {ours['f1']:.4f} vs Splink {spl['f1']:.4f} (at its best threshold); "
              f"{summary['speedup_vs_splink']:.1f}x Splink's speed on the same records")
    if scale:
        print(f"throughput {summary['rows_per_s']:,.0f} rows/s at {summary['scale_rows']:,} rows; "
              f"peak RSS {summary['peak_rss_mb']:.0f} MB, {summary['peak_rss_mb_largest']:.0f} MB at "
              f"{summary['scale_rows_largest']:,} rows (ratio {summary['peak_rss_ratio']:.3f}; "
              f"DuckDB memory_limit {args.scale_duckdb_memory})")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)

    def rnd(x):
        if isinstance(x, float):
            return round(x, 4 if abs(x) < 10 else 1)
        if isinstance(x, dict):
            return {k: rnd(v) for k, v in x.items()}
        if isinstance(x, list):
            return [rnd(v) for v in x]
        return x

    print(json.dumps(rnd(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
