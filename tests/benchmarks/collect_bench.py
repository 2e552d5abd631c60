"""Collection benchmark (not part of the test suite).

Starts a paginated JSON API (aiohttp) in its own process on 127.0.0.1, then
scrapes it with `collect_source` (page pagination, rate limits off, raw
bodies gzipped to disk, records streamed to one Parquet file) twice, each in
a fresh interpreter so each peak RSS (VmHWM) is that run's own: once with
--small pages and once with --pages (10x), to show memory stays flat as the
page count grows. Prints pages/s, records/s and peak RSS; the last line is
one JSON object.

    python tests/benchmarks/collect_bench.py [--pages 20000] [--small 2000] [--per-page 20] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


# -- the API under test (child process) -----------------------------------------
def serve(port: int, pages: int, per_page: int) -> None:
    import orjson
    from aiohttp import web

    def make_page(page: int) -> bytes:
        if page > pages:
            return orjson.dumps({"data": {"items": []}, "page": page})
        base = (page - 1) * per_page
        items = [{"id": base + k, "vin": f"1HGCM{base + k:012d}", "make": "Honda", "model": "Accord",
                  "year": 2015 + k % 10, "price": 12000.0 + k * 250, "mileage": 40000 + k * 1000,
                  "dealer": {"name": "Main St Motors", "city": "Austin", "state": "TX"},
                  "features": ["sunroof", "bluetooth"], "certified": k % 2 == 0,
                  "url": f"https://dealer.example.com/v/{base + k}"} for k in range(per_page)]
        return orjson.dumps({"data": {"items": items}, "page": page})

    async def items(request: web.Request) -> web.Response:
        page = int(request.query.get("page", "1"))
        last = int(request.query.get("n", pages))  # each run asks for its own page count
        body = make_page(page) if page <= last else orjson.dumps({"data": {"items": []}, "page": page})
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/items", items)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, handle_signals=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"benchmark server on port {port} did not start")


# -- one scrape (child interpreter) ---------------------------------------------
def scrape(port: int, pages: int, per_page: int, concurrency: int, work: str, loop: str = "asyncio") -> dict:
    from pipeline_assets.collect import collect_source

    cfg = {
        "name": "bench_api", "type": "json_api", "url": f"http://127.0.0.1:{port}/items",
        "allowed_hosts": ["127.0.0.1"], "allow_private_networks": True,
        "record_path": "data.items", "params": {"n": pages},
        "pagination": {"style": "page", "size_param": "per_page", "page_size": per_page,
                       "max_pages": pages + 1, "prefetch": concurrency},
        "http": {"concurrency": concurrency, "rate_limit": 0, "timeout": 30},
        "kind": "vehicles", "fields": {"source_listing_id": "id", "make": "make", "model": "model", "year": "year",
                                       "source_url": "url"},
    }
    w = Path(work)
    cpu0 = _cpu_s()
    start = time.perf_counter()
    coro = collect_source(cfg, state_dir=w / "state", raw_dir=w / "raw", out_parquet=w / "out.parquet")
    if loop == "uvloop":
        import uvloop

        report = uvloop.run(coro)
    else:
        report = asyncio.run(coro)
    elapsed = time.perf_counter() - start
    cpu = _cpu_s() - cpu0
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(w / "out.parquet").metadata.num_rows
    return {"pages": report.pages_ok, "records": report.records, "rows_in_parquet": rows, "status": report.status,
            "truncated": report.truncated, "seconds": round(elapsed, 3),
            "raw_files": sum(1 for _ in (w / "raw").glob("*.gz")),
            "raw_mb": round(sum(p.stat().st_size for p in (w / "raw").glob("*.gz")) / 2**20, 1),
            "parquet_mb": round((w / "out.parquet").stat().st_size / 2**20, 1),
            "pages_per_s": round(report.pages_ok / elapsed, 1), "records_per_s": round(report.records / elapsed, 1),
            "client_cpu_s": round(cpu, 2), "peak_rss_mb": _vm_hwm_mb()}


def _cpu_s() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def run_child(port: int, pages: int, per_page: int, concurrency: int, work: Path, loop: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(port), str(pages), str(per_page),
                          str(concurrency), str(work), loop], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"scrape of {pages} pages failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=20_000)
    ap.add_argument("--small", type=int, default=2_000)
    ap.add_argument("--per-page", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=4)  # the http.concurrency default
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio",
                    help="event loop of the collecting process (the library works on either)")
    ap.add_argument("--keep", type=Path, help="keep the work directory here")
    args = ap.parse_args()

    port = _free_port()
    server = mp.get_context("spawn").Process(target=serve, args=(port, args.pages, args.per_page), daemon=True)
    server.start()
    work = Path(tempfile.mkdtemp(prefix="collect_bench_", dir=args.keep))
    try:
        _wait_up(port)
        results = {}
        for label, pages in (("small", args.small), ("large", args.pages)):
            d = work / label
            d.mkdir()
            results[label] = r = run_child(port, pages, args.per_page, args.concurrency, d, args.loop)
            print(f"{pages:>7,} pages: {r['seconds']:7.2f} s  {r['pages_per_s']:8.1f} pages/s  "
                  f"{r['records_per_s']:9.1f} records/s  client CPU {r['client_cpu_s']:.1f} s  "
                  f"peak RSS {r['peak_rss_mb']:6.1f} MB  "
                  f"({r['records']:,} records, status {r['status']}, {r['raw_files']:,} raw files "
                  f"{r['raw_mb']} MB, parquet {r['parquet_mb']} MB)", flush=True)
        large, small = results["large"], results["small"]
        print(f"peak RSS {small['peak_rss_mb']} MB at {args.small:,} pages -> {large['peak_rss_mb']} MB at "
              f"{args.pages:,} pages ({large['peak_rss_mb'] / small['peak_rss_mb']:.2f}x for "
              f"{args.pages / args.small:.0f}x the pages)")
        print(json.dumps({
            "pages": args.pages, "per_page": args.per_page, "concurrency": args.concurrency, "loop": args.loop,
            "cpus": os.cpu_count(),
            "pages_per_s": large["pages_per_s"], "records_per_s": large["records_per_s"],
            "seconds": large["seconds"], "records": large["records"], "status": large["status"],
            "peak_rss_mb": large["peak_rss_mb"], "peak_rss_mb_2000_pages": small["peak_rss_mb"],
            "pages_per_s_2000_pages": small["pages_per_s"], "raw_mb": large["raw_mb"],
            "parquet_mb": large["parquet_mb"]}))
    finally:
        server.terminate()
        server.join(5)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        port, pages, per_page, conc, work, loop = sys.argv[2:8]
        print(json.dumps(scrape(int(port), int(pages), int(per_page), int(conc), work, loop)))
    else:
        main()
