"""Candidate pairs: several blocking keys, unioned, each with a block-size cap.

All of it runs in DuckDB over the prepared records, so the pair table can be
larger than memory (DuckDB spills under its memory limit) and the Python side
never holds more than one batch.
"""

from __future__ import annotations

import duckdb

from ..kinds.resolution import BlockingKey, Resolution
from .tokens import lsh_bands


def block_keys(res: Resolution) -> list[BlockingKey]:
    """Every key, LSH bands included."""
    keys = list(res.blocking)
    # LSH bands: the record table holds each band's key (tokens.py).
    for b, _ in enumerate(lsh_bands(res)):
        keys.append(BlockingKey(f"lsh_{b}", f"lsh_{b}", res.minhash_max_block))
    # Listings that were one entity before stay comparable (their edge is
    # what keeps the entity's id from churning).
    keys.append(BlockingKey("prior_entity", "prior_entity", 200))
    return keys


def build_pairs(con: duckdb.DuckDBPyConnection, res: Resolution, records: str,
                pairs: str) -> dict[str, dict[str, int]]:
    """Create table `pairs` (a, b) with a < b, rids of table `records`;
    returns per-key statistics. Key values are hashed to 64-bit integers:
    joins on integers, and a rare collision only adds a pair that scoring
    then rejects."""
    stats: dict[str, dict[str, int]] = {}
    con.execute("CREATE OR REPLACE TEMP TABLE pairs_raw (a BIGINT, b BIGINT)")
    # Keys with the same expression (one block, several sort orders) share
    # one keyed table and their small blocks' pairs.
    groups: dict[str, list[BlockingKey]] = {}
    for key in block_keys(res):
        groups.setdefault(key.sql, []).append(key)
    for expr, keys in groups.items():
        orders = list(dict.fromkeys(k.order_by or "rid" for k in keys if k.window > 1))
        order_cols = "".join(f", ({o}) AS _o{i}" for i, o in enumerate(orders))
        # Block sizes by a hash aggregate; records alone in their block are
        # dropped here (most records, for most keys).
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE keyed AS
            WITH base AS (SELECT rid, is_prior, hash(({expr})) AS k{order_cols} FROM {records}
                          WHERE ({expr}) IS NOT NULL),
                 c AS (SELECT k, count(*) AS n FROM base GROUP BY k HAVING count(*) > 1)
            SELECT base.*, c.n FROM base JOIN c USING (k)""")
        full_done: set[int] = set()
        for key in keys:
            cap = key.max_block
            sizes = con.execute(f"""
                SELECT count(*) FILTER (WHERE n > {cap}), coalesce(sum(n) FILTER (WHERE n > {cap}), 0),
                       count(*) FILTER (WHERE n <= {cap})
                FROM (SELECT k, any_value(n) AS n FROM keyed GROUP BY k)""").fetchall()[0]
            # Two records that were both only carried from earlier days are not
            # compared: old entities are not re-merged among themselves.
            n_full = 0
            if cap not in full_done:
                full_done.add(cap)
                n_full = con.execute(f"""
                    INSERT INTO pairs_raw
                    SELECT x.rid, y.rid
                    FROM keyed x JOIN keyed y ON x.k = y.k AND x.rid < y.rid
                    WHERE x.n <= {cap} AND NOT (x.is_prior AND y.is_prior)""").fetchall()[0][0]
            n_window = 0
            if key.window > 1:
                # Oversized blocks: each record against the next window-1 in
                # sort order, as an equality join on (key, position): linear,
                # not n^2. Positions (a sort) only for those blocks' records.
                o = orders.index(key.order_by or "rid")
                con.execute(f"""
                    CREATE OR REPLACE TEMP TABLE _win AS
                    SELECT k, rid, is_prior, row_number() OVER (PARTITION BY k ORDER BY _o{o}, rid) AS pos
                    FROM keyed WHERE n > {cap}""")
                n_window = con.execute(f"""
                    INSERT INTO pairs_raw
                    SELECT least(x.rid, y.rid), greatest(x.rid, y.rid)
                    FROM (SELECT k, rid, is_prior, pos + unnest(range(1, {key.window})) AS npos FROM _win) x
                    JOIN _win y ON y.k = x.k AND y.pos = x.npos
                    WHERE NOT (x.is_prior AND y.is_prior)""").fetchall()[0][0]
            stats[key.name] = {"blocks": int(sizes[2]), "pairs": int(n_full) + int(n_window),
                               "oversized_blocks": int(sizes[0]), "oversized_records": int(sizes[1]),
                               "window_pairs": int(n_window)}
    # A pair found by several keys is compared once. (No list of the keys
    # per pair: an ordered string aggregate cannot spill, and the per-key
    # counts above already say which keys find what.)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {pairs} AS SELECT DISTINCT a, b FROM pairs_raw")
    con.execute("DROP TABLE pairs_raw; DROP TABLE IF EXISTS keyed; DROP TABLE IF EXISTS _win")
    return stats


def random_pairs(con: duckdb.DuckDBPyConnection, records: str, pairs: str, n_pairs: int,
                 seed: float = 0.42) -> None:
    """Table `pairs` (a, b): random pairs of today's records of table
    `records`, for u-probabilities (how often two unrelated records agree by
    chance). Seeded: re-runs agree."""
    con.execute(f"SELECT setseed({seed})").fetchall()
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {pairs} AS
        WITH today AS (SELECT rid FROM {records} WHERE NOT is_prior),
             n AS (SELECT count(*) AS n, min(rid) AS lo FROM today)
        SELECT DISTINCT least(a, b) AS a, greatest(a, b) AS b FROM (
            SELECT lo + CAST(floor(random() * n) AS BIGINT) AS a, lo + CAST(floor(random() * n) AS BIGINT) AS b
            FROM n, range({int(n_pairs)})) WHERE a <> b""")
