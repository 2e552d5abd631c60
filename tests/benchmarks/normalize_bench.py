"""CSV upload benchmark (not part of the test suite).

Generates a contact CSV (8 columns of mixed types: name, e-mail, phone,
address, date, amount, URL, ZIP) and runs detection + normalization exactly as
the `normalized_uploads` asset does (pipeline_assets.uploads.normalize_file:
DuckDB chunked read, detection, per-type normalization, Parquet + CSV out),
without Dagster. Each size runs in a fresh interpreter. Its peak RSS is that
process's VmHWM plus the VmHWM of each helper process it started for library
calls (pipeline_assets/uploads/parallel.py, read from /proc just before each
helper exits): an upper bound on the memory the run held at once. Timings
exclude interpreter start-up and imports. The machine's load average before
and after each size is printed and kept in the JSON (`load_avg`), since a
shared machine's other work shows in the rows/s.

Repetition model (a dealer's or recruiter's lead export): each row is a lead
from one of `--contacts` people (default rows / 20, at most 50,000), who
keep their name, e-mail, phone and address across leads; dates and amounts
are drawn per row (unique-ish); websites come from 2,000 companies; 2% of
cells are blank and 1% are junk ("n/a", "TBD", ...). The first line printed
per size gives the distinct counts per column, so the repetition is visible.

    python tests/benchmarks/normalize_bench.py [--rows 1000000] [--big-rows 5000000] [--keep DIR]

The last line is one JSON object: rows_per_s, peak_rss_mb (1M), peak_rss_mb_5m, and details.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

FIRST = ("James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan Joseph "
         "Jessica Thomas Sarah Charles Karen Christopher Nancy Daniel Lisa Matthew Betty Anthony Margaret Mark Sandra "
         "José María Chloé Zoë Björn Søren Łukasz François Ángel Noémie Renée André Siobhan Aoife Jürgen Dagný").split()
LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
        "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
        "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall "
        "O'Brien McDonald Müller Østergaard Núñez Kowalski Dubois Schäfer Fernández Gallagher Smith-Jones").split()
SYL = "ka lo mi ra ten sor vel dan bri ol ess an ton mar lin gar ber fel ric hal".split()
STREETS = "Main Oak Pine Maple Cedar Elm Washington Lake Hill Park Sunset Lincoln Jackson River Church Spring".split()
STYPES = ["St", "Ave", "Blvd", "Rd", "Dr", "Ln"]
CITIES = [("Springfield", "IL", "62701"), ("Austin", "TX", "78701"), ("Denver", "CO", "80202"),
          ("Portland", "OR", "97201"), ("Boston", "MA", "02108"), ("Miami", "FL", "33101"),
          ("Seattle", "WA", "98101"), ("Phoenix", "AZ", "85001"), ("Atlanta", "GA", "30301"),
          ("Chicago", "IL", "60601"), ("New York", "NY", "10001"), ("San Diego", "CA", "92101")]
AREAS = [212, 310, 415, 312, 617, 713, 305, 404, 206, 303, 602, 503, 214, 702, 615, 919, 480, 720]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "proton.me", "comcast.net"]
JUNK = ["n/a", "N/A", "unknown", "-", "TBD", "none", "?", "0"]
EXPECTED = {"full_name": "person_name", "email": "email", "phone": "phone", "address": "address",
            "signup_date": "date", "lifetime_value": "currency", "website": "url", "zip": "postal_code"}


def generate(path: Path, rows: int, contacts: int, seed: int = 42) -> dict:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    firsts = FIRST + [(a + b).capitalize() for a in SYL for b in SYL][:400]
    lasts = LAST + [(a + b + c).capitalize() for a in SYL[:10] for b in SYL for c in SYL[:8]][:1500]
    k = contacts
    f = np.array(firsts)[rng.zipf(1.3, k) % len(firsts)]
    l_ = np.array(lasts)[rng.zipf(1.2, k) % len(lasts)]
    n = rng.integers(1, 999, k)
    people = pl.DataFrame({"f": f, "l": l_, "n": n, "style": rng.integers(0, 10, k),
                           "dom": np.array(DOMAINS)[rng.integers(0, len(DOMAINS), k)],
                           "area": np.array(AREAS)[rng.integers(0, len(AREAS), k)],
                           "exch": rng.integers(201, 989, k), "line": rng.integers(0, 10000, k),
                           "house": rng.integers(1, 9999, k), "street": np.array(STREETS)[rng.integers(0, 16, k)],
                           "stype": np.array(STYPES)[rng.integers(0, 6, k)], "city": rng.integers(0, len(CITIES), k),
                           "apt": rng.integers(0, 40, k)})
    city = pl.DataFrame({"city": range(len(CITIES)), "cname": [c[0] for c in CITIES],
                         "st": [c[1] for c in CITIES], "zip": [c[2] for c in CITIES]})
    s = pl.col("style")
    exch = pl.when(pl.col("exch") == 555).then(556).otherwise(pl.col("exch")).cast(pl.String)
    line = pl.col("line").cast(pl.String).str.zfill(4)
    area = pl.col("area").cast(pl.String)
    people = people.join(city, on="city").with_columns(
        pl.when(s == 0).then(pl.concat_str([pl.col("f").str.to_uppercase(), pl.col("l").str.to_uppercase()], separator=" "))
        .when(s == 1).then(pl.concat_str([pl.col("f").str.to_lowercase(), pl.col("l").str.to_lowercase()], separator=" "))
        .when(s == 2).then(pl.concat_str([pl.col("f"), pl.lit("J."), pl.col("l")], separator=" "))
        .otherwise(pl.concat_str([pl.col("f"), pl.col("l")], separator=" ")).alias("full_name"),
        pl.concat_str([pl.col("f").str.to_lowercase(), pl.lit("."), pl.col("l").str.to_lowercase().str.replace_all(r"[^a-z]", ""),
                       pl.col("n").cast(pl.String), pl.lit("@"), pl.col("dom")]).alias("email"),
        pl.when(s < 4).then(pl.format("({}) {}-{}", area, exch, line))
        .when(s < 7).then(pl.format("{}-{}-{}", area, exch, line))
        .when(s < 9).then(pl.format("+1 {} {} {}", area, exch, line))
        .otherwise(pl.format("{}.{}.{}", area, exch, line)).alias("phone"),
        pl.when(s == 9).then(pl.format("P.O. Box {}, {}, {} {}", pl.col("house"), pl.col("cname"), pl.col("st"), pl.col("zip")))
        .when(pl.col("apt") < 8).then(pl.format("{} {} {} Apt {}, {}, {} {}", pl.col("house"), pl.col("street"), pl.col("stype"),
                                                 pl.col("apt"), pl.col("cname"), pl.col("st"), pl.col("zip")))
        .otherwise(pl.format("{} {} {}, {}, {} {}", pl.col("house"), pl.col("street"), pl.col("stype"), pl.col("cname"),
                             pl.col("st"), pl.col("zip"))).alias("address"),
    ).select("full_name", "email", "phone", "address", "zip")
    pick = rng.integers(0, k, rows)
    days = rng.integers(0, 3650, rows)
    df = people[pick].with_columns(
        pl.Series("d", days).cast(pl.Int32).alias("d"),
        pl.Series("amt", rng.integers(0, 2_000_000, rows)).alias("amt"),
        pl.Series("co", rng.integers(0, 2000, rows)).alias("co"),
        pl.Series("fmt", rng.integers(0, 10, rows)).alias("fmt"),
    ).with_columns(
        (pl.date(2015, 1, 1) + pl.duration(days=pl.col("d"))).alias("dt"),
    ).select(
        "full_name", "email", "phone", "address",
        pl.when(pl.col("fmt") < 8).then(pl.col("dt").dt.to_string("%Y-%m-%d"))
        .otherwise(pl.col("dt").dt.to_string("%m/%d/%Y")).alias("signup_date"),
        pl.when(pl.col("fmt") < 7).then(pl.format("${}.{}", (pl.col("amt") // 100), (pl.col("amt") % 100).cast(pl.String).str.zfill(2)))
        .otherwise((pl.col("amt") / 100).round(2).cast(pl.String)).alias("lifetime_value"),
        pl.format("https://www.{}{}.com", pl.lit("company"), pl.col("co")).alias("website"),
        "zip",
    )
    # Noise: 2% blank, 1% junk, per cell.
    noisy = []
    for c in df.columns:
        r = rng.random(rows)
        junk = np.array(JUNK)[rng.integers(0, len(JUNK), rows)]
        noisy.append(pl.when(pl.Series(r < 0.02)).then(pl.lit(None))
                     .when(pl.Series(r < 0.03)).then(pl.Series(junk)).otherwise(pl.col(c)).alias(c))
    df = df.with_columns(noisy)
    df.write_csv(path)
    return {c: df[c].n_unique() for c in df.columns}


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(csv_path: Path, work: Path, workers: int | None) -> None:
    import polars  # noqa: F401 - imported before the clock starts, as in a running step

    from pipeline_assets.uploads import UploadOptions, normalize_file

    t0 = time.perf_counter()
    res = normalize_file(csv_path, out_parquet=work / "out.parquet", out_csv=work / "out.csv",
                         out_rejects=work / "rejects.csv", scratch_dir=work / "tmp",
                         options=UploadOptions(workers=workers))
    secs = time.perf_counter() - t0
    main_mb = _vm_hwm_mb()
    helper_mb = sum(res.helper_peak_rss_mb)
    out = {"rows": res.rows, "seconds": secs, "peak_rss_mb": main_mb + helper_mb,
           "peak_rss_main_mb": round(main_mb, 1), "peak_rss_helper_mb": round(helper_mb, 1),
           "library_values": res.library_values, "rejected_lines": res.rejected_lines,
           "detected": {d.column: [d.type.value, d.confidence] for d in res.detections},
           "valid_pct": {c: round(100 * s.valid / s.filled, 1) if s.filled else None
                         for c, s in res.report.stats.items()},
           "cache": res.cache}
    (work / "result.json").write_text(json.dumps(out))


def run_size(rows: int, contacts: int, work: Path, workers: int | None = None) -> dict:
    csv_path = work / f"contacts_{rows}.csv"
    t0 = time.perf_counter()
    distinct = generate(csv_path, rows, contacts)
    size_mb = csv_path.stat().st_size / 1e6
    print(f"generated {rows:,} rows ({size_mb:,.0f} MB, {contacts:,} contacts) in {time.perf_counter() - t0:.1f} s; "
          f"distinct values: {distinct}", flush=True)
    cmd = [sys.executable, __file__, "--child", str(csv_path), "--work", str(work)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    load = os.getloadavg()
    proc = subprocess.run(cmd)
    if proc.returncode:
        raise SystemExit(f"normalization of {rows:,} rows failed with exit code {proc.returncode}")
    out = json.loads((work / "result.json").read_text())
    out["distinct"] = distinct
    out["load_avg"] = {"before": [round(x, 2) for x in load], "after": [round(x, 2) for x in os.getloadavg()]}
    out["rows_per_s"] = round(out["rows"] / out["seconds"])
    correct = sum(out["detected"][c][0] == t for c, t in EXPECTED.items())
    out["detection_correct"] = f"{correct}/{len(EXPECTED)}"
    print(f"{rows:>11,} rows {out['seconds']:7.2f} s {out['rows_per_s']:>10,} rows/s peak RSS "
          f"{out['peak_rss_mb']:7.1f} MB (main {out['peak_rss_main_mb']:.0f} + {out['library_values']['workers']} "
          f"helper(s) {out['peak_rss_helper_mb']:.0f}; library values here/helpers {out['library_values']['here']:,}/"
          f"{out['library_values']['helpers']:,}; load {load[0]:.2f}); detected {out['detection_correct']} correctly: "
          f"{ {c: v[0] for c, v in out['detected'].items()} }", flush=True)
    for name in ("out.parquet", "out.csv", "rejects.csv", csv_path.name):
        (work / name).unlink(missing_ok=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--big-rows", type=int, default=5_000_000)
    ap.add_argument("--contacts", type=int, default=None)
    ap.add_argument("--keep", help="work in this directory and keep it")
    ap.add_argument("--workers", type=int, default=None,
                    help="helper processes for library calls (default: the upload default, one per spare core)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child), Path(args.work), args.workers)
        return 0
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="normalize-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for rows in (args.rows, args.big_rows):
        if rows:
            contacts = args.contacts or min(50_000, max(100, rows // 20))
            results[rows] = run_size(rows, contacts, work, args.workers)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    small, big = results.get(args.rows), results.get(args.big_rows)
    summary = {
        "rows_per_s": small["rows_per_s"] if small else None,
        "peak_rss_mb": round(small["peak_rss_mb"], 1) if small else None,
        "rows_per_s_5m": big["rows_per_s"] if big else None,
        "peak_rss_mb_5m": round(big["peak_rss_mb"], 1) if big else None,
        "rss_growth_pct": round(100 * (big["peak_rss_mb"] / small["peak_rss_mb"] - 1), 1) if small and big else None,
        "rss_ratio": round(big["peak_rss_mb"] / small["peak_rss_mb"], 3) if small and big else None,
        "peak_rss_main_mb": {r: v["peak_rss_main_mb"] for r, v in results.items()},
        "peak_rss_helper_mb": {r: v["peak_rss_helper_mb"] for r, v in results.items()},
        "library_values": {r: v["library_values"] for r, v in results.items()},
        "load_avg": {r: v["load_avg"] for r, v in results.items()},
        "rows": args.rows, "big_rows": args.big_rows,
        "detection": {r: v["detection_correct"] for r, v in results.items()},
        "distinct": {r: v["distinct"] for r, v in results.items()},
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
