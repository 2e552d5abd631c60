"""Deterministic sample listing files for the pipeline (contract: data/sources.yaml).

Three sources, one file per day:
  dealer_feed      <out>/dealer_feed/<date>.json      one JSON document, records under "inventory"
  marketplace_csv  <out>/marketplace_csv/<date>.csv   CSV with display-formatted price/mileage
  jobs_board       <out>/jobs_board/<date>.jsonl      JSON lines

Two modes share one vectorised record builder:
  * bundled samples (rows=None): ~120 / ~150 / ~100 rows a day with an exactly sized set of
    data-quality cases (invalid rows, verbatim duplicates, cross-source VINs, churn);
  * scale mode (rows=N): about N rows a day in total, built and written in chunks.

Randomness is counter-based: every draw is splitmix64(key * golden + salt), the salt being
derived from (seed, tag). A listing's attributes are a pure function of its key, so a listing
looks the same on every day and in every chunk without carrying state, and reruns are
byte-identical. (numpy is not installed in the project env, so the hash runs on pyarrow
compute, whose non-checked integer multiply is documented to wrap modulo 2**64.)

Listing life cycle, per source and day:
  * day 0 starts with `initial` listings; every later day adds `newborn` new ones and each
    listing dies (sold / filled) with probability TURNOVER; dead listings never come back;
  * a listing may hide for 1-2 days and come back with the same id (gaps start at most every
    third day, so an absence never exceeds two days);
  * prices (salaries for jobs) change on some days;
  * `junk` invalid rows are fresh ids that exist for one day only, so they never disturb the
    life cycle of real listings; a few valid rows are repeated verbatim.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

DEFAULT_START = date(2026, 11, 16)
DEFAULT_DAYS = 5
DEFAULT_SEED = 42
DEFAULT_CHUNK_ROWS = 100_000  # rows per source held in memory at once (~4 KB of RSS per row)

DEALER_NAME = "Redline Classic Motors"
CURRENT_YEAR = 2026

TURNOVER = 0.08  # share of listings sold/filled per day, and share of new ones
GAP_EVERY = 3  # a listing may start hiding only every third day (keeps gaps <= 2 days)
GAP_RATE = 0.09  # chance to start hiding on an eligible day (~3% of listings a day)
REPRICE_RATE = 0.06  # vehicles: chance of a price cut on a given day
RAISE_RATE = 0.03  # jobs: chance of a salary raise on a given day
CROSS_RATE = 0.2  # dealer vehicles cross-posted on the marketplace with the same VIN
INVALID_RATE = 0.02  # scale mode: share of invalid rows per day
DUP_RATE = 0.01  # scale mode: share of verbatim duplicates per day

VEHICLE_DEFECTS = (
    "year_out_of_range",  # 1899 or 2099 (alternating)
    "negative_price",
    "missing_make",
    "malformed_url",
    "price_below_min",  # 500, under the 1000 minimum
    "invalid_vin",  # contains 'O' or has 15 characters (alternating)
)
JOB_DEFECTS = ("negative_salary_min", "missing_company", "malformed_url", "salary_min_gt_max")
BROKEN_URL = "htp:/broken"


# --------------------------------------------------------------------------- randomness

_U64 = pa.uint64()
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


def _u64(value: int) -> pa.Scalar:
    return pa.scalar(value, _U64)


def _salt(seed: int, tag: str) -> int:
    # blake2b, not hash(): Python's str hash is randomised per process.
    digest = hashlib.blake2b(f"{seed}|{tag}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _splitmix(keys: pa.Array, salt: int) -> pa.Array:
    """splitmix64(key * golden + salt) over a uint64 array."""
    z = pc.add(pc.multiply(keys, _u64(_GOLDEN)), _u64(salt))
    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, _u64(30))), _u64(_MIX1))
    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, _u64(27))), _u64(_MIX2))
    return pc.bit_wise_xor(z, pc.shift_right(z, _u64(31)))


class _Rng:
    """Draws for a vector of keys: the same (key, tag) always gives the same value."""

    def __init__(self, keys: pl.Series, seed: int) -> None:
        self._keys = keys.cast(pl.UInt64).rechunk().to_arrow()
        self._seed = seed

    def bits(self, tag: str) -> pl.Series:
        return pl.Series(tag, _splitmix(self._keys, _salt(self._seed, tag)))

    def uniform(self, tag: str) -> pl.Series:
        """Floats in [0, 1) from the top 53 bits."""
        top = pc.shift_right(_splitmix(self._keys, _salt(self._seed, tag)), _u64(11))
        return pl.Series(tag, pc.multiply(pc.cast(top, pa.float64()), 2.0**-53))

    def below(self, n: int, tag: str) -> pl.Series:
        return (self.uniform(tag) * n).floor().cast(pl.Int64)

    def index(self, weights: Sequence[float], tag: str) -> pl.Series:
        """Weighted pick of an index into `weights`."""
        total = sum(weights)
        edges, acc = [], 0.0
        for w in weights[:-1]:
            acc += w / total
            edges.append(acc)
        return pl.Series(edges, dtype=pl.Float64).search_sorted(self.uniform(tag), side="right")


# --------------------------------------------------------------------------- catalogues


@dataclass(frozen=True)
class _Model:
    make: str
    model: str
    body: str
    years: tuple[int, int]
    price: tuple[int, int]
    trims: tuple[str, ...]
    weight: float


_CATALOGUE = (
    _Model("Chevrolet", "Camaro", "Muscle Cars", (1967, 2024), (18_000, 95_000), ("SS", "Z/28", "RS", "ZL1"), 3.0),
    _Model("Chevrolet", "Chevelle", "Muscle Cars", (1964, 1977), (22_000, 110_000), ("SS 396", "SS 454", "Malibu"), 2.5),
    _Model("Chevrolet", "Corvette", "Sports Cars", (1953, 2024), (25_000, 180_000), ("Stingray", "Convertible", "Z06"), 3.0),
    _Model("Chevrolet", "Bel Air", "Classic Cars", (1950, 1975), (15_000, 85_000), ("Sport Coupe", "Convertible"), 2.0),
    _Model("Chevrolet", "Nova", "Muscle Cars", (1962, 1979), (12_000, 60_000), ("SS", "Coupe"), 1.5),
    _Model("Chevrolet", "C10", "Trucks", (1960, 1987), (10_000, 70_000), ("Shortbed", "Cheyenne", "Custom Deluxe"), 2.0),
    _Model("Chevrolet", "3100", "Hot Rods", (1947, 1955), (15_000, 75_000), ("Pickup", "5-Window"), 1.0),
    _Model("Ford", "Mustang", "Muscle Cars", (1964, 2024), (15_000, 120_000), ("GT", "Mach 1", "Boss 302", "Shelby GT500"), 3.5),
    _Model("Ford", "Thunderbird", "Classic Cars", (1955, 1966), (15_000, 80_000), ("Convertible", "Hardtop"), 1.5),
    _Model("Ford", "F-100", "Trucks", (1953, 1983), (10_000, 65_000), ("Custom Cab", "Ranger"), 1.5),
    _Model("Ford", "Bronco", "Trucks", (1966, 1996), (20_000, 150_000), ("Sport", "Eddie Bauer"), 1.5),
    _Model("Ford", "Deluxe Coupe", "Hot Rods", (1932, 1948), (25_000, 120_000), ("5-Window", "Highboy Roadster"), 1.0),
    _Model("Pontiac", "GTO", "Muscle Cars", (1964, 1974), (25_000, 120_000), ("Judge", "Hardtop", "Convertible"), 2.0),
    _Model("Pontiac", "Firebird", "Muscle Cars", (1967, 2002), (12_000, 80_000), ("Trans Am", "Formula 400"), 1.5),
    _Model("Dodge", "Challenger", "Muscle Cars", (1970, 1974), (30_000, 160_000), ("R/T", "T/A"), 1.5),
    _Model("Dodge", "Challenger", "Muscle Cars", (2008, 2023), (25_000, 95_000), ("SRT Hellcat", "R/T Scat Pack"), 1.0),
    _Model("Dodge", "Charger", "Muscle Cars", (1966, 1974), (30_000, 180_000), ("R/T", "500", "Daytona"), 1.5),
    _Model("Dodge", "Power Wagon", "Trucks", (1946, 1968), (20_000, 90_000), ("WM300", "W100"), 0.5),
    _Model("Plymouth", "Barracuda", "Muscle Cars", (1964, 1974), (25_000, 175_000), ("'Cuda 340", "'Cuda 440", "Formula S"), 1.5),
    _Model("Plymouth", "Road Runner", "Muscle Cars", (1968, 1975), (25_000, 110_000), ("383", "GTX", "Superbird"), 1.0),
    _Model("Oldsmobile", "442", "Muscle Cars", (1964, 1972), (20_000, 90_000), ("W-30", "Holiday Coupe"), 1.0),
    _Model("Buick", "Skylark", "Muscle Cars", (1965, 1972), (18_000, 85_000), ("Gran Sport", "GSX"), 0.8),
    _Model("AMC", "Javelin", "Muscle Cars", (1968, 1974), (15_000, 60_000), ("SST", "AMX"), 0.6),
    _Model("Shelby", "Cobra", "Sports Cars", (1962, 1967), (80_000, 250_000), ("289", "427"), 0.5),
    _Model("Porsche", "911", "Sports Cars", (1964, 2024), (45_000, 240_000), ("Carrera", "Targa", "Turbo"), 2.0),
    _Model("Porsche", "356", "Classic Cars", (1950, 1965), (60_000, 220_000), ("Speedster", "Coupe", "Cabriolet"), 0.7),
    _Model("Jaguar", "E-Type", "Classic Cars", (1961, 1975), (60_000, 220_000), ("Series 1 Roadster", "V12 Roadster"), 1.0),
    _Model("Jaguar", "XK120", "Classic Cars", (1950, 1954), (80_000, 240_000), ("Roadster", "Fixed Head Coupe"), 0.3),
    _Model("Ferrari", "308", "Sports Cars", (1975, 1985), (70_000, 150_000), ("GTS", "GTB", "GTSi"), 0.5),
    _Model("Ferrari", "Testarossa", "Sports Cars", (1985, 1991), (110_000, 240_000), ("Monospecchio", "Coupe"), 0.4),
    _Model("Ferrari", "Dino", "Sports Cars", (1969, 1974), (150_000, 250_000), ("246 GT", "246 GTS"), 0.3),
    _Model("Mercedes-Benz", "280SL", "Luxury Cars", (1968, 1971), (60_000, 160_000), ("Pagoda", "Roadster"), 0.8),
    _Model("Cadillac", "Eldorado", "Luxury Cars", (1953, 1978), (15_000, 90_000), ("Biarritz", "Convertible"), 1.0),
    _Model("Cadillac", "DeVille", "Luxury Cars", (1959, 1976), (12_000, 55_000), ("Coupe", "Convertible"), 0.8),
    _Model("Lincoln", "Continental", "Luxury Cars", (1961, 1969), (20_000, 90_000), ("Sedan", "Convertible"), 0.8),
    _Model("Rolls-Royce", "Silver Shadow", "Luxury Cars", (1965, 1980), (20_000, 70_000), ("I", "II"), 0.3),
    _Model("Datsun", "240Z", "Sports Cars", (1970, 1973), (20_000, 80_000), ("Series I", "Coupe"), 0.7),
    _Model("BMW", "2002", "Sports Cars", (1968, 1976), (15_000, 70_000), ("tii", "Turbo"), 0.5),
    _Model("Toyota", "Land Cruiser", "Trucks", (1960, 1984), (25_000, 110_000), ("FJ40", "FJ55"), 0.8),
    _Model("Jeep", "CJ-5", "Trucks", (1955, 1983), (10_000, 40_000), ("Renegade", "Golden Eagle"), 0.6),
    _Model("Volkswagen", "Beetle", "Classic Cars", (1950, 1979), (8_000, 35_000), ("Convertible", "Oval Window"), 1.0),
)

_CONDITIONS = ("Excellent", "Very Good", "Good", "Fair", "Project")
_CONDITION_WEIGHTS = (25, 30, 25, 12, 8)
_CONDITION_PRICE = (1.2, 1.0, 0.85, 0.65, 0.45)

_CITIES = (
    ("Scottsdale", "AZ"), ("Phoenix", "AZ"), ("Los Angeles", "CA"), ("San Diego", "CA"),
    ("Sacramento", "CA"), ("Denver", "CO"), ("Hartford", "CT"), ("Miami", "FL"),
    ("Tampa", "FL"), ("Orlando", "FL"), ("Atlanta", "GA"), ("Boise", "ID"),
    ("Chicago", "IL"), ("Indianapolis", "IN"), ("Wichita", "KS"), ("Louisville", "KY"),
    ("New Orleans", "LA"), ("Boston", "MA"), ("Baltimore", "MD"), ("Detroit", "MI"),
    ("Minneapolis", "MN"), ("St. Louis", "MO"), ("Charlotte", "NC"), ("Omaha", "NE"),
    ("Las Vegas", "NV"), ("Buffalo", "NY"), ("Columbus", "OH"), ("Tulsa", "OK"),
    ("Portland", "OR"), ("Pittsburgh", "PA"), ("Nashville", "TN"), ("Dallas", "TX"),
    ("Houston", "TX"), ("Austin", "TX"), ("Salt Lake City", "UT"), ("Richmond", "VA"),
    ("Seattle", "WA"), ("Milwaukee", "WI"),
)

_FEATURES = (
    "numbers-matching V8", "4-speed manual", "frame-off restoration", "fresh paint",
    "new interior", "power steering", "power disc brakes", "documented history",
    "garage kept", "factory A/C", "original window sticker", "rebuilt engine",
    "rust-free southern car", "new chrome bumpers", "upgraded suspension", "recent tune-up",
)

_TITLE_SUFFIXES = ("", "", "", "", ", numbers matching", ", frame-off restoration", ' "Survivor"', ", 1 owner")

_JOB_TITLES = (  # title, salary low, salary high
    ("Restoration Technician", 48_000, 78_000),
    ("Master Mechanic", 60_000, 95_000),
    ("Auto Body Painter", 45_000, 72_000),
    ("Upholstery Specialist", 40_000, 62_000),
    ("Classic Car Sales Consultant", 45_000, 110_000),
    ("Service Advisor", 42_000, 68_000),
    ("Parts Counter Associate", 34_000, 48_000),
    ("Detailer", 30_000, 42_000),
    ("Fabricator / Welder", 45_000, 70_000),
    ("Transport Driver (CDL-A)", 55_000, 85_000),
    ("Auction Specialist", 50_000, 90_000),
    ("Inventory Photographer", 38_000, 55_000),
    ("Shop Foreman", 65_000, 100_000),
    ("Marketing Coordinator", 45_000, 65_000),
    ("Data Engineer", 95_000, 150_000),
    ("Customer Support Representative", 35_000, 50_000),
)
_JOB_TYPES = ("Full-time", "Part-time", "Contract")
_JOB_TYPE_WEIGHTS = (70, 15, 15)
_JOB_TYPE_PAY = (1.0, 0.5, 1.2)
_COMPANIES = (
    "Redline Restorations", "Heritage Motorworks, LLC", "Chrome & Steel Garage", "Vintage Iron Co.",
    "Blue Oval Classics", "Muscle Car Depot", "Route 66 Auto Body", "Sunbelt Collector Cars",
    "Pistonhead Performance", "Golden Era Autos", "Midwest Hot Rod Shop", "Coastal Classic Transport",
    "Barn Find Brokers", "Concours Detailing", "Gearhead Auctions Inc.", "Patina Parts Supply",
    "Northstar Upholstery", "Big Block Fabrication", "Legacy Motor Club", "Drivetrain Data Labs",
)
_JOB_BLURBS = (
    "Competitive pay, health benefits and paid time off.",
    "Experience with pre-1980 vehicles preferred.",
    "Bring your own tools; tool allowance provided.",
    "Weekend work required during auction season.",
    "Join a small, passionate team of enthusiasts.",
    "ASE certification a plus, but we will train the right person.",
)

_VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"  # 33 symbols: no I, O, Q

_MODELS = pl.DataFrame(
    {
        "make": [m.make for m in _CATALOGUE],
        "model": [m.model for m in _CATALOGUE],
        "body": [m.body for m in _CATALOGUE],
        "ymin": [m.years[0] for m in _CATALOGUE],
        "ymax": [m.years[1] for m in _CATALOGUE],
        "pmin": [float(m.price[0]) for m in _CATALOGUE],
        "pmax": [float(m.price[1]) for m in _CATALOGUE],
        "trim_at": [sum(len(x.trims) for x in _CATALOGUE[:i]) for i in range(len(_CATALOGUE))],
        "trim_n": [len(m.trims) for m in _CATALOGUE],
    }
)
_TRIMS = pl.Series("trim", [t for m in _CATALOGUE for t in m.trims])


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class _Plan:
    """How many listings a source has; keys are laid out in blocks by birth day."""

    initial: int  # valid listings on day 0
    newborn: int  # valid listings added on each later day
    junk: int  # invalid one-day rows per day
    duplicates: int | None  # verbatim repeats per day; None -> DUP_RATE per chunk

    def block(self, born: int) -> tuple[int, int]:
        """(first key, number of valid keys) of the block born on day `born`; its junk follows."""
        if born == 0:
            return 0, self.initial
        return self.initial + self.junk + (born - 1) * (self.newborn + self.junk), self.newborn

    def pieces(self, day: int, chunk_rows: int) -> Iterator[tuple[int, int, int, bool]]:
        """(born, first key, end key, junk) ranges of keys that can appear on `day`."""
        for born in range(day + 1):
            base, valid = self.block(born)
            ranges = [(base, base + valid, False)]
            if born == day:  # junk rows live for one day only
                ranges.append((base + valid, base + valid + self.junk, True))
            for lo, hi, junk in ranges:
                for first in range(lo, hi, chunk_rows):
                    yield born, first, min(first + chunk_rows, hi), junk


@dataclass(frozen=True)
class _Day:
    seed: int
    start: date
    index: int  # days since start
    plans: dict[str, _Plan]

    @property
    def date(self) -> date:
        return self.start + timedelta(days=self.index)


# --------------------------------------------------------------------------- shared pieces


def _visible(life: pl.Series, born: int, day: int, seed: int) -> pl.Series:
    """Alive (not sold/filled since birth) and not inside a temporary 1-2 day gap."""
    rng = _Rng(life, seed)
    visible = pl.Series("visible", [True] * len(life))
    for s in range(born + 1, day + 1):
        visible &= rng.uniform(f"death:{s}") >= TURNOVER
    phase = rng.below(GAP_EVERY, "gap-phase")
    for s in (day - 1, day):
        if s < born + 1:
            continue
        starts = ((phase + s) % GAP_EVERY == 0) & (rng.uniform(f"gap:{s}") < GAP_RATE)
        length = 1 + (rng.uniform(f"gap-len:{s}") < 0.5).cast(pl.Int64)
        visible &= ~(starts & (length > day - s))
    return visible


def _drift(life: pl.Series, born: int, day: int, seed: int, rate: float, lo: float, hi: float) -> pl.Series:
    """Cumulative price factor: on each day since birth, with probability `rate`, x U(lo, hi)."""
    rng = _Rng(life, seed)
    factor = pl.Series("factor", [1.0] * len(life))
    for s in range(born + 1, day + 1):
        step = lo + (hi - lo) * rng.uniform(f"drift-size:{s}")
        factor *= pl.select(pl.when(rng.uniform(f"drift:{s}") < rate).then(step).otherwise(1.0)).to_series()
    return factor


def _posted_offset(rng: _Rng, born: int) -> pl.Series:
    """Days from the start date to the posting date (old stock was posted before day 0)."""
    if born == 0:
        return -rng.below(60, "posted")
    return born - (rng.uniform("posted") < 0.3).cast(pl.Int64)


def _grouped(value: pl.Expr) -> pl.Expr:
    """|value| with a thousands separator ("34,995"); values stay below 1,000,000 here."""
    a = value.abs().cast(pl.Int64)
    return (
        pl.when(a >= 1000)
        .then(pl.concat_str(a // 1000, pl.lit(","), (a % 1000).cast(pl.String).str.zfill(3)))
        .otherwise(a.cast(pl.String))
    )


def _vins(rng: _Rng) -> pl.Series:
    """17 symbols from the VIN alphabet (12 base-33 digits fit in 64 bits, so two hashes)."""
    alphabet = pl.Series(list(_VIN_ALPHABET))
    chars: dict[str, pl.Series] = {}
    for tag, count in (("vin-a", 9), ("vin-b", 8)):
        h = rng.bits(tag)
        for _ in range(count):
            chars[f"c{len(chars)}"] = alphabet.gather(h % 33)
            h = h // 33
    return pl.DataFrame(chars).select(pl.concat_str(pl.all()).alias("vin")).to_series()


def _vehicle_identity(day: _Day, source: str, keys: pl.Series, born: int, junk: bool) -> pl.DataFrame:
    """Listing key, vehicle id and cross-posting flag of the listings visible on the day.

    Cross-posted cars pair dealer and marketplace listings at the same offset of the same birth
    block; the marketplace listing then describes the dealer's vehicle (same VIN) and shares its
    life cycle, so both disappear when the car is sold.
    """
    dealer, market = day.plans["dealer_feed"], day.plans["marketplace_csv"]
    base, valid = day.plans[source].block(born)
    offset = keys.cast(pl.Int64) - base
    shared = min(dealer.block(born)[1], market.block(born)[1])
    dealer_vid = offset + (_NAMESPACE["dealer_feed"] + dealer.block(born)[0])
    own_vid = keys.cast(pl.Int64) + _NAMESPACE[source]
    cross = (offset < shared) & (_Rng(dealer_vid, day.seed).uniform("cross") < CROSS_RATE)
    if junk:
        cross = pl.Series([False] * len(keys))
    vid = pl.select(pl.when(cross).then(dealer_vid).otherwise(own_vid)).to_series()
    ident = pl.DataFrame({"_key": own_vid, "vid": vid, "cross": cross, "junk_idx": offset - valid})
    return ident if junk else ident.filter(_visible(ident["vid"], born, day.index, day.seed))


def _vehicle_attrs(ident: pl.DataFrame, born: int, day: _Day, junk: bool) -> pl.DataFrame:
    """Vehicle facts (from the vehicle id), today's price and any injected defect."""
    vid, key = ident["vid"], ident["_key"]
    vrng, lrng = _Rng(vid, day.seed), _Rng(key, day.seed)
    models = _MODELS[vrng.index([m.weight for m in _CATALOGUE], "model")]
    cond = vrng.index(_CONDITION_WEIGHTS, "condition")
    city = vrng.below(len(_CITIES), "city")
    feat1 = vrng.below(len(_FEATURES), "feature-1")
    defects = len(VEHICLE_DEFECTS)
    feat2 = (feat1 + 1 + vrng.below(len(_FEATURES) - 1, "feature-2")) % len(_FEATURES)  # distinct
    df = pl.concat([ident, models], how="horizontal").with_columns(
        condition=pl.Series(_CONDITIONS).gather(cond),
        cond_mult=pl.Series(_CONDITION_PRICE).gather(cond),
        city=pl.Series([c for c, _ in _CITIES]).gather(city),
        state=pl.Series([s for _, s in _CITIES]).gather(city),
        feat1=pl.Series(_FEATURES).gather(feat1),
        feat2=pl.Series(_FEATURES).gather(feat2),
        vin=_vins(vrng),
        u_year=vrng.uniform("year"),
        u_trim=vrng.uniform("trim"),
        u_price=vrng.uniform("price"),
        u_miles=vrng.uniform("miles"),
        u_resto=vrng.uniform("restomod"),
        price_995=vrng.uniform("price-style") < 0.5,
        u_vin_gone=vrng.uniform("vin-missing"),
        factor=_drift(vid, born, day.index, day.seed, REPRICE_RATE, 0.90, 0.98),
        posted=_posted_offset(lrng, born),
        defect=(ident["junk_idx"] % defects) if junk else pl.Series([None] * len(ident), dtype=pl.Int64),
        variant=((ident["junk_idx"] // defects + day.index) % 2) if junk else pl.Series([0] * len(ident)),
    )
    year = (pl.col("ymin") + (pl.col("u_year") * (pl.col("ymax") - pl.col("ymin") + 1)).floor()).cast(pl.Int64)
    raw = (
        (pl.col("pmin").log() + pl.col("u_price") * (pl.col("pmax").log() - pl.col("pmin").log())).exp()
        * pl.col("cond_mult")
    ).clip(8_000, 250_000) * pl.col("factor")
    price = pl.when(pl.col("price_995")).then((raw / 100).round() * 100 - 5).otherwise((raw / 500).round() * 500)
    df = df.with_columns(
        year=year,
        trim=pl.lit(_TRIMS).gather((pl.col("trim_at") + (pl.col("u_trim") * pl.col("trim_n")).floor()).cast(pl.Int64)),
        price=price.cast(pl.Int64),
        posted=pl.lit(day.start) + pl.duration(days=pl.col("posted")),
    ).with_columns(
        body_style=pl.when((pl.col("year") < 1990) & (pl.col("u_resto") < 0.12))
        .then(pl.lit("Restomods"))
        .otherwise(pl.col("body")),
        # Skewed miles per year: most collector cars are driven little, a few are daily drivers.
        # Age counts up to 45 years: past that, cars sat in collections rather than on the road.
        miles=((CURRENT_YEAR - pl.col("year")).clip(1, 45) * (200 + 4_800 * pl.col("u_miles") ** 2))
        .clip(12, 250_000)
        .round()
        .cast(pl.Int64),
        description=pl.concat_str(
            pl.col("year").cast(pl.String), pl.lit(" "), "make", pl.lit(" "), "model", pl.lit(" "), "trim",
            pl.lit(" in "), pl.col("condition").str.to_lowercase(), pl.lit(" condition: "), "feat1",
            pl.lit(", "), "feat2", pl.lit(". Located in "), "city", pl.lit(", "), "state", pl.lit("."),
        ),
    )
    return _apply_vehicle_defects(df)


def _apply_vehicle_defects(df: pl.DataFrame) -> pl.DataFrame:
    d, v = pl.col("defect"), pl.col("variant")
    kind = {name: d == i for i, name in enumerate(VEHICLE_DEFECTS)}
    bad_vin = (
        pl.when(v == 0)
        .then(pl.concat_str(pl.col("vin").str.slice(0, 4), pl.lit("O"), pl.col("vin").str.slice(5)))
        .otherwise(pl.col("vin").str.slice(0, 15))
    )
    return df.with_columns(
        year=pl.when(kind["year_out_of_range"]).then(pl.when(v == 0).then(1899).otherwise(2099)).otherwise("year"),
        price=pl.when(kind["negative_price"]).then(-pl.col("price"))
        .when(kind["price_below_min"]).then(500)
        .otherwise("price"),
        make=pl.when(kind["missing_make"]).then(None).otherwise("make"),
        vin=pl.when(kind["invalid_vin"]).then(bad_vin).otherwise("vin"),
        broken_url=kind["malformed_url"].fill_null(False),
        keep_vin=kind["invalid_vin"].fill_null(False) | pl.col("cross"),
    )


def _url(broken: pl.Expr, prefix: str, ident: pl.Expr) -> pl.Expr:
    return pl.when(broken).then(pl.lit(BROKEN_URL)).otherwise(pl.concat_str(pl.lit(prefix), ident))


def _id(prefix: str, key: pl.Expr, width: int, namespace: int) -> pl.Expr:
    return pl.concat_str(pl.lit(prefix), (key - namespace).cast(pl.String).str.zfill(width))


# --------------------------------------------------------------------------- sources


def _dealer_rows(day: _Day, keys: pl.Series, born: int, junk: bool) -> pl.DataFrame:
    df = _vehicle_attrs(_vehicle_identity(day, "dealer_feed", keys, born, junk), born, day, junk)
    ns = _NAMESPACE["dealer_feed"]
    listing_id = _id("DF-", pl.col("_key"), 6, ns)
    return df.select(
        "_key",
        pl.col("defect").is_not_null().alias("_junk"),
        listing_id.alias("id"),
        # ~10% of dealer records lack a VIN (12.5% of those not cross-posted or bad-VIN rows).
        pl.when((pl.col("u_vin_gone") < 0.125) & ~pl.col("keep_vin")).then(None).otherwise("vin").alias("vin"),
        _id("STK-", pl.col("_key"), 5, ns).alias("stock_no"),
        "make",
        "model",
        "year",
        pl.col("price").cast(pl.Float64),
        pl.col("miles").alias("odometer"),
        "condition",
        "body_style",
        pl.struct("city", "state").alias("location"),
        "description",
        pl.concat_str(pl.lit("https://img.dealer.example.com/inventory/"), listing_id, pl.lit("/main.jpg")).alias("photo"),
        _url(pl.col("broken_url"), "https://dealer.example.com/inventory/", listing_id).alias("detail_url"),
        pl.col("posted").cast(pl.String).alias("listed_on"),
    )


def _marketplace_rows(day: _Day, keys: pl.Series, born: int, junk: bool) -> pl.DataFrame:
    df = _vehicle_attrs(_vehicle_identity(day, "marketplace_csv", keys, born, junk), born, day, junk)
    lrng = _Rng(df["_key"], day.seed)
    df = df.with_columns(
        suffix=pl.Series(_TITLE_SUFFIXES).gather(lrng.below(len(_TITLE_SUFFIXES), "title-suffix")),
        in_km=lrng.uniform("km") < 0.3,
        u_blank_vin=lrng.uniform("vin-blank"),
        u_no_image=lrng.uniform("no-image"),
    )
    listing_id = _id("MP-", pl.col("_key"), 7, _NAMESPACE["marketplace_csv"])
    km = (pl.col("miles") * 1.609344).round().cast(pl.Int64)
    return df.select(
        "_key",
        pl.col("defect").is_not_null().alias("_junk"),
        listing_id.alias("Listing ID"),
        # Built after defects, so a row with a missing Make does not name it in the title either.
        pl.concat_str(
            pl.col("year").cast(pl.String), pl.lit(" "), pl.col("make").fill_null(pl.lit("")),
            pl.lit(" "), "model", pl.lit(" "), "trim", "suffix",
        ).str.replace_all("  ", " ").alias("Title"),
        pl.col("make").alias("Make"),
        pl.col("model").alias("Model"),
        pl.col("year").alias("Year"),
        pl.concat_str(pl.when(pl.col("price") < 0).then(pl.lit("-$")).otherwise(pl.lit("$")), _grouped(pl.col("price")))
        .alias("Price"),
        pl.when(pl.col("in_km"))
        .then(pl.concat_str(_grouped(km), pl.lit("km")))
        .otherwise(pl.concat_str(_grouped(pl.col("miles")), pl.lit(" mi")))
        .alias("Mileage"),
        # Private sellers often leave the VIN out; cross-posted cars always carry it.
        pl.when((pl.col("u_blank_vin") < 0.45) & ~pl.col("keep_vin")).then(None).otherwise("vin").alias("VIN"),
        pl.col("city").alias("City"),
        pl.col("state").alias("State"),
        pl.col("condition").alias("Condition"),
        _url(pl.col("broken_url"), "https://market.example.com/l/", listing_id).alias("URL"),
        pl.when(pl.col("u_no_image") < 0.05)
        .then(None)
        .otherwise(pl.concat_str(pl.lit("https://img.market.example.com/l/"), listing_id, pl.lit(".jpg")))
        .alias("Image"),
        pl.col("posted").dt.strftime("%m/%d/%Y").alias("Posted"),
    )


def _jobs_rows(day: _Day, keys: pl.Series, born: int, junk: bool) -> pl.DataFrame:
    plan = day.plans["jobs_board"]
    key = keys.cast(pl.Int64) + _NAMESPACE["jobs_board"]
    junk_idx = keys.cast(pl.Int64) - sum(plan.block(born))
    if not junk:
        seen = _visible(key, born, day.index, day.seed)
        key, junk_idx = key.filter(seen), junk_idx.filter(seen)
    rng = _Rng(key, day.seed)
    title = rng.below(len(_JOB_TITLES), "title")
    jtype = rng.index(_JOB_TYPE_WEIGHTS, "type")
    city = rng.below(len(_CITIES), "city")
    n = len(key)
    df = pl.DataFrame(
        {
            "_key": key,
            "title": pl.Series([t for t, _, _ in _JOB_TITLES]).gather(title),
            "lo": pl.Series([float(lo) for _, lo, _ in _JOB_TITLES]).gather(title),
            "hi": pl.Series([float(hi) for _, _, hi in _JOB_TITLES]).gather(title),
            "type": pl.Series(_JOB_TYPES).gather(jtype),
            "pay": pl.Series(_JOB_TYPE_PAY).gather(jtype),
            "company": pl.Series(_COMPANIES).gather(rng.below(len(_COMPANIES), "company")),
            "blurb": pl.Series(_JOB_BLURBS).gather(rng.below(len(_JOB_BLURBS), "blurb")),
            "city": pl.Series([c for c, _ in _CITIES]).gather(city),
            "state": pl.Series([s for _, s in _CITIES]).gather(city),
            "u_min": rng.uniform("salary-min"),
            "u_spread": rng.uniform("salary-spread"),
            "has_salary": rng.uniform("salary-missing") >= 0.15,
            "factor": _drift(key, born, day.index, day.seed, RAISE_RATE, 1.03, 1.08),
            "posted": _posted_offset(rng, born),
            "defect": (junk_idx % len(JOB_DEFECTS)) if junk else pl.Series([None] * n, dtype=pl.Int64),
        }
    )
    kind = {name: pl.col("defect") == i for i, name in enumerate(JOB_DEFECTS)}
    smin = ((pl.col("lo") + pl.col("u_min") * (pl.col("hi") - pl.col("lo"))) * pl.col("pay") * pl.col("factor") / 1000).round() * 1000
    df = df.with_columns(smin=smin.cast(pl.Int64)).with_columns(
        smax=((pl.col("smin") * (1.1 + 0.3 * pl.col("u_spread"))) / 1000).round().cast(pl.Int64) * 1000,
    )
    salary_min = (
        pl.when(kind["negative_salary_min"]).then(-pl.col("smin"))
        .when(kind["salary_min_gt_max"]).then(pl.col("smax"))
        .otherwise("smin")
    )
    salary_max = pl.when(kind["salary_min_gt_max"]).then(pl.col("smin")).otherwise("smax")
    salaried = pl.col("has_salary") | kind["negative_salary_min"].fill_null(False) | kind["salary_min_gt_max"].fill_null(False)
    job_id = _id("JOB-", pl.col("_key"), 6, _NAMESPACE["jobs_board"])
    return df.select(
        "_key",
        pl.col("defect").is_not_null().alias("_junk"),
        job_id.alias("job_id"),
        "title",
        pl.when(kind["missing_company"]).then(None).otherwise(pl.struct(name="company")).alias("company"),
        pl.struct("city", "state").alias("location"),
        pl.when(salaried).then(pl.struct(min=salary_min, max=salary_max)).otherwise(None).alias("salary"),
        "type",
        pl.concat_str(
            "company", pl.lit(" is hiring a "), pl.col("type").str.to_lowercase(), pl.lit(" "), "title",
            pl.lit(" in "), "city", pl.lit(", "), "state", pl.lit(". "), "blurb",
        ).alias("description"),
        _url(kind["malformed_url"].fill_null(False), "https://jobs.example.com/j/", job_id).alias("url"),
        (pl.lit(day.start) + pl.duration(days=pl.col("posted"))).cast(pl.String).alias("posted"),
    )


@dataclass(frozen=True)
class _Source:
    name: str
    fmt: str  # csv | jsonl | json (also the file extension)
    share: float  # share of `rows` in scale mode
    sample: _Plan  # bundled-sample sizes
    build: Callable[[_Day, pl.Series, int, bool], pl.DataFrame]


SOURCES: dict[str, _Source] = {
    s.name: s
    for s in (
        _Source("dealer_feed", "json", 0.3, _Plan(120, 10, len(VEHICLE_DEFECTS), 1), _dealer_rows),
        _Source("marketplace_csv", "csv", 0.4, _Plan(150, 12, len(VEHICLE_DEFECTS), 3), _marketplace_rows),
        _Source("jobs_board", "jsonl", 0.3, _Plan(100, 8, len(JOB_DEFECTS), 2), _jobs_rows),
    )
}
# Keys are offset per source so that draws (and listing ids) never collide across sources.
_NAMESPACE = {"dealer_feed": 1 << 40, "marketplace_csv": 2 << 40, "jobs_board": 3 << 40}


def _plans(rows: int | None) -> dict[str, _Plan]:
    if rows is None:
        return {name: s.sample for name, s in SOURCES.items()}
    # Sized for day 0; later days run ~4% lower because some listings sit in a 1-2 day gap.
    plans = {}
    for name, s in SOURCES.items():
        n = max(1, round(rows * s.share))
        initial = max(1, round(n * (1 - INVALID_RATE - DUP_RATE)))
        plans[name] = _Plan(initial, round(initial * TURNOVER), round(n * INVALID_RATE), None)
    return plans


# --------------------------------------------------------------------------- writing


def _finish_chunk(buf: pl.DataFrame, day: _Day, duplicates: int | None) -> pl.DataFrame:
    """Add verbatim duplicates of valid rows and shuffle into a stable per-listing order."""
    rng = _Rng(buf["_key"], day.seed)
    buf = buf.with_columns(_order=rng.bits("order"), _pick=rng.uniform(f"dup:{day.index}"))
    count = duplicates if duplicates is not None else round(DUP_RATE * buf.height)
    dups = buf.filter(~pl.col("_junk")).sort("_pick", "_key").head(count)
    dups = dups.with_columns(_order=_Rng(dups["_key"], day.seed).bits(f"dup-order:{day.index}"))
    # Ordering by a hash of the id (not the day) keeps files diff-friendly from day to day.
    return pl.concat([buf, dups]).sort("_order", "_key").drop("_key", "_junk", "_order", "_pick")


class _Sink:
    """One day file, written chunk by chunk."""

    def __init__(self, path: Path, fmt: str, day: _Day, pretty: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.fmt, self.pretty, self.rows = path, fmt, pretty, 0
        self._file = path.open("wb")
        self._header = {"dealer": DEALER_NAME, "generated_at": f"{day.date.isoformat()}T06:00:00Z"}
        self._records: list[dict[str, Any]] = []
        self._columns: list[str] | None = None
        if fmt == "json" and not pretty:
            self._file.write(json.dumps(self._header, separators=(",", ":"))[:-1].encode() + b',"inventory":')

    def write(self, df: pl.DataFrame) -> None:
        if self.fmt == "csv":
            df.write_csv(self._file, include_header=self.rows == 0)
        elif self.fmt == "jsonl":
            df.write_ndjson(self._file)
        elif self.pretty:
            self._records.extend(df.to_dicts())
        elif self.rows == 0:
            df.write_json(self._file)
        else:
            # Stream one JSON array: overwrite the closing ']' with this chunk's array, then
            # turn its opening '[' into the ',' that separates it from the previous chunk.
            self._file.seek(-1, io.SEEK_END)
            joint = self._file.tell()
            df.write_json(self._file)
            self._file.seek(joint)
            self._file.write(b",")
            self._file.seek(0, io.SEEK_END)
        self.rows += df.height

    def close(self, empty: pl.DataFrame) -> None:
        if self.fmt == "csv" and self.rows == 0:
            empty.write_csv(self._file)  # header only
        elif self.fmt == "json" and self.pretty:
            doc = {**self._header, "inventory": self._records}
            self._file.write(json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n")
        elif self.fmt == "json":
            self._file.write(b"[]}" if self.rows == 0 else b"}")
        self._file.close()


def _write_day(source: _Source, day: _Day, path: Path, chunk_rows: int, pretty: bool) -> int:
    plan = day.plans[source.name]
    sink = _Sink(path, source.fmt, day, pretty)
    buffer: list[pl.DataFrame] = []
    buffered = 0
    empty: pl.DataFrame | None = None

    def flush() -> None:
        nonlocal buffer, buffered
        if buffered:
            sink.write(_finish_chunk(pl.concat(buffer), day, plan.duplicates))
        buffer, buffered = [], 0

    for born, lo, hi, junk in plan.pieces(day.index, chunk_rows):
        keys = pl.int_range(lo, hi, dtype=pl.UInt64, eager=True)
        part = source.build(day, keys, born, junk)
        if empty is None:
            empty = part.clear().drop("_key", "_junk")
        if part.height == 0:
            continue
        if buffered + part.height > chunk_rows:
            flush()
        buffer.append(part)
        buffered += part.height
    flush()
    sink.close(empty if empty is not None else pl.DataFrame())
    return sink.rows


def generate(
    out_dir: str | Path,
    start: date = DEFAULT_START,
    days: int = DEFAULT_DAYS,
    rows: int | None = None,
    seed: int = DEFAULT_SEED,
    sources: list[str] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> dict[str, Any]:
    """Write sample files and return {"files": [...], "rows": {source: {date: n}}}.

    rows=None writes the small bundled samples; rows=N writes about N rows a day split
    40% marketplace_csv / 30% dealer_feed / 30% jobs_board. A day's file depends only on
    (seed, start, its day index, rows, chunk_rows), not on `days`; chunk_rows only matters
    once a source has more rows a day than one chunk (duplicates and order are per chunk).
    """
    names = list(SOURCES) if sources is None else sources
    unknown = sorted(set(names) - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown sources {unknown}; known: {sorted(SOURCES)}")
    if days < 1 or (rows is not None and rows < 1) or chunk_rows < 1:
        raise ValueError("days, rows and chunk_rows must be positive")
    out = Path(out_dir)
    plans = _plans(rows)
    files: list[str] = []
    counts: dict[str, dict[str, int]] = {}
    for name in names:
        source = SOURCES[name]
        counts[name] = {}
        for index in range(days):
            day = _Day(seed, start, index, plans)
            path = out / name / f"{day.date.isoformat()}.{source.fmt}"
            counts[name][day.date.isoformat()] = _write_day(source, day, path, chunk_rows, pretty=rows is None)
            files.append(str(path))
    return {"files": files, "rows": counts}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/samples", help="output directory (default: data/samples)")
    parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="first day, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    parser.add_argument("--rows", type=int, default=None, help="scale mode: about this many rows a day in total")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--sources", default=None, help="comma-separated subset of " + ",".join(SOURCES))
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    args = parser.parse_args(argv)
    result = generate(
        args.out,
        start=args.start,
        days=args.days,
        rows=args.rows,
        seed=args.seed,
        sources=args.sources.split(",") if args.sources else None,
        chunk_rows=args.chunk_rows,
    )
    json.dump(result["rows"], sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
