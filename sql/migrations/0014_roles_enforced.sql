-- Roles are enforced (issue 14). Intake now refuses a referral from an agency
-- without the `referrer` role, so every agency gets it when it is added, however it
-- is added (kinnet admin agency add, a directory import, an operator's INSERT), and
-- every agency that exists today keeps referring. An administrator may take it away.
INSERT INTO core.agency_role (agency_id, role)
  SELECT id, 'referrer' FROM core.agency ON CONFLICT DO NOTHING;

CREATE FUNCTION core.agency_default_roles () RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO core.agency_role (agency_id, role) VALUES (NEW.id, 'referrer')
    ON CONFLICT DO NOTHING;
  RETURN NEW;
END $$;
CREATE TRIGGER agency_default_roles AFTER INSERT ON core.agency
  FOR EACH ROW EXECUTE FUNCTION core.agency_default_roles ();

-- Every role granted or taken away is on the audit trail, whichever path changed
-- it: object_id is the agency, role the role, caseworker_id the database user that
-- made the change (administration runs as an operator, not as an agency).
CREATE FUNCTION core.agency_role_audit () RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  changed core.agency_role;
BEGIN
  changed := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  INSERT INTO core.audit (agency_id, caseworker_id, service, operation, object_id, result,
                          role)
  VALUES (NULL, session_user, 'admin',
          CASE WHEN TG_OP = 'DELETE' THEN 'role_revoke' ELSE 'role_grant' END,
          changed.agency_id, 'ok', changed.role);
  RETURN NULL;
END $$;
CREATE TRIGGER agency_role_audit AFTER INSERT OR DELETE ON core.agency_role
  FOR EACH ROW EXECUTE FUNCTION core.agency_role_audit ();
