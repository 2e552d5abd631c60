-- Dagster run history copied from Dagster's run storage (which lives in its own
-- database, `<name>_dagster`) by pipeline_assets/run_log.py: the `run_log_sensor`,
-- `listings run` and `listings sync-runs` upsert finished runs here. The views follow the
-- job-board reference's pipeline_stats / pipeline_schedule / pipeline_job_stats.
CREATE TABLE IF NOT EXISTS pipeline.dagster_runs (
    run_id          text        PRIMARY KEY,
    job_name        text        NOT NULL,
    status          text        NOT NULL,      -- SUCCESS | FAILURE | CANCELED | STARTED | ...
    partition_key   text,
    started_at      timestamptz,
    ended_at        timestamptz,
    duration_s      double precision,
    tags            jsonb       NOT NULL DEFAULT '{}',
    synced_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dagster_runs_started_idx ON pipeline.dagster_runs (started_at);

-- One row per asset a run targeted: was it materialized (success) or not.
CREATE TABLE IF NOT EXISTS pipeline.dagster_run_assets (
    run_id          text        NOT NULL REFERENCES pipeline.dagster_runs ON DELETE CASCADE,
    asset_key       text        NOT NULL,
    step_key        text,
    materialized    boolean     NOT NULL,
    step_status     text,                      -- SUCCESS | FAILURE | SKIPPED | null (not started)
    duration_s      double precision,
    PRIMARY KEY (run_id, asset_key)
);

-- Overall statistics for the last 7 days (reference: getPipelineStats).
CREATE OR REPLACE VIEW pipeline.pipeline_stats AS
SELECT '7 days'::text                                                  AS period,
       count(*)                                                        AS total_runs,
       count(*) FILTER (WHERE status = 'SUCCESS')                      AS successful_runs,
       count(*) FILTER (WHERE status = 'FAILURE')                      AS failed_runs,
       round(100.0 * count(*) FILTER (WHERE status = 'SUCCESS') / nullif(count(*), 0), 1) AS success_rate,
       (SELECT count(*) FROM pipeline.dagster_run_assets a JOIN pipeline.dagster_runs r2 USING (run_id)
         WHERE r2.started_at >= now() - interval '7 days')             AS total_jobs,
       (SELECT round(100.0 * count(*) FILTER (WHERE a.materialized) / nullif(count(*), 0), 1)
          FROM pipeline.dagster_run_assets a JOIN pipeline.dagster_runs r2 USING (run_id)
         WHERE r2.started_at >= now() - interval '7 days')             AS job_success_rate,
       round(avg(duration_s)::numeric, 2)                              AS avg_duration_seconds
FROM pipeline.dagster_runs
WHERE started_at >= now() - interval '7 days';

-- Runs per day and job: count, success rate, average duration.
CREATE OR REPLACE VIEW pipeline.pipeline_schedule AS
SELECT (started_at AT TIME ZONE 'UTC')::date                          AS run_date,
       job_name,
       count(*)                                                        AS runs,
       count(*) FILTER (WHERE status = 'SUCCESS')                      AS successful_runs,
       round(100.0 * count(*) FILTER (WHERE status = 'SUCCESS') / nullif(count(*), 0), 1) AS success_rate,
       round(avg(duration_s)::numeric, 2)                              AS avg_duration_seconds,
       min(started_at)                                                 AS first_start,
       max(ended_at)                                                   AS last_end
FROM pipeline.dagster_runs
WHERE started_at IS NOT NULL
GROUP BY 1, 2;

-- Success by asset (the reference's job types are our assets).
CREATE OR REPLACE VIEW pipeline.pipeline_job_stats AS
SELECT a.asset_key,
       count(*)                                                        AS runs,
       count(*) FILTER (WHERE a.materialized)                          AS successful,
       count(*) FILTER (WHERE NOT a.materialized)                      AS failed,
       round(100.0 * count(*) FILTER (WHERE a.materialized) / nullif(count(*), 0), 1) AS success_rate,
       round(avg(a.duration_s)::numeric, 3)                            AS avg_step_seconds,
       max(r.started_at)                                               AS last_run
FROM pipeline.dagster_run_assets a JOIN pipeline.dagster_runs r USING (run_id)
GROUP BY 1;
