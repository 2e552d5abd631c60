"""Malformed CSV: each case either parses correctly, or its bad lines land in
the rejects file with their line number and reason while the rest loads. An
empty or undecodable file fails with a message naming the file."""

from __future__ import annotations

import codecs
from pathlib import Path

import polars as pl
import pytest

from pipeline_assets.uploads import UploadOptions, UploadReadError, normalize_file

HEADER = "name,email,note\n"


def run(tmp_path: Path, content: bytes, name: str = "upload.csv", **opts):
    src = tmp_path / name
    src.write_bytes(content)
    res = normalize_file(src, out_parquet=tmp_path / "out.parquet", out_csv=tmp_path / "out.csv",
                         out_rejects=tmp_path / "rejects.csv", scratch_dir=tmp_path / "scratch",
                         options=UploadOptions(sample_rows=50, **opts))
    out = pl.read_parquet(res.parquet)
    rejects = pl.read_csv(res.rejects) if res.rejects else None
    return res, out, rejects


def test_ragged_rows_go_to_rejects_with_line_numbers(tmp_path):
    text = (HEADER + "Ann Lee,ann@x.com,ok\n" + "Bob Ray,bob@x.com\n" + "Cy Dunn,cy@x.com,a,extra\n"
            + "Dee Fox,dee@x.com,fine\n")
    res, out, rej = run(tmp_path, text.encode())
    assert out["name"].to_list() == ["Ann Lee", "Dee Fox"] and res.rows == 2
    assert rej["line"].to_list() == [3, 4]
    assert "MISSING COLUMNS" in rej["error_type"][0] and "Expected Number of Columns: 3 Found: 2" in rej["reason"][0]
    assert "TOO MANY COLUMNS" in rej["error_type"][1] and rej["raw_line"][1] == "Cy Dunn,cy@x.com,a,extra"


def test_embedded_newlines_and_quotes_parse(tmp_path):
    text = (HEADER + '"Lee, Ann",ann@x.com,"line one\nline two"\n' + 'Bo "Red" Ray,bo@x.com,"say ""hi"""\n'
            + "Cy Dunn,cy@x.com,x,y\n")
    res, out, rej = run(tmp_path, text.encode())
    assert out["note"].to_list() == ["line one\nline two", 'say "hi"']
    assert out["name"][0] == "Lee, Ann"
    # The ragged line comes after a quoted newline: the *physical* line number is reported.
    assert rej["line"].to_list() == [5]


def test_unterminated_quote_is_rejected_with_its_line(tmp_path):
    text = HEADER + "Ann Lee,ann@x.com,ok\n" + 'Bob Ray,"bob@x.com,oops\n' + "Cy Dunn,cy@x.com,fine\n"
    res, out, rej = run(tmp_path, text.encode())
    assert out["name"].to_list() == ["Ann Lee"]
    assert rej["line"].to_list() == [3] and "unterminated quote" in rej["reason"][0]


@pytest.mark.parametrize("encoding, bom, expected", [
    ("cp1252", b"", "cp1252"),            # Excel on Windows: curly quotes, € and accents
    ("latin-1", b"", "cp1252"),           # latin-1 accents decode identically in cp1252
    ("utf-8", codecs.BOM_UTF8, "utf-8-sig"),
    ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16"),
])
def test_encodings_and_boms(tmp_path, encoding, bom, expected):
    text = HEADER + "José Müller,jose@x.com,Ça coûte 5€\n" + "Zoë Ørsted,zoe@x.com,“quoted”\n"
    if encoding == "latin-1":
        text = text.replace("€", "E").replace("“", '"').replace("”", '"').replace("Ø", "O")
    res, out, _ = run(tmp_path, bom + text.encode(encoding))
    assert res.layout.encoding == expected
    assert res.layout.headers == ["name", "email", "note"]  # no BOM in the first header
    assert out["name"].to_list()[0] == "José Müller" and out["name__norm"][0] == "José Müller"
    if encoding != "latin-1":
        assert out["note"].to_list() == ["Ça coûte 5€", "“quoted”"]


def test_semicolons_and_odd_headers(tmp_path):
    text = "Full Name;E-Mail;;E-Mail\nAnn Lee;ann@x.com;x;a@b.com\n"
    res, out, _ = run(tmp_path, text.encode())
    assert res.layout.delimiter == ";"
    assert res.layout.headers == ["Full Name", "E-Mail", "column_3", "E-Mail 2"]
    assert [c for c in out.columns if "__" not in c and c[0] != "_"] == ["full_name", "e_mail", "column_3", "e_mail_2"]


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"\n  \n", "the file is empty"),
    (codecs.BOM_UTF8, "the file is empty"),
    (b"name,email\n", "no data rows after the header"),
    (b"PK\x03\x04\x00\x00binary\x00zip", "cannot be decoded as text"),
])
def test_empty_or_undecodable_fails_naming_the_file(tmp_path, content, message):
    with pytest.raises(UploadReadError) as e:
        run(tmp_path, content, name="dealer_leads.csv")
    assert "dealer_leads.csv" in str(e.value) and message in str(e.value)


def test_forced_encoding_that_does_not_fit_fails_clearly(tmp_path):
    with pytest.raises(UploadReadError, match="upload.csv: cannot be decoded as ascii at byte"):
        run(tmp_path, (HEADER + "José,j@x.com,n\n").encode("utf-8"), encoding="ascii")


def test_a_few_bad_lines_never_fail_the_file(tmp_path):
    good = [f"Person {chr(65 + i % 26)}son,p{i}@x.com,n{i}\n" for i in range(500)]
    bad = [f"broken{i}\n" for i in range(5)]
    res, out, rej = run(tmp_path, (HEADER + "".join(good[:200] + bad + good[200:])).encode())
    assert res.rows == 500 and rej.height == 5
    assert rej["line"].to_list() == [202, 203, 204, 205, 206]


def test_an_overlong_line_is_rejected_with_its_line_and_the_rest_loads(tmp_path):
    # The scanner reads in bounded buffers (reader.MAX_LINE / BUFFER): a line past
    # the limit is one rejected line, not a failed file, and rows after it load.
    from pipeline_assets.uploads.reader import MAX_LINE

    huge = "x" * (MAX_LINE + 1000)
    text = HEADER + "Ann Lee,ann@x.com,ok\n" + f"Bob Ray,bob@x.com,{huge}\n" + "Cy Dunn,cy@x.com,fine\n"
    res, out, rej = run(tmp_path, text.encode())
    assert out["name"].to_list() == ["Ann Lee", "Cy Dunn"]
    assert rej["line"].to_list() == [3] and "LINE SIZE" in rej["error_type"][0].upper()


def test_rows_arrive_in_chunks_of_chunk_rows(tmp_path):
    # DuckDB hands out one batch of ~30k rows per 8 MB buffer it scans; the reader
    # gathers them into chunks of at least chunk_rows (the last one shorter), so
    # the per-chunk work does not multiply, and memory stays bounded by a chunk.
    from pipeline_assets.uploads.reader import CsvReader, read_layout

    src = tmp_path / "many.csv"
    src.write_text(HEADER + "".join(f"Person {i},p{i}@x.com,{'n' * (i % 80)}\n" for i in range(250_000)))
    reader = CsvReader(read_layout(src, src.name, tmp_path / "scratch.csv"), chunk_rows=100_000)
    try:
        sizes = [t.num_rows for t in reader.batches()]
    finally:
        reader.close()
    assert sum(sizes) == 250_000 and len(sizes) == 3
    assert all(100_000 <= s < 100_000 + 65_536 for s in sizes[:-1]), sizes


def test_a_slow_writer_holds_back_at_most_one_chunk(tmp_path, monkeypatch):
    # Parquet/CSV encoding runs on a writer thread; normalizing may run ahead of
    # it by one chunk only, so a slow disk cannot pile chunks up in memory.
    import time as _time

    import pyarrow.parquet as pq

    from pipeline_assets.uploads import pipeline

    written: list[int] = []

    class SlowWriter(pq.ParquetWriter):
        def write_table(self, table, *a, **kw):
            _time.sleep(0.05)
            super().write_table(table, *a, **kw)
            written.append(table.num_rows)

    monkeypatch.setattr(pipeline.pq, "ParquetWriter", SlowWriter)
    handed: list[tuple[int, int]] = []   # (chunks handed to the writer, chunks written) at each progress call
    src = tmp_path / "rows.csv"
    src.write_text(HEADER + "".join(f"P{i} Lee,p{i}@x.com,n\n" for i in range(8000)))
    res = normalize_file(src, out_parquet=tmp_path / "o.parquet", out_csv=tmp_path / "o.csv",
                         out_rejects=tmp_path / "r.csv", scratch_dir=tmp_path / "s",
                         options=UploadOptions(sample_rows=50, chunk_rows=1000, workers=0),
                         progress=lambda rows, secs, total: handed.append((len(handed) + 1, len(written))))
    assert res.rows == 8000 and sum(written) == 8000 and len(handed) == 8
    assert all(done >= n - 1 for n, done in handed), handed
    assert any(done == n - 1 for n, done in handed)   # the writer did lag: the bound was exercised
