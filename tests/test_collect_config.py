"""Source config validation: errors name the source and the key."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from pipeline_assets.collect import collect_source
from pipeline_assets.collect import collector as runner
from pipeline_assets.sources import SourceConfigError as ConfigError
from pipeline_assets.sources import parse_source

BASE = {"name": "dealer_api", "type": "json_api", "url": "https://api.example.com/v1/items",
        "allowed_hosts": ["api.example.com"], "kind": "vehicles",
        "fields": {"make": "make", "model": "model", "year": "year", "source_url": "url"}}


def err(**changes) -> str:
    cfg = {**BASE, **changes}
    with pytest.raises(ConfigError) as e:
        parse_source({k: v for k, v in cfg.items() if v is not None})
    return str(e.value)


def test_bad_pagination_style():
    assert err(pagination={"style": "pages"}) == \
        "source dealer_api: pagination.style 'pages' is not one of page, offset, cursor, next_link"


@pytest.mark.parametrize("changes, message", [
    ({"type": "rss"}, "source dealer_api: type 'rss' is not one of file, json_api, html, xml"),
    ({"url": None}, "source dealer_api: url is required"),
    ({"allowed_hosts": None}, "source dealer_api: allowed_hosts is required"),
    ({"url": "https://other.example.com/x"}, "source dealer_api: url host 'other.example.com' is not in allowed_hosts"),
    ({"url": "ftp://api.example.com/x"}, "must be an absolute http(s) URL"),
    ({"allowed_hosts": ["https://api.example.com/"]}, "source dealer_api: allowed_hosts 'https://api.example.com/' "
                                                      "must be a host name"),
    ({"allowed_hosts": ["api.*.com"]}, "a wildcard is only allowed as a leading '*.'"),
    ({"pagination": {"style": "cursor"}}, "source dealer_api: pagination style cursor needs cursor_path"),
    ({"pagination": {"style": "page", "max_pages": 0}}, "source dealer_api: pagination.max_pages should be greater"),
    ({"paginaton": {"style": "page"}}, "source dealer_api: paginaton is not a known key"),
    ({"http": {"rate_limit": -1}}, "source dealer_api: http.rate_limit should be greater than or equal to 0"),
    ({"http": {"proxies": ["proxy:3128"]}}, "http.proxies proxy 'proxy:3128' must be an http://"),
    ({"auth": {"type": "bearer", "token": "abc"}}, "source dealer_api: auth.token is not a known key"),
    ({"auth": {"type": "basic", "username_env": "U"}}, "source dealer_api: auth type basic needs"),
    ({"name": "Dealer API"}, "source Dealer API: name 'Dealer API' is invalid: use lowercase"),
])
def test_config_errors(changes, message):
    assert message in err(**changes)


def test_html_and_xml_errors():
    html = {**BASE, "type": "html", "item_selector": "li..x", "selectors": {"t": "h2"}}
    with pytest.raises(ConfigError, match=r"source dealer_api: item_selector: 'li\.\.x' is not a valid CSS selector"):
        parse_source(html)
    html.update(item_selector="li", detail={"link_field": "url", "selectors": {"d": "p"}})
    with pytest.raises(ConfigError, match=r"detail.link_field 'url' is not one of selectors \(t\)"):
        parse_source(html)
    html.update(detail=None, selectors={"u": {"css": "a", "atr": "href"}})
    with pytest.raises(ConfigError, match=r"^source dealer_api: selectors.u.atr is not a known key$"):
        parse_source(html)
    with pytest.raises(ConfigError, match="source feed: url or urls is required"):
        parse_source({**BASE, "name": "feed", "type": "xml", "url": None, "allowed_hosts": ["x.example.com"],
                      "record_tag": "v"})


def test_catalog_keys_tolerated_and_defaults():
    src = parse_source({**BASE, "kind": "vehicles", "schedule": "0 2 * * *", "enabled": True})
    assert src.http.max_attempts == 4 and src.http.rate_limit is None and src.pagination is None
    assert not src.allow_private_networks and not src.conditional


def test_docstring_examples_are_valid_configs():
    """The examples in the runner's documentation are kept honest."""
    doc = runner.__doc__ or ""
    blocks, current = [], None
    for line in doc.splitlines():
        if line.startswith("    - name:"):
            current = [line]
            blocks.append(current)
        elif current is not None and line.startswith("      "):
            current.append(line)
        else:
            current = None
    assert len(blocks) == 3
    for block in blocks:
        parse_source(yaml.safe_load("\n".join(line[4:] for line in block))[0])


def test_collect_source_raises_config_error_before_io(tmp_path):
    with pytest.raises(ConfigError, match="source dealer_api: pagination.style"):
        asyncio.run(collect_source({**BASE, "pagination": {"style": "pages"}}, state_dir=tmp_path,
                                   raw_dir=tmp_path / "raw", out_parquet=tmp_path / "o.parquet"))
    assert not (tmp_path / "raw").exists() and not (tmp_path / "o.parquet").exists()
