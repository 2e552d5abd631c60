"""Clustering rules on hand-built graphs (transforms/entities/cluster.py):
oversized chains cut at the strong threshold, cannot-link and
same-source-same-day conflicts rebuilt greedily, in batches."""

from __future__ import annotations

import dataclasses
from datetime import date

import duckdb
import pytest

from pipeline_assets.transforms.entities.cluster import build_clusters
from pipeline_assets.transforms.kinds import get_kind

RES = dataclasses.replace(get_kind("vehicles").resolution, cannot_link=("vin_n",), max_cluster_size=5,
                          match_probability=0.99, split_probability=0.999)
D = date(2026, 11, 16)


def run(nodes: list[tuple], edges: list[tuple], batch: int) -> dict[int, int]:
    """nodes: (rid, source, vin); edges: (a, b, prob). Returns rid -> cluster."""
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE prep (rid BIGINT, source VARCHAR, observed_date DATE, vin_n VARCHAR)")
    con.executemany("INSERT INTO prep VALUES (?, ?, ?, ?)", [(r, s, D, v) for r, s, v in nodes])
    con.execute("CREATE TEMP TABLE edges (a BIGINT, b BIGINT, prob DOUBLE)")
    con.executemany("INSERT INTO edges VALUES (?, ?, ?)", edges)
    build_clusters(con, RES, "prep", "edges", "clusters", greedy_batch_records=batch)
    got = dict(con.execute("SELECT rid, cluster FROM clusters").fetchall())
    con.close()
    return {r: got.get(r, r) for r, _, _ in nodes}


@pytest.mark.parametrize("batch", [1, 3, 50_000])
def test_rules_and_cuts(batch):
    nodes = (
        # 0-9: a chain of weak links (0.995) with two strong pairs inside: too big (10 > 5)
        [(i, f"s{i}", None) for i in range(10)]
        # 10-12: 10 and 11 agree strongly, 12 has another VIN (cannot-link) and links to both
        + [(10, "a", "VIN1"), (11, "b", "VIN1"), (12, "c", "VIN2")]
        # 13-14: same source, same day: two listings, never one entity
        + [(13, "d", None), (14, "d", None)]
        # 15-16: a plain pair
        + [(15, "e", None), (16, "f", None)]
    )
    edges = ([(i, i + 1, 0.995) for i in range(9)] + [(2, 3, 0.9999), (6, 7, 0.9995)]
             + [(10, 11, 0.9999), (10, 12, 0.995), (11, 12, 0.996)] + [(13, 14, 0.9999)] + [(15, 16, 0.992)])
    # edges are unique per pair in the real table: keep the strongest
    best: dict[tuple, float] = {}
    for a, b, p in edges:
        best[(a, b)] = max(p, best.get((a, b), 0))
    got = run(nodes, [(a, b, p) for (a, b), p in best.items()], batch)
    groups: dict[int, set[int]] = {}
    for r, c in got.items():
        groups.setdefault(c, set()).add(r)
    parts = sorted(sorted(g) for g in groups.values())
    # chain cut at 0.999: {2,3}, {6,7}, the rest alone
    assert [2, 3] in parts and [6, 7] in parts
    assert all([i] in parts for i in (0, 1, 4, 5, 8, 9))
    # VIN conflict: the strong pair stays, the other VIN is alone
    assert [10, 11] in parts and [12] in parts
    # same source and day: apart
    assert [13] in parts and [14] in parts
    # untouched pair
    assert [15, 16] in parts
    # cluster label = smallest rid of the cluster
    assert all(got[r] == min(g) for g in parts for r in g)


def _reference_components(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """Plain union-find: label = smallest node of the component."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(x) for x in range(n)]


@pytest.mark.parametrize("chunk", [1, 7, 1_000_000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_components_match_a_reference_union_find(chunk, seed):
    """Hook-and-jump over edges streamed in chunks gives the smallest node of
    each component, for random forests, long chains in shuffled order and
    cycles; nodes on no edge stay alone and are not marked."""
    import random

    from pipeline_assets.transforms.entities.cluster import components

    rng = random.Random(seed)
    n = 400
    chain = list(range(100, 160))
    rng.shuffle(chain)  # a long path whose nodes are not in order
    edges = [(chain[i], chain[i + 1]) for i in range(len(chain) - 1)]
    edges += [(rng.randrange(200, 400), rng.randrange(200, 400)) for _ in range(150)]
    edges += [(10, 11), (11, 12), (12, 10)]  # a cycle
    rng.shuffle(edges)
    con = duckdb.connect()
    con.execute("CREATE TABLE e (a INTEGER, b INTEGER)")
    con.executemany("INSERT INTO e VALUES (?, ?)", edges)
    labels, touched = components(con, n, "SELECT a, b FROM e", chunk_rows=chunk)
    assert labels.tolist() == _reference_components(n, edges)
    on_edge = {x for e in edges for x in e}
    assert touched.tolist() == [x in on_edge for x in range(n)]
    assert labels[chain].tolist() == [100] * len(chain) and labels[0] == 0
    con.close()
