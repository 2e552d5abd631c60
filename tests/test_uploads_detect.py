"""Column-type detection on a labeled set of generated columns: realistic
noise (blanks, junk, mixed formats) and misleading or meaningless headers."""

from __future__ import annotations

import random

import polars as pl
import pytest

from pipeline_assets.uploads import UploadConfigError, UploadOptions, detect_columns, load_upload_config
from pipeline_assets.uploads.pipeline import clean
from pipeline_assets.uploads.types import ColumnType as T

FIRST = ["James", "Mary", "José", "Zoë", "Siobhan", "Wei", "Ahmed", "Olga", "Björn", "Chloé", "Priya", "Kwame"]
LAST = ["Smith", "García", "O'Brien", "Nguyen", "Müller", "Kowalski", "Okafor", "Smith-Jones", "Rossi", "Tanaka"]
JUNK = ["n/a", "unknown", "-", "TBD", "?", "none", "see notes"]


def _gen(kind: T, rng: random.Random) -> str:
    f, l_ = rng.choice(FIRST), rng.choice(LAST)
    if kind == T.PERSON_NAME:
        return rng.choice([f"{f} {l_}", f"{f.upper()} {l_.upper()}", f"Dr. {f} {l_}", f"{l_}, {f}", f"{f} Q. {l_} Jr."])
    if kind == T.EMAIL:
        return rng.choice([f"{f}.{l_}@example.com", f"{f[0]}{l_}{rng.randint(1, 99)}@Mail.EXAMPLE.org",
                           f"{l_}+news@company.co.uk"]).replace("'", "").replace(" ", "")
    if kind == T.PHONE:
        a, e, n = rng.choice([212, 415, 617, 312]), rng.randint(201, 989), rng.randint(0, 9999)
        return rng.choice([f"({a}) {e}-{n:04d}", f"{a}-{e}-{n:04d}", f"+1 {a} {e} {n:04d}", f"+44 20 7946 {n:04d}",
                           f"+49 30 {rng.randint(1000000, 9999999)}"])
    if kind == T.ADDRESS:
        return rng.choice([f"{rng.randint(1, 9999)} {rng.choice(['Main', 'Oak', 'Elm'])} St, Springfield, IL 62701",
                           f"{rng.randint(1, 999)} N {rng.choice(['5th', 'Park'])} Ave Apt {rng.randint(1, 40)}",
                           f"P.O. Box {rng.randint(1, 9999)}, Austin, TX 78701"])
    if kind == T.DATE:
        y, m, d = rng.randint(1990, 2025), rng.randint(1, 12), rng.randint(1, 28)
        return rng.choice([f"{y}-{m:02d}-{d:02d}", f"{m}/{d}/{y}", f"{y}-{m:02d}-{d:02d}T10:00:00Z"])
    if kind == T.URL:
        return rng.choice([f"https://www.{l_.lower()}-motors.com/inventory/{rng.randint(1, 999)}",
                           f"http://{f.lower()}.example.org", f"www.{l_.lower()}.com"]).replace("'", "")
    if kind == T.CURRENCY:
        return rng.choice([f"${rng.randint(1, 90000):,}.{rng.randint(0, 99):02d}", f"€{rng.randint(1, 900)}",
                           f"USD {rng.randint(100, 5000)}", f"{rng.randint(1, 900)}.{rng.randint(0, 99):02d}"])
    if kind == T.POSTAL_CODE:
        return rng.choice([f"{rng.randint(10000, 99999)}", f"{rng.randint(10000, 99999)}-{rng.randint(1000, 9999)}"])
    if kind == T.VIN:
        chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
        return "".join(rng.choice(chars) for _ in range(17))
    if kind == T.NUMBER:
        return str(rng.choice([rng.randint(0, 500), rng.randint(1950, 2024), rng.randint(1000, 250000)]))
    if kind == T.TEXT:
        words = "great condition one owner needs tires call after five no lowballers garage kept".split()
        return " ".join(rng.choice(words) for _ in range(rng.randint(4, 12))).capitalize() + "."
    raise ValueError(kind)


# (type, headers): the right header, a meaningless one, and a misleading one.
LABELED = {
    T.PERSON_NAME: ["Full Name", "Contact", "Col A", "Email"],
    T.EMAIL: ["E-mail", "col_2", "Phone", "Name"],
    T.PHONE: ["Mobile", "field7", "Email", "Zip"],
    T.ADDRESS: ["Mailing Address", "x", "Name", "Notes"],
    T.DATE: ["Signup Date", "c5", "Price", "Phone"],
    T.URL: ["Website", "misc", "Email", "Address"],
    T.CURRENCY: ["Price", "value2", "Date", "Zip"],
    T.POSTAL_CODE: ["ZIP", "code", "Postal"],
    T.VIN: ["VIN", "ref", "Stock Number"],
    T.NUMBER: ["Mileage", "qty", "Year"],
    T.TEXT: ["Notes", "Comments", "col9", "Name"],
}


def _column(kind: T, rng: random.Random, n: int = 400) -> list[str | None]:
    out: list[str | None] = []
    for _ in range(n):
        r = rng.random()
        out.append(None if r < 0.04 else rng.choice(JUNK) if r < 0.07 else _gen(kind, rng))
    return out


def test_detection_accuracy_on_labeled_columns():
    rng = random.Random(7)
    cases = [(kind, header) for kind, headers in LABELED.items() for header in headers]
    data = {f"c{i}": _column(kind, rng) for i, (kind, _) in enumerate(cases)}
    sample = clean(pl.DataFrame(data, schema={c: pl.String for c in data}))
    dets = detect_columns(sample, [h for _, h in cases], UploadOptions())
    wrong = [(h, k.value, d.type.value, d.scores) for (k, h), d in zip(cases, dets) if d.type != k]
    accuracy = 1 - len(wrong) / len(cases)
    assert accuracy >= 0.95, f"{accuracy:.1%} correct; wrong: {wrong}"
    for d in dets:
        assert 0.0 <= d.confidence <= 1.0 and d.sampled > 300
        assert "sampled values" in d.evidence
    # The header hint is part of the evidence; a misleading header is outvoted by the values.
    email_under_phone_header = dets[[h for _, h in cases].index("Phone")]
    assert email_under_phone_header.type == T.EMAIL and email_under_phone_header.hint == T.PHONE
    named_zip = next(d for (k, h), d in zip(cases, dets) if k == T.POSTAL_CODE and h == "ZIP")
    assert named_zip.confidence == 1.0 and "header hints postal_code" in named_zip.evidence


def test_below_threshold_stays_text_and_is_flagged():
    rng = random.Random(1)
    mixed = [_gen(T.EMAIL, rng) if i % 2 else _gen(T.TEXT, rng) for i in range(200)]
    sample = clean(pl.DataFrame({"contact_info": mixed}))
    (d,) = detect_columns(sample, ["contact_info"], UploadOptions(confidence_threshold=0.8))
    assert d.type == T.TEXT and d.flagged and d.candidate == T.EMAIL
    assert 0.4 <= d.share <= 0.6 and "below threshold" in d.evidence
    (lenient,) = detect_columns(sample, ["contact_info"], UploadOptions(confidence_threshold=0.4))
    assert lenient.type == T.EMAIL and not lenient.flagged


def test_overrides_per_pattern_and_per_file(tmp_path):
    cfg_file = tmp_path / "uploads.yaml"
    cfg_file.write_text(
        "defaults: {default_country: US}\n"
        "columns: {'*ref*': text}\n"
        "files:\n  - match: 'acme_*.csv'\n    options: {default_country: GB, dayfirst: true}\n"
        "    columns: {'Mobile': phone}\n")
    cfg = load_upload_config(cfg_file)
    assert cfg.options_for("acme_2024.csv").default_country == "GB" and cfg.options_for("acme_2024.csv").dayfirst
    assert cfg.options_for("other.csv").default_country == "US"
    rng = random.Random(3)
    sample = clean(pl.DataFrame({"ref_no": [_gen(T.VIN, rng) for _ in range(100)],
                                 "mobile": [_gen(T.TEXT, rng) for _ in range(100)]}))
    dets = detect_columns(sample, ["Ref No", "Mobile"], cfg.options_for("acme_1.csv"), cfg.overrides_for("acme_1.csv"))
    assert [d.type for d in dets] == [T.TEXT, T.PHONE]
    assert dets[0].overridden == "*ref*" and "forced by override" in dets[1].evidence
    plain = detect_columns(sample, ["Ref No", "Mobile"], cfg.options_for("x.csv"), cfg.overrides_for("x.csv"))
    assert plain[1].type == T.TEXT and plain[1].overridden is None


@pytest.mark.parametrize("text, expected", [
    ("columns: {'zip*': zipcode}\n", "'zipcode' is not one of person_name"),
    ("defaults: {default_country: XX}\n", "'XX' is not a region"),
    ("defaults: {confidence_treshold: 0.5}\n", "confidence_treshold: unknown key"),
    ("files:\n  - match: 'a*'\n    options: {chunk_rows: 5}\n", "files[0] (a*): chunk_rows"),
    ("- just a list\n", "expected a mapping"),
])
def test_bad_config_fails_with_a_clear_message(tmp_path, text, expected):
    f = tmp_path / "uploads.yaml"
    f.write_text(text)
    with pytest.raises(UploadConfigError) as e:
        load_upload_config(f)
    assert expected in str(e.value) and str(f) in str(e.value)
