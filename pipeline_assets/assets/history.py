"""listing_history, listing_snapshots, source_scores, listing_scores: one step per day.

Dagster mechanism, and why
--------------------------
`history` is a daily-partitioned multi_asset that depends on its own previous
partition (`listing_history` D-1, TimeWindowPartitionMapping(-1, -1)), like
`listing_entities`:

* Day D's state is day D-1's state file plus day D's listings: O(day), never
  a scan of all earlier days. The state lives in the lake
  (`listing_history/date=D/part-0.parquet`, with `meta.json` beside it and
  `history_sources/date=D/`), so a re-run of D reads the same D-1 file and
  writes byte-for-byte the same result.
* The self-dependency makes a Dagster backfill over a range run the days in
  date order, which is the normal way to rebuild history.

Reading the previous partition from the lake alone would not give that
ordering; the self-dependency alone does not protect against a user
re-running one old day by hand (or a runner going in reverse), which would
leave every later day built on a state that no longer exists. So the asset
also keeps a **chain of fingerprints**: each day's meta records the content
fingerprint of the D-1 state it was built from. When D is materialized:

1. if D-1's state is missing but earlier data exists, the missing days are
   computed first (catch-up), so D is never built on a hole;
2. after D is written, every later day whose recorded parent fingerprint no
   longer matches is recomputed in order (lake files of all four outputs),
   stopping at the first day whose input did not change; the recomputed days
   are listed in the metadata (`recomputed_days`) and logged as
   materializations of those partitions, which marks their downstream
   Postgres loads as out of date in the UI. The Postgres loads of snapshots,
   scores and listing scores replace every day from D on, so a
   backfill in any order ends with the same tables;
3. the `history_chain` check fails, naming the day to re-run, if a later day
   is still built on a different parent (e.g. a recompute failed halfway).

Snapshots and scores are computed here, from the state, because they are the
state's aggregates (transition counts of the day); listing scores are here
because they carry the listing's history (days on market, reposts).
"""


import json
import re
import shutil
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl
from dagster import (AssetCheckResult, AssetCheckSpec, AssetDep, AssetExecutionContext, AssetMaterialization,
                     AssetOut, MaterializeResult, MetadataValue, TimeWindowPartitionMapping, multi_asset)

from resources import DuckDBResource, LakeResource

from ..metadata import lake_metadata, markdown_table
from ..partitions import daily_partitions, source_catalog
from ..transforms.history import (SCORE_WEIGHTS, listing_quality, scores, snapshots, today_relation, update_history,
                                  write_meta)
from ..transforms.kinds import KINDS
from ..transforms.listing_scores import MARKET_WINDOW_DAYS, write_listing_scores
from .enrichment import by_date

HISTORY, SOURCES, META = "listing_history", "history_sources", "meta.json"
# Days (re)written by the last run of a partition: the Postgres loads replace exactly these.
AFFECTED = "affected_days.json"
previous_day = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True)
_DATE_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})")


def completeness() -> pl.Expr:
    """Share (0-1) of the kind's optional fields present on a row: the snapshot's field completeness."""
    expr = None
    for kind in KINDS.values():
        optional = [f.name for f in kind.fields if not f.required]
        share = pl.mean_horizontal([pl.col(n).is_not_null().cast(pl.Float64) for n in optional])
        expr = (pl.when(pl.col("kind") == kind.name).then(share) if expr is None
                else expr.when(pl.col("kind") == kind.name).then(share))
    return expr.otherwise(None)


def _days_with(lake: LakeResource, asset: str, name: str) -> list[date]:
    root = lake.partition_dir(asset, date(2000, 1, 1)).rsplit("/", 1)[0]
    out = []
    for path in lake.fs().glob(f"{root}/date=*/{name}"):
        m = _DATE_DIR.search(path)
        if m:
            out.append(date.fromisoformat(m.group(1)))
    return sorted(out)


def _meta(lake: LakeResource, day: date) -> dict | None:
    uri = f"{lake.partition_dir(HISTORY, day)}/{META}"
    if not lake.fs().exists(uri):
        return None
    with lake.fs().open(uri, "r") as fh:
        return json.load(fh)


def _counts(lake: LakeResource, day: date, sources: list[str]) -> pl.LazyFrame:
    cat = source_catalog()
    rows = []
    for name in sources:
        if not lake.exists("deduped_listings", day, name):
            continue
        n = {a: lake.parquet_rows(a, day, name) if lake.exists(a, day, name) else 0
             for a in ("raw_listings", "rejected_listings", "duplicate_listings")}
        rows.append({"source": name, "kind": cat[name].kind if name in cat else None, "raw_rows": n["raw_listings"],
                     "rejected_rows": n["rejected_listings"], "duplicate_rows": n["duplicate_listings"]})
    schema = {"source": pl.String, "kind": pl.String, "raw_rows": pl.Int64, "rejected_rows": pl.Int64,
              "duplicate_rows": pl.Int64}
    return pl.LazyFrame(rows, schema=schema)


@dataclass
class DayResult:
    day: date
    fingerprint: str
    events: dict
    observed: list[str]
    files: dict = field(default_factory=dict)   # output name -> local file (only for the partition's own day)


def compute_day(lake: LakeResource, duckdb: DuckDBResource, day: date, stack: ExitStack,
                keep: bool = False) -> DayResult:
    """Build and publish day `day` from the published state of day-1 (if any): state, sources,
    snapshots, scores and listing scores. With `keep`, local copies of the outputs are returned
    for metadata."""
    prev = day - timedelta(days=1)
    prev_meta = _meta(lake, prev)
    prev_state = prev_sources = None
    if prev_meta is not None:
        prev_state = stack.enter_context(lake.local_file(lake.partition_file(HISTORY, prev)))
        prev_sources = stack.enter_context(lake.local_file(lake.partition_file(SOURCES, prev)))
    enriched = (stack.enter_context(lake.local_file(lake.partition_file("enriched_listings", day)))
                if lake.exists("enriched_listings", day) else None)
    entities = (stack.enter_context(lake.local_file(lake.partition_file("listing_entities", day)))
                if lake.exists("listing_entities", day) else None)
    if enriched is not None:
        today = today_relation(enriched, entities)
    else:  # nothing delivered that day: every source is a scrape gap
        today = ("SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS listing_id, NULL::VARCHAR AS kind, "
                 "NULL::DOUBLE AS price, NULL::VARCHAR AS market_segment, NULL::VARCHAR AS entity_id LIMIT 0")
    merges = None
    if lake.exists("entity_merges", day):
        mf = stack.enter_context(lake.local_file(lake.partition_file("entity_merges", day)))
        if {"merged", "into_entity"} <= set(pl.scan_parquet(mf).collect_schema().names()):
            merges = f"SELECT merged, into_entity FROM read_parquet('{mf}')"
    work = lake.scratch_file("")
    work.mkdir(parents=True)
    stack.callback(shutil.rmtree, work, True)
    cat = source_catalog()
    con = duckdb.connect()
    try:
        res = update_history(con, day, today, prev_state, prev_sources, work,
                             {n: s.disappear_after_days for n, s in cat.items()}, merges=merges)
        files = {"listing_history": res.state}
        # Snapshot and scores: aggregates of the state, the day's counts and quality.
        stats = pl.scan_parquet(res.stats)
        quality = (listing_quality(pl.scan_parquet(enriched), day, completeness()) if enriched is not None else
                   pl.LazyFrame(schema={"source": pl.String, "avg_quality_score": pl.Float64,
                                        "fresh_share": pl.Float64, "field_completeness": pl.Float64}))
        snap_file, score_file, ls_file = work / "snapshots.parquet", work / "scores.parquet", work / "ls.parquet"
        snapshots(stats, pl.scan_parquet(res.sources), day, _counts(lake, day, res.observed_sources),
                  quality).sink_parquet(str(snap_file))
        scores(pl.scan_parquet(snap_file)).sink_parquet(str(score_file))
        files.update(listing_snapshots=snap_file, source_scores=score_file)
        if enriched is not None:
            write_listing_scores(con, day, enriched, res.state, ls_file)
            files["listing_scores"] = ls_file
    finally:
        con.close()
    meta_file = write_meta(work / META, day=day.isoformat(), fingerprint=res.fingerprint,
                           parent=prev_meta["fingerprint"] if prev_meta else None,
                           parent_day=prev.isoformat() if prev_meta else None,
                           observed_sources=res.observed_sources, events=res.events, rows=res.rows)
    # The old meta goes first: until the new one is published the day counts as missing, so a
    # failure halfway leaves a hole that the next run fills (catch-up), never a stale fingerprint.
    old_meta = f"{lake.partition_dir(HISTORY, day)}/{META}"
    if lake.fs().exists(old_meta):
        lake.fs().rm(old_meta)
    kept = {}
    for name, f in files.items():
        if keep:
            copy = lake.scratch_file()
            shutil.copy(f, copy)
            stack.callback(copy.unlink, True)
            kept[name] = copy
        lake.publish(f, name, day)
    lake.publish(res.sources, SOURCES, day)
    if "listing_scores" not in files and lake.exists("listing_scores", day):
        lake.fs().rm(lake.partition_file("listing_scores", day))
    lake.publish(meta_file, HISTORY, day, name=META)   # last: the day is complete once its meta is there
    return DayResult(day, res.fingerprint, res.events, res.observed_sources, kept)


def affected_days(lake: LakeResource, day: date) -> list[date]:
    """The days the last run of `day` wrote (catch-up, the day, recomputed later days)."""
    uri = f"{lake.partition_dir(HISTORY, day)}/{AFFECTED}"
    if not lake.fs().exists(uri):
        return [day]
    with lake.fs().open(uri, "r") as fh:
        return [date.fromisoformat(d) for d in json.load(fh)["days"]]


def state_meta(lake: LakeResource, day: date) -> dict:
    meta = _meta(lake, day)
    if meta is None:
        raise FileNotFoundError(f"no {HISTORY} state for {day}: materialize {HISTORY} for it first")
    return meta


def latest_state_day(lake: LakeResource) -> date | None:
    days = _days_with(lake, HISTORY, META)
    return days[-1] if days else None


def catch_up_start(lake: LakeResource, day: date) -> date:
    """The first day to compute so that `day` is built on a complete chain: `day` itself when D-1
    has a state or nothing earlier exists; else the day after the latest earlier state, or the first
    day with data."""
    prev = day - timedelta(days=1)
    if _meta(lake, prev) is not None:
        return day
    states = [d for d in _days_with(lake, HISTORY, META) if d < prev]
    if states:
        return states[-1] + timedelta(days=1)
    data = [d for d in _days_with(lake, "enriched_listings", "part-0.parquet") if d < day]
    return data[0] if data else day


@multi_asset(
    partitions_def=daily_partitions,
    group_name="history",
    outs={
        "listing_history": AssetOut(
            kinds={"duckdb", "parquet"},
            description=(
                "Incremental state, one row per (source, listing_id) ever seen: `first_seen`, `last_seen`, "
                "`times_seen`, `lifespan_days`, `days_on_market`, `status` (active / disappeared / reposted), "
                "`repost_count`, `moved_from`, price first/last/min/max/changes, the `entity_id` of entity "
                "resolution and the day's `event` (new, continuing, reposted, moved, missing, disappeared, gap, "
                "gone). Day D = day D-1's state + day D's listings. A source with no data on D is a scrape "
                "gap: its listings are carried unchanged. Disappeared after `history.disappear_after_days` "
                "missing observed days (per source). Rules: README, History.")),
        "listing_snapshots": AssetOut(
            kinds={"polars", "parquet"},
            description=(
                "Per source per day, from the history state: `posting_count` (records collected), "
                "`active_postings`, `new_postings`, `continuing_postings`, `repost_count` (same id back after "
                "disappearing + the same entity under a new id/URL/source), `disappeared_postings`, median and "
                "mean lifespan of the postings that disappeared that day, rejection and duplicate rates, field "
                "completeness. Sources without data that day get no row (listed in `missing_sources`).")),
        "source_scores": AssetOut(
            kinds={"polars", "parquet"},
            description=(
                "A 0-100 score per source per day with the job-board reference's 40/30/20/10 structure: "
                "lifespan 40% (shorter median days on market is better), reposts 30% (fewer is better), data "
                "quality 20% (replaces surveys) and freshness 10% (replaces candidates). Every input, component "
                "and weight is stored beside the total."),
            metadata={"weights": MetadataValue.json(SCORE_WEIGHTS)}),
        "listing_scores": AssetOut(
            kinds={"duckdb", "parquet"},
            description=(
                f"Per listing of the day: quality score, investment grade, and market position over the last "
                f"{MARKET_WINDOW_DAYS} days (price percentile and median within make+model+year, jobs: title, "
                "across all sources, each listing once), with its history (days on market, reposts, price "
                "changes).")),
    },
    deps=["enriched_listings", "listing_entities",
          AssetDep("rejected_listings", partition_mapping=by_date),
          AssetDep("duplicate_listings", partition_mapping=by_date),
          AssetDep("listing_history", partition_mapping=previous_day)],
    check_specs=[
        AssetCheckSpec("history_chain", asset="listing_history",
                       description="The day is built on the current state of the day before, and the day after "
                                   "(if any) on this one."),
        AssetCheckSpec("snapshot_accounting", asset="listing_snapshots",
                       description="active = new + continuing + reposts for every source."),
        AssetCheckSpec("scores_recompute", asset="source_scores",
                       description="Every score equals the weighted sum of its stored components."),
    ],
)
def history(context: AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource):
    day = context.partition_time_window.start.date()
    with ExitStack() as stack:
        start = catch_up_start(lake, day)
        caught_up = []
        d = start
        while d < day:
            context.log.warning(f"{HISTORY}: no state for {d - timedelta(days=1)}; computing {d} first")
            compute_day(lake, duckdb, d, stack)
            caught_up.append(d)
            d += timedelta(days=1)
        if start == day and _meta(lake, day - timedelta(days=1)) is None:
            context.log.info(f"{HISTORY}: {day} is the first day with data; history starts here")
        res = compute_day(lake, duckdb, day, stack, keep=True)
        # Later days built on another version of this day are recomputed in order.
        recomputed, fp, k = [], res.fingerprint, day + timedelta(days=1)
        while (m := _meta(lake, k)) is not None and m.get("parent") != fp:
            context.log.warning(f"{HISTORY}: {k} was built on another state of {k - timedelta(days=1)}; recomputing")
            fp = compute_day(lake, duckdb, k, stack).fingerprint
            recomputed.append(k)
            k += timedelta(days=1)
        affected = write_meta(lake.scratch_file(".json"), days=[x.isoformat() for x in caught_up + [day] + recomputed])
        lake.publish(affected, HISTORY, day, name=AFFECTED)
        for d in caught_up + recomputed:
            for key in ("listing_history", "listing_snapshots", "source_scores", "listing_scores"):
                context.log_event(AssetMaterialization(
                    asset_key=key, partition=d.isoformat(),
                    description=f"recomputed by the run of {day}", metadata={"triggered_by": day.isoformat()}))
        yield from _results(context, lake, day, res, caught_up, recomputed)


def _results(context, lake: LakeResource, day: date, res: DayResult, caught_up: list[date], recomputed: list[date]):
    f = res.files
    catalog = sorted(source_catalog())
    missing = [s for s in catalog if s not in res.observed]
    later = _meta(lake, day + timedelta(days=1))
    prev = _meta(lake, day - timedelta(days=1))
    own = _meta(lake, day)
    chain_ok = (own["parent"] == (prev["fingerprint"] if prev else None)) and (later is None or
                                                                              later["parent"] == res.fingerprint)
    state = pl.scan_parquet(f["listing_history"])
    by_status = state.group_by("status").len().sort("status").collect()
    events = pl.DataFrame({"event": list(res.events), "listings": list(res.events.values())})
    yield MaterializeResult(asset_key="listing_history", metadata={
        **lake_metadata(f["listing_history"], lake.partition_file(HISTORY, day),
                        ["source", "listing_id", "event", "status", "first_seen", "last_seen", "times_seen",
                         "repost_count", "price_first", "price_last"]),
        "events": markdown_table(events), "by_status": markdown_table(by_status),
        "observed_sources": MetadataValue.json(res.observed), "scrape_gap_sources": MetadataValue.json(missing),
        "fingerprint": res.fingerprint,
        "caught_up_days": MetadataValue.json([d.isoformat() for d in caught_up]),
        "recomputed_days": MetadataValue.json([d.isoformat() for d in recomputed]),
    })
    snaps = pl.read_parquet(f["listing_snapshots"])
    yield MaterializeResult(asset_key="listing_snapshots", metadata={
        **lake_metadata(f["listing_snapshots"], lake.partition_file("listing_snapshots", day),
                        ["source", "posting_count", "active_postings", "new_postings", "repost_count",
                         "disappeared_postings", "median_lifespan_disappeared", "field_completeness"]),
        "missing_sources": MetadataValue.json(missing)})
    sc = pl.read_parquet(f["source_scores"])
    yield MaterializeResult(asset_key="source_scores", metadata=lake_metadata(
        f["source_scores"], lake.partition_file("source_scores", day),
        ["source", "score", "lifespan_component", "repost_component", "data_quality_component",
         "freshness_component"]))
    if "listing_scores" in f:
        ls = pl.scan_parquet(f["listing_scores"])
        positions = ls.group_by("market_position").len().sort("market_position").collect()
        yield MaterializeResult(asset_key="listing_scores", metadata={
            **lake_metadata(f["listing_scores"], lake.partition_file("listing_scores", day),
                            ["source", "listing_id", "price", "market_percentile", "market_position",
                             "quality_score", "investment_grade", "days_on_market"]),
            "market_positions": markdown_table(positions)})
    else:
        yield MaterializeResult(asset_key="listing_scores", metadata={"dagster/row_count": 0})
    yield AssetCheckResult(
        asset_key="listing_history", check_name="history_chain", passed=bool(chain_ok),
        description=None if chain_ok else (
            f"{day + timedelta(days=1)} was built on a different state of {day}: re-run {HISTORY} from "
            f"{day + timedelta(days=1)}"),
        metadata={"fingerprint": res.fingerprint, "parent": str(own["parent"])})
    unbalanced = snaps.filter(pl.col("active_postings") != pl.col("new_postings") + pl.col("continuing_postings")
                              + pl.col("repost_count")).height
    yield AssetCheckResult(asset_key="listing_snapshots", check_name="snapshot_accounting", passed=unbalanced == 0,
                           metadata={"unbalanced_sources": unbalanced})
    w = SCORE_WEIGHTS
    rebuilt = sc.with_columns((w["lifespan"] * pl.col("lifespan_component") + w["reposts"] * pl.col("repost_component")
                               + w["data_quality"] * pl.col("data_quality_component")
                               + w["freshness"] * pl.col("freshness_component")).round(2).alias("_rebuilt"))
    off = rebuilt.filter((pl.col("_rebuilt") - pl.col("score")).abs() > 0.011).height
    yield AssetCheckResult(asset_key="source_scores", check_name="scores_recompute", passed=off == 0,
                           metadata={"scores_off": off})
