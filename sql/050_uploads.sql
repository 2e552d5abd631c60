-- CSV uploads (pipeline_assets/assets/uploads.py).
-- One row per accepted CSV row of an upload: the contact fields mapped from the
-- detected columns, and the whole row (original and normalized) as JSON, so a
-- column that maps to no field is still queryable. A re-run of an upload
-- replaces its rows (COPY into staging + transactional replace on upload_key).
CREATE TABLE IF NOT EXISTS core.contacts (
    upload_key       text    NOT NULL,
    _row             bigint  NOT NULL,
    source_file      text    NOT NULL,
    full_name        text,
    first_name       text,
    last_name        text,
    email            text,
    phone            text,            -- E.164
    phone_region     text,
    address          text,
    city             text,
    state            text,
    postal_code      text,
    valid            boolean NOT NULL, -- every typed cell of the row is valid
    invalid_columns  text[]  NOT NULL,
    raw              jsonb   NOT NULL, -- header -> value as uploaded
    normalized       jsonb   NOT NULL, -- column -> normalized value
    PRIMARY KEY (upload_key, _row)
);
CREATE INDEX IF NOT EXISTS contacts_email_idx ON core.contacts (email) WHERE email IS NOT NULL;
CREATE INDEX IF NOT EXISTS contacts_phone_idx ON core.contacts (phone) WHERE phone IS NOT NULL;

-- One row per upload, the job view of the reference design
-- (pending -> processing -> completed / failed); Dagster keeps the run history.
CREATE TABLE IF NOT EXISTS pipeline.uploads (
    upload_key      text        PRIMARY KEY,
    file_name       text        NOT NULL,
    uri             text,
    sha256          text        NOT NULL,
    bytes           bigint      NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    encoding        text,
    total_rows      bigint,
    valid_rows      bigint,
    invalid_rows    bigint,
    rejected_lines  bigint,
    loaded_rows     bigint,
    columns         jsonb,
    error_message   text,
    run_id          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    completed_at    timestamptz
);
