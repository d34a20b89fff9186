-- The tamper-evident audit trail. Services keep inserting into core.audit as before
-- (insert only). A sealer links the committed records, in commit-safe order, into a
-- hash chain (core.audit_chain: link = SHA-256 (previous link || the record's
-- canonical bytes)) and signs checkpoints of it with Ed25519
-- (core.audit_checkpoint). Neither table is ever updated or deleted from by any
-- service role; `kinnet audit verify` recomputes everything.

DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['kinnet_audit', 'kinnet_reporting'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
END $$;

-- Which role the caller acted in (e.g. auditor, data_protection_officer), when the
-- operation needed one.
ALTER TABLE core.audit ADD COLUMN role text;
-- The writing transaction, for sealing in commit-safe order (as core.outbox).
ALTER TABLE core.audit ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id ();
CREATE INDEX audit_xid ON core.audit (xid, id);
CREATE INDEX audit_at ON core.audit (at);
CREATE INDEX audit_subject ON core.audit (subject_ref);

CREATE TABLE core.audit_chain (
  seq        bigint PRIMARY KEY CHECK (seq >= 1),
  audit_id   bigint NOT NULL UNIQUE,
  audit_xid  xid8 NOT NULL,
  link       bytea NOT NULL CHECK (length(link) = 32),
  sealed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE core.audit_checkpoint (
  seq         bigint PRIMARY KEY,            -- the chain position it seals
  link        bytea NOT NULL CHECK (length(link) = 32),
  signed_at   timestamptz NOT NULL,
  public_key  bytea NOT NULL CHECK (length(public_key) = 32),   -- Ed25519
  signature   bytea NOT NULL CHECK (length(signature) = 64)
);

GRANT USAGE ON SCHEMA core TO kinnet_audit;
GRANT SELECT ON core.audit, core.audit_chain, core.audit_checkpoint TO kinnet_audit;
GRANT INSERT ON core.audit_chain, core.audit_checkpoint TO kinnet_audit;
GRANT INSERT ON core.audit TO kinnet_audit;
GRANT USAGE ON SEQUENCE core.audit_id_seq TO kinnet_audit;

-- Reporting reads everything (aggregates only leave it; personal fields stay sealed)
-- and writes only its own audit rows.
GRANT USAGE ON SCHEMA core, intake, consent, routing TO kinnet_reporting;
GRANT SELECT ON ALL TABLES IN SCHEMA core, intake, consent, routing TO kinnet_reporting;
GRANT INSERT ON core.audit TO kinnet_reporting;
GRANT USAGE ON SEQUENCE core.audit_id_seq TO kinnet_reporting;
