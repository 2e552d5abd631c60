"""ETag / Last-Modified per URL, kept in a small JSON file between runs, so an
unchanged page costs a 304 instead of a full body."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

import orjson

# store key -> response header
_KEPT = {"etag": "etag", "last_modified": "last-modified", "content_type": "content-type", "link": "link"}


class ValidatorStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._data: dict[str, dict[str, str]] = {}
        self._dirty = False
        if self.path.exists():
            try:
                self._data = orjson.loads(self.path.read_bytes())
            except orjson.JSONDecodeError:
                # A corrupt cache only costs full downloads; never fail a run on it.
                self._data = {}

    def request_headers(self, url: str) -> dict[str, str]:
        v = self._data.get(url) or {}
        out = {}
        if v.get("etag"):
            out["If-None-Match"] = v["etag"]
        if v.get("last_modified"):
            out["If-Modified-Since"] = v["last_modified"]
        return out

    def update(self, url: str, headers: Mapping[str, str]) -> None:
        """Remember the validators of a 200, and the headers needed to use the
        stored body again after a 304 (content type, Link pagination)."""
        new = {key: headers[h] for key, h in _KEPT.items() if headers.get(h)}
        if not new.get("etag") and not new.get("last_modified"):
            if self._data.pop(url, None) is not None:
                self._dirty = True
            return
        if self._data.get(url) != new:
            self._data[url] = new
            self._dirty = True

    def cached_headers(self, url: str) -> dict[str, str]:
        """Headers of the stored response, as a 304 means "what you have is current"."""
        v = self._data.get(url) or {}
        return {h: v[key] for key, h in _KEPT.items() if key in v}

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a crash mid-write leaves the old store, not half a file.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(self._data, option=orjson.OPT_SORT_KEYS))
        os.replace(tmp, self.path)
        self._dirty = False
