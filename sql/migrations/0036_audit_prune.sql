-- Retention of the audit trail and the disclosure log (issue 17). Their oldest part
-- may go, but only up to a position a signed checkpoint seals, so that what is left
-- still verifies: the verifier starts each chain at its prune point with the link
-- that checkpoint signed (kn_audit_verify.c). Checkpoints are never removed: they
-- are small, and keep the checkpoint chain verifiable from number 1.
--
-- No service role may delete from the trail (test_privileges). The deletion runs in
-- core.audit_prune, SECURITY DEFINER, owned by the migration's owner, which decides
-- itself what may go (the schedule's period, checkpoints signed before the moment
-- less that period) and records each step in core.audit_prune. The one input it
-- must take on trust, the moment (the one clock, kn_clock.h), is recorded beside
-- the database's own time, and `kinnet audit verify` shows both for each prune: a
-- records daemon that claims a moment in the future prunes what was not due, but
-- only at signed checkpoints, and an auditor sees it (docs/privacy.md, "Retention").

-- Each prune step: the chain, the checkpoint whose position it pruned up to (that
-- position included), the rows removed, the moment claimed and the run. The effective
-- start of a chain is its highest `seq`. `link`, `xid` and `last_id` are the removed
-- entry at `seq`: the sealer's head when nothing after it is chained yet (the
-- verifier takes the link from the checkpoint, never from here).
CREATE TABLE core.audit_prune (
  id          bigserial PRIMARY KEY,
  chain       text NOT NULL CHECK (chain IN ('audit', 'disclosure')),
  checkpoint  bigint NOT NULL REFERENCES core.audit_checkpoint(number),
  seq         bigint NOT NULL CHECK (seq >= 1),
  link        bytea NOT NULL CHECK (length(link) = 32),
  xid         xid8 NOT NULL,
  last_id     bigint NOT NULL,
  removed     integer NOT NULL,
  moment      timestamptz NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  run_id      uuid,
  UNIQUE (chain, seq)
);

ALTER TABLE core.retention_run
  ADD COLUMN audit integer NOT NULL DEFAULT 0,        -- audit records pruned
  ADD COLUMN disclosures integer NOT NULL DEFAULT 0;  -- disclosures pruned
GRANT UPDATE (audit, disclosures) ON core.retention_run TO kinnet_records;

-- Prune `which` ('audit': core.audit, 'disclosure': core.disclosure) at `moment`,
-- from its current start up to the newest version 2 checkpoint signed before
-- `moment` less the schedule's period (audit_trail, disclosure_log; NULL: nothing
-- goes), one checkpoint at a time, until about `max_rows` rows went (a step is never
-- cut: each ends on a signed position, so every state in between verifies). A dry
-- run counts and changes nothing. Returns the rows removed (or due).
CREATE FUNCTION core.audit_prune (which text, moment timestamptz, max_rows integer,
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
  SELECT make_interval (days => s.days) INTO period FROM core.retention_schedule s
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

REVOKE ALL ON FUNCTION core.audit_prune (text, timestamptz, integer, boolean, uuid)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.audit_prune (text, timestamptz, integer, boolean, uuid)
  TO kinnet_records;

-- The verifier and the sealer read where each chain starts.
GRANT SELECT ON core.audit_prune TO kinnet_audit, kinnet_reporting;
