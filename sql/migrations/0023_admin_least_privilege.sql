-- The admin service gets only the columns it uses (a review of issue 15's service):
-- it counts an agency's open involvements for the directory's "load" and reads
-- nothing else of a case; it may revoke a key but not give it back or move it to
-- another agency; it may change an agency's directory entry and deactivate it.
REVOKE SELECT ON routing.involvement FROM kinnet_admin;
GRANT SELECT (agency_id, status) ON routing.involvement TO kinnet_admin;

REVOKE UPDATE ON core.agency_key FROM kinnet_admin;
GRANT UPDATE (revoked_at) ON core.agency_key TO kinnet_admin;

REVOKE UPDATE ON core.agency FROM kinnet_admin;
GRANT UPDATE (name, sector, district, directory_id, accepting, capacity, interpreters,
              active, deactivated_at) ON core.agency TO kinnet_admin;

-- Revocation is for good, whoever writes: a revoked key is not revived or moved, and
-- a deactivated agency is not reactivated (register a new agency or key instead).
-- Enforced in the database so that no role's grants, present or future, undo it.
CREATE FUNCTION core.agency_key_final () RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.public_key <> OLD.public_key OR NEW.agency_id <> OLD.agency_id THEN
    RAISE EXCEPTION 'an agency key is not moved' USING ERRCODE = 'check_violation';
  END IF;
  IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
    RAISE EXCEPTION 'a revoked key stays revoked' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER agency_key_final BEFORE UPDATE ON core.agency_key
  FOR EACH ROW EXECUTE FUNCTION core.agency_key_final ();

CREATE FUNCTION core.agency_deactivation_final () RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF NOT OLD.active AND NEW.active THEN
    RAISE EXCEPTION 'a deactivated agency stays deactivated' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER agency_deactivation_final BEFORE UPDATE OF active ON core.agency
  FOR EACH ROW EXECUTE FUNCTION core.agency_deactivation_final ();
