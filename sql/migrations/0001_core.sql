-- Core schema shared by every service: agencies and their keys, the transactional
-- outbox, the audit trail, and one least-privilege role per service.
-- Services connect as any login role that is a member of theirs and SET ROLE to it.

DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['kinnet_broker', 'kinnet_intake'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
END $$;

CREATE SCHEMA IF NOT EXISTS core;

CREATE TABLE core.agency (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  sector         text NOT NULL,
  district       text NOT NULL CHECK (length(district) BETWEEN 1 AND 64),
  active         boolean NOT NULL DEFAULT true,
  created_at     timestamptz NOT NULL DEFAULT now(),
  deactivated_at timestamptz
);

-- CURVE public keys in Z85 (40 characters). A key is admitted while it is not
-- revoked and its agency is active.
CREATE TABLE core.agency_key (
  public_key  text PRIMARY KEY CHECK (length(public_key) = 40),
  agency_id   uuid NOT NULL REFERENCES core.agency(id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE INDEX agency_key_agency ON core.agency_key(agency_id);

-- The broker LISTENs here and reloads its key table on every change.
CREATE FUNCTION core.notify_agency_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('kinnet_agency_keys', '');
  RETURN NULL;
END $$;
CREATE TRIGGER agency_changed AFTER INSERT OR UPDATE OR DELETE ON core.agency
  FOR EACH STATEMENT EXECUTE FUNCTION core.notify_agency_keys();
CREATE TRIGGER agency_key_changed AFTER INSERT OR UPDATE OR DELETE ON core.agency_key
  FOR EACH STATEMENT EXECUTE FUNCTION core.notify_agency_keys();

-- Transactional outbox: state change, event and audit row commit together.
-- Consumers keep their own cursor (last id seen); NOTIFY is only a wake-up.
CREATE TABLE core.outbox (
  id            bigserial PRIMARY KEY,
  topic         text NOT NULL,
  aggregate_id  uuid NOT NULL,
  payload       bytea NOT NULL,          -- protobuf, kinnet.v1 events.proto
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION core.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('kinnet_outbox', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_appended AFTER INSERT ON core.outbox
  FOR EACH STATEMENT EXECUTE FUNCTION core.notify_outbox();

-- Audit trail: every request every service handles. Insert-only for services.
CREATE TABLE core.audit (
  id             bigserial PRIMARY KEY,
  at             timestamptz NOT NULL DEFAULT now(),
  agency_id      uuid,                   -- NULL when the caller was not authenticated
  caseworker_id  text,
  service        text NOT NULL,
  operation      text NOT NULL,
  subject_ref    uuid,                   -- pseudonymous: the family id, never a name
  object_id      uuid,                   -- e.g. the referral id
  basis          text,                   -- consent id or lawful basis of a disclosure
  result         text NOT NULL           -- "ok" or an error code name
);
CREATE INDEX audit_object ON core.audit(object_id);

GRANT USAGE ON SCHEMA core TO kinnet_broker, kinnet_intake;
GRANT SELECT ON core.agency, core.agency_key TO kinnet_broker, kinnet_intake;
GRANT INSERT ON core.outbox, core.audit TO kinnet_intake;
GRANT USAGE ON SEQUENCE core.outbox_id_seq, core.audit_id_seq TO kinnet_intake;
