"""Comparison levels for candidate pairs, one Arrow batch at a time.

Strings are scored by rapidfuzz over the batch's *distinct* value pairs
(`process.cpdist`, element-wise, in C on all cores): makes, models and
companies repeat endlessly, so each distinct pair is scored once. Numbers
and MinHash signatures are plain Polars expressions. No Python loop runs
per pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

from ..kinds.resolution import Comparison, Resolution
from .gather import pair_batches

NULL_LEVEL = -1
# Candidate pairs per comparison batch. A batch's working set (both sides'
# token-hash lists as DuckDB exports them, Polars' intersections, rapidfuzz's
# inputs) is what the comparison stage adds to DuckDB's memory limit: at
# 250,000 pairs of job postings it swung between 0.3 and 1.0 GB and set the
# peak of the whole day; at 100,000 it stays under 0.7 GB, for a few seconds
# more per 10M records.
BATCH_ROWS = 100_000


def _bucket(score: pl.Expr, thresholds: tuple[float, ...], higher_is_better: bool) -> pl.Expr:
    level = pl.lit(len(thresholds), pl.Int8)
    for i in reversed(range(len(thresholds))):
        hit = score >= thresholds[i] if higher_is_better else score <= thresholds[i]
        level = pl.when(hit).then(pl.lit(i, pl.Int8)).otherwise(level)
    return level


def _fuzzy_scores(df: pl.DataFrame, c: Comparison) -> pl.Series:
    a, b = df[f"a_{c.name}"], df[f"b_{c.name}"]
    scorer = getattr(fuzz, c.scorer)
    if not c.low_cardinality:
        # Mostly distinct pairs: score every row (nulls as "", masked later).
        scores = process.cpdist(a.fill_null("").to_list(), b.fill_null("").to_list(), scorer=scorer,
                                workers=-1, dtype=np.uint8) if df.height else np.zeros(0, np.uint8)
        return pl.Series(f"s_{c.name}", scores, dtype=pl.UInt8)
    # Few distinct values (makes, companies): an integer code per value (a
    # 64-bit hash, then numpy's unique), one code per pair, and rapidfuzz runs
    # once per distinct pair. Cheaper than a unique + join on string pairs.
    both = pl.concat([a, b]).fill_null("")
    _, first, codes = np.unique(both.hash().to_numpy(), return_index=True, return_inverse=True)
    values = both.gather(first).to_numpy()
    n, k = len(a), len(values)
    uniq, inverse = np.unique(codes[:n].astype(np.int64) * k + codes[n:], return_inverse=True)
    scores = process.cpdist(values[uniq // k].tolist(), values[uniq % k].tolist(),
                            scorer=scorer, workers=-1, dtype=np.uint8) if len(uniq) else np.zeros(0, np.uint8)
    return pl.Series(f"s_{c.name}", scores[inverse], dtype=pl.UInt8)


def levels(df: pl.DataFrame, res: Resolution) -> pl.DataFrame:
    """(a, b, g_<comparison>..., conflict) for a batch of gathered pairs."""
    out = []
    for c in res.comparisons:
        a, b = pl.col(f"a_{c.name}"), pl.col(f"b_{c.name}")
        missing = a.is_null() | b.is_null()
        if c.method == "exact" and c.fallback:
            fa, fb = pl.col(f"fa_{c.name}"), pl.col(f"fb_{c.name}")
            lvl = (pl.when(~missing & (a == b)).then(pl.lit(0, pl.Int8))
                   .when(fa == fb).then(pl.lit(1, pl.Int8)).otherwise(pl.lit(2, pl.Int8)))
            # Missing city but known states still say something.
            missing = missing & (fa.is_null() | fb.is_null())
        elif c.method == "exact":
            lvl = pl.when(a == b).then(pl.lit(0, pl.Int8)).otherwise(pl.lit(1, pl.Int8))
        elif c.method == "jaccard":
            inter = a.list.set_intersection(b).list.len()
            jac = inter / (a.list.len() + b.list.len() - inter)
            lvl = _bucket(jac, c.thresholds, True)
            missing = missing | (a.list.len() == 0) | (b.list.len() == 0)
        elif c.method == "fuzzy":
            df = df.with_columns(_fuzzy_scores(df, c).alias(f"s_{c.name}"))
            lvl = _bucket(pl.col(f"s_{c.name}"), c.thresholds, True)
        elif c.method == "numeric":
            rel = (a - b).abs() / pl.max_horizontal(a.abs(), b.abs())
            lvl = _bucket(pl.when((a == 0) & (b == 0)).then(0.0).otherwise(rel), c.thresholds, False)
        elif c.method == "absdiff":
            lvl = _bucket((a - b).abs(), c.thresholds, False)
        else:  # minhash
            slots = [(pl.col(f"a_mh_{i}") == pl.col(f"b_mh_{i}")).cast(pl.Float32)
                     for i in range(res.minhash_slots)]
            lvl = _bucket(pl.sum_horizontal(slots) / res.minhash_slots, c.thresholds, True)
            missing = missing | pl.col("a_mh_0").is_null() | pl.col("b_mh_0").is_null()
        out.append(pl.when(missing).then(pl.lit(NULL_LEVEL, pl.Int8)).otherwise(lvl).alias(f"g_{c.name}"))
    conflict = pl.lit(False)
    for i in range(len(res.cannot_link)):
        a, b = pl.col(f"a_cl{i}"), pl.col(f"b_cl{i}")
        conflict = conflict | (a.is_not_null() & b.is_not_null() & (a != b))
    # Lazy, so common subexpressions (a Jaccard score used by every threshold
    # test) are computed once.
    return df.lazy().select("a", "b", *out, conflict.alias("conflict")).collect()


def gamma_batches(con: duckdb.DuckDBPyConnection, res: Resolution, records: str, pairs: str, work: Path,
                  batch_rows: int | None = None, stats: dict | None = None) -> Iterator[pl.DataFrame]:
    """Comparison levels of every pair of table `pairs` (records from table
    `records`), batch by batch (gather.py says how the records are gathered)."""
    for batch in pair_batches(con, res, records, pairs, work, batch_rows or BATCH_ROWS, stats):
        yield levels(batch, res)


def u_levels(con: duckdb.DuckDBPyConnection, res: Resolution, records: str, pairs: str,
             work: Path) -> pl.DataFrame:
    """The levels (g_ columns only) of every pair of table `pairs`: the
    random pairs of the u-estimate, held in memory whole.

    Only the levels are kept because the pair ends `a` and `b` that `levels`
    passes through are zero-copy views of the Arrow batch DuckDB exported
    (the plain-join path of gather.py), and holding them kept every gathered
    column of the batch alive: 130 MB outside DuckDB's limit for the 300k
    random pairs of a day of vehicles, until the end of the day."""
    g_cols = [f"g_{c.name}" for c in res.comparisons]
    frames = [g.select(g_cols) for g in gamma_batches(con, res, records, pairs, work)]
    return pl.concat(frames) if frames else pl.DataFrame(schema={g: pl.Int8 for g in g_cols})
