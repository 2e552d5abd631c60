"""The raw-record format of `raw_listings`, written in one place.

A raw record is every field of a collected record as text (nested objects
flattened to dotted names by `flatten`), followed by the lineage columns
`META_COLUMNS`:

- `_file`         the file or page URL the record came from
- `_row`          1-based record number within the source-day
- `_line`         line in the file where known (CSV, JSON lines), else null
- `_fetched_at`   when the file or page was fetched (UTC)
- `_payload_hash` the canonical payload hash, below

**Payload hash.** SHA-256 (hex) of the record's fields as stored, in name
order, skipping nulls: for each field `name U+001F value U+001E`, UTF-8. It
is computed by DuckDB from the stored columns (`payload_hash_sql`), for
every path that produces raw records (file readers, HTTP scrapers, XML,
replay), so the same record has the same hash whatever the transport: a
listing read from a JSON file and the same listing from a JSON API agree.
A missing field and a null one hash the same. `payload_hash` is the same
function in Python, for tests and tools.

Every writer ends in `write_raw`: one DuckDB `COPY` to a temporary name,
then a rename, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..sqltext import identifier, literal, literal_list

META_COLUMNS = ("_file", "_row", "_line", "_fetched_at", "_payload_hash")
META_ARROW = pa.schema([("_file", pa.string()), ("_row", pa.int64()), ("_line", pa.int64()),
                        ("_fetched_at", pa.timestamp("us", "UTC")), ("_payload_hash", pa.string())])
UNIT, RECORD = "\x1f", "\x1e"


class SourceParseError(ValueError):
    """A file or page whose records cannot be read; the message names it and the line."""


def flatten(obj: dict[str, Any], prefix: str = "", out: dict[str, str | None] | None = None) -> dict[str, str | None]:
    """One record as text: nested objects to dotted keys, bools as true/false,
    whole floats without ".0", lists as JSON text."""
    out = {} if out is None else out
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flatten(v, f"{key}.", out)
        elif v is None or isinstance(v, str):
            out[key] = v
        elif isinstance(v, bool):
            out[key] = "true" if v else "false"
        elif isinstance(v, float) and v.is_integer():
            out[key] = str(int(v)) if abs(v) < 1e15 else repr(v)
        elif isinstance(v, (int, float)):
            out[key] = str(v)
        else:
            out[key] = orjson.dumps(v).decode()
    return out


def payload_hash(flat: dict[str, str | None]) -> str:
    """The canonical payload hash of one flattened record (see the module doc)."""
    text = "".join(f"{k}{UNIT}{v}{RECORD}" for k, v in sorted(flat.items()) if v is not None)
    return hashlib.sha256(text.encode()).hexdigest()


def payload_hash_sql(columns: Iterable[str], alias: str | None = None) -> str:
    """The canonical payload hash as a DuckDB expression over text columns
    (`concat` skips the NULL terms, so null fields are left out)."""
    ref = (identifier(alias) + ".") if alias else ""
    terms = [f"({literal(c + UNIT)} || {ref}{identifier(c)} || chr(30))" for c in sorted(columns)]
    return f"sha256(concat({', '.join(terms)}))" if terms else "sha256('')"


def connect(memory_limit: str = "1GB") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("SET preserve_insertion_order = true")
    return con


def write_raw(con: duckdb.DuckDBPyConnection, select_sql: str, data_columns: list[str], out: str | Path, *,
              order_by_row: bool = False) -> int:
    """Write `select_sql` (data columns as text plus `_file`, `_row`, `_line`,
    `_fetched_at`) as a raw-record file with `_payload_hash` added; returns
    the number of records."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    cols = ", ".join(identifier(c) for c in data_columns)
    meta = "_file, _row, _line, CAST(_fetched_at AS TIMESTAMPTZ) AS _fetched_at"
    con.execute(f"""COPY (SELECT {cols}{', ' if cols else ''}{meta}, {payload_hash_sql(data_columns, 't')}
                              AS _payload_hash
                          FROM ({select_sql}) t {'ORDER BY _row' if order_by_row else ''})
                    TO {literal(tmp)} (FORMAT parquet, COMPRESSION zstd)""")
    tmp.replace(out)
    return pq.ParquetFile(str(out)).metadata.num_rows


def write_empty(out: str | Path) -> int:
    """No records is a valid (empty) collection: keep the lineage schema."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(META_ARROW.empty_table(), str(tmp))
    tmp.replace(out)
    return 0


def concat_raw(parts: list[tuple[Path, int]], out: Path, memory_limit: str = "1GB") -> None:
    """Several raw files of one source-day (one per file of a glob) as one;
    `_row` stays unique and in order across them. Parts are removed."""
    if len(parts) == 1:
        parts[0][0].replace(out)
        return
    selects, offset = [], 0
    for path, n in parts:
        selects.append(f"SELECT * REPLACE (_row + {int(offset)} AS _row) FROM read_parquet({literal(path)})")
        offset += n
    tmp = out.with_name(out.name + ".tmp")
    con = connect(memory_limit)
    try:
        con.execute(f"COPY ({' UNION ALL BY NAME '.join(selects)} ORDER BY _row) TO {literal(tmp)} "
                    "(FORMAT parquet, COMPRESSION zstd)")
    finally:
        con.close()
    tmp.replace(out)
    for path, _ in parts:
        path.unlink()


class RecordSink:
    """Raw records from Python (JSON documents, XML, HTTP pages) into one file,
    in bounded chunks. A field that first appears late closes the current
    part file and starts a wider one; at `close` the parts are merged by
    column name (missing values null) and hashed by `write_raw`."""

    def __init__(self, out: str | Path, chunk_rows: int = 50_000, memory_limit: str = "1GB") -> None:
        self.out = Path(out)
        self.chunk_rows = chunk_rows
        self.memory_limit = memory_limit
        self.rows = 0
        self._columns: dict[str, None] = {}  # ordered set
        self._parts: list[Path] = []
        self._writer: pq.ParquetWriter | None = None
        self._buf: list[dict[str, str | None]] = []
        self._files: list[str] = []
        self._lines: list[int | None] = []
        self._stamps: list[datetime] = []
        self.out.parent.mkdir(parents=True, exist_ok=True)

    def add(self, record: dict[str, Any], file: str, fetched_at: datetime, line: int | None = None) -> None:
        self._buf.append(flatten(record))
        self._files.append(file)
        self._lines.append(line)
        self._stamps.append(fetched_at)
        if len(self._buf) >= self.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._buf:
            return
        new = [k for rec in self._buf for k in rec if k not in self._columns]
        if new:
            self._columns.update(dict.fromkeys(new))
            self._close_writer()
        n, start = len(self._buf), self.rows
        arrays = {c: pa.array([r.get(c) for r in self._buf], pa.string()) for c in self._columns}
        arrays["_file"] = pa.array(self._files, pa.string())
        arrays["_row"] = pa.array(range(start + 1, start + n + 1), pa.int64())
        arrays["_line"] = pa.array(self._lines, pa.int64())
        arrays["_fetched_at"] = pa.array(self._stamps, pa.timestamp("us", "UTC"))
        table = pa.table(arrays)
        if self._writer is None:
            self._parts.append(self.out.with_name(f"{self.out.name}.part{len(self._parts)}"))
            self._writer = pq.ParquetWriter(str(self._parts[-1]), table.schema, compression="zstd")
        self._writer.write_table(table)
        self.rows += n
        for buf in (self._buf, self._files, self._lines, self._stamps):
            buf.clear()

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> int:
        """Finish the file; returns the number of records written."""
        self._flush()
        self._close_writer()
        if not self._parts:
            return write_empty(self.out)
        con = connect(self.memory_limit)
        try:
            src = f"SELECT * FROM read_parquet({literal_list(self._parts)}, union_by_name = true)"
            write_raw(con, src, list(self._columns), self.out, order_by_row=len(self._parts) > 1)
        finally:
            con.close()
            for p in self._parts:
                p.unlink(missing_ok=True)
        return self.rows

    def abort(self) -> None:
        self._close_writer()
        for p in self._parts:
            p.unlink(missing_ok=True)
