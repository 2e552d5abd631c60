"""Source declarations (data/sources.yaml), checked up front.

Config errors fail fast with the source and the key named, before any run
starts, because a typo found at 2 AM in a scheduled run is a lost day.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

import yaml

from .kinds import get_kind

SOURCE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
FORMATS = ("json", "jsonl", "csv", "parquet")
# `file` sources read files (local, s3://, https://, globs); the others are
# collected over HTTP by pipeline_assets.collect.
SOURCE_TYPES = ("file", "json_api", "html", "xml")
SCHEDULE_ALIASES = {"hourly": "0 * * * *", "daily": "0 2 * * *", "weekly": "0 4 * * 0"}
# Keys only HTTP sources have; they are checked by pipeline_assets.collect.
HTTP_KEYS = {"url", "urls", "allowed_hosts", "allow_private_networks", "auth", "conditional", "params", "http",
             "pagination", "record_path", "max_pages", "selectors", "item_selector", "next_selector", "detail",
             "record_tag", "description"}
URL_SCHEMES = ("", "file", "s3", "http", "https", "memory", "gs", "az", "abfs")


class SourceConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    format: str
    location: str
    fields: dict[str, str]
    record_path: str | None = None
    schedule: str = "0 2 * * *"
    enabled: bool = True
    options: dict = field(default_factory=dict)
    type: str = "file"
    # Files dropped at `location` trigger runs through the inbox sensor.
    watch: bool = False
    # The source's whole YAML entry, for HTTP collection (validated at load).
    collect: dict = field(default_factory=dict)
    # http(s) file drops only: hosts the download may reach (default: the
    # location's own host) and whether private/loopback addresses are allowed.
    allowed_hosts: tuple[str, ...] = ()
    allow_private_networks: bool = False
    # History rules (README, "History"): a listing absent on this many
    # consecutive days on which the source delivered data is disappeared.
    disappear_after_days: int = 1

    @property
    def is_http(self) -> bool:
        return self.type != "file"

    def location_for(self, day: date, base_dir: Path | None = None) -> str:
        # $VARS are expanded at run time (bucket names, per-environment roots).
        loc = os.path.expandvars(self.location).replace("{date}", day.isoformat())
        if urlparse(loc).scheme in ("", "file") and base_dir is not None and not Path(loc).is_absolute():
            loc = str(base_dir / loc)
        return loc


def location_regex(template: str) -> re.Pattern[str]:
    """A regex over paths for a location template: `{date}` captures the
    partition date, `*` and `?` are globs."""
    out = ""
    for part in re.split(r"(\{date\}|\*|\?)", template):
        out += {"{date}": r"(?P<date>\d{4}-\d{2}-\d{2})", "*": r"[^/]*", "?": r"[^/]"}.get(part, re.escape(part))
    return re.compile(out + "$")


def check_name(name: object, what: str = "source name") -> str:
    """Names become hive paths and SQL values: allow a safe alphabet only."""
    if not isinstance(name, str) or not SOURCE_NAME_RE.match(name):
        raise SourceConfigError(
            f"{what} {name!r} is invalid: use lowercase letters, digits and underscores, "
            "starting with a letter (max 63 characters)")
    return name


def parse_sources(doc: dict, origin: str = "sources.yaml") -> list[Source]:
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), list):
        raise SourceConfigError(f"{origin}: expected a top-level 'sources:' list")
    defaults = doc.get("defaults") or {}
    seen: set[str] = set()
    out: list[Source] = []
    for i, entry in enumerate(doc["sources"]):
        if not isinstance(entry, dict):
            raise SourceConfigError(f"{origin}: sources[{i}] must be a mapping")
        name = check_name(entry.get("name"), f"{origin}: sources[{i}].name")
        where = f"{origin}: source {name}"
        if name in seen:
            raise SourceConfigError(f"{where}: declared twice")
        seen.add(name)
        stype = entry.get("type", "file")
        if stype not in SOURCE_TYPES:
            raise SourceConfigError(f"{where}: key 'type': {stype!r} is not one of {list(SOURCE_TYPES)}")
        known = {"name", "kind", "format", "location", "fields", "record_path", "schedule",
                 "enabled", "options", "type", "history"} | (HTTP_KEYS if stype != "file"
                                                 else {"watch", "allowed_hosts", "allow_private_networks"})
        unknown = set(entry) - known
        if unknown:
            raise SourceConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(known)}")
        try:
            kind = get_kind(entry.get("kind"))
        except KeyError as e:
            raise SourceConfigError(f"{where}: key 'kind': {e.args[0]}") from None
        if stype == "file":
            fmt = entry.get("format")
            if fmt not in FORMATS + ("xml",):
                raise SourceConfigError(f"{where}: key 'format': {fmt!r} is not one of {list(FORMATS) + ['xml']}")
            loc = entry.get("location")
            if not isinstance(loc, str) or not loc:
                raise SourceConfigError(f"{where}: key 'location' is required")
            scheme = urlparse(loc).scheme
            if scheme not in URL_SCHEMES:
                raise SourceConfigError(f"{where}: key 'location': unsupported URL scheme {scheme!r}")
            if scheme in ("http", "https", "s3") and not urlparse(loc).netloc:
                raise SourceConfigError(f"{where}: key 'location': {loc!r} has no host")
            hosts = entry.get("allowed_hosts")
            if hosts is not None and (not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts)):
                raise SourceConfigError(f"{where}: key 'allowed_hosts' must be a list of host names")
            if (hosts or "allow_private_networks" in entry) and scheme not in ("http", "https"):
                raise SourceConfigError(f"{where}: keys 'allowed_hosts'/'allow_private_networks' only apply "
                                        f"to http(s) locations")
        else:
            fmt, loc = "collected", entry.get("url") or ""
            _check_http(entry, where)
        fields = entry.get("fields")
        if not isinstance(fields, dict) or not fields:
            raise SourceConfigError(f"{where}: key 'fields' must map canonical fields to source fields")
        for canon, src in fields.items():
            if canon not in kind.field_names:
                raise SourceConfigError(
                    f"{where}: fields.{canon}: not a field of kind {kind.name} "
                    f"(fields: {', '.join(kind.field_names)})")
            if not isinstance(src, str) or not src:
                raise SourceConfigError(f"{where}: fields.{canon}: source field name must be a string")
        missing = [f.name for f in kind.fields if f.required and f.name not in fields]
        if missing:
            raise SourceConfigError(f"{where}: required field(s) not mapped: {', '.join(missing)}")
        schedule = str(entry.get("schedule", defaults.get("schedule", "0 2 * * *")))
        schedule = SCHEDULE_ALIASES.get(schedule, schedule)
        if len(schedule.split()) != 5:
            raise SourceConfigError(f"{where}: key 'schedule': {schedule!r} is not a 5-field cron expression")
        history = entry.get("history") or {}
        if not isinstance(history, dict) or set(history) - {"disappear_after_days"}:
            raise SourceConfigError(f"{where}: key 'history': expected a mapping with 'disappear_after_days'")
        after = history.get("disappear_after_days", defaults.get("history", {}).get("disappear_after_days", 1))
        if not isinstance(after, int) or isinstance(after, bool) or not 1 <= after <= 365:
            raise SourceConfigError(f"{where}: key 'history.disappear_after_days': {after!r} is not a whole "
                                    "number of days from 1 to 365")
        out.append(Source(
            name=name, kind=kind.name, format=fmt, location=loc, fields=dict(fields),
            record_path=entry.get("record_path") if stype == "file" else None, schedule=schedule,
            enabled=bool(entry.get("enabled", True)), options=dict(entry.get("options") or {}),
            type=stype, collect=collect_config(entry) if stype != "file" else {},
            watch=bool(entry.get("watch", False)),
            allowed_hosts=tuple(entry.get("allowed_hosts") or ()) if stype == "file" else (),
            allow_private_networks=bool(entry.get("allow_private_networks", False)) if stype == "file" else False,
            disappear_after_days=after,
        ))
    if not out:
        raise SourceConfigError(f"{origin}: no sources declared")
    return out


def collect_config(entry: dict) -> dict:
    """The collection package's view of a source entry. In sources.yaml `fields`
    maps canonical fields to record fields for every source type, so HTML and
    XML extraction rules are written as `selectors` and renamed here."""
    cfg = {k: v for k, v in entry.items() if k not in ("fields", "options", "selectors", "history")}
    if "selectors" in entry:
        cfg["fields"] = entry["selectors"]
    return cfg


def expand_env(value):
    """$VARS in every string of a config (hosts, tokens' variable names stay names)."""
    if isinstance(value, str):
        return os.path.expandvars(value)
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    return value


def _check_http(entry: dict, where: str) -> None:
    """HTTP sources are validated by the collection package's own models, so a
    typo in pagination or selectors fails when the code loads, not at 2 AM."""
    from pipeline_assets.collect.config import ConfigError, parse_source

    try:
        parse_source(expand_env(collect_config(entry)))
    except ConfigError as e:
        msg = str(e)
        raise SourceConfigError(msg if msg.startswith("source ") else f"{where}: {msg}") from None


def load_sources(path: str | Path) -> list[Source]:
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise SourceConfigError(f"source config not found: {p}") from None
    except yaml.YAMLError as e:
        raise SourceConfigError(f"{p}: invalid YAML: {e}") from None
    return parse_sources(doc, origin=str(p))
