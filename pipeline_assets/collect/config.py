"""Source configuration: plain dicts (loaded from YAML by the caller) checked
into typed models. See `pipeline_assets.collect.runner` for the documented
keys and an example per source type.

Every error names the source and the dotted key, e.g.
`source dealer_api: pagination.style 'pages' is not one of page, offset, cursor, next_link`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .security import host_allowed

SOURCE_TYPES = ("json_api", "html", "xml")
PAGINATION_STYLES = ("page", "offset", "cursor", "next_link")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Keys that belong to the listings source catalog (sources.yaml) rather than
# to collection; tolerated so one YAML block can describe a source end to end.
CATALOG_KEYS = {"kind", "schedule", "enabled", "description", "format", "location"}


class ConfigError(ValueError):
    """An invalid source configuration or a missing secret; names source and key."""


class _Strict(BaseModel):
    # Unknown keys are errors: a typo like `paginaton:` must not be ignored silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthConfig(_Strict):
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


class HttpConfig(_Strict):
    timeout: float = Field(30.0, gt=0)          # seconds, read/write/pool
    connect_timeout: float = Field(10.0, gt=0)
    max_attempts: int = Field(4, ge=1)          # total tries per request, including the first
    backoff_base: float = Field(0.5, ge=0)      # seconds; full jitter in [0, base * 2**(n-1)]
    backoff_max: float = Field(30.0, ge=0)
    retry_after_max: float = Field(120.0, ge=0)  # a server's Retry-After is honoured up to this
    concurrency: int = Field(4, ge=1)           # requests in flight per host
    rate_limit: float | None = Field(None, ge=0)  # requests/second per host; 0/None = unlimited
    burst: int = Field(1, ge=1)                 # token bucket size
    max_redirects: int = Field(5, ge=0)
    max_body_mb: float = Field(50.0, gt=0)
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


class SourceBase(_Strict):
    name: str
    type: Literal["json_api", "html", "xml"]
    url: str | None = None
    allowed_hosts: list[str] = Field(min_length=1)
    allow_private_networks: bool = False
    auth: AuthConfig | None = None
    conditional: bool = False         # send If-None-Match / If-Modified-Since when a stored body exists
    params: dict[str, Union[str, int, float, bool]] = {}
    http: HttpConfig = HttpConfig()
    # catalog keys (see CATALOG_KEYS), not used here
    kind: str | None = None
    schedule: str | None = None
    enabled: bool = True
    description: str | None = None
    format: str | None = None
    location: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"{v!r} must match {NAME_RE.pattern} (it becomes a path)")
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        out = []
        for h in v:
            h = h.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")
            if not h or "/" in h or (":" in h and not _is_ipv6(h)):
                raise ValueError(f"{h!r} must be a host name (no scheme, port or path), or *.domain")
            if "*" in h and not (h.startswith("*.") and "*" not in h[2:]):
                raise ValueError(f"{h!r}: a wildcard is only allowed as a leading '*.'")
            out.append(h)
        return out

    def start_urls(self) -> list[str]:
        return [self.url] if self.url else []

    @model_validator(mode="after")
    def _urls_allowed(self) -> "SourceBase":
        for u in self.start_urls():
            parts = urlsplit(u)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"url {u!r} must be an absolute http(s) URL")
            if not host_allowed(parts.hostname, self.allowed_hosts):
                raise ValueError(f"url host {parts.hostname!r} is not in allowed_hosts {self.allowed_hosts}")
        return self


class Pagination(_Strict):
    style: Literal["page", "offset", "cursor", "next_link"]
    max_pages: int = Field(1000, ge=1)   # hard cap; reaching it sets truncated=true
    prefetch: int | None = Field(None, ge=1)  # page/offset: pages in flight (default http.concurrency)
    # page
    page_param: str = "page"
    start: int | None = None             # first page number (page: 1) or first offset (offset: 0)
    size_param: str | None = None
    page_size: int | None = Field(None, ge=1)
    # offset
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(100, ge=1)
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


class JsonApiSource(SourceBase):
    type: Literal["json_api"]
    record_path: str | None = None        # dotted path to the record list; empty = the body is the list
    pagination: Pagination | None = None  # none = a single request

    @model_validator(mode="after")
    def _has_url(self) -> "JsonApiSource":
        if not self.url:
            raise ValueError("url is required")
        return self


class FieldSpec(_Strict):
    css: str | None = None   # None = the item element itself
    attr: str | None = None  # None = the element's text; href/src are made absolute


FieldMap = dict[str, Union[str, FieldSpec]]


class DetailConfig(_Strict):
    link_field: str
    fields: FieldMap = Field(min_length=1)


class HtmlSource(SourceBase):
    type: Literal["html"]
    item_selector: str
    fields: FieldMap = Field(min_length=1)
    next_selector: str | None = None
    max_pages: int = Field(100, ge=1)
    detail: DetailConfig | None = None

    @model_validator(mode="after")
    def _html(self) -> "HtmlSource":
        if not self.url:
            raise ValueError("url is required")
        if self.detail and self.detail.link_field not in self.fields:
            raise ValueError(f"detail.link_field {self.detail.link_field!r} is not one of fields "
                             f"({', '.join(self.fields)})")
        _check_css(self.item_selector, "item_selector")
        if self.next_selector:
            _check_css(self.next_selector, "next_selector")
        for prefix, fields in (("fields", self.fields), ("detail.fields", self.detail.fields if self.detail else {})):
            for k, spec in fields.items():
                css = spec if isinstance(spec, str) else spec.css
                if css:
                    _check_css(css, f"{prefix}.{k}")
        return self


class XmlSource(SourceBase):
    type: Literal["xml"]
    urls: list[str] = []
    record_tag: str
    fields: dict[str, str] | None = None   # field -> "child", "child/grandchild", "@attr", "child/@attr"

    def start_urls(self) -> list[str]:
        return ([self.url] if self.url else []) + list(self.urls)

    @model_validator(mode="after")
    def _xml(self) -> "XmlSource":
        if not self.start_urls():
            raise ValueError("url or urls is required")
        if ":" in self.record_tag or "{" in self.record_tag:
            raise ValueError("record_tag is a local element name; namespaces are matched by any prefix")
        return self


SourceConfig = Union[JsonApiSource, HtmlSource, XmlSource]
_MODELS: dict[str, type[SourceBase]] = {"json_api": JsonApiSource, "html": HtmlSource, "xml": XmlSource}


def _is_ipv6(h: str) -> bool:
    try:
        return ipaddress.ip_address(h).version == 6
    except ValueError:
        return False


def _check_css(selector: str, key: str) -> None:
    from selectolax.lexbor import LexborHTMLParser, SelectolaxError

    try:
        LexborHTMLParser("<html></html>").css(selector)
    except SelectolaxError:
        raise ValueError(f"{key}: {selector!r} is not a valid CSS selector") from None


def parse_source(cfg: dict[str, Any]) -> SourceConfig:
    """Validate one source dict; raise ConfigError naming the source and key."""
    if not isinstance(cfg, dict):
        raise ConfigError(f"source config must be a mapping, got {type(cfg).__name__}")
    name = cfg.get("name") or "<unnamed>"
    kind = cfg.get("type")
    if kind not in _MODELS:
        shown = "missing" if kind is None else repr(kind)
        raise ConfigError(f"source {name}: type {shown} is not one of {', '.join(SOURCE_TYPES)}")
    try:
        return _MODELS[kind].model_validate(cfg)  # type: ignore[return-value]
    except ValidationError as e:
        errors = e.errors()
        # A field that may be "css string or {css, attr}" fails both ways; the
        # dict branch's complaint is the useful one, so drop the string branch's.
        deeper = {tuple(x["loc"][:-2]) for x in errors if len(x["loc"]) > 2 and x["loc"][-2] == "FieldSpec"}
        kept = [x for x in errors if not (x["type"] == "string_type" and tuple(x["loc"][:-1]) in deeper)]
        raise ConfigError("; ".join(_describe(name, err) for err in kept or errors)) from None


def _describe(name: str, err: dict[str, Any]) -> str:
    """One pydantic error as `source NAME: dotted.key problem`."""
    # Union branches add their type names to the location; they are noise to a reader.
    loc = ".".join(str(p) for p in err["loc"] if p not in ("str", "FieldSpec") and not str(p).startswith("function-"))
    where = f"source {name}: {loc}" if loc else f"source {name}:"
    typ, value = err["type"], err.get("input")
    if typ == "literal_error":
        allowed = err["ctx"]["expected"].replace(" or ", ", ").replace("'", "")
        return f"{where} {value!r} is not one of {allowed}"
    if typ == "missing":
        return f"{where} is required"
    if typ == "extra_forbidden":
        return f"{where} is not a known key"
    msg = err["msg"].removeprefix("Value error, ")
    if typ == "value_error":
        return f"{where} {msg}".replace(": :", ":")
    msg = msg.removeprefix("Input ")
    return f"{where} {msg[0].lower() + msg[1:]} (got {value!r})"
