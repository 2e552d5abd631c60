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


def _greedy(members: pl.DataFrame, edges: pl.DataFrame, res: Resolution, threshold: float) -> dict[int, int]:
    """rid -> new root, merging strongest edges first under the rules."""
    parent: dict[int, int] = {}
    rows = members.to_dicts()
    keys = {r["rid"]: {"sd": {(r["source"], r["observed_date"])},
                       "cl": {c: ({r[c]} if r[c] is not None else set()) for c in res.cannot_link},
                       "n": 1} for r in rows}
    for r in keys:
        parent[r] = r

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _p in edges.filter(pl.col("prob") >= threshold).sort(
            ["prob", "a", "b"], descending=[True, False, False]).iter_rows():
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ka, kb = keys[ra], keys[rb]
        if ka["n"] + kb["n"] > res.max_cluster_size or ka["sd"] & kb["sd"]:
            continue
        if any(ka["cl"][c] and kb["cl"][c] and ka["cl"][c] != kb["cl"][c] for c in res.cannot_link):
            continue
        root, child = (ra, rb) if ra < rb else (rb, ra)
        parent[child] = root
        keys[root] = {"sd": ka["sd"] | kb["sd"], "n": ka["n"] + kb["n"],
                      "cl": {c: ka["cl"][c] | kb["cl"][c] for c in res.cannot_link}}
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
    split_big = split_conflict = 0
    if bad.height:
        fixes = {}
        bad_nodes = nodes.join(bad, on="cluster", how="semi")
        comp_of = dict(zip(bad_nodes["rid"].to_list(), bad_nodes["cluster"].to_list()))
        bad_edges = edges.filter(pl.col("a").is_in(bad_nodes["rid"].implode()))
        edges_by = bad_edges.with_columns(pl.col("a").replace_strict(comp_of).alias("cluster")).partition_by(
            "cluster", as_dict=True)
        for (cid,), members in bad_nodes.partition_by("cluster", as_dict=True).items():
            too_big = bool(bad.filter(pl.col("cluster") == cid)["too_big"][0])
            split_big += too_big
            split_conflict += not too_big
            threshold = res.split_probability if too_big else res.match_probability
            comp_edges = edges_by.get((cid,), pl.DataFrame(schema={"a": pl.Int64, "b": pl.Int64,
                                                                     "prob": pl.Float64}))
            fixes.update(_greedy(members, comp_edges.select("a", "b", "prob"), res, threshold))
        fix = pl.DataFrame({"rid": list(fixes), "_new": list(fixes.values())},
                           schema={"rid": pl.Int64, "_new": pl.Int64})
        nodes = nodes.join(fix, on="rid", how="left").with_columns(
            pl.coalesce("_new", "cluster").alias("cluster")).drop("_new")
    return nodes, {"components_split_for_size": split_big, "components_split_for_conflicts": split_conflict}
