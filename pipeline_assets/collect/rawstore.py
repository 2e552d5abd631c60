"""Every response body as received, gzip-compressed, one file per page, plus a
manifest (JSON lines, in page order) saying which URL each file came from.
Records can then be re-extracted later without touching the network."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import orjson

MANIFEST = "manifest.jsonl"


class RawStore:
    def __init__(self, raw_dir: str | Path) -> None:
        self.dir = Path(raw_dir)
        self._manifest = None
        self._pool: ThreadPoolExecutor | None = None

    def path_for(self, url: str, page: int, kind: str = "page") -> Path:
        # Page number first so a directory listing reads in order; the URL hash
        # keeps detail pages (many per list page) apart.
        digest = hashlib.sha256(f"{url}#{page}".encode()).hexdigest()[:20]
        tag = "" if kind == "page" else f"{kind}-"
        return self.dir / f"p{page:06d}-{tag}{digest}.gz"

    async def write_async(self, path: Path, body: bytes) -> None:
        """write() on the store's own thread: creating a file is mostly kernel
        time (and compression releases the GIL), so it overlaps with parsing
        and HTTP on the event loop instead of stalling them."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rawstore")
        await asyncio.get_running_loop().run_in_executor(self._pool, self.write, path, body)

    def write(self, path: Path, body: bytes) -> None:
        # mtime=0: the same body always gives the same bytes. No temp file:
        # a torn write fails gzip's length/CRC check when read, never passes as a body.
        path.write_bytes(gzip.compress(body, compresslevel=5, mtime=0))

    def read(self, path: str | Path) -> bytes:
        path = Path(path)
        if not path.is_absolute():
            path = self.dir / path
        return gzip.decompress(path.read_bytes())

    def open_manifest(self) -> None:
        """Start a fresh manifest for a live run (replay only reads it)."""
        self.dir.mkdir(parents=True, exist_ok=True)  # once, not per page
        self._manifest = (self.dir / MANIFEST).open("wb")

    def record(self, entry: dict[str, Any]) -> None:
        assert self._manifest is not None, "open_manifest() first"
        self._manifest.write(orjson.dumps(entry) + b"\n")

    def close(self) -> None:
        if self._manifest is not None:
            self._manifest.close()
            self._manifest = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def entries(self) -> Iterator[dict[str, Any]]:
        path = self.dir / MANIFEST
        if not path.exists():
            raise FileNotFoundError(f"{path}: no manifest; nothing was collected into {self.dir}")
        with path.open("rb") as fh:
            for line in fh:
                if line.strip():
                    yield orjson.loads(line)
