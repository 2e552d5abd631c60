"""Robust, streaming CSV reading.

1. Encoding: a BOM decides (UTF-8/16/32); else the whole file must decode as
   UTF-8, else cp1252 (what Excel writes on Windows), else latin-1. NUL bytes
   without a UTF-16/32 BOM mean a binary file: that is an error, not a guess.
   Anything other than BOM-less UTF-8 is transcoded to a UTF-8 scratch copy in
   1 MB pieces, so DuckDB always reads plain UTF-8.
2. Header: parsed with the csv module (delimiter sniffed among , ; TAB |),
   blank and duplicate names made unique.
3. Rows: DuckDB read_csv with an explicit dialect and `store_rejects`: quoted
   newlines parse; rows with too many or too few fields, and unterminated
   quotes, go to the rejects with their line and the reason, and the rest of
   the file still loads. Batches stream out as Arrow, so memory is bounded by
   the chunk size, not the file size.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import duckdb
import polars as pl
import pyarrow as pa

SAMPLE_BYTES = 1 << 16
PIECE = 1 << 20
# DuckDB's CSV scanner reads the file in buffers of buffer_size (by default 16 x
# max_line_size, i.e. 128 MB for 8 MB lines), and with two threads and ordered
# output it keeps several of them, more the longer the file: peak RSS grew by
# ~300 MB from 1M to 5M rows. 8 MB buffers keep the reader flat (about 110 MB
# above the interpreter at any file size). A line longer than MAX_LINE goes to
# the rejects, like any other malformed line.
MAX_LINE = 2 << 20
BUFFER = 8 << 20
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class UploadReadError(ValueError):
    """The file cannot be read at all (empty, binary, undecodable). Names the file."""


@dataclass
class CsvLayout:
    path: Path                 # the file DuckDB reads (UTF-8, maybe a transcoded copy)
    source: str                # what the user uploaded, for messages
    encoding: str              # detected (or forced) encoding of the original
    delimiter: str
    headers: list[str]         # as written in the file (made unique)
    columns: list[str]         # safe output names (snake_case, unique)
    transcoded: bool = False
    notes: list[str] = field(default_factory=list)


def detect_encoding(path: Path, source: str, forced: str | None = None) -> str:
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    if not head.strip(b" \t\r\n" + codecs.BOM_UTF8):
        raise UploadReadError(f"{source}: the file is empty")
    if forced:
        try:
            name = codecs.lookup(forced).name
        except LookupError:
            raise UploadReadError(f"{source}: unknown encoding {forced!r} in the upload config") from None
        # The utf-8-sig/utf-16/utf-32 codecs drop a BOM; plain utf-8 would keep it in the first header.
        return "utf-8-sig" if name == "utf-8" and head.startswith(codecs.BOM_UTF8) else name
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    if b"\x00" in head:
        raise UploadReadError(
            f"{source}: cannot be decoded as text (NUL bytes and no byte-order mark): a binary file, or UTF-16 "
            "without BOM (set `encoding` for this file in the upload config)")
    for candidate in ("utf-8", "cp1252"):
        if _decodes(path, candidate):
            return candidate
    return "latin-1"  # decodes any byte sequence; the last resort for legacy exports


def _decodes(path: Path, encoding: str) -> bool:
    dec = codecs.getincrementaldecoder(encoding)("strict")
    try:
        with open(path, "rb") as fh:
            while piece := fh.read(PIECE):
                dec.decode(piece)
        dec.decode(b"", final=True)
        return True
    except UnicodeDecodeError:
        return False


def to_utf8(path: Path, encoding: str, scratch: Path, source: str) -> Path:
    """A UTF-8 copy without BOM (streamed), or `path` itself when it already is one."""
    if encoding == "utf-8":
        return path
    dec = codecs.getincrementaldecoder(encoding)("strict")
    try:
        with open(path, "rb") as src, open(scratch, "wb") as dst:
            while piece := src.read(PIECE):
                dst.write(dec.decode(piece).encode("utf-8"))
            dst.write(dec.decode(b"", final=True).encode("utf-8"))
    except UnicodeDecodeError as e:
        scratch.unlink(missing_ok=True)
        raise UploadReadError(f"{source}: cannot be decoded as {encoding} at byte {e.start}: {e.reason}") from None
    return scratch


def safe_name(header: str) -> str:
    s = re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")
    if not s:
        s = "column"
    return f"c_{s}" if s[0].isdigit() else s


def read_layout(path: Path, source: str, scratch: Path, encoding: str | None = None,
                delimiter: str | None = None) -> CsvLayout:
    enc = detect_encoding(path, source, encoding)
    utf8 = to_utf8(path, enc, scratch, source)
    with open(utf8, encoding="utf-8", newline="") as fh:
        sample = fh.read(SAMPLE_BYTES)
    if not sample.strip():
        raise UploadReadError(f"{source}: the file is empty")
    if delimiter is None:
        first_lines = "\n".join(sample.splitlines()[:20])
        try:
            delimiter = csv.Sniffer().sniff(first_lines, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    header = next(csv.reader(io.StringIO(sample), delimiter=delimiter))
    if not any(h.strip() for h in header):
        raise UploadReadError(f"{source}: the first line (the header) is blank")
    headers, columns = _unique([h.strip() or f"column_{i + 1}" for i, h in enumerate(header)]), []
    for h in headers:
        columns.append(safe_name(h))
    columns = _unique(columns, sep="_")
    return CsvLayout(path=utf8, source=source, encoding=enc, delimiter=delimiter, headers=headers,
                     columns=columns, transcoded=utf8 != path)


def _unique(names: list[str], sep: str = " ") -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = n
        while k in seen:
            seen[n] += 1
            k = f"{n}{sep}{seen[n]}"
        seen.setdefault(k, 1)
        out.append(k)
    return out


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


class CsvReader:
    """Streams a CSV as Arrow batches of text columns; collects rejected lines."""

    def __init__(self, layout: CsvLayout, chunk_rows: int, threads: int = 2, memory_limit: str = "1GB"):
        self.layout, self.chunk_rows = layout, chunk_rows
        self.con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit,
                                          "preserve_insertion_order": True})
        cols = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(layout.columns))) + "}"
        self.query = (
            f"SELECT * FROM read_csv({_sql_str(str(layout.path))}, auto_detect=false, header=true, "
            f"columns={cols}, delim={_sql_str(layout.delimiter)}, quote='\"', escape='\"', "
            f"store_rejects=true, strict_mode=true, max_line_size={MAX_LINE}, buffer_size={BUFFER}, "
            "hive_partitioning=false, filename=false, union_by_name=false)")

    def batches(self) -> Iterator[pa.Table]:
        """Tables of `chunk_rows` rows (the last one shorter). DuckDB hands out
        one small batch per scanned buffer; they are gathered up to a chunk."""
        names = self.layout.columns
        pending: list[pa.RecordBatch] = []
        size = 0
        for batch in self.con.sql(self.query).to_arrow_reader(min(self.chunk_rows, 1 << 16)):
            if not batch.num_rows:
                continue
            pending.append(batch)
            size += batch.num_rows
            if size >= self.chunk_rows:
                yield pa.Table.from_batches(pending).rename_columns(names)
                pending, size = [], 0
        if pending:
            yield pa.Table.from_batches(pending).rename_columns(names)

    def rejects(self) -> pl.DataFrame:
        """One row per rejected line: line number (1 = header), reason(s), the raw text."""
        df = self.con.sql(
            "SELECT line, min(line_byte_position) AS byte_position, string_agg(DISTINCT error_type, '; ') AS error_type, "
            "string_agg(DISTINCT error_message || coalesce(' (column ' || column_name || ')', ''), '; ') AS reason, "
            "any_value(csv_line) AS raw_line FROM reject_errors GROUP BY line ORDER BY line").pl()
        if df.is_empty():
            return df.with_columns(pl.col("line").cast(pl.Int64))
        # DuckDB's `line` counts records; a quoted newline earlier in the file
        # shifts it. The physical line comes from the byte offset.
        lines = _lines_at(self.layout.path, [int(b) - 1 for b in df["byte_position"]])
        return df.with_columns(pl.Series("line", lines, dtype=pl.Int64))

    def close(self) -> None:
        self.con.close()


def _lines_at(path: Path, offsets: list[int]) -> list[int]:
    """1-based line number of each byte offset (offsets ascending), in one pass."""
    out, newlines, pos = [], 0, 0
    it = iter(sorted(set(offsets)))
    want = next(it, None)
    found: dict[int, int] = {}
    with open(path, "rb") as fh:
        while want is not None and (piece := fh.read(PIECE)):
            while want is not None and want < pos + len(piece):
                found[want] = newlines + piece.count(b"\n", 0, want - pos) + 1
                want = next(it, None)
            newlines += piece.count(b"\n")
            pos += len(piece)
    for o in offsets:
        out.append(found.get(o, newlines + 1))
    return out
