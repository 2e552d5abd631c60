-- Entity resolution (listing_entities / canonical_listings assets).

-- Which entity each listing of a day belongs to, and why.
CREATE TABLE IF NOT EXISTS core.listing_entities (
    observed_date   date    NOT NULL,
    source          text    NOT NULL,
    listing_id      text    NOT NULL,
    kind            text    NOT NULL,
    entity_id       text    NOT NULL,
    match_score     double precision,          -- probability of the record's best in-entity link
    match_reason    text,                      -- fields that agreed: "vin=, title~1, price~2"
    matched_to      text,                      -- source:listing_id at the other end of that link
    link            text    NOT NULL,          -- known | joined | merged | split | new_entity
    entity_records  bigint  NOT NULL,          -- records of the entity that day
    PRIMARY KEY (observed_date, source, listing_id)
);
CREATE INDEX IF NOT EXISTS listing_entities_entity_idx ON core.listing_entities (entity_id);

-- One canonical record per entity (current state: the latest day it was seen).
CREATE TABLE IF NOT EXISTS core.canonical_listings (
    entity_id           text    PRIMARY KEY,
    entity_kind         text    NOT NULL,
    first_seen          date    NOT NULL,
    last_seen           date    NOT NULL,
    days_seen           bigint  NOT NULL,
    price_first         numeric(14, 2),
    price_last          numeric(14, 2),
    price_min           numeric(14, 2),
    price_max           numeric(14, 2),
    price_changes       bigint  NOT NULL,
    records_today       bigint  NOT NULL,
    sources_today       text[]  NOT NULL,
    -- the surviving record
    kind                text    NOT NULL,
    source              text    NOT NULL,
    observed_date       date    NOT NULL,
    listing_id          text    NOT NULL,
    source_listing_id   text,
    source_url          text,
    title               text,
    description         text,
    image_url           text,
    city                text,
    state               text,
    posted_at           date,
    make                text,
    model               text,
    year                integer,
    price               numeric(14, 2),
    mileage             bigint,
    vin                 text,
    stock_number        text,
    condition           text,
    category            text,
    company             text,
    salary_min          numeric(14, 2),
    salary_max          numeric(14, 2),
    employment_type     text
);
CREATE INDEX IF NOT EXISTS canonical_listings_last_seen_idx ON core.canonical_listings (last_seen);

-- Entities merged into an older one (day D's evidence joined two entities
-- that earlier days kept apart). Loading day D redirects the earlier days'
-- rows of core.listing_entities from `merged` to `into_entity` in the same
-- transaction, so one entity_id covers the entity's whole history.
CREATE TABLE IF NOT EXISTS core.entity_merges (
    merge_date   date NOT NULL,
    merged       text NOT NULL,
    into_entity  text NOT NULL,
    PRIMARY KEY (merge_date, merged)
);
