"""Read one collected file into a raw-record file (`raw.records`).

raw_listings keeps records as collected: every source field as a string
(nested JSON flattened to dotted names), plus the lineage columns. Typing
happens in validation, so a bad value is a rejected row with a reason, not a
crashed reader.

CSV, Parquet and JSON lines go through DuckDB (streaming, exact line numbers
in CSV errors); JSON documents through ijson and XML through the streaming
feed reader, both into a `RecordSink` in bounded chunks - never the whole
file as Python objects. A JSON-lines file DuckDB cannot read is re-read line
by line, which either succeeds or names the broken line.
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

from ..sqltext import identifier, literal
from .records import RecordSink, SourceParseError, connect, write_raw
from .xml_feed import read_feed

CHUNK_ROWS = 50_000


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
            return _sink(_jsonl_records(path, origin), out, origin, fetched_at, duckdb_memory_limit)
    if fmt == "json":
        return _sink(_json_records(path, origin, record_path), out, origin, fetched_at, duckdb_memory_limit)
    if fmt == "xml":
        return _sink(_xml_records(path, origin, record_path), out, origin, fetched_at, duckdb_memory_limit)
    raise ValueError(f"unsupported format {fmt!r}")


def _lineage(origin: str, fetched_at: datetime, line: str) -> str:
    """The lineage columns of a DuckDB reader's SELECT (`line`: an expression)."""
    return (f"{literal(origin)} AS _file, row_number() OVER () AS _row, {line} AS _line, "
            f"TIMESTAMPTZ {literal(fetched_at.isoformat())} AS _fetched_at")


def _csv(path: Path, out: str | Path, origin: str, fetched_at: datetime, mem: str) -> int:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        try:
            header = next(csv.reader(fh))
        except StopIteration:
            raise SourceParseError(f"{origin}: empty CSV file (no header line)") from None
    if len(set(header)) != len(header) or any(not h.strip() for h in header):
        raise SourceParseError(f"{origin} line 1: header has empty or repeated column names: {header}")
    # Columns are given explicitly (no sniffing) so a ragged or badly quoted
    # line is an error with its line number instead of a silent re-guess.
    cols = "{" + ", ".join(f"{literal(h)}: 'VARCHAR'" for h in header) + "}"
    src = (f"read_csv({literal(path)}, header=true, strict_mode=true, delim=',', "
           f"quote='\"', escape='\"', auto_detect=false, columns={cols})")
    # Lines: the header is line 1; exact unless a quoted field holds a newline.
    select = f"SELECT t.*, {_lineage(origin, fetched_at, 'row_number() OVER () + 1')} FROM {src} t"
    with connect(mem) as con:
        try:
            return write_raw(con, select, header, out)
        except duckdb.Error as e:
            raise SourceParseError(_csv_message(origin, str(e))) from None


def _flat_columns(name: str, dtype: duckdb.DuckDBPyType, path: list[str]) -> list[tuple[str, str]]:
    """(expression, name) per text column: nested JSON objects become dotted
    columns ("location.city") with the values `records.flatten` gives
    (whole floats without ".0", lists and maps as JSON text)."""
    ref = "t." + ".".join(identifier(p) for p in path)
    if dtype.id == "struct":
        return [c for child, ctype in dtype.children for c in _flat_columns(child, ctype, path + [child])]
    if dtype.id in ("list", "map", "array", "json", "union"):
        expr = f"CAST(to_json({ref}) AS VARCHAR)"
    elif dtype.id in ("double", "float"):
        expr = (f"CASE WHEN {ref} = trunc({ref}) AND abs({ref}) < 1e15 THEN CAST(CAST({ref} AS BIGINT) AS VARCHAR) "
                f"ELSE CAST({ref} AS VARCHAR) END")
    else:
        expr = f"CAST({ref} AS VARCHAR)"
    return [(expr, ".".join(path))]


def _jsonl_duckdb(path: Path, out: str | Path, origin: str, fetched_at: datetime, mem: str) -> int:
    # sample_size=-1: the schema comes from every line, so a field that first
    # appears late is still a column.
    src = f"read_json({literal(path)}, format='newline_delimited', records=true, sample_size=-1)"
    with connect(mem) as con:
        rel = con.sql(f"SELECT * FROM {src}")
        cols = [c for name, dtype in zip(rel.columns, rel.types) for c in _flat_columns(name, dtype, [name])]
        exprs = ", ".join(f"{expr} AS {identifier(label)}" for expr, label in cols)
        select = f"SELECT {exprs}, {_lineage(origin, fetched_at, 'row_number() OVER ()')} FROM {src} t"
        return write_raw(con, select, [label for _, label in cols], out)


def _csv_message(origin: str, err: str) -> str:
    line = re.search(r"Line: (\d+)", err)
    original = re.search(r"Original Line: (.*)", err)
    detail = next((ln.strip() for ln in err.splitlines()[2:5]
                   if ln.strip() and not ln.startswith("Possible")), "")
    where = f"{origin} line {line.group(1)}" if line else origin
    shown = f" ({original.group(1)[:120]!r})" if original else ""
    return f"{where}: malformed CSV: {detail or err.splitlines()[0]}{shown}"


def _parquet(path: Path, out: str | Path, origin: str, fetched_at: datetime, mem: str) -> int:
    with connect(mem) as con:
        try:
            cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({literal(path)})").fetchall()]
            casts = ", ".join(f"CAST({identifier(c)} AS VARCHAR) AS {identifier(c)}" for c in cols)
            select = (f"SELECT {casts}, {_lineage(origin, fetched_at, 'CAST(NULL AS BIGINT)')} "
                      f"FROM read_parquet({literal(path)}) t")
            return write_raw(con, select, cols, out)
        except duckdb.Error as e:
            raise SourceParseError(f"{origin}: unreadable Parquet: {str(e).splitlines()[0]}") from None


Record = tuple[dict[str, Any], int | None]


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
            yield obj, lineno


def _json_records(path: Path, origin: str, record_path: str | None) -> Iterator[Record]:
    prefix = f"{record_path}.item" if record_path else "item"
    with path.open("rb") as fh:
        try:
            for obj in ijson.items(fh, prefix, use_float=True):
                if not isinstance(obj, dict):
                    raise SourceParseError(f"{origin}: record at '{prefix}' is not an object")
                yield obj, None
        except ijson.JSONError as e:
            line = _line_at(path, fh.tell())
            raise SourceParseError(f"{origin} near line {line}: malformed JSON: {e}") from None


def _xml_records(path: Path, origin: str, record_tag: str | None) -> Iterator[Record]:
    """XML feed files: each `record_tag` element is a record (the hardened,
    streaming feed reader that XML sources over HTTP use too)."""
    if not record_tag:
        raise SourceParseError(f"{origin}: XML sources need record_path (the record element's name)")
    for obj in read_feed(path.read_bytes(), origin, record_tag, None):
        yield obj, None


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


def _sink(records: Iterator[Record], out: str | Path, origin: str, fetched_at: datetime, mem: str) -> int:
    sink = RecordSink(out, CHUNK_ROWS, mem)
    try:
        for obj, lineno in records:
            sink.add(obj, origin, fetched_at, lineno)
        return sink.close()
    except BaseException:
        sink.abort()
        raise


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


