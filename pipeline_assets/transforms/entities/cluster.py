"""Clusters from scored edges: connected components, then constraints.

Input: DuckDB tables `prep` (records) and `edges(a, b, prob)` (pairs at or
above match_probability, no cannot-link conflict). Output: table
`clusters(rid, cluster)` holding only the records of multi-record clusters
(`cluster` = the smallest rid of the cluster); a record absent from it is a
cluster of its own. Most records of a day are singletons, so this keeps the
table, and the arrays behind it, a fraction of the day's size.

Why numpy and scipy for the components: connected components are one C call
over two int32 arrays (8 bytes per edge, 4 per record in the labels). That is
the only per-record state held outside DuckDB; everything with strings or
many columns stays in DuckDB, under its memory limit, so resident memory
does not grow with the size of the day beyond those few bytes.

Only the components that break a rule are rebuilt, greedily from their
strongest edges with the rules checked at each merge:
- cannot-link: different values in a cannot-link column (two VINs), or two
  different listings from the same source on the same day;
- size: more than `max_cluster_size` records (a chain of weak links) is
  rebuilt from edges at `split_probability` or above.
Those components are few and small, so a Python loop over their edges is cheap.
"""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..kinds.resolution import Resolution


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component label per node 0..n-1: the smallest node of its component."""
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    labels = connected_components(graph, directed=False)[1]
    del graph
    # First occurrence of each label in node order = its smallest node.
    _, first = np.unique(labels, return_index=True)
    return first[labels].astype(np.int32)


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


def cluster(con: duckdb.DuckDBPyConnection, res: Resolution) -> dict:
    """Create table `clusters(rid, cluster)` from `edges` and `prep`; returns stats."""
    n = int(con.execute("SELECT coalesce(max(rid) + 1, 0) FROM prep").fetchall()[0][0])
    ab = con.execute("SELECT a::INTEGER AS a, b::INTEGER AS b FROM edges").fetchnumpy()
    labels = components(n, np.asarray(ab["a"]), np.asarray(ab["b"]))
    del ab
    sizes = np.bincount(labels, minlength=n)
    multi = np.flatnonzero(sizes[labels] > 1).astype(np.int32)
    con.register("_cl", pa.table({"rid": pa.array(multi), "cluster": pa.array(labels[multi])}))
    del labels, sizes
    con.execute("CREATE OR REPLACE TEMP TABLE clusters AS SELECT rid::BIGINT AS rid, cluster::BIGINT AS cluster FROM _cl")
    con.unregister("_cl")
    del multi

    # Components that break a rule (singletons never do).
    checks = [f"count(DISTINCT p.{c}) > 1" for c in res.cannot_link]
    conflict = " OR ".join(["count(DISTINCT (p.source, p.observed_date)) < count(*)", *checks])
    bad = con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _bad AS
        SELECT c.cluster, count(*) > {int(res.max_cluster_size)} AS too_big, ({conflict}) AS conflict
        FROM clusters c JOIN prep p USING (rid) GROUP BY c.cluster
        HAVING too_big OR conflict;
        SELECT count(*) FILTER (WHERE too_big), count(*) FROM _bad""").fetchall()[0]
    split_big, n_bad = int(bad[0] or 0), int(bad[1] or 0)
    if n_bad:
        cl = "".join(f", p.{c}" for c in res.cannot_link)
        bad_nodes = con.sql(f"""
            SELECT p.rid, c.cluster, b.too_big, p.source, p.observed_date{cl}
            FROM clusters c JOIN _bad b USING (cluster) JOIN prep p USING (rid)""").pl()
        # An oversized component is rebuilt from its strong edges only.
        bad_edges = con.sql(f"""
            SELECT e.a, e.b, e.prob FROM edges e JOIN clusters c ON c.rid = e.a JOIN _bad b USING (cluster)
            WHERE e.prob >= CASE WHEN b.too_big THEN {res.split_probability} ELSE {res.match_probability} END""").pl()
        fixes = _greedy(bad_nodes, bad_edges, res)
        con.register("_fix", pa.table({"rid": pa.array(list(fixes), pa.int64()),
                                       "root": pa.array(list(fixes.values()), pa.int64())}))
        con.execute("UPDATE clusters SET cluster = f.root FROM _fix f WHERE clusters.rid = f.rid")
        con.unregister("_fix")
    con.execute("DROP TABLE IF EXISTS _bad")
    return {"components_split_for_size": split_big, "components_split_for_conflicts": n_bad - split_big}
