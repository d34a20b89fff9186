-- A referral that rests on a consent is its referrer's decision to rely on that
-- consent (issue 14): the consent then counts for the referrer's data too, even when
-- another agency (the one the family talked to) recorded it. The id is no personal
-- data; it is kept in the clear so the consent policy can see the decision.
-- Referrals stored before this release have it only in their sealed part: their
-- referrers ask for a release (consent request_release) where they need one.
ALTER TABLE intake.referral ADD COLUMN consent_id uuid;
CREATE INDEX referral_consent ON intake.referral (consent_id) WHERE consent_id IS NOT NULL;
