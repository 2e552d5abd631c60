"""Collect one source over HTTP into one Parquet file, keeping every raw body.

    report = await collect_source(cfg, state_dir=..., raw_dir=..., out_parquet=...)
    report = await collect_source(cfg, ..., replay=True)   # rebuild from raw_dir, no network

Output: one Parquet file, every field as text (nested JSON flattened to
dotted names), with lineage columns `_file` (page URL), `_row` (1-based),
`_line` (null), `_fetched_at` (UTC) and `_payload_hash` (SHA-256 of the
record's JSON, keys sorted). Records are streamed in chunks, never all held.
Raw bodies: `raw_dir/pNNNNNN-<hash of URL and page>.gz` plus
`raw_dir/manifest.jsonl` (page order, URL, status, fetch time), which is
what replay reads. Conditional-request state (`conditional: true`) lives in
`state_dir/<name>.validators.json`; a 304 re-reads the body kept in raw_dir,
so keep raw_dir stable per source to benefit from it.

Report status: completed (every page fetched), partial (some pages or
detail pages failed, or `truncated`: max_pages or a repeating next link
stopped it before the last page), failed (nothing fetched).

Config keys (one sources.yaml entry, checked by pipeline_assets.sources;
unknown keys are errors)
------------------------------------------------------------------------
Every type:
  name                    ^[a-z][a-z0-9_]{0,62}$ (required)
  type                    json_api | html | xml (required)
  kind, fields            listing kind and canonical field -> record field (required),
                          plus the catalog keys schedule, enabled, description, history
  url                     start URL (xml: `url` and/or `urls`)
  allowed_hosts           hosts this source may request, exact or "*.example.com" (required)
  allow_private_networks  false: refuse private/loopback/link-local/reserved/multicast addresses
  params                  static query parameters added to the start URL(s)
  auth                    {type: bearer, token_env: VAR} | {type: header, header: X-API-Key, token_env: VAR}
                          | {type: basic, username_env: VAR, password_env: VAR} - names of env vars, never values
  conditional             false; true sends If-None-Match / If-Modified-Since for pages already in raw_dir
  http:
    timeout 30, connect_timeout 10       seconds
    max_attempts 4                       tries per request (429, 5xx, connect errors and timeouts are retried)
    backoff_base 0.5, backoff_max 30     exponential backoff with full jitter
    retry_after_max 120                  Retry-After (seconds or HTTP-date) is honoured up to this
    concurrency 4                        requests in flight per host
    rate_limit null, burst 1             requests/second per host (token bucket); 0/null = unlimited
    max_redirects 5, max_body_mb 50
    proxies []                           proxy URLs, used in turn
    headers {}, user_agent               extra request headers

json_api:
  record_path             dotted path to the record list ("data.items"); empty = the body is the list
  pagination              omitted = one request. style (required) and:
    page:      page_param "page", start 1, size_param, page_size
    offset:    offset_param "offset", limit_param "limit", limit 100, start 0
    cursor:    cursor_param "cursor", cursor_path (required; dotted path in the body)
    next_link: next_path (dotted path in the body); unset = Link: <...>; rel="next" header
    all:       max_pages 1000 (then truncated: true), prefetch (page/offset pages in flight;
               default http.concurrency)

    - name: dealer_api
      type: json_api
      kind: vehicles
      url: https://api.dealer.example.com/v2/inventory
      allowed_hosts: [api.dealer.example.com]
      auth: {type: bearer, token_env: DEALER_API_TOKEN}
      params: {status: active}
      record_path: data.vehicles
      pagination: {style: cursor, cursor_param: after, cursor_path: meta.next_cursor, max_pages: 500}
      http: {rate_limit: 5, concurrency: 2}
      fields: {source_listing_id: id, make: make, model: model, year: year, source_url: url}

html:
  item_selector           CSS selector of one listing item (required)
  selectors               {field: "css"} (text) or {field: {css: "a.title", attr: href}} (required);
                          css omitted = the item element; href/src are made absolute
  next_selector           CSS selector of the next-page link (href, relative to the page)
  max_pages               100
  detail                  {link_field: url, selectors: {...}}: fetch each item's link_field URL and
                          add these fields (a detail value wins unless it is empty)

    - name: jobs_html
      type: html
      kind: jobs
      url: https://jobs.example.com/search?q=driver
      allowed_hosts: [jobs.example.com]
      item_selector: li.job
      selectors:
        title: h2
        company: .company
        url: {css: "a.more", attr: href}
        job_id: {attr: data-id}
      next_selector: a[rel=next]
      detail: {link_field: url, selectors: {description: "#description", salary: ".salary"}}
      fields: {source_listing_id: job_id, title: title, company: company, source_url: url}

xml:
  url / urls              one feed URL, or several (each is one "page")
  record_tag              element name of one record, any namespace (required)
  selectors               {field: "child" | "child/grand" | "@attr" | "child/@attr"};
                          omitted = every attribute as "@name" and every child element

    - name: dealer_feed_xml
      type: xml
      kind: vehicles
      url: https://feeds.example.com/dealer/123/inventory.xml
      allowed_hosts: ["*.example.com"]
      record_tag: vehicle
      selectors: {id: "@id", vin: vin, make: make, model: model, year: year, price: price/amount,
                  url: link}
      fields: {source_listing_id: id, vin: vin, make: make, model: model, year: year, price: price,
               source_url: url}
"""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import httpx

from .conditional import ValidatorStore
from ..raw.records import RecordSink, SourceParseError
from ..raw.xml_feed import read_feed
from ..sources import HtmlSource, HttpSourceConfig, JsonApiSource, SourceBase, SourceConfigError, XmlSource, parse_source
from .html import decode, parse_detail, parse_listing
from .http import FetchResult, HttpClient
from .paginate import Page, Paginator, parse_json, records_from
from .rawstore import RawStore
from .outcome import CollectReport, PageFailure


async def collect_source(cfg: dict[str, Any] | HttpSourceConfig, *, state_dir: str | Path, raw_dir: str | Path,
                         out_parquet: str | Path, replay: bool = False, chunk_rows: int = 10_000) -> CollectReport:
    """Run one source (or rebuild its Parquet from raw_dir when `replay`).
    Raises SourceConfigError for an invalid config or a missing credential; every
    fetch or parse problem is in the report instead."""
    src = cfg if isinstance(cfg, SourceBase) else parse_source(cfg)
    if not src.is_http:
        raise SourceConfigError(f"source {src.name}: a file source is read by raw_listings, not collected over HTTP")
    start = time.monotonic()
    report = CollectReport(src.name, src.type, str(out_parquet), str(raw_dir), replay=replay)
    raw = RawStore(raw_dir)
    if replay:
        entries = list(raw.entries())  # fails before the output is touched
    else:
        validators = (ValidatorStore(Path(state_dir) / f"{src.name}.validators.json")
                      if src.conditional else None)
        client = HttpClient(src, validators=validators)  # a missing env var fails here, before any I/O
    sink = RecordSink(out_parquet, chunk_rows)
    run = _Run(src, raw, sink, report)
    try:
        if replay:
            run.replay(entries)
        else:
            raw.open_manifest()
            try:
                async with client:
                    await run.live(client)
            finally:
                raw.close()
                if validators is not None:
                    validators.save()
        report.records = sink.close()
    except BaseException:
        sink.abort()
        raise
    report.elapsed = round(time.monotonic() - start, 3)
    return report.finish()


async def collect_many(cfgs: Iterable[dict[str, Any]], *, state_dir: str | Path, raw_root: str | Path,
                       out_dir: str | Path, replay: bool = False) -> list[CollectReport]:
    """Several sources at once, each into raw_root/<name> and out_dir/<name>.parquet.
    One source's failure (even a bad config) is its own failed report."""

    async def one(cfg: dict[str, Any]) -> CollectReport:
        name = str(cfg.get("name") or "unnamed")
        out = Path(out_dir) / f"{name}.parquet"
        try:
            return await collect_source(cfg, state_dir=state_dir, raw_dir=Path(raw_root) / name,
                                        out_parquet=out, replay=replay)
        except Exception as e:  # noqa: BLE001 - isolate sources from each other
            msg = str(e) if isinstance(e, SourceConfigError) else f"source {name}: {type(e).__name__}: {e}"
            report = CollectReport(name, str(cfg.get("type")), str(out), str(Path(raw_root) / name), replay=replay)
            report.add_error(PageFailure(None, None, 0, msg, kind="source"))
            return report.finish()

    return list(await asyncio.gather(*(one(c) for c in cfgs)))


def _with_params(url: str, params: dict[str, Any]) -> str:
    return str(httpx.URL(url).copy_merge_params(params)) if params else url


class _Run:
    """One run's moving parts. Live and replay share the extraction and the
    bookkeeping, so a replay gives the same rows as the run it replays."""

    def __init__(self, src: HttpSourceConfig, raw: RawStore, sink: RecordSink, report: CollectReport) -> None:
        self.src, self.raw, self.sink, self.report = src, raw, sink, report

    # -- live -----------------------------------------------------------------
    async def live(self, client: HttpClient) -> None:
        if isinstance(self.src, JsonApiSource):
            await self._live_json(client)
        elif isinstance(self.src, HtmlSource):
            await self._live_html(client)
        else:
            await self._live_xml(client)

    async def _fetch(self, client: HttpClient, number: int, url: str, kind: str = "page") -> Page:
        path = self.raw.path_for(url, number, kind)
        # Only ask "has it changed?" when the answer "no" leaves us a body to use.
        res = await client.fetch(url, conditional=self.src.conditional and path.exists())
        page = Page(number, url, res)
        if res.not_modified:
            try:
                page.body, page.raw_path = self.raw.read(path), path.name
            except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
                page.error = f"{url}: 304 Not Modified, but the stored body {path} is unreadable: {e}"
        elif res.status is not None:
            if not 200 <= res.status < 300:
                # Error bodies are kept too, under another name, so they never
                # stand in for the page's last good body after a 304.
                path = self.raw.path_for(url, number, f"{kind}-http{res.status}")
            await self.raw.write_async(path, res.body)
            page.body, page.raw_path = res.body, path.name
        if res.error:
            page.error = res.error
        return page

    async def _live_json(self, client: HttpClient) -> None:
        src = self.src
        assert isinstance(src, JsonApiSource) and src.url

        async def fetch(number: int, url: str) -> Page:
            page = await self._fetch(client, number, url)
            self._extract_json(page)
            return page

        pager = Paginator(src.pagination, src.url, dict(src.params), fetch, default_prefetch=src.http.concurrency)
        async for page in pager:
            self.raw.record(self._entry(page))
            self._take(page, page.records)
        self._end(pager.truncated, pager.stop_reason)

    async def _live_html(self, client: HttpClient) -> None:
        src = self.src
        assert isinstance(src, HtmlSource) and src.url
        url = _with_params(src.url, dict(src.params))
        seen = {url}
        truncated, reason = True, f"max_pages ({src.max_pages})"
        for number in range(1, src.max_pages + 1):
            page = await self._fetch(client, number, url)
            self._extract_html(page)
            details: list[Page] = []
            if src.detail and not page.error:
                links = dict.fromkeys(self._detail_url(page, item) for item in page.records)
                details = list(await asyncio.gather(*(self._fetch_detail(client, number, link)
                                                      for link in links if link)))
            self.raw.record(self._entry(page))
            for d in details:
                self.raw.record(self._entry(d, "detail"))
            self._take_html(page, {d.url: d for d in details})
            if page.error or not page.records or not page.next_url or page.next_url in seen:
                truncated = bool(page.next_url in seen and page.records and not page.error)
                reason = ("page error" if page.error else "empty page" if not page.records
                          else "no next link" if not page.next_url else f"next link repeats: {page.next_url}")
                break
            seen.add(page.next_url)
            url = page.next_url
        self._end(truncated, reason)

    async def _fetch_detail(self, client: HttpClient, number: int, url: str) -> Page:
        page = await self._fetch(client, number, url, kind="detail")
        self._extract_detail(page)
        return page

    async def _live_xml(self, client: HttpClient) -> None:
        src = self.src
        assert isinstance(src, XmlSource)
        for number, url in enumerate(src.start_urls(), start=1):
            page = await self._fetch(client, number, _with_params(url, dict(src.params)))
            self.raw.record(self._entry(page))
            self._take(page, self._extract_xml(page))
        self._end(False, "all feeds read")

    # -- replay ---------------------------------------------------------------
    def replay(self, entries: list[dict[str, Any]]) -> None:
        details = {(e["page"], e["url"]): e for e in entries if e["kind"] == "detail"}
        for e in entries:
            if e["kind"] == "end":
                self._end(e["truncated"], e["stop_reason"], record=False)
            if e["kind"] != "page":
                continue
            page = self._page_from(e)
            if isinstance(self.src, JsonApiSource):
                self._extract_json(page)
                self._take(page, page.records)
            elif isinstance(self.src, HtmlSource):
                self._extract_html(page)
                found: dict[str, Page] = {}
                for item in page.records if not page.error else []:
                    link = self._detail_url(page, item)
                    if link and (page.number, link) in details:
                        found[link] = self._page_from(details[(page.number, link)])
                        self._extract_detail(found[link])
                self._take_html(page, found)
            else:
                self._take(page, self._extract_xml(page))

    def _page_from(self, e: dict[str, Any]) -> Page:
        headers = httpx.Headers({"content-type": e["content_type"]} if e.get("content_type") else {})
        fetch = FetchResult(e["url"], e["final_url"], e["status"], e["attempts"], 0.0, headers, b"", e["error"],
                            e["not_modified"], datetime.fromisoformat(e["fetched_at"]))
        page = Page(e["page"], e["url"], fetch, raw_path=e["raw"], error=e["error"])
        if not page.error and e["raw"]:
            try:
                page.body = self.raw.read(e["raw"])
            except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as err:
                page.error = f"{e['url']}: raw body {e['raw']} is unreadable: {err}"
        elif not page.error:
            page.error = f"{e['url']}: no raw body was kept"
        return page

    # -- extraction (shared) --------------------------------------------------
    def _extract_json(self, page: Page) -> None:
        if page.error or page.body is None:
            return
        assert isinstance(self.src, JsonApiSource)
        try:
            page.doc = parse_json(page.body, page.url)
            page.records = records_from(page.doc, self.src.record_path, page.url)
        except SourceParseError as e:
            page.error = str(e)

    def _extract_html(self, page: Page) -> None:
        if page.error or page.body is None or page.fetch is None:
            return
        src = self.src
        assert isinstance(src, HtmlSource)
        html = decode(page.body, page.fetch.headers.get("content-type"))
        page.records, page.next_url = parse_listing(html, page.fetch.final_url, src.item_selector,
                                                    dict(src.selectors), src.next_selector)

    def _extract_detail(self, page: Page) -> None:
        if page.error or page.body is None or page.fetch is None:
            return
        assert isinstance(self.src, HtmlSource) and self.src.detail
        html = decode(page.body, page.fetch.headers.get("content-type"))
        page.records = [parse_detail(html, page.fetch.final_url, dict(self.src.detail.selectors))]

    def _extract_xml(self, page: Page) -> Iterable[dict[str, Any]]:
        if page.error or page.body is None:
            return []
        assert isinstance(self.src, XmlSource)
        try:
            return read_feed(page.body, page.url, self.src.record_tag, self.src.selectors)
        except SourceParseError as e:
            page.error = str(e)
            return []

    def _detail_url(self, page: Page, item: dict[str, Any]) -> str | None:
        assert isinstance(self.src, HtmlSource) and self.src.detail
        link = item.get(self.src.detail.link_field)
        if not link or page.fetch is None:
            return None
        return str(httpx.URL(page.fetch.final_url).join(link))

    # -- bookkeeping (shared) -------------------------------------------------
    def _entry(self, page: Page, kind: str = "page") -> dict[str, Any]:
        f = page.fetch
        assert f is not None
        return {"kind": kind, "page": page.number, "url": page.url, "final_url": f.final_url, "status": f.status,
                "attempts": f.attempts, "fetched_at": f.fetched_at.isoformat(), "raw": page.raw_path,
                "content_type": f.headers.get("content-type"), "not_modified": f.not_modified,
                # only the fetch's own error: parse errors are found again on replay
                "error": f.error}

    def _take(self, page: Page, records: Iterable[dict[str, Any]]) -> None:
        """Count one page, in order, and write its records."""
        f = page.fetch
        assert f is not None
        if not page.error:
            stamp = f.fetched_at
            for rec in records:
                self.sink.add(rec, page.url, stamp)
        if page.error:  # set by the record iterator too (a broken XML feed)
            self.report.pages_failed += 1
            self.report.add_error(PageFailure(page.url, f.status, f.attempts, page.error, self._raw_full(page)))
        elif f.not_modified:
            self.report.pages_not_modified += 1
        else:
            self.report.pages_ok += 1

    def _take_html(self, page: Page, details: dict[str, Page]) -> None:
        merged = []
        for item in page.records if not page.error else []:
            d = details.get(self._detail_url(page, item) or "") if self.src.detail else None  # type: ignore[union-attr]
            if d is not None and d.error:
                self.report.details_failed += 1
                f = d.fetch
                self.report.add_error(PageFailure(d.url, f.status if f else None, f.attempts if f else 0, d.error,
                                                  self._raw_full(d), kind="detail"))
            elif d is not None:
                self.report.details_ok += 1
                item = {**item, **{k: v for k, v in d.records[0].items() if v is not None}}
            merged.append(item)
        self._take(page, merged)

    def _raw_full(self, page: Page) -> str | None:
        return str(self.raw.dir / page.raw_path) if page.raw_path else None

    def _end(self, truncated: bool, reason: str, record: bool = True) -> None:
        self.report.truncated, self.report.stop_reason = truncated, reason
        if record:
            self.raw.record({"kind": "end", "truncated": truncated, "stop_reason": reason})
