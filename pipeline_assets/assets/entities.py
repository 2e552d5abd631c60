"""listing_entities + canonical_listings: one day's entity resolution.

Why a self-dependent daily asset: day D's identities are day D-1's state
plus day D's records (O(day), not O(history)), and the dependency on the
previous partition makes Dagster run a backfill in date order. The state
lives in the lake next to the outputs (`entity_state/date=D/source=<kind>/`),
so re-running D reads the same D-1 state and gives the same ids.
"""


import shutil
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import polars as pl
from dagster import (AssetCheckResult, AssetCheckSpec, AssetDep, AssetExecutionContext, AssetOut, MaterializeResult,
                     MetadataValue, TimeWindowPartitionMapping, multi_asset)

from resources import DuckDBResource, LakeResource

from ..metadata import LAKE_ALSO_WRITES, lake_metadata, markdown_table
from ..partitions import daily_partitions, source_catalog
from ..transforms.entities import ENTITIES, MEMBERS, resolve_day
from ..transforms.kinds import get_kind
from .enrichment import by_date

previous_day = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True)
STATE = "entity_state"


def _kinds() -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {}
    for name, src in sorted(source_catalog().items()):
        kinds.setdefault(src.kind, []).append(name)
    return kinds


def _fetch_state(lake: LakeResource, day, kind: str, stack: ExitStack) -> Path | None:
    """The previous day's state as a local directory, or None on the first day."""
    prev = day - timedelta(days=1)
    if not lake.fs().exists(lake.partition_dir(STATE, prev, kind) + "/" + ENTITIES):
        return None
    d = lake.scratch_file("")
    d.mkdir()
    stack.callback(shutil.rmtree, d, True)
    for name in (MEMBERS, ENTITIES):
        uri = lake.partition_dir(STATE, prev, kind) + "/" + name
        with lake.local_file(uri) as local:
            shutil.copy(local, d / name)
    return d


@multi_asset(
    partitions_def=daily_partitions,
    group_name="entities",
    outs={
        "listing_entities": AssetOut(
            kinds={"duckdb", "polars", "parquet"},
            # Written beside it: earlier entities merged into another that day (`listings query` view).
            metadata={LAKE_ALSO_WRITES: ["entity_merges"]},
            description=(
                "Every deduped listing of the day mapped to a real-world entity (`entity_id`), across "
                "sources and days: the same car on a dealer site and two marketplaces, a job on three "
                "boards, a repost under a new id. Each row carries `match_score` (Fellegi-Sunter "
                "probability of its best link), `match_reason` (which fields agreed, e.g. `vin=, "
                "price~1`), `matched_to` and `link` (known / joined / merged / split / new_entity). "
                "Blocking keys, comparisons and thresholds are declared per kind in "
                "`pipeline_assets/transforms/kinds/`; ids are stable across days and re-runs.")),
        "canonical_listings": AssetOut(
            kinds={"duckdb", "parquet"},
            description=(
                "One canonical record per entity seen that day, chosen by survivorship (most complete, "
                "then most recent), with first/last seen, days seen, the sources it appeared on and its "
                "price history (first, last, min, max, number of changes).")),
    },
    deps=[AssetDep("deduped_listings", partition_mapping=by_date),
          AssetDep("listing_entities", partition_mapping=previous_day)],
    check_specs=[
        AssetCheckSpec("every_listing_resolved", asset="listing_entities",
                       description="Each deduped listing of the day has exactly one entity."),
        AssetCheckSpec("no_same_source_day_merge", asset="listing_entities",
                       description="No entity holds two different listings of one source on one day "
                                   "(a cannot-link rule)."),
    ],
)
def resolve_entities(context: AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource):
    day = context.partition_time_window.start.date()
    members_parts, entity_parts, pair_parts, merge_parts, stats, weights = [], [], [], [], {}, {}
    n_input = 0
    with ExitStack() as stack:
        for kind_name, sources in _kinds().items():
            files = [lake.partition_file("deduped_listings", day, s) for s in sources
                     if lake.exists("deduped_listings", day, s)]
            if not files:
                continue
            local = [str(stack.enter_context(lake.local_file(f))) for f in files]
            n_input += sum(pl.scan_parquet(f).select(pl.len()).collect().item() for f in local)
            prev = _fetch_state(lake, day, kind_name, stack)
            if prev is None:
                context.log.warning(f"{kind_name}: no entity state for {day - timedelta(days=1)}; "
                                    "identities start fresh on this day")
            work = lake.scratch_file("")
            stack.callback(shutil.rmtree, work, True)
            con = duckdb.connect()
            try:
                res = resolve_day(con, local, get_kind(kind_name), day, prev, work)
            finally:
                con.close()
            for name in (MEMBERS, ENTITIES):
                staged = lake.scratch_file()
                shutil.copy(res.state / name, staged)
                lake.publish(staged, STATE, day, kind_name, name=name)
            members_parts.append(pl.scan_parquet(str(res.members)).with_columns(pl.lit(kind_name).alias("kind")))
            entity_parts.append(pl.scan_parquet(str(res.entities)))
            pair_parts.append(pl.scan_parquet(str(res.pairs)).select(
                pl.lit(kind_name).alias("kind"), "left", "right", "prob", "reason", "conflict"))
            merge_parts.append(pl.read_parquet(res.merges))
            stats[kind_name] = res.stats
            weights[kind_name] = res.weights.table()
        if not members_parts:
            raise FileNotFoundError(f"no deduped_listings partitions for {day}: run the ingest for that day first")
        members_file, entities_file = lake.scratch_file(), lake.scratch_file()
        pl.concat(members_parts, how="diagonal").sink_parquet(str(members_file))
        pl.concat(entity_parts, how="diagonal_relaxed").sink_parquet(str(entities_file))
        # Only the borderline pairs are collected (all pairs can be millions).
        borderline = (pl.concat(pair_parts).filter(pl.col("prob").is_between(0.5, 0.99))
                      .with_columns((pl.col("prob") - 0.9).abs().alias("_d"))
                      .sort(["_d", "left", "right"]).head(20).drop("_d").collect())

    m = pl.read_parquet(members_file, columns=["source", "observed_date", "listing_id", "entity_id", "link",
                                                "match_score"])
    m_meta = lake_metadata(members_file, lake.partition_file("listing_entities", day),
                           ["source", "listing_id", "entity_id", "match_score", "match_reason", "matched_to", "link"])
    e_meta = lake_metadata(entities_file, lake.partition_file("canonical_listings", day),
                           ["entity_id", "title", "sources_today", "first_seen", "days_seen", "price_first",
                            "price_last", "price_changes"])
    summary = pl.DataFrame([{
        "kind": k, "records": s["records"], "entities": s["entities"], "matched_pairs": s["matched_pairs"],
        "largest_cluster": s["largest_cluster"], "candidate_pairs": s["candidate_pairs"],
        "carried_entities": s["carried_entities"], "merged_entities": s["merged_entities"],
        "compare_slices": s["compare_slices"], "seconds": s["seconds"]["total"]} for k, s in stats.items()])
    hist = pl.concat([s["score_histogram"].with_columns(pl.lit(k).alias("kind")) for k, s in stats.items()])
    hist = hist.with_columns((pl.col("bucket").cast(pl.Float64) / 10).alias("prob_from")).select(
        "kind", "prob_from", pl.col("len").alias("pairs"))
    merged = pl.concat(merge_parts, how="diagonal_relaxed")
    merges_file = lake.scratch_file()
    merged.with_columns(pl.lit(day).alias("merge_date")).write_parquet(merges_file)
    lake.publish(merges_file, "entity_merges", day)
    lake.publish(members_file, "listing_entities", day)
    lake.publish(entities_file, "canonical_listings", day)
    links = m.group_by("link").len().sort("link")
    yield MaterializeResult(asset_key="listing_entities", metadata={
        **m_meta,
        "entities": int(m["entity_id"].n_unique()),
        "merged_pairs": int(sum(s["matched_pairs"] for s in stats.values())),
        "largest_cluster": int(max(s["largest_cluster"] for s in stats.values())),
        "entities_merged_into_older": merged.height,
        "by_kind": markdown_table(summary),
        "links": markdown_table(links),
        "score_distribution": markdown_table(hist),
        "borderline_pairs": markdown_table(borderline),
        "match_weights": MetadataValue.md("\n\n".join(f"**{k}**\n\n{markdown_table(w)}" for k, w in weights.items())),
        "blocking": MetadataValue.json({k: s["blocking"] for k, s in stats.items()}),
        "stage_seconds": MetadataValue.json({k: s["seconds"] for k, s in stats.items()}),
        "stage_rss_mb": MetadataValue.json({k: s["rss_mb"] for k, s in stats.items()}),
    })
    yield MaterializeResult(asset_key="canonical_listings", metadata=e_meta)
    yield AssetCheckResult(asset_key="listing_entities", check_name="every_listing_resolved",
                           passed=m.height == n_input and m.select(pl.struct("source", "listing_id").n_unique()).item()
                           == m.height, metadata={"deduped_rows": n_input, "resolved_rows": m.height})
    clash = m.group_by("entity_id", "source", "observed_date").len().filter(pl.col("len") > 1).height
    yield AssetCheckResult(asset_key="listing_entities", check_name="no_same_source_day_merge", passed=clash == 0,
                           metadata={"entities_breaking_the_rule": clash})

