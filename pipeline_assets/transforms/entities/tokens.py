"""Word-token sets and MinHash signatures, computed per record in DuckDB.

A record's tokens are kept as a list of 64-bit hashes, so set operations
run on integers. Tokens found in more than a given share of the day's
records (boilerplate: "financing available", the year, "equal opportunity
employer") are dropped. Finding them is one streaming pass over the column
that returns a short list (at most tokens-per-record / share hashes), which
is then inlined as a constant: the per-record filtering needs no join, and
no table of (record, token) rows is ever built, so the cost stays linear
and small as a day grows to millions of records.
"""

from __future__ import annotations

import duckdb

from ..kinds.resolution import Resolution


def token_column(column: str) -> str:
    return f"_tok_{column}"


def hash_list_sql(column: str) -> str:
    return (f"list_distinct(list_transform(list_filter(string_split({column}, ' '), lambda x: x <> ''), "
            f"lambda x: hash(x)))")


def tokenized(res: Resolution) -> dict[str, float]:
    """column -> max token share, for every column a comparison or the LSH tokenizes."""
    cols: dict[str, float] = {}
    for c in res.comparisons:
        if c.method == "jaccard":
            cols[c.column] = min(cols.get(c.column, 1.0), c.max_token_share)
    if res.minhash_column:
        cols[res.minhash_column] = min(cols.get(res.minhash_column, 1.0), res.minhash_max_token_share)
    return cols


def frequent_hashes(con: duckdb.DuckDBPyConnection, relation: str, column: str, share: float) -> list[int]:
    """Hashes of the tokens in more than `share` of the relation's rows (at least 2 rows)."""
    rows = con.execute(f"""
        WITH r AS (SELECT {hash_list_sql(column)} AS h FROM ({relation}) WHERE {column} IS NOT NULL),
             n AS (SELECT count(*) AS n FROM ({relation}))
        SELECT h FROM (SELECT unnest(h) AS h FROM r) GROUP BY h
        HAVING count(*) > greatest(2, {float(share)} * (SELECT n FROM n))""").fetchall()
    return [r[0] for r in rows]


def token_select_sql(res: Resolution, frequent: dict[str, list[int]]) -> str:
    """Select-list items adding `_tok_<column>` (filtered token hashes) and,
    with LSH, the MinHash slots mh_0..mh_{n-1} over the minhash column's tokens."""
    items = []
    for column in tokenized(res):
        drop = frequent.get(column) or []
        base = hash_list_sql(column)
        expr = (f"list_filter({base}, lambda x: NOT list_contains([{', '.join(map(str, drop))}]::UBIGINT[], x))"
                if drop else base)
        items.append(f"{expr} AS {token_column(column)}")
    if res.minhash_column:
        t = token_column(res.minhash_column)
        for i in range(res.minhash_slots):
            # NULL for a record without informative tokens: it joins no LSH block.
            items.append(f"CASE WHEN len({t}) > 0 THEN list_min(list_transform({t}, lambda x: hash(x, {i}))) END "
                         f"AS mh_{i}")
    return ", ".join(items)
