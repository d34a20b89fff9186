-- The records service (issue 17): the data-protection officer's operations on a
-- person's record over its life. Its daemon logs in as kinnet_records and may erase
-- a person (destroy their data key, unlink their blind index), place and lift legal
-- holds, and move a person's values from before per-person keys under their key
-- (so that erasing them erases those too). It reads no referral, consent or case
-- beyond that.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kinnet_records') THEN
    CREATE ROLE kinnet_records LOGIN;
  END IF;
END $$;
ALTER ROLE kinnet_records SET statement_timeout = '30s';
ALTER ROLE kinnet_records SET lock_timeout = '5s';
ALTER ROLE kinnet_records SET idle_in_transaction_session_timeout = '60s';

CREATE SCHEMA IF NOT EXISTS records;

CREATE TABLE records.idempotency (
  agency_id     uuid NOT NULL REFERENCES core.agency(id),
  key           text NOT NULL,
  operation     text NOT NULL,
  request_hash  bytea NOT NULL,
  object_id     uuid NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agency_id, key)
);

-- Every erasure: the person (pseudonymous), the key destroyed, when, on whose
-- decision and under which reference of the DPO's (a case-file reference, not
-- free text: [A-Za-z0-9._/-], up to 64). The same lines go to the erasure ledger
-- outside the database, which a restore applies again (docs/operations.md).
CREATE TABLE core.erasure (
  subject_id  uuid PRIMARY KEY REFERENCES core.subject(id),
  key_id      uuid NOT NULL REFERENCES core.data_key(id),
  erased_at   timestamptz NOT NULL DEFAULT now(),
  erased_by   uuid REFERENCES core.agency(id),   -- NULL: applied from the ledger
  reference   text NOT NULL CHECK (reference ~ '^[A-Za-z0-9._/-]{1,64}$')
);

-- A legal hold suspends erasure (and, once retention lands, expiry) of everything
-- about one person. The reason is sealed under the person's data key.
CREATE TABLE core.legal_hold (
  id           uuid PRIMARY KEY,
  subject_id   uuid NOT NULL REFERENCES core.subject(id),
  reason       bytea NOT NULL,            -- sealed (ad = id)
  placed_by    uuid NOT NULL REFERENCES core.agency(id),
  placed_at    timestamptz NOT NULL DEFAULT now(),
  lifted_by    uuid REFERENCES core.agency(id),
  lifted_at    timestamptz,
  lift_reason  bytea,                     -- sealed (ad = id || ':lift')
  CHECK ((lifted_at IS NULL) = (lifted_by IS NULL))
);
CREATE INDEX legal_hold_active ON core.legal_hold(subject_id) WHERE lifted_at IS NULL;
INSERT INTO core.sealed_column VALUES
  ('core', 'legal_hold', 'reason'),
  ('core', 'legal_hold', 'lift_reason')
ON CONFLICT DO NOTHING;

-- A destroyed key stays destroyed, whoever asks: nothing brings an erased person
-- back (a restore re-applies the ledger; see ops/restore).
CREATE FUNCTION core.data_key_final () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.wrapped IS NULL AND NEW.wrapped IS NOT NULL THEN
    RAISE EXCEPTION 'data key % was destroyed: an erasure cannot be undone', OLD.id
      USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.id <> OLD.id OR NEW.subject_id <> OLD.subject_id THEN
    RAISE EXCEPTION 'a data key keeps its id and its person' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER data_key_final BEFORE UPDATE ON core.data_key
  FOR EACH ROW EXECUTE FUNCTION core.data_key_final ();

GRANT USAGE ON SCHEMA records, core, intake, consent TO kinnet_records;
GRANT SELECT, INSERT ON records.idempotency TO kinnet_records;
GRANT SELECT, INSERT ON core.erasure TO kinnet_records;
GRANT SELECT, INSERT, UPDATE (lifted_by, lifted_at, lift_reason) ON core.legal_hold
  TO kinnet_records;
GRANT SELECT (id, family_id, blind_index, birth_date), UPDATE (blind_index, birth_date)
  ON core.subject TO kinnet_records;
-- Its erasure destroys a key (never makes or swaps one but through kn_keys).
GRANT SELECT, INSERT, UPDATE (wrapped, destroyed_at) ON core.data_key TO kinnet_records;
GRANT SELECT ON core.agency, core.agency_role TO kinnet_records;
-- What a person's values from before per-person keys are moved from and to.
GRANT SELECT (id, personal, withdraw_reason), UPDATE (personal, withdraw_reason)
  ON intake.referral TO kinnet_records;
GRANT SELECT, UPDATE (personal) ON intake.referral_subject TO kinnet_records;
GRANT SELECT (id, subject_id, personal), UPDATE (personal) ON consent.record
  TO kinnet_records;
GRANT SELECT (id, subject_id, justification), UPDATE (justification) ON consent.basis
  TO kinnet_records;
GRANT SELECT (id, subject_id, details, review_notes), UPDATE (details, review_notes)
  ON consent.override TO kinnet_records;
GRANT SELECT (id, subject_id, request_reason, decision_reason),
  UPDATE (request_reason, decision_reason) ON consent.release TO kinnet_records;
GRANT SELECT, INSERT ON core.audit TO kinnet_records;
GRANT USAGE ON SEQUENCE core.audit_id_seq TO kinnet_records;
GRANT EXECUTE ON FUNCTION core.begin_write () TO kinnet_records;
-- The reports read what records keeps (holds, erasures), never their reasons.
GRANT SELECT ON core.erasure TO kinnet_reporting;
GRANT SELECT ON core.legal_hold TO kinnet_reporting;
