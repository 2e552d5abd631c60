"""Read one collected file into an all-string Parquet file with lineage.

raw_listings keeps records as collected: every source field as a string
(nested JSON flattened to dotted names), plus `_file`, `_row` (1-based record
number), `_line` (line in the file where known), `_fetched_at` and
`_payload_hash` (SHA-256 of the record as read). Typing happens in validation,
so a bad value is a rejected row with a reason, not a crashed reader.

CSV goes through DuckDB (streaming, exact line numbers in errors); JSON
documents through ijson and JSON lines through orjson, both in bounded
chunks written with a ParquetWriter - never the whole file as Python objects.
"""

from __future__ import annotations

import csv
import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import duckdb
import ijson
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK_ROWS = 50_000
META_COLUMNS = ("_file", "_row", "_line", "_fetched_at", "_payload_hash")


class SourceParseError(ValueError):
    """A collected file that cannot be parsed; the message names file and line."""


def read_to_parquet(path: str | Path, fmt: str, out: str | Path, *, origin: str,
                    fetched_at: datetime, record_path: str | None = None,
                    duckdb_memory_limit: str = "1GB") -> int:
    """Parse `path` (local) and write `out`. Returns the number of records."""
    path = Path(path)
    if fmt == "csv":
        return _csv(path, out, origin, fetched_at, duckdb_memory_limit)
    if fmt == "parquet":
        return _parquet(path, out, origin, fetched_at, duckdb_memory_limit)
    if fmt == "jsonl":
        try:
            return _jsonl_duckdb(path, out, origin, fetched_at, duckdb_memory_limit)
        except duckdb.Error:
            # The vectorized path does not say which line is broken: re-read
            # record by record, which either succeeds or names the line.
            return _write_chunks(_jsonl_records(path, origin), out, origin, fetched_at)
    if fmt == "json":
        return _write_chunks(_json_records(path, origin, record_path), out, origin, fetched_at)
    if fmt == "xml":
        return _write_chunks(_xml_records(path, origin, record_path), out, origin, fetched_at)
    raise ValueError(f"unsupported format {fmt!r}")


def _duck(memory_limit: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = true")
    return con


def _csv(path: Path, out: str | Path, origin: str, fetched_at: datetime, mem: str) -> int:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        try:
            header = next(csv.reader(fh))
        except StopIteration:
            raise SourceParseError(f"{origin}: empty CSV file (no header line)") from None
    if len(set(header)) != len(header) or any(not h.strip() for h in header):
        raise SourceParseError(f"{origin} line 1: header has empty or repeated column names: {header}")
    con = _duck(mem)
    # Columns are given explicitly (no sniffing) so a ragged or badly quoted
    # line is an error with its line number instead of a silent re-guess.
    cols = "{" + ", ".join(f"'{_sql_str(h)}': 'VARCHAR'" for h in header) + "}"
    src = (f"read_csv('{_sql_str(str(path))}', header=true, strict_mode=true, delim=',', "
           f"quote='\"', escape='\"', auto_detect=false, columns={cols})")
    try:
        # Lines: the header is line 1; exact unless a quoted field holds a newline.
        con.execute(
            f"""COPY (SELECT t.*, '{_sql_str(origin)}' AS _file,
                       row_number() OVER () AS _row, row_number() OVER () + 1 AS _line,
                       TIMESTAMPTZ '{fetched_at.isoformat()}' AS _fetched_at,
                       sha256(to_json(t)) AS _payload_hash
                FROM {src} t) TO '{_sql_str(str(out))}' (FORMAT parquet, COMPRESSION zstd)""")
    except duckdb.Error as e:
        raise SourceParseError(_csv_message(origin, str(e))) from None
    return _parquet_rows(out)


def _parquet_rows(path: str | Path) -> int:
    return pq.ParquetFile(str(path)).metadata.num_rows


def _flat_columns(name: str, dtype: duckdb.DuckDBPyType, path: list[str]) -> list[str]:
    """Nested JSON objects become dotted text columns ("location.city")."""
    ref = "t." + ".".join(f'"{_sql_ident(p)}"' for p in path)
    if dtype.id == "struct":
        return [c for child, ctype in dtype.children for c in _flat_columns(child, ctype, path + [child])]
    label = _sql_ident(".".join(path))
    if dtype.id in ("list", "map", "array", "json", "union"):
        return [f'CAST(to_json({ref}) AS VARCHAR) AS "{label}"']
    return [f'CAST({ref} AS VARCHAR) AS "{label}"']


def _jsonl_duckdb(path: Path, out: str | Path, origin: str, fetched_at: datetime, mem: str) -> int:
    con = _duck(mem)
    # sample_size=-1: the schema comes from every line, so a field that first
    # appears late is still a column.
    src = f"read_json('{_sql_str(str(path))}', format='newline_delimited', records=true, sample_size=-1)"
    rel = con.sql(f"SELECT * FROM {src}")
    cols = [c for name, dtype in zip(rel.columns, rel.types) for c in _flat_columns(name, dtype, [name])]
    con.execute(
        f"""COPY (SELECT {', '.join(cols)}, '{_sql_str(origin)}' AS _file, row_number() OVER () AS _row,
                   row_number() OVER () AS _line, TIMESTAMPTZ '{fetched_at.isoformat()}' AS _fetched_at,
                   sha256(to_json(t)) AS _payload_hash
            FROM {src} t) TO '{_sql_str(str(out))}' (FORMAT parquet, COMPRESSION zstd)""")
    con.close()
    return _parquet_rows(out)


def _csv_message(origin: str, err: str) -> str:
    line = re.search(r"Line: (\d+)", err)
    original = re.search(r"Original Line: (.*)", err)
    detail = next((ln.strip() for ln in err.splitlines()[2:5]
                   if ln.strip() and not ln.startswith("Possible")), "")
    where = f"{origin} line {line.group(1)}" if line else origin
    shown = f" ({original.group(1)[:120]!r})" if original else ""
    return f"{where}: malformed CSV: {detail or err.splitlines()[0]}{shown}"


def _parquet(path: Path, out: str | Path, origin: str, fetched_at: datetime, mem: str) -> int:
    con = _duck(mem)
    try:
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{_sql_str(str(path))}')").fetchall()]
        casts = ", ".join(f'CAST("{_sql_ident(c)}" AS VARCHAR) AS "{_sql_ident(c)}"' for c in cols)
        con.execute(
            f"""COPY (SELECT {casts}, '{_sql_str(origin)}' AS _file, row_number() OVER () AS _row,
                       CAST(NULL AS BIGINT) AS _line, TIMESTAMPTZ '{fetched_at.isoformat()}' AS _fetched_at,
                       sha256(to_json(t)) AS _payload_hash
                FROM read_parquet('{_sql_str(str(path))}') t)
                TO '{_sql_str(str(out))}' (FORMAT parquet, COMPRESSION zstd)""")
    except duckdb.Error as e:
        raise SourceParseError(f"{origin}: unreadable Parquet: {str(e).splitlines()[0]}") from None
    return _parquet_rows(out)


def _sql_str(s: str) -> str:
    return s.replace("'", "''")


def _sql_ident(s: str) -> str:
    return s.replace('"', '""')


Record = tuple[dict[str, Any], int | None, bytes]


def _jsonl_records(path: Path, origin: str) -> Iterator[Record]:
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                raise SourceParseError(f"{origin} line {lineno}: malformed JSON: {e}") from None
            if not isinstance(obj, dict):
                raise SourceParseError(f"{origin} line {lineno}: expected a JSON object per line")
            yield obj, lineno, line.strip()


def _json_records(path: Path, origin: str, record_path: str | None) -> Iterator[Record]:
    prefix = f"{record_path}.item" if record_path else "item"
    with path.open("rb") as fh:
        try:
            for obj in ijson.items(fh, prefix, use_float=True):
                if not isinstance(obj, dict):
                    raise SourceParseError(f"{origin}: record at '{prefix}' is not an object")
                yield obj, None, orjson.dumps(obj)
        except ijson.JSONError as e:
            line = _line_at(path, fh.tell())
            raise SourceParseError(f"{origin} near line {line}: malformed JSON: {e}") from None


def _xml_records(path: Path, origin: str, record_tag: str | None) -> Iterator[Record]:
    """XML feed files: each `record_tag` element is a record (parsed by the
    collection package's hardened, streaming feed reader)."""
    from pipeline_assets.collect.paginate import ExtractError
    from pipeline_assets.collect.xml_feed import read_feed

    if not record_tag:
        raise SourceParseError(f"{origin}: XML sources need record_path (the record element's name)")
    try:
        for obj in read_feed(path.read_bytes(), origin, record_tag, None):
            yield obj, None, orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except ExtractError as e:
        raise SourceParseError(str(e)) from None


def _line_at(path: Path, offset: int) -> int:
    # ijson reads ahead in blocks, so the offset is the end of the block that
    # failed; count lines up to it in a stream rather than loading the file.
    n = 1
    with path.open("rb") as fh:
        remaining = offset
        while remaining > 0:
            block = fh.read(min(1 << 20, remaining))
            if not block:
                break
            n += block.count(b"\n")
            remaining -= len(block)
    return n


def _flatten(obj: dict[str, Any], prefix: str = "", out: dict[str, str | None] | None = None) -> dict[str, str | None]:
    out = {} if out is None else out
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            _flatten(v, f"{key}.", out)
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


def _write_chunks(records: Iterator[Record], out: str | Path, origin: str, fetched_at: datetime) -> int:
    """Write records in chunks. A field that first appears mid-file (common in
    real feeds) closes the current part and starts a wider one; the parts are
    merged by name at the end, with the missing fields null."""
    out = Path(out)
    parts: list[Path] = []
    writer: pq.ParquetWriter | None = None
    columns: list[str] = []
    total = 0
    buf: list[dict[str, str | None]] = []
    lines: list[int | None] = []
    hashes: list[str] = []

    def flush() -> None:
        nonlocal writer
        if not buf:
            return
        new = [k for rec in buf for k in rec if k not in columns]
        if new:
            columns.extend(dict.fromkeys(new))
            if writer is not None:
                writer.close()
                writer = None
        start = total - len(buf)
        arrays = {c: pa.array([r.get(c) for r in buf], pa.string()) for c in columns}
        arrays["_file"] = pa.array([origin] * len(buf), pa.string())
        arrays["_row"] = pa.array(range(start + 1, start + len(buf) + 1), pa.int64())
        arrays["_line"] = pa.array(lines, pa.int64())
        arrays["_fetched_at"] = pa.array([fetched_at] * len(buf), pa.timestamp("us", "UTC"))
        arrays["_payload_hash"] = pa.array(hashes, pa.string())
        table = pa.table(arrays)
        if writer is None:
            parts.append(out.with_name(f"{out.name}.part{len(parts)}"))
            writer = pq.ParquetWriter(str(parts[-1]), table.schema, compression="zstd")
        writer.write_table(table)
        buf.clear(); lines.clear(); hashes.clear()

    try:
        for obj, lineno, payload in records:
            buf.append(_flatten(obj))
            lines.append(lineno)
            hashes.append(hashlib.sha256(payload).hexdigest())
            total += 1
            if len(buf) >= CHUNK_ROWS:
                flush()
        flush()
    finally:
        if writer is not None:
            writer.close()
    if not parts:
        # An empty feed is a valid (empty) collection: keep the lineage schema.
        pq.write_table(pa.table({
            "_file": pa.array([], pa.string()), "_row": pa.array([], pa.int64()),
            "_line": pa.array([], pa.int64()), "_fetched_at": pa.array([], pa.timestamp("us", "UTC")),
            "_payload_hash": pa.array([], pa.string())}), str(out))
    elif len(parts) == 1:
        parts[0].replace(out)
    else:
        files = ", ".join(f"'{_sql_str(str(p))}'" for p in parts)
        con = _duck("1GB")
        con.execute(f"COPY (SELECT * FROM read_parquet([{files}], union_by_name = true) ORDER BY _row) "
                    f"TO '{_sql_str(str(out))}' (FORMAT parquet, COMPRESSION zstd)")
        con.close()
        for p in parts:
            p.unlink()
    return total


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


