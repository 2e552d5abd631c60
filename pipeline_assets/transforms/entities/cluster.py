"""Clusters from scored edges: connected components, then constraints.

Input: a DuckDB table of records (`prep`, prepare.py) and one of edges
`(a, b, prob)` (`build_edges`: pairs at or above match_probability, no
cannot-link conflict). Output: a table `(rid, cluster, strong)`
(`clusters`) holding only the records of multi-record clusters (`cluster`
= the smallest rid of the cluster; `strong` = rebuilt from strong edges);
a record absent from it is a cluster of its own. Most
records of a day are singletons, so this keeps the table a fraction of the
day's size.

Why numpy for the components: hook-and-jump over int32 arrays, the edges
streamed from DuckDB in chunks (see `components`). The parent array (4 bytes
per record) is the only per-record state held outside DuckDB; everything
with strings or many columns stays in DuckDB, under its memory limit, so
resident memory does not grow with the size of the day beyond those few
bytes. (scipy's connected_components converted the edges to a float64
sparse matrix and its transpose: about ten times that, and it grew with
the day.)

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

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from ..kinds.resolution import Resolution
from ...sqltext import literal

CHUNK = 1_000_000


def components(con: duckdb.DuckDBPyConnection, n: int, edge_sql: str,
               chunk_rows: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """(label per node 0..n-1, mask of nodes on an edge) for the edges that
    `edge_sql` returns as int32 columns a, b. A node's label is the smallest
    node of its component.

    Hook and jump (Shiloach-Vishkin style), over the edges in chunks read
    from DuckDB: every pass hooks the larger of two different parents under
    the smaller, then compresses the forest by pointer jumping, until no edge
    joins two trees. Parents only ever decrease and stay inside the
    component, so the smallest node of a component is its root. Memory is
    the parent array (4 bytes per record) and one chunk of edges, not a
    sparse matrix and its transpose per call."""
    parent = np.arange(n, dtype=np.int32)
    touched = np.zeros(n, dtype=bool)
    first = True
    while True:
        hooked = False
        for batch in con.sql(edge_sql).to_arrow_reader(chunk_rows):
            a = batch.column("a").to_numpy().astype(np.int32, copy=False)
            b = batch.column("b").to_numpy().astype(np.int32, copy=False)
            if first:
                touched[a] = True
                touched[b] = True
            pa_, pb_ = parent[a], parent[b]
            lo, hi = np.minimum(pa_, pb_), np.maximum(pa_, pb_)
            diff = lo != hi
            if diff.any():
                hooked = True
                np.minimum.at(parent, hi[diff], lo[diff])
        first = False
        if not hooked:
            return parent, touched
        # Pointer jumping, chunk by chunk in place, until every node points
        # at its root.
        while True:
            moved = False
            for s in range(0, n, chunk_rows):
                cur = parent[s:s + chunk_rows]
                up = parent[cur]
                if (up != cur).any():
                    moved = True
                    parent[s:s + chunk_rows] = up
            if not moved:
                break


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


def build_edges(con: duckdb.DuckDBPyConnection, res: Resolution, records: str, levels: Path, kept: Path,
                edges: str) -> None:
    """Create table `edges` (a, b, prob), the clustering edges: the kept
    pairs (file `kept`) at or above match_probability, plus listings of table
    `records` that were one entity before, unless a rule forbids it.

    A conflicting pair's probability is 0, so only those prior links need the
    check, and it is made against the conflicting pairs among them (a semi
    join on the few prior links, streaming over the file of every pair's
    levels), never against a hash table of every conflicting pair of the day."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {edges} AS
        WITH prior AS (
            SELECT x.rid AS a, y.rid AS b FROM {records} x JOIN {records} y
            ON x.prior_entity = y.prior_entity AND x.rid < y.rid),
        bad AS (SELECT a, b FROM read_parquet({literal(levels)}) g SEMI JOIN prior USING (a, b) WHERE g.conflict),
        e AS (
            SELECT a, b, prob FROM read_parquet({literal(kept)}) WHERE prob >= {res.match_probability}
            UNION ALL
            SELECT a, b, 1.0 AS prob FROM prior ANTI JOIN bad USING (a, b))
        SELECT a, b, max(prob) AS prob FROM e GROUP BY a, b""")


def _relabel(con: duckdb.DuckDBPyConnection, clusters: str, rids: np.ndarray, labels: np.ndarray,
             strong: bool) -> None:
    con.register("_rl", pa.table({"rid": pa.array(rids.astype(np.int64)), "cluster": pa.array(labels.astype(np.int64))}))
    con.execute(f"UPDATE {clusters} SET cluster = r.cluster, strong = {strong} FROM _rl r WHERE {clusters}.rid = r.rid")
    con.unregister("_rl")


def build_clusters(con: duckdb.DuckDBPyConnection, res: Resolution, records: str, edges: str, clusters: str,
                   greedy_batch_records: int = 50_000) -> dict:
    """Create table `clusters` (rid, cluster, strong) from the tables `edges`
    and `records`; returns stats."""
    n = int(con.execute(f"SELECT coalesce(max(rid) + 1, 0) FROM {records}").fetchall()[0][0])
    labels, touched = components(con, n, f"SELECT a::INTEGER AS a, b::INTEGER AS b FROM {edges}")
    # A record on an edge is in a multi-record cluster, and only those are
    # stored (chunk by chunk: no array of all of them at once).
    con.execute(f"CREATE OR REPLACE TEMP TABLE {clusters} (rid BIGINT, cluster BIGINT, strong BOOLEAN)")
    for s in range(0, n, CHUNK):
        multi = np.flatnonzero(touched[s:s + CHUNK]).astype(np.int32) + np.int32(s)
        if len(multi):
            con.register("_cl", pa.table({"rid": pa.array(multi), "cluster": pa.array(labels[multi])}))
            con.execute(f"INSERT INTO {clusters} SELECT rid, cluster, false FROM _cl")
            con.unregister("_cl")
    del labels, touched

    # Oversized components (chains of weak links) are first cut into the
    # components of their strong edges (>= split_probability): one more
    # vectorized pass, the same result the greedy rebuild would give where
    # those pieces break no rule, and it keeps giant components (which grow
    # with the day) out of the Python loop below.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _big AS SELECT cluster FROM {clusters} GROUP BY cluster
                    HAVING count(*) > {int(res.max_cluster_size)}""")
    split_big = int(con.execute("SELECT count(*) FROM _big").fetchall()[0][0])
    if split_big:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _big_edges AS
            SELECT e.a::INTEGER AS a, e.b::INTEGER AS b FROM {edges} e
            JOIN {clusters} c ON c.rid = e.a SEMI JOIN _big USING (cluster)
            WHERE e.prob >= {res.split_probability}""")
        labels, _ = components(con, n, "SELECT a, b FROM _big_edges")
        con.execute("DROP TABLE _big_edges")
        rids = con.execute(f"SELECT rid::INTEGER AS rid FROM {clusters} SEMI JOIN _big USING (cluster)").fetchnumpy()
        rids = np.asarray(rids["rid"])
        _relabel(con, clusters, rids, labels[rids], strong=True)
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
              FROM {clusters} c JOIN {records} p USING (rid) GROUP BY c.cluster
              HAVING too_big OR conflict)""")
    n_conflict, batches = con.execute(
        "SELECT count(*) FILTER (WHERE conflict), list(DISTINCT batch) FROM _bad").fetchall()[0]
    cl = "".join(f", p.{c}" for c in res.cannot_link)
    # The records and edges of every batch, gathered in one pass each: a
    # query per batch against the day's edges, clusters and records made
    # the repair quadratic (batches grow with the day, and so does each scan).
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _bad_nodes AS
        SELECT b.batch, p.rid, c.cluster, p.source, p.observed_date{cl}
        FROM {clusters} c JOIN _bad b USING (cluster) JOIN {records} p USING (rid) ORDER BY b.batch""")
    # A component cut for size is rebuilt from its strong edges only.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _bad_edges AS
        SELECT b.batch, e.a, e.b, e.prob FROM {edges} e JOIN {clusters} c ON c.rid = e.a JOIN _bad b USING (cluster)
        WHERE e.prob >= CASE WHEN b.strong OR b.too_big THEN {res.split_probability}
                             ELSE {res.match_probability} END
        ORDER BY b.batch""")
    # New labels are collected and applied in one UPDATE at the end (one
    # UPDATE per batch would scan the clusters once per batch).
    con.execute("CREATE OR REPLACE TEMP TABLE _fixes (rid BIGINT, cluster BIGINT)")
    for batch in sorted(batches or []):
        bad_nodes = con.sql(f"SELECT * EXCLUDE (batch) FROM _bad_nodes WHERE batch = {int(batch)}").pl()
        bad_edges = con.sql(f"SELECT a, b, prob FROM _bad_edges WHERE batch = {int(batch)}").pl()
        fixes = _greedy(bad_nodes, bad_edges, res)
        con.register("_fx", pa.table({"rid": pa.array(np.fromiter(fixes.keys(), np.int64, len(fixes))),
                                      "cluster": pa.array(np.fromiter(fixes.values(), np.int64, len(fixes)))}))
        con.execute("INSERT INTO _fixes SELECT rid, cluster FROM _fx")
        con.unregister("_fx")
        del bad_nodes, bad_edges, fixes
    con.execute(f"UPDATE {clusters} SET cluster = f.cluster, strong = true FROM _fixes f WHERE {clusters}.rid = f.rid")
    con.execute("DROP TABLE _fixes; DROP TABLE IF EXISTS _bad_nodes; DROP TABLE IF EXISTS _bad_edges")
    con.execute("DROP TABLE IF EXISTS _bad")
    return {"components_split_for_size": split_big, "components_split_for_conflicts": int(n_conflict or 0)}
