-- What each imported HSDS service offers, so that a re-import is a diff (issue 20).
--
-- Until now an import replaced an organization's needs, districts, languages and
-- capacity with what the file said, so one page of an export took away what the
-- other pages held. The import now keeps one row per service it has read; an
-- agency's directory columns and sets are recomputed from all of its stored
-- services in the import's transaction. A partial import upserts the services it
-- contains; only an organization's own record listing its services, or --prune on
-- a whole directory, removes stored services.
CREATE TABLE core.agency_directory_service (
  agency_id         uuid NOT NULL REFERENCES core.agency(id),
  service_id        text NOT NULL CHECK (length(service_id) BETWEEN 1 AND 200),
  active            boolean NOT NULL,
  needs             smallint[] NOT NULL DEFAULT '{}',  -- kinnet.v1.NeedCategory, sorted
  districts         text[] NOT NULL DEFAULT '{}',      -- district codes, file order
  languages         text[] NOT NULL DEFAULT '{}',      -- primary subtags, file order
  interpreters      boolean NOT NULL DEFAULT false,
  capacity          integer CHECK (capacity >= 0),     -- NULL: no counted limit
  last_seen_import  uuid NOT NULL,                     -- the import that last read it
  PRIMARY KEY (agency_id, service_id)
);

-- A directory agency --prune found missing from a whole directory: it accepts no
-- new cases, keeps its keys, roles and current cases, and is listed again by the
-- next import that names it. Never deleted: cases and the audit refer to it.
ALTER TABLE core.agency ADD COLUMN directory_status text NOT NULL DEFAULT 'listed'
  CONSTRAINT agency_directory_status CHECK (directory_status IN ('listed', 'withdrawn'));

GRANT SELECT, INSERT, UPDATE, DELETE ON core.agency_directory_service TO kinnet_admin;
-- The admin service updates agency columns one by one (0023): the import lists and
-- withdraws.
GRANT UPDATE (directory_status) ON core.agency TO kinnet_admin;
