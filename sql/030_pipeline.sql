-- Rows that failed validation, each with every reason (rejected_listings).
CREATE TABLE IF NOT EXISTS pipeline.rejected_listings (
    observed_date     date    NOT NULL,
    source            text    NOT NULL,
    kind              text    NOT NULL,
    _file             text    NOT NULL,
    _row              bigint  NOT NULL,
    _line             bigint,
    _fetched_at       timestamptz NOT NULL,
    _payload_hash     text    NOT NULL,
    reasons           text[]  NOT NULL,
    reasons_text      text    NOT NULL,
    reason_count      integer NOT NULL,
    raw_values        jsonb,
    source_listing_id text,
    source_url        text,
    title             text,
    PRIMARY KEY (observed_date, source, _row)
);

-- Every collected file, with its checksum, so a user can see what was read.
CREATE TABLE IF NOT EXISTS pipeline.files (
    observed_date date        NOT NULL,
    source        text        NOT NULL,
    uri           text        NOT NULL,
    sha256        text        NOT NULL,
    bytes         bigint      NOT NULL,
    records       bigint      NOT NULL,
    fetched_at    timestamptz NOT NULL,
    PRIMARY KEY (observed_date, source, uri)
);

-- Errors of failed source partitions (file, line, message).
CREATE TABLE IF NOT EXISTS pipeline.errors (
    id            bigserial   PRIMARY KEY,
    observed_date date        NOT NULL,
    source        text        NOT NULL,
    stage         text        NOT NULL,
    uri           text,
    message       text        NOT NULL,
    run_id        text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Audit of every partition load (not part of the loaded data itself).
CREATE TABLE IF NOT EXISTS pipeline.loads (
    id              bigserial   PRIMARY KEY,
    target_table    text        NOT NULL,
    partition_key   text        NOT NULL,
    rows_loaded     bigint      NOT NULL,
    rows_replaced   bigint      NOT NULL,
    seconds         double precision NOT NULL,
    loaded_at       timestamptz NOT NULL DEFAULT now()
);
