-- The controller decides (issue 14). Every personal datum has a controller: the
-- agency that supplied it (a referral's referrer; a consent's recorder for the
-- guardian's details). A ground (consent, statutory basis, safeguarding override)
-- releases a controller's data only when the controller recorded it, a
-- data-protection officer recorded it, or the controller (or a DPO) approved a
-- release request for it. Before this release the policy counted every ground that
-- named the reader, whoever recorded it: an agency could grant itself another
-- agency's data.

-- Whether the recorder held the data_protection_officer role when it recorded the
-- ground: a role granted later does not reach back.
ALTER TABLE consent.record ADD COLUMN by_dpo boolean NOT NULL DEFAULT false;
ALTER TABLE consent.basis ADD COLUMN by_dpo boolean NOT NULL DEFAULT false;
ALTER TABLE consent.override ADD COLUMN by_dpo boolean NOT NULL DEFAULT false;

-- A request by a recipient that a controller let a ground release its data, and
-- the controller's (or a DPO's) decision. Approved rows are what the policy reads.
CREATE TABLE consent.release (
  id               uuid PRIMARY KEY,
  ground_id        uuid NOT NULL,       -- consent.record, consent.basis or consent.override
  ground_kind      smallint NOT NULL CHECK (ground_kind BETWEEN 1 AND 3),  -- kinnet.v1.GroundKind
  subject_id       uuid NOT NULL REFERENCES core.subject(id),
  controller_id    uuid NOT NULL REFERENCES core.agency(id),
  requested_by     uuid NOT NULL REFERENCES core.agency(id),
  requested_at     timestamptz NOT NULL DEFAULT now(),
  request_reason   bytea NOT NULL,      -- sealed (ad = id)
  status           smallint NOT NULL DEFAULT 1 CHECK (status BETWEEN 1 AND 3),  -- kinnet.v1.ReleaseStatus
  decided_by       uuid REFERENCES core.agency(id),
  decided_by_dpo   boolean NOT NULL DEFAULT false,
  decided_at       timestamptz,
  decision_reason  bytea,               -- sealed (ad = id || ':decision')
  CHECK ((status = 1) = (decided_at IS NULL))
);
CREATE INDEX release_ground ON consent.release(ground_id, controller_id) WHERE status = 2;
CREATE INDEX release_controller ON consent.release(controller_id, requested_at);
CREATE INDEX release_requester ON consent.release(requested_by, requested_at);
-- One open request per ground, controller and requester: asking again answers the first.
CREATE UNIQUE INDEX release_open ON consent.release(ground_id, controller_id, requested_by)
  WHERE status = 1;

GRANT SELECT, INSERT ON consent.release TO kinnet_consent;
GRANT UPDATE (status, decided_by, decided_by_dpo, decided_at, decision_reason)
  ON consent.release TO kinnet_consent;
GRANT SELECT ON consent.release TO kinnet_intake, kinnet_routing, kinnet_reporting;
