-- Administration becomes a service behind the broker (issue 15). The `admin` daemon
-- runs as kinnet_admin: it may change the agency registry, the directory, the
-- routing rules and the population figures, read the audit trail for export, and
-- nothing else (no referral, consent or case data). Its idempotency ledger is its
-- own, like every other service's.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kinnet_admin') THEN
    CREATE ROLE kinnet_admin NOLOGIN;
  END IF;
END $$;

CREATE SCHEMA IF NOT EXISTS admin;

CREATE TABLE admin.idempotency (
  agency_id     uuid NOT NULL REFERENCES core.agency(id),
  key           text NOT NULL,
  operation     text NOT NULL,
  request_hash  bytea NOT NULL,
  object_id     uuid NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agency_id, key)
);

GRANT USAGE ON SCHEMA admin, core, routing TO kinnet_admin;
GRANT SELECT, INSERT ON admin.idempotency TO kinnet_admin;
GRANT SELECT, INSERT, UPDATE ON core.agency, core.agency_key, core.district TO kinnet_admin;
GRANT SELECT, INSERT, DELETE ON core.agency_role, core.agency_need, core.agency_district,
  core.agency_language TO kinnet_admin;
GRANT SELECT, INSERT, UPDATE ON routing.setting, core.population TO kinnet_admin;
GRANT SELECT ON core.sector TO kinnet_admin;
-- The directory shows each agency's load (its open and accepted involvements).
GRANT SELECT ON routing.involvement TO kinnet_admin;
GRANT SELECT, INSERT ON core.audit TO kinnet_admin;
GRANT SELECT ON core.audit_chain TO kinnet_admin;
GRANT USAGE ON SEQUENCE core.audit_id_seq TO kinnet_admin;

-- A role change made through the service names the administrator's agency: the
-- service sets kinnet.admin_agency for its transaction. A change made on the
-- database (the first administrator, an operator's statement) names no agency and
-- the database user, as before.
CREATE OR REPLACE FUNCTION core.agency_role_audit () RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  changed core.agency_role;
  admin_agency uuid := nullif (current_setting ('kinnet.admin_agency', true), '')::uuid;
BEGIN
  changed := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  INSERT INTO core.audit (agency_id, caseworker_id, service, operation, object_id, result,
                          role)
  VALUES (admin_agency, CASE WHEN admin_agency IS NULL THEN session_user END, 'admin',
          CASE WHEN TG_OP = 'DELETE' THEN 'role_revoke' ELSE 'role_grant' END,
          changed.agency_id, 'ok', changed.role);
  RETURN NULL;
END $$;
