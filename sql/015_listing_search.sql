-- Full-text search over the production listings (title + description). An
-- expression index, so core.listings keeps exactly the canonical columns; a
-- query must use the same expression (core.listing_document) to hit it:
--   SELECT observed_date, source, title FROM core.listings
--   WHERE core.listing_document(title, description) @@ websearch_to_tsquery('english', 'mustang fastback')
CREATE OR REPLACE FUNCTION core.listing_document(title text, description text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B');
CREATE INDEX IF NOT EXISTS listings_search_idx ON core.listings USING gin (core.listing_document(title, description));
