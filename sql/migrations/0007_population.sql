-- Population figures for equity reporting (kinnet admin population import): the
-- number of children living in each district, by year. Aggregates only, loaded by
-- an administrator from published statistics.

CREATE TABLE core.population (
  district  text NOT NULL CHECK (length(district) BETWEEN 1 AND 64),
  year      integer NOT NULL CHECK (year BETWEEN 1900 AND 2200),
  children  integer NOT NULL CHECK (children >= 0),
  loaded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (district, year)
);
GRANT SELECT ON core.population TO kinnet_reporting;

-- Reports select referrals by the time they were received.
CREATE INDEX referral_received ON intake.referral (received_at);
