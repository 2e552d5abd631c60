"""Async HTTP for collection: httpx with pooling, politeness, retries and guards.

One `HttpClient` serves one source: a scraper (`HttpSource`) or a file drop
(`DropSource`: a `file` source whose location is an http(s) URL, which is
somebody else's server just as a scraper's is). Per request it:
  * checks the host against the source's `allowed_hosts` and refuses
    addresses that are not public unless `allow_private_networks` is set;
    plain-http connections are pinned to the address that was checked, so a
    DNS answer cannot change between the check and the connect (for https
    the certificate check ties the connection to the name);
  * waits for the host's concurrency slot and rate-limit token;
  * retries connect errors, timeouts, 429 and 5xx (retry.RETRY_STATUSES) with
    exponential backoff and full jitter, or the server's Retry-After (capped
    by retry_after_max);
  * follows redirects itself (max_redirects), re-checking every hop, and
    drops credentials when a redirect leaves the original host;
  * rotates through the configured proxies (one pooled AsyncClient each,
    since httpx binds a proxy per client);
  * sends If-None-Match / If-Modified-Since from a ValidatorStore when asked,
    and reports a 304 as `not_modified`.
That one request loop has two ways to take a body:
  * `fetch` buffers it (a page; at most max_body_mb) and never raises for a
    failed fetch: the FetchResult carries the error;
  * `download` streams a 2xx body to a file in chunks, through a temporary
    name renamed when complete, so a multi-GB export never sits in memory
    (no size cap unless `max_bytes` is given); it raises DownloadError.
    `download_file` is the same for synchronous callers.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from ..sources import AuthConfig, HttpConfig, HttpSource
from .auth import auth_headers
from .conditional import ValidatorStore
from .ratelimit import HostLimits
from .retry import RETRY_STATUSES, backoff_delay, parse_http_date, retry_after_seconds
from .security import AddressGuard, BlockedRequest, host_allowed

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DOWNLOAD_CHUNK = 1 << 20
# A file drop is one long request rather than many pages: a longer read timeout.
DROP_HTTP = HttpConfig(timeout=60.0, max_attempts=3)


@dataclass
class FetchResult:
    url: str
    final_url: str
    status: int | None
    attempts: int
    elapsed: float
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    error: str | None = None
    not_modified: bool = False
    fetched_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class DropSource:
    """What HttpClient needs of a `file` source whose location is an http(s)
    URL (a scraper passes its HttpSource)."""
    name: str
    allowed_hosts: list[str]
    allow_private_networks: bool = False
    http: HttpConfig = DROP_HTTP
    auth: AuthConfig | None = None


@dataclass(frozen=True)
class Downloaded:
    final_url: str
    bytes: int
    status: int
    attempts: int
    # The server's Last-Modified, so a re-fetch of an unchanged file is stamped
    # the same; None when the server does not send one.
    last_modified: datetime | None


class DownloadError(Exception):
    """A drop that could not be fetched; the message names the URL. `url` is
    the URL that failed (or the redirect target that was refused), `status`
    the HTTP status when a response was the reason, `attempts` the requests sent."""

    def __init__(self, message: str, *, url: str, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.url, self.status, self.attempts = url, status, attempts


class _Failure(Exception):
    """Ends a request with an error that is not worth retrying."""


class _Abort(Exception):
    """The body cannot be kept (too large, file not writable): not retried."""


@dataclass
class _Reply:
    status: int
    headers: httpx.Headers
    body: bytes = b""  # empty when the body went to a file
    size: int = 0


@dataclass(frozen=True)
class _FileSink:
    """Where a 2xx body goes instead of memory."""
    dest: Path
    max_bytes: int | None


@dataclass
class _Exchange:
    """One GET with its redirect hops and retries."""
    url: httpx.URL  # the last URL requested
    at: httpx.URL   # the URL the outcome is about: `url`, or a redirect target that was refused
    attempts: int = 0
    reply: _Reply | None = None
    error: str | None = None


class HttpClient:
    def __init__(self, source: HttpSource | DropSource, *,
                 validators: ValidatorStore | str | Path | None = None) -> None:
        """`validators`: the ETag/Last-Modified store (or the path of its JSON
        file; then call `save_validators()` when done)."""
        self.source = source.name
        self.cfg = source.http
        self.allowed_hosts = source.allowed_hosts
        self.validators = validators if validators is None or isinstance(validators, ValidatorStore) \
            else ValidatorStore(validators)
        self._auth = auth_headers(source.name, source.auth)  # fails fast on a missing env var
        self._guard = AddressGuard(source.name, source.allow_private_networks)
        self._limits = HostLimits(self.cfg.concurrency, self.cfg.rate_limit, self.cfg.burst)
        self._max_body = int(self.cfg.max_body_mb * 1024 * 1024)
        proxies: list[str | None] = list(self.cfg.proxies) or [None]
        self._pin = proxies == [None]  # behind a proxy, the proxy resolves names
        self._clients = [self._make_client(p) for p in proxies]
        self._rotation = itertools.cycle(self._clients)

    def _make_client(self, proxy: str | None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            proxy=proxy,
            headers={"User-Agent": self.cfg.user_agent, **self.cfg.headers},
            timeout=httpx.Timeout(self.cfg.timeout, connect=self.cfg.connect_timeout),
            limits=httpx.Limits(max_connections=max(100, self.cfg.concurrency * 4),
                                max_keepalive_connections=max(20, self.cfg.concurrency * 2)),
            follow_redirects=False,  # each hop is checked against allowed_hosts here
            trust_env=False,         # only configured proxies; no surprise HTTP_PROXY/.netrc
        )

    async def __aenter__(self) -> "HttpClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def save_validators(self) -> None:
        if self.validators is not None:
            self.validators.save()

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self._clients))

    async def fetch(self, url: str, *, params: dict | None = None, conditional: bool = False) -> FetchResult:
        start = time.monotonic()
        fetched_at = datetime.now(timezone.utc)
        target = httpx.URL(url)
        if params:
            target = target.copy_merge_params(params)
        requested = str(target)
        headers = dict(self._auth)
        if conditional and self.validators is not None:
            headers.update(self.validators.request_headers(requested))
        ex = await self._exchange(target, headers)
        reply = ex.reply  # None when no response is kept (refused, transport error, redirect loop)
        not_modified = reply is not None and ex.error is None and reply.status == 304
        if reply is not None and ex.error is None and self.validators is not None:
            if not_modified:
                merged = httpx.Headers(self.validators.cached_headers(requested))
                merged.update(reply.headers)
                reply.headers = merged
            else:
                self.validators.update(requested, reply.headers)
        return FetchResult(requested, str(ex.url), reply.status if reply else None, ex.attempts,
                           time.monotonic() - start, reply.headers if reply else httpx.Headers(),
                           reply.body if reply else b"", ex.error, not_modified, fetched_at)

    async def download(self, url: str, dest: str | Path, *, max_bytes: int | None = None) -> Downloaded:
        """Stream `url`'s body to `dest` (written as `dest.part`, renamed when
        complete: a torn download never looks like a whole file). Raises
        DownloadError, leaving nothing at `dest`, when it cannot."""
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as e:
            raise DownloadError(f"GET {url}: {e}", url=url) from None
        ex = await self._exchange(target, dict(self._auth), _FileSink(Path(dest), max_bytes))
        reply = ex.reply
        if ex.error is not None or reply is None:
            raise DownloadError(str(ex.error), url=str(ex.at), status=reply.status if reply else None,
                                attempts=ex.attempts)
        return Downloaded(str(ex.url), reply.size, reply.status, ex.attempts,
                          parse_http_date(reply.headers.get("last-modified")))

    async def _exchange(self, target: httpx.URL, headers: dict[str, str], sink: _FileSink | None = None) -> _Exchange:
        """The request loop: redirects (every hop checked), retries, and the
        verdict on the last response (2xx, or a 304 when buffering, is success)."""
        ex = _Exchange(target, target)
        try:
            self._check_url(target, None)
            for _hop in range(self.cfg.max_redirects + 1):
                reply = ex.reply = await self._send_with_retries(ex, headers, sink)
                location = reply.headers.get("location")
                if reply.status in REDIRECT_STATUSES and location:
                    ex.at = ex.url.join(location)
                    self._check_url(ex.at, str(ex.url))
                    if ex.at.host != ex.url.host:
                        for name in self._auth:  # credentials are for the host they were configured for
                            headers.pop(name, None)
                    ex.url = ex.at
                    continue
                if not (200 <= reply.status < 300 or (reply.status == 304 and sink is None)):
                    tries = f" after {ex.attempts} attempts" if ex.attempts > 1 else ""
                    ex.error = f"GET {ex.url}: HTTP {reply.status}{tries}"
                return ex
            ex.reply, ex.error = None, f"GET {target}: more than {self.cfg.max_redirects} redirects"
        except (_Failure, BlockedRequest) as e:
            ex.reply, ex.error = None, str(e)
        return ex

    def _check_url(self, url: httpx.URL, came_from: str | None) -> None:
        if url.scheme not in ("http", "https") or not url.host:
            raise _Failure(f"source {self.source}: refused {url}: only http and https URLs are fetched")
        if not host_allowed(url.host, self.allowed_hosts):
            what = f"redirect from {came_from} to {url}" if came_from else f"request to {url}"
            raise BlockedRequest(f"source {self.source}: {what} refused: host {url.host!r} is not in "
                                 f"allowed_hosts {self.allowed_hosts}")

    async def _send_with_retries(self, ex: _Exchange, headers: dict[str, str], sink: _FileSink | None) -> _Reply:
        cfg = self.cfg
        target = ex.url
        host = target.host
        port = target.port or (443 if target.scheme == "https" else 80)
        for attempt in range(1, cfg.max_attempts + 1):
            ex.attempts += 1
            client = next(self._rotation)
            try:
                addrs = await self._guard.resolve(host, port)
                async with self._limits.semaphore(host):
                    await self._limits.wait_turn(host)
                    if self._pin and target.scheme == "http":
                        reply = await self._send_pinned(client, target, headers, addrs, sink)
                    else:
                        reply = await self._send_once(client, target, headers, sink)
            except BlockedRequest as e:
                raise BlockedRequest(f"{e} (GET {target})") from None
            except _Abort as e:
                raise _Failure(f"GET {target}: {e}") from None
            except (httpx.TransportError, OSError) as e:
                if isinstance(e, (httpx.UnsupportedProtocol, httpx.LocalProtocolError)) or attempt == cfg.max_attempts:
                    tries = "1 attempt" if attempt == 1 else f"{attempt} attempts"
                    raise _Failure(f"GET {target}: {_describe(e)} after {tries}") from None
                await asyncio.sleep(backoff_delay(attempt, cfg.backoff_base, cfg.backoff_max))
                continue
            if reply.status in RETRY_STATUSES and attempt < cfg.max_attempts:
                wait = retry_after_seconds(reply.headers.get("retry-after"))
                delay = (min(wait, cfg.retry_after_max) if wait is not None
                         else backoff_delay(attempt, cfg.backoff_base, cfg.backoff_max))
                await asyncio.sleep(delay)
                continue
            return reply
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    async def _send_pinned(self, client: httpx.AsyncClient, target: httpx.URL, headers: dict[str, str],
                           addrs: list, sink: _FileSink | None) -> _Reply:
        """Connect to the checked addresses themselves (in resolver order, next
        one on a refused connect, as a resolver-driven client would) with the
        original Host header."""
        if len(addrs) == 1 and target.host == str(addrs[0]):
            return await self._send_once(client, target, headers, sink)  # an address literal: nothing to pin
        hdrs = {**headers, "Host": target.netloc.decode("ascii")}
        for i, addr in enumerate(addrs):
            try:
                return await self._send_once(client, target.copy_with(host=str(addr)), hdrs, sink)
            except httpx.ConnectError:
                if i == len(addrs) - 1:
                    raise
        raise AssertionError("unreachable")  # resolve() never returns an empty list

    async def _send_once(self, client: httpx.AsyncClient, url: httpx.URL, headers: dict[str, str],
                         sink: _FileSink | None) -> _Reply:
        request = client.build_request("GET", url, headers=headers)
        response = await client.send(request, stream=True)
        try:
            if sink is not None and response.is_success:
                return _Reply(response.status_code, response.headers, size=await _save(response, sink))
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self._max_body:
                    # Decoded size: a small gzip bomb is caught too.
                    raise _Abort(f"body larger than {self.cfg.max_body_mb} MB")
                chunks.append(chunk)
        finally:
            await response.aclose()
        return _Reply(response.status_code, response.headers, b"".join(chunks), size)


async def _save(response: httpx.Response, sink: _FileSink) -> int:
    """Stream a body to `sink.dest` through `dest.part`; the size written."""
    tmp = sink.dest.with_name(sink.dest.name + ".part")
    size = 0
    try:
        # File I/O in a worker thread: a slow disk must not stall the other requests of the loop.
        with await asyncio.to_thread(open, tmp, "wb") as f:
            async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK):
                size += len(chunk)
                if sink.max_bytes is not None and size > sink.max_bytes:
                    raise _Abort(f"body larger than {sink.max_bytes} bytes")
                await asyncio.to_thread(f.write, chunk)
        tmp.replace(sink.dest)
    except OSError as e:  # the disk: httpx raises its own errors for the network
        tmp.unlink(missing_ok=True)
        raise _Abort(f"cannot write {sink.dest}: {e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)  # a retry starts the file again
        raise
    return size


def download_file(url: str, dest: str | Path, *, source: str, allowed_hosts: list[str] | None = None,
                  allow_private_networks: bool = False, http: HttpConfig | None = None,
                  max_bytes: int | None = None) -> Downloaded:
    """`HttpClient.download` for synchronous callers, with a client of its own.
    `allowed_hosts` defaults to the URL's own host; `http` to DROP_HTTP."""
    drop = DropSource(source, list(allowed_hosts or [urlsplit(url).hostname or ""]), allow_private_networks,
                      http or DROP_HTTP)

    async def go() -> Downloaded:
        async with HttpClient(drop) as client:
            return await client.download(url, dest, max_bytes=max_bytes)
    return asyncio.run(go())


def _describe(e: BaseException) -> str:
    kind = {httpx.ConnectTimeout: "connect timeout", httpx.ReadTimeout: "read timeout",
            httpx.WriteTimeout: "write timeout", httpx.PoolTimeout: "pool timeout",
            httpx.ConnectError: "connect error", httpx.RemoteProtocolError: "connection closed by server",
            httpx.ProxyError: "proxy error"}.get(type(e), type(e).__name__)
    detail = str(e)
    return f"{kind}: {detail}" if detail else kind
