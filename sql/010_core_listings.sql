-- One row per listing per source per observed day (the enriched_listings
-- asset). Kind-specific columns are null for the other kinds.
CREATE TABLE IF NOT EXISTS core.listings (
    observed_date       date        NOT NULL,
    source              text        NOT NULL,
    listing_id          text        NOT NULL,
    content_hash        text        NOT NULL,
    kind                text        NOT NULL,
    source_listing_id   text,
    source_url          text        NOT NULL,
    title               text,
    description         text,
    image_url           text,
    city                text,
    state               text,
    region              text,
    posted_at           date,
    -- vehicles
    make                text,
    model               text,
    year                integer,
    price               numeric(14, 2),
    mileage             bigint,
    vin                 text,
    stock_number        text,
    condition           text,
    category            text,
    -- jobs
    company             text,
    salary_min          numeric(14, 2),
    salary_max          numeric(14, 2),
    employment_type     text,
    -- enrichment
    investment_grade    text,
    quality_score       double precision,
    market_segment      text,
    market_median       double precision,
    market_sample_size  bigint,
    price_vs_market     double precision,
    market_position     text,
    -- lineage back to the raw file
    _file               text        NOT NULL,
    _row                bigint      NOT NULL,
    _line               bigint,
    _fetched_at         timestamptz NOT NULL,
    _payload_hash       text        NOT NULL,
    PRIMARY KEY (observed_date, source, listing_id)
);
CREATE INDEX IF NOT EXISTS listings_listing_id_idx ON core.listings (listing_id);
CREATE INDEX IF NOT EXISTS listings_vin_idx ON core.listings (vin) WHERE vin IS NOT NULL;
