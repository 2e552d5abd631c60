"""Per-host politeness: a concurrency cap and a token-bucket request rate."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up. Waiters queue on a
    lock, so they are served in arrival order and the rate holds under load."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)


class HostLimits:
    """One semaphore and (if rate-limited) one bucket per host, made on first use."""

    def __init__(self, concurrency: int, rate: float | None, burst: int = 1) -> None:
        self.concurrency = concurrency
        self.rate = rate or None  # 0 means unlimited
        self.burst = burst
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._buckets: dict[str, TokenBucket] = {}

    def semaphore(self, host: str) -> asyncio.Semaphore:
        sem = self._sems.get(host)
        if sem is None:
            sem = self._sems[host] = asyncio.Semaphore(self.concurrency)
        return sem

    async def wait_turn(self, host: str) -> None:
        """Take one request's token for `host` (no-op when unlimited)."""
        if self.rate is None:
            return
        bucket = self._buckets.get(host)
        if bucket is None:
            bucket = self._buckets[host] = TokenBucket(self.rate, self.burst)
        await bucket.acquire()
