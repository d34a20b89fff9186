-- Consent management: the subject registry becomes shared (core), agencies get
-- roles, and the consent schema holds consents, withdrawals, statutory bases,
-- safeguarding overrides with their reviews. core.disclosure records every time
-- personal data left the database for an agency, and on what ground.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kinnet_consent') THEN
    CREATE ROLE kinnet_consent NOLOGIN;
  END IF;
END $$;

-- Subjects (children, family members) and families are shared by intake and consent.
ALTER TABLE intake.family SET SCHEMA core;
ALTER TABLE intake.subject SET SCHEMA core;
-- Date of birth, sealed (ad = subject id): the consent policy needs the age.
ALTER TABLE core.subject ADD COLUMN birth_date bytea;
-- Order of the people in a referral: 0 the child, 1.. the siblings as sent.
ALTER TABLE intake.referral_subject ADD COLUMN position smallint NOT NULL DEFAULT 0;

-- Roles an administrator grants to agencies (kinnet admin agency role add|remove).
CREATE TABLE core.agency_role (
  agency_id  uuid NOT NULL REFERENCES core.agency(id),
  role       text NOT NULL CHECK (role IN ('referrer', 'coordinator', 'auditor',
                                           'data_protection_officer', 'administrator')),
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agency_id, role)
);

-- Every disclosure of personal data to an agency, with its ground. Written in the
-- same transaction as the read that discloses.
CREATE TABLE core.disclosure (
  id             bigserial PRIMARY KEY,
  at             timestamptz NOT NULL DEFAULT now(),
  subject_id     uuid NOT NULL,
  recipient_id   uuid NOT NULL REFERENCES core.agency(id),
  categories     smallint[] NOT NULL,     -- kinnet.v1.DataCategory
  purpose        smallint NOT NULL,       -- kinnet.v1.Purpose
  basis          text NOT NULL,           -- consent, legal_obligation, ..., safeguarding_override, referring_agency
  ground_id      uuid,                    -- consent, basis record or override id
  service        text NOT NULL,
  object_id      uuid
);
CREATE INDEX disclosure_ground ON core.disclosure(ground_id);
CREATE INDEX disclosure_subject ON core.disclosure(subject_id);

CREATE SCHEMA consent;

CREATE TABLE consent.record (
  id                   uuid PRIMARY KEY,
  subject_id           uuid NOT NULL REFERENCES core.subject(id),
  given_by             smallint NOT NULL,   -- kinnet.v1.ConsentGiver
  recipient_agencies   uuid[] NOT NULL,
  recipient_sectors    smallint[] NOT NULL, -- kinnet.v1.AgencySector
  categories           smallint[] NOT NULL,
  purposes             smallint[] NOT NULL,
  valid_from           timestamptz NOT NULL,
  valid_until          timestamptz,
  method               smallint NOT NULL,   -- kinnet.v1.CollectionMethod
  notice_version       text NOT NULL,
  notice_language      text NOT NULL,
  interpreter_used     boolean NOT NULL,
  personal             bytea NOT NULL,      -- sealed RecordConsent (ad = id)
  recorded_by          uuid NOT NULL REFERENCES core.agency(id),
  recorded_at          timestamptz NOT NULL DEFAULT now(),
  CHECK (valid_until IS NULL OR valid_until > valid_from)
);
CREATE INDEX record_subject ON consent.record(subject_id);
CREATE INDEX record_until ON consent.record(valid_until);

-- A withdrawal removes part or all of a consent's scope from its moment on.
-- Empty arrays mean "all" on that axis: {} x {} x {} withdraws everything.
CREATE TABLE consent.withdrawal (
  id                   uuid PRIMARY KEY,
  consent_id           uuid NOT NULL REFERENCES consent.record(id),
  recipient_agencies   uuid[] NOT NULL,
  recipient_sectors    smallint[] NOT NULL,
  categories           smallint[] NOT NULL,
  purposes             smallint[] NOT NULL,
  channel              smallint NOT NULL,   -- kinnet.v1.CollectionMethod
  recorded_by          uuid NOT NULL REFERENCES core.agency(id),
  caseworker_id        text,
  -- the moment it was recorded, after the subject lock (not the transaction start)
  at                   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX withdrawal_consent ON consent.withdrawal(consent_id);

-- Disclosure on a statutory ground instead of consent.
CREATE TABLE consent.basis (
  id                   uuid PRIMARY KEY,
  subject_id           uuid NOT NULL REFERENCES core.subject(id),
  basis                smallint NOT NULL,   -- kinnet.v1.LawfulBasis (not CONSENT/override)
  special_condition    smallint NOT NULL,   -- kinnet.v1.SpecialCategoryCondition
  recipient_agencies   uuid[] NOT NULL,
  recipient_sectors    smallint[] NOT NULL,
  categories           smallint[] NOT NULL,
  purposes             smallint[] NOT NULL,
  valid_from           timestamptz NOT NULL DEFAULT now(),
  valid_until          timestamptz,
  justification        bytea NOT NULL,      -- sealed (ad = id)
  recorded_by          uuid NOT NULL REFERENCES core.agency(id),
  recorded_at          timestamptz NOT NULL DEFAULT now(),
  ended_at             timestamptz
);
CREATE INDEX basis_subject ON consent.basis(subject_id);

-- Safeguarding override: sharing without or against consent for a child at risk.
CREATE TABLE consent.override (
  id                   uuid PRIMARY KEY,
  subject_id           uuid NOT NULL REFERENCES core.subject(id),
  reason               smallint NOT NULL,   -- kinnet.v1.OverrideReason
  details              bytea NOT NULL,      -- sealed (ad = id)
  approver_role        smallint NOT NULL,   -- kinnet.v1.ApproverRole
  approver_id          text NOT NULL,
  recipient_agencies   uuid[] NOT NULL,
  recipient_sectors    smallint[] NOT NULL,
  categories           smallint[] NOT NULL,
  expires_at           timestamptz NOT NULL,
  requested_by         uuid NOT NULL REFERENCES core.agency(id),
  requested_at         timestamptz NOT NULL DEFAULT now(),
  review_due_at        timestamptz NOT NULL,
  reviewed_at          timestamptz,
  review_decision      smallint,            -- kinnet.v1.ReviewDecision
  reviewed_by          uuid REFERENCES core.agency(id),
  review_notes         bytea                -- sealed (ad = id || ':review')
);
CREATE INDEX override_subject ON consent.override(subject_id);
CREATE INDEX override_open ON consent.override(review_due_at) WHERE reviewed_at IS NULL;

-- Idempotency ledger of consent writes, as intake's.
CREATE TABLE consent.idempotency (
  agency_id     uuid NOT NULL REFERENCES core.agency(id),
  key           text NOT NULL,
  operation     text NOT NULL,
  request_hash  bytea NOT NULL,
  object_id     uuid NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agency_id, key)
);

GRANT USAGE ON SCHEMA core TO kinnet_consent;
GRANT SELECT ON core.agency, core.agency_key, core.agency_role TO kinnet_consent, kinnet_intake;
GRANT SELECT, INSERT ON core.family, core.subject TO kinnet_consent;
GRANT UPDATE (birth_date) ON core.subject TO kinnet_consent, kinnet_intake;
GRANT INSERT ON core.outbox, core.audit TO kinnet_consent;
GRANT SELECT, INSERT ON core.disclosure TO kinnet_consent, kinnet_intake;
GRANT USAGE ON SEQUENCE core.outbox_id_seq, core.audit_id_seq, core.disclosure_id_seq
  TO kinnet_consent;
GRANT USAGE ON SEQUENCE core.disclosure_id_seq TO kinnet_intake;
-- The consent policy runs inside intake's transactions: intake reads consent state.
GRANT USAGE ON SCHEMA consent TO kinnet_consent, kinnet_intake;
GRANT SELECT ON ALL TABLES IN SCHEMA consent TO kinnet_consent, kinnet_intake;
GRANT INSERT ON consent.record, consent.withdrawal, consent.basis, consent.override,
  consent.idempotency TO kinnet_consent;
GRANT UPDATE (ended_at) ON consent.basis TO kinnet_consent;
GRANT UPDATE (reviewed_at, review_decision, reviewed_by, review_notes)
  ON consent.override TO kinnet_consent;
-- Intake's grants on the moved tables stay with the tables. Intake may read who
-- referred a family (consent standing).
GRANT USAGE ON SCHEMA intake TO kinnet_consent;
GRANT SELECT ON intake.referral, intake.referral_subject TO kinnet_consent;

-- One idempotency ledger shape for every service (kn_idempotency).
ALTER TABLE intake.idempotency RENAME COLUMN referral_id TO object_id;
