"""The one source model: every entry of `data/sources.yaml`, file or HTTP.

    sources = load_sources("data/sources.yaml")      # list[Source], checked up front
    src = parse_source({...})                         # one entry (tests, `collect_source`)

One pydantic model per source `type` (`file`, `json_api`, `html`, `xml`),
sharing the catalog keys (`name`, `kind`, `fields`, `schedule`, `enabled`,
`history`). Config errors fail when the code location loads, naming the file,
the source, the dotted key and what is allowed, because a typo found at 2 AM
in a scheduled run is a lost day.

Strict where YAML is ambiguous: `enabled: "false"` is a quoted string, not a
boolean, and is refused (it would otherwise read as true); whole numbers must
be numbers; a cron expression must be one croniter accepts. Unknown keys are
errors. `data/sources.schema.json` is the JSON Schema of this model
(`listings schema` rewrites it) for editors that validate YAML.

`$VARS` in strings are kept as written and expanded when a source runs
(`Source.resolved()`), so one file serves every environment; URLs are checked
against `allowed_hosts` with the variables expanded.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlparse, urlsplit

import yaml
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, StrictBool, StrictFloat, StrictInt, Tag,
                      TypeAdapter, ValidationError, field_validator, model_validator)

from .collect.security import host_allowed
from .transforms.kinds import KINDS, get_kind

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SOURCE_TYPES = ("file", "json_api", "html", "xml")
FILE_FORMATS = ("json", "jsonl", "csv", "parquet", "xml")
SCHEDULE_ALIASES = {"hourly": "0 * * * *", "daily": "0 2 * * *", "weekly": "0 4 * * 0"}
DEFAULT_SCHEDULE = "0 2 * * *"
URL_SCHEMES = ("", "file", "s3", "http", "https", "memory", "gs", "az", "abfs")
Number = Union[StrictInt, StrictFloat]


class SourceConfigError(ValueError):
    """An invalid source declaration or a missing secret; names the source and the key."""


def check_name(name: object, what: str = "source name") -> str:
    """Names become hive paths and SQL values: allow a safe alphabet only."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SourceConfigError(
            f"{what} {name!r} is invalid: use lowercase letters, digits and underscores, "
            "starting with a letter (max 63 characters)")
    return name


def expand_env(value: Any) -> Any:
    """$VARS in every string of a config (names of secret variables stay names)."""
    if isinstance(value, str):
        return os.path.expandvars(value)
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    return value


def location_regex(template: str) -> re.Pattern[str]:
    """A regex over paths for a location template: `{date}` captures the
    partition date, `*` and `?` are globs."""
    out = ""
    for part in re.split(r"(\{date\}|\*|\?)", template):
        out += {"{date}": r"(?P<date>\d{4}-\d{2}-\d{2})", "*": r"[^/]*", "?": r"[^/]"}.get(part, re.escape(part))
    return re.compile(out + "$")


def _is_ipv6(h: str) -> bool:
    try:
        return ipaddress.ip_address(h).version == 6
    except ValueError:
        return False


def _check_hosts(hosts: list[str]) -> list[str]:
    out = []
    for h in hosts:
        h = h.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")
        if not h or "/" in h or (":" in h and not _is_ipv6(h)):
            raise ValueError(f"{h!r} must be a host name (no scheme, port or path), or *.domain")
        if "*" in h and not (h.startswith("*.") and "*" not in h[2:]):
            raise ValueError(f"{h!r}: a wildcard is only allowed as a leading '*.'")
        out.append(h)
    return out


def _css_problem(selector: str, key: str) -> str | None:
    from selectolax.lexbor import LexborHTMLParser, SelectolaxError

    try:
        LexborHTMLParser("<html></html>").css(selector)
    except SelectolaxError:
        return f"{key}: {selector!r} is not a valid CSS selector"
    return None


def check_cron(expr: str) -> str:
    """A 5-field cron expression (or an alias: hourly, daily, weekly) that croniter accepts."""
    from croniter import croniter

    expr = SCHEDULE_ALIASES.get(expr, expr)
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise ValueError(f"{expr!r} is not a valid 5-field cron expression (minute hour day month weekday, "
                         f"e.g. '0 2 * * *') nor one of {', '.join(SCHEDULE_ALIASES)}")
    return expr


class Strict(BaseModel):
    # Unknown keys are errors: a typo like `paginaton:` must not be ignored silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- parts of HTTP sources ----------------------------------------------------

class AuthConfig(Strict):
    type: Literal["bearer", "header", "basic"]
    token_env: str | None = None      # bearer / header: NAME of the env var holding the token
    header: str = "X-API-Key"         # header: which header carries the token
    username_env: str | None = None   # basic
    password_env: str | None = None   # basic

    @model_validator(mode="after")
    def _needs(self) -> "AuthConfig":
        if self.type in ("bearer", "header") and not self.token_env:
            raise ValueError(f"type {self.type} needs token_env (the NAME of an environment variable)")
        if self.type == "basic" and not (self.username_env and self.password_env):
            raise ValueError("type basic needs username_env and password_env")
        return self


class HttpConfig(Strict):
    timeout: Number = Field(30.0, gt=0)          # seconds, read/write/pool
    connect_timeout: Number = Field(10.0, gt=0)
    max_attempts: StrictInt = Field(4, ge=1)     # total tries per request, including the first
    backoff_base: Number = Field(0.5, ge=0)      # seconds; full jitter in [0, base * 2**(n-1)]
    backoff_max: Number = Field(30.0, ge=0)
    retry_after_max: Number = Field(120.0, ge=0)  # a server's Retry-After is honoured up to this
    concurrency: StrictInt = Field(4, ge=1)      # requests in flight per host
    rate_limit: Number | None = Field(None, ge=0)  # requests/second per host; 0/None = unlimited
    burst: StrictInt = Field(1, ge=1)            # token bucket size
    max_redirects: StrictInt = Field(5, ge=0)
    max_body_mb: Number = Field(50.0, gt=0)
    proxies: list[str] = []
    headers: dict[str, str] = {}
    user_agent: str = "listings-etl-collect/0.1"

    @field_validator("proxies")
    @classmethod
    def _proxy_urls(cls, v: list[str]) -> list[str]:
        for p in v:
            if urlsplit(p).scheme not in ("http", "https", "socks5", "socks5h"):
                raise ValueError(f"proxy {p!r} must be an http://, https:// or socks5:// URL")
        return v


class Pagination(Strict):
    style: Literal["page", "offset", "cursor", "next_link"]
    max_pages: StrictInt = Field(1000, ge=1)   # hard cap; reaching it sets truncated=true
    prefetch: StrictInt | None = Field(None, ge=1)  # page/offset: pages in flight (default http.concurrency)
    # page
    page_param: str = "page"
    start: StrictInt | None = None       # first page number (page: 1) or first offset (offset: 0)
    size_param: str | None = None
    page_size: StrictInt | None = Field(None, ge=1)
    # offset
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: StrictInt = Field(100, ge=1)
    # cursor
    cursor_param: str = "cursor"
    cursor_path: str | None = None
    # next_link
    next_path: str | None = None          # dotted path in the body; unset = RFC 5988 Link header

    @model_validator(mode="after")
    def _style_keys(self) -> "Pagination":
        if self.style == "cursor" and not self.cursor_path:
            raise ValueError("style cursor needs cursor_path (dotted path of the next cursor in the body)")
        if self.size_param and not self.page_size:
            raise ValueError("size_param needs page_size")
        return self


class FieldSpec(Strict):
    css: str | None = None   # None = the item element itself
    attr: str | None = None  # None = the element's text; href/src are made absolute


SelectorMap = dict[str, Union[str, FieldSpec]]


class DetailConfig(Strict):
    link_field: str
    selectors: SelectorMap = Field(min_length=1)


class History(Strict):
    # A listing absent on this many consecutive days on which the source
    # delivered data is disappeared (README, "History").
    disappear_after_days: StrictInt = Field(1, ge=1, le=365)


# --- sources --------------------------------------------------------------------

class SourceBase(Strict):
    name: str = Field(description="Lowercase letters, digits and underscores; it becomes a partition key, "
                                  "a lake path and a SQL value.",
                      json_schema_extra={"pattern": NAME_RE.pattern})
    kind: str = Field(description="The listing kind (pipeline_assets/transforms/kinds/).",
                      json_schema_extra={"enum": sorted(KINDS)})
    fields: dict[str, str] = Field(min_length=1, description=(
        "Canonical field -> field of the collected record (dotted for nested JSON)."))
    schedule: str = Field(DEFAULT_SCHEDULE, description="Cron (UTC, 5 fields) or hourly | daily | weekly.")
    enabled: StrictBool = Field(True, description="false keeps the source declared (and materializable) "
                                                  "but unscheduled.")
    description: str | None = None
    history: History = History()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"{v!r} is invalid: use lowercase letters, digits and underscores, starting with "
                             "a letter (max 63 characters; it becomes a path and a SQL value)")
        return v

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in KINDS:
            raise ValueError(f"unknown listing kind {v!r}; declared kinds: {', '.join(sorted(KINDS))}")
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        return check_cron(v)

    @model_validator(mode="after")
    def _consistent(self) -> "SourceBase":
        # Every rule across keys is checked, and all that fail are reported together.
        problems = self.problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def problems(self) -> list[str]:
        """What is wrong across keys (one message per problem, naming the key)."""
        out = []
        kind = get_kind(self.kind)
        for canon, src in self.fields.items():
            if canon not in kind.field_names:
                out.append(f"fields.{canon}: not a field of kind {kind.name} (fields: {', '.join(kind.field_names)})")
            elif not src:
                out.append(f"fields.{canon}: the source field name is empty")
        missing = [f.name for f in kind.fields if f.required and f.name not in self.fields]
        if missing:
            out.append(f"required field(s) not mapped: {', '.join(missing)}")
        return out

    @property
    def is_http(self) -> bool:
        return self.type != "file"

    @property
    def disappear_after_days(self) -> int:
        return self.history.disappear_after_days

    def resolved(self):
        """This source with $VARS expanded in every string, for a run."""
        return type(self).model_validate(expand_env(self.model_dump(exclude_unset=True)))

    def catalog_record(self) -> dict:
        """The declaration as JSON (for pipeline.configs), as written (variables unexpanded)."""
        return self.model_dump(mode="json", exclude_none=True)


class FileSource(SourceBase):
    """Files at a location: local, s3://, https://, globs; `{date}` is the partition day."""
    type: Literal["file"] = "file"
    format: Literal["json", "jsonl", "csv", "parquet", "xml"]
    location: str = Field(min_length=1, description=(
        "A path (relative to the project), s3://, https:// or another fsspec URL; globs allowed; "
        "{date} is the partition date and $VARS are expanded at run time."))
    record_path: str | None = Field(None, description="json: dotted path to the record list; "
                                                      "xml: the record element's name.")
    watch: StrictBool = Field(False, description="true: inbox_sensor runs the source when files arrive.")
    # http(s) locations only: hosts the download may reach (default: the
    # location's own host) and whether private/loopback addresses are allowed.
    allowed_hosts: list[str] = []
    allow_private_networks: StrictBool = False

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        return _check_hosts(v)

    def problems(self) -> list[str]:
        out = []
        parts = urlparse(self.location)
        if parts.scheme not in URL_SCHEMES:
            out.append(f"location: unsupported URL scheme {parts.scheme!r} "
                       f"(use a path or one of {', '.join(s for s in URL_SCHEMES if s)})")
        elif parts.scheme in ("http", "https", "s3") and not parts.netloc:
            out.append(f"location: {self.location!r} has no host")
        if parts.scheme in ("http", "https") and any(ch in self.location for ch in "*["):
            out.append("location: globs are not supported over http(s) (a web server has no listing to match); "
                       "name one file per day, e.g. .../{date}.csv")
        if (self.allowed_hosts or self.allow_private_networks) and parts.scheme not in ("http", "https"):
            out.append("allowed_hosts / allow_private_networks only apply to http(s) locations")
        if self.format == "xml" and not self.record_path:
            out.append("format xml needs record_path (the name of the record element)")
        return out + super().problems()

    def location_for(self, day: date, base_dir: Path | None = None) -> str:
        # $VARS are expanded at run time (bucket names, per-environment roots).
        loc = os.path.expandvars(self.location).replace("{date}", day.isoformat())
        if urlparse(loc).scheme in ("", "file") and base_dir is not None and not Path(loc).is_absolute():
            loc = str(base_dir / loc)
        return loc


class HttpSource(SourceBase):
    """Collected over HTTP by pipeline_assets.collect (README: "Configuring sources")."""
    url: str | None = None
    allowed_hosts: list[str] = Field(min_length=1)
    allow_private_networks: StrictBool = False
    auth: AuthConfig | None = None
    conditional: StrictBool = False   # send If-None-Match / If-Modified-Since when a stored body exists
    params: dict[str, Union[str, StrictInt, StrictFloat, StrictBool]] = {}
    http: HttpConfig = HttpConfig()

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        return _check_hosts(v)

    def start_urls(self) -> list[str]:
        return [self.url] if self.url else []

    def location_for(self, day: date, base_dir: Path | None = None) -> str:
        """Where the source-day comes from, for messages: the (first) start URL."""
        return os.path.expandvars(self.start_urls()[0])

    def problems(self) -> list[str]:
        out = []
        for u in self.start_urls():
            parts = urlsplit(os.path.expandvars(u))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                out.append(f"url {u!r} must be an absolute http(s) URL")
            elif not host_allowed(parts.hostname, self.allowed_hosts):
                out.append(f"url host {parts.hostname!r} is not in allowed_hosts {self.allowed_hosts}")
        return out + super().problems()


class JsonApiSource(HttpSource):
    type: Literal["json_api"]
    record_path: str | None = None        # dotted path to the record list; empty = the body is the list
    pagination: Pagination | None = None  # none = a single request

    def problems(self) -> list[str]:
        return ([] if self.url else ["url is required"]) + super().problems()


class HtmlSource(HttpSource):
    type: Literal["html"]
    item_selector: str
    # record field -> CSS selector (text) or {css, attr}; `fields` then maps
    # canonical fields to these record fields.
    selectors: SelectorMap = Field(min_length=1)
    next_selector: str | None = None
    max_pages: StrictInt = Field(100, ge=1)
    detail: DetailConfig | None = None

    def problems(self) -> list[str]:
        out = [] if self.url else ["url is required"]
        if self.detail and self.detail.link_field not in self.selectors:
            out.append(f"detail.link_field {self.detail.link_field!r} is not one of selectors "
                       f"({', '.join(self.selectors)})")
        checks = [("item_selector", self.item_selector), ("next_selector", self.next_selector)]
        for prefix, sel in (("selectors", self.selectors),
                            ("detail.selectors", self.detail.selectors if self.detail else {})):
            checks += [(f"{prefix}.{k}", spec if isinstance(spec, str) else spec.css) for k, spec in sel.items()]
        out += [p for key, css in checks if css and (p := _css_problem(css, key))]
        return out + super().problems()


class XmlSource(HttpSource):
    type: Literal["xml"]
    urls: list[str] = []
    record_tag: str
    # record field -> "child", "child/grandchild", "@attr", "child/@attr";
    # omitted = every attribute as "@name" and every child element
    selectors: dict[str, str] | None = None

    def start_urls(self) -> list[str]:
        return ([self.url] if self.url else []) + list(self.urls)

    def problems(self) -> list[str]:
        out = [] if self.start_urls() else ["url or urls is required"]
        if ":" in self.record_tag or "{" in self.record_tag:
            out.append("record_tag is a local element name; namespaces are matched by any prefix")
        return out + super().problems()


def _source_type(v: Any) -> str | None:
    t = v.get("type", "file") if isinstance(v, dict) else getattr(v, "type", None)
    return t if t in SOURCE_TYPES else None


Source = Annotated[
    Union[Annotated[FileSource, Tag("file")], Annotated[JsonApiSource, Tag("json_api")],
          Annotated[HtmlSource, Tag("html")], Annotated[XmlSource, Tag("xml")]],
    Discriminator(_source_type, custom_error_type="invalid_type",
                  custom_error_message=f"type must be one of {', '.join(SOURCE_TYPES)}")]
HttpSourceConfig = Union[JsonApiSource, HtmlSource, XmlSource]


class Defaults(Strict):
    schedule: str = DEFAULT_SCHEDULE
    history: History = History()

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        return check_cron(v)


class SourcesFile(Strict):
    """The whole of sources.yaml (what the JSON Schema describes)."""
    defaults: Defaults = Defaults()
    sources: list[Source] = Field(min_length=1)


_SOURCE = TypeAdapter(Source)


def json_schema() -> dict:
    schema = SourcesFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "listings-etl sources.yaml"
    return schema


# --- error messages -------------------------------------------------------------

_LOC_NOISE = {"str", "FieldSpec", "file", "json_api", "html", "xml", "StrictInt", "StrictFloat", "StrictBool",
              "int", "float", "bool"}


def _describe(name: str, err: dict[str, Any]) -> str:
    """One pydantic error as `source NAME: dotted.key problem`."""
    loc = ".".join(str(p) for p in err["loc"] if p not in _LOC_NOISE and not str(p).startswith("function-"))
    where = f"source {name}: {loc}" if loc else f"source {name}:"
    typ, value = err["type"], err.get("input")
    if typ == "invalid_type" and not loc:
        return f"source {name}: type {value.get('type')!r} is not one of {', '.join(SOURCE_TYPES)}"
    if typ == "literal_error":
        allowed = err["ctx"]["expected"].replace(" or ", ", ").replace("'", "")
        return f"{where} {value!r} is not one of {allowed}"
    if typ == "missing":
        return f"{where} is required"
    if typ == "extra_forbidden":
        return f"{where} is not a known key"
    if typ == "bool_type":
        hint = " (a quoted string: write true or false without quotes)" if isinstance(value, str) else ""
        return f"{where} must be true or false, got {value!r}{hint}"
    if typ in ("int_type", "float_type") and isinstance(value, str):
        return f"{where} must be a number, got the string {value!r} (write it without quotes)"
    msg = err["msg"].removeprefix("Value error, ")
    if typ == "value_error":
        return "; ".join(f"{where} {m}".replace(": :", ":") for m in msg.split("\n"))
    msg = msg.removeprefix("Input ")
    return f"{where} {msg[0].lower() + msg[1:]} (got {value!r})"


def _errors(name: str, e: ValidationError) -> str:
    errors = e.errors()
    # A selector that may be "css string or {css, attr}" fails both ways; the
    # mapping branch's complaint is the useful one, so drop the string branch's.
    deeper = {tuple(x["loc"][:-2]) for x in errors if len(x["loc"]) > 2 and x["loc"][-2] == "FieldSpec"}
    kept = [x for x in errors if not (x["type"] == "string_type" and tuple(x["loc"][:-1]) in deeper)]
    # A number field accepts int or float: one complaint is enough.
    seen, out = set(), []
    for err in kept or errors:
        text = _describe(name, err)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return "; ".join(out)


def parse_source(entry: Any, defaults: Defaults | None = None):
    """Validate one source entry; raise SourceConfigError naming the source and key."""
    if isinstance(entry, SourceBase):
        return entry
    if not isinstance(entry, dict):
        raise SourceConfigError(f"a source must be a mapping, got {type(entry).__name__}")
    name = entry.get("name") or "<unnamed>"
    cfg = dict(entry)
    if defaults is not None:
        cfg.setdefault("schedule", defaults.schedule)
        if "history" not in cfg:
            cfg["history"] = defaults.history.model_dump()
    try:
        return _SOURCE.validate_python(cfg)
    except ValidationError as e:
        raise SourceConfigError(_errors(name, e)) from None


def parse_sources(doc: Any, origin: str = "sources.yaml") -> list:
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), list):
        raise SourceConfigError(f"{origin}: expected a top-level 'sources:' list")
    unknown = set(doc) - {"defaults", "sources"}
    if unknown:
        raise SourceConfigError(f"{origin}: unknown top-level key(s) {sorted(unknown)}; allowed: defaults, sources")
    try:
        defaults = Defaults.model_validate(doc.get("defaults") or {})
    except ValidationError as e:
        raise SourceConfigError(f"{origin}: " + _errors("defaults", e).replace("source defaults:", "defaults:")) \
            from None
    seen: set[str] = set()
    out = []
    for i, entry in enumerate(doc["sources"]):
        if not isinstance(entry, dict):
            raise SourceConfigError(f"{origin}: sources[{i}] must be a mapping")
        name = entry.get("name")
        if name is not None and not (isinstance(name, str) and NAME_RE.match(name)):
            check_name(name, f"{origin}: sources[{i}].name")
        try:
            src = parse_source(entry, defaults)
        except SourceConfigError as e:
            raise SourceConfigError(f"{origin}: {e}") from None
        if src.name in seen:
            raise SourceConfigError(f"{origin}: source {src.name}: declared twice")
        seen.add(src.name)
        out.append(src)
    if not out:
        raise SourceConfigError(f"{origin}: no sources declared")
    return out


def load_sources(path: str | Path) -> list:
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise SourceConfigError(f"source config not found: {p}") from None
    except yaml.YAMLError as e:
        raise SourceConfigError(f"{p}: invalid YAML: {e}") from None
    return parse_sources(doc, origin=str(p))
