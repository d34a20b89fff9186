-- Rollups for the auditors' reports (issue 19): counts per UTC day and dimension
-- set, kept by a background job, so a report reads a few thousand rows for the
-- period's clean days and raw rows only for the rest.
--
-- What a report counts about a day changes after that day (a referral withdrawn, a
-- need accepted, an offer expiring, a case gaining an agency, rows deleted by
-- retention). So every statement that inserts, updates or deletes a counted row
-- leaves a mark (source, day) for each day its rows had before and after, in the
-- same transaction (statement-level triggers with transition tables). The job,
-- rollup.run () in one REPEATABLE READ transaction, recomputes each marked day from
-- raw rows and deletes exactly the marks its snapshot sees. A change committed
-- after that snapshot has a mark the job did not see, so it stays and the day is
-- recomputed on the next pass; a change the snapshot saw is in the recomputation.
-- A report, in its own snapshot, takes a day from the rollup only when the day was
-- rolled up and has no mark: then the rollup equals the raw rows in that snapshot.
-- No order between writers is needed, so no horizon (kn_cursor) either, and a job
-- killed at any point leaves its transaction undone: the marks are still there.
--
-- Days are UTC days; reports use the rollup only in sessions whose TimeZone is UTC
-- (the period's $1::date boundaries are then UTC midnights too).

CREATE SCHEMA rollup;
COMMENT ON SCHEMA rollup IS 'report rollups: derived counts, no personal data (0044)';

-- Sources: what a day is a day of.
--   1 intake.referral.received_at
--   2 routing.need.created_at
--   3 routing.involvement.offered_at   4 .decided_at   5 .closed_at
--   6 routing.case.opened_at
CREATE TABLE rollup.dirty (
  source smallint NOT NULL,
  day    date NOT NULL
);
CREATE INDEX dirty_source_day ON rollup.dirty (source, day);

-- Days the job has rolled up at least once (a day is clean when it is here and
-- has no mark).
CREATE TABLE rollup.day (
  source smallint NOT NULL,
  day    date NOT NULL,
  PRIMARY KEY (source, day)
);

-- Referrals received per day, per dimension set g (bits: 1 district, 2 referring
-- agency, 4 urgency, 8 need). Sets of at most two dimensions: a report asks for two
-- at most, and month and week come from the day. With the need bit, a referral
-- counts once per need, as the report counts it.
CREATE TABLE rollup.referral (
  day        date NOT NULL,
  g          smallint NOT NULL,
  district   text,
  agency_id  uuid,
  urgency    smallint,
  need       smallint,
  received   bigint NOT NULL,
  withdrawn  bigint NOT NULL,
  matched    bigint NOT NULL
);
CREATE INDEX referral_g_day ON rollup.referral (g, day);

-- The marks. SECURITY DEFINER: the services that write the rows need no grant on
-- the rollup schema.
CREATE FUNCTION rollup.utc_day (t timestamptz) RETURNS date
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (t AT TIME ZONE 'UTC')::date $$;

CREATE FUNCTION rollup.mark_referral () RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO rollup.dirty (source, day)
      SELECT DISTINCT 1, rollup.utc_day (received_at) FROM new_rows;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO rollup.dirty (source, day)
      SELECT DISTINCT 1, rollup.utc_day (received_at) FROM old_rows;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER referral_rollup_insert AFTER INSERT ON intake.referral
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rollup.mark_referral ();
-- Every update marks (transition tables take no column list): rectification and
-- erasure rewrite sealed columns only, and cost a recomputed day.
CREATE TRIGGER referral_rollup_update AFTER UPDATE ON intake.referral
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rollup.mark_referral ();
CREATE TRIGGER referral_rollup_delete AFTER DELETE ON intake.referral
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rollup.mark_referral ();

-- One day of one source, from raw rows, in the caller's snapshot.
CREATE FUNCTION rollup.compute (s smallint, d date) RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  lo timestamptz := d::timestamp AT TIME ZONE 'UTC';
  hi timestamptz := (d + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
  IF s = 1 THEN
    DELETE FROM rollup.referral WHERE day = d;
    INSERT INTO rollup.referral
      SELECT d, 7 - GROUPING (r.urgency, r.referring_agency_id, r.district),
             r.district, r.referring_agency_id, r.urgency, NULL,
             count (*), count (*) FILTER (WHERE r.status = 'withdrawn'),
             count (*) FILTER (WHERE r.family_matched)
      FROM intake.referral r WHERE r.received_at >= lo AND r.received_at < hi
      GROUP BY GROUPING SETS ((), (r.district), (r.referring_agency_id), (r.urgency),
        (r.district, r.referring_agency_id), (r.district, r.urgency),
        (r.referring_agency_id, r.urgency));
    INSERT INTO rollup.referral
      SELECT d, 15 - GROUPING (r.urgency, r.referring_agency_id, r.district),
             r.district, r.referring_agency_id, r.urgency, n.need,
             count (*), count (*) FILTER (WHERE r.status = 'withdrawn'),
             count (*) FILTER (WHERE r.family_matched)
      FROM intake.referral r CROSS JOIN LATERAL unnest (r.needs) AS n (need)
      WHERE r.received_at >= lo AND r.received_at < hi
      GROUP BY GROUPING SETS ((n.need), (n.need, r.district),
        (n.need, r.referring_agency_id), (n.need, r.urgency));
  END IF;
END $$;

-- One pass: up to max_days marked (source, day) pairs, oldest first, recomputed
-- and their marks (those this snapshot sees) deleted. Returns how many were done.
-- Must run in a REPEATABLE READ transaction: the days are recomputed and the marks
-- deleted in one snapshot, the argument above.
CREATE FUNCTION rollup.run (max_days integer) RETURNS integer
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t record;
  done integer := 0;
BEGIN
  IF current_setting ('transaction_isolation') <> 'repeatable read' THEN
    RAISE EXCEPTION 'rollup.run () needs a REPEATABLE READ transaction'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  FOR t IN SELECT DISTINCT m.source, m.day FROM rollup.dirty m
           ORDER BY m.day, m.source LIMIT max_days LOOP
    PERFORM rollup.compute (t.source, t.day);
    DELETE FROM rollup.dirty m WHERE m.source = t.source AND m.day = t.day;
    INSERT INTO rollup.day (source, day) VALUES (t.source, t.day)
      ON CONFLICT DO NOTHING;
    done := done + 1;
  END LOOP;
  RETURN done;
END $$;

-- Every day that already has rows is marked, so the first passes roll them up.
INSERT INTO rollup.dirty (source, day)
  SELECT DISTINCT 1, rollup.utc_day (received_at) FROM intake.referral;

-- The job runs as the reporting service's login on the primary: it reads what the
-- reports read and writes only the rollup schema.
GRANT USAGE ON SCHEMA rollup TO kinnet_reporting;
GRANT SELECT, DELETE ON rollup.dirty TO kinnet_reporting;
GRANT SELECT, INSERT ON rollup.day TO kinnet_reporting;
GRANT SELECT, INSERT, DELETE ON rollup.referral TO kinnet_reporting;
REVOKE ALL ON FUNCTION rollup.run (integer), rollup.compute (smallint, date),
  rollup.mark_referral () FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollup.run (integer), rollup.compute (smallint, date)
  TO kinnet_reporting;
