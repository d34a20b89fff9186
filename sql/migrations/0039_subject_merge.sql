-- Merging two subjects known to be one person, and undoing a merge (issue 17). A DPO
-- merges subject B into subject A through the records service (records_merge.c):
--
--   * Everything about B moves to A: B's part of each referral naming B (and, where
--     B is the referred child, the rest of the referral), the consents, statutory
--     bases, safeguarding overrides and release requests about B, the legal holds on
--     B. Each sealed value is opened and sealed again under A's data key. What moved
--     is listed in core.subject_merge_row, so that an unmerge moves exactly that back.
--   * B stays as a row of core.subject with merged_into = A: a referral naming B's
--     identity (their blind index) finds A from then on. B's data key stays, sealing
--     only B's date of birth (a re-index needs it); erasing A erases B with it.
--   * The disclosure log and the audit trail are chained: their rows keep B's id, and
--     a subject export of A shows them under the merge.
--   * Families stay as they were: a referral keeps the family it was routed in.
--
-- A merge of a subject that already has others merged into it carries them along:
-- everyone merged into B is merged into A (kind 'alias' below), so merged_into never
-- names a subject that is itself merged.
ALTER TABLE core.subject
  ADD COLUMN merged_into uuid REFERENCES core.subject(id),
  ADD CONSTRAINT subject_merged_not_self CHECK (merged_into <> id);
CREATE INDEX subject_merged_into ON core.subject (merged_into) WHERE merged_into IS NOT NULL;

-- A split is the other way: a DPO finds that one subject is two people (two children
-- with the same name and date of birth, taken for one), names the records about the
-- other one, and those move to a new subject (split_from = the first), which no
-- identity finds (both people have the same one): a later referral still finds the
-- first, and the DPO splits again. A split is recorded as a merge of kind 'split':
-- subject_id the person split from, merged_id the new one, the rows it moved listed
-- the same way. The disclosures of the moved records stay in the chained log under
-- the first person's id, and a subject export shows them under the second.
ALTER TABLE core.subject ADD COLUMN split_from uuid REFERENCES core.subject(id);

CREATE TABLE core.subject_merge (
  id                 uuid PRIMARY KEY,
  kind               text NOT NULL DEFAULT 'merge' CHECK (kind IN ('merge', 'split')),
  subject_id         uuid NOT NULL REFERENCES core.subject(id),   -- A: who remains
  merged_id          uuid NOT NULL REFERENCES core.subject(id),   -- B: merged into A
  merged_by          uuid NOT NULL REFERENCES core.agency(id),
  merged_at          timestamptz NOT NULL DEFAULT now(),
  reference          text NOT NULL CHECK (reference ~ '^[A-Za-z0-9._/-]{1,64}$'),
  referrals          integer NOT NULL,   -- referral parts moved
  consents           integer NOT NULL,   -- consents, bases, overrides, release requests
  holds              integer NOT NULL,   -- legal holds moved
  unmerged_by        uuid REFERENCES core.agency(id),
  unmerged_at        timestamptz,
  unmerge_reference  text CHECK (unmerge_reference ~ '^[A-Za-z0-9._/-]{1,64}$'),
  CHECK (merged_id <> subject_id),
  CHECK ((unmerged_at IS NULL) = (unmerged_by IS NULL)),
  CHECK ((unmerged_at IS NULL) = (unmerge_reference IS NULL))
);
CREATE INDEX subject_merge_subject ON core.subject_merge (subject_id);
CREATE INDEX subject_merge_merged ON core.subject_merge (merged_id);

-- What one merge moved: a referral part (row_id the referral), a consent record, a
-- basis, an override, a release request, a hold, or a subject merged earlier into B.
CREATE TABLE core.subject_merge_row (
  merge_id  uuid NOT NULL REFERENCES core.subject_merge(id),
  kind      text NOT NULL CHECK (kind IN ('referral', 'consent', 'basis', 'override',
                                          'release', 'hold', 'alias')),
  row_id    uuid NOT NULL,
  PRIMARY KEY (merge_id, kind, row_id)
);

GRANT SELECT, INSERT, UPDATE (unmerged_by, unmerged_at, unmerge_reference)
  ON core.subject_merge TO kinnet_records;
GRANT SELECT, INSERT ON core.subject_merge_row TO kinnet_records;
GRANT SELECT (merged_into, family_id, split_from), UPDATE (merged_into) ON core.subject
  TO kinnet_records;
-- A split makes the second person (in a family of their own).
GRANT INSERT (id, family_id, blind_index, blind_index_version, split_from)
  ON core.subject TO kinnet_records;
GRANT INSERT ON core.family TO kinnet_records;
-- The rows a merge moves from one person to the other.
GRANT UPDATE (subject_id) ON intake.referral_subject, consent.record, consent.basis,
  consent.override, consent.release, core.legal_hold TO kinnet_records;
GRANT SELECT (referral_id, subject_id, position) ON intake.referral_subject
  TO kinnet_records;
-- Who received data from the records a split moves.
GRANT SELECT (object_id, ground_id) ON core.disclosure TO kinnet_records;
-- A split refuses to leave a release request behind the ground it asks about.
GRANT SELECT (ground_id) ON consent.release TO kinnet_records;
-- A hold's reason is sealed again under the receiving person's key.
GRANT UPDATE (reason) ON core.legal_hold TO kinnet_records;
-- Reports and exports show merges (never reasons: a merge has none, only a reference).
GRANT SELECT ON core.subject_merge, core.subject_merge_row TO kinnet_reporting;
