"""Synthetic sample data: the bundled demo days and the benchmarks' scale days.

A boundary, not a part of the pipeline: no asset, transform or resource
imports this package. Only the CLI does (`listings samples`, and `listings
run` on a fresh clone to create `data/samples/`), and the benchmarks and
tests. The generator knows our rules; the pipeline must not rely on it, so
tests of behaviour on real-looking exports use hand-written fixtures
(tests/fixtures/) instead.
"""

from .generator import generate, main

__all__ = ["generate", "main"]
