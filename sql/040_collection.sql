-- Source configurations mirrored from data/sources.yaml on every collection,
-- with the outcome of the last one (completed / partial / failed).
CREATE TABLE IF NOT EXISTS pipeline.configs (
    source          text        PRIMARY KEY,
    kind            text        NOT NULL,
    source_type     text        NOT NULL,
    enabled         boolean     NOT NULL,
    schedule        text        NOT NULL,
    config          jsonb       NOT NULL,
    last_scrape_at  timestamptz,
    last_status     text,
    last_partition  date,
    last_error      text,
    last_run_id     text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Page- and file-level detail for collection errors.
ALTER TABLE pipeline.errors ADD COLUMN IF NOT EXISTS http_status integer;
ALTER TABLE pipeline.errors ADD COLUMN IF NOT EXISTS attempts integer;
ALTER TABLE pipeline.errors ADD COLUMN IF NOT EXISTS raw_path text;
