"""validated_listings + rejected_listings: one pass, split in two."""


import polars as pl
from dagster import (AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetExecutionContext, AssetOut,
                     Failure, MaterializeResult, multi_asset)

from resources import LakeResource, PipelineSettings, PostgresResource

from ..metadata import lake_metadata, markdown_table, parquet_rows
from ..partitions import source_catalog, source_day, source_day_partitions
from ..transforms.batches import map_batches_to_parquet
from ..transforms.kinds import get_kind
from ..transforms.validate import MappingError, check_mapping, rejected_view, valid_view, validate
from .collection import record_error

PREVIEW = ["source_listing_id", "title", "make", "model", "year", "price", "company", "source_url"]


@multi_asset(
    partitions_def=source_day_partitions,
    group_name="validation",
    outs={
        "validated_listings": AssetOut(
            kinds={"polars", "parquet"},
            description=(
                "Records mapped to the canonical listing schema (fields from `data/sources.yaml`), "
                "typed (\"$5,000\" -> 5000.0, \"150,000km\" -> 93206 miles, US dates -> ISO) and passing "
                "every rule of their kind (see `pipeline_assets/transforms/kinds/`)."),
        ),
        "rejected_listings": AssetOut(
            kinds={"polars", "parquet"},
            description=(
                "Records that broke at least one rule, with every reason (`reasons`), the source's "
                "original values (`raw_values`) and the file/row they came from. Nothing is dropped: "
                "raw rows = validated + rejected."),
        ),
    },
    deps=["raw_listings"],
    check_specs=[AssetCheckSpec("rejection_rate_below_threshold", asset="rejected_listings",
                                description="Share of a source-day's rows rejected stays under "
                                            "PipelineSettings.max_rejection_rate.")],
)
def validate_listings(context: AssetExecutionContext, lake: LakeResource, settings: PipelineSettings,
                      postgres: PostgresResource):
    day, source_name = source_day(context.partition_key)
    source = source_catalog()[source_name]
    kind = get_kind(source.kind)
    raw_uri = lake.partition_file("raw_listings", day, source_name)
    with lake.local_file(raw_uri) as raw_local:
        raw = pl.scan_parquet(str(raw_local))
        try:
            check_mapping(source_name, source.fields, raw.collect_schema().names(), source.location_for(day))
        except MappingError as e:
            record_error(postgres, day, source_name, "validate", raw_uri, str(e), context.run_id)
            raise Failure(description=str(e)) from None
        checked_file = lake.scratch_file()
        # Check once into a typed file, then split it twice: valid + rejected
        # always add up to raw, and the raw file is parsed a single time.
        # Bounded batches keep memory flat however large the day is.
        map_batches_to_parquet(
            [raw_local], lambda lf: validate(lf, source=source_name, kind=kind, fields=source.fields, day=day),
            checked_file)
        raw_rows = parquet_rows(raw_local)

    valid_file, rejected_file = lake.scratch_file(), lake.scratch_file()
    map_batches_to_parquet([checked_file], valid_view, valid_file)
    map_batches_to_parquet([checked_file], rejected_view, rejected_file)
    checked_file.unlink()

    valid_n, rejected_n = parquet_rows(valid_file), parquet_rows(rejected_file)
    reasons = (pl.scan_parquet(str(rejected_file)).select(pl.col("reasons").list.explode())
               .with_columns(pl.col("reasons").str.extract(r"^([a-z_]+):", 1).alias("field"))
               .group_by("field").len().sort("len", descending=True).collect())
    v_meta = lake_metadata(valid_file, lake.partition_file("validated_listings", day, source_name), PREVIEW)
    r_meta = lake_metadata(rejected_file, lake.partition_file("rejected_listings", day, source_name),
                           ["_row", "_line", "reasons_text", "raw_values"])
    lake.publish(valid_file, "validated_listings", day, source_name)
    lake.publish(rejected_file, "rejected_listings", day, source_name)

    rate = rejected_n / raw_rows if raw_rows else 0.0
    yield MaterializeResult(asset_key="validated_listings", metadata={
        **v_meta, "raw_rows": raw_rows, "valid_rows": valid_n})
    yield MaterializeResult(asset_key="rejected_listings", metadata={
        **r_meta, "rejection_rate": round(rate, 4),
        "rejections_by_field": markdown_table(reasons.rename({"len": "rejections"}))})
    yield AssetCheckResult(
        asset_key="rejected_listings", check_name="rejection_rate_below_threshold",
        passed=rate <= settings.max_rejection_rate, severity=AssetCheckSeverity.WARN,
        metadata={"rejection_rate": round(rate, 4), "threshold": settings.max_rejection_rate,
                  "rejected_rows": rejected_n, "raw_rows": raw_rows})
