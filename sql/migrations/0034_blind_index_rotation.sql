-- Rotating the blind-index key (issue 17). The blind index that matches people
-- (core.subject.blind_index) and the request fingerprints of every idempotency
-- ledger (request_hash) were keyed by the root key alone. They are now keyed by a
-- versioned index key (the key file's `index N HEX` lines; version 1 is the root's),
-- and each row names the version it was made under, so a rotation can proceed
-- online and the old version (with it, at last, the root) can be retired.
--
-- One column of the index and its version, rather than a second index column
-- during a re-index: a subject has exactly one index at any time, so the unique
-- constraint on blind_index keeps meaning "one subject per person" throughout, the
-- lookup stays one index probe (intake looks up the index under every version the
-- key file holds, in one = ANY), and an erasure keeps replacing one column with
-- random bytes (never matching again, under any version: the records service needs
-- no new grant). Two versions' indexes of different people colliding is as likely
-- as any 256-bit collision. The re-index (`kinnet admin indexkey reindex`, as the
-- database owner) rewrites both columns of a row together, under a row lock.
ALTER TABLE core.subject
  ADD COLUMN blind_index_version smallint NOT NULL DEFAULT 1
  CHECK (blind_index_version >= 1);
-- What the re-index looks for (subjects behind the current version) and what the
-- daemons' start check reads (which versions are in use), each a few index probes.
CREATE INDEX subject_index_version ON core.subject (blind_index_version);

-- The fingerprint of each request names its index version: a retry is compared
-- under the version its first request was digested under, whichever is current.
ALTER TABLE intake.idempotency ADD COLUMN request_hash_version smallint NOT NULL DEFAULT 1;
ALTER TABLE consent.idempotency ADD COLUMN request_hash_version smallint NOT NULL DEFAULT 1;
ALTER TABLE routing.idempotency ADD COLUMN request_hash_version smallint NOT NULL DEFAULT 1;
ALTER TABLE admin.idempotency ADD COLUMN request_hash_version smallint NOT NULL DEFAULT 1;
ALTER TABLE records.idempotency ADD COLUMN request_hash_version smallint NOT NULL DEFAULT 1;

-- The index versions some subject's index is under, for every daemon's start check
-- (a key file lacking one would silently stop matching those people). Versions
-- only: no role gains a column of core.subject it did not read, and records, which
-- reads a few of them, gains none. A loose scan over subject_index_version: one
-- probe per version, whatever the number of subjects.
CREATE FUNCTION core.blind_index_versions () RETURNS SETOF smallint
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE v (version) AS (
    SELECT min (blind_index_version) FROM core.subject
    UNION ALL
    SELECT (SELECT min (s.blind_index_version) FROM core.subject s
             WHERE s.blind_index_version > v.version)
      FROM v WHERE v.version IS NOT NULL)
  SELECT version FROM v WHERE version IS NOT NULL
$$;
REVOKE ALL ON FUNCTION core.blind_index_versions () FROM PUBLIC;
GRANT EXECUTE ON FUNCTION core.blind_index_versions () TO kinnet_intake, kinnet_consent,
  kinnet_routing, kinnet_reporting, kinnet_admin, kinnet_records;
