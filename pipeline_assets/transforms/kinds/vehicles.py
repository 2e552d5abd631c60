"""Vehicle listings: dealer sites and marketplaces.

Rules follow the automotive batch pipeline reference: make/model required
(1-100 chars), year an integer from 1920 (older is "too old for database")
to the listing year + 2, price between 1,000 and 10,000,000 when present,
US two-letter states, and the condition/category enumerations.
"""

import dataclasses

import polars as pl

from .base import Field, Kind, RowRule
from . import resolution as _res
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


# --- entity resolution ------------------------------------------------------
# Make spellings seen across dealer feeds and marketplaces (token level; an
# empty string drops the token, so "Mercedes-Benz" and "Mercedes" agree).
MAKE_SYNONYMS = {
    "chevy": "chevrolet", "chev": "chevrolet", "vw": "volkswagen", "volks": "volkswagen",
    "mb": "mercedes", "merc": "mercedes", "benz": "", "mercedesbenz": "mercedes",
    "land": "landrover", "rover": "", "alfa": "alfaromeo", "romeo": "", "caddy": "cadillac",
    "olds": "oldsmobile", "pontiac": "pontiac", "mopar": "", "ford": "ford",
}
# Words in titles that carry no identity ("for sale", trim noise).
TITLE_WORDS = {**MAKE_SYNONYMS, "for": "", "sale": "", "the": "", "a": "", "w": "", "with": "", "and": ""}

def _known_tokens() -> pl.Expr:
    """Make, model and year as tokens (from the columns prepared before)."""
    return pl.concat_list(
        pl.col("make_t").fill_null("").str.split(" "),
        pl.col("model_t").fill_null("").str.split(" "),
        pl.col("model_n").fill_null(""),
        pl.col("year").cast(pl.String).fill_null(""),
    )


def _title_rest() -> pl.Expr:
    """What a title says beyond make, model and year (trim, colour, extras):
    those three have comparisons of their own, and counting them again inside
    the title would over-state the evidence of every same-model look-alike."""
    rest = pl.col("title_n").str.split(" ").list.set_difference(_known_tokens()).list.sort().list.join(" ")
    return rest.replace("", None)


def _desc_rest() -> pl.Expr:
    """The description's words minus make, model and year, for the same reason
    (a token set: order does not matter)."""
    words = _res.text_norm("description", fold_accents=False).str.split(" ")
    return words.list.set_difference(_known_tokens()).list.join(" ").replace("", None)


VEHICLES_RESOLUTION = _res.Resolution(
    prepare=(
        ("vin_n", lambda: pl.col("vin").str.to_uppercase()),
        ("make_t", lambda: _res.text_norm("make", MAKE_SYNONYMS)),
        ("make_n", lambda: pl.col("make_t").str.replace_all(" ", "")),
        ("model_t", lambda: _res.text_norm("model")),
        ("model_n", lambda: pl.col("model_t").str.replace_all(" ", "")),
        ("title_n", lambda: _res.text_norm("title", TITLE_WORDS, sort_tokens=True)),
        ("title_rest", _title_rest),
        ("desc_rest", _desc_rest),
        ("city_n", lambda: _res.text_norm("city")),
    ),
    blocking=(
        _res.BlockingKey("vin", "vin_n", max_block=30),
        # Same make, model and year: small blocks all against all; big ones
        # (every 2024 Camry of a large day) as sorted neighbourhoods, once by
        # price and once by mileage: a duplicate sorts next to its original
        # on at least one of them, a look-alike 10-35% away does not.
        _res.BlockingKey("make_model_year_price", "make_n || '|' || model_n || '|' || year",
                         max_block=16, order_by="price", window=4),
        _res.BlockingKey("make_model_year_mileage", "make_n || '|' || model_n || '|' || year",
                         max_block=16, order_by="mileage", window=4),
        # Model spellings differ ("Silverado 1500" / "Silverado"): city + make + year.
        _res.BlockingKey("city_make_year", "substr(city_n, 1, 5) || '|' || make_n || '|' || year",
                         max_block=16, order_by="price", window=4),
    ),
    minhash_column="title_n",
    comparisons=(
        _res.Comparison("vin", "vin_n", "exact", m=(0.98, 0.02)),
        _res.Comparison("make", "make_n", "fuzzy", (100, 85), scorer="ratio", m=(0.95, 0.03, 0.02),
                        low_cardinality=True),
        _res.Comparison("model", "model_n", "fuzzy", (100, 85), scorer="ratio", m=(0.9, 0.07, 0.03),
                        low_cardinality=True),
        _res.Comparison("year", "year", "absdiff", (0, 1), m=(0.96, 0.03, 0.01)),
        # Sources round prices and reprice by a few per cent; look-alikes are 10%+ apart.
        _res.Comparison("price", "price", "numeric", (0.005, 0.03, 0.08), m=(0.5, 0.35, 0.13, 0.02)),
        # Equal, marketplace rounding to the thousand, a few days' driving, else.
        _res.Comparison("mileage", "mileage", "numeric", (0.0005, 0.02, 0.1), m=(0.6, 0.3, 0.08, 0.02)),
        _res.Comparison("title", "title_rest", "fuzzy", (100, 80), scorer="token_set_ratio",
                        m=(0.7, 0.2, 0.1)),
        # Trim, colour and equipment in the description; dealer boilerplate drops
        # out as frequent tokens.
        _res.Comparison("description", "desc_rest", "jaccard", (0.8, 0.5, 0.25), m=(0.6, 0.3, 0.08, 0.02),
                        max_token_share=0.15),
        _res.Comparison("location", "city_n", "exact", fallback="state", m=(0.9, 0.07, 0.03)),
    ),
    m_from_rule="vin",
    cannot_link=("vin_n",),
    must_link=("vin",),
    completeness=("vin", "price", "mileage", "title", "description", "image_url", "city", "state",
                  "condition", "category", "stock_number", "posted_at"),
    preview=("title", "vin", "price", "mileage", "city"),
)

VEHICLES = dataclasses.replace(VEHICLES, resolution=VEHICLES_RESOLUTION)
