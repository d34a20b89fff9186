-- Routing, second step: a ledger of the outbox events routing has handled, so that
-- an event delivered again (a cursor moved back by hand, a restore) changes nothing
-- and tells nobody twice; indexes for fair rotation and referral withdrawal.

CREATE TABLE routing.consumed (
  outbox_id    bigint PRIMARY KEY,
  consumed_at  timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT ON routing.consumed TO kinnet_routing;

-- Rotation ranks by each agency's latest offer.
CREATE INDEX involvement_agency_offered ON routing.involvement (agency_id, offered_at);
-- A withdrawn referral's needs.
CREATE INDEX need_referral ON routing.need (referral_id);
