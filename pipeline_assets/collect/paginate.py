"""Paginated JSON APIs: which URL comes next, where the records are, when to stop.

Styles:
  page       ?page=N (from `start`, default 1) and optionally ?per_page=`page_size`
  offset     ?offset=K&limit=L, K from `start` (default 0) in steps of `limit`
  cursor     ?cursor=C, C read from `cursor_path` in the previous body
  next_link  the next URL at `next_path` in the body, or the RFC 5988
             `Link: <...>; rel="next"` header when next_path is unset

Every style stops on an empty page, a missing next cursor/link, a page
error, or `max_pages` (then `truncated` is set: an API whose pages never end
must not loop forever). page/offset URLs are known ahead, so up to
`prefetch` pages are in flight at once; results are still yielded in order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import urlencode

import httpx
import orjson

from ..raw.records import SourceParseError
from ..sources import Pagination
from .http import FetchResult


@dataclass
class Page:
    number: int
    url: str
    fetch: FetchResult | None = None
    raw_path: str | None = None
    body: bytes | None = None
    doc: Any = None
    records: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    next_url: str | None = None  # html: the next listing page


def dotted(obj: Any, path: str | None) -> Any:
    """`a.b.0.c` into nested dicts/lists; KeyError naming the missing step."""
    if not path:
        return obj
    cur = obj
    for step in path.split("."):
        if isinstance(cur, dict) and step in cur:
            cur = cur[step]
        elif isinstance(cur, list) and step.lstrip("-").isdigit() and -len(cur) <= int(step) < len(cur):
            cur = cur[int(step)]
        else:
            raise KeyError(step)
    return cur


def parse_json(body: bytes, url: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        # A 200 with an HTML error page is common; show what came back.
        raise SourceParseError(f"{url}: response is not valid JSON ({e}); body starts {body[:120]!r}") from None


def records_from(doc: Any, record_path: str | None, url: str) -> list[dict[str, Any]]:
    try:
        found = dotted(doc, record_path)
    except KeyError as e:
        shape = f"keys {list(doc)[:10]}" if isinstance(doc, dict) else f"a {type(doc).__name__}"
        raise SourceParseError(f"{url}: record_path {record_path!r} not found in the response "
                           f"(no {e.args[0]!r}; the body has {shape})") from None
    if found is None:
        return []
    if not isinstance(found, list):
        raise SourceParseError(f"{url}: record_path {record_path or '(body)'!r} is a {type(found).__name__}, not a list")
    # Scalars in the list become one-field records rather than a crash.
    return [r if isinstance(r, dict) else {"value": r} for r in found]


def next_cursor(doc: Any, path: str) -> str | None:
    try:
        value = dotted(doc, path)
    except KeyError:
        return None
    return None if value in (None, "", False) else str(value)


def next_link(doc: Any, headers: httpx.Headers, path: str | None, base: str) -> str | None:
    if path:
        try:
            value = dotted(doc, path)
        except KeyError:
            value = None
    else:
        # httpx parses RFC 5988 Link headers (several links, quoting, params).
        value = httpx.Response(200, headers=headers).links.get("next", {}).get("url")
    if not value or not isinstance(value, str):
        return None
    return str(httpx.URL(base).join(value))  # relative links are relative to the page


def _param(v: Any) -> str:
    # As httpx renders query values: booleans lower-case, None empty.
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


FetchPage = Callable[[int, str], Awaitable[Page]]


class Paginator:
    """Async iterator of Pages in order. After iteration `truncated` and
    `stop_reason` tell why it ended."""

    def __init__(self, pagination: Pagination | None, url: str, params: dict[str, Any], fetch: FetchPage,
                 default_prefetch: int = 4) -> None:
        self.p = pagination
        self.url = url
        self.params = params
        self.fetch = fetch
        self.prefetch = (pagination.prefetch if pagination and pagination.prefetch else default_prefetch)
        self.truncated = False
        self.stop_reason = ""
        self._base: str | None = None
        self._base_keys: set[str] = set()

    def __aiter__(self) -> AsyncIterator[Page]:
        if self.p is None:
            return self._single()
        if self.p.style in ("page", "offset"):
            return self._numbered()
        return self._linked()

    def _with(self, extra: dict[str, Any]) -> str:
        if self._base is None:
            base = httpx.URL(self.url).copy_merge_params(self.params) if self.params else httpx.URL(self.url)
            self._base, self._base_keys = str(base), set(base.params.keys())
        if not extra:
            return self._base
        if self._base_keys.isdisjoint(extra) and "#" not in self._base:
            # Appending is what copy_merge_params would do here, without
            # re-parsing the URL for each of thousands of pages.
            sep = "&" if "?" in self._base else "?"
            return self._base + sep + urlencode({k: _param(v) for k, v in extra.items()})
        return str(httpx.URL(self._base).copy_merge_params(extra))

    async def _single(self) -> AsyncIterator[Page]:
        yield await self.fetch(1, self._with({}))
        self.stop_reason = "single request"

    def page_url(self, index: int) -> str:
        """URL of the page at 0-based `index` (page/offset styles)."""
        p = self.p
        assert p is not None
        if p.style == "page":
            extra: dict[str, Any] = {p.page_param: (1 if p.start is None else p.start) + index}
            if p.size_param:
                extra[p.size_param] = p.page_size
        else:
            extra = {p.offset_param: (p.start or 0) + index * p.limit, p.limit_param: p.limit}
        return self._with(extra)

    async def _numbered(self) -> AsyncIterator[Page]:
        p = self.p
        assert p is not None
        window: deque[asyncio.Task[Page]] = deque()
        scheduled = 0

        def schedule() -> None:
            nonlocal scheduled
            window.append(asyncio.create_task(self.fetch(scheduled + 1, self.page_url(scheduled))))
            scheduled += 1

        try:
            while scheduled < min(self.prefetch, p.max_pages):
                schedule()
            while window:
                page = await window.popleft()
                yield page
                if self._stops(page):
                    return
                if scheduled < p.max_pages:
                    schedule()
            self.truncated = True
            self.stop_reason = f"max_pages ({p.max_pages})"
        finally:
            # Pages fetched ahead of the end are dropped, not yielded.
            for task in window:
                task.cancel()
            await asyncio.gather(*window, return_exceptions=True)

    def _stops(self, page: Page) -> bool:
        """A failed or empty page ends the pagination (the reason is kept)."""
        if page.error or not page.records:
            self.stop_reason = "page error" if page.error else "empty page"
            return True
        return False

    async def _linked(self) -> AsyncIterator[Page]:
        p = self.p
        assert p is not None
        url = self._with({})
        seen = {url}
        for number in range(1, p.max_pages + 1):
            page = await self.fetch(number, url)
            yield page
            if self._stops(page):
                return
            if p.style == "cursor":
                cursor = next_cursor(page.doc, p.cursor_path or "")
                nxt = self._with({p.cursor_param: cursor}) if cursor else None
            else:
                base = page.fetch.final_url if page.fetch else url
                nxt = next_link(page.doc, page.fetch.headers if page.fetch else httpx.Headers(), p.next_path, base)
            if nxt is None:
                self.stop_reason = f"no next {'cursor' if p.style == 'cursor' else 'link'}"
                return
            if nxt in seen:
                # The API handed back a cursor/link we already followed: it would loop.
                self.truncated = True
                self.stop_reason = f"next {p.style.replace('_', ' ')} repeats an earlier page: {nxt}"
                return
            seen.add(nxt)
            url = nxt
        self.truncated = True
        self.stop_reason = f"max_pages ({p.max_pages})"
