-- One login per service (issue 16). Each daemon logs in as its own role, with its
-- own password, and holds that role's grants and nothing else: no daemon logs in as
-- the database owner and switches with SET ROLE (which any code in the process could
-- RESET). Passwords are not set here: the deployment sets them once the roles exist
-- (`kinnet admin db-logins`, docs/operations.md "Database logins"); a role without a
-- password cannot log in over scram or md5.
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['kinnet_broker', 'kinnet_intake', 'kinnet_consent',
                           'kinnet_routing', 'kinnet_reporting', 'kinnet_audit',
                           'kinnet_admin'] LOOP
    -- Created NOLOGIN with no other attribute (0001, 0003, 0004, 0006, 0022).
    EXECUTE format('ALTER ROLE %I LOGIN', r);
  END LOOP;
END $$;

-- The columns that hold sealed personal data (XChaCha20-Poly1305 under the field
-- key). A role that has no business with personal data is granted the other columns
-- of these tables only; tests check every role against this list, and a migration
-- that adds a sealed column adds it here.
CREATE TABLE IF NOT EXISTS core.sealed_column (
  table_schema text NOT NULL,
  table_name   text NOT NULL,
  column_name  text NOT NULL,
  PRIMARY KEY (table_schema, table_name, column_name)
);
INSERT INTO core.sealed_column VALUES
  ('intake', 'referral', 'personal'),
  ('intake', 'referral', 'withdraw_reason'),
  ('core', 'subject', 'birth_date'),
  ('consent', 'record', 'personal'),
  ('consent', 'basis', 'justification'),
  ('consent', 'override', 'details'),
  ('consent', 'override', 'review_notes'),
  ('consent', 'release', 'request_reason'),
  ('consent', 'release', 'decision_reason')
ON CONFLICT DO NOTHING;
GRANT SELECT ON core.sealed_column TO kinnet_broker, kinnet_intake, kinnet_consent,
  kinnet_routing, kinnet_reporting, kinnet_audit, kinnet_admin;

-- Routing decides on metadata (needs, sectors, categories, dates, statuses): it never
-- opens a referral, a consent, a justification or a release's reasons. It keeps
-- SELECT on the other columns of every table it read, and nothing on the sealed ones
-- but one: a child's date of birth (core.subject.birth_date), since the consent rule
-- it applies before every offer turns on the child's age (kn_consent_policy).
DO $$
DECLARE t record;
BEGIN
  FOR t IN SELECT DISTINCT s.table_schema, s.table_name,
                  (SELECT string_agg (quote_ident (c.column_name), ', '
                                      ORDER BY c.ordinal_position)
                     FROM information_schema.columns c
                    WHERE c.table_schema = s.table_schema AND c.table_name = s.table_name
                      AND NOT EXISTS (SELECT 1 FROM core.sealed_column x
                                       WHERE x.table_schema = c.table_schema
                                         AND x.table_name = c.table_name
                                         AND x.column_name = c.column_name)) AS open
             FROM core.sealed_column s
            WHERE (s.table_schema, s.table_name) <> ('core', 'subject')
              AND has_table_privilege ('kinnet_routing',
                                       format ('%I.%I', s.table_schema, s.table_name),
                                       'SELECT') LOOP
    EXECUTE format ('REVOKE SELECT ON %I.%I FROM kinnet_routing', t.table_schema,
                    t.table_name);
    EXECUTE format ('GRANT SELECT (%s) ON %I.%I TO kinnet_routing', t.open,
                    t.table_schema, t.table_name);
  END LOOP;
END $$;

-- A role change names the administrator's agency only when the admin service made
-- it (its own login); from any other session kinnet.admin_agency is ignored and the
-- record names the database user, so no session can put a change on an agency's
-- account by setting it.
CREATE OR REPLACE FUNCTION core.agency_role_audit () RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  changed core.agency_role;
  admin_agency uuid := CASE WHEN session_user = 'kinnet_admin'
                            THEN nullif (current_setting ('kinnet.admin_agency', true),
                                         '')::uuid END;
BEGIN
  changed := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  INSERT INTO core.audit (agency_id, caseworker_id, service, operation, object_id, result,
                          role)
  VALUES (admin_agency, CASE WHEN admin_agency IS NULL THEN session_user END, 'admin',
          CASE WHEN TG_OP = 'DELETE' THEN 'role_revoke' ELSE 'role_grant' END,
          changed.agency_id, 'ok', changed.role);
  RETURN NULL;
END $$;
