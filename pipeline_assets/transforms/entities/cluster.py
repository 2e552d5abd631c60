"""Clusters from scored edges: connected components, then constraints.

Input: DuckDB tables `prep` (records) and `edges(a, b, prob)` (pairs at or
above match_probability, no cannot-link conflict). Output: table
`clusters(rid, cluster, strong)` holding only the records of multi-record
clusters (`cluster` = the smallest rid of the cluster; `strong` = rebuilt
from strong edges); a record absent from it is a cluster of its own. Most records of a day are singletons, so this keeps the
table, and the arrays behind it, a fraction of the day's size.

Why numpy and scipy for the components: connected components are one C call
over two int32 arrays (8 bytes per edge, 4 per record in the labels). That is
the only per-record state held outside DuckDB; everything with strings or
many columns stays in DuckDB, under its memory limit, so resident memory
does not grow with the size of the day beyond those few bytes.

Only the components that break a rule are rebuilt, greedily from their
strongest edges with the rules checked at each merge (in batches of
components, after oversized ones are cut into the components of their
strong edges):
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


def _relabel(con: duckdb.DuckDBPyConnection, rids: np.ndarray, labels: np.ndarray, strong: bool) -> None:
    con.register("_rl", pa.table({"rid": pa.array(rids.astype(np.int64)), "cluster": pa.array(labels.astype(np.int64))}))
    con.execute(f"UPDATE clusters SET cluster = r.cluster, strong = {strong} FROM _rl r WHERE clusters.rid = r.rid")
    con.unregister("_rl")


def cluster(con: duckdb.DuckDBPyConnection, res: Resolution, greedy_batch_records: int = 50_000) -> dict:
    """Create table `clusters(rid, cluster, strong)` from `edges` and `prep`; returns stats."""
    n = int(con.execute("SELECT coalesce(max(rid) + 1, 0) FROM prep").fetchall()[0][0])
    ab = con.execute("SELECT a::INTEGER AS a, b::INTEGER AS b FROM edges").fetchnumpy()
    labels = components(n, np.asarray(ab["a"]), np.asarray(ab["b"]))
    del ab
    sizes = np.bincount(labels, minlength=n)
    multi = np.flatnonzero(sizes[labels] > 1).astype(np.int32)
    con.register("_cl", pa.table({"rid": pa.array(multi), "cluster": pa.array(labels[multi])}))
    del labels, sizes
    con.execute("CREATE OR REPLACE TEMP TABLE clusters AS "
                "SELECT rid::BIGINT AS rid, cluster::BIGINT AS cluster, false AS strong FROM _cl")
    con.unregister("_cl")
    del multi

    # Oversized components (chains of weak links) are first cut into the
    # components of their strong edges (>= split_probability): one more
    # vectorized pass, the same result the greedy rebuild would give where
    # those pieces break no rule, and it keeps giant components (which grow
    # with the day) out of the Python loop below.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _big AS SELECT cluster FROM clusters GROUP BY cluster
                    HAVING count(*) > {int(res.max_cluster_size)}""")
    split_big = int(con.execute("SELECT count(*) FROM _big").fetchall()[0][0])
    if split_big:
        ab = con.execute(f"""
            SELECT e.a::INTEGER AS a, e.b::INTEGER AS b FROM edges e
            JOIN clusters c ON c.rid = e.a SEMI JOIN _big USING (cluster)
            WHERE e.prob >= {res.split_probability}""").fetchnumpy()
        labels = components(n, np.asarray(ab["a"]), np.asarray(ab["b"]))
        del ab
        rids = con.execute("SELECT rid::INTEGER AS rid FROM clusters SEMI JOIN _big USING (cluster)").fetchnumpy()["rid"]
        rids = np.asarray(rids)
        _relabel(con, rids, labels[rids], strong=True)
        del labels, rids
    con.execute("DROP TABLE _big")

    # Components that still break a rule (singletons never do), rebuilt
    # greedily. Components are independent, so they are processed in batches
    # of about `greedy_batch_records` records: the Python state is bounded
    # whatever the size of the day.
    checks = [f"count(DISTINCT p.{c}) > 1" for c in res.cannot_link]
    conflict = " OR ".join(["count(DISTINCT (p.source, p.observed_date)) < count(*)", *checks])
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _bad AS
        SELECT cluster, too_big, conflict, strong,
               sum(n) OVER (ORDER BY cluster) // {int(greedy_batch_records)} AS batch
        FROM (SELECT c.cluster, count(*) AS n, count(*) > {int(res.max_cluster_size)} AS too_big,
                     ({conflict}) AS conflict, bool_or(c.strong) AS strong
              FROM clusters c JOIN prep p USING (rid) GROUP BY c.cluster
              HAVING too_big OR conflict)""")
    n_conflict, batches = con.execute(
        "SELECT count(*) FILTER (WHERE conflict), list(DISTINCT batch) FROM _bad").fetchall()[0]
    cl = "".join(f", p.{c}" for c in res.cannot_link)
    for batch in sorted(batches or []):
        bad_nodes = con.sql(f"""
            SELECT p.rid, c.cluster, p.source, p.observed_date{cl}
            FROM clusters c JOIN _bad b USING (cluster) JOIN prep p USING (rid) WHERE b.batch = {int(batch)}""").pl()
        # A component cut for size is rebuilt from its strong edges only.
        bad_edges = con.sql(f"""
            SELECT e.a, e.b, e.prob FROM edges e JOIN clusters c ON c.rid = e.a JOIN _bad b USING (cluster)
            WHERE b.batch = {int(batch)}
              AND e.prob >= CASE WHEN b.strong OR b.too_big THEN {res.split_probability}
                                 ELSE {res.match_probability} END""").pl()
        fixes = _greedy(bad_nodes, bad_edges, res)
        _relabel(con, np.fromiter(fixes.keys(), np.int64, len(fixes)),
                 np.fromiter(fixes.values(), np.int64, len(fixes)), strong=True)
        del bad_nodes, bad_edges, fixes
    con.execute("DROP TABLE IF EXISTS _bad")
    return {"components_split_for_size": split_big, "components_split_for_conflicts": int(n_conflict or 0)}
