"""Streaming download of one file-drop URL (http/https), under the same rules
as the scrapers.

File sources usually live on disk or S3, which fsspec reads. An `https://`
drop is different: it is a request to somebody's server, so it gets the
scrapers' guard rails instead of fsspec's HTTP filesystem, which follows any
redirect and would connect to any address:
- the host must be in the source's `allowed_hosts` (default: the location's
  own host), on the first request and on every redirect hop;
- every address the host resolves to must be public unless the source sets
  `allow_private_networks: true`;
- 429/5xx and connection errors are retried with backoff (Retry-After honoured).

The body is streamed to `dest` in chunks, so a multi-GB export never sits in
memory (the JSON-API client buffers bodies, which suits pages, not dumps).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from .retry import backoff_delay, retry_after_seconds
from .security import AddressGuard, BlockedRequest, host_allowed

RETRY_STATUSES = {429, 500, 502, 503, 504}


class DownloadError(Exception):
    """A drop that could not be fetched; the message names the URL."""

    def __init__(self, message: str, *, url: str, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.url, self.status, self.attempts = url, status, attempts


@dataclass(frozen=True)
class Downloaded:
    final_url: str
    bytes: int
    status: int
    attempts: int
    # The server's Last-Modified, so a re-fetch of an unchanged file is stamped
    # the same; None when the server does not send one.
    last_modified: datetime | None


def download(url: str, dest: Path, *, source: str, allowed_hosts: list[str] | None = None,
             allow_private_networks: bool = False, timeout: float = 60.0, max_attempts: int = 3,
             max_redirects: int = 5, backoff_base: float = 0.5, backoff_max: float = 30.0,
             headers: dict[str, str] | None = None) -> Downloaded:
    allowed = allowed_hosts or [urlsplit(url).hostname or ""]
    guard = AddressGuard(source, allow_private_networks)
    current = url
    attempts = 0
    with httpx.Client(timeout=timeout, follow_redirects=False, headers=headers) as client:
        for _hop in range(max_redirects + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise DownloadError(f"source {source}: GET {current}: not an http(s) URL", url=current)
            if not host_allowed(parts.hostname, allowed):
                raise DownloadError(f"source {source}: GET {current}: host {parts.hostname!r} is not in "
                                    f"allowed_hosts {allowed}", url=current)
            try:
                asyncio.run(guard.resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)))
            except BlockedRequest as e:
                raise DownloadError(f"{e} (GET {current})", url=current) from None
            except OSError as e:
                raise DownloadError(f"source {source}: GET {current}: {e}", url=current) from None
            for attempt in range(1, max_attempts + 1):
                attempts += 1
                try:
                    with client.stream("GET", current) as resp:
                        if resp.is_redirect:
                            location = resp.headers.get("location")
                            if not location:
                                raise DownloadError(f"source {source}: GET {current}: redirect without Location",
                                                    url=current, status=resp.status_code, attempts=attempts)
                            current = urljoin(current, location)
                            break
                        if resp.status_code in RETRY_STATUSES and attempt < max_attempts:
                            wait = retry_after_seconds(resp.headers.get("retry-after"))
                            time.sleep(min(wait, backoff_max) if wait is not None
                                       else backoff_delay(attempt, backoff_base, backoff_max))
                            continue
                        if resp.status_code != 200:
                            raise DownloadError(f"source {source}: GET {current}: HTTP {resp.status_code} after "
                                                f"{attempts} attempt(s)", url=current, status=resp.status_code,
                                                attempts=attempts)
                        size = _stream_to(resp, dest)
                        return Downloaded(str(resp.url), size, resp.status_code, attempts,
                                          _last_modified(resp.headers.get("last-modified")))
                except (httpx.TransportError, OSError) as e:
                    if attempt == max_attempts:
                        raise DownloadError(f"source {source}: GET {current}: {type(e).__name__}: {e} after "
                                            f"{attempts} attempt(s)", url=current, attempts=attempts) from None
                    time.sleep(backoff_delay(attempt, backoff_base, backoff_max))
    raise DownloadError(f"source {source}: GET {url}: more than {max_redirects} redirects", url=url,
                        attempts=attempts)


def _stream_to(resp: httpx.Response, dest: Path) -> int:
    # Temp name then rename: a torn download never looks like a complete file.
    tmp = dest.with_name(dest.name + ".part")
    size = 0
    with open(tmp, "wb") as f:
        for chunk in resp.iter_bytes(1 << 20):
            f.write(chunk)
            size += len(chunk)
    tmp.replace(dest)
    return size


def _last_modified(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(timezone.utc)
    except (TypeError, ValueError):
        return None


__all__ = ["DownloadError", "Downloaded", "download"]
