-- Retention schedules (issue 17): how long each kind of record is kept, counted from
-- a defined event, as data a DPO changes (`kinnet retention set`). The keeper (a
-- thread of the records daemon, records_keeper.c) applies them in bounded batches:
--
--   * A person is kept while any record about them is live or within its period:
--     a referral naming them (until its withdrawal + `referral`, or, once routed and
--     not withdrawn, its case's closing + `case`; open until then), a consent about
--     them (until it ends: its valid_until, or a withdrawal of all of it, + `consent`),
--     a statutory basis (ended_at or valid_until + `consent`), a release request
--     (its decision + `consent`), a safeguarding override (its expiry, once reviewed,
--     + `override`; an override awaiting review keeps them). When none is, and no
--     legal hold is in force on them, they are erased as a DPO would erase them (the
--     data key destroyed; records_erase.c). Rows stay: ids, codes and dates are what
--     the reports count.
--   * Operational rows are deleted: outbox events once every consumer's cursor is
--     past them and they are older than `outbox`; feed events older than `feed` that
--     their agency has read past (its highest `after`, routing.feed_mark); idempotency
--     entries older than `idempotency` (a retry after that is a new request).
--   * The audit trail and the disclosure log are kept: removing their oldest part
--     needs the verifier to start from a signed checkpoint, which is not built yet.
--
-- A period is whole days; NULL keeps the records without limit.
CREATE TABLE core.retention_schedule (
  record_type   text PRIMARY KEY CHECK (record_type IN ('referral', 'case', 'consent',
                  'override', 'disclosure_log', 'audit_trail', 'outbox', 'feed',
                  'idempotency')),
  days          integer CHECK (days BETWEEN 1 AND 36500),
  changed_by    uuid REFERENCES core.agency(id),      -- NULL: the default
  changed_at    timestamptz NOT NULL DEFAULT now()
);
-- The defaults and their reasoning: docs/privacy.md, "Retention".
INSERT INTO core.retention_schedule (record_type, days) VALUES
  ('referral', 365),         -- a withdrawn referral: one year after its withdrawal
  ('case', 1095),            -- three years after the case closed
  ('consent', 1095),         -- three years after the consent, basis or request ended
  ('override', 2190),        -- six years after the override ended (and was reviewed)
  ('disclosure_log', NULL),  -- kept (see above)
  ('audit_trail', NULL),     -- kept
  ('outbox', 30),            -- 30 days, and only once every consumer is past
  ('feed', 90),              -- 90 days, and only once the agency has read past
  ('idempotency', 30);       -- 30 days: the window in which a retry is recognised

-- Each pass of the keeper (or a DPO's `retention run`): when, by whom (NULL: the
-- keeper on its own), whether it was a dry run, and how many of each it removed.
-- Written when the run starts and brought up to date after each step, so a run cut
-- short (a crash) shows how far it got.
CREATE TABLE core.retention_run (
  id          uuid PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  clock       timestamptz NOT NULL,           -- the moment the schedules were applied at
  run_by      uuid REFERENCES core.agency(id),
  dry_run     boolean NOT NULL,
  erased      integer NOT NULL,               -- people erased (would be, on a dry run)
  held        integer NOT NULL,               -- people due but under a legal hold
  outbox      integer NOT NULL,
  feed        integer NOT NULL,
  idempotency integer NOT NULL
);
CREATE INDEX retention_run_at ON core.retention_run (at);

-- What caused an erasure: a DPO's decision, the ledger (a restore), a schedule.
ALTER TABLE core.erasure ADD COLUMN cause text NOT NULL DEFAULT 'dpo'
  CHECK (cause IN ('dpo', 'ledger', 'retention'));
UPDATE core.erasure SET cause = 'ledger' WHERE erased_by IS NULL;

-- How far each agency has read its feed: the highest `after` it has sent (capped
-- at its feed's head). Kept apart from routing.feed_head, which every write locks.
CREATE TABLE routing.feed_mark (
  agency_id  uuid PRIMARY KEY REFERENCES core.agency(id),
  read_to    bigint NOT NULL,
  read_at    timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE ON routing.feed_mark TO kinnet_routing;

-- What the keeper looks people up by, and the ages of operational rows (BRIN: rows
-- arrive in time order, and such an index costs a write next to nothing).
CREATE INDEX IF NOT EXISTS referral_subject_subject ON intake.referral_subject (subject_id);
CREATE INDEX IF NOT EXISTS release_subject ON consent.release (subject_id);
CREATE INDEX IF NOT EXISTS outbox_created ON core.outbox USING brin (created_at);
CREATE INDEX IF NOT EXISTS feed_created ON routing.feed USING brin (created_at);
CREATE INDEX IF NOT EXISTS intake_idempotency_created ON intake.idempotency
  USING brin (created_at);
CREATE INDEX IF NOT EXISTS consent_idempotency_created ON consent.idempotency
  USING brin (created_at);
CREATE INDEX IF NOT EXISTS routing_idempotency_created ON routing.idempotency
  USING brin (created_at);

-- The people no record keeps any longer at `moment` (every record about them has
-- an end, and each end plus its period has passed), not erased yet, with whether a
-- legal hold in force keeps them all the same; `person`: just that one. NULL as an
-- end (still open, or a period of NULL) keeps the person. The rules are the ones at
-- the top of this file, and docs/privacy.md's table.
CREATE FUNCTION records.due (moment timestamptz, person uuid DEFAULT NULL)
RETURNS TABLE (subject_id uuid, held boolean, retained_until timestamptz)
LANGUAGE sql STABLE AS $$
  WITH p AS (SELECT record_type, make_interval (days => days) AS period
               FROM core.retention_schedule),
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
         EXISTS (SELECT 1 FROM core.legal_hold h
                  WHERE h.subject_id = e.subject_id AND h.lifted_at IS NULL),
         max (e.until)
    FROM ends AS e (subject_id, until)
   WHERE NOT EXISTS (SELECT 1 FROM core.erasure x WHERE x.subject_id = e.subject_id)
   GROUP BY e.subject_id
  HAVING bool_and (e.until IS NOT NULL AND e.until < moment)
$$;

GRANT USAGE ON SCHEMA routing, admin TO kinnet_records;
GRANT SELECT, UPDATE (days, changed_by, changed_at) ON core.retention_schedule
  TO kinnet_records;
GRANT SELECT, INSERT, UPDATE (erased, held, outbox, feed, idempotency, finished_at)
  ON core.retention_run TO kinnet_records;
GRANT SELECT (referral_id, subject_id) ON intake.referral_subject TO kinnet_records;
GRANT SELECT (id, withdrawn_at) ON intake.referral TO kinnet_records;
GRANT SELECT (referral_id, case_id) ON routing.case_referral TO kinnet_records;
GRANT SELECT (id, family_id, closed_at) ON routing.case TO kinnet_records;
GRANT SELECT (id, subject_id, valid_until) ON consent.record TO kinnet_records;
GRANT SELECT ON consent.withdrawal TO kinnet_records;
GRANT SELECT (id, subject_id, valid_until, ended_at) ON consent.basis TO kinnet_records;
GRANT SELECT (id, subject_id, expires_at, reviewed_at) ON consent.override
  TO kinnet_records;
GRANT SELECT (id, subject_id, decided_at) ON consent.release TO kinnet_records;
GRANT SELECT (recipient_id, subject_id) ON core.disclosure TO kinnet_records;
GRANT SELECT, DELETE ON core.outbox TO kinnet_records;
GRANT SELECT ON routing.cursor TO kinnet_records;
GRANT SELECT, DELETE ON routing.consumed TO kinnet_records;
GRANT SELECT, DELETE ON routing.feed TO kinnet_records;
GRANT SELECT ON routing.feed_mark TO kinnet_records;
GRANT SELECT, DELETE ON intake.idempotency, consent.idempotency, routing.idempotency,
  admin.idempotency, records.idempotency TO kinnet_records;
GRANT EXECUTE ON FUNCTION records.due (timestamptz, uuid) TO kinnet_records;
GRANT SELECT ON core.retention_schedule, core.retention_run TO kinnet_reporting;
