"""XML inventory feeds, parsed as a stream with lxml.etree.iterparse.

Each `record_tag` element (any namespace) is one record. Fields are paths
relative to it: "price", "dealer/name", "@id" (an attribute of the record),
"photo/@url". Without `fields`, every attribute becomes "@name" and every
child its text (nested children as nested keys, repeated ones as a list).

Safety: no DTD loading, no entity resolution, no network (XXE), and the
default libxml2 size limits (huge_tree off). Elements are cleared as soon as
their record is read, so memory does not grow with the feed.

A feed is checked to the end before any record is handed out, so a feed
broken at line 5,000 fails whole instead of looking like a shorter
inventory (which downstream would read as vehicles sold).
"""

from __future__ import annotations

from io import BytesIO
from typing import IO, Any, Iterator

from lxml import etree

from .records import SourceParseError


def _iterparse(fh: IO[bytes], record_tag: str) -> Iterator[Any]:
    for _, el in etree.iterparse(fh, events=("end",), tag=f"{{*}}{record_tag}", resolve_entities=False,
                                 no_network=True, load_dtd=False, huge_tree=False, remove_comments=True,
                                 remove_pis=True):
        yield el
        # Free what was read: the element and the siblings before it.
        el.clear(keep_tail=True)
        parent = el.getparent()
        if parent is not None:
            while el.getprevious() is not None:
                del parent[0]


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else str(tag)


def _attr(el: Any, name: str) -> str | None:
    if name in el.attrib:
        return el.attrib[name]
    for key, value in el.attrib.items():  # namespaced attribute by local name
        if _local(key) == name:
            return value
    return None


def _text(el: Any) -> str | None:
    text = "".join(el.itertext()).strip()
    return text or None


def _path_value(el: Any, path: str) -> str | None:
    steps = [s for s in path.strip("/").split("/") if s]
    attr = steps.pop()[1:] if steps and steps[-1].startswith("@") else None
    target = el
    if steps:
        target = el.find("/".join(f"{{*}}{s}" for s in steps))
        if target is None:
            return None
    return _attr(target, attr) if attr else _text(target)


def _whole(el: Any) -> dict[str, Any]:
    out: dict[str, Any] = {f"@{_local(k)}": v for k, v in el.attrib.items()}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name = _local(child.tag)
        # Only elements count as structure (not comments or entity references).
        nested = any(isinstance(c.tag, str) for c in child)
        value: Any = _whole(child) if nested or child.attrib else _text(child)
        if isinstance(value, dict) and not nested and _text(child) is not None:
            value["#text"] = _text(child)
        if name in out:  # repeated child: keep them all
            prev = out[name]
            out[name] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[name] = value
    return out


def read_feed(body: bytes, origin: str, record_tag: str, fields: dict[str, str] | None) -> Iterator[dict[str, Any]]:
    """Records of one feed document; SourceParseError names `origin` and the line."""
    try:
        for _ in _iterparse(BytesIO(body), record_tag):
            pass
    except etree.XMLSyntaxError as e:
        raise SourceParseError(f"{origin} line {max(e.lineno or 1, 1)}: malformed XML: {e.msg}") from None
    return _records(body, record_tag, fields)


def _records(body: bytes, record_tag: str, fields: dict[str, str] | None) -> Iterator[dict[str, Any]]:
    for el in _iterparse(BytesIO(body), record_tag):
        if fields:
            yield {name: _path_value(el, path) for name, path in fields.items()}
        else:
            yield _whole(el)
