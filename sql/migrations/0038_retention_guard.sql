-- A shortened retention period waits before it applies (issue 17, the retention
-- guard). A schedule shortened at once let one compromised account erase most people
-- on record within the keeper's next hour, irreversibly. Now only a DPO may shorten
-- one, and the shorter period is pending for KINNET_RETENTION_SHORTEN_DELAY_DAYS
-- (default 30): every DPO is told in its feed and any of them can cancel it
-- (records_retention.c; docs/privacy.md, "Retention"). A lengthening applies at once.
--
-- The pending change lives on the schedule's row: the shorter period, the moment
-- it applies (by the one clock, kn_clock.h) and the DPO that made it. Nothing moves
-- it into `days` when that moment passes: every reader asks for the schedule in
-- force at the moment it evaluates (core.retention_in_force), so a dry run with the
-- clock past that moment sees the shorter period and one before it does not.
ALTER TABLE core.retention_schedule
  ADD COLUMN pending_days integer CHECK (pending_days BETWEEN 1 AND 36500),
  ADD COLUMN pending_from timestamptz,
  ADD COLUMN pending_by   uuid REFERENCES core.agency(id),
  ADD CONSTRAINT retention_pending_whole CHECK
    ((pending_days IS NULL) = (pending_from IS NULL)
     AND (pending_days IS NULL) = (pending_by IS NULL)),
  -- Only a shortening is ever pending.
  ADD CONSTRAINT retention_pending_shorter CHECK
    (pending_days IS NULL OR days IS NULL OR pending_days < days);

-- Each schedule as it is in force at `moment`: the pending period once its moment
-- has come, else `days` (NULL: kept without limit).
CREATE FUNCTION core.retention_in_force (moment timestamptz)
RETURNS TABLE (record_type text, days integer)
LANGUAGE sql STABLE AS $$
  SELECT s.record_type,
         CASE WHEN s.pending_from <= moment THEN s.pending_days ELSE s.days END
    FROM core.retention_schedule s
$$;
REVOKE ALL ON FUNCTION core.retention_in_force (timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.retention_in_force (timestamptz) TO kinnet_records;

-- records.due as in 0035, with the periods in force at `moment`.
CREATE OR REPLACE FUNCTION records.due (moment timestamptz, person uuid DEFAULT NULL)
RETURNS TABLE (subject_id uuid, held boolean, retained_until timestamptz)
LANGUAGE sql STABLE AS $$
  WITH p AS (SELECT record_type, make_interval (days => days) AS period
               FROM core.retention_in_force (moment)),
  ends AS (
    SELECT rs.subject_id,
           CASE WHEN r.withdrawn_at IS NOT NULL
                THEN r.withdrawn_at + (SELECT period FROM p WHERE record_type = 'referral')
                ELSE k.closed_at + (SELECT period FROM p WHERE record_type = 'case') END
      FROM intake.referral_subject rs
      JOIN intake.referral r ON r.id = rs.referral_id
      LEFT JOIN routing.case_referral cr ON cr.referral_id = r.id
      LEFT JOIN routing.case k ON k.id = cr.case_id
     WHERE person IS NULL OR rs.subject_id = person
    UNION ALL
    -- A consent ends at its valid_until or at a withdrawal of all of it (every scope
    -- list empty), whichever comes first; LEAST ignores a NULL.
    SELECT c.subject_id,
           least (c.valid_until, (SELECT min (w.at) FROM consent.withdrawal w
                                   WHERE w.consent_id = c.id
                                     AND cardinality (w.recipient_agencies) = 0
                                     AND cardinality (w.recipient_sectors) = 0
                                     AND cardinality (w.categories) = 0
                                     AND cardinality (w.purposes) = 0))
           + (SELECT period FROM p WHERE record_type = 'consent')
      FROM consent.record c WHERE person IS NULL OR c.subject_id = person
    UNION ALL
    SELECT b.subject_id, least (b.ended_at, b.valid_until)
           + (SELECT period FROM p WHERE record_type = 'consent')
      FROM consent.basis b WHERE person IS NULL OR b.subject_id = person
    UNION ALL
    SELECT x.subject_id, x.decided_at + (SELECT period FROM p WHERE record_type = 'consent')
      FROM consent.release x WHERE person IS NULL OR x.subject_id = person
    UNION ALL
    -- An override awaiting its review keeps the person: the review is still owed.
    SELECT o.subject_id,
           CASE WHEN o.reviewed_at IS NOT NULL THEN greatest (o.expires_at, o.reviewed_at)
                + (SELECT period FROM p WHERE record_type = 'override') END
      FROM consent.override o WHERE person IS NULL OR o.subject_id = person)
  SELECT e.subject_id,
         records.held (e.subject_id),
         max (e.until)
    FROM ends AS e (subject_id, until)
   WHERE NOT EXISTS (SELECT 1 FROM core.erasure x WHERE x.subject_id = e.subject_id)
   GROUP BY e.subject_id
  HAVING bool_and (e.until IS NOT NULL AND e.until < moment)
$$;

-- core.audit_prune as in 0036, with the period in force at `moment` (it runs as its
-- owner, so it needs no grant of its own; its privileges are kept).
CREATE OR REPLACE FUNCTION core.audit_prune (which text, moment timestamptz, max_rows integer,
                                  dry_run boolean DEFAULT false, run uuid DEFAULT NULL)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  period interval;
  start bigint;
  step record;
  last record;
  n integer;
  removed integer := 0;
BEGIN
  IF which IS NULL OR which NOT IN ('audit', 'disclosure') THEN
    RAISE EXCEPTION 'chain must be audit or disclosure' USING ERRCODE = '22023';
  END IF;
  IF moment IS NULL OR max_rows IS NULL OR max_rows < 1 THEN
    RAISE EXCEPTION 'moment and a positive max_rows are required' USING ERRCODE = '22023';
  END IF;
  SELECT make_interval (days => s.days) INTO period FROM core.retention_in_force (moment) s
   WHERE s.record_type = CASE which WHEN 'audit' THEN 'audit_trail' ELSE 'disclosure_log' END;
  IF period IS NULL THEN
    RETURN 0;
  END IF;
  -- The sealer's lock: no entry is chained, and no other prune runs, meanwhile.
  PERFORM pg_advisory_xact_lock (hashtext ('kinnet.audit.chain'));
  SELECT coalesce (max (p.seq), 0) INTO start FROM core.audit_prune p WHERE p.chain = which;
  FOR step IN
    SELECT c.number, CASE which WHEN 'audit' THEN c.seq ELSE c.disclosure_seq END AS pos
      FROM core.audit_checkpoint c
     WHERE c.version = 2 AND c.signed_at < moment - period
       AND CASE which WHEN 'audit' THEN c.seq ELSE c.disclosure_seq END > start
     ORDER BY c.number
  LOOP
    EXIT WHEN removed >= max_rows;
    CONTINUE WHEN step.pos <= start;
    IF which = 'audit' THEN
      SELECT e.link, e.audit_xid AS xid, e.audit_id AS id INTO last
        FROM core.audit_chain e WHERE e.seq = step.pos;
    ELSE
      SELECT e.link, e.disclosure_xid AS xid, e.disclosure_id AS id INTO last
        FROM core.disclosure_chain e WHERE e.seq = step.pos;
    END IF;
    -- The chain does not reach the checkpoint (it was cut): verify says so; stop.
    EXIT WHEN NOT FOUND;
    IF dry_run THEN
      IF which = 'audit' THEN
        SELECT count(*) INTO n FROM core.audit_chain e
         WHERE e.seq > start AND e.seq <= step.pos;
      ELSE
        SELECT count(*) INTO n FROM core.disclosure_chain e
         WHERE e.seq > start AND e.seq <= step.pos;
      END IF;
    ELSE
      IF which = 'audit' THEN
        WITH gone AS (DELETE FROM core.audit_chain e
                       WHERE e.seq > start AND e.seq <= step.pos RETURNING e.audit_id),
             logged AS (DELETE FROM core.audit a USING gone
                       WHERE a.id = gone.audit_id RETURNING 1)
        SELECT count(*) INTO n FROM gone;
      ELSE
        WITH gone AS (DELETE FROM core.disclosure_chain e
                       WHERE e.seq > start AND e.seq <= step.pos RETURNING e.disclosure_id),
             logged AS (DELETE FROM core.disclosure d USING gone
                       WHERE d.id = gone.disclosure_id RETURNING 1)
        SELECT count(*) INTO n FROM gone;
      END IF;
      INSERT INTO core.audit_prune (chain, checkpoint, seq, link, xid, last_id, removed,
                                    moment, run_id)
      VALUES (which, step.number, step.pos, last.link, last.xid, last.id, n, moment, run);
    END IF;
    removed := removed + n;
    start := step.pos;
  END LOOP;
  RETURN removed;
END $$;

-- The records service writes a pending change, and clears one.
GRANT UPDATE (pending_days, pending_from, pending_by) ON core.retention_schedule
  TO kinnet_records;
