"""Stream records into one Parquet file, in bounded chunks.

Columns are every record field as text plus the lineage columns used for
raw records elsewhere: `_file`, `_row` (1-based), `_line` (null here),
`_fetched_at` (UTC) and `_payload_hash`. A field that first appears late
closes the current part file and starts a wider one; parts are merged by
column name at the end (DuckDB union_by_name), the missing values null.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .records import flatten_record, payload_hash

META_COLUMNS = ("_file", "_row", "_line", "_fetched_at", "_payload_hash")
TS = pa.timestamp("us", "UTC")


class ParquetSink:
    def __init__(self, out: str | Path, chunk_rows: int = 10_000, duckdb_memory_limit: str = "512MB") -> None:
        self.out = Path(out)
        self.chunk_rows = chunk_rows
        self.memory_limit = duckdb_memory_limit
        self.rows = 0
        self._columns: dict[str, None] = {}  # ordered set
        self._parts: list[Path] = []
        self._part_columns: list[list[str]] = []
        self._writer: pq.ParquetWriter | None = None
        self._buf: list[dict[str, str | None]] = []
        self._files: list[str] = []
        self._stamps: list[datetime] = []
        self._hashes: list[str] = []
        self.out.parent.mkdir(parents=True, exist_ok=True)

    def add(self, record: dict[str, Any], file: str, fetched_at: datetime) -> None:
        self._hashes.append(payload_hash(record))
        self._buf.append(flatten_record(record))
        self._files.append(file)
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
        arrays["_line"] = pa.nulls(n, pa.int64())
        arrays["_fetched_at"] = pa.array(self._stamps, TS)
        arrays["_payload_hash"] = pa.array(self._hashes, pa.string())
        table = pa.table(arrays)
        if self._writer is None:
            self._parts.append(self.out.with_name(f"{self.out.name}.part{len(self._parts)}"))
            self._part_columns.append(list(self._columns))
            self._writer = pq.ParquetWriter(str(self._parts[-1]), table.schema, compression="zstd")
        self._writer.write_table(table)
        self.rows += n
        for buf in (self._buf, self._files, self._stamps, self._hashes):
            buf.clear()

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> int:
        """Finish the file; returns the number of rows written."""
        self._flush()
        self._close_writer()
        tmp = self.out.with_name(self.out.name + ".tmp")
        if not self._parts:
            # No records is a valid (empty) collection: keep the lineage schema.
            pq.write_table(pa.table({"_file": pa.array([], pa.string()), "_row": pa.array([], pa.int64()),
                                     "_line": pa.array([], pa.int64()), "_fetched_at": pa.array([], TS),
                                     "_payload_hash": pa.array([], pa.string())}), str(tmp))
        elif len(self._parts) == 1:
            self._parts[0].replace(tmp)
        else:
            self._merge(tmp)
        tmp.replace(self.out)  # readers never see a half-written file
        return self.rows

    def _merge(self, tmp: Path) -> None:
        con = duckdb.connect()
        try:
            con.execute(f"SET memory_limit = '{self.memory_limit}'")
            con.execute("SET preserve_insertion_order = true")
            files = ", ".join(_sql_str(str(p)) for p in self._parts)
            cols = ", ".join(_sql_ident(c) for c in [*self._columns, *META_COLUMNS])
            con.execute(f"COPY (SELECT {cols} FROM read_parquet([{files}], union_by_name = true) ORDER BY _row) "
                        f"TO {_sql_str(str(tmp))} (FORMAT parquet, COMPRESSION zstd)")
        finally:
            con.close()
        for p in self._parts:
            p.unlink()

    def abort(self) -> None:
        self._close_writer()
        for p in self._parts:
            p.unlink(missing_ok=True)


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _sql_ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'
