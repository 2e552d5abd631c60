-- History outputs (pipeline_assets/assets/history.py). Idempotent: applied on every load.
-- Columns added after the first version are added with ALTER ... IF NOT EXISTS so an
-- existing database upgrades in place.

-- Per source per day (listing_snapshots): one row per (source, date) that delivered data.
CREATE TABLE IF NOT EXISTS core.listing_snapshots (
    snapshot_date         date    NOT NULL,
    source                text    NOT NULL,
    kind                  text    NOT NULL,
    posting_count         bigint  NOT NULL,          -- records collected (raw rows)
    active_postings       bigint  NOT NULL,          -- distinct listings present
    new_postings          bigint  NOT NULL,
    continuing_postings   bigint  NOT NULL,
    repost_count          bigint  NOT NULL,          -- reposts_same_id + reposts_new_id
    disappeared_postings  bigint  NOT NULL,
    compared_to           date,                      -- the source's previous day with data
    raw_rows              bigint  NOT NULL,
    rejected_rows         bigint  NOT NULL,
    duplicate_rows        bigint  NOT NULL,
    rejection_rate        double precision NOT NULL,
    duplicate_rate        double precision NOT NULL,
    PRIMARY KEY (snapshot_date, source)
);
ALTER TABLE core.listing_snapshots
    ADD COLUMN IF NOT EXISTS reposts_same_id bigint,             -- back after being disappeared
    ADD COLUMN IF NOT EXISTS reposts_new_id bigint,              -- same entity under a new id / URL / source
    ADD COLUMN IF NOT EXISTS missing_postings bigint,            -- absent, below the disappear threshold
    ADD COLUMN IF NOT EXISTS live_postings bigint,               -- not disappeared (incl. missing)
    ADD COLUMN IF NOT EXISTS median_lifespan_disappeared double precision,
    ADD COLUMN IF NOT EXISTS mean_lifespan_disappeared double precision,
    ADD COLUMN IF NOT EXISTS median_days_on_market double precision,
    ADD COLUMN IF NOT EXISTS field_completeness double precision,
    ADD COLUMN IF NOT EXISTS avg_quality_score double precision,
    ADD COLUMN IF NOT EXISTS fresh_share double precision;
CREATE UNIQUE INDEX IF NOT EXISTS listing_snapshots_source_date_key ON core.listing_snapshots (source, snapshot_date);

-- Per source per day score with every input, component and weight beside the total,
-- so a moved score can be explained and recomputed (see README, "Scores").
CREATE TABLE IF NOT EXISTS core.source_scores (
    score_date              date    NOT NULL,
    source                  text    NOT NULL,
    kind                    text    NOT NULL,
    score                   double precision,
    lifespan_component      double precision,
    repost_component        double precision,
    data_quality_component  double precision,
    freshness_component     double precision,
    lifespan_weight         double precision NOT NULL,
    repost_weight           double precision NOT NULL,
    data_quality_weight     double precision NOT NULL,
    freshness_weight        double precision NOT NULL,
    avg_quality_score       double precision,
    rejection_rate          double precision,
    repost_count            bigint,
    active_postings         bigint,
    PRIMARY KEY (score_date, source)
);
ALTER TABLE core.source_scores DROP COLUMN IF EXISTS median_age_days;
ALTER TABLE core.source_scores
    ADD COLUMN IF NOT EXISTS median_days_on_market double precision,
    ADD COLUMN IF NOT EXISTS fresh_share double precision;

-- Upgrade: the first version of core.listing_history (state_date/event columns) is a derived
-- table; drop it and let the next load rebuild it whole.
DO $$
BEGIN
    IF to_regclass('core.listing_history') IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM information_schema.columns
            WHERE table_schema = 'core' AND table_name = 'listing_history' AND column_name = 'changed_on') THEN
        DROP TABLE core.listing_history CASCADE;
    END IF;
END $$;

-- Current state per listing: the latest day's listing_history state, without its per-day columns
-- (state_date, event). A daily load replaces the rows that changed that day (changed_on = D) when the
-- table holds the previous day's state (core.listing_history_loaded), else the whole table.
CREATE TABLE IF NOT EXISTS core.listing_history (
    source           text    NOT NULL,
    listing_id       text    NOT NULL,
    kind             text,
    entity_id        text,
    status           text    NOT NULL,  -- active | disappeared | reposted
    last_event       text    NOT NULL,  -- new continuing reposted moved missing disappeared (on changed_on)
    changed_on       date    NOT NULL,  -- the last day the row changed
    first_seen       date    NOT NULL,
    last_seen        date    NOT NULL,
    times_seen       bigint  NOT NULL,
    lifespan_days    bigint  NOT NULL,  -- last_seen - first_seen + 1
    days_on_market   bigint  NOT NULL,  -- sum of on-market runs (off-market gaps excluded)
    run_start        date    NOT NULL,
    closed_run_days  bigint  NOT NULL,
    missing_days     bigint  NOT NULL,  -- consecutive observed days absent (now)
    missed_days      bigint  NOT NULL,  -- observed days absent while live (blips + the day it disappeared)
    disappeared_on   date,
    repost_count     bigint  NOT NULL,
    moved_from       text,              -- source:listing_id this entity was listed under before
    price_first      double precision,
    price_last       double precision,
    price_min        double precision,
    price_max        double precision,
    price_changes    bigint  NOT NULL,
    PRIMARY KEY (source, listing_id)
);
-- Which state core.listing_history holds (one row).
CREATE TABLE IF NOT EXISTS core.listing_history_loaded (
    only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    state_date   date    NOT NULL,
    fingerprint  text    NOT NULL,
    loaded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS listing_history_entity_idx ON core.listing_history (entity_id);
CREATE INDEX IF NOT EXISTS listing_history_status_idx ON core.listing_history (status);
CREATE INDEX IF NOT EXISTS listing_history_changed_idx ON core.listing_history (changed_on);

-- Entity-level history: every listing of one real-world vehicle or job, across sources.
CREATE OR REPLACE VIEW core.entity_history AS
SELECT entity_id,
       min(kind)                                               AS kind,
       min(first_seen)                                         AS first_seen,
       max(last_seen)                                          AS last_seen,
       max(last_seen) - min(first_seen) + 1                    AS lifespan_days,
       count(*)                                                AS listings,
       array_agg(DISTINCT source ORDER BY source)              AS sources,
       count(*) FILTER (WHERE status <> 'disappeared')         AS live_listings,
       sum(repost_count)                                       AS repost_count,
       count(*) FILTER (WHERE moved_from IS NOT NULL)          AS moves,
       CASE WHEN bool_and(status = 'disappeared') THEN 'disappeared'
            WHEN sum(repost_count) > 0 THEN 'reposted' ELSE 'active' END AS status,
       (array_agg(price_first ORDER BY first_seen, source, listing_id))[1] AS price_first,
       (array_agg(price_last ORDER BY last_seen DESC, source, listing_id))[1] AS price_last,
       min(price_min)                                          AS price_min,
       max(price_max)                                          AS price_max,
       sum(price_changes)                                      AS price_changes
FROM core.listing_history
WHERE entity_id IS NOT NULL
GROUP BY entity_id;

-- Per listing per day: quality, investment grade, market position over a trailing window.
CREATE TABLE IF NOT EXISTS core.listing_scores (
    observed_date       date    NOT NULL,
    source              text    NOT NULL,
    listing_id          text    NOT NULL,
    kind                text    NOT NULL,
    entity_id           text,
    market_segment      text,
    price               double precision,
    quality_score       double precision,
    investment_grade    text,
    market_window_days  integer NOT NULL,
    market_sample_size  bigint,
    market_median       double precision,
    market_percentile   double precision,   -- 0-100, mid-rank within the segment over the window
    price_vs_market     double precision,
    market_position     text,               -- below | at | above (+-10% of the window median)
    status              text,
    first_seen          date,
    days_on_market      bigint,
    times_seen          bigint,
    repost_count        bigint,
    price_changes       bigint,
    PRIMARY KEY (observed_date, source, listing_id)
);
