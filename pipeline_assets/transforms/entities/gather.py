"""Both records of every candidate pair, gathered from slices of the records
in bounded batches, without a join that spills (all local: no network).

The plain way to fetch them is `pairs JOIN prep x ON x.rid = a JOIN prep y ON
y.rid = b` (`prep`: the table of prepared records, prepare.py). Its two hash
tables hold the compared columns of every record of the day; past a few
million records they no longer fit under DuckDB's memory limit, and the
join spills (17 GB of temporary files for 10M vehicle
listings), slows down, and holds memory outside DuckDB's accounting that grew
with the day.

Here the records are cut into slices of consecutive rids, small enough that
two slices fit in a fixed budget, and the pairs are partitioned by the slices
of their two records (a < b, so slice(a) <= slice(b)). For each pair of
slices (i, j) only those two are in memory, and a pair's records are found by
position (rid - first rid of the slice), a gather, not a hash lookup. With
K slices, slice i is read i + 1 times (66 reads of about 1M records each for
10M vehicle listings, a few seconds); nothing spills, and memory is set by
the slice budget, not by the day.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..kinds.resolution import Resolution
from ...sqltext import identifier, literal
from .tokens import token_column

# Share of DuckDB's memory limit one slice of records may take once loaded
# (two are loaded at a time). None of it is inside DuckDB's pool: DuckDB
# only writes the slices and pairs out once, then idles during comparison.
# On 10M vehicle listings (1 GB limit) a quarter gave 6 slices, a 190 s
# stage peaking at 1,438 MB; an eighth 11 slices, 196 s and 1,352 MB: more
# slices are read more often, but smaller ones gather faster.
SLICE_SHARE = 0.125
# Fixed slice size in records, overriding the budget (tests use a tiny one
# to exercise many slices on small data).
SLICE_ROWS: int | None = None
_WIDTH_SAMPLE = 20_000
_UNITS = {"": 1, "b": 1, "bytes": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


@dataclass
class Column:
    uses: list[tuple[str, str]]   # (record a, record b) column names in a batch
    hashed: bool = True           # every use only tests a == b and nulls: a hash will do


def gather_spec(res: Resolution) -> dict[str, Column]:
    """Record column -> what it becomes in a batch. One column may serve several
    comparisons and rules; it is read once."""
    spec: dict[str, Column] = {}

    def add(col: str, a: str, b: str, hashed: bool = False) -> None:
        c = spec.setdefault(col, Column([]))
        c.uses.append((a, b))
        c.hashed &= hashed

    for c in res.comparisons:
        if c.method == "minhash":
            for i in range(res.minhash_slots):
                add(f"mh_{i}", f"a_mh_{i}", f"b_mh_{i}")
            add(c.column, f"a_{c.name}", f"b_{c.name}")
        elif c.method == "jaccard":
            # Token-hash lists prepared once per record (tokens.py).
            add(token_column(c.column), f"a_{c.name}", f"b_{c.name}")
        else:
            add(c.column, f"a_{c.name}", f"b_{c.name}", c.method == "exact")
            if c.fallback:
                add(c.fallback, f"fa_{c.name}", f"fb_{c.name}", True)
    for i, col in enumerate(res.cannot_link):
        add(col, f"a_cl{i}", f"b_cl{i}", True)
    return spec


def select_list(spec: dict[str, Column]) -> str:
    """Columns only tested for equality travel as 64-bit hashes (nulls kept):
    gathering and comparing an integer costs a fraction of a string (VINs,
    cities). A collision would need two different values in one pair out of
    2^64, and blocking already keys on the same hashes."""
    out = []
    for col, c in spec.items():
        q = identifier(col)
        out.append(f"CASE WHEN {q} IS NULL THEN NULL ELSE hash({q}) END AS {q}" if c.hashed else q)
    return ", ".join(out)


def memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    text = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    m = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"cannot read DuckDB's memory_limit {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def slice_rows(con: duckdb.DuckDBPyConnection, records: str, select: str) -> int:
    """Records per slice: the budget over the width of a sampled record as
    Polars holds it (strings and token lists vary by kind and source)."""
    if SLICE_ROWS:
        return SLICE_ROWS
    sample = con.sql(f"SELECT {select} FROM {records} LIMIT {_WIDTH_SAMPLE}").pl()
    width = max(sample.estimated_size() / max(sample.height, 1), 8.0) + 8  # + its slot in the position index
    return max(10_000, int(memory_limit_bytes(con) * SLICE_SHARE / width))


@dataclass
class _Slice:
    frame: pl.DataFrame   # compared columns, in file order
    pos: np.ndarray       # rid - first rid -> row of `frame`
    first: int


def _read_slice(d: Path, first: int, rows: int) -> _Slice:
    frame = pl.read_parquet(sorted(str(p) for p in d.glob("*.parquet")), hive_partitioning=False)
    pos = np.zeros(rows, np.int64)
    pos[frame["rid"].to_numpy() - first] = np.arange(frame.height)
    return _Slice(frame.drop("rid"), pos, first)


def _pair_chunks(d: Path, batch_rows: int) -> Iterator[pa.Table]:
    """The pairs of one partition, row group by row group, in batches of
    exactly `batch_rows` (the last one shorter)."""
    buf: list[pa.Table] = []
    n = 0
    for f in sorted(d.glob("*.parquet")):
        pf = pq.ParquetFile(str(f))
        for g in range(pf.num_row_groups):
            t = pf.read_row_group(g, columns=["a", "b"])
            buf.append(t)
            n += t.num_rows
            while n >= batch_rows:
                whole = pa.concat_tables(buf)
                yield whole.slice(0, batch_rows)
                rest = whole.slice(batch_rows)
                buf, n = [rest], rest.num_rows
    if n:
        yield pa.concat_tables(buf)


def _batch(spec: dict[str, Column], a: np.ndarray, b: np.ndarray, xa: pl.DataFrame, yb: pl.DataFrame) -> pl.DataFrame:
    out = [pl.Series("a", a), pl.Series("b", b)]
    for col, c in spec.items():
        out += [xa.get_column(col).alias(an) for an, _ in c.uses]
        out += [yb.get_column(col).alias(bn) for _, bn in c.uses]
    return pl.DataFrame(out)


def pair_batches(con: duckdb.DuckDBPyConnection, res: Resolution, records: str, pairs: str, work: Path,
                 batch_rows: int, stats: dict | None = None) -> Iterator[pl.DataFrame]:
    """Batches of (a, b, a_<col>..., b_<col>...) for every pair (a, b) of
    table `pairs`, with the records of table `records` (by rid), in slice
    order. `work` is a scratch directory, removed at the end; `stats`
    receives the number of slices and records per slice."""
    spec = gather_spec(res)
    select = select_list(spec)
    lo, hi = con.execute(f"SELECT min(rid), max(rid) FROM {records}").fetchall()[0]
    if lo is None:
        return
    rows = slice_rows(con, records, select)
    n_slices = (hi - lo) // rows + 1
    n_pairs = con.execute(f"SELECT count(*) FROM {pairs}").fetchall()[0][0]
    if stats is not None:
        stats.update(slices=int(n_slices), slice_rows=int(rows))
    if n_pairs <= rows:
        # Fewer pairs than a slice holds records (the random pairs of the
        # u-estimate): DuckDB builds its hash tables on the pairs side, so a
        # plain join neither spills nor pays for writing the slices.
        cols = ", ".join(f"x.{identifier(col)} AS {identifier(an)}, y.{identifier(col)} AS {identifier(bn)}"
                         for col, c in spec.items() for an, bn in c.uses)
        reader = con.sql(f"""WITH r AS (SELECT rid, {select} FROM {records})
                             SELECT p.a, p.b, {cols} FROM {pairs} p JOIN r x ON x.rid = p.a JOIN r y ON y.rid = p.b
                          """).to_arrow_reader(batch_rows)
        for rb in reader:
            yield pl.from_arrow(rb)
        return
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        # One pass over each table: DuckDB writes a file set per slice and
        # per slice pair, in parallel, under its memory limit.
        con.execute(f"""COPY (SELECT (rid - {lo}) // {rows} AS s, rid, {select} FROM {records})
                        TO {literal(work / 'records')} (FORMAT parquet, PARTITION_BY (s))""")
        con.execute(f"""COPY (SELECT (a - {lo}) // {rows} AS sa, (b - {lo}) // {rows} AS sb, a, b FROM {pairs})
                        TO {literal(work / 'pairs')} (FORMAT parquet, PARTITION_BY (sa, sb))""")
        for i in range(n_slices):
            pairs_i = [(j, work / "pairs" / f"sa={i}" / f"sb={j}") for j in range(i, n_slices)]
            pairs_i = [(j, d) for j, d in pairs_i if d.is_dir()]
            if not pairs_i:
                continue
            x = _read_slice(work / "records" / f"s={i}", lo + i * rows, rows)
            for j, d in pairs_i:
                y = x if j == i else _read_slice(work / "records" / f"s={j}", lo + j * rows, rows)
                for chunk in _pair_chunks(d, batch_rows):
                    a = chunk.column("a").to_numpy()
                    b = chunk.column("b").to_numpy()
                    yield _batch(spec, a, b, x.frame[x.pos[a - x.first]], y.frame[y.pos[b - y.first]])
                del y
            del x
    finally:
        shutil.rmtree(work, ignore_errors=True)
