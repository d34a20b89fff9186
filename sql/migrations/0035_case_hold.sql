-- Legal holds on a case (issue 17: "a legal hold per subject or case"). A hold on a
-- case keeps every person named in a referral routed to it, whoever is named later
-- included, from erasure by a DPO and from the retention keeper, until it is
-- lifted. Its reasons are sealed under the data key of the first person of the
-- case whose key is live (records_hold.c); that person is kept by the hold itself.
ALTER TABLE core.legal_hold ALTER COLUMN subject_id DROP NOT NULL;
ALTER TABLE core.legal_hold ADD COLUMN case_id uuid REFERENCES routing.case(id);
ALTER TABLE core.legal_hold ADD CONSTRAINT legal_hold_one_target
  CHECK ((subject_id IS NULL) <> (case_id IS NULL));
CREATE INDEX legal_hold_case_active ON core.legal_hold (case_id) WHERE lifted_at IS NULL;

-- Whether a hold in force keeps a person: one on them, or one on a case a referral
-- naming them was routed to.
CREATE FUNCTION records.held (person uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM core.legal_hold h
                  WHERE h.subject_id = person AND h.lifted_at IS NULL)
      OR EXISTS (SELECT 1 FROM core.legal_hold h
                   JOIN routing.case_referral cr ON cr.case_id = h.case_id
                   JOIN intake.referral_subject rs ON rs.referral_id = cr.referral_id
                  WHERE rs.subject_id = person AND h.lifted_at IS NULL)
$$;

CREATE OR REPLACE FUNCTION records.due (moment timestamptz, person uuid DEFAULT NULL)
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
         records.held (e.subject_id),
         max (e.until)
    FROM ends AS e (subject_id, until)
   WHERE NOT EXISTS (SELECT 1 FROM core.erasure x WHERE x.subject_id = e.subject_id)
   GROUP BY e.subject_id
  HAVING bool_and (e.until IS NOT NULL AND e.until < moment)
$$;

GRANT EXECUTE ON FUNCTION records.held (uuid) TO kinnet_records, kinnet_reporting;
GRANT SELECT (id, family_id, status, closed_at) ON routing.case TO kinnet_records;
GRANT SELECT (referral_id, case_id, routed_at) ON routing.case_referral TO kinnet_records;

-- Reading a hold's reasons discloses them to the DPO's agency: logged.
GRANT INSERT ON core.disclosure TO kinnet_records;
GRANT USAGE ON SEQUENCE core.disclosure_id_seq TO kinnet_records;
