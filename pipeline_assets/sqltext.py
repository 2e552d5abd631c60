"""The one place that turns Python values into SQL text.

Prefer DuckDB parameters (`con.execute(sql, [value])`) or relations wherever
DuckDB accepts them. Some positions take no parameter (the target of
`COPY ... TO`, a view's body, a `read_parquet` list built into a view), and
there a value is written as a literal with these helpers, never by
f-string formatting of raw text.
"""

from __future__ import annotations

from os import PathLike


def literal(value: str | PathLike) -> str:
    """A SQL string literal, quotes included: `it's` -> `'it''s'`."""
    return "'" + str(value).replace("'", "''") + "'"


def literal_list(values) -> str:
    """A SQL list of string literals: `['a', 'b']`."""
    return "[" + ", ".join(literal(v) for v in values) + "]"


def identifier(name: str) -> str:
    """A double-quoted SQL identifier: `a"b` -> `"a""b"` (DuckDB and Postgres).

    For Postgres statements use `psycopg.sql.Identifier`; this is for DuckDB."""
    return '"' + str(name).replace('"', '""') + '"'
