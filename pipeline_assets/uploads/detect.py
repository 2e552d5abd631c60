"""Column-type detection from a sample of values plus a header hint.

For every column and every type, the *evidence* is the share of sampled,
non-empty values that the type's own normalizer accepts: the same library
call (phonenumbers, email-validator, usaddress, nameparser) or vectorized
check that normalization uses, so "detected as phone" means "these values
normalize as phones". Library checks run on the distinct sampled values only,
behind a cheap vectorized pre-filter, and are weighted by how often each
value occurs.

confidence = min(1, share + HINT_BONUS if the header names the type). The
bonus breaks ties and lifts a borderline column; it cannot outvote the values
(a "Phone" header over e-mails is still an e-mail column). The highest
confidence wins, ties go to the more specific type. Below the threshold the
column stays text and is flagged for review.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import polars as pl

from .config import UploadOptions, override_for
from .normalize import (address_value, currency_parts, date_expr, email_value, name_value, number_expr,
                        phone_value, url_value, vin_exprs, POSTAL_FORMATS)
from .types import HEADER_HINTS, SPECIFICITY, ColumnType

HINT_BONUS = 0.15
DETECT_ROWS = 500       # rows per column the library checks look at
CLEARLY_TEXT = 0.4      # below this the best candidate is not worth a flag


@dataclass
class Detection:
    column: str
    header: str
    type: ColumnType
    confidence: float
    share: float                      # share of sampled values matching `type` (or the candidate)
    sampled: int
    hint: ColumnType | None = None
    candidate: ColumnType | None = None   # best typed candidate (differs from type when flagged)
    flagged: bool = False
    overridden: str | None = None     # the override pattern that forced the type
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def evidence(self) -> str:
        target = self.candidate or self.type
        parts = [f"{self.share:.0%} of {self.sampled} sampled values are {target.value}"]
        if self.hint:
            parts.append(f"header hints {self.hint.value}")
        if self.overridden:
            parts.append(f"forced by override {self.overridden!r}")
        elif self.flagged:
            parts.append(f"below threshold: kept as text (candidate {target.value} at {self.scores.get(target.value, 0):.2f})")
        return "; ".join(parts)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(type=self.type.value, hint=self.hint.value if self.hint else None,
                 candidate=self.candidate.value if self.candidate else None, evidence=self.evidence)
        return d


def header_hint(header: str) -> list[ColumnType]:
    words = re.sub(r"([a-z])([A-Z])", r"\1 \2", header)
    tokens = re.findall(r"[a-z]+", words.lower())
    compact = "".join(tokens)
    out = []
    for ctype, hints in HEADER_HINTS.items():
        if any(h in tokens or (len(h) >= 4 and h in compact) for h in hints):
            out.append(ctype)
    return out


def _weighted_share(counts: pl.DataFrame, ok: list[bool]) -> float:
    total = counts["count"].sum()
    if not total:
        return 0.0
    return float(counts.select((pl.col("count") * pl.Series(ok, dtype=pl.Boolean)).sum()).item()) / total


def _library_share(counts: pl.DataFrame, prefilter: pl.Expr, check) -> float:
    values = counts["v"].to_list()
    plausible = counts.select(prefilter.fill_null(False).alias("p"))["p"].to_list()
    return _weighted_share(counts, [bool(p) and check(v) for v, p in zip(values, plausible)])


def _vector_share(sample: pl.DataFrame, ok: pl.Expr) -> float:
    n = sample.height
    return float(sample.select(ok.fill_null(False).sum()).item()) / n if n else 0.0


def score_column(values: pl.Series, opts: UploadOptions, hints: list[ColumnType]) -> dict[ColumnType, float]:
    """Share of sampled non-empty values each type accepts (before the hint bonus)."""
    sample = values.drop_nulls().head(DETECT_ROWS).rename("v").to_frame()
    if sample.is_empty():
        return {}
    counts = sample.group_by("v").agg(pl.len().alias("count")).sort("v")
    v = pl.col("v")
    digits = v.str.count_matches(r"\d")
    ntok = v.str.count_matches(r"\S+")
    s: dict[ColumnType, float] = {}
    s[ColumnType.EMAIL] = _library_share(counts, v.str.contains("@"), lambda x: email_value(x, opts)[1])
    s[ColumnType.URL] = _library_share(counts, v.str.contains(r"\.") & ~v.str.contains(r"\s"),
                                       lambda x: url_value(x, opts)[1])
    s[ColumnType.PHONE] = _library_share(
        counts, digits.is_between(7, 17) & v.str.contains(r"^[\d\s()+.\-/xXext#]+$"),
        lambda x: phone_value(x, opts)[1])
    s[ColumnType.ADDRESS] = _library_share(
        counts, (v.str.contains(r"\d") & v.str.contains(r"[A-Za-z]{2}") & (ntok >= 2)),
        lambda x: address_value(x, opts)[1])
    name_ok = _library_share(
        counts, ~v.str.contains(r"\d") & ntok.is_between(2, 5) & v.str.contains(r"^[\p{L}\p{M}.,'’\- ]+$"),
        lambda x: name_value(x, opts)[1])
    single = _library_share(counts, ~v.str.contains(r"\d") & (ntok == 1) & v.str.contains(r"^[\p{L}\p{M}.'’\-]+$"),
                            lambda x: name_value(x, opts)[1])
    # One-word values (first-name columns, but also colours, makes, cities) count
    # fully only with a name header; a low-cardinality column is a category.
    name_hinted = ColumnType.PERSON_NAME in hints
    name = name_ok + single * (1.0 if name_hinted else 0.6)
    distinct_ratio = counts.height / sample.height
    if not name_hinted and sample.height >= 50 and distinct_ratio < 0.1:
        name *= 0.6
    s[ColumnType.PERSON_NAME] = name
    _, vin_ok, _ = vin_exprs("v")
    s[ColumnType.VIN] = _vector_share(sample, vin_ok & v.str.contains(r"\d") & v.str.contains(r"[A-Za-z]"))
    s[ColumnType.DATE] = _vector_share(sample, date_expr("v", opts.dayfirst).is_not_null())
    postal = POSTAL_FORMATS.get(opts.default_country, r"^[A-Z0-9][A-Z0-9 -]{2,9}$")
    s[ColumnType.POSTAL_CODE] = _vector_share(sample, v.str.strip_chars().str.to_uppercase().str.contains(postal))
    amount, _, marker = currency_parts("v", opts)
    numeric = _vector_share(sample, number_expr("v", opts).is_not_null() &
                            ((v.str.count_matches(r"\d") <= 9) | v.str.contains(r"\.")))
    marked = _vector_share(sample, amount.is_not_null() & marker)
    parsed = _vector_share(sample, amount.is_not_null())
    s[ColumnType.CURRENCY] = max(marked, parsed * (1.0 if ColumnType.CURRENCY in hints else 0.6))
    # A plain number is the least specific reading of digits: ZIPs, years-as-dates,
    # amounts all parse as numbers too.
    s[ColumnType.NUMBER] = numeric * 0.9
    return s


def detect_column(column: str, header: str, values: pl.Series, opts: UploadOptions,
                  forced: tuple[str, ColumnType] | None = None) -> Detection:
    hints = header_hint(header)
    shares = score_column(values, opts, hints)
    sampled = min(values.drop_nulls().len(), DETECT_ROWS)
    conf = {t: min(1.0, sh + (HINT_BONUS if t in hints else 0.0)) for t, sh in shares.items()}
    hint = next((h for h in hints if h in conf and h != ColumnType.TEXT), hints[0] if hints else None)
    scores = {t.value: round(c, 3) for t, c in sorted(conf.items(), key=lambda kv: -kv[1])}
    if forced:
        pattern, ctype = forced
        return Detection(column, header, ctype, 1.0, round(shares.get(ctype, 1.0 if ctype == ColumnType.TEXT else 0.0), 3),
                         sampled, hint, ctype, False, pattern, scores)
    if not conf:
        return Detection(column, header, ColumnType.TEXT, 0.0, 0.0, 0, hint, None, True, None, scores)
    order = {t: i for i, t in enumerate(SPECIFICITY)}
    best = max(conf, key=lambda t: (round(conf[t], 6), -order[t]))
    if conf[best] >= opts.confidence_threshold:
        return Detection(column, header, best, round(conf[best], 3), round(shares[best], 3), sampled, hint, best,
                         False, None, scores)
    # Nothing qualifies: text. Flag it when some type came close enough to review.
    flagged = conf[best] >= CLEARLY_TEXT and ColumnType.TEXT not in hints
    return Detection(column, header, ColumnType.TEXT, round(1.0 - conf[best], 3), round(shares[best], 3), sampled,
                     hint, best if flagged else None, flagged, None, scores)


def detect_columns(sample: pl.DataFrame, headers: list[str], opts: UploadOptions,
                   overrides: dict[str, ColumnType] | None = None) -> list[Detection]:
    """One Detection per column of `sample` (trimmed text, empty = null), in order."""
    out = []
    for column, header in zip(sample.columns, headers):
        forced = None
        if overrides:
            forced = override_for(header, overrides) or override_for(column, overrides)
        out.append(detect_column(column, header, sample[column], opts, forced))
    return out
