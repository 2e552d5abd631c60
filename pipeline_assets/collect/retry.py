"""When to retry a request and how long to wait first: the one policy of every
HTTP request collection makes (scraper pages and file-drop downloads alike)."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

# 429 and every 5xx (501 and 507 too: a server that is being redeployed or is
# out of space answers with them and recovers).
RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempt-1))].
    Full jitter spreads retries of many clients hit by the same outage."""
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return (rng or random).uniform(0, ceiling)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP-date header (Retry-After, Last-Modified) as an aware UTC
    datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    # "-0000" (and obsolete zones) parse as naive; HTTP dates are GMT.
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date);
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = parse_http_date(value)
    if when is None:
        return None
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())
