"""The library calls behind the library-backed types, one value at a time.

No Polars, DuckDB or Dagster here: helper processes (see parallel.py) import
only this module and the libraries, so they start in a fraction of a second
and stay small. normalize.py and detect.py call the same functions in the
main process, so a value gets the same result wherever it is computed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from itertools import islice
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

import phonenumbers
import usaddress
from email_validator import EmailNotValidError, validate_email
from nameparser import HumanName


@dataclass(frozen=True)
class ValueOptions:
    """The options the value functions read (UploadOptions has the same
    attributes; this plain, picklable subset is what helper processes get)."""

    default_country: str = "US"
    preserve_accents: bool = True
    lowercase_email_local_part: bool = True

    @classmethod
    def of(cls, opts) -> "ValueOptions":
        return cls(opts.default_country, opts.preserve_accents, opts.lowercase_email_local_part)


def _strip_accents(s: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch))


def name_value(v: str, opts: ValueOptions) -> tuple:
    text = v if opts.preserve_accents else _strip_accents(v)
    h = HumanName(text)
    # Only all-upper or all-lower names are re-cased: "DeShawn" and "van der
    # Berg" as written are kept (nameparser's default, force=False).
    h.capitalize()
    ok = bool(h.first or h.last) and not any(ch.isdigit() for ch in text) and any(ch.isalpha() for ch in text)
    if not ok:
        return (None, False, None, None, None, None, None)
    norm = " ".join(p for p in (h.title, h.first, h.middle, h.last, h.suffix) if p)
    return (norm, True, h.first or None, h.middle or None, h.last or None, h.title or None, h.suffix or None)


def email_value(v: str, opts: ValueOptions) -> tuple:
    try:
        r = validate_email(v.removeprefix("mailto:"), check_deliverability=False)
    except EmailNotValidError:
        return (None, False)
    local = r.local_part
    # Domains are case-insensitive; local parts are so in practice for ASCII
    # mailboxes, but case-folding non-ASCII local parts can change the address.
    if opts.lowercase_email_local_part and local.isascii():
        local = local.lower()
    return (f"{local}@{r.domain.lower()}", True)


def phone_value(v: str, opts: ValueOptions) -> tuple:
    try:
        n = phonenumbers.parse(v, opts.default_country)
    except phonenumbers.NumberParseException:
        return (None, False, None, None)
    # is_valid_number() looks the region up itself; doing it once here halves the cost.
    region = phonenumbers.region_code_for_number(n)
    if not phonenumbers.is_valid_number_for_region(n, region):
        return (None, False, None, None)
    return (phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164), True, region, n.extension or None)


_STREET = ("StreetNamePreModifier", "StreetNamePreDirectional", "StreetNamePreType", "StreetName",
           "StreetNamePostType", "StreetNamePostDirectional", "StreetNamePostModifier")


def _digit_shape(token: str) -> str:
    """The token as usaddress's CRF sees it. For an all-digit token the features
    are only its length and trailing zeros (usaddress.tokenFeatures), so 4821
    and 1111 tag identically: map 2-9 to 1 and keep the zeros. Other tokens
    ("4B", "12th", "62701-1234") are features by their text and stay as they are."""
    core = token.strip("(.,;)\n")
    return token.translate(_TO_ONE) if core.isdigit() else token


_TO_ONE = str.maketrans("23456789", "11111111")
# Bounded: a shape key and its labels take ~1 kB of Python objects, so 50,000
# shapes cap this at ~50 MB per process whatever the file's size (the benchmark's
# 50,000 addresses have ~11,000 shapes). The oldest quarter goes when it is full.
LABELS_CACHE_MAX = 50_000
_LABELS: dict[tuple[str, ...], list[str]] = {}


def _labels(tokens: list[str]) -> list[str]:
    # House numbers, box numbers and ZIPs vary per row while the rest of the
    # address repeats: tagging the digit *shape* once serves every row of that
    # shape, with exactly the labels usaddress would give each of them.
    key = tuple(_digit_shape(t) for t in tokens)
    labels = _LABELS.get(key)
    if labels is None:
        if len(_LABELS) >= LABELS_CACHE_MAX:
            for old in list(islice(_LABELS, max(1, LABELS_CACHE_MAX // 4))):
                del _LABELS[old]
        labels = _LABELS[key] = list(usaddress.TAGGER.tag(usaddress.tokens2features(list(key))))
    return labels


def address_tag(v: str) -> tuple[dict[str, str], str] | None:
    """usaddress.tag(v), computed through the digit-shape cache (same grouping
    rules as usaddress.tag). None where usaddress raises RepeatedLabelError."""
    tokens = usaddress.tokenize(v)
    if not tokens:
        return {}, "Ambiguous"
    components: dict[str, list[str]] = {}
    last, intersection, seen = None, False, []
    for token, label in zip(tokens, _labels(tokens)):
        if label == "IntersectionSeparator":
            intersection = True
        if "StreetName" in label and intersection:
            label = "Second" + label
        seen.append(label)
        if label == last:
            components[label].append(token)
        elif label not in components:
            components[label] = [token]
        else:
            return None
        last = label
    tagged = {k: " ".join(t).strip(" ,;") for k, t in components.items()}
    if "AddressNumber" in seen and not intersection:
        kind = "Street Address"
    elif intersection and "AddressNumber" not in seen:
        kind = "Intersection"
    elif "USPSBoxID" in seen:
        kind = "PO Box"
    else:
        kind = "Ambiguous"
    return tagged, kind


def address_value(v: str, opts: ValueOptions) -> tuple:
    found = address_tag(" ".join(v.split()))
    if found is None:
        return (None, False) + (None,) * 7
    parts, kind = found
    g = lambda *keys: " ".join(parts[k] for k in keys if parts.get(k)) or None  # noqa: E731
    number = g("AddressNumberPrefix", "AddressNumber", "AddressNumberSuffix")
    street = g(*_STREET)
    unit = g("OccupancyType", "OccupancyIdentifier", "SubaddressType", "SubaddressIdentifier")
    box_id = parts.get("USPSBoxID")
    po_box = f"PO Box {box_id}" if box_id else None
    city, state = parts.get("PlaceName"), parts.get("StateName")
    state = state.upper() if state and len(state) <= 3 else state
    postal = parts.get("ZipCode")
    ok = (kind == "Street Address" and bool(number and street)) or (kind == "PO Box" and bool(box_id))
    if not ok:
        return (None, False, number, street, unit, po_box, city, state, postal)
    line = po_box if kind == "PO Box" else " ".join(p for p in (number, street, unit) if p)
    tail = " ".join(p for p in (state, postal) if p)
    norm = ", ".join(p for p in (line, city, tail) if p)
    return (norm, True, number, street, unit, po_box, city, state, postal)


def url_value(v: str, opts: ValueOptions) -> tuple:
    s = v.strip()
    if " " in s:
        return (None, False, None)
    if "://" not in s and s.lower().startswith("www."):
        s = "http://" + s
    try:
        p = urlsplit(s)
        host = (p.hostname or "").rstrip(".")
        port = p.port
    except ValueError:
        return (None, False, None)
    if p.scheme.lower() not in ("http", "https") or "." not in host:
        return (None, False, None)
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return (None, False, None)
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    return (urlunsplit((p.scheme.lower(), netloc, p.path or "/", p.query, p.fragment)), True, host)


def _cap_word(word: str) -> str:
    h = HumanName(word)
    h.capitalize(force=True)
    return h.first or word


def name_word_value(word: str, opts: ValueOptions) -> tuple:
    return (_cap_word(word),)


# kind -> function(value, options) -> tuple; the kinds are ColumnType values, plus
# "name_word" (nameparser's casing of one word, for the plain-name fast path).
VALUE_FUNCTIONS: dict[str, Callable[[str, ValueOptions], tuple]] = {
    "person_name": name_value,
    "email": email_value,
    "phone": phone_value,
    "address": address_value,
    "url": url_value,
    "name_word": name_word_value,
}


def compute(kind: str, values: list[str], opts: ValueOptions) -> list[tuple]:
    """One result tuple per value, in order (what a helper process runs)."""
    fn = VALUE_FUNCTIONS[kind]
    return [fn(v, opts) for v in values]


def warm_up() -> None:
    """Load what the libraries load lazily (phone metadata, the address model)."""
    opts = ValueOptions()
    for kind, value in (("phone", "(212) 555-0143"), ("email", "a@example.com"),
                        ("address", "123 Main St, Springfield, IL 62701"), ("person_name", "Dr. Jane Q. Doe"),
                        ("url", "www.example.com"), ("name_word", "JOHN")):
        VALUE_FUNCTIONS[kind](value, opts)


def serve() -> None:
    """A helper process (parallel.py): length-prefixed pickles in on stdin,
    (ok, results) out; exits when stdin closes. A thread drains stdin into a
    queue, so the parent's writes never wait on a reply this process is
    blocked writing (the parent sends at most a few requests ahead)."""
    import os
    import pickle
    import queue
    import struct
    import sys
    import threading

    header = struct.Struct("<Q")
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)   # a stray print from a library must not corrupt the replies
    inp = sys.stdin.buffer
    requests: queue.Queue = queue.Queue()

    def read() -> None:
        while True:
            head = inp.read(header.size)
            if len(head) < header.size:
                break
            (n,) = header.unpack(head)
            body = inp.read(n)
            if len(body) < n:
                break
            requests.put(body)
        requests.put(None)

    threading.Thread(target=read, daemon=True).start()
    warm_up()
    out.write(b"R")
    while (body := requests.get()) is not None:
        kind, values, opts = pickle.loads(body)
        try:
            reply = (True, compute(kind, values, opts))
        except Exception as e:  # noqa: BLE001 - the caller recomputes, and raises there
            reply = (False, repr(e))
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(header.pack(len(data)) + data)
