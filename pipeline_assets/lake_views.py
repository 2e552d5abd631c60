"""Lake datasets derived from the asset definitions, for `listings query`.

A lake asset is an asset of kind `parquet` with a one-part key; its hive
levels follow its partitions (date x source, date, or one upload). An asset
that writes further datasets names them in its definition metadata
(`LAKE_ALSO_WRITES`). Nothing here lists asset names: a new asset gets its
view by being defined.
"""

from __future__ import annotations

from dagster import (Definitions, DynamicPartitionsDefinition, MultiPartitionsDefinition,
                     TimeWindowPartitionsDefinition)

from .metadata import LAKE_ALSO_WRITES


def _levels(partitions_def) -> list[str]:
    if isinstance(partitions_def, MultiPartitionsDefinition):
        return [d.name for d in partitions_def.partitions_defs]
    if isinstance(partitions_def, TimeWindowPartitionsDefinition):
        return ["date"]
    if isinstance(partitions_def, DynamicPartitionsDefinition):
        return ["upload"]
    return []


def lake_datasets(defs: Definitions) -> dict[str, list[str]]:
    """Dataset name -> hive levels, for every lake asset and what it also writes."""
    graph = defs.resolve_asset_graph()
    out: dict[str, list[str]] = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        if "parquet" not in node.kinds or len(key.path) != 1:
            continue
        levels = _levels(node.partitions_def)
        out[key.path[0]] = levels
        for extra in node.metadata.get(LAKE_ALSO_WRITES) or []:
            out[extra] = levels
    return out
