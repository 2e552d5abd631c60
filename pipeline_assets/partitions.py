"""Partitions: date x source for per-source stages, date for daily roll-ups.

Why a multi-partition over a static source dimension (read from
data/sources.yaml) rather than dynamic partitions: the set of sources is
configuration, reviewed in git, so it belongs with the code; a source added
to the YAML appears in the UI on reload without a sensor having to register
it, and a user can pick one cell (re-run one source-day) or a rectangle
(backfill a date range for some or all sources) in the partition grid.
"""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache

from dagster import DailyPartitionsDefinition, MultiPartitionKey, MultiPartitionsDefinition, StaticPartitionsDefinition

from .paths import SOURCES_FILE
from .sources import Source, load_sources

START_DATE = os.environ.get("LISTINGS_START_DATE", "2026-11-01")


@lru_cache(maxsize=1)
def source_catalog() -> dict[str, Source]:
    return {s.name: s for s in load_sources(SOURCES_FILE)}


daily_partitions = DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC")
source_partitions = StaticPartitionsDefinition(sorted(source_catalog()))
source_day_partitions = MultiPartitionsDefinition({"date": daily_partitions, "source": source_partitions})


def source_day(partition_key: str | MultiPartitionKey) -> tuple[date, str]:
    if not isinstance(partition_key, MultiPartitionKey):
        partition_key = source_day_partitions.get_partition_key_from_str(partition_key)
    keys = partition_key.keys_by_dimension
    return date.fromisoformat(keys["date"]), keys["source"]


def source_day_key(day: date, source: str) -> MultiPartitionKey:
    return MultiPartitionKey({"date": day.isoformat(), "source": source})
