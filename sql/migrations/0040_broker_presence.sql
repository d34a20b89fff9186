-- Brokers side by side share one agency's allowance (issue 18). Each broker stamps
-- its row here every KINNET_BROKER_PRESENCE_MS and counts the brokers stamped within
-- three of those intervals; it then applies 1/N of the configured per-agency rate,
-- burst, queue and worker share, so an agency that spreads its requests over N
-- brokers gets what one broker alone would give it, not N times that. peers is the
-- count the broker applied when it last stamped (for operators and tests).
CREATE TABLE core.broker_presence (
  name     text PRIMARY KEY CHECK (length (name) BETWEEN 1 AND 200),
  seen_at  timestamptz NOT NULL,
  peers    integer NOT NULL CHECK (peers >= 1)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON core.broker_presence TO kinnet_broker;
