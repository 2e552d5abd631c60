"""Entity ids, members, canonical records and the state of the next day,
all computed in DuckDB from the tables of records, edges and clusters (see
prepare.py and cluster.py) and the kept-pairs file.

Why SQL rather than data frames here: every statement is over one row per
record (or per pair), and DuckDB runs them under its memory limit, spilling
when the day outgrows it, so the peak memory of a day does not depend on its
size. The canonical record's columns are read back from the prepared Parquet
file by row number (`rid` is the file's row number), so the wide columns
(descriptions) never enter a table.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import duckdb

from ..kinds import CANONICAL_SCHEMA, Kind
from ..kinds.resolution import Resolution
from ..measure import StageClock
from ...sqltext import literal

MEMBERS, ENTITIES = "members.parquet", "entities.parquet"
ID_VERSION = "v1"
# Rows per row group of files of whole records. The writer buffers a row
# group per thread, and at DuckDB's default (122,880) two buffers of job
# postings with their descriptions took half of a 1 GB limit, enough to run
# a 10M-record day out of memory next to the read-back's hash table.
WIDE_ROW_GROUP = 16_384


def _fresh_id_sql(kind: Kind, day: date, key: str) -> str:
    """A new entity's id: a hash of its smallest listing key (source, unit
    separator, listing_id) and the day, so a re-run gives the same id."""
    return f"substr(sha256('{ID_VERSION}|entity|{kind.name}|' || {key} || '|{day.isoformat()}'), 1, 32)"


def identities(con: duckdb.DuckDBPyConnection, res: Resolution, kind: Kind, day: date, prev: Path | None,
               out: Path, records: str, wide: Path, kept: Path, edges: str, clusters: str) -> dict:
    """Members, entities, state, pairs and merges files of the day from the
    tables `records` (prepare.py), `edges` and `clusters` (cluster.py), the
    file of today's whole prepared records `wide` (rid = row number) and the
    kept-pairs file `kept`; `prev` is the state directory of the day before.
    Returns their paths and "stats"."""
    clock = StageClock()
    with clock.stage("best_edges"):
        # Best in-cluster edge per record: its score, the partner and why (ties:
        # the smaller partner rid, so a re-run picks the same one). A window
        # (a sort, which spills) over integer ends, then the reason and the
        # partner's key joined to the one winning pair, one join per statement:
        # an arg_max whose state carried the reason string could not spill, and
        # neither could one statement holding four hash joins at once (both ran
        # out of a 1 GB limit on a 10M-record day of jobs).
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _best AS
            WITH ie AS (
                    SELECT e.a, e.b, e.prob FROM {edges} e
                    JOIN {clusters} ca ON ca.rid = e.a JOIN {clusters} cb ON cb.rid = e.b
                    WHERE ca.cluster = cb.cluster),
                 ends AS (SELECT a AS rid, b AS other, prob FROM ie UNION ALL SELECT b AS rid, a AS other, prob FROM ie)
            SELECT rid, other, prob FROM ends
            QUALIFY row_number() OVER (PARTITION BY rid ORDER BY prob DESC, other) = 1""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _best_why AS
            SELECT b.rid, b.other, b.prob, w.reason FROM _best b
            LEFT JOIN (SELECT a, b, reason FROM read_parquet({literal(kept)}) WHERE prob >= {res.match_probability}) w
            ON w.a = least(b.rid, b.other) AND w.b = greatest(b.rid, b.other)""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _best AS
            SELECT b.*, o.source || ':' || o.listing_id AS matched_to
            FROM _best_why b JOIN {records} o ON o.rid = b.other""")
        con.execute("DROP TABLE _best_why")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _nodes AS
            SELECT p.rid, coalesce(c.cluster, p.rid) AS cluster, c.cluster IS NOT NULL AS multi, p.source,
                   p.listing_id, p.observed_date, p._complete, p._fetched_key,
                   p.is_prior, p.prior_entity, b.prob AS match_score,
                   CASE WHEN b.rid IS NOT NULL THEN coalesce(b.reason, 'same entity on an earlier day') END
                       AS match_reason,
                   b.matched_to
            FROM {records} p LEFT JOIN {clusters} c USING (rid) LEFT JOIN _best b USING (rid)""")
        con.execute("DROP TABLE _best")
    with clock.stage("ids"):
        prev_entities = (f"SELECT entity_id, first_seen FROM read_parquet({literal(prev / ENTITIES)})" if prev else
                         "SELECT NULL::VARCHAR AS entity_id, NULL::DATE AS first_seen LIMIT 0")
        # Winner per cluster: the oldest earlier entity, else a new deterministic id.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _ids AS
            WITH pe AS ({prev_entities}),
            cand AS (
                SELECT n.cluster, n.prior_entity, pe.first_seen, count(*) AS votes
                FROM _nodes n JOIN pe ON pe.entity_id = n.prior_entity GROUP BY ALL),
            -- An earlier entity split over several clusters today (a cannot-link
            -- rule separated its listings) keeps its id in the cluster holding
            -- most of them; the others get new ids.
            claim AS (SELECT * FROM cand QUALIFY row_number() OVER (
                          PARTITION BY prior_entity ORDER BY votes DESC, cluster) = 1),
            won AS (SELECT cluster, arg_min(prior_entity, (first_seen, prior_entity)) AS entity_id,
                           min(first_seen) AS first_seen FROM claim GROUP BY cluster),
            -- (A record alone in its cluster needs no aggregate: most of a day.)
            keys AS (SELECT cluster, min(source || chr(31) || listing_id) AS k FROM _nodes
                     WHERE NOT is_prior AND multi GROUP BY cluster
                     UNION ALL
                     SELECT cluster, source || chr(31) || listing_id AS k FROM _nodes WHERE NOT is_prior AND NOT multi),
            fresh AS (SELECT cluster, {_fresh_id_sql(kind, day, "k")} AS entity_id FROM keys)
            SELECT f.cluster, coalesce(w.entity_id, f.entity_id) AS entity_id, w.entity_id IS NULL AS is_new,
                   coalesce(w.first_seen, DATE '{day.isoformat()}') AS first_seen
            FROM fresh f LEFT JOIN won w USING (cluster)""")
    with clock.stage("members"):
        # Earlier entities merged into another one today.
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _merges AS
            SELECT n.prior_entity AS merged, arg_max(i.entity_id, 1) AS into_entity
            FROM _nodes n JOIN _ids i USING (cluster)
            WHERE n.prior_entity IS NOT NULL AND n.prior_entity NOT IN (SELECT entity_id FROM _ids)
            GROUP BY n.prior_entity""")

        members = out / "members.parquet"
        # Records per entity: a hash aggregate over multi-record clusters only
        # (a cluster is one entity), not a window over every record of the day.
        con.execute(f"""
            COPY (WITH sizes AS (SELECT cluster, count(*) AS n FROM _nodes WHERE NOT is_prior AND multi
                                 GROUP BY cluster)
                  SELECT n.source, n.listing_id, n.observed_date, i.entity_id,
                         n.match_score, n.match_reason, n.matched_to,
                         CASE WHEN n.prior_entity = i.entity_id THEN 'known'
                              WHEN n.prior_entity IN (SELECT merged FROM _merges) THEN 'merged'
                              WHEN n.prior_entity IS NOT NULL THEN 'split'
                              WHEN i.is_new THEN 'new_entity'
                              ELSE 'joined' END AS link,
                         coalesce(z.n, 1) AS entity_records
                  FROM _nodes n JOIN _ids i USING (cluster) LEFT JOIN sizes z USING (cluster)
                  WHERE NOT n.is_prior ORDER BY n.source, n.listing_id)
            TO {literal(members)} (FORMAT parquet, COMPRESSION zstd)""")

    with clock.stage("canonical"):
        # Canonical record per entity seen today: most complete, then most recent
        # (observed, then fetched), then the smallest listing key. The ranks
        # travel in `_nodes`, so the winner is an arg_min per cluster (a hash
        # aggregate: no sort, no window). Its whole record is then read back from
        # the prepared file by row number (rid), in one pass over the file.
        #
        # Most of a day's records are new and alone in their cluster: such a
        # record is its own canonical record and its entity id is a function of
        # the row (the fresh id above), so it needs no lookup. `_spec` holds only
        # the others (records of multi-record clusters and records of earlier
        # entities), the winners with their entity and the losers without: the
        # read-back joins the wide rows against that smaller table, which a day
        # of 10M records keeps in memory instead of spilling every wide row.
        today = f"read_parquet({literal(wide)}, file_row_number = true)"
        price = kind.market_value
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _spec AS
            WITH w AS (
                SELECT cluster,
                       arg_min(rid, (-_complete, -epoch_us(observed_date), _fetched_key, source, listing_id)) AS win,
                       count(*) AS records_today, list_sort(list_distinct(list(source))) AS sources_today
                FROM _nodes WHERE NOT is_prior AND (multi OR prior_entity IS NOT NULL) GROUP BY cluster)
            SELECT n.rid, CASE WHEN n.rid = w.win THEN i.entity_id END AS entity_id,
                   CASE WHEN n.rid = w.win THEN i.first_seen END AS first_seen,
                   CASE WHEN n.rid = w.win THEN w.records_today END AS records_today,
                   CASE WHEN n.rid = w.win THEN w.sources_today END AS sources_today
            FROM _nodes n JOIN w USING (cluster) JOIN _ids i USING (cluster)
            WHERE NOT n.is_prior""")
        # A view: the wide rows flow straight into the state file below instead
        # of into a table.
        con.execute(f"""
            CREATE OR REPLACE TEMP VIEW _canon AS
            SELECT coalesce(s.entity_id, {_fresh_id_sql(kind, day, "f.source || chr(31) || f.listing_id")})
                       AS entity_id,
                   coalesce(s.first_seen, DATE '{day.isoformat()}') AS first_seen,
                   f.* EXCLUDE (file_row_number, _complete),
                   coalesce(s.records_today, 1) AS records_today, coalesce(s.sources_today, [f.source]) AS sources_today
            FROM {today} f LEFT JOIN _spec s ON s.rid = f.file_row_number
            WHERE s.rid IS NULL OR s.entity_id IS NOT NULL""")
    with clock.stage("entities"):
        record_cols = [c for c in CANONICAL_SCHEMA if c in con.sql("SELECT * FROM _canon LIMIT 0").columns]
        record_cols.append("listing_id")
        rc = ", ".join(f"c.{c}" for c in record_cols)
        if prev is not None:
            prev_sql = f"""SELECT e.* REPLACE (coalesce(m.into_entity, e.entity_id) AS entity_id)
                           FROM read_parquet({literal(prev / ENTITIES)}) e
                           LEFT JOIN _merges m ON m.merged = e.entity_id"""
        else:
            prev_sql = None
        entities = out / "entities.parquet"
        today_sql = f"""
            SELECT c.entity_id, '{kind.name}' AS entity_kind, c.first_seen, DATE '{day.isoformat()}' AS last_seen,
                   c.records_today, c.sources_today, {rc}, c.{price} AS _price_today
            FROM _canon c"""
        if prev_sql:
            # Earlier entities folded by id (merges first), then today's record on top.
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _prev AS
                SELECT entity_id, min(first_seen) AS first_seen, max(last_seen) AS last_seen,
                       max(days_seen) AS days_seen, arg_min(price_first, first_seen) AS price_first,
                       arg_max(price_last, last_seen) AS price_last, min(price_min) AS price_min,
                       max(price_max) AS price_max, max(price_changes) AS price_changes,
                       arg_max(COLUMNS(* EXCLUDE (entity_id, first_seen, last_seen, days_seen, price_first,
                                                  price_last, price_min, price_max, price_changes)), last_seen)
                FROM ({prev_sql}) GROUP BY entity_id""")
        else:
            con.execute(f"""CREATE OR REPLACE TEMP TABLE _prev AS SELECT entity_id, first_seen, last_seen,
                            0::BIGINT AS days_seen, {price} AS price_first, {price} AS price_last, {price} AS price_min,
                            {price} AS price_max, 0::BIGINT AS price_changes, entity_kind, records_today, sources_today,
                            {', '.join(record_cols)} FROM ({today_sql}) LIMIT 0""")
        # Today's entities, written once. The state (every entity known so far)
        # is that file plus the earlier entities not seen today; on a first day
        # it is the same file, linked rather than rewritten.
        con.execute(f"""
            COPY (
            WITH t AS ({today_sql})
            SELECT t.entity_id, t.entity_kind, least(t.first_seen, p.first_seen) AS first_seen, t.last_seen,
                   CAST(coalesce(p.days_seen, 0) + 1 AS BIGINT) AS days_seen,
                   coalesce(p.price_first, t._price_today) AS price_first, t._price_today AS price_last,
                   least(p.price_min, t._price_today) AS price_min, greatest(p.price_max, t._price_today) AS price_max,
                   CAST(coalesce(p.price_changes, 0) + (p.price_last IS DISTINCT FROM t._price_today
                                                        AND p.price_last IS NOT NULL
                                                        AND t._price_today IS NOT NULL)::INT
                        AS BIGINT) AS price_changes,
                   CAST(t.records_today AS BIGINT) AS records_today, t.sources_today,
                   {', '.join('t.' + c for c in record_cols)}
            FROM t LEFT JOIN _prev p USING (entity_id))
            TO {literal(entities)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {WIDE_ROW_GROUP})""")
    with clock.stage("state_entities"):
        state = out / "state"
        state.mkdir(exist_ok=True)
        (state / ENTITIES).unlink(missing_ok=True)
        if prev_sql:
            # Today's entities are exactly those of _ids.
            con.execute(f"""
                COPY (SELECT * FROM read_parquet({literal(entities)})
                      UNION ALL BY NAME
                      SELECT * FROM _prev ANTI JOIN _ids USING (entity_id))
                TO {literal(state / ENTITIES)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {WIDE_ROW_GROUP})""")
        else:
            try:
                os.link(entities, state / ENTITIES)
            except OSError:  # a file system without hard links
                shutil.copyfile(entities, state / ENTITIES)
    with clock.stage("state_members"):
        prev_members = (f"""SELECT m.source, m.listing_id, coalesce(g.into_entity, m.entity_id) AS entity_id,
                                   m.first_seen, m.last_seen
                            FROM read_parquet({literal(prev / MEMBERS)}) m
                            LEFT JOIN _merges g ON g.merged = m.entity_id"""
                        if prev else "SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS listing_id, "
                                     "NULL::VARCHAR AS entity_id, NULL::DATE AS first_seen, "
                                     "NULL::DATE AS last_seen LIMIT 0")
        con.execute(f"""
            COPY (
                WITH t AS (SELECT source, listing_id, entity_id FROM read_parquet({literal(members)})),
                     p AS ({prev_members})
                SELECT coalesce(t.source, p.source) AS source, coalesce(t.listing_id, p.listing_id) AS listing_id,
                       coalesce(t.entity_id, p.entity_id) AS entity_id,
                       coalesce(p.first_seen, DATE '{day.isoformat()}') AS first_seen,
                       CASE WHEN t.source IS NOT NULL THEN DATE '{day.isoformat()}' ELSE p.last_seen END AS last_seen
                FROM t FULL OUTER JOIN p USING (source, listing_id) ORDER BY source, listing_id)
            TO {literal(state / MEMBERS)} (FORMAT parquet, COMPRESSION zstd)""")

    with clock.stage("pairs_file"):
        pairs = out / "pairs.parquet"
        g_cols = "".join(f", k.{c}" for c in con.sql(f"SELECT * FROM read_parquet({literal(kept)}) LIMIT 0").columns
                         if c.startswith("g_"))
        con.execute(f"""
            COPY (SELECT x.source || ':' || x.listing_id AS left, y.source || ':' || y.listing_id AS right,
                         k.prob, k.match_weight, k.reason, k.conflict{g_cols}
                  FROM read_parquet({literal(kept)}) k JOIN {records} x ON x.rid = k.a JOIN {records} y ON y.rid = k.b)
            TO {literal(pairs)} (FORMAT parquet, COMPRESSION zstd)""")
    n_entities = con.execute(f"SELECT count(DISTINCT entity_id), max(entity_records) "
                             f"FROM read_parquet({literal(members)})").fetchall()[0]
    links = dict(con.execute(f"SELECT link, count(*) FROM read_parquet({literal(members)}) GROUP BY 1").fetchall())
    merges_file = out / "merges.parquet"
    con.execute(f"COPY (SELECT merged, into_entity FROM _merges ORDER BY merged) "
                f"TO {literal(merges_file)} (FORMAT parquet)")
    n_merges = con.execute("SELECT count(*) FROM _merges").fetchall()[0][0]
    n_edges = con.execute(f"SELECT count(*) FROM {edges}").fetchall()[0][0]
    con.execute("DROP VIEW IF EXISTS _canon")
    for name in ("_nodes", "_merges", "_ids", "_prev", "_spec"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    return {"members": members, "entities": entities, "state": state, "pairs": pairs, "merges": merges_file,
            "stats": {"entities": int(n_entities[0]), "largest_cluster": int(n_entities[1] or 0),
                      "merged_entities": int(n_merges), "links": links,
                      "matched_pairs": int(n_edges), "identity_seconds": clock.seconds}}
