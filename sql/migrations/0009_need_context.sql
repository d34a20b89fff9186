-- Each need carries its referral's district and referring agency (written with the
-- need), so reports break needs and offers down without joining every referral.

ALTER TABLE routing.need
  ADD COLUMN district             text,
  ADD COLUMN referring_agency_id  uuid REFERENCES core.agency(id);

UPDATE routing.need nd SET district = r.district, referring_agency_id = r.referring_agency_id
FROM intake.referral r WHERE r.id = nd.referral_id;
