"""Normalization per type: the library-backed ones (names, e-mails, phones,
addresses, URLs) and the vectorized ones (dates, amounts, ZIPs, VINs, text).
Invalid cells stay, flagged; empty cells are neither valid nor invalid."""

from __future__ import annotations

import random
from decimal import Decimal

import polars as pl
import pytest
import usaddress
from nameparser import HumanName

from pipeline_assets.uploads import UploadOptions
from pipeline_assets.uploads.normalize import (BoundedCache, address_tag, address_value, name_value,
                                               normalize_series)
from pipeline_assets.uploads.types import ColumnType as T

OPTS = UploadOptions()


def norm(values, ctype, opts=OPTS) -> pl.DataFrame:
    return normalize_series(pl.Series(values, dtype=pl.String), ctype, opts, BoundedCache(1000))


def test_international_phones_to_e164():
    df = norm(["(212) 555-0143", "+44 20 7946 0958", "+49 30 901820", "+34 612 345 678", "416-555-0199",
               "212.555.0143 ext. 12", "12", "+1 555", None], T.PHONE)
    assert df["norm"].to_list() == ["+12125550143", "+442079460958", "+4930901820", "+34612345678", "+14165550199",
                                    "+12125550143", None, None, None]
    assert df["region"].to_list()[:5] == ["US", "GB", "DE", "ES", "CA"]
    assert df["extension"][5] == "12"
    assert df["valid"].to_list() == [True] * 6 + [False, False, None]


def test_default_country_decides_national_numbers():
    gb = UploadOptions(default_country="GB")
    assert norm(["020 7946 0958"], T.PHONE, gb)["norm"][0] == "+442079460958"
    assert norm(["020 7946 0958"], T.PHONE)["valid"][0] is False  # not a US number


def test_accented_names_split_and_cased():
    df = norm(["MARÍA JOSÉ GARCÍA", "josé o'brien", "Dr. Zoë van der Berg Jr.", "Smith, John Q.", "DeShawn Jones",
               "ÉMILE ZOLA", "12345", None], T.PERSON_NAME)
    assert df["norm"].to_list()[:6] == ["María José García", "José O'Brien", "Dr. Zoë van der Berg Jr.",
                                        "John Q. Smith", "DeShawn Jones", "Émile Zola"]
    assert df.row(2, named=True) | {} == {"norm": "Dr. Zoë van der Berg Jr.", "valid": True, "first": "Zoë",
                                          "middle": None, "last": "van der Berg", "title": "Dr.", "suffix": "Jr."}
    assert (df["first"][3], df["middle"][3], df["last"][3]) == ("John", "Q.", "Smith")
    assert df["valid"].to_list()[-2:] == [False, None]
    stripped = norm(["MARÍA JOSÉ GARCÍA", "Zoë Núñez"], T.PERSON_NAME, UploadOptions(preserve_accents=False))
    assert stripped["norm"].to_list() == ["Maria Jose Garcia", "Zoe Nunez"]


def test_name_fast_path_matches_nameparser():
    rng = random.Random(11)
    words = ["john", "MARY", "José", "o'neil", "McDonald", "smith-jones", "van", "de", "Dr.", "Jr.", "III", "J.",
             "Ng", "ÉMILE", "Zoë", "Li", "and", "Mac", "st", "Björk"]
    values = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(2000)]
    values = [v.upper() if i % 5 == 0 else v.lower() if i % 5 == 1 else v for i, v in enumerate(values)]
    df = norm(values, T.PERSON_NAME)
    for v, got in zip(values, df.iter_rows()):
        assert got == name_value(v, OPTS), v
    h = HumanName("MARY O'NEIL")
    h.capitalize()
    assert norm(["MARY O'NEIL"], T.PERSON_NAME)["norm"][0] == str(h) == "Mary O'Neil"


def test_emails_checked_and_lowercased_where_safe():
    df = norm(["John.Smith@Example.COM", "mailto:a@b.org", "bad@", "no-at-sign", "a@b", "Ünïcode@Example.com",
               "x@localhost"], T.EMAIL)
    assert df["norm"].to_list() == ["john.smith@example.com", "a@b.org", None, None, None, "Ünïcode@example.com", None]
    assert df["valid"].to_list() == [True, True, False, False, False, True, False]
    keep = UploadOptions(lowercase_email_local_part=False)
    assert norm(["John.Smith@Example.COM"], T.EMAIL, keep)["norm"][0] == "John.Smith@example.com"


def test_addresses_and_po_boxes():
    df = norm(["123 n main st apt 4b, Springfield, il 62701", "P.O. Box 55, Austin, TX 78701",
               "PO BOX 9 Denver CO 80202", "4821 Oak Ave", "nowhere in particular", None], T.ADDRESS)
    r = df.to_dicts()
    assert r[0]["number"] == "123" and r[0]["street"] == "n main st" and r[0]["unit"] == "apt 4b"
    assert r[0]["city"] == "Springfield" and r[0]["state"] == "IL" and r[0]["postal_code"] == "62701"
    assert r[1]["po_box"] == "PO Box 55" and r[1]["norm"] == "PO Box 55, Austin, TX 78701" and r[1]["number"] is None
    assert r[2]["po_box"] == "PO Box 9" and r[2]["valid"]
    assert r[3]["norm"] == "4821 Oak Ave" and r[3]["valid"]
    assert r[4]["valid"] is False and r[4]["norm"] is None
    assert r[5]["valid"] is None


def test_address_digit_shape_cache_matches_usaddress():
    rng = random.Random(2)
    values = [f"{rng.randint(1, 99999)} {rng.choice(['N ', ''])}{rng.choice(['Main', '5th', 'Oak'])} "
              f"{rng.choice(['St', 'Ave', ''])}{rng.choice(['', f' Apt {rng.randint(1, 300)}', ' #12B'])}, "
              f"{rng.choice(['Boston, MA 02108', 'Austin, TX 78701-1234'])}" for _ in range(1000)]
    values += [f"PO Box {rng.randint(1, 99999)}, Miami, FL 33101" for _ in range(200)]
    for v in values:
        try:
            ref = usaddress.tag(v)
        except usaddress.RepeatedLabelError:
            ref = None
        assert address_tag(v) == ref, v
    assert address_value("10 Main St", OPTS)[0] == "10 Main St"


def test_dates_to_iso():
    df = norm(["2024-01-05", "3/4/2024", "03/04/24", "Jan 5, 2024", "5 January 2024", "2024-01-05T10:00:00Z",
               "March 3rd, 2024", "31/12/2024", "not a date", "0000-00-00", None], T.DATE)
    assert df["norm"].to_list() == ["2024-01-05", "2024-03-04", "2024-03-04", "2024-01-05", "2024-01-05", "2024-01-05",
                                    "2024-03-03", "2024-12-31", None, None, None]
    assert df["valid"].to_list() == [True] * 8 + [False, False, None]
    day_first = norm(["03/04/2024"], T.DATE, UploadOptions(dayfirst=True))
    assert day_first["norm"][0] == "2024-04-03"


def test_currency_to_decimal():
    df = norm(["$1,234.50", "€45", "USD 1000", "(12.30)", "-$5", "£3.5", "19.99", "12k", "abc", None], T.CURRENCY)
    assert df["amount"].to_list() == [Decimal("1234.50"), Decimal("45.00"), Decimal("1000.00"), Decimal("-12.30"),
                                      Decimal("-5.00"), Decimal("3.50"), Decimal("19.99"), None, None, None]
    assert df["currency"].to_list()[:7] == ["USD", "EUR", "USD", "USD", "USD", "GBP", "USD"]
    assert df["valid"].to_list() == [True] * 7 + [False, False, None]
    eu = norm(["1.234,56 €"], T.CURRENCY, UploadOptions(decimal_comma=True))
    assert eu["amount"][0] == Decimal("1234.56") and eu["currency"][0] == "EUR"


def test_postal_codes_vins_urls_text():
    z = norm(["62701", "2134", "627011234", "62701-1234", "ABCDE"], T.POSTAL_CODE)
    assert z["norm"].to_list() == ["62701", "02134", "62701-1234", "62701-1234", None]
    assert z["valid"].to_list() == [True, True, True, True, False]
    gb = norm(["sw1a1aa", "EC1A 1BB"], T.POSTAL_CODE, UploadOptions(default_country="GB"))
    assert gb["norm"].to_list() == ["SW1A 1AA", "EC1A 1BB"]
    v = norm(["1hgcm82633a004352", "1HGCM82633A004353", "1HGCM82633A00435", "1HGCM8263OA004352"], T.VIN)
    assert v["norm"].to_list() == ["1HGCM82633A004352", "1HGCM82633A004353", None, None]
    assert v["check_digit_ok"].to_list() == [True, False, None, None]
    u = norm(["HTTPS://Shop.Example.COM/Cart?x=1", "www.acme.com", "acme.com", "ftp://x.org", "not a url"], T.URL)
    assert u["norm"].to_list() == ["https://shop.example.com/Cart?x=1", "http://www.acme.com/", None, None, None]
    t = norm(["  two   spaces ", None], T.TEXT)
    assert t["norm"].to_list() == ["two spaces", None] and t["valid"].to_list() == [True, None]


def test_cache_serves_repeated_values_across_chunks():
    cache = BoundedCache(2)
    normalize_series(pl.Series(["a@b.com", "a@b.com", "c@d.com"]), T.EMAIL, OPTS, cache)
    assert cache.misses == 2
    normalize_series(pl.Series(["a@b.com", "e@f.com"]), T.EMAIL, OPTS, cache)
    assert cache.hits == 1 and cache.misses == 3
    assert cache.frame.height == 2 and "e@f.com" in cache.frame["__key"].to_list()  # bounded: the oldest went


@pytest.mark.parametrize("value", ["", "   "])
def test_blank_cells_are_not_judged(value):
    from pipeline_assets.uploads.pipeline import clean
    s = clean(pl.DataFrame({"v": [value]}))["v"]
    assert norm(s.to_list(), T.EMAIL)["valid"][0] is None


def test_address_shape_cache_is_bounded_and_stays_exact(monkeypatch):
    from pipeline_assets.uploads import values

    monkeypatch.setattr(values, "LABELS_CACHE_MAX", 40)
    monkeypatch.setattr(values, "_LABELS", {})
    streets = [f"{w} {t}" for w in ("Main", "Oak", "Pine", "Elm", "Lake", "Hill", "Park", "River") for t in
               ("St", "Ave", "Rd", "Blvd", "Dr", "Ln")]
    for i, street in enumerate(streets * 2):
        v = f"{i * 7 + 1} {street}, Boston, MA 02108"
        assert address_tag(v) == usaddress.tag(v)
        assert len(values._LABELS) <= 40
    assert len(values._LABELS) > 10   # evicts the oldest quarter, not everything
