-- Per source per day counts (listing_snapshots asset).
CREATE TABLE IF NOT EXISTS core.listing_snapshots (
    snapshot_date         date    NOT NULL,
    source                text    NOT NULL,
    kind                  text    NOT NULL,
    posting_count         bigint  NOT NULL,
    active_postings       bigint  NOT NULL,
    new_postings          bigint  NOT NULL,
    continuing_postings   bigint  NOT NULL,
    repost_count          bigint  NOT NULL,
    disappeared_postings  bigint  NOT NULL,
    compared_to           date,
    raw_rows              bigint  NOT NULL,
    rejected_rows         bigint  NOT NULL,
    duplicate_rows        bigint  NOT NULL,
    rejection_rate        double precision NOT NULL,
    duplicate_rate        double precision NOT NULL,
    PRIMARY KEY (snapshot_date, source)
);

-- Per source per day score with every component and weight beside the total,
-- so a moved score can be explained and recomputed.
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
    median_age_days         double precision,
    avg_quality_score       double precision,
    rejection_rate          double precision,
    repost_count            bigint,
    active_postings         bigint,
    PRIMARY KEY (score_date, source)
);
