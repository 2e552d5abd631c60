"""Pure transforms: Polars LazyFrames and DuckDB relations in, the same out.

Nothing in this package imports dagster, so every rule can be unit-tested
without an instance, and benchmarks measure the transforms themselves.
"""
