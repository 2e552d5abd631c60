"""Async HTTP for collection: httpx with pooling, politeness, retries and guards.

One `HttpClient` serves one source. Per request it:
  * checks the host against the source's `allowed_hosts` and refuses
    addresses that are not public unless `allow_private_networks` is set;
    plain-http connections are pinned to the address that was checked, so a
    DNS answer cannot change between the check and the connect (for https
    the certificate check ties the connection to the name);
  * waits for the host's concurrency slot and rate-limit token;
  * retries connect errors, timeouts, 429 and 5xx with exponential backoff
    and full jitter, or the server's Retry-After (capped by retry_after_max);
  * follows redirects itself (max_redirects), re-checking every hop, and
    drops credentials when a redirect leaves the original host;
  * rotates through the configured proxies (one pooled AsyncClient each,
    since httpx binds a proxy per client);
  * sends If-None-Match / If-Modified-Since from a ValidatorStore when asked,
    and reports a 304 as `not_modified`.
It never raises for a failed fetch: the FetchResult carries the error.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx

from .auth import auth_headers
from .conditional import ValidatorStore
from .config import SourceBase
from .ratelimit import HostLimits
from .retry import RETRY_STATUSES, backoff_delay, retry_after_seconds
from .security import AddressGuard, BlockedRequest, host_allowed

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


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


class _Failure(Exception):
    """Ends a fetch with an error that is not worth retrying."""


class _TooLarge(Exception):
    pass


@dataclass
class _Reply:
    status: int
    headers: httpx.Headers
    body: bytes


class HttpClient:
    def __init__(self, source: SourceBase, *, validators: ValidatorStore | str | Path | None = None) -> None:
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
        attempts = [0]

        def result(status: int | None, reply: _Reply | None = None, error: str | None = None,
                   not_modified: bool = False) -> FetchResult:
            return FetchResult(requested, str(target), status, attempts[0], time.monotonic() - start,
                               reply.headers if reply else httpx.Headers(), reply.body if reply else b"",
                               error, not_modified, fetched_at)

        try:
            for hop in range(self.cfg.max_redirects + 1):
                self._check_url(target, requested if hop else None)
                reply = await self._send_with_retries(target, headers, attempts)
                location = reply.headers.get("location")
                if reply.status in REDIRECT_STATUSES and location:
                    nxt = target.join(location)
                    self._check_url(nxt, str(target))
                    if nxt.host != target.host:
                        for name in self._auth:  # credentials are for the host they were configured for
                            headers.pop(name, None)
                    target = nxt
                    continue
                if reply.status == 304:
                    if self.validators is not None:
                        merged = httpx.Headers(self.validators.cached_headers(requested))
                        merged.update(reply.headers)
                        reply.headers = merged
                    return result(304, reply, not_modified=True)
                if 200 <= reply.status < 300:
                    if self.validators is not None:
                        self.validators.update(requested, reply.headers)
                    return result(reply.status, reply)
                tries = f" after {attempts[0]} attempts" if attempts[0] > 1 else ""
                return result(reply.status, reply, f"GET {target}: HTTP {reply.status}{tries}")
            return result(None, None, f"GET {requested}: more than {self.cfg.max_redirects} redirects")
        except (_Failure, BlockedRequest) as e:
            return result(None, None, str(e))

    def _check_url(self, url: httpx.URL, came_from: str | None) -> None:
        if url.scheme not in ("http", "https"):
            raise _Failure(f"source {self.source}: refused {url}: only http and https URLs are fetched")
        if not host_allowed(url.host, self.allowed_hosts):
            what = f"redirect from {came_from} to {url}" if came_from else f"request to {url}"
            raise BlockedRequest(f"source {self.source}: {what} refused: host {url.host!r} is not in "
                                 f"allowed_hosts {self.allowed_hosts}")

    async def _send_with_retries(self, target: httpx.URL, headers: dict[str, str],
                                 attempts: list[int]) -> _Reply:
        cfg = self.cfg
        host = target.host
        port = target.port or (443 if target.scheme == "https" else 80)
        for attempt in range(1, cfg.max_attempts + 1):
            attempts[0] += 1
            client = next(self._rotation)
            try:
                addrs = await self._guard.resolve(host, port)
                async with self._limits.semaphore(host):
                    await self._limits.wait_turn(host)
                    if self._pin and target.scheme == "http":
                        reply = await self._send_pinned(client, target, headers, addrs)
                    else:
                        reply = await self._send_once(client, target, headers)
            except BlockedRequest:
                raise
            except _TooLarge:
                raise _Failure(f"GET {target}: body larger than {cfg.max_body_mb} MB") from None
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
                           addrs: list) -> _Reply:
        """Connect to the checked addresses themselves (in resolver order, next
        one on a refused connect, as a resolver-driven client would) with the
        original Host header."""
        if len(addrs) == 1 and target.host == str(addrs[0]):
            return await self._send_once(client, target, headers)  # an address literal: nothing to pin
        hdrs = {**headers, "Host": target.netloc.decode("ascii")}
        for i, addr in enumerate(addrs):
            try:
                return await self._send_once(client, target.copy_with(host=str(addr)), hdrs)
            except httpx.ConnectError:
                if i == len(addrs) - 1:
                    raise
        raise AssertionError("unreachable")  # resolve() never returns an empty list

    async def _send_once(self, client: httpx.AsyncClient, url: httpx.URL, headers: dict[str, str]) -> _Reply:
        request = client.build_request("GET", url, headers=headers)
        response = await client.send(request, stream=True)
        try:
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self._max_body:
                    # Decoded size: a small gzip bomb is caught too.
                    raise _TooLarge()
                chunks.append(chunk)
        finally:
            await response.aclose()
        return _Reply(response.status_code, response.headers, b"".join(chunks))


def _describe(e: BaseException) -> str:
    kind = {httpx.ConnectTimeout: "connect timeout", httpx.ReadTimeout: "read timeout",
            httpx.WriteTimeout: "write timeout", httpx.PoolTimeout: "pool timeout",
            httpx.ConnectError: "connect error", httpx.RemoteProtocolError: "connection closed by server",
            httpx.ProxyError: "proxy error"}.get(type(e), type(e).__name__)
    detail = str(e)
    return f"{kind}: {detail}" if detail else kind
