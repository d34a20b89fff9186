-- Routing's writes paid for the rollup marks about as much as for their rows
-- (issue 19). Measured on 20,000 needs with their offers, inserted one statement at
-- a time as routing does: 4.9 s; without the need's and the offer's mark triggers
-- 3.5 s; the case's mark, fired by the need counter's UPDATE of the case for every
-- need, 0.6 s more.
--
-- A mark is needed only where a row's day, or what the rollup counts of it,
-- changes. The case's update now marks only when a column rollup.compute (6) reads
-- changes as it reads it (a need counter past three, a lead replaced by another,
-- a call-back time: nothing it counts); an offer's insert does not call the marking
-- function for times it does not have yet; and the once-a-transaction key is made
-- without to_char.
CREATE OR REPLACE FUNCTION rollup.mark_day (s integer, d date) RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  name text := 'rollup.marked_' || s || '_' || (d - date '2000-01-01');
BEGIN
  IF d IS NULL OR current_setting (name, true) IS NOT DISTINCT FROM 'on' THEN
    RETURN;
  END IF;
  INSERT INTO rollup.dirty (source, day) VALUES (s, d);
  PERFORM set_config (name, 'on', true);
END $$;

CREATE OR REPLACE FUNCTION rollup.mark_involvement () RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP <> 'DELETE' THEN
    PERFORM rollup.mark_day (3, rollup.utc_day (NEW.offered_at));
    IF NEW.decided_at IS NOT NULL THEN
      PERFORM rollup.mark_day (4, rollup.utc_day (NEW.decided_at));
    END IF;
    IF NEW.closed_at IS NOT NULL THEN
      PERFORM rollup.mark_day (5, rollup.utc_day (NEW.closed_at));
    END IF;
  END IF;
  IF TG_OP <> 'INSERT' THEN
    PERFORM rollup.mark_day (3, rollup.utc_day (OLD.offered_at));
    IF OLD.decided_at IS NOT NULL THEN
      PERFORM rollup.mark_day (4, rollup.utc_day (OLD.decided_at));
    END IF;
    IF OLD.closed_at IS NOT NULL THEN
      PERFORM rollup.mark_day (5, rollup.utc_day (OLD.closed_at));
    END IF;
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER case_rollup ON routing.case;
CREATE TRIGGER case_rollup AFTER INSERT OR DELETE ON routing.case
  FOR EACH ROW EXECUTE FUNCTION rollup.mark_case ();
-- What rollup.compute (6) reads of a case, as it reads it.
CREATE TRIGGER case_rollup_update AFTER UPDATE ON routing.case
  FOR EACH ROW WHEN (
    OLD.opened_at IS DISTINCT FROM NEW.opened_at
    OR OLD.district IS DISTINCT FROM NEW.district
    OR OLD.urgency IS DISTINCT FROM NEW.urgency
    OR OLD.languages IS DISTINCT FROM NEW.languages
    OR least (OLD.needs_count, 3) IS DISTINCT FROM least (NEW.needs_count, 3)
    OR least (OLD.agencies_count, 3) IS DISTINCT FROM least (NEW.agencies_count, 3)
    OR (OLD.lead_agency_id IS NULL) IS DISTINCT FROM (NEW.lead_agency_id IS NULL)
    OR (OLD.accepted_now > 0) IS DISTINCT FROM (NEW.accepted_now > 0))
  EXECUTE FUNCTION rollup.mark_case ();
