-- Matching tells the submitter nothing it did not know (issue 14, item 2). A
-- referral's reply, and its referrer's later reads of it, show the family and the
-- subjects it was matched to only when the referrer had standing with that family
-- before this referral: it had referred one of its members, recorded a consent,
-- basis or override about one of them, works with the family (an accepted
-- involvement), or holds the data-protection role. Referrals stored before this
-- release keep showing what they showed.
ALTER TABLE intake.referral ADD COLUMN family_disclosed boolean NOT NULL DEFAULT true;
