"""Per-file report: rows, valid / invalid per column, detected types with
confidence and evidence. Counts are accumulated per chunk with vectorized sums."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from .detect import Detection

EXAMPLES = 3


@dataclass
class ColumnStats:
    filled: int = 0
    valid: int = 0
    invalid: int = 0
    invalid_examples: list[str] = field(default_factory=list)


class UploadReport:
    def __init__(self, detections: list[Detection]):
        self.detections = detections
        self.stats = {d.column: ColumnStats() for d in detections}
        self.rows = 0

    def add_chunk(self, out: pl.DataFrame) -> None:
        self.rows += out.height
        cols = [d.column for d in self.detections]
        sums = out.select(
            *[pl.col(f"{c}__valid").is_not_null().sum().alias(f"{c}:filled") for c in cols],
            *[pl.col(f"{c}__valid").fill_null(False).sum().alias(f"{c}:valid") for c in cols],
        ).row(0, named=True)
        for c in cols:
            st = self.stats[c]
            st.filled += sums[f"{c}:filled"]
            st.valid += sums[f"{c}:valid"]
            st.invalid = st.filled - st.valid
            if len(st.invalid_examples) < EXAMPLES and st.invalid:
                bad = (out.filter(pl.col(f"{c}__valid") == False)[c]  # noqa: E712
                       .unique(maintain_order=True).head(EXAMPLES).to_list())
                st.invalid_examples = (st.invalid_examples + [b for b in bad if b not in st.invalid_examples])[:EXAMPLES]

    def frame(self) -> pl.DataFrame:
        rows = []
        for d in self.detections:
            st = self.stats[d.column]
            rows.append({
                "column": d.header, "output": d.column, "type": d.type.value, "confidence": d.confidence,
                "flagged": d.flagged, "filled": st.filled, "valid": st.valid, "invalid": st.invalid,
                "invalid_pct": round(100 * st.invalid / st.filled, 2) if st.filled else 0.0,
                "evidence": d.evidence, "invalid_examples": ", ".join(st.invalid_examples)})
        return pl.DataFrame(rows)

    def as_dicts(self) -> list[dict]:
        out = []
        for d in self.detections:
            st = self.stats[d.column]
            out.append({**d.as_dict(), "filled": st.filled, "valid": st.valid, "invalid": st.invalid,
                        "invalid_examples": st.invalid_examples})
        return out
