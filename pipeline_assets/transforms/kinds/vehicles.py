"""Vehicle listings: dealer sites and marketplaces.

Rules follow the automotive batch pipeline reference: make/model required
(1-100 chars), year an integer from 1920 (older is "too old for database")
to the listing year + 2, price between 1,000 and 10,000,000 when present,
US two-letter states, and the condition/category enumerations.
"""

import polars as pl

from .base import Field, Kind, RowRule
from .common import COMMON_FIELDS

CONDITIONS = ("Excellent", "Very Good", "Good", "Fair", "Project")
CATEGORIES = (
    "Muscle Cars", "Sports Cars", "Classic Cars", "Hot Rods",
    "Restomods", "Luxury Cars", "Trucks",
)

VEHICLES = Kind(
    name="vehicles",
    fields=COMMON_FIELDS + (
        Field("make", "text", required=True, max_len=100),
        Field("model", "text", required=True, max_len=100),
        Field("year", "int", required=True, min=1920, quality_weight=0),
        Field("price", "money", min=1000, max=10_000_000, quality_weight=2.0),
        Field("mileage", "distance_miles", min=0, max=2_000_000, quality_weight=1.0),
        Field("vin", "vin", quality_weight=2.0),
        Field("stock_number", "text", max_len=100, quality_weight=0.5),
        Field("condition", "enum", choices=CONDITIONS, quality_weight=1.0),
        Field("category", "enum", choices=CATEGORIES, quality_weight=0.5),
    ),
    identity_keys=(("vin",), ("source", "source_listing_id")),
    content_fields=(
        "source_listing_id", "source_url", "title", "description", "image_url",
        "city", "state", "posted_at", "make", "model", "year", "price",
        "mileage", "vin", "stock_number", "condition", "category",
    ),
    market_keys=("make", "model", "year"),
    market_value="price",
    row_rules=(
        # The upper bound depends on the partition date, not the wall clock,
        # so re-running an old day gives the same verdicts.
        RowRule(
            "year_in_future",
            fails=lambda day: pl.col("year") > day.dt.year() + 2,
            message=lambda: pl.format("year: {} is in the future", pl.col("year")),
        ),
    ),
    derived=(
        ("title", lambda: pl.coalesce(
            pl.col("title"),
            pl.concat_str([pl.col("year").cast(pl.String), pl.col("make"), pl.col("model")],
                          separator=" ", ignore_nulls=True),
        )),
    ),
)
