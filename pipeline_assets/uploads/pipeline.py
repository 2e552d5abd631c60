"""One upload, end to end, without Dagster: read -> detect -> normalize ->
Parquet + CSV + rejects. The asset and the benchmark both call normalize_file.

Memory is bounded by `chunk_rows`: batches stream from DuckDB, each is
normalized and handed to a writer thread (Parquet + CSV), then dropped; at
most one chunk waits for the writer. Only the per-column result caches
(bounded by `cache_size`) survive between chunks. Library calls on new
distinct values are shared with helper processes (parallel.py).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .config import UploadOptions
from .detect import Detection, detect_columns
from .normalize import LIBRARY, BoundedCache, normalize_series
from .parallel import ValueMapper, default_workers
from .reader import CsvLayout, CsvReader, UploadReadError, read_layout
from .report import UploadReport
from .types import ColumnType

# Smaller files are done before a helper process would have started.
PARALLEL_MIN_BYTES = 8 << 20

Progress = Callable[[int, float, int | None], None]   # rows so far, seconds, estimated total rows


@dataclass
class NormalizeResult:
    source: str
    layout: CsvLayout
    detections: list[Detection]
    report: UploadReport
    rows: int
    rejected_lines: int
    seconds: float
    parquet: Path
    csv: Path
    rejects: Path | None
    cache: dict[str, dict] = field(default_factory=dict)
    # library calls on new distinct values: helper processes, and values computed here / in them
    library_values: dict[str, int] = field(default_factory=dict)
    helper_peak_rss_mb: list[float] = field(default_factory=list)   # VmHWM of each helper process

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def clean(df: pl.DataFrame) -> pl.DataFrame:
    """Trimmed text, empty = null: what detection and normalizers see."""
    return df.select(pl.when(pl.col(c).str.strip_chars().str.len_bytes() > 0).then(pl.col(c).str.strip_chars())
                     .alias(c) for c in df.columns)


def normalize_chunk(raw: pl.DataFrame, detections: list[Detection], opts: UploadOptions,
                    caches: dict[str, BoundedCache], first_row: int, mapper: ValueMapper | None = None) -> pl.DataFrame:
    cleaned = clean(raw)
    parts = [pl.int_range(first_row, first_row + raw.height, dtype=pl.Int64, eager=True).alias("_row").to_frame()]
    for d in detections:
        res = normalize_series(cleaned[d.column], d.type, opts, caches[d.column], mapper)
        parts.append(raw.select(d.column))
        parts.append(res.rename({c: f"{d.column}__{c}" for c in res.columns}))
    out = pl.concat(parts, how="horizontal")
    invalid = [pl.when(pl.col(f"{d.column}__valid") == False).then(pl.lit(d.column))  # noqa: E712
               for d in detections]
    return out.with_columns(pl.concat_str(invalid, separator=",", ignore_nulls=True).fill_null("")
                            .alias("_invalid_columns"))


def normalize_file(path: str | Path, *, out_parquet: Path, out_csv: Path, out_rejects: Path, scratch_dir: Path,
                   options: UploadOptions | None = None, overrides: dict[str, ColumnType] | None = None,
                   source: str | None = None, progress: Progress | None = None,
                   duckdb_memory: str = "1GB") -> NormalizeResult:
    opts = options or UploadOptions()
    path = Path(path)
    source = source or path.name
    started = time.perf_counter()
    scratch_dir.mkdir(parents=True, exist_ok=True)
    transcoded = scratch_dir / f"{out_parquet.stem}.utf8.csv"
    layout = read_layout(path, source, transcoded, opts.encoding, opts.delimiter)
    workers = opts.workers
    if workers is None:
        workers = default_workers() if path.stat().st_size >= PARALLEL_MIN_BYTES else 0
    # Helpers start now and load the libraries while DuckDB reads the first chunk.
    mapper = ValueMapper(workers).start()
    reader = CsvReader(layout, opts.chunk_rows, memory_limit=duckdb_memory)
    writer: pq.ParquetWriter | None = None
    try:
        batches = reader.batches()
        # Detection looks at the first `sample_rows` rows, read ahead and then
        # normalized like every other chunk.
        pending: list[pa.Table] = []
        while sum(b.num_rows for b in pending) < opts.sample_rows:
            b = next(batches, None)
            if b is None:
                break
            pending.append(b)
        if not pending:
            rej = reader.rejects()
            detail = f" ({rej.height} rejected lines, first: line {rej['line'][0]}: {rej['reason'][0]})" \
                if rej.height else ""
            raise UploadReadError(f"{source}: no data rows after the header{detail}")
        head = clean(pl.from_arrow(pa.concat_tables(pending)).head(opts.sample_rows))
        detections = detect_columns(head, layout.headers, opts, overrides)
        caches = {d.column: BoundedCache(opts.cache_size if d.type in LIBRARY or d.type == ColumnType.DATE else 0)
                  for d in detections}
        report = UploadReport(detections)
        row_bytes = max(1.0, head.select(pl.sum_horizontal(pl.all().str.len_bytes().fill_null(0)).mean()).item()
                        + len(layout.columns))
        estimate = int(path.stat().st_size / row_bytes)

        rows = 0
        csv_writer: pacsv.CSVWriter | None = None
        # Parquet and CSV encoding release the GIL: a writer thread encodes chunk N
        # while this thread normalizes chunk N+1. At most one chunk waits, so
        # memory stays bounded by two chunks.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-writer")
        inflight: Future | None = None

        def encode(table: pa.Table) -> None:
            nonlocal writer, csv_writer
            if writer is None:
                # Min/max statistics only where a reader can prune on them (row numbers,
                # dates, amounts, flags); on free text they cost ~20% of the write.
                stats = [f.name for f in table.schema if not pa.types.is_large_string(f.type)
                         and not pa.types.is_string(f.type)]
                # Dictionary pages only for columns that repeat (judged on the first
                # chunk): on near-unique ones (row numbers, amounts) they are built,
                # then abandoned, per row group, for a larger file.
                repeat = [f.name for f in table.schema
                          if pc.count_distinct(table[f.name]).as_py() < 0.5 * max(1, table.num_rows)]
                writer = pq.ParquetWriter(str(out_parquet), table.schema, compression="lz4", write_statistics=stats,
                                          use_dictionary=repeat)
                csv_writer = pacsv.CSVWriter(str(out_csv), table.schema)
            if table.schema != writer.schema:   # e.g. a part that was all-null in the first chunk
                table = table.cast(writer.schema)
            writer.write_table(table)
            csv_writer.write_table(table)

        def write(batch: pa.Table) -> None:
            nonlocal rows, inflight
            out = normalize_chunk(pl.from_arrow(batch), detections, opts, caches, rows + 1, mapper)
            report.add_chunk(out)
            table = out.to_arrow()
            if inflight is not None:
                inflight.result()
            inflight = pool.submit(encode, table)
            rows += out.height
            if progress:
                progress(rows, time.perf_counter() - started, max(estimate, rows))

        try:
            for b in pending:
                write(b)
            pending.clear()
            for b in batches:
                write(b)
            if inflight is not None:
                inflight.result()
        finally:
            pool.shutdown(wait=True)
            mapper.close()
            if csv_writer is not None:
                csv_writer.close()
        if writer is not None:
            writer.close()
            writer = None
        rejects = reader.rejects()
        rejects_path = None
        if rejects.height:
            rejects.select("line", "error_type", "reason", "raw_line").write_csv(out_rejects)
            rejects_path = out_rejects
        return NormalizeResult(
            source=source, layout=layout, detections=detections, report=report, rows=rows,
            rejected_lines=rejects.height, seconds=time.perf_counter() - started, parquet=out_parquet,
            csv=out_csv, rejects=rejects_path,
            cache={c: {"hits": k.hits, "misses": k.misses} for c, k in caches.items() if k.hits or k.misses},
            library_values={"workers": workers, "here": mapper.local_values, "helpers": mapper.helper_values,
                            "taken_back_pieces": mapper.taken_back, "tail_ms": round(1000 * mapper.tail_s)},
            helper_peak_rss_mb=[round(kb / 1024, 1) for kb in mapper.helper_peak_rss_kb])
    finally:
        mapper.close()
        if writer is not None:
            writer.close()
        reader.close()
        if layout.transcoded:
            layout.path.unlink(missing_ok=True)
