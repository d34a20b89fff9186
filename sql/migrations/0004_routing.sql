-- Case routing: the agency directory (what each agency offers, where, in which
-- languages, with what capacity; each district's child-protection lead), the
-- routing rules as data, cases with the team around the family, offers and
-- involvements, and each agency's ordered feed.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kinnet_routing') THEN
    CREATE ROLE kinnet_routing NOLOGIN;
  END IF;
END $$;

-- Outbox consumers read in commit-safe order: every row carries the id of the
-- transaction that wrote it. Rows of transactions older than the oldest one still
-- running (pg_snapshot_xmin) are all visible and no new ones can appear among them,
-- so a cursor over (xid, id) never skips a row that commits late.
ALTER TABLE core.outbox ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id ();
CREATE INDEX outbox_xid ON core.outbox (xid, id);

-- Directory. An agency's own district is always in its catchment; agency_district
-- adds the others it serves. capacity NULL: no limit on open involvements.
ALTER TABLE core.agency
  ADD COLUMN directory_id text UNIQUE CHECK (length(directory_id) BETWEEN 1 AND 200),
  ADD COLUMN accepting    boolean NOT NULL DEFAULT true,
  ADD COLUMN capacity     integer CHECK (capacity >= 0),
  ADD COLUMN interpreters boolean NOT NULL DEFAULT false;

CREATE TABLE core.agency_need (
  agency_id  uuid NOT NULL REFERENCES core.agency(id),
  need       smallint NOT NULL CHECK (need BETWEEN 1 AND 100),   -- kinnet.v1.NeedCategory
  PRIMARY KEY (agency_id, need)
);
CREATE INDEX agency_need_need ON core.agency_need (need);

CREATE TABLE core.agency_district (
  agency_id  uuid NOT NULL REFERENCES core.agency(id),
  district   text NOT NULL CHECK (length(district) BETWEEN 1 AND 64),
  PRIMARY KEY (agency_id, district)
);
CREATE INDEX agency_district_district ON core.agency_district (district);

-- Primary language subtags, lower case ("ar", "uk").
CREATE TABLE core.agency_language (
  agency_id  uuid NOT NULL REFERENCES core.agency(id),
  language   text NOT NULL CHECK (language ~ '^[a-z]{2,8}$'),
  PRIMARY KEY (agency_id, language)
);

CREATE TABLE core.district (
  code                   text PRIMARY KEY CHECK (length(code) BETWEEN 1 AND 64),
  name                   text,
  child_protection_lead  uuid REFERENCES core.agency(id)
);

CREATE SCHEMA routing;

-- The routing rules, as data (kinnet admin routing show|set). Values are checked
-- by the admin command and again by the service when it reads them.
CREATE TABLE routing.setting (
  key         text PRIMARY KEY,
  value       text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO routing.setting (key, value) VALUES
  ('rank.order', 'continuity,language,headroom,rotation'),
  ('deadline.routine', '10 days'),
  ('deadline.priority', '3 days'),
  ('deadline.urgent', '1 day'),
  ('deadline.emergency_safeguarding', '1 hour'),
  ('emergency.to_district_lead', 'true'),
  ('escalate.to_district_lead_from', 'urgent');

-- Durable cursors of outbox consumers.
CREATE TABLE routing.cursor (
  consumer  text PRIMARY KEY,
  last_xid  xid8 NOT NULL,
  last_id   bigint NOT NULL
);
INSERT INTO routing.cursor VALUES ('routing', '0'::xid8, 0);

-- One open case per family; siblings share it.
CREATE TABLE routing.case (
  id                  uuid PRIMARY KEY,
  family_id           uuid NOT NULL REFERENCES core.family(id),
  status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  district            text NOT NULL,
  languages           text[] NOT NULL,
  urgency             smallint NOT NULL,          -- highest of its referrals
  lead_agency_id      uuid REFERENCES core.agency(id),
  lead_caseworker_id  text CHECK (length(lead_caseworker_id) <= 128),
  lead_since          timestamptz,
  opened_at           timestamptz NOT NULL,
  closed_at           timestamptz
);
CREATE UNIQUE INDEX case_open_family ON routing.case (family_id) WHERE status = 'open';

-- A referral is routed once: this row is written in the transaction that routes it.
CREATE TABLE routing.case_referral (
  referral_id          uuid PRIMARY KEY,
  case_id              uuid NOT NULL REFERENCES routing.case(id),
  referring_agency_id  uuid NOT NULL REFERENCES core.agency(id),
  routed_at            timestamptz NOT NULL
);
CREATE INDEX case_referral_case ON routing.case_referral (case_id);

CREATE TABLE routing.need (
  id           uuid PRIMARY KEY,
  case_id      uuid NOT NULL REFERENCES routing.case(id),
  referral_id  uuid NOT NULL,
  category     smallint NOT NULL,                 -- kinnet.v1.NeedCategory
  urgency      smallint NOT NULL,
  status       text NOT NULL CHECK (status IN ('offered', 'placed', 'unplaced',
                                               'withdrawn', 'closed')),
  created_at   timestamptz NOT NULL,
  unplaced_at  timestamptz
);
CREATE INDEX need_case ON routing.need (case_id);
CREATE INDEX need_unplaced ON routing.need (created_at) WHERE status = 'unplaced';

-- An offer and, once accepted, the agency's involvement with the family. A declined,
-- expired or withdrawn offer stays as history; the next candidate gets a new row.
CREATE TABLE routing.involvement (
  id                   uuid PRIMARY KEY,
  case_id              uuid NOT NULL REFERENCES routing.case(id),
  need_id              uuid NOT NULL REFERENCES routing.need(id),
  agency_id            uuid NOT NULL REFERENCES core.agency(id),
  status               text NOT NULL CHECK (status IN ('offered', 'accepted', 'declined',
                         'expired', 'withdrawn', 'transferred', 'closed')),
  rank                 integer NOT NULL,
  ranked_by            bytea NOT NULL,            -- packed kinnet.v1.Ranking
  waiting_for_consent  boolean NOT NULL,
  offered_at           timestamptz NOT NULL,
  deadline_at          timestamptz NOT NULL,
  decided_at           timestamptz,
  decline_reason       smallint,                  -- kinnet.v1.DeclineReason
  caseworker_id        text CHECK (length(caseworker_id) <= 128),
  first_contact_at     timestamptz,
  closed_at            timestamptz,
  outcome              smallint,                  -- kinnet.v1.Outcome
  transferred_from     uuid REFERENCES routing.involvement(id),
  transfer_reason      smallint,                  -- kinnet.v1.TransferReason
  transferred_to       uuid REFERENCES core.agency(id)
);
CREATE INDEX involvement_case ON routing.involvement (case_id);
CREATE INDEX involvement_need ON routing.involvement (need_id);
CREATE INDEX involvement_agency_open ON routing.involvement (agency_id)
  WHERE status IN ('offered', 'accepted');
CREATE INDEX involvement_deadline ON routing.involvement (deadline_at) WHERE status = 'offered';
-- At most one open offer or involvement per need.
CREATE UNIQUE INDEX involvement_need_open ON routing.involvement (need_id)
  WHERE status IN ('offered', 'accepted');

-- Each agency's feed: events addressed to it, numbered 1, 2, ... per agency. The
-- head row is locked by the writer until commit, so numbers become visible in order.
CREATE TABLE routing.feed_head (
  agency_id  uuid PRIMARY KEY REFERENCES core.agency(id),
  last_seq   bigint NOT NULL
);
CREATE TABLE routing.feed (
  agency_id   uuid NOT NULL REFERENCES core.agency(id),
  seq         bigint NOT NULL,
  topic       text NOT NULL,
  case_id     uuid,
  payload     bytea NOT NULL,                     -- packed kinnet.v1.FeedEvent
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agency_id, seq)
);
CREATE FUNCTION routing.notify_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('kinnet_feed', '');
  RETURN NULL;
END $$;
CREATE TRIGGER feed_appended AFTER INSERT ON routing.feed
  FOR EACH STATEMENT EXECUTE FUNCTION routing.notify_feed();

CREATE TABLE routing.idempotency (
  agency_id     uuid NOT NULL REFERENCES core.agency(id),
  key           text NOT NULL,
  operation     text NOT NULL,
  request_hash  bytea NOT NULL,
  object_id     uuid NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agency_id, key)
);

GRANT USAGE ON SCHEMA core TO kinnet_routing;
GRANT SELECT ON core.agency, core.agency_key, core.agency_role, core.agency_need,
  core.agency_district, core.agency_language, core.district, core.family, core.subject,
  core.outbox TO kinnet_routing;
GRANT SELECT ON core.agency_need, core.agency_district, core.agency_language, core.district
  TO kinnet_intake, kinnet_consent;
-- The consent policy share-locks the subject row (FOR SHARE needs an UPDATE grant).
GRANT UPDATE (birth_date) ON core.subject TO kinnet_routing;
GRANT INSERT ON core.outbox, core.audit TO kinnet_routing;
GRANT USAGE ON SEQUENCE core.outbox_id_seq, core.audit_id_seq TO kinnet_routing;
GRANT USAGE ON SCHEMA consent, intake TO kinnet_routing;
GRANT SELECT ON ALL TABLES IN SCHEMA consent TO kinnet_routing;
GRANT SELECT ON intake.referral, intake.referral_subject TO kinnet_routing;
GRANT USAGE ON SCHEMA routing TO kinnet_routing;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA routing TO kinnet_routing;
-- Intake and consent read case membership to decide who may see what.
GRANT USAGE ON SCHEMA routing TO kinnet_intake, kinnet_consent;
GRANT SELECT ON routing.case, routing.involvement TO kinnet_intake, kinnet_consent;
