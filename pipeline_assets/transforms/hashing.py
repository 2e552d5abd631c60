"""Stable content hashes and listing ids.

The canonical form is versioned (`v1`): the kind, the source and each content
field in a fixed order, encoded so that the text does not depend on a library
version (integers as decimal text, money as integer cents, dates as ISO,
missing values as a marker), joined with the unit separator and hashed with
SHA-256. `pl.hash_rows` is not used: its output changes between releases and
would re-key every listing after an upgrade.

The SQL (DuckDB) and Python renderings must agree; tests pin both to known
digests so a change to either is caught.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any, Mapping

import polars as pl

from .kinds import CANONICAL_SCHEMA, Kind

VERSION = "v1"
SEP = "\x1f"
NULL = "\x00null"


def _encode_sql(col: str) -> str:
    dtype = CANONICAL_SCHEMA[col]
    q = f'"{col}"'
    if dtype == pl.String:
        v = q
    elif dtype == pl.Float64:
        v = f"CAST(CAST(round({q} * 100) AS HUGEINT) AS VARCHAR)"
    elif dtype == pl.Date:
        v = f"strftime({q}, '%Y-%m-%d')"
    else:
        v = f"CAST({q} AS VARCHAR)"
    return f"coalesce({v}, '{NULL}')"


def content_hash_sql(kind: Kind) -> str:
    parts = [f"'{VERSION}'", "kind", "source"] + [_encode_sql(c) for c in kind.content_fields]
    return f"sha256(concat_ws('{SEP}', {', '.join(parts)}))"


def identity_sql(kind: Kind) -> str:
    """The first identity key whose columns are all present names the listing."""
    whens = []
    for key in kind.identity_keys:
        cond = " AND ".join(f'"{c}" IS NOT NULL' for c in key)
        val = " || '{SEP}' || ".replace("{SEP}", SEP).join(f'"{c}"' for c in key)
        whens.append(f"WHEN {cond} THEN '{'+'.join(key)}:' || {val}")
    return f"CASE {' '.join(whens)} ELSE 'content:' || content_hash END"


def listing_id_sql(identity_col: str = "identity") -> str:
    # 128 bits of SHA-256: collision-free in practice at billions of listings.
    return f"substr(sha256('{VERSION}{SEP}' || kind || '{SEP}' || {identity_col}), 1, 32)"


def _encode_py(col: str, value: Any) -> str:
    if value is None:
        return NULL
    dtype = CANONICAL_SCHEMA[col]
    if dtype == pl.Float64:
        return str(int(round(value * 100)))
    if dtype == pl.Date:
        assert isinstance(value, date)
        return value.isoformat()
    return str(value)


def content_hash(kind: Kind, source: str, record: Mapping[str, Any]) -> str:
    parts = [VERSION, kind.name, source] + [_encode_py(c, record.get(c)) for c in kind.content_fields]
    return hashlib.sha256(SEP.join(parts).encode()).hexdigest()


def listing_id(kind: Kind, source: str, record: Mapping[str, Any]) -> str:
    rec = {"source": source, **record}
    for key in kind.identity_keys:
        if all(rec.get(c) is not None for c in key):
            identity = f"{'+'.join(key)}:" + SEP.join(str(rec[c]) for c in key)
            break
    else:
        identity = "content:" + content_hash(kind, source, record)
    return hashlib.sha256(f"{VERSION}{SEP}{kind.name}{SEP}{identity}".encode()).hexdigest()[:32]
