-- An agency's home district (core.agency.district) and each district it serves
-- (core.agency_district.district) is a registered district (core.district). Routing
-- reaches an agency only through a referral naming one of its districts, so a code
-- nobody registered (a typo at `kinnet admin agency add --district`) left an agency
-- no referral would reach, unnoticed. The admin service, the bootstrap and the
-- directory import refuse such a code with a message naming `district set`; these
-- keys hold every other writer (scripts, fixtures, a psql session) to the same rule.
--
-- Upgrade: a database may hold agencies whose codes nobody registered. The keys are
-- added NOT VALID, so the migration applies whatever is there and every later
-- insert, and every update that changes a code, is checked; each key is validated
-- at once when no row breaks it (a new database, or one that registered its codes).
-- Codes left over are listed by `kinnet admin directory district list` as not
-- registered: register each (`district set CODE --name NAME`) or correct the agency
-- (a directory import); ALTER TABLE ... VALIDATE CONSTRAINT then makes the key whole.
-- They are not registered here on the operator's behalf: a typo registered would
-- become a district intake accepts referrals for.
--
-- A referral's district (intake.referral, routing.need) stays free text: it is what
-- the referrer wrote, checked by intake against the districts Kinnet knows, and kept
-- as history. No command deletes a district or changes its code; with these keys the
-- database refuses both while an agency uses it (NO ACTION), so no agency is left
-- pointing at a code that is gone.
ALTER TABLE core.agency
  ADD CONSTRAINT agency_district_registered FOREIGN KEY (district)
  REFERENCES core.district (code) NOT VALID;
ALTER TABLE core.agency_district
  ADD CONSTRAINT agency_district_district_registered FOREIGN KEY (district)
  REFERENCES core.district (code) NOT VALID;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM core.agency a
                 WHERE NOT EXISTS (SELECT 1 FROM core.district d WHERE d.code = a.district)) THEN
    ALTER TABLE core.agency VALIDATE CONSTRAINT agency_district_registered;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM core.agency_district x
                 WHERE NOT EXISTS (SELECT 1 FROM core.district d WHERE d.code = x.district)) THEN
    ALTER TABLE core.agency_district VALIDATE CONSTRAINT agency_district_district_registered;
  END IF;
END $$;
