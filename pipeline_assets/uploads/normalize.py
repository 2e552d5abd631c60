"""Per-type normalizers.

Every normalizer turns one text column into: `norm` (the canonical text),
`valid` (null where the cell is empty) and type-specific parts. The original
column is kept beside them by the caller, and nothing is dropped: an invalid
cell is reported with its original value.

Library-backed types (names, e-mails, phones, addresses, URLs) are evaluated
over the *distinct* values of a chunk only, through a bounded per-column cache
kept across chunks, then joined back: real columns repeat, and a library call
costs 20-200 us while a join costs nanoseconds per row. Formats a library
adds nothing to (dates, amounts, postal codes, VINs, text) are vectorized
Polars expressions, with python-dateutil for dates no format fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import polars as pl
from dateutil import parser as date_parser

from .config import UploadOptions
from .parallel import ValueMapper
from .types import ColumnType
from .values import (address_tag, address_value, email_value, name_value,  # noqa: F401 - re-exported
                     phone_value, url_value)


class BoundedCache:
    """A dict with a size bound; the oldest entries go first. A plain dict keeps
    insertion order, so eviction is O(1) without an LRU's bookkeeping on hits
    (hits are the hot path here)."""

    def __init__(self, maxsize: int):
        self.maxsize, self.data = maxsize, {}
        self.frame: pl.DataFrame | None = None   # library results as a table (see _library_frame)
        self.hits = self.misses = 0

    def lookup_many(self, values: list[str], compute: Callable[[list[str]], list[tuple]]) -> list[tuple]:
        """One result per value; `compute` gets the values not cached, all at once."""
        data = self.data
        missing = [v for v in values if v not in data]
        computed = dict(zip(missing, compute(missing))) if missing else {}
        get = data.get
        out = [computed[v] if v in computed else get(v) for v in values]
        if self.maxsize:
            data.update(computed)
        self.misses += len(missing)
        self.hits += len(values) - len(missing)
        overflow = len(data) - self.maxsize
        if overflow > 0:
            for k in list(data.keys())[:overflow]:  # amortized: happens once per chunk at most
                del data[k]
        return out


# -- library-backed, per distinct value -------------------------------------------------

NAME_PARTS = {"first": pl.String, "middle": pl.String, "last": pl.String, "title": pl.String, "suffix": pl.String}


PHONE_PARTS = {"region": pl.String, "extension": pl.String}


ADDRESS_PARTS = {"number": pl.String, "street": pl.String, "unit": pl.String, "po_box": pl.String,
                 "city": pl.String, "state": pl.String, "postal_code": pl.String}


URL_PARTS = {"host": pl.String}


def _special_name_words() -> list[str]:
    # Every word nameparser treats specially (titles, suffixes, prefixes such as
    # "van" or "de", conjunctions): names containing one take the full parser.
    from nameparser.config import CONSTANTS as C

    words: set[str] = set()
    for attr in ("titles", "suffix_acronyms", "suffix_not_acronyms", "prefixes", "conjunctions", "first_name_titles"):
        words |= {w.lower() for w in getattr(C, attr, ())}
    return sorted(words)


_SPECIAL_NAME_WORDS: list[str] | None = None
_PLAIN_NAME = r"^[\p{L}][\p{L}'’\-]+( [\p{L}][\p{L}'’\-]+){1,2}$"


def _name_frame(s: pl.Series, opts: UploadOptions, cache: BoundedCache, mapper: ValueMapper) -> pl.DataFrame:
    """nameparser's result, with a vectorized path for plain 2-3 word names.

    For "First Last" / "First Middle Last" made of ordinary words (letters,
    apostrophes, hyphens; no initials, titles, suffixes, particles or commas)
    nameparser assigns first / middle / last by position, and re-cases only
    an all-upper or all-lower name, word by word. So the words are split in
    Polars, and nameparser's own capitalization runs once per distinct *word*
    (first and last names repeat far more than full names). Everything else
    goes through HumanName per distinct value. tests/test_uploads_normalize.py
    checks both paths agree."""
    global _SPECIAL_NAME_WORDS
    if _SPECIAL_NAME_WORDS is None:
        _SPECIAL_NAME_WORDS = _special_name_words()
    v = pl.col("v")
    if not opts.preserve_accents:
        v = v.str.normalize("NFKD").str.replace_all(r"\p{Mn}", "")
    df = s.rename("v").to_frame().with_columns(v.str.replace_all(r"\s+", " ").alias("c"))
    words = pl.col("c").str.split(" ")
    plain = (pl.col("c").str.contains(_PLAIN_NAME)
             & ~words.list.eval(pl.element().str.to_lowercase().is_in(_SPECIAL_NAME_WORDS)).list.any())
    df = df.with_columns(plain.fill_null(False).alias("plain"),
                         ((pl.col("c") == pl.col("c").str.to_lowercase())
                          | (pl.col("c") == pl.col("c").str.to_uppercase())).alias("recase"))
    fast = df.filter("plain").with_columns(words.alias("w"))
    fast = fast.with_columns(pl.col("w").list.first().alias("first"),
                             pl.when(pl.col("w").list.len() == 3).then(pl.col("w").list.get(1, null_on_oob=True))
                             .alias("middle"),
                             pl.col("w").list.last().alias("last"))
    to_case = pl.concat([fast.filter("recase").get_column(c) for c in ("first", "middle", "last")]).drop_nulls().unique()
    if to_case.len():
        cased = cache.lookup_many([f"\x00word:{w}" for w in to_case.to_list()],
                                  lambda keys: mapper.map("name_word", [k[6:] for k in keys], opts))
        mapping = dict(zip(to_case.to_list(), (c[0] for c in cased)))
        fast = fast.with_columns(pl.when(pl.col("recase")).then(pl.col(c).replace(mapping)).otherwise(pl.col(c))
                                 .alias(c) for c in ("first", "middle", "last"))
    fast = fast.select("v", pl.concat_str(["first", "middle", "last"], separator=" ", ignore_nulls=True).alias("norm"),
                       pl.lit(True).alias("valid"), "first", "middle", "last",
                       pl.lit(None, dtype=pl.String).alias("title"), pl.lit(None, dtype=pl.String).alias("suffix"))
    slow_values = df.filter(~pl.col("plain") & pl.col("v").is_not_null())["v"].unique()
    slow = _library_frame(slow_values, ColumnType.PERSON_NAME, opts, cache, mapper).with_columns(
        slow_values.alias("v")) if slow_values.len() else None
    mapping = pl.concat([fast.unique("v"), slow.select(fast.columns)]) if slow is not None else fast.unique("v")
    return (s.rename("v").to_frame().join(mapping, on="v", how="left", maintain_order="left").drop("v"))


@dataclass(frozen=True)
class LibraryNormalizer:
    fn: Callable[[str, UploadOptions], tuple]
    parts: dict[str, pl.DataType]


LIBRARY: dict[ColumnType, LibraryNormalizer] = {
    ColumnType.PERSON_NAME: LibraryNormalizer(name_value, NAME_PARTS),
    ColumnType.EMAIL: LibraryNormalizer(email_value, {}),
    ColumnType.PHONE: LibraryNormalizer(phone_value, PHONE_PARTS),
    ColumnType.ADDRESS: LibraryNormalizer(address_value, ADDRESS_PARTS),
    ColumnType.URL: LibraryNormalizer(url_value, URL_PARTS),
}


def _library_frame(s: pl.Series, ctype: ColumnType, opts: UploadOptions, cache: BoundedCache,
                   mapper: ValueMapper) -> pl.DataFrame:
    spec = LIBRARY[ctype]
    schema = {"__key": pl.String, "norm": pl.String, "valid": pl.Boolean, **spec.parts}
    uniq = s.drop_nulls().unique()
    # Results seen in earlier chunks are a DataFrame, so the hits are a join,
    # not a Python loop over every distinct value of every chunk.
    known = cache.frame
    if known is not None and known.height:
        # One hash join splits hits from misses (a cached result always has `valid`).
        looked_up = uniq.to_frame("__key").join(known, on="__key", how="left")
        found = pl.col("valid").is_not_null()
        hit = looked_up.filter(found)
        miss = looked_up.filter(~found)["__key"]
    else:
        hit, miss = None, uniq
    # Every new distinct value goes through the library (here or in a helper process).
    results = mapper.map(ctype.value, miss.to_list(), opts)
    cols = list(zip(*results)) if results else [[] for _ in range(len(schema) - 1)]
    new = pl.DataFrame({"__key": miss, **{n: pl.Series(n, c, dtype=schema[n]) for n, c in zip(list(schema)[1:], cols)}})
    cache.misses += miss.len()
    cache.hits += uniq.len() - miss.len()
    if cache.maxsize:
        table = new if known is None else pl.concat([known, new])
        cache.frame = table.tail(cache.maxsize) if table.height > cache.maxsize else table  # oldest go first
    mapping = new if hit is None else pl.concat([hit, new])
    return (s.rename("__key").to_frame()
            .join(mapping, on="__key", how="left", maintain_order="left").drop("__key"))


# -- vectorized ------------------------------------------------------------------------

def _date_formats(dayfirst: bool) -> list[str]:
    md = ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%m/%d/%Y", "%m-%d-%Y"] if dayfirst else \
         ["%m/%d/%Y", "%m-%d-%Y", "%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y"]
    short = ["%d/%m/%y"] if dayfirst else ["%m/%d/%y"]
    return ["%Y-%m-%d", "%Y/%m/%d", *md, *short, "%b %d, %Y", "%B %d, %Y", "%b %d %Y", "%B %d %Y",
            "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%Y%m%d"]


def date_expr(col: str, dayfirst: bool) -> pl.Expr:
    """First format that parses to a plausible year (1800-2200) wins."""
    c = pl.col(col)
    tries = []
    for fmt in _date_formats(dayfirst):
        d = c.str.to_date(fmt, strict=False)
        tries.append(pl.when(d.dt.year().is_between(1800, 2200)).then(d))
    # ISO timestamps: the date part.
    ts = c.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    tries.append(pl.when(c.str.len_chars().gt(10) & c.str.slice(10, 1).is_in(["T", " "])).then(ts))
    return pl.coalesce(tries)


def _date_fallback(v: str, dayfirst: bool):
    try:
        d = date_parser.parse(v, dayfirst=dayfirst, fuzzy=False)
    except (ValueError, OverflowError, TypeError):
        return (None,)
    return (d.date(),) if 1800 <= d.year <= 2200 else (None,)


def _date_frame(s: pl.Series, opts: UploadOptions, cache: BoundedCache) -> pl.DataFrame:
    df = s.rename("v").to_frame().with_columns(date_expr("v", opts.dayfirst).alias("date"))
    left = df.filter(pl.col("v").is_not_null() & pl.col("date").is_null())["v"].unique()
    if left.len():
        # Spelled-out or unusual dates ("March 3rd, 2024"): dateutil, per distinct value.
        found = cache.lookup_many(left.to_list(), lambda vs: [_date_fallback(v, opts.dayfirst) for v in vs])
        fix = pl.DataFrame({"v": left, "fix": pl.Series([r[0] for r in found], dtype=pl.Date)})
        df = (df.join(fix, on="v", how="left", maintain_order="left")
              .with_columns(pl.coalesce("date", "fix").alias("date")).drop("fix"))
    return df.select(pl.col("date").dt.to_string("%Y-%m-%d").alias("norm"),
                     pl.when(pl.col("v").is_not_null()).then(pl.col("date").is_not_null()).alias("valid"),
                     "date")


SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "C$": "CAD", "A$": "AUD",
           "CA$": "CAD", "AU$": "AUD", "MX$": "MXN", "R$": "BRL", "CHF": "CHF", "₩": "KRW", "₽": "RUB", "zł": "PLN"}
CODES = ("USD", "EUR", "GBP", "JPY", "INR", "CAD", "AUD", "MXN", "BRL", "CHF", "CNY", "SEK", "NOK", "DKK", "PLN",
         "NZD", "ZAR", "KRW", "RUB", "SGD", "HKD")


_MARK = r"(US\$|CA\$|AU\$|MX\$|R\$|C\$|A\$|[$€£¥₹₩₽]|zł|\b(?:" + "|".join(CODES) + r")\b)"


def currency_parts(col: str, opts: UploadOptions) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(amount as Decimal(18,2), ISO code, has a currency marker). One symbol or
    code is taken off; what is left must be a number with an optional sign or
    parentheses (accounting negatives), else the cell is not an amount."""
    c = pl.col(col).str.strip_chars()
    mark = c.str.extract(_MARK, 1)
    rest = c.str.replace(_MARK, "")
    is_number = rest.str.contains(r"^\s*[(+\-]?\s*[0-9][0-9.,]*\s*\)?\s*$")
    negative = rest.str.contains(r"^\s*[(\-]")
    digits = rest.str.replace_all(r"[^0-9.,]", "")
    if opts.decimal_comma:
        digits = digits.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    else:
        digits = digits.str.replace_all(",", "", literal=True)
    amount = pl.when(is_number).then(digits.cast(pl.Decimal(18, 2), strict=False))
    amount = pl.when(negative).then(-amount).otherwise(amount)
    iso = mark.replace_strict({**SYMBOLS, **{code: code for code in CODES}}, default=None, return_dtype=pl.String)
    marker = iso.is_not_null() | c.str.contains(r"[0-9]\.[0-9]{2}$") | c.str.contains(r"[0-9],[0-9]{3}")
    return amount, iso, marker


def _currency_frame(s: pl.Series, opts: UploadOptions) -> pl.DataFrame:
    amount, iso, _ = currency_parts("v", opts)
    return (s.rename("v").to_frame()
            .with_columns(amount.alias("amount"), iso.alias("currency"))
            .select(pl.col("amount").cast(pl.String).alias("norm"),
                    pl.when(pl.col("v").is_not_null()).then(pl.col("amount").is_not_null()).alias("valid"),
                    "amount",
                    pl.when(pl.col("amount").is_not_null())
                    .then(pl.coalesce("currency", pl.lit(opts.default_currency))).alias("currency")))


def number_expr(col: str, opts: UploadOptions) -> pl.Expr:
    c = pl.col(col).str.strip_chars()
    if opts.decimal_comma:
        c = c.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    else:
        c = c.str.replace_all(r"(\d),(\d{3})", "$1$2")
    return c.cast(pl.Float64, strict=False)


def _number_frame(s: pl.Series, opts: UploadOptions) -> pl.DataFrame:
    return (s.rename("v").to_frame().with_columns(number_expr("v", opts).alias("number"))
            .select(pl.when(pl.col("number").is_finite() & (pl.col("number") == pl.col("number").round(0))
                            & (pl.col("number").abs() < 1e15))
                    .then(pl.col("number").cast(pl.Int64).cast(pl.String))
                    .otherwise(pl.col("number").cast(pl.String)).alias("norm"),
                    pl.when(pl.col("v").is_not_null()).then(pl.col("number").is_not_null()).alias("valid"),
                    "number"))


# Postal code formats by country (the default country decides). US ZIPs that lost
# their leading zero in a spreadsheet (2134 for 02134) are padded back.
POSTAL_FORMATS = {
    "US": r"^\d{5}(-\d{4})?$", "CA": r"^[A-Z]\d[A-Z] \d[A-Z]\d$", "GB": r"^[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}$",
    "DE": r"^\d{5}$", "FR": r"^\d{5}$", "ES": r"^\d{5}$", "IT": r"^\d{5}$", "MX": r"^\d{5}$", "NL": r"^\d{4} [A-Z]{2}$",
    "AU": r"^\d{4}$", "BR": r"^\d{5}-\d{3}$", "IN": r"^\d{6}$", "JP": r"^\d{3}-\d{4}$",
}


def postal_expr(col: str, country: str) -> tuple[pl.Expr, pl.Expr]:
    c = pl.col(col).str.strip_chars().str.to_uppercase()
    if country == "US":
        digits_only = c.str.replace_all(r"[\s-]", "")
        c = (pl.when(c.str.contains(r"^\d{3,4}$")).then(c.str.zfill(5))
             .when(digits_only.str.contains(r"^\d{9}$"))
             .then(pl.concat_str([digits_only.str.slice(0, 5), pl.lit("-"), digits_only.str.slice(5, 4)]))
             .otherwise(c))
    elif country in ("CA", "GB", "NL"):
        compact = c.str.replace_all(r"\s+", "")
        c = pl.concat_str([compact.str.slice(0, compact.str.len_chars() - 3), pl.lit(" "),
                           compact.str.slice(-3)]) if country != "NL" else \
            pl.concat_str([compact.str.slice(0, 4), pl.lit(" "), compact.str.slice(4)])
    ok = c.str.contains(POSTAL_FORMATS.get(country, r"^[A-Z0-9][A-Z0-9 -]{2,9}$"))
    return c, ok


def _postal_frame(s: pl.Series, opts: UploadOptions) -> pl.DataFrame:
    norm, ok = postal_expr("v", opts.default_country)
    return (s.rename("v").to_frame()
            .select(pl.when(ok).then(norm).alias("norm"), pl.when(pl.col("v").is_not_null()).then(ok).alias("valid")))


# ISO 3779: 17 characters, no I, O or Q; position 9 is a check digit in North America.
_VIN_VALUES = {**{str(d): d for d in range(10)}, **dict(zip("ABCDEFGH", range(1, 9))),
               **dict(zip("JKLMN", range(1, 6))), "P": 7, "R": 9, **dict(zip("STUVWXYZ", range(2, 10)))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_exprs(col: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    c = pl.col(col).str.to_uppercase().str.replace_all(r"[\s-]", "")
    ok = c.str.contains(r"^[A-HJ-NPR-Z0-9]{17}$")
    total = pl.sum_horizontal([c.str.slice(i, 1).replace_strict(_VIN_VALUES, default=0, return_dtype=pl.Int32) * w
                               for i, w in enumerate(_VIN_WEIGHTS)])
    rem = total % 11
    check = pl.when(rem == 10).then(pl.lit("X")).otherwise(rem.cast(pl.String))
    return c, ok, ok & (c.str.slice(8, 1) == check)


def _vin_frame(s: pl.Series) -> pl.DataFrame:
    norm, ok, check = vin_exprs("v")
    return (s.rename("v").to_frame()
            .select(pl.when(ok).then(norm).alias("norm"), pl.when(pl.col("v").is_not_null()).then(ok).alias("valid"),
                    pl.when(ok).then(check).alias("check_digit_ok")))


def _text_frame(s: pl.Series) -> pl.DataFrame:
    norm = pl.col("v").str.replace_all(r"\s+", " ").str.strip_chars()
    return s.rename("v").to_frame().select(norm.alias("norm"),
                                           pl.when(pl.col("v").is_not_null()).then(norm.str.len_chars() > 0)
                                           .alias("valid"))


def _via_distinct(s: pl.Series, frame: Callable[[pl.Series], pl.DataFrame]) -> pl.DataFrame:
    """Run a vectorized normalizer on the distinct values only and join back:
    15 date formats over 3,000 distinct dates beat 15 formats over 200,000 rows."""
    uniq = s.unique()
    return (s.rename("__key").to_frame()
            .join(frame(uniq).with_columns(uniq.rename("__key")), on="__key", how="left", maintain_order="left",
                  nulls_equal=True)
            .drop("__key"))


_SERIAL = ValueMapper(0)


def normalize_series(s: pl.Series, ctype: ColumnType, opts: UploadOptions, cache: BoundedCache,
                     mapper: ValueMapper | None = None) -> pl.DataFrame:
    """norm, valid and the type's parts for one (already trimmed, empty = null) text column.
    `mapper` runs the library calls (default: in this process)."""
    mapper = mapper or _SERIAL
    if ctype == ColumnType.PERSON_NAME:
        return _via_distinct(s, lambda u: _name_frame(u, opts, cache, mapper))
    if ctype in LIBRARY:
        return _library_frame(s, ctype, opts, cache, mapper)
    if ctype == ColumnType.DATE:
        return _via_distinct(s, lambda u: _date_frame(u, opts, cache))
    if ctype == ColumnType.CURRENCY:
        return _currency_frame(s, opts)
    if ctype == ColumnType.NUMBER:
        return _number_frame(s, opts)
    if ctype == ColumnType.POSTAL_CODE:
        return _via_distinct(s, lambda u: _postal_frame(u, opts))
    if ctype == ColumnType.VIN:
        return _vin_frame(s)
    return _text_frame(s)
