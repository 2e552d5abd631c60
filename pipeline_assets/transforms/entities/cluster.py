"""Clusters from scored edges: connected components, then constraints.

Connected components (scipy, C) handle the common case in one call. Only the
components that break a rule are rebuilt, greedily from their strongest
edges with the rules checked at each merge:
- cannot-link: different values in a cannot-link column (two VINs), or two
  different listings from the same source on the same day;
- size: more than `max_cluster_size` records (a chain of weak links) is
  rebuilt from edges at `split_probability` or above.
Those components are few and small, so a Python loop over their edges is cheap.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..kinds.resolution import Resolution


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def _violations(nodes: pl.DataFrame, res: Resolution) -> pl.DataFrame:
    checks = [
        (pl.len() > res.max_cluster_size).alias("too_big"),
        (pl.struct("source", "observed_date").n_unique() < pl.len()).alias("same_source_day"),
    ]
    for col in res.cannot_link:
        checks.append(pl.col(col).drop_nulls().n_unique() > 1)
    conflict = pl.any_horizontal(checks[1:]) if len(checks) > 1 else pl.lit(False)
    return (nodes.group_by("cluster").agg(checks[0], *checks[1:2], conflict.alias("conflict"))
            .filter(pl.col("too_big") | pl.col("conflict")))


def _greedy(members: pl.DataFrame, edges: pl.DataFrame, res: Resolution) -> dict[int, int]:
    """rid -> new root, merging strongest edges first under the rules.

    One pass over the edges of every violating component at once (edges never
    cross components, so a single strongest-first order is the same as one
    per component). `edges` has a, b, prob already at or above each
    component's threshold."""
    cl_cols = list(res.cannot_link)
    parent: dict[int, int] = {}
    keys: dict[int, dict] = {}
    for row in members.select("rid", "source", "observed_date", *cl_cols).iter_rows():
        rid, src, day, *cl = row
        parent[rid] = rid
        keys[rid] = {"sd": {(src, day)}, "cl": [({v} if v is not None else set()) for v in cl], "n": 1}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges.sort(["prob", "a", "b"], descending=[True, False, False]).select("a", "b").iter_rows():
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ka, kb = keys[ra], keys[rb]
        if ka["n"] + kb["n"] > res.max_cluster_size or ka["sd"] & kb["sd"]:
            continue
        if any(x and y and x != y for x, y in zip(ka["cl"], kb["cl"])):
            continue
        root, child = (ra, rb) if ra < rb else (rb, ra)
        parent[child] = root
        keys[root] = {"sd": ka["sd"] | kb["sd"], "n": ka["n"] + kb["n"],
                      "cl": [x | y for x, y in zip(ka["cl"], kb["cl"])]}
    return {r: find(r) for r in keys}


def cluster(nodes: pl.DataFrame, edges: pl.DataFrame, res: Resolution) -> tuple[pl.DataFrame, dict]:
    """nodes: rid (0..n-1), source, observed_date, cannot-link columns.
    edges: a, b, prob (already >= match_probability, no cannot-link conflict).
    Returns nodes with `cluster` (the smallest rid of its cluster) and stats."""
    n = nodes.height
    labels = components(n, edges["a"].to_numpy(), edges["b"].to_numpy())
    # Label = the smallest rid of the component, so the greedy roots below
    # (rids of their own component) can never collide with another label.
    nodes = nodes.with_columns(pl.Series("cluster", labels)).with_columns(
        pl.col("rid").min().over("cluster").alias("cluster"))
    bad = _violations(nodes, res)
    split_big = int(bad["too_big"].sum()) if bad.height else 0
    split_conflict = bad.height - split_big
    if bad.height:
        bad_nodes = nodes.join(bad.select("cluster", "too_big"), on="cluster", how="inner")
        # An oversized component is rebuilt from its strong edges only.
        threshold = pl.when(pl.col("too_big")).then(res.split_probability).otherwise(res.match_probability)
        bad_edges = (edges.join(bad_nodes.select(pl.col("rid").alias("a"), "too_big"), on="a", how="inner")
                     .filter(pl.col("prob") >= threshold).select("a", "b", "prob"))
        fixes = _greedy(bad_nodes, bad_edges, res)
        fix = pl.DataFrame({"rid": list(fixes), "_new": list(fixes.values())},
                           schema={"rid": pl.Int64, "_new": pl.Int64})
        nodes = nodes.join(fix, on="rid", how="left").with_columns(
            pl.coalesce("_new", "cluster").alias("cluster")).drop("_new")
    return nodes, {"components_split_for_size": split_big, "components_split_for_conflicts": split_conflict}
