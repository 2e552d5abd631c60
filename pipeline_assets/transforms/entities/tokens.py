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

import hashlib

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


def frequent_hashes(con: duckdb.DuckDBPyConnection, relation: str, column: str, share: float,
                    sample_above: int = 200_000) -> list[int]:
    """Hashes of the tokens in more than `share` of the relation's rows (at
    least 2 rows). Above `sample_above` rows the shares are measured on a
    fixed 1-in-k subset (by a hash of the listing key, so a re-run picks the
    same rows): a share of 15% is known to a fraction of a per cent from
    100k rows, and tokenizing every description twice is not needed."""
    n = con.execute(f"SELECT count(*) FROM ({relation})").fetchall()[0][0]
    k = max(1, n // (sample_above // 2)) if n > sample_above else 1
    subset = (f"SELECT {column} FROM ({relation}) WHERE hash(source, listing_id) % {k} = 0" if k > 1
              else f"SELECT {column} FROM ({relation})")
    rows = con.execute(f"""
        WITH s AS (SELECT * FROM ({subset})),
             r AS (SELECT {hash_list_sql(column)} AS h FROM s WHERE {column} IS NOT NULL)
        SELECT h FROM (SELECT unnest(h) AS h FROM r) GROUP BY h
        HAVING count(*) > greatest(2, {float(share)} * (SELECT count(*) FROM s))""").fetchall()
    return [r[0] for r in rows]


def needs_slots(res: Resolution) -> bool:
    """Whether a comparison reads the MinHash slots themselves; otherwise only
    the LSH band keys are kept per record (a few integers instead of every
    slot: the table of records is what the pair gather reads, twice)."""
    return any(c.method == "minhash" for c in res.comparisons)


def kept_token_columns(res: Resolution) -> set[str]:
    """Token-list columns a comparison reads (the rest only feed MinHash)."""
    return {token_column(c.column) for c in res.comparisons if c.method in ("jaccard", "minhash")}


def lsh_bands(res: Resolution) -> list[list[str]]:
    """The slots of each LSH band: band b = slots b*band .. b*band+band-1."""
    if not res.minhash_column:
        return []
    return [[f"mh_{b * res.minhash_band + j}" for j in range(res.minhash_band)]
            for b in range(res.minhash_slots // res.minhash_band)]


def lsh_key_sql(slots: list[str]) -> str:
    """A band's blocking key: NULL for a record without informative tokens."""
    return f"CASE WHEN {slots[0]} IS NOT NULL THEN hash({', '.join(slots)}) END"


def token_select_sql(res: Resolution, frequent: dict[str, list[int]]) -> tuple[str, str, str]:
    """Three select lists, each over the previous one's output: the first
    adds `_tok_<column>` (filtered token hashes), the second the MinHash
    slots mh_0..mh_{n-1} of the minhash column's tokens, the third the LSH
    band keys lsh_<b> (then the slots are dropped unless a comparison reads
    them). Levels so each token list is computed once, not once per slot."""
    items = []
    for column in tokenized(res):
        drop = frequent.get(column) or []
        base = hash_list_sql(column)
        expr = (f"list_filter({base}, lambda x: NOT list_contains([{', '.join(map(str, drop))}]::UBIGINT[], x))"
                if drop else base)
        items.append(f"{expr} AS {token_column(column)}")
    slots = []
    if res.minhash_column:
        t = token_column(res.minhash_column)
        for i in range(res.minhash_slots):
            # Slot i: the token whose hash XOR a fixed random mask is smallest.
            # XOR with a constant permutes 64-bit values, and the hashes are
            # already uniform, so the slots behave as independent min-hashes
            # at the cost of one XOR per token. NULL without informative
            # tokens: the record joins no LSH block.
            slots.append(f"CASE WHEN len({t}) > 0 THEN list_min(list_transform({t}, lambda x: xor(x, "
                         f"{_MASKS[i % len(_MASKS)]}::UBIGINT))) END AS mh_{i}")
    bands = [f"{lsh_key_sql(b)} AS lsh_{i}" for i, b in enumerate(lsh_bands(res))]
    return ", ".join(items), ", ".join(slots), ", ".join(bands)


def dropped_after_tokens(res: Resolution) -> list[str]:
    """Columns the record table does not keep once tokens, slots and band keys exist."""
    cols = [token_column(c) for c in tokenized(res) if token_column(c) not in kept_token_columns(res)]
    if res.minhash_column and not needs_slots(res):
        cols += [f"mh_{i}" for i in range(res.minhash_slots)]
    return cols


# Fixed 64-bit masks (hashes of "minhash-<i>"): slot i of every day and every
# re-run uses the same one, so signatures are comparable across days.
_MASKS = [int.from_bytes(hashlib.sha256(f"minhash-{i}".encode()).digest()[:8], "big")
          for i in range(64)]
