-- Per-person data keys (envelope encryption, docs/privacy.md "Per-person keys").
-- Each subject's personal fields are sealed under a random data key of that subject;
-- the key is stored here only wrapped by a field master key (master_version names
-- which), bound to its id. Every value sealed under it names it (format 2,
-- kn_crypto_keys.c). Destroying a key (wrapped set to NULL) makes everything sealed
-- under it unreadable at once, in the database and in every backup taken before;
-- the row stays as the record that the person's data was erased. Rotating the
-- master rewraps these rows and touches no sealed value.
CREATE TABLE core.data_key (
  id              uuid PRIMARY KEY,
  subject_id      uuid NOT NULL UNIQUE REFERENCES core.subject(id),
  master_version  smallint NOT NULL CHECK (master_version >= 1),
  wrapped         bytea CHECK (length(wrapped) = 72),
  created_at      timestamptz NOT NULL DEFAULT now(),
  destroyed_at    timestamptz,
  CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
);
CREATE INDEX data_key_master ON core.data_key(master_version) WHERE wrapped IS NOT NULL;

-- The services that seal personal data make keys; those that open it read them. A
-- wrapped key is useless without the field master key, which only the daemons that
-- seal or open hold. No service may change or delete a key: rewrapping and erasure
-- are the owner's (kinnet admin fieldkey rewrap) until the erasure service lands.
GRANT SELECT, INSERT ON core.data_key TO kinnet_intake, kinnet_consent;
GRANT SELECT ON core.data_key TO kinnet_routing, kinnet_reporting;
