-- Scopes cannot widen behind the family's back (issue 14). A consent, basis or
-- override naming a sector covers the agencies of that sector when it was recorded,
-- and only while they stay in it: an agency added later, or one whose sector is
-- changed to it (by hand or by a directory import), gains nothing under it. The
-- members are kept with the grant; grants recorded before this release take the
-- agencies in those sectors now, the best that is known.

-- kinnet.v1.AgencySector: the enum's numbers and the names core.agency.sector holds.
CREATE TABLE core.sector (
  value  smallint PRIMARY KEY,
  name   text NOT NULL UNIQUE
);
INSERT INTO core.sector (value, name) VALUES
  (1, 'school'), (2, 'early_years'), (3, 'social_services'), (4, 'health'),
  (5, 'mental_health'), (6, 'housing'), (7, 'ngo_community'), (8, 'police_youth_justice'),
  (9, 'disability_services'), (10, 'migration_services'), (11, 'income_support'),
  (12, 'local_authority');

ALTER TABLE consent.record ADD COLUMN sector_members uuid[] NOT NULL DEFAULT '{}';
ALTER TABLE consent.basis ADD COLUMN sector_members uuid[] NOT NULL DEFAULT '{}';
ALTER TABLE consent.override ADD COLUMN sector_members uuid[] NOT NULL DEFAULT '{}';
UPDATE consent.record g SET sector_members = coalesce ((SELECT array_agg (a.id)
  FROM core.agency a JOIN core.sector s ON s.name = a.sector
  WHERE s.value = ANY (g.recipient_sectors)), '{}') WHERE cardinality (g.recipient_sectors) > 0;
UPDATE consent.basis g SET sector_members = coalesce ((SELECT array_agg (a.id)
  FROM core.agency a JOIN core.sector s ON s.name = a.sector
  WHERE s.value = ANY (g.recipient_sectors)), '{}') WHERE cardinality (g.recipient_sectors) > 0;
UPDATE consent.override g SET sector_members = coalesce ((SELECT array_agg (a.id)
  FROM core.agency a JOIN core.sector s ON s.name = a.sector
  WHERE s.value = ANY (g.recipient_sectors)), '{}') WHERE cardinality (g.recipient_sectors) > 0;

GRANT SELECT ON core.sector TO kinnet_intake, kinnet_consent, kinnet_routing, kinnet_reporting;
