-- Schemas: staging (per-load scratch tables), core (production), pipeline
-- (rejects, file registry, load audit). Every statement is idempotent: the
-- project applies this directory on every run.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS pipeline;
