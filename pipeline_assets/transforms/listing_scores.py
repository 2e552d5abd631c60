"""Listing-level scores: quality, investment grade, market position over a trailing window.

No Dagster imports. Market position here is the price's percentile within its
segment (vehicles: make + model + year; jobs: title) over the listings seen in
the last MARKET_WINDOW_DAYS days on any source, each listing counted once at
its latest price, not just over the same day:

  market_percentile = 100 * (listings priced below + 0.5 * listings at the same price) / sample size
                      (the mid-rank percentile; the listing itself is in the sample)
  market_position   = below / at / above: price under, within or over +-10% of the window median,
                      only for segments with at least 3 listings in the window

The window comes from the day's history state (one row per listing ever seen,
with its segment, latest price and last sighting), not from 30 daily files:
one scan of the state, O(state) like the history update itself. DuckDB
reduces it to (segment, value, count) and ranks with window functions, so a
large segment never pairs every listing with every other (no O(n^2)
self-join), and memory stays under DuckDB's limit.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from ..sqltext import literal
from .enrich import AT_MARKET_BAND, MIN_MARKET_SAMPLE

MARKET_WINDOW_DAYS = 30
LISTING_SCORE_COLUMNS = [
    "observed_date", "source", "listing_id", "kind", "entity_id", "market_segment", "price",
    "quality_score", "investment_grade", "market_window_days", "market_sample_size", "market_median",
    "market_percentile", "price_vs_market", "market_position", "status", "first_seen", "days_on_market",
    "times_seen", "repost_count", "price_changes",
]

_VALUE = "(CASE kind WHEN 'jobs' THEN salary_max ELSE price END)::DOUBLE"



def listing_scores_sql(day: date, today_file: str | Path, state_file: str | Path) -> str:
    """A query with one row per listing of `day` (`today_file`: the day's enriched listings), the
    window and the listing's history from `state_file` (the day's listing_history state)."""
    d = f"DATE '{day.isoformat()}'"
    return f"""
        WITH st AS (SELECT * FROM read_parquet({literal(state_file)})),
        w AS (
            SELECT market_segment, listing_id, arg_max(price_last, last_seen) AS v
            FROM st
            WHERE last_seen > {d} - INTERVAL {MARKET_WINDOW_DAYS} DAY AND last_seen <= {d}
              AND market_segment IS NOT NULL AND price_last IS NOT NULL
            GROUP BY 1, 2),
        seg AS (SELECT market_segment, count(*)::BIGINT AS n, median(v) AS med FROM w GROUP BY 1),
        vals AS (SELECT market_segment, v, count(*) AS c FROM w GROUP BY 1, 2),
        ranked AS (
            SELECT market_segment, v, c,
                   coalesce(sum(c) OVER (PARTITION BY market_segment ORDER BY v
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS below
            FROM vals),
        t AS (SELECT observed_date, source, listing_id, kind, market_segment, {_VALUE} AS price,
                     quality_score, investment_grade FROM read_parquet({literal(today_file)}))
        SELECT t.observed_date, t.source, t.listing_id, t.kind, h.entity_id, t.market_segment, t.price,
               t.quality_score, t.investment_grade, {MARKET_WINDOW_DAYS}::INTEGER AS market_window_days,
               seg.n AS market_sample_size, seg.med::DOUBLE AS market_median,
               CASE WHEN seg.n >= {MIN_MARKET_SAMPLE} AND t.price IS NOT NULL
                    THEN round(100.0 * (coalesce(r.below, 0) + CASE WHEN r.v < t.price THEN r.c ELSE 0 END
                                        + 0.5 * CASE WHEN r.v = t.price THEN r.c ELSE 0 END) / seg.n, 2)
               END AS market_percentile,
               CASE WHEN seg.n >= {MIN_MARKET_SAMPLE} AND t.price IS NOT NULL
                    THEN round(t.price / seg.med - 1, 4) END AS price_vs_market,
               CASE WHEN seg.n < {MIN_MARKET_SAMPLE} OR t.price IS NULL OR seg.n IS NULL THEN NULL
                    WHEN t.price / seg.med - 1 < -{AT_MARKET_BAND} THEN 'below'
                    WHEN t.price / seg.med - 1 > {AT_MARKET_BAND} THEN 'above' ELSE 'at' END AS market_position,
               h.status, h.first_seen, h.days_on_market, h.times_seen, h.repost_count, h.price_changes
        FROM t
        LEFT JOIN seg USING (market_segment)
        ASOF LEFT JOIN ranked r ON r.market_segment = t.market_segment AND r.v <= t.price
        LEFT JOIN st h ON h.source = t.source AND h.listing_id = t.listing_id
        ORDER BY t.source, t.listing_id"""


def write_listing_scores(con: duckdb.DuckDBPyConnection, day: date, today_file: str | Path,
                         state_file: str | Path, out: str | Path) -> int:
    con.execute(f"COPY ({listing_scores_sql(day, today_file, state_file)}) TO {literal(out)} "
                "(FORMAT parquet, COMPRESSION zstd)")
    return con.execute(f"SELECT count(*) FROM read_parquet({literal(out)})").fetchone()[0]
