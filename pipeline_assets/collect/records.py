"""Record conventions shared with the file readers: all values as text, nested
objects flattened to dotted keys, and a SHA-256 of the record's JSON."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

# One flattening rule for every raw record in the lake, whether it came from
# a file or from a scraper (bools as true/false, whole floats without ".0",
# lists as JSON text).
from ..transforms.readers import _flatten as flatten_record  # noqa: F401


class ExtractError(ValueError):
    """A fetched page whose records cannot be read; the message names the URL."""


def payload_hash(record: Any) -> str:
    """Keys sorted, so the hash does not depend on the server's key order."""
    return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()
