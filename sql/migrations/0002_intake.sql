-- Intake: referrals, the subjects they name (matched by blind index only) and the
-- idempotency ledger. Personal data lives only in sealed (AEAD) columns.

CREATE SCHEMA IF NOT EXISTS intake;

CREATE TABLE intake.family (
  id          uuid PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per known child. blind_index = keyed BLAKE2b of normalised given name,
-- family name and date of birth; clear text is never stored or compared here.
CREATE TABLE intake.subject (
  id           uuid PRIMARY KEY,
  family_id    uuid NOT NULL REFERENCES intake.family(id),
  blind_index  bytea NOT NULL UNIQUE CHECK (length(blind_index) = 32),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subject_family ON intake.subject(family_id);

CREATE TABLE intake.referral (
  id                   uuid PRIMARY KEY,
  referring_agency_id  uuid NOT NULL REFERENCES core.agency(id),
  family_id            uuid NOT NULL REFERENCES intake.family(id),
  status               text NOT NULL DEFAULT 'received'
                       CHECK (status IN ('received', 'withdrawn')),
  urgency              smallint NOT NULL,       -- kinnet.v1.Urgency
  district             text NOT NULL,
  needs                smallint[] NOT NULL,     -- kinnet.v1.NeedCategory values
  languages            text[] NOT NULL,
  children             smallint NOT NULL,
  family_matched       boolean NOT NULL,
  lawful_basis         smallint NOT NULL,       -- kinnet.v1.LawfulBasis
  personal             bytea NOT NULL,          -- sealed SubmitReferral, ad = id
  key_version          smallint NOT NULL DEFAULT 1,
  received_at          timestamptz NOT NULL DEFAULT now(),
  withdrawn_at         timestamptz,
  withdraw_reason      bytea                    -- sealed, ad = id || ':withdraw'
);
CREATE INDEX referral_family ON intake.referral(family_id);
CREATE INDEX referral_agency ON intake.referral(referring_agency_id, received_at);

CREATE TABLE intake.referral_subject (
  referral_id  uuid NOT NULL REFERENCES intake.referral(id),
  subject_id   uuid NOT NULL REFERENCES intake.subject(id),
  role         text NOT NULL CHECK (role IN ('child', 'sibling')),
  PRIMARY KEY (referral_id, subject_id)
);

-- Every write request's idempotency key, per agency: a retry finds its first
-- answer here; the same key with other content is a conflict.
CREATE TABLE intake.idempotency (
  agency_id     uuid NOT NULL REFERENCES core.agency(id),
  key           text NOT NULL,
  operation     text NOT NULL CHECK (operation IN ('submit', 'withdraw')),
  request_hash  bytea NOT NULL,
  referral_id   uuid NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agency_id, key)
);

GRANT USAGE ON SCHEMA intake TO kinnet_intake;
GRANT SELECT, INSERT ON intake.family, intake.subject, intake.referral_subject,
  intake.idempotency TO kinnet_intake;
GRANT SELECT, INSERT ON intake.referral TO kinnet_intake;
GRANT UPDATE (status, withdrawn_at, withdraw_reason) ON intake.referral TO kinnet_intake;
