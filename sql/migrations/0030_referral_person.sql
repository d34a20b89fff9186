-- Each person named in a referral has their own part of it (docs/privacy.md
-- "Per-person keys"): their kinnet.v1.Person (names, date of birth, languages),
-- sealed under their own data key, bound to '<referral id>:<subject id>'. The
-- referral's personal column keeps the rest (guardians, needs, the ground), sealed
-- under the referred child's key. Erasing a sibling then erases their names from
-- every referral that mentions them, and nothing of the child's. Referrals stored
-- before this keep their people inside personal (NULL here) until
-- `kinnet admin fieldkey rewrap` moves them.
ALTER TABLE intake.referral_subject ADD COLUMN personal bytea;
INSERT INTO core.sealed_column VALUES ('intake', 'referral_subject', 'personal')
ON CONFLICT DO NOTHING;

-- Routing reads who a referral is about, never their part of it (the rule of 0027).
DO $$
BEGIN
  IF has_table_privilege ('kinnet_routing', 'intake.referral_subject', 'SELECT') THEN
    REVOKE SELECT ON intake.referral_subject FROM kinnet_routing;
    GRANT SELECT (referral_id, subject_id, role, position) ON intake.referral_subject
      TO kinnet_routing;
  END IF;
END $$;

