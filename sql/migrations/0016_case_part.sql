-- A referral about a known family gives its referrer standing for its own
-- referral and what follows from it (the offers of its needs and who took them),
-- not for the rest of the case (issue 14, item 2). full_view is true when the
-- referral opened the case or its agency had standing with the family before it
-- (intake's family_disclosed); otherwise the referrer sees and hears only its part.
-- Links made before this release keep the view they had.
ALTER TABLE routing.case_referral ADD COLUMN full_view boolean NOT NULL DEFAULT true;
