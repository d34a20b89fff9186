-- Rectification (issue 17, GDPR Art. 16): a DPO corrects a person's name or date of
-- birth through the records service (records_rectify.c). Their referral parts are
-- sealed again with the correction and their blind index and date of birth replaced;
-- each correction is recorded here: which fields (names only, never values), when,
-- on whose decision and under which reference.
CREATE TABLE core.rectification (
  id            uuid PRIMARY KEY,
  subject_id    uuid NOT NULL REFERENCES core.subject(id),
  fields        text[] NOT NULL CHECK (cardinality (fields) BETWEEN 1 AND 3
                  AND fields <@ ARRAY['given_name', 'family_name', 'date_of_birth']),
  referrals     integer NOT NULL,     -- referral parts sealed again
  rectified_by  uuid NOT NULL REFERENCES core.agency(id),
  rectified_at  timestamptz NOT NULL DEFAULT now(),
  reference     text NOT NULL CHECK (reference ~ '^[A-Za-z0-9._/-]{1,64}$')
);
CREATE INDEX rectification_subject ON core.rectification (subject_id);

GRANT SELECT, INSERT ON core.rectification TO kinnet_records;
GRANT SELECT ON core.rectification TO kinnet_reporting;
-- The newest referral part says the person's identity now.
GRANT SELECT (received_at) ON intake.referral TO kinnet_records;
-- The version a person's index is under: a correction keeps it (a re-index moves it).
GRANT SELECT (blind_index_version) ON core.subject TO kinnet_records;
