"""The asset graph, declared once.

Three lists, one per Dagster job: a new asset is added to one of them and
nowhere else. `definitions.py` registers `ALL_ASSETS`, the jobs in
`automation.py` select these lists, and `listings query` derives its lake
views from the definitions (`lake_views.py`), so nothing keeps a second list
of asset names.
"""

from . import collection, dedup, enrichment, entities, history, history_warehouse, uploads, validation, warehouse

# Per source-day (date x source partitions): collect, validate, de-duplicate.
INGEST_ASSETS = [collection.raw_listings, validation.validate_listings, dedup.dedup_listings,
                 warehouse.pg_rejected_listings]
# Per day, across all sources: enrich, resolve entities, history, scores, loads.
ROLLUP_ASSETS = [enrichment.enriched_listings, entities.resolve_entities, history.history,
                 warehouse.pg_listings, warehouse.pg_listing_entities, warehouse.pg_canonical_listings,
                 history_warehouse.pg_listing_snapshots, history_warehouse.pg_source_scores,
                 history_warehouse.pg_listing_scores, history_warehouse.pg_listing_history]
# Per uploaded file (dynamic partitions): CSV uploads.
UPLOAD_ASSETS = uploads.UPLOAD_ASSETS

ALL_ASSETS = [*INGEST_ASSETS, *ROLLUP_ASSETS, *UPLOAD_ASSETS]
