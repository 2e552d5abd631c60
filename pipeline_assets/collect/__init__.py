"""Collection over HTTP: JSON APIs, HTML listing pages and XML feeds into the
lake's raw-record Parquet format (`pipeline_assets.raw`). No dagster here:
assets call into it. Sources are declared with `pipeline_assets.sources`.

Names are imported lazily, so `pipeline_assets.collect.security` (used by the
source model) does not pull in httpx.
"""

from importlib import import_module

_EXPORTS = {"CollectReport": ".outcome", "PageFailure": ".outcome", "FetchResult": ".http", "HttpClient": ".http",
            "collect_many": ".collector", "collect_source": ".collector"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
