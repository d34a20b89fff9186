-- The consent policy locks a person's row while it decides (FOR SHARE) or changes
-- their consent (FOR UPDATE), so a decision never misses a withdrawal committed
-- beside it. PostgreSQL lets a role lock a row only if it may UPDATE some column of
-- the table, and intake, consent and routing were given UPDATE on birth_date for
-- that alone: each of them could rewrite a person's sealed date of birth, which
-- none of them ever does (issue 16).
--
-- They now hold UPDATE on row_lock instead: a column that can hold nothing (its
-- one value is NULL) and exists only to lend its privilege to the lock. Writing it
-- changes no one's data.
ALTER TABLE core.subject ADD COLUMN row_lock boolean CONSTRAINT subject_row_lock_empty
  CHECK (row_lock IS NULL);
COMMENT ON COLUMN core.subject.row_lock IS
  'always NULL: UPDATE on it lets a service lock a person''s row and write nothing';
REVOKE UPDATE (birth_date) ON core.subject FROM kinnet_intake, kinnet_consent, kinnet_routing;
GRANT UPDATE (row_lock) ON core.subject TO kinnet_intake, kinnet_consent, kinnet_routing;
