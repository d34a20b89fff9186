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
COMMENT ON SCHEMA rollup IS 'report rollups: derived counts, no personal data (0043)';

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

-- Needs routed per day (created_at), per dimension set (bits: 1 district, 2
-- referring agency, 4 urgency, 8 need; one at most) and placement (0011).
CREATE TABLE rollup.need (
  day        date NOT NULL,
  g          smallint NOT NULL,
  district   text,
  agency_id  uuid,
  urgency    smallint,
  need       smallint,
  placement  smallint,
  n          bigint NOT NULL
);
CREATE INDEX need_g_day ON rollup.need (g, day);

-- How long the day's needs waited, by urgency, as histograms in tenths of an hour
-- (bucket: the hours times ten, rounded): measure 1 routed to acceptance, 2 the
-- first offer's deadline, 3 routed to first contact; 4 accepted within that
-- deadline (bucket 1) or not (0). Percentiles read from them are within 0.05 h of
-- the raw ones; the counts, and so what is withheld, are exact.
CREATE TABLE rollup.need_hours (
  day      date NOT NULL,
  urgency  smallint,
  measure  smallint NOT NULL,
  bucket   integer NOT NULL,
  n        bigint NOT NULL
);
CREATE INDEX need_hours_day ON rollup.need_hours (day);

-- Involvement events per day of the event (source 3 offered, 4 decided, 5
-- closed), per table (tab: 1 offers by status, 2 declines by reason, 3 expiries by
-- urgency, 4 closings by outcome; category: the table's column, as the report's
-- SQL writes it) and dimension set (bits: 1 district, 2 referring agency, 4
-- urgency, 8 need, 16 agency offered; one at most). A need's district, urgency,
-- category and referring agency are set when routing makes it and never change.
CREATE TABLE rollup.involvement (
  source     smallint NOT NULL,
  day        date NOT NULL,
  tab        smallint NOT NULL,
  g          smallint NOT NULL,
  district   text,
  ref_agency_id uuid,
  urgency    smallint,
  need       smallint,
  agency_id  uuid,
  category   text,
  n          bigint NOT NULL
);
CREATE INDEX involvement_source_g_day ON rollup.involvement (source, g, day);
CREATE INDEX involvement_source_day ON rollup.involvement (source, day);

-- Cases opened per day, per dimension set (bits: 1 district, 4 urgency; always by
-- district, which the equity report's languages need), by what the team report and
-- the equity report's languages count.
CREATE TABLE rollup.case (
  day        date NOT NULL,
  g          smallint NOT NULL,
  district   text,
  urgency    smallint,
  needs3     smallint,     -- least (needs_count, 3)
  agencies4  smallint,     -- least (agencies_count, 3) + 1
  lead       smallint,     -- 1 a lead professional named, 2 not
  working    boolean,      -- accepted_now > 0
  languages  text[],
  n          bigint NOT NULL
);
CREATE INDEX case_g_day ON rollup.case (g, day);

-- The raw stretches of the involvement tables are read by the event's time.
CREATE INDEX involvement_decided ON routing.involvement (decided_at);
CREATE INDEX involvement_closed ON routing.involvement (closed_at);

-- The marks. SECURITY DEFINER: the services that write the rows need no grant on
-- the rollup schema.
CREATE FUNCTION rollup.utc_day (t timestamptz) RETURNS date
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (t AT TIME ZONE 'UTC')::date $$;

-- One mark of (source, day), once a transaction: the transaction remembers what it
-- marked in a setting local to it (undone with it, and with a savepoint rolled
-- back), so a routing batch that writes a hundred needs of today marks today once,
-- not a hundred times. All its marks commit together, so one is as good as many.
CREATE FUNCTION rollup.mark_day (s integer, d date) RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  name text := 'rollup.marked_' || s || '_' || to_char (d, 'YYYYMMDD');
BEGIN
  IF d IS NULL OR current_setting (name, true) IS NOT DISTINCT FROM 'on' THEN
    RETURN;
  END IF;
  INSERT INTO rollup.dirty (source, day) VALUES (s, d);
  PERFORM set_config (name, 'on', true);
END $$;
REVOKE EXECUTE ON FUNCTION rollup.mark_day (integer, date) FROM PUBLIC;

CREATE FUNCTION rollup.mark_referral () RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM rollup.mark_day (1, x.d) FROM (SELECT DISTINCT rollup.utc_day (received_at) AS d FROM new_rows) x;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM rollup.mark_day (1, x.d) FROM (SELECT DISTINCT rollup.utc_day (received_at) AS d FROM old_rows) x;
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

-- Routing writes its rows one statement at a time, each touching one row: for them a
-- row trigger is cheaper than a statement trigger, which copies the rows into a
-- transition table and runs a query over it (measured with ops/bench's routing part:
-- the statement triggers cost routing alone on a backlog about a quarter of its rate).
CREATE FUNCTION rollup.mark_need () RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP <> 'DELETE' THEN
    PERFORM rollup.mark_day (2, rollup.utc_day (NEW.created_at));
  END IF;
  IF TG_OP <> 'INSERT' THEN
    PERFORM rollup.mark_day (2, rollup.utc_day (OLD.created_at));
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION rollup.mark_involvement () RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP <> 'DELETE' THEN
    PERFORM rollup.mark_day (3, rollup.utc_day (NEW.offered_at));
    PERFORM rollup.mark_day (4, rollup.utc_day (NEW.decided_at));
    PERFORM rollup.mark_day (5, rollup.utc_day (NEW.closed_at));
  END IF;
  IF TG_OP <> 'INSERT' THEN
    PERFORM rollup.mark_day (3, rollup.utc_day (OLD.offered_at));
    PERFORM rollup.mark_day (4, rollup.utc_day (OLD.decided_at));
    PERFORM rollup.mark_day (5, rollup.utc_day (OLD.closed_at));
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION rollup.mark_case () RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP <> 'DELETE' THEN
    PERFORM rollup.mark_day (6, rollup.utc_day (NEW.opened_at));
  END IF;
  IF TG_OP <> 'INSERT' THEN
    PERFORM rollup.mark_day (6, rollup.utc_day (OLD.opened_at));
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER need_rollup AFTER INSERT OR UPDATE OR DELETE ON routing.need
  FOR EACH ROW EXECUTE FUNCTION rollup.mark_need ();
CREATE TRIGGER involvement_rollup AFTER INSERT OR UPDATE OR DELETE ON routing.involvement
  FOR EACH ROW EXECUTE FUNCTION rollup.mark_involvement ();
CREATE TRIGGER case_rollup AFTER INSERT OR UPDATE OR DELETE ON routing.case
  FOR EACH ROW EXECUTE FUNCTION rollup.mark_case ();

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
  ELSIF s = 2 THEN
    DELETE FROM rollup.need WHERE day = d;
    INSERT INTO rollup.need
      SELECT d, 15 - GROUPING (nd.category, nd.urgency, nd.referring_agency_id, nd.district),
             nd.district, nd.referring_agency_id, nd.urgency, nd.category, nd.placement,
             count (*)
      FROM routing.need nd WHERE nd.created_at >= lo AND nd.created_at < hi
      GROUP BY GROUPING SETS ((nd.placement), (nd.placement, nd.district),
        (nd.placement, nd.referring_agency_id), (nd.placement, nd.urgency),
        (nd.placement, nd.category));
    -- The same hours as the timeliness report's percentiles (date_part, float8).
    DELETE FROM rollup.need_hours WHERE day = d;
    INSERT INTO rollup.need_hours
      SELECT d, nd.urgency, m.measure, m.bucket, count (*)
      FROM routing.need nd CROSS JOIN LATERAL (VALUES
        (1, round (date_part ('epoch', nd.accepted_at - nd.created_at) / 360)),
        (2, CASE WHEN nd.first_offered_at IS NOT NULL THEN
              round (date_part ('epoch', nd.first_deadline_at - nd.first_offered_at) / 360) END),
        (3, round (date_part ('epoch', nd.first_contact_at - nd.created_at) / 360)),
        (4, CASE WHEN nd.accepted_at IS NOT NULL THEN
              (nd.accepted_at <= nd.first_deadline_at)::int END)) m (measure, bucket)
      WHERE nd.created_at >= lo AND nd.created_at < hi AND m.bucket IS NOT NULL
      GROUP BY 2, 3, 4;
  ELSIF s IN (3, 4, 5) THEN
    DELETE FROM rollup.involvement WHERE source = s AND day = d;
    EXECUTE format (
      'INSERT INTO rollup.involvement SELECT $1, $2, t.tab,'
      ' 31 - GROUPING (i.agency_id, nd.category, nd.urgency, nd.referring_agency_id, nd.district),'
      ' nd.district, nd.referring_agency_id, nd.urgency, nd.category, i.agency_id, t.category,'
      ' count (*) FROM routing.involvement i LEFT JOIN routing.need nd ON nd.id = i.need_id'
      ' CROSS JOIN LATERAL (SELECT 1, (array_position (ARRAY[''offered'', ''accepted'','
      '  ''declined'', ''expired'', ''withdrawn'', ''transferred'', ''closed''], i.status))::text'
      '  WHERE $1 = 3'
      '  UNION ALL SELECT 2, i.decline_reason::text WHERE $1 = 4 AND i.status = ''declined'''
      '  UNION ALL SELECT 3, nd.urgency::text WHERE $1 = 4 AND i.status = ''expired'''
      '  UNION ALL SELECT 4, i.outcome::text WHERE $1 = 5 AND i.status = ''closed'''
      ' ) t (tab, category)'
      ' WHERE i.%1$I >= $3 AND i.%1$I < $4'
      ' GROUP BY GROUPING SETS ((t.tab, t.category), (t.tab, t.category, nd.district),'
      '  (t.tab, t.category, nd.referring_agency_id), (t.tab, t.category, nd.urgency),'
      '  (t.tab, t.category, nd.category), (t.tab, t.category, i.agency_id))',
      CASE s WHEN 3 THEN 'offered_at' WHEN 4 THEN 'decided_at' ELSE 'closed_at' END)
      USING s, d, lo, hi;
  ELSIF s = 6 THEN
    DELETE FROM rollup.case WHERE day = d;
    INSERT INTO rollup.case
      SELECT d, (1 - GROUPING (c.district)) + 4 * (1 - GROUPING (c.urgency)),
             c.district, c.urgency, k.needs3, k.agencies4, k.lead, k.working, c.languages,
             count (*)
      FROM routing.case c CROSS JOIN LATERAL (SELECT least (c.needs_count, 3) AS needs3,
        least (c.agencies_count, 3) + 1 AS agencies4,
        CASE WHEN c.lead_agency_id IS NOT NULL THEN 1 ELSE 2 END AS lead,
        c.accepted_now > 0 AS working) k
      WHERE c.opened_at >= lo AND c.opened_at < hi
      GROUP BY GROUPING SETS (
        (k.needs3, k.agencies4, k.lead, k.working, c.languages, c.district),
        (k.needs3, k.agencies4, k.lead, k.working, c.languages, c.district, c.urgency));
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
INSERT INTO rollup.dirty (source, day)
  SELECT DISTINCT 2, rollup.utc_day (created_at) FROM routing.need;
INSERT INTO rollup.dirty (source, day)
  SELECT DISTINCT m.source, rollup.utc_day (m.at) FROM routing.involvement i
  CROSS JOIN LATERAL (VALUES (3, i.offered_at), (4, i.decided_at), (5, i.closed_at))
    m (source, at) WHERE m.at IS NOT NULL;
INSERT INTO rollup.dirty (source, day)
  SELECT DISTINCT 6, rollup.utc_day (opened_at) FROM routing.case;

-- The job runs as the reporting service's login on the primary: it reads what the
-- reports read and writes only the rollup schema.
GRANT USAGE ON SCHEMA rollup TO kinnet_reporting;
GRANT SELECT, DELETE ON rollup.dirty TO kinnet_reporting;
GRANT SELECT, INSERT ON rollup.day TO kinnet_reporting;
GRANT SELECT, INSERT, DELETE ON rollup.referral, rollup.need, rollup.need_hours,
  rollup.involvement, rollup.case TO kinnet_reporting;
REVOKE ALL ON FUNCTION rollup.run (integer), rollup.compute (smallint, date),
  rollup.mark_referral (), rollup.mark_need (), rollup.mark_involvement (),
  rollup.mark_case () FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollup.run (integer), rollup.compute (smallint, date)
  TO kinnet_reporting;
