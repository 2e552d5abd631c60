"""Collection over HTTP: JSON APIs, HTML listing pages and XML feeds into the
lake's raw-record Parquet format. No dagster here: assets call into it.

See `runner` for the config keys and an example per source type.
"""

from .config import ConfigError, parse_source
from .http import FetchResult, HttpClient
from .report import CollectReport, PageFailure
from .runner import collect_many, collect_source

__all__ = ["CollectReport", "ConfigError", "FetchResult", "HttpClient", "PageFailure", "collect_many",
           "collect_source", "parse_source"]
