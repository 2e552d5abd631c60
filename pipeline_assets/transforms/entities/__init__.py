"""Entity resolution for one kind and one day, with identities carried over
from the previous day's state.

    records of day D ─┐
                      ├─> prepare ─> block ─> compare ─> weigh ─> score ─> cluster ─┐
    state of D-1 ─────┘ (entities seen recently                                     │
                         are candidates too: reposts)                               │
        ┌───────────────────────────────────────────────────────────────────────────┘
        └─> assign_identities ─┬─> members (listing -> entity, score, reason)
                               ├─> entities (canonical records)
                               └─> state of D

Each step is a stage of stages.py: a function of the run (connection,
resolution, day, output directory) and of the tables earlier stages
returned, timed under its name.

Why a state file rather than re-reading history: day D costs O(day) (the
day's records plus recently seen entities), and re-running D reads the same
D-1 state, so it yields the same ids. `listing_entities` is a self-dependent
partitioned asset in Dagster for exactly this reason.

Identity rules:
- a listing seen before (same source + listing_id) keeps its entity unless
  today's evidence merges that entity into an older one;
- a cluster holding earlier entities takes the oldest one's id (first seen,
  then smallest id); the others are merged into it and recorded;
- a cluster with no earlier entity gets a new id derived from its smallest
  listing key and the day, so a re-run gives the same id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from ..kinds import Kind
from ..kinds.resolution import Resolution
from . import stages
from .identity import ENTITIES, MEMBERS
from .model import Weights

__all__ = ["ENTITIES", "MEMBERS", "ResolveResult", "resolve_day"]


@dataclass
class ResolveResult:
    members: Path      # one row per input record: entity_id, match_score, match_reason, matched_to, link
    entities: Path     # entities seen today: canonical record, first/last seen, price history
    state: Path        # directory with members.parquet + entities.parquet, input of the next day
    pairs: Path        # scored candidate pairs with probability >= 0.5 (borderline review)
    merges: Path       # earlier entities merged into another today: merged, into_entity
    weights: Weights
    stats: dict = field(default_factory=dict)


def resolve_day(con: duckdb.DuckDBPyConnection, records: str | Path | Iterable[str | Path], kind: Kind, day: date,
                previous_state: str | Path | None, out_dir: str | Path,
                resolution: Resolution | None = None) -> ResolveResult:
    res = resolution or kind.resolution
    if res is None:
        raise ValueError(f"kind {kind.name} declares no entity resolution")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [str(records)] if isinstance(records, (str, Path)) else [str(r) for r in records]
    run = stages.Run(con, kind, res, day, Path(previous_state) if previous_state else None, out)
    with run.clock.stage("total"):
        prep = stages.prepare(run, files)
        pairs = stages.block(run, prep)
        levels = stages.compare(run, prep, pairs)
        weights = stages.weigh(run, prep, levels)
        scored = stages.score(run, prep, levels, weights)
        clusters = stages.cluster(run, prep, scored.edges)
        outputs = stages.assign_identities(run, prep, scored, clusters)
        run.finish()
    stats = {**run.stats, "seconds": run.clock.seconds, "rss_mb": run.clock.rss}
    return ResolveResult(weights=weights, stats=stats, **outputs)
