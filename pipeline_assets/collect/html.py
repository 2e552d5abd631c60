"""HTML listing pages: items and fields by CSS selector (selectolax / Lexbor).

A field is either a selector string (the element's text, whitespace
collapsed) or `{css: ..., attr: ...}` (an attribute; `css` omitted means the
item element itself). `href` and `src` attributes are made absolute against
the page URL, so links can be followed and stored as-is.
"""

from __future__ import annotations

from typing import Any

import httpx
from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..sources import FieldSpec

URL_ATTRS = frozenset({"href", "src", "data-src", "data-href"})


def decode(body: bytes, content_type: str | None) -> str:
    """Text of a page: the charset the server declared, else UTF-8. Undecodable
    bytes are replaced rather than failing the page."""
    charset = "utf-8"
    if content_type and "charset=" in content_type.lower():
        charset = content_type.lower().split("charset=", 1)[1].split(";")[0].strip().strip('"') or "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _value(node: LexborNode, spec: str | FieldSpec, base: str) -> str | None:
    css, attr = (spec, None) if isinstance(spec, str) else (spec.css, spec.attr)
    target = node.css_first(css) if css else node
    if target is None:
        return None
    if attr is None:
        text = target.text(separator=" ", strip=True)
        return " ".join(text.split()) or None
    value = target.attributes.get(attr)
    if value is None:
        return None
    value = value.strip()
    if attr in URL_ATTRS and value:
        return str(httpx.URL(base).join(value))
    return value


def extract_fields(node: LexborNode, fields: dict[str, str | FieldSpec], base: str) -> dict[str, Any]:
    return {name: _value(node, spec, base) for name, spec in fields.items()}


def parse_listing(html: str, base: str, item_selector: str, fields: dict[str, str | FieldSpec],
                  next_selector: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Items on one listing page and the absolute URL of the next page (or None)."""
    tree = LexborHTMLParser(html)
    items = [extract_fields(node, fields, base) for node in tree.css(item_selector)]
    nxt = None
    if next_selector:
        link = tree.css_first(next_selector)
        href = link.attributes.get("href") if link is not None else None
        if href and href.strip() and not href.strip().startswith(("#", "javascript:")):
            nxt = str(httpx.URL(base).join(href.strip()))
    return items, nxt


def parse_detail(html: str, base: str, fields: dict[str, str | FieldSpec]) -> dict[str, Any]:
    tree = LexborHTMLParser(html)
    root = tree.root
    if root is None:
        return {name: None for name in fields}
    return extract_fields(root, fields, base)
