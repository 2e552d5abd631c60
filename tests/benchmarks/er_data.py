"""Labeled listings for entity resolution: generator and scoring.

`generate(n_entities, kind, seed, days)` returns one Polars frame per day, with
every column of `CANONICAL_SCHEMA` (the other kind's columns null), the
production `listing_id` (`hashing.listing_id`: VIN-based for vehicles that
carry a VIN, else source + source_listing_id) and the ground truth
`true_entity`. It is vectorized (numpy + Polars; Python loops only over the
few per cent of strings that get a typo), so a million records take seconds.

What the data looks like (shares are of entities unless said otherwise):

- ~35% of entities are listed on 2-4 sources at once; each source has its own
  source_listing_id format and URL host, and renders the entity its own way:
  make aliases (Chevy/Chevrolet, VW/Volkswagen, Mercedes/Mercedes-Benz/MB ...),
  model spellings (F-150/F150, CR-V/CRV), reordered title tokens, extra words,
  case changes, a typo in ~6% of titles; job titles with "Sr."/Senior,
  "Eng."/Engineer, "Mgr"/Manager, "Dev"/Developer ..., reordered seniority,
  appended locations; company suffix variants (Inc, Inc., LLC dropped ...).
- Prices differ by up to ~2% between sources (marketplaces round), change by a
  few per cent between days for ~25% of entities; mileage grows day to day and
  is rounded to the thousand on some marketplace listings.
- Dealer sites drop the VIN ~5% of the time, aggregators ~15%, marketplaces
  40-60%. VINs are never wrong (a VIN conflict always means two cars).
- Days: ~10% of entities vanish after the first day and ~10% are new on a
  later day; ~8% of (entity, source) listings are reposted on a later day under
  a new source_listing_id (and URL) on the same source; a few cross-posts start
  late or end early.
- Look-alike non-duplicates: ~20% of vehicles copy make, model and year of
  another entity (70% in the same city) with a different VIN, trim/colour,
  mileage (x1.3-2.5) and price (10-35% apart); on top of that the catalogue is
  small enough that make+model+year collide naturally. ~15% of jobs copy the
  company and exact role of another entity in a different city (with a
  near-identical description); companies post many roles (Zipf), and the same
  role title exists at many companies.

Invariants the production rules rely on: within one (source, observed_date) a
true entity appears at most once, and (source, listing_id) is unique per day.

`score(pred, truth)` gives pairwise and B-cubed precision/recall/F1 from the
(predicted, true) contingency table, without enumerating pairs.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

import sys

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from pipeline_assets.transforms import hashing  # noqa: E402
from pipeline_assets.transforms.kinds import CANONICAL_SCHEMA, get_kind  # noqa: E402

DEFAULT_DAYS = (date(2026, 11, 16), date(2026, 11, 17))
KEY = ["observed_date", "source", "listing_id"]

# --- knobs ---------------------------------------------------------------
MULTI_SOURCE_SHARE = 0.35          # entities listed on 2-4 sources
N_SOURCES_MULTI = (2, 3, 4)
N_SOURCES_MULTI_P = (0.5, 0.35, 0.15)
VANISH_SHARE = 0.10                # entities gone after their first day (per day)
LATE_SHARE = 0.10                  # entities that first appear on a later day
REPOST_SHARE = 0.08                # (entity, source) listings reposted under a new id
LATE_CROSSPOST_SHARE = 0.04        # a cross-post that starts a day after the entity
EARLY_END_SHARE = 0.04             # a cross-post that ends a day before the entity
REPRICE_SHARE = 0.25               # entity price change per day transition
VEHICLE_LOOKALIKE_SHARE = 0.20
JOB_LOOKALIKE_SHARE = 0.15
TITLE_TYPO_SHARE = 0.06

_ODD48 = 0x9E3779B97F4B
_MASK48 = (1 << 48) - 1
_ODD64 = np.uint64(0x9E3779B97F4A7C15)
VIN_ALPHABET = np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"))  # no I, O, Q

# --- vehicles catalogue ----------------------------------------------------
# make: (aliases used by sources, WMI, [(model, base price new, category)])
_CATALOGUE: dict[str, tuple[tuple[str, ...], str, tuple[tuple[str, int, str | None], ...]]] = {
    "Chevrolet": (("Chevy", "CHEVROLET", "chevrolet", "Chevy"), "1GC", (
        ("Silverado 1500", 48000, "Trucks"), ("Equinox", 30000, None), ("Malibu", 26000, None),
        ("Tahoe", 60000, None), ("Camaro", 36000, "Muscle Cars"), ("Corvette", 70000, "Sports Cars"),
        ("Traverse", 38000, None), ("Colorado", 34000, "Trucks"))),
    "Ford": (("FORD", "ford"), "1FT", (
        ("F-150", 50000, "Trucks"), ("Escape", 30000, None), ("Explorer", 40000, None),
        ("Mustang", 38000, "Muscle Cars"), ("Bronco", 42000, None), ("Edge", 37000, None),
        ("Ranger", 33000, "Trucks"), ("F-250 Super Duty", 58000, "Trucks"))),
    "Toyota": (("TOYOTA", "toyota", "Toyta"), "4T1", (
        ("Camry", 29000, None), ("Corolla", 23000, None), ("RAV4", 31000, None), ("Tacoma", 36000, "Trucks"),
        ("Highlander", 42000, None), ("Tundra", 52000, "Trucks"), ("4Runner", 43000, None),
        ("Prius", 29000, None))),
    "Honda": (("HONDA", "honda"), "1HG", (
        ("Civic", 25000, None), ("Accord", 29000, None), ("CR-V", 32000, None), ("Pilot", 41000, None),
        ("Odyssey", 40000, None), ("HR-V", 26000, None))),
    "Nissan": (("NISSAN", "nissan"), "1N4", (
        ("Altima", 27000, None), ("Rogue", 30000, None), ("Sentra", 21000, None),
        ("Frontier", 32000, "Trucks"), ("Pathfinder", 38000, None))),
    "Volkswagen": (("VW", "Volkswagon", "VOLKSWAGEN", "VW"), "3VW", (
        ("Jetta", 23000, None), ("Passat", 27000, None), ("Tiguan", 30000, None), ("Atlas", 38000, None),
        ("Golf GTI", 32000, "Sports Cars"))),
    "Mercedes-Benz": (("Mercedes", "Mercedes Benz", "MB", "Benz", "MERCEDES-BENZ"), "WDD", (
        ("C-Class", 47000, "Luxury Cars"), ("E-Class", 60000, "Luxury Cars"), ("GLC 300", 50000, "Luxury Cars"),
        ("GLE 350", 62000, "Luxury Cars"), ("S-Class", 115000, "Luxury Cars"))),
    "BMW": (("bmw", "B.M.W."), "WBA", (
        ("3 Series", 46000, "Luxury Cars"), ("5 Series", 58000, "Luxury Cars"), ("X3", 49000, "Luxury Cars"),
        ("X5", 66000, "Luxury Cars"), ("M3", 76000, "Sports Cars"))),
    "Jeep": (("JEEP", "jeep"), "1C4", (
        ("Wrangler", 38000, None), ("Grand Cherokee", 44000, None), ("Cherokee", 32000, None),
        ("Compass", 28000, None), ("Gladiator", 42000, "Trucks"))),
    "Ram": (("RAM", "Dodge Ram"), "1C6", (("1500", 45000, "Trucks"), ("2500", 52000, "Trucks"))),
    "Dodge": (("DODGE", "dodge"), "2C3", (
        ("Charger", 36000, "Muscle Cars"), ("Challenger", 38000, "Muscle Cars"), ("Durango", 42000, None))),
    "GMC": (("gmc", "G.M.C."), "1GT", (
        ("Sierra 1500", 50000, "Trucks"), ("Yukon", 62000, None), ("Acadia", 40000, None), ("Terrain", 31000, None))),
    "Hyundai": (("HYUNDAI", "Hyundia"), "KMH", (
        ("Elantra", 22000, None), ("Sonata", 27000, None), ("Tucson", 29000, None), ("Santa Fe", 32000, None))),
    "Kia": (("KIA", "kia"), "KNA", (
        ("Sorento", 33000, None), ("Sportage", 29000, None), ("Telluride", 38000, None), ("Forte", 21000, None))),
    "Subaru": (("SUBARU", "Subaru"), "JF2", (
        ("Outback", 31000, None), ("Forester", 30000, None), ("Crosstrek", 27000, None),
        ("WRX", 33000, "Sports Cars"))),
    "Mazda": (("MAZDA", "mazda"), "JM3", (
        ("CX-5", 30000, None), ("Mazda3", 24000, None), ("CX-9", 39000, None),
        ("MX-5 Miata", 30000, "Sports Cars"))),
    "Lexus": (("LEXUS", "lexus"), "2T2", (
        ("RX 350", 50000, "Luxury Cars"), ("ES 350", 44000, "Luxury Cars"), ("NX 300", 42000, "Luxury Cars"))),
    "Audi": (("AUDI", "audi"), "WA1", (("A4", 42000, "Luxury Cars"), ("Q5", 46000, "Luxury Cars"),
                                     ("Q7", 60000, "Luxury Cars"))),
    "Tesla": (("TESLA", "tesla"), "5YJ", (("Model 3", 42000, None), ("Model Y", 47000, None),
                                        ("Model S", 85000, "Luxury Cars"))),
    "Cadillac": (("Caddy", "CADILLAC"), "1GY", (("Escalade", 85000, "Luxury Cars"), ("XT5", 46000, "Luxury Cars"))),
    "Porsche": (("PORSCHE", "porsche"), "WP0", (("911", 115000, "Sports Cars"), ("Cayenne", 80000, "Luxury Cars"),
                                              ("Macan", 62000, "Luxury Cars"))),
}
_MAKE_WEIGHT = {"Chevrolet": 12, "Ford": 14, "Toyota": 13, "Honda": 10, "Nissan": 7, "Volkswagen": 4,
                "Mercedes-Benz": 4, "BMW": 4, "Jeep": 6, "Ram": 5, "Dodge": 3, "GMC": 4, "Hyundai": 5, "Kia": 5,
                "Subaru": 4, "Mazda": 3, "Lexus": 3, "Audi": 2, "Tesla": 3, "Cadillac": 2, "Porsche": 1}
_TRIMS = ("LT", "LS", "LX", "EX", "EX-L", "SE", "SEL", "XLE", "XSE", "LE", "Limited", "Sport", "Touring",
          "Premium", "Base", "SR5", "Lariat", "XLT", "Platinum", "Denali", "Laredo", "Big Horn", "S", "SV", "SL")
_COLORS = ("Black", "White", "Silver", "Gray", "Red", "Blue", "Green", "Beige", "Brown", "Orange", "Pearl White",
           "Midnight Blue")
_EXTRAS = ("Clean Title", "One Owner", "Low Miles", "Must See", "4WD", "AWD", "Loaded", "No Accidents",
           "Certified", "Nav", "Leather", "Sunroof", "Backup Camera", "Warranty")
_CONDITIONS = ("Excellent", "Very Good", "Good", "Fair", "Project")
_FEATURES = ("heated seats", "Apple CarPlay", "remote start", "new tires", "tow package", "third row seating",
             "adaptive cruise control", "blind spot monitoring", "premium sound", "panoramic roof",
             "keyless entry", "lane keep assist", "brand new brakes", "full service history", "garage kept",
             "non-smoker", "dual climate control", "running boards", "bed liner", "alloy wheels")

_CITIES = (
    ("Houston", "TX"), ("Dallas", "TX"), ("Austin", "TX"), ("San Antonio", "TX"), ("Fort Worth", "TX"),
    ("Phoenix", "AZ"), ("Mesa", "AZ"), ("Tucson", "AZ"), ("Los Angeles", "CA"), ("San Diego", "CA"),
    ("San Jose", "CA"), ("Sacramento", "CA"), ("Fresno", "CA"), ("Riverside", "CA"), ("Chicago", "IL"),
    ("Naperville", "IL"), ("New York", "NY"), ("Buffalo", "NY"), ("Philadelphia", "PA"), ("Pittsburgh", "PA"),
    ("Jacksonville", "FL"), ("Miami", "FL"), ("Tampa", "FL"), ("Orlando", "FL"), ("Columbus", "OH"),
    ("Cleveland", "OH"), ("Cincinnati", "OH"), ("Charlotte", "NC"), ("Raleigh", "NC"), ("Indianapolis", "IN"),
    ("Seattle", "WA"), ("Spokane", "WA"), ("Denver", "CO"), ("Colorado Springs", "CO"), ("Nashville", "TN"),
    ("Memphis", "TN"), ("Oklahoma City", "OK"), ("Tulsa", "OK"), ("Portland", "OR"), ("Las Vegas", "NV"),
    ("Louisville", "KY"), ("Baltimore", "MD"), ("Milwaukee", "WI"), ("Albuquerque", "NM"), ("Kansas City", "MO"),
    ("St. Louis", "MO"), ("Atlanta", "GA"), ("Savannah", "GA"), ("Omaha", "NE"), ("Minneapolis", "MN"),
    ("Detroit", "MI"), ("Grand Rapids", "MI"), ("Boise", "ID"), ("Salt Lake City", "UT"), ("Birmingham", "AL"),
    ("Richmond", "VA"), ("Virginia Beach", "VA"), ("Boston", "MA"), ("Hartford", "CT"), ("Newark", "NJ"),
    ("Des Moines", "IA"), ("Little Rock", "AR"), ("Jackson", "MS"), ("New Orleans", "LA"), ("Baton Rouge", "LA"),
    ("Charleston", "SC"), ("Columbia", "SC"), ("Wichita", "KS"), ("Madison", "WI"), ("Reno", "NV"),
)

# name, URL host, share of listings without VIN, site type, weight in source choice
_VEHICLE_SOURCES = (
    ("dealersites", "www.dealersites.example", 0.05, "dealer", 3.0),
    ("autohub", "www.autohub.example", 0.15, "aggregator", 3.0),
    ("carmart", "carmart.example", 0.45, "market", 2.0),
    ("wheelsdeal", "www.wheelsdeal.example", 0.55, "market", 2.0),
    ("localads", "localads.example", 0.60, "market", 1.5),
)

# --- jobs catalogue --------------------------------------------------------
# role, salary low, salary high, tech (Staff/Principal seniority possible)
_ROLES = (
    ("Software Engineer", 95000, 165000, True), ("Data Engineer", 100000, 160000, True),
    ("Data Analyst", 65000, 105000, True), ("Data Scientist", 110000, 175000, True),
    ("DevOps Engineer", 105000, 165000, True), ("QA Engineer", 75000, 120000, True),
    ("Web Developer", 70000, 120000, True), ("Mobile Developer", 90000, 150000, True),
    ("Frontend Developer", 85000, 145000, True), ("Backend Developer", 95000, 155000, True),
    ("Product Manager", 110000, 170000, True), ("Project Manager", 80000, 130000, False),
    ("Program Manager", 95000, 150000, False), ("Operations Manager", 70000, 115000, False),
    ("Marketing Manager", 80000, 135000, False), ("Sales Manager", 75000, 140000, False),
    ("Account Manager", 60000, 95000, False), ("Sales Representative", 45000, 80000, False),
    ("Customer Service Representative", 35000, 50000, False), ("Administrative Assistant", 38000, 55000, False),
    ("Executive Assistant", 55000, 80000, False), ("Accountant", 60000, 90000, False),
    ("Financial Analyst", 70000, 110000, False), ("Business Analyst", 75000, 115000, True),
    ("HR Generalist", 55000, 80000, False), ("Recruiter", 55000, 90000, False),
    ("Registered Nurse", 70000, 110000, False), ("Nurse Practitioner", 105000, 140000, False),
    ("Medical Assistant", 36000, 48000, False), ("Pharmacy Technician", 35000, 47000, False),
    ("Physical Therapist", 80000, 105000, False), ("Mechanical Engineer", 80000, 125000, False),
    ("Electrical Engineer", 85000, 130000, False), ("Civil Engineer", 75000, 120000, False),
    ("Maintenance Technician", 45000, 65000, False), ("Warehouse Associate", 32000, 42000, False),
    ("Forklift Operator", 34000, 45000, False), ("Truck Driver", 55000, 85000, False),
    ("Delivery Driver", 35000, 50000, False), ("Store Manager", 50000, 75000, False),
    ("Retail Associate", 28000, 36000, False), ("Line Cook", 30000, 40000, False),
    ("Security Engineer", 115000, 180000, True), ("Network Administrator", 70000, 105000, True),
    ("Systems Administrator", 70000, 110000, True), ("Technical Support Specialist", 45000, 65000, True),
    ("UX Designer", 85000, 135000, True), ("Graphic Designer", 50000, 80000, False),
)
_SENIORITY = ("", "Junior ", "Senior ", "Lead ", "Principal ", "Staff ")
_SENIORITY_P = (0.50, 0.10, 0.27, 0.08, 0.03, 0.02)
_SPECIALTIES = ("", "", "", "", "", " - Remote", " (Hybrid)", ", Operations", " - Enterprise", ", Platform",
                " - Night Shift", " - Healthcare", ", Payments", " (Contract to Hire)", " - Growth")
# abbreviation applied to a job title, and the share of listings that use it
_ABBREVIATIONS = (("Senior", "Sr."), ("Senior", "Sr"), ("Junior", "Jr."), ("Engineer", "Eng."),
                  ("Engineer", "Engr"), ("Manager", "Mgr"), ("Developer", "Dev"), ("Representative", "Rep"),
                  ("Administrative", "Admin"), ("Assistant", "Asst."), ("Technician", "Tech"),
                  ("Specialist", "Spec."))
_ABBREV_P = 0.30
_CO_WORDS_A = ("Blue", "North", "Summit", "Apex", "Pioneer", "Cedar", "Harbor", "Granite", "Silver", "Evergreen",
               "Red", "Golden", "Iron", "Bright", "Pacific", "Atlantic", "Prairie", "Lakeside", "Union", "Liberty",
               "Eagle", "Falcon", "Keystone", "Redwood", "Sterling", "Crescent", "Beacon", "Horizon", "Vertex",
               "Meridian", "Coastal", "Frontier", "Heritage", "Quantum", "Nova", "Vista", "Alpine", "Orchard",
               "Riverbend", "Stonebridge", "Copper", "Oak", "Maple", "Willow", "Hudson", "Sierra", "Cascade",
               "Prime", "Unity", "Triad")
_CO_WORDS_B = ("Logistics", "Health", "Systems", "Foods", "Financial", "Analytics", "Manufacturing", "Energy",
               "Retail", "Labs", "Software", "Medical Group", "Construction", "Insurance", "Networks", "Partners",
               "Solutions", "Dynamics", "Technologies", "Hospitality", "Freight", "Pharma", "Capital", "Media",
               "Robotics", "Biosciences", "Outfitters", "Telecom", "Security", "Consulting", "Brands", "Markets",
               "Industries", "Holdings", "Clinics", "Motors")
_CO_SUFFIX = ("Inc", "LLC", "Corp", "", "Group", "Co")
_JOB_SENTENCES = tuple(
    f"{a} {b}." for a, b in [
        ("You will", "own the roadmap for a growing team"), ("You will", "work closely with customers every day"),
        ("You will", "support daily operations across several sites"), ("You will", "build and maintain core services"),
        ("You will", "report directly to the department head"), ("You will", "mentor junior team members"),
        ("You will", "improve our processes and tooling"), ("You will", "handle inbound requests and escalations"),
        ("You will", "analyze data to guide decisions"), ("You will", "coordinate with vendors and partners"),
        ("We offer", "competitive pay and a signing bonus"), ("We offer", "medical, dental and vision coverage"),
        ("We offer", "a 401(k) with company match"), ("We offer", "flexible schedules and paid time off"),
        ("We offer", "tuition reimbursement"), ("We offer", "a relocation package"),
        ("We offer", "weekly pay and overtime opportunities"), ("We offer", "a hybrid work model"),
        ("Requirements include", "a bachelor's degree or equivalent experience"),
        ("Requirements include", "three or more years of relevant experience"),
        ("Requirements include", "strong written and verbal communication"),
        ("Requirements include", "a valid driver's license"), ("Requirements include", "the ability to lift 50 lbs"),
        ("Requirements include", "experience with SQL and Python"),
        ("Requirements include", "a current state license"), ("Requirements include", "weekend availability"),
        ("Our team", "values ownership and curiosity"), ("Our team", "ships improvements every week"),
        ("Our team", "is growing fast across the region"), ("Our team", "serves thousands of clients nationwide"),
        ("Our team", "has won several workplace awards"), ("Our team", "works in a fast-paced environment"),
        ("This role", "is on-site five days a week"), ("This role", "includes occasional travel"),
        ("This role", "offers a clear path to promotion"), ("This role", "is eligible for an annual bonus"),
        ("This role", "requires a background check"), ("This role", "starts as soon as possible"),
        ("This role", "is part of a new initiative"), ("This role", "supports our largest account"),
    ])
_EMPLOYMENT_TYPES = ("Full-time", "Part-time", "Contract", "Temporary", "Internship")
_EMPLOYMENT_P = (0.78, 0.08, 0.10, 0.03, 0.01)
_JOB_SOURCES = (  # name, host, share of listings without salary, weight
    ("careerhub", "www.careerhub.example", 0.30, 3.0),
    ("jobstream", "jobstream.example", 0.45, 3.0),
    ("talentboard", "www.talentboard.example", 0.35, 2.0),
    ("worklist", "worklist.example", 0.55, 2.0),
    ("gigfinder", "gigfinder.example", 0.60, 1.0),
)
_ATS = ("https://boards.greenhouse.io/{slug}/jobs/{id}", "https://jobs.lever.co/{slug}/{id}",
        "https://{slug}.wd5.myworkdayjobs.com/en-US/careers/job/{id}")


# --- helpers ---------------------------------------------------------------
def _zipf(n: int, s: float, offset: float = 1.0) -> np.ndarray:
    w = 1.0 / (np.arange(n) + offset) ** s
    return w / w.sum()


def _pick(rng: np.random.Generator, options, p=None, size=None) -> np.ndarray:
    arr = np.empty(len(options), dtype=object)
    arr[:] = list(options)
    return arr[rng.choice(len(options), size=size, p=p)]


def _mix48(x: np.ndarray, seed: int) -> np.ndarray:
    """A bijection of 48-bit integers, salted by the seed (unique ids by construction)."""
    x = (x.astype(np.uint64) + np.uint64(seed * 7919 % (1 << 20))) & np.uint64(_MASK48)
    return ((x * np.uint64(_ODD48)) & np.uint64(_MASK48)).astype(np.int64)


def _vin_body(gid: np.ndarray, seed: int) -> np.ndarray:
    """13 VIN characters that are unique per entity id (a bijection of uint64, base 33)."""
    x = (gid.astype(np.uint64) * _ODD64) ^ np.uint64((seed * 0x5851F42D4C957F2D) & 0xFFFFFFFFFFFFFFFF)
    chars = np.empty((len(gid), 13), dtype="<U1")
    for i in range(13):
        chars[:, i] = VIN_ALPHABET[(x % np.uint64(33)).astype(np.int64)]
        x //= np.uint64(33)
    return chars.view("<U13").ravel()


def _typo(s: str, r: float, r2: float) -> str:
    if len(s) < 4:
        return s
    i = 1 + int(r * (len(s) - 2))
    op = int(r2 * 4)
    if op == 0:
        return s[:i] + s[i + 1:]                       # deletion
    if op == 1:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]     # transposition
    if op == 2:
        return s[:i] + s[i] + s[i:]                    # duplication
    sub = "etaoinsrhl"[int(r * 977) % 10]
    return s[:i] + sub + s[i + 1:]                     # substitution


def _with_typos(values: pl.Series, share: float, rng: np.random.Generator) -> pl.Series:
    mask = rng.random(len(values)) < share
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return values
    r = rng.random((len(idx), 2))
    sub = values.gather(idx).to_list()
    new = [_typo(s, a, b) if s is not None else None for s, a, b in zip(sub, r[:, 0], r[:, 1])]
    return values.scatter(idx, pl.Series(new, dtype=pl.String))


def _choose_sources(rng: np.random.Generator, n: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(entity index, source index) pairs: each entity on k distinct sources."""
    multi = rng.random(n) < MULTI_SOURCE_SHARE
    k = np.where(multi, rng.choice(N_SOURCES_MULTI, size=n, p=N_SOURCES_MULTI_P), 1)
    # weighted sampling without replacement: Gumbel top-k
    keys = np.log(weights)[None, :] - np.log(-np.log(rng.random((n, len(weights)))))
    order = np.argsort(-keys, axis=1)
    take = np.arange(len(weights))[None, :] < k[:, None]
    ent = np.repeat(np.arange(n), k)
    src = order[take]
    return ent, src


def _spans(rng: np.random.Generator, n: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last day index of each entity."""
    start = np.zeros(n, dtype=np.int64)
    if n_days > 1:
        late = rng.random(n) < LATE_SHARE
        start[late] = rng.integers(1, n_days, size=int(late.sum()))
    end = np.full(n, n_days - 1, dtype=np.int64)
    if n_days > 1:
        # vanish after each day with VANISH_SHARE
        life = rng.geometric(VANISH_SHARE, size=n) - 1  # extra days after start
        end = np.minimum(start + life, n_days - 1)
    return start, end


def _listings(rng: np.random.Generator, ent: np.ndarray, src: np.ndarray, start: np.ndarray, end: np.ndarray,
              n_sources: int, n_days: int) -> pl.DataFrame:
    """One row per listing (entity, source, span); reposts split a span in two."""
    s = start[ent].copy()
    e = end[ent].copy()
    long_ = e > s
    # a cross-post (not the entity's first source) may start late or end early
    first = np.r_[True, ent[1:] != ent[:-1]]
    late = long_ & ~first & (rng.random(len(ent)) < LATE_CROSSPOST_SHARE)
    s[late] += 1
    early = (e > s) & ~first & (rng.random(len(ent)) < EARLY_END_SHARE)
    e[early] -= 1
    repost = (e > s) & (rng.random(len(ent)) < REPOST_SHARE)
    cut = np.where(repost, s + 1 + (rng.random(len(ent)) * np.maximum(e - s, 1)).astype(np.int64), 0)
    cut = np.minimum(cut, e)
    # first part [s, cut-1] (or [s, e]); second part [cut, e] for reposts
    e1 = np.where(repost, cut - 1, e)
    ent_l = np.concatenate([ent, ent[repost]])
    src_l = np.concatenate([src, src[repost]])
    s_l = np.concatenate([s, cut[repost]])
    e_l = np.concatenate([e1, e[repost]])
    is_repost = np.concatenate([np.zeros(len(ent), bool), np.ones(int(repost.sum()), bool)])
    return pl.DataFrame({"ent": ent_l, "src": src_l, "start": s_l, "end": e_l, "is_repost": is_repost})


def _explode_days(lst: pl.DataFrame) -> pl.DataFrame:
    n = (lst["end"] - lst["start"] + 1).to_numpy()
    li = np.repeat(np.arange(len(lst)), n)
    first = np.repeat(np.cumsum(n) - n, n)
    day = lst["start"].to_numpy()[li] + (np.arange(len(li)) - first)
    return pl.DataFrame({"li": li, "day": day})


# --- vehicles ----------------------------------------------------------------
def _vehicle_entities(rng: np.random.Generator, n: int, gid0: int, seed: int, year0: int) -> pl.DataFrame:
    makes = list(_CATALOGUE)
    models = [(mk, m, p, c) for mk in makes for (m, p, c) in _CATALOGUE[mk][2]]
    mw = np.array([_MAKE_WEIGHT[mk] / len(_CATALOGUE[mk][2]) for mk, *_ in models])
    model_i = rng.choice(len(models), size=n, p=mw / mw.sum())
    age = np.minimum(rng.geometric(0.16, size=n) - 1, 18)
    year = (year0 - age).astype(np.int32)
    trim = rng.integers(0, len(_TRIMS), size=n)
    color = rng.integers(0, len(_COLORS), size=n)
    base = np.array([m[2] for m in models], dtype=float)[model_i]
    price = base * 0.86 ** age * rng.uniform(0.75, 1.2, size=n)
    # current model year: new, demo and lightly used cars
    mileage = np.where(age == 0, rng.integers(5, 12000, size=n),
                       age * rng.uniform(7000, 15000, size=n) + rng.integers(0, 5000, size=n))
    city = rng.choice(len(_CITIES), size=n, p=_zipf(len(_CITIES), 0.9, 2.0))
    # look-alikes: copy make/model/year (and often the city) of an earlier entity
    look = rng.random(n) < VEHICLE_LOOKALIKE_SHARE
    look[0] = False
    li = np.flatnonzero(look)
    roots = np.flatnonzero(~look)
    parent = roots[rng.integers(0, len(roots), len(li))]
    model_i[li] = model_i[parent]
    year[li] = year[parent]
    same_city = rng.random(len(li)) < 0.7
    city[li[same_city]] = city[parent[same_city]]
    trim[li] = np.where(rng.random(len(li)) < 0.8, (trim[parent] + rng.integers(1, len(_TRIMS), len(li))) % len(_TRIMS),
                        trim[parent])
    color[li] = np.where(rng.random(len(li)) < 0.8,
                         (color[parent] + rng.integers(1, len(_COLORS), len(li))) % len(_COLORS), color[parent])
    f = rng.uniform(1.3, 2.5, size=len(li))
    mileage[li] = np.where(rng.random(len(li)) < 0.5, mileage[parent] * f, mileage[parent] / f) + 500
    sign = np.where(rng.random(len(li)) < 0.5, -1.0, 1.0)
    price[li] = price[parent] * (1 + sign * rng.uniform(0.10, 0.35, size=len(li)))
    price = np.maximum(np.round(price / 100) * 100 - np.where(rng.random(n) < 0.4, 5, 0), 1500)
    gid = np.arange(gid0, gid0 + n, dtype=np.int64)
    wmi = np.array([_CATALOGUE[m[0]][1] for m in models])[model_i]
    yc = np.array(list("ABCDEFGHJKLMNPRSTVWXY123456789"))[(year - 2001) % 30]
    vin = np.char.add(np.char.add(wmi, _vin_body(gid, seed)), yc)
    return pl.DataFrame({
        "true_entity": gid,
        "make_i": np.array([makes.index(m[0]) for m in models])[model_i],
        "model_i": model_i, "year": year, "trim": np.array(_TRIMS)[trim], "color": np.array(_COLORS)[color],
        "base_price": price, "base_mileage": mileage.astype(np.int64), "city_i": city, "vin": vin,
        "condition": rng.choice(len(_CONDITIONS), size=n, p=(0.25, 0.3, 0.25, 0.12, 0.08)),
        "category": np.array([m[3] or "" for m in models], dtype=object)[model_i],
        "feat1": rng.integers(0, len(_FEATURES), size=n), "feat2": rng.integers(0, len(_FEATURES), size=n),
        "stock": rng.integers(10000, 99999, size=n), "listed_ago": rng.integers(0, 60, size=n),
    })


def _model_variant(model: pl.Expr, v: pl.Expr) -> pl.Expr:
    """0: canonical, 1: no hyphen, 2: hyphen as space, 3: drop a trailing word, 4: lower case."""
    return (pl.when(v == 1).then(model.str.replace_all("-", ""))
            .when(v == 2).then(model.str.replace_all("-", " "))
            .when(v == 3).then(model.str.replace(r"\s+(1500|Super Duty|Miata|GTI)$", ""))
            .when(v == 4).then(model.str.to_lowercase())
            .otherwise(model))


def _vehicles(rng: np.random.Generator, n: int, days: tuple[date, ...], seed: int, gid0: int) -> pl.DataFrame:
    nd = len(days)
    E = _vehicle_entities(rng, n, gid0, seed, days[0].year)
    weights = np.array([s[4] for s in _VEHICLE_SOURCES])
    ent, src = _choose_sources(rng, n, weights)
    start, end = _spans(rng, n, nd)
    L = _listings(rng, ent, src, start, end, len(_VEHICLE_SOURCES), nd)
    nl = len(L)
    ent_l = L["ent"].to_numpy()
    src_l = L["src"].to_numpy()
    stype = np.array([s[3] for s in _VEHICLE_SOURCES])[src_l]
    market = stype == "market"
    dealer = stype == "dealer"
    makes = list(_CATALOGUE)
    models = [m for mk in makes for (m, _, _) in _CATALOGUE[mk][2]]
    # make: canonical or one of the source aliases
    make_i = E["make_i"].to_numpy()[ent_l]
    aliases = [(mk,) + _CATALOGUE[mk][0] for mk in makes]
    n_alias = np.array([len(a) for a in aliases])
    p_alias = np.where(market, 0.45, np.where(dealer, 0.08, 0.2))
    alias_j = np.where(rng.random(nl) < p_alias, 1 + (rng.random(nl) * (n_alias[make_i] - 1)).astype(int), 0)
    flat = np.array([a for al in aliases for a in al], dtype=object)
    off = np.r_[0, np.cumsum(n_alias)[:-1]]
    make_s = flat[off[make_i] + alias_j]
    model_s = np.array(models, dtype=object)[E["model_i"].to_numpy()[ent_l]]
    gid = E["true_entity"].to_numpy()[ent_l]
    # listing key: unique per (entity, listing) -> source_listing_id
    local = pl.DataFrame({"e": ent_l}).with_row_index("r").with_columns(
        pl.col("r").cum_count().over("e").alias("k"))["k"].to_numpy()
    lkey = (gid << 6) | local
    sid = _mix48(lkey, seed)
    prefixes = np.array(["DS", "", "c", "WD", "la"], dtype=object)
    vin_drop = np.array([s[2] for s in _VEHICLE_SOURCES])[src_l]
    has_vin = rng.random(nl) >= vin_drop
    city_i = E["city_i"].to_numpy()[ent_l]
    df = pl.DataFrame({
        "li": np.arange(nl), "ent": ent_l, "src": src_l, "true_entity": gid,
        "make": make_s.astype(str), "model_c": model_s.astype(str),
        "model_v": np.where(rng.random(nl) < np.where(market, 0.35, 0.1), rng.integers(1, 5, nl), 0),
        "year": E["year"].to_numpy()[ent_l], "trim": E["trim"].to_numpy()[ent_l],
        "color": E["color"].to_numpy()[ent_l],
        "vin": E["vin"].to_numpy()[ent_l], "has_vin": has_vin,
        "city": np.array([c for c, _ in _CITIES], dtype=object)[city_i].astype(str),
        "state": np.array([s for _, s in _CITIES], dtype=object)[city_i].astype(str),
        "sid": sid, "prefix": prefixes[src_l].astype(str),
        "host": np.array([s[1] for s in _VEHICLE_SOURCES], dtype=object)[src_l].astype(str),
        "source": np.array([s[0] for s in _VEHICLE_SOURCES], dtype=object)[src_l].astype(str),
        "market": market, "dealer": dealer,
        "tmpl": rng.choice(7, size=nl, p=(0.3, 0.15, 0.12, 0.13, 0.1, 0.1, 0.1)),
        "extra": np.array(_EXTRAS)[rng.integers(0, len(_EXTRAS), nl)],
        "case": np.where(market, rng.choice(3, size=nl, p=(0.82, 0.13, 0.05)), 0),
        "price_f": np.where(market, rng.normal(0, 0.01, nl), rng.normal(0, 0.003, nl)),
        "round_mi": market & (rng.random(nl) < 0.3),
        "no_mi": market & (rng.random(nl) < 0.1),
        "no_price": rng.random(nl) < np.where(market, 0.05, 0.01),
        "no_city": rng.random(nl) < 0.04,
        "cond": np.where(rng.random(nl) < np.where(dealer, 0.8, 0.4), E["condition"].to_numpy()[ent_l], -1),
        "cat": E["category"].to_numpy()[ent_l].astype(str),
        "feat1": np.array(_FEATURES)[E["feat1"].to_numpy()[ent_l]],
        "feat2": np.array(_FEATURES)[E["feat2"].to_numpy()[ent_l]],
        "stock": E["stock"].to_numpy()[ent_l], "start": L["start"].to_numpy(), "is_repost": L["is_repost"].to_numpy(),
        "listed_ago": E["listed_ago"].to_numpy()[ent_l] + rng.integers(0, 3, nl),
        "base_mileage": E["base_mileage"].to_numpy()[ent_l],
    })
    y, mk, tr, co, ex = (pl.col("year").cast(pl.String), pl.col("make"), pl.col("trim"), pl.col("color"),
                         pl.col("extra"))
    md = _model_variant(pl.col("model_c"), pl.col("model_v"))
    t = pl.col("tmpl")

    def cat(*parts):
        return pl.concat_str(list(parts), separator=" ")

    title = (pl.when(t == 0).then(cat(y, mk, md, tr))
             .when(t == 1).then(cat(y, mk, md))
             .when(t == 2).then(cat(mk, md, y, tr))
             .when(t == 3).then(cat(y, mk, md, tr, co))
             .when(t == 4).then(pl.concat_str([cat(mk, md, tr), y], separator=" - "))
             .when(t == 5).then(cat(co, y, mk, md, ex))
             .otherwise(cat(y, md, mk, tr, ex)))
    title = (pl.when(pl.col("case") == 1).then(title.str.to_lowercase())
             .when(pl.col("case") == 2).then(title.str.to_uppercase()).otherwise(title))
    df = df.with_columns(
        model=md, title=title,
        source_listing_id=pl.col("prefix") + pl.col("sid").cast(pl.String),
        description=pl.concat_str([
            pl.concat_str([y, pl.col("make"), md, tr], separator=" "), pl.lit(" in "), co,
            pl.lit(". "), pl.col("feat1"), pl.lit(", "), pl.col("feat2"), pl.lit(". "),
            pl.when(pl.col("dealer")).then(pl.format("Stock #{}. Financing available, trades welcome.", pl.col("stock")))
            .when(pl.col("market")).then(pl.lit("Serious buyers only, cash or cashier's check."))
            .otherwise(pl.lit("See dealer for details."))]),
        stock_number=pl.when(pl.col("dealer")).then(pl.format("STK{}", pl.col("stock"))),
        condition=pl.when(pl.col("cond") >= 0).then(
            pl.col("cond").replace_strict(list(range(len(_CONDITIONS))), list(_CONDITIONS), default=None)),
        category=pl.when(pl.col("cat") != "").then(pl.col("cat")),
        city=pl.when(~pl.col("no_city")).then(pl.col("city")),
        vin=pl.when(pl.col("has_vin")).then(pl.col("vin")),
    )
    df = df.with_columns(title=_with_typos(df["title"], TITLE_TYPO_SHARE, rng),
                         model=_with_typos(df["model"], 0.02, rng))
    df = df.with_columns(
        source_url=pl.format("https://{}/listing/{}", pl.col("host"), pl.col("source_listing_id")),
        image_url=pl.format("https://img.{}/{}.jpg", pl.col("host"), pl.col("sid") * 7 % 1000003),
    )
    # per-day values: entity price path and mileage path, listing-level noise on top
    price_path = np.ones((n, nd))
    mile_path = np.zeros((n, nd), dtype=np.int64)
    for d in range(1, nd):
        ch = rng.random(n) < REPRICE_SHARE
        step = np.where(rng.random(n) < 0.85, -rng.uniform(0.01, 0.06, n), rng.uniform(0.01, 0.03, n))
        price_path[:, d] = price_path[:, d - 1] * np.where(ch, 1 + step, 1.0)
        mile_path[:, d] = mile_path[:, d - 1] + np.where(rng.random(n) < 0.3, rng.integers(5, 400, n), 0)
    D = _explode_days(L)
    li = D["li"].to_numpy()
    day = D["day"].to_numpy()
    ent_r = ent_l[li]
    base_price = E["base_price"].to_numpy()
    raw_price = base_price[ent_r] * price_path[ent_r, day] * (1 + df["price_f"].to_numpy()[li])
    price = np.where(df["market"].to_numpy()[li], np.round(raw_price / 100) * 100, np.round(raw_price))
    mileage = E["base_mileage"].to_numpy()[ent_r] + mile_path[ent_r, day]
    mileage = np.where(df["round_mi"].to_numpy()[li], np.round(mileage / 1000) * 1000, mileage).astype(np.int64)
    R = pl.DataFrame({
        "li": li, "day": day,
        "price": np.where(df["no_price"].to_numpy()[li], np.nan, price),
        "mileage": mileage, "no_mi": df["no_mi"].to_numpy()[li],
    }).with_columns(pl.col("price").fill_nan(None),
                    mileage=pl.when(~pl.col("no_mi")).then(pl.col("mileage")))
    day0 = days[0]
    df = df.with_columns(
        posted_at=pl.when(pl.col("is_repost"))
        .then(pl.lit(day0) + pl.duration(days=pl.col("start")))
        .otherwise(pl.lit(day0) - pl.duration(days=pl.col("listed_ago"))).cast(pl.Date),
    )
    keep = ["li", "true_entity", "source", "source_listing_id", "source_url", "title", "description",
            "image_url", "city", "state", "posted_at", "make", "model", "year", "vin", "stock_number",
            "condition", "category"]
    return R.join(df.select(keep), on="li", how="left")


# --- jobs --------------------------------------------------------------------
def _company_name(i: np.ndarray) -> np.ndarray:
    """Distinct names for distinct i: mixed radix over two words, a sector and a number past the combinations."""
    na, nb = len(_CO_WORDS_A), len(_CO_WORDS_B)
    m = na * na * nb
    wrap = i // m
    j = (i % m) * 7919 % m  # a bijection of [0, m): neighbours get unrelated names
    a = np.array(_CO_WORDS_A, dtype=object)[j % na]
    b = np.array(_CO_WORDS_A, dtype=object)[(j // na) % na]
    c = np.array(_CO_WORDS_B, dtype=object)[j // (na * na)]
    s = np.array(_CO_SUFFIX, dtype=object)[(i * 7 + i // 3) % len(_CO_SUFFIX)]
    name = a + " " + b + " " + c
    name = np.where(wrap > 0, name + " " + wrap.astype(str), name)
    return np.where(s == "", name, name + " " + s)


def _jobs(rng: np.random.Generator, n: int, days: tuple[date, ...], seed: int, gid0: int) -> pl.DataFrame:
    nd = len(days)
    n_co = max(20, n // 7)
    co_rank = rng.choice(n_co, size=n, p=_zipf(n_co, 0.9, 5.0))
    co_id = rng.permutation(n_co)[co_rank]  # company (name index); popularity is not alphabetical
    role = rng.choice(len(_ROLES), size=n, p=_zipf(len(_ROLES), 0.6, 3.0)[rng.permutation(len(_ROLES))])
    tech = np.array([r[3] for r in _ROLES])[role]
    sen_p = np.array(_SENIORITY_P)
    sen = rng.choice(len(_SENIORITY), size=n, p=sen_p)
    sen = np.where(~tech & (sen >= 4), 2, sen)  # Principal/Staff only in tech
    spec = rng.integers(0, len(_SPECIALTIES), size=n)
    level = np.where(rng.random(n) < 0.07, rng.integers(2, 4, n), 0)  # " II" / " III"
    city = rng.choice(len(_CITIES), size=n, p=_zipf(len(_CITIES), 0.9, 2.0))
    lo = np.array([r[1] for r in _ROLES], dtype=float)[role]
    hi = np.array([r[2] for r in _ROLES], dtype=float)[role]
    mult = np.array([1.0, 0.8, 1.25, 1.35, 1.55, 1.5])[sen] * rng.uniform(0.9, 1.1, n)
    smin = np.round(lo * mult / 1000) * 1000
    smax = np.round(hi * mult / 1000) * 1000
    emp = rng.choice(len(_EMPLOYMENT_TYPES), size=n, p=_EMPLOYMENT_P)
    sent = rng.integers(0, len(_JOB_SENTENCES), size=(n, 3))
    # look-alikes: the same role at the same company in another city
    look = rng.random(n) < JOB_LOOKALIKE_SHARE
    look[0] = False
    li = np.flatnonzero(look)
    roots = np.flatnonzero(~look)
    parent = roots[rng.integers(0, len(roots), len(li))]
    for arr in (co_id, role, sen, spec, level, emp):
        arr[li] = arr[parent]
    sent[li] = sent[parent]
    tech[li] = tech[parent]
    newc = (city[parent] + rng.integers(1, len(_CITIES), len(li))) % len(_CITIES)
    city[li] = newc
    f = rng.uniform(0.95, 1.05, len(li))
    smin[li] = np.round(smin[parent] * f / 1000) * 1000
    smax[li] = np.round(smax[parent] * f / 1000) * 1000
    gid = np.arange(gid0, gid0 + n, dtype=np.int64)
    has_ats = rng.random(n) < 0.65
    E = pl.DataFrame({
        "true_entity": gid, "co_id": co_id, "role": role, "sen": sen, "spec": spec, "level": level,
        "city_i": city, "smin": smin, "smax": smax, "emp": emp, "s1": sent[:, 0], "s2": sent[:, 1],
        "s3": sent[:, 2], "has_ats": has_ats, "ats_kind": (co_id % 3), "ats_id": _mix48(gid, seed + 17) % 10**10,
        "listed_ago": rng.integers(0, 30, n),
    })
    weights = np.array([s[3] for s in _JOB_SOURCES])
    ent, src = _choose_sources(rng, n, weights)
    start, end = _spans(rng, n, nd)
    L = _listings(rng, ent, src, start, end, len(_JOB_SOURCES), nd)
    nl = len(L)
    ent_l = L["ent"].to_numpy()
    src_l = L["src"].to_numpy()
    gid_l = gid[ent_l]
    local = pl.DataFrame({"e": ent_l}).with_row_index("r").with_columns(
        pl.col("r").cum_count().over("e").alias("k"))["k"].to_numpy()
    sid = _mix48((gid_l << 6) | local, seed)
    co_name = _company_name(co_id[ent_l])
    roles = np.array([r[0] for r in _ROLES], dtype=object)
    city_i = city[ent_l]
    df = pl.DataFrame({
        "li": np.arange(nl), "true_entity": gid_l,
        "source": np.array([s[0] for s in _JOB_SOURCES], dtype=object)[src_l].astype(str),
        "host": np.array([s[1] for s in _JOB_SOURCES], dtype=object)[src_l].astype(str),
        "sid": sid, "company_c": co_name.astype(str),
        "co_v": rng.choice(5, size=nl, p=(0.55, 0.2, 0.1, 0.1, 0.05)),
        "sen": np.array(_SENIORITY)[sen[ent_l]], "role": roles[role[ent_l]].astype(str),
        "spec": np.array(_SPECIALTIES)[spec[ent_l]],
        "level": np.array(["", "", " II", " III"])[level[ent_l]],
        "tmpl": rng.choice(5, size=nl, p=(0.62, 0.1, 0.12, 0.1, 0.06)),
        "drop_spec": rng.random(nl) < 0.2,
        "case": rng.choice(3, size=nl, p=(0.9, 0.06, 0.04)),
        "city": np.array([c for c, _ in _CITIES], dtype=object)[city_i].astype(str),
        "state": np.array([s for _, s in _CITIES], dtype=object)[city_i].astype(str),
        "no_city": rng.random(nl) < 0.03,
        "no_salary": rng.random(nl) < np.array([s[2] for s in _JOB_SOURCES])[src_l],
        "sal_round": rng.random(nl) < 0.15,
        "emp": np.where(rng.random(nl) < 0.8, emp[ent_l], -1),
        "s1": np.array(_JOB_SENTENCES)[sent[ent_l, 0]], "s2": np.array(_JOB_SENTENCES)[sent[ent_l, 1]],
        "s3": np.array(_JOB_SENTENCES)[sent[ent_l, 2]],
        "desc_v": rng.choice(3, size=nl, p=(0.6, 0.25, 0.15)),
        "use_ats": has_ats[ent_l] & (rng.random(nl) < 0.7),
        "utm": rng.random(nl) < 0.5,
        "ats_kind": (co_id % 3)[ent_l], "ats_id": E["ats_id"].to_numpy()[ent_l],
        "smin": smin[ent_l], "smax": smax[ent_l],
        "start": L["start"].to_numpy(), "is_repost": L["is_repost"].to_numpy(),
        "listed_ago": E["listed_ago"].to_numpy()[ent_l] + rng.integers(0, 3, nl),
    })
    base_title = pl.concat_str([pl.col("sen"), pl.col("role"), pl.col("level"),
                                pl.when(pl.col("drop_spec")).then(pl.lit("")).otherwise(pl.col("spec"))])
    t = pl.col("tmpl")
    sen_after = pl.concat_str([pl.col("role"), pl.col("level"), pl.lit(", "), pl.col("sen").str.strip_chars()])
    title = (pl.when(t == 1).then(pl.format("{} - {}, {}", base_title, pl.col("city"), pl.col("state")))
             .when((t == 2) & (pl.col("sen") != "")).then(sen_after)
             .when(t == 3).then(pl.format("{} ({})", base_title, pl.col("city")))
             .when(t == 4).then(pl.format("{} - {}", pl.col("company_c").str.replace(r" (Inc|LLC|Corp|Group|Co)$", ""),
                                          base_title))
             .otherwise(base_title))
    df = df.with_columns(title=title)
    # abbreviations, each on its own share of listings
    for full, short in _ABBREVIATIONS:
        m = pl.Series(rng.random(nl) < _ABBREV_P)
        df = df.with_columns(title=pl.when(m).then(pl.col("title").str.replace_all(rf"\b{full}\b", short))
                             .otherwise(pl.col("title")))
    df = df.with_columns(
        title=pl.when(pl.col("case") == 1).then(pl.col("title").str.to_lowercase())
        .when(pl.col("case") == 2).then(pl.col("title").str.to_uppercase()).otherwise(pl.col("title")))
    df = df.with_columns(title=_with_typos(df["title"], TITLE_TYPO_SHARE, rng))
    cv = pl.col("co_v")
    base_co = pl.col("company_c").str.replace(r" (Inc|LLC|Corp|Group|Co)$", "")
    suffix = pl.col("company_c").str.extract(r" (Inc|LLC|Corp|Group|Co)$", 1)
    company = (pl.when(cv == 1).then(base_co)
               .when((cv == 2) & suffix.is_not_null()).then(pl.format("{}, {}.", base_co, suffix))
               .when(cv == 3).then(pl.col("company_c").str.to_uppercase())
               .when(cv == 4).then(pl.col("company_c").str.to_lowercase())
               .otherwise(pl.col("company_c")))
    slug = base_co.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", "")
    ak = pl.col("ats_kind")
    ats_url = (pl.when(ak == 0).then(pl.format("https://boards.greenhouse.io/{}/jobs/{}", slug, pl.col("ats_id")))
               .when(ak == 1).then(pl.format("https://jobs.lever.co/{}/{}", slug, pl.col("ats_id")))
               .otherwise(pl.format("https://{}.wd5.myworkdayjobs.com/en-US/careers/job/R{}", slug, pl.col("ats_id"))))
    desc_core = pl.concat_str([pl.format("{} is hiring a {} in {}, {}.", base_co, pl.concat_str(
        [pl.col("sen"), pl.col("role"), pl.col("level")]), pl.col("city"), pl.col("state")),
        pl.col("s1"), pl.col("s2"), pl.col("s3")], separator=" ")
    df = df.with_columns(
        company=company.str.strip_chars(),
        source_listing_id=pl.col("sid").cast(pl.String),
        source_url=pl.when(pl.col("use_ats")).then(
            pl.when(pl.col("utm")).then(pl.format("{}?utm_source={}", ats_url, pl.col("source"))).otherwise(ats_url))
        .otherwise(pl.format("https://{}/jobs/{}", pl.col("host"), pl.col("sid"))),
        description=pl.when(pl.col("desc_v") == 1).then(desc_core.str.slice(0, 160) + pl.lit("..."))
        .when(pl.col("desc_v") == 2).then(desc_core + pl.lit(" Apply today through our site. Equal opportunity employer."))
        .otherwise(desc_core),
        employment_type=pl.when(pl.col("emp") >= 0).then(
            pl.col("emp").replace_strict(list(range(len(_EMPLOYMENT_TYPES))), list(_EMPLOYMENT_TYPES),
                                         default=None)),
        city=pl.when(~pl.col("no_city")).then(pl.col("city")),
        image_url=pl.lit(None, pl.String),
        salary_min=pl.when(~pl.col("no_salary")).then(
            pl.when(pl.col("sal_round")).then((pl.col("smin") / 5000).round() * 5000).otherwise(pl.col("smin"))),
        salary_max=pl.when(~pl.col("no_salary")).then(
            pl.when(pl.col("sal_round")).then((pl.col("smax") / 5000).round() * 5000).otherwise(pl.col("smax"))),
    )
    day0 = days[0]
    df = df.with_columns(
        posted_at=pl.when(pl.col("is_repost"))
        .then(pl.lit(day0) + pl.duration(days=pl.col("start")))
        .otherwise(pl.lit(day0) - pl.duration(days=pl.col("listed_ago"))).cast(pl.Date))
    D = _explode_days(L)
    keep = ["li", "true_entity", "source", "source_listing_id", "source_url", "title", "description",
            "image_url", "city", "state", "posted_at", "company", "salary_min", "salary_max", "employment_type"]
    return D.join(df.select(keep), on="li", how="left")


# --- public API ----------------------------------------------------------------
def _listing_ids(kind_name: str, df: pl.DataFrame) -> pl.Series:
    """The production listing_id, vectorized: `hashing.identity_sql` and
    `hashing.listing_id_sql` in DuckDB (the tests pin them to the Python
    `hashing.listing_id`), checked here against it on a sample."""
    import duckdb

    kind = get_kind(kind_name)
    cols = ["source", "source_listing_id"] + (["vin"] if "vin" in df.columns else [])
    uniq = df.select(cols).unique().with_columns(kind=pl.lit(kind_name), content_hash=pl.lit(None, pl.String))
    for c in {c for key in kind.identity_keys for c in key} - set(uniq.columns):
        uniq = uniq.with_columns(pl.lit(None, pl.String).alias(c))
    con = duckdb.connect(config={"threads": 2})
    con.register("u", uniq.to_arrow())
    ids = con.sql(f"SELECT {', '.join(cols)}, {hashing.listing_id_sql('identity')} AS listing_id "
                  f"FROM (SELECT *, {hashing.identity_sql(kind)} AS identity FROM u)").pl()
    con.close()
    sample = (pl.concat([ids.filter(pl.col("vin").is_null()).head(25), ids.filter(pl.col("vin").is_not_null()).head(25)])
              if "vin" in cols else ids.head(50))
    for row in sample.iter_rows(named=True):
        rec = {c: row[c] for c in cols if c != "source"}
        if hashing.listing_id(kind, row["source"], rec) != row["listing_id"]:
            raise AssertionError(f"listing_id SQL and Python disagree for {row}")
    return df.join(ids, on=cols, how="left", nulls_equal=True)["listing_id"]


def generate(n_entities: int, kind: Literal["vehicles", "jobs"], seed: int = 0,
             days: tuple[date, ...] = DEFAULT_DAYS, entity_offset: int = 0) -> dict[date, pl.DataFrame]:
    """Labeled records of `n_entities` real-world entities over `days`.

    Returns {day: frame}; each frame has every CANONICAL_SCHEMA column (with its
    dtype), `listing_id` and `true_entity` (Int64). `entity_offset` shifts the
    entity ids (and so VINs and source_listing_ids): chunks generated with
    disjoint offsets can be concatenated without id collisions.
    """
    days = tuple(days)
    if not days or list(days) != sorted(set(days)):
        raise ValueError("days must be distinct and increasing")
    if n_entities <= 0:
        raise ValueError("n_entities must be positive")
    if entity_offset + n_entities >= 1 << 41:
        raise ValueError("entity ids must stay below 2**41")
    rng = np.random.default_rng([seed, entity_offset, 0 if kind == "vehicles" else 1])
    if kind == "vehicles":
        body = _vehicles(rng, n_entities, days, seed, entity_offset)
    elif kind == "jobs":
        body = _jobs(rng, n_entities, days, seed, entity_offset)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    day_s = pl.Series("observed_date", list(days), dtype=pl.Date)
    body = body.with_columns(observed_date=day_s.gather(body["day"]), kind=pl.lit(kind))
    body = body.with_columns(listing_id=_listing_ids(kind, body))
    cols = [pl.col(c).cast(t) if c in body.columns else pl.lit(None, t).alias(c)
            for c, t in CANONICAL_SCHEMA.items()]
    out = body.select(*cols, pl.col("listing_id"), pl.col("true_entity").cast(pl.Int64))
    parts = out.partition_by("observed_date", as_dict=True, maintain_order=True)
    return {d: parts.get((d,), out.clear()) for d in days}


def write_days(frames: dict[date, pl.DataFrame], dir: str | Path, truth: bool = False) -> dict[date, Path]:
    """One Parquet per day (`records_YYYY-MM-DD.parquet`).

    The ground truth column is left out unless `truth=True`, so a resolver
    reading the file cannot see the labels; keep the frames (or `truth_of`)
    for scoring.
    """
    d = Path(dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = {}
    for day, df in frames.items():
        p = d / f"records_{day.isoformat()}.parquet"
        (df if truth else df.drop("true_entity")).write_parquet(p)
        paths[day] = p
    return paths


def truth_of(frames: dict[date, pl.DataFrame] | pl.DataFrame) -> pl.DataFrame:
    """The key columns and true_entity of every record."""
    df = pl.concat(list(frames.values())) if isinstance(frames, dict) else frames
    return df.select(*KEY, "true_entity")


def describe(frames: dict[date, pl.DataFrame]) -> dict:
    """Shares of the generated data (for reports and sanity checks)."""
    df = pl.concat(list(frames.values()))
    per_e = df.group_by("true_entity").agg(
        n=pl.len(), n_src=pl.col("source").n_unique(), n_ids=pl.col("listing_id").n_unique(),
        n_listings=pl.struct("source", "source_listing_id").n_unique())
    out = {
        "records": df.height, "entities": per_e.height,
        "records_per_day": {str(d): f.height for d, f in frames.items()},
        # more than one listing (other sources, or a repost): what entity resolution must merge
        "entities_with_duplicates": round(float((per_e["n_listings"] > 1).mean()), 3),
        # more than one listing_id: what the VIN-based id does not already merge
        "entities_with_several_listing_ids": round(float((per_e["n_ids"] > 1).mean()), 3),
        "entities_multi_source": round(float((per_e["n_src"] > 1).mean()), 3),
        "true_pairs": int((per_e["n"] * (per_e["n"] - 1) // 2).sum()),
    }
    if df["vin"].null_count() < df.height:
        out["records_with_vin"] = round(1 - df["vin"].null_count() / df.height, 3)
    return out


# --- scoring ---------------------------------------------------------------------
def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def score(pred: pl.DataFrame, truth: pl.DataFrame, key: list[str] | None = None,
          pred_col: str = "entity_id", true_col: str = "true_entity") -> dict:
    """Pairwise and B-cubed precision / recall / F1.

    `pred` has the key columns (default observed_date, source, listing_id) and
    `pred_col`; `truth` the key columns and `true_col`, one row per record. A
    record missing from `pred` counts as its own singleton cluster (and is
    reported in `missing`); keys duplicated in either frame are an error.

    From the contingency table n_pt (records in predicted cluster p and true
    cluster t): TP pairs = sum C(n_pt, 2), predicted pairs = sum_p C(n_p, 2),
    true pairs = sum_t C(n_t, 2); B-cubed precision = sum n_pt^2 / n_p / N,
    recall = sum n_pt^2 / n_t / N. With no predicted (true) pairs, pairwise
    precision (recall) is 1.
    """
    key = key or KEY
    for name, df in (("pred", pred), ("truth", truth)):
        dup = df.select(key).is_duplicated().sum()
        if dup:
            raise ValueError(f"{name} has {dup} rows with a duplicated key {key}")
    t = truth.select(*key, pl.col(true_col).alias("_t"))
    p = pred.select(*key, pl.col(pred_col).cast(pl.String).alias("_p"))
    j = t.join(p, on=key, how="left")
    missing = j["_p"].null_count()
    extra = p.join(t, on=key, how="anti").height
    j = j.with_columns(_p=pl.coalesce(pl.col("_p"), pl.lit("\x00missing:") + pl.int_range(pl.len()).cast(pl.String)))
    n = j.height
    ct = j.group_by("_p", "_t").agg(n_pt=pl.len())
    ct = ct.with_columns(n_p=pl.col("n_pt").sum().over("_p"), n_t=pl.col("n_pt").sum().over("_t"))
    pairs = lambda c: (pl.col(c).cast(pl.Int64) * (pl.col(c).cast(pl.Int64) - 1) // 2)  # noqa: E731
    s = ct.select(
        tp=pairs("n_pt").sum(),
        bp=(pl.col("n_pt").cast(pl.Float64) ** 2 / pl.col("n_p")).sum(),
        br=(pl.col("n_pt").cast(pl.Float64) ** 2 / pl.col("n_t")).sum(),
    ).row(0, named=True)
    pred_pairs = ct.unique("_p").select(pairs("n_p").sum()).item()
    true_pairs = ct.unique("_t").select(pairs("n_t").sum()).item()
    tp = s["tp"] or 0
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    bp = s["bp"] / n if n else 1.0
    br = s["br"] / n if n else 1.0
    return {
        "precision": precision, "recall": recall, "f1": _f1(precision, recall),
        "bcubed_precision": bp, "bcubed_recall": br, "bcubed_f1": _f1(bp, br),
        "records": n, "pred_clusters": ct["_p"].n_unique(), "true_clusters": ct["_t"].n_unique(),
        "tp_pairs": int(tp), "pred_pairs": int(pred_pairs or 0), "true_pairs": int(true_pairs or 0),
        "missing": int(missing), "extra": int(extra),
    }
