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

    def location_for(self, day: date, base_dir: Path | None = None) -> str:
        # $VARS are expanded at run time (bucket names, per-environment roots).
        loc = os.path.expandvars(self.location).replace("{date}", day.isoformat())
        if urlparse(loc).scheme in ("", "file") and base_dir is not None and not Path(loc).is_absolute():
            loc = str(base_dir / loc)
        return loc


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
        known = {"name", "kind", "format", "location", "fields", "record_path", "schedule",
                 "enabled", "options"}
        unknown = set(entry) - known
        if unknown:
            raise SourceConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(known)}")
        try:
            kind = get_kind(entry.get("kind"))
        except KeyError as e:
            raise SourceConfigError(f"{where}: key 'kind': {e.args[0]}") from None
        fmt = entry.get("format")
        if fmt not in FORMATS:
            raise SourceConfigError(f"{where}: key 'format': {fmt!r} is not one of {list(FORMATS)}")
        loc = entry.get("location")
        if not isinstance(loc, str) or not loc:
            raise SourceConfigError(f"{where}: key 'location' is required")
        scheme = urlparse(loc).scheme
        if scheme not in URL_SCHEMES:
            raise SourceConfigError(f"{where}: key 'location': unsupported URL scheme {scheme!r}")
        if scheme in ("http", "https", "s3") and not urlparse(loc).netloc:
            raise SourceConfigError(f"{where}: key 'location': {loc!r} has no host")
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
        if len(schedule.split()) != 5:
            raise SourceConfigError(f"{where}: key 'schedule': {schedule!r} is not a 5-field cron expression")
        out.append(Source(
            name=name, kind=kind.name, format=fmt, location=loc, fields=dict(fields),
            record_path=entry.get("record_path"), schedule=schedule,
            enabled=bool(entry.get("enabled", True)), options=dict(entry.get("options") or {}),
        ))
    if not out:
        raise SourceConfigError(f"{origin}: no sources declared")
    return out


def load_sources(path: str | Path) -> list[Source]:
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise SourceConfigError(f"source config not found: {p}") from None
    except yaml.YAMLError as e:
        raise SourceConfigError(f"{p}: invalid YAML: {e}") from None
    return parse_sources(doc, origin=str(p))
