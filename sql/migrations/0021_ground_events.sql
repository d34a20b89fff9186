-- A ground that ends is announced (issue 14): when a consent, statutory basis or
-- safeguarding override expires, every agency that received data under it is told
-- and offers it released go back to waiting for consent; an override whose review is
-- overdue is escalated to every data-protection officer and the district's
-- child-protection lead. Routing does each once; this is its ledger. Grounds that
-- ended before this release are taken as announced.
CREATE TABLE routing.ground_event (
  ground_id   uuid NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('expired', 'review_overdue')),
  handled_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ground_id, kind)
);
INSERT INTO routing.ground_event (ground_id, kind)
  SELECT id, 'expired' FROM consent.record WHERE valid_until <= now()
  UNION ALL SELECT id, 'expired' FROM consent.basis WHERE valid_until <= now()
  UNION ALL SELECT id, 'expired' FROM consent.override WHERE expires_at <= now()
  UNION ALL SELECT id, 'review_overdue' FROM consent.override
    WHERE review_due_at <= now() AND reviewed_at IS NULL;
CREATE INDEX override_expires ON consent.override (expires_at);
CREATE INDEX basis_until ON consent.basis (valid_until);
GRANT SELECT, INSERT ON routing.ground_event TO kinnet_routing;
GRANT SELECT ON core.disclosure TO kinnet_routing;
