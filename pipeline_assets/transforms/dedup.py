"""Exact de-duplication of one source-day in DuckDB.

Two kinds of duplicate are removed, and both are kept in a duplicates frame
so that every valid row is accounted for:
- `exact`: the same content hash as an earlier row of the partition;
- `same_listing`: a different version of a listing already in the partition
  (same listing_id, e.g. a price edit re-exported the same day); the latest
  row (highest `_row`) wins, as it is the most recent state.

Fuzzy and cross-source matching belong to entity resolution; it plugs in
after this step and reads `deduped_listings`.
"""

from __future__ import annotations

import duckdb

from .hashing import content_hash_sql, identity_sql, listing_id_sql
from .kinds import Kind


def dedup(con: duckdb.DuckDBPyConnection, validated: str, kind: Kind) -> tuple[
        duckdb.DuckDBPyRelation, duckdb.DuckDBPyRelation]:
    """Return (deduped, duplicates) relations over the validated Parquet file(s)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW _hashed AS
        WITH h AS (SELECT *, {content_hash_sql(kind)} AS content_hash
                   FROM read_parquet('{validated.replace("'", "''")}')),
             i AS (SELECT *, {identity_sql(kind)} AS identity FROM h)
        SELECT * EXCLUDE (identity), {listing_id_sql()} AS listing_id FROM i
    """)
    con.execute("""
        CREATE OR REPLACE TEMP VIEW _ranked AS
        WITH e AS (
            SELECT *, row_number() OVER (PARTITION BY content_hash ORDER BY _row) AS _hn,
                      min(_row) OVER (PARTITION BY content_hash) AS _first_row
            FROM _hashed),
        l AS (
            SELECT *, CASE WHEN _hn = 1 THEN row_number() OVER (
                          PARTITION BY listing_id, (_hn = 1) ORDER BY _row DESC) END AS _ln,
                      max(CASE WHEN _hn = 1 THEN _row END) OVER (PARTITION BY listing_id) AS _last_row
            FROM e)
        SELECT * FROM l
    """)
    deduped = con.sql("""
        SELECT listing_id, content_hash, * EXCLUDE (listing_id, content_hash, _hn, _ln, _first_row, _last_row)
        FROM _ranked WHERE _hn = 1 AND _ln = 1 ORDER BY _row
    """)
    duplicates = con.sql("""
        SELECT listing_id, content_hash,
               CASE WHEN _hn > 1 THEN 'exact' ELSE 'same_listing' END AS duplicate_kind,
               CASE WHEN _hn > 1 THEN _first_row ELSE _last_row END AS duplicate_of_row,
               kind, source, observed_date, source_listing_id, title,
               _file, _row, _line, _fetched_at, _payload_hash
        FROM _ranked WHERE NOT (_hn = 1 AND _ln = 1) ORDER BY _row
    """)
    return deduped, duplicates
