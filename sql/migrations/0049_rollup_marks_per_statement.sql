-- Routing writes a round's new needs and their offers as one INSERT per table
-- (issue 19), but their rollup marks were row triggers: a plpgsql call per row and
-- per source, each finding the day marked already after the first. An insert now
-- marks each distinct day once per statement, from its transition table, as
-- intake.referral's insert does (0043). Updates and deletes keep their row
-- triggers, which see each row's old and new days. The case keeps its row
-- triggers: routing inserts cases one at a time.
CREATE FUNCTION rollup.mark_need_insert () RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM rollup.mark_day (2, x.d)
     FROM (SELECT DISTINCT rollup.utc_day (created_at) AS d FROM new_rows) x;
  RETURN NULL;
END $$;

CREATE FUNCTION rollup.mark_involvement_insert () RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- Each source's distinct days (UNION removes repeats): offered, decided, closed.
  PERFORM rollup.mark_day (x.s, x.d)
     FROM (SELECT 3 AS s, rollup.utc_day (offered_at) AS d FROM new_rows
           UNION SELECT 4, rollup.utc_day (decided_at) FROM new_rows
            WHERE decided_at IS NOT NULL
           UNION SELECT 5, rollup.utc_day (closed_at) FROM new_rows
            WHERE closed_at IS NOT NULL) x;
  RETURN NULL;
END $$;

REVOKE ALL ON FUNCTION rollup.mark_need_insert (), rollup.mark_involvement_insert ()
  FROM PUBLIC;

DROP TRIGGER need_rollup ON routing.need;
CREATE TRIGGER need_rollup AFTER UPDATE OR DELETE ON routing.need
  FOR EACH ROW EXECUTE FUNCTION rollup.mark_need ();
CREATE TRIGGER need_rollup_insert AFTER INSERT ON routing.need
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rollup.mark_need_insert ();

DROP TRIGGER involvement_rollup ON routing.involvement;
CREATE TRIGGER involvement_rollup AFTER UPDATE OR DELETE ON routing.involvement
  FOR EACH ROW EXECUTE FUNCTION rollup.mark_involvement ();
CREATE TRIGGER involvement_rollup_insert AFTER INSERT ON routing.involvement
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rollup.mark_involvement_insert ();
