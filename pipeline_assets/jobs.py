"""Two jobs because a run has one partition key: ingest runs per source-day,
the roll-up runs per day once the day's sources are in."""

from dagster import AssetKey, AssetSelection, define_asset_job

from .partitions import daily_partitions, source_day_partitions

INGEST_ASSETS = ["raw_listings", "validated_listings", "rejected_listings", "deduped_listings",
                 "duplicate_listings", AssetKey(["postgres", "rejected_listings"])]
ROLLUP_ASSETS = ["enriched_listings", "listing_history", "listing_snapshots", "source_scores", "listing_scores",
                 "listing_entities", "canonical_listings",
                 AssetKey(["postgres", "listing_entities"]), AssetKey(["postgres", "canonical_listings"]),
                 AssetKey(["postgres", "listings"]),
                 AssetKey(["postgres", "listing_snapshots"]), AssetKey(["postgres", "source_scores"]),
                 AssetKey(["postgres", "listing_history"]), AssetKey(["postgres", "listing_scores"])]

ingest_job = define_asset_job(
    "ingest_job", selection=AssetSelection.assets(*INGEST_ASSETS), partitions_def=source_day_partitions,
    description="Collect, validate and de-duplicate one source-day; load its rejects into Postgres.")

daily_job = define_asset_job(
    "daily_job", selection=AssetSelection.assets(*ROLLUP_ASSETS), partitions_def=daily_partitions,
    description="Enrich the day's listings across sources, compute snapshots and scores, load Postgres.")
