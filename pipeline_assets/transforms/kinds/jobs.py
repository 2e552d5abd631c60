"""Job postings from job boards (job-board daily pipeline reference)."""

import polars as pl

from .base import Field, Kind, RowRule
from .common import COMMON_FIELDS

EMPLOYMENT_TYPES = ("Full-time", "Part-time", "Contract", "Temporary", "Internship")

JOBS = Kind(
    name="jobs",
    fields=tuple(
        # A posting must have a title; vehicles derive theirs.
        Field("title", "text", required=True, max_len=300, quality_weight=1.0)
        if f.name == "title" else f
        for f in COMMON_FIELDS
    ) + (
        Field("company", "text", required=True, max_len=200),
        Field("salary_min", "money", min=0, max=10_000_000, quality_weight=1.5),
        Field("salary_max", "money", min=0, max=10_000_000, quality_weight=1.5),
        Field("employment_type", "enum", choices=EMPLOYMENT_TYPES, quality_weight=0.5),
    ),
    identity_keys=(("source", "source_listing_id"),),
    content_fields=(
        "source_listing_id", "source_url", "title", "description", "image_url",
        "city", "state", "posted_at", "company", "salary_min", "salary_max",
        "employment_type",
    ),
    market_keys=("title",),
    market_value="salary_max",
    row_rules=(
        RowRule(
            "salary_range",
            fails=lambda day: pl.col("salary_min") > pl.col("salary_max"),
            message=lambda: pl.format("salary: min {} above max {}",
                                      pl.col("salary_min"), pl.col("salary_max")),
        ),
        RowRule(
            "posted_in_future",
            fails=lambda day: pl.col("posted_at") > day,
            message=lambda: pl.format("posted_at: {} is after the collection day",
                                      pl.col("posted_at")),
        ),
    ),
)
