-- A deadline for first contact: once an agency accepts, it has a time (by urgency,
-- as data) to make first contact with the family; past it, routing escalates once.

ALTER TABLE routing.involvement
  ADD COLUMN contact_due_at        timestamptz,
  ADD COLUMN contact_escalated_at  timestamptz;
CREATE INDEX involvement_contact_due ON routing.involvement (contact_due_at)
  WHERE status = 'accepted' AND first_contact_at IS NULL AND contact_escalated_at IS NULL;

INSERT INTO routing.setting (key, value) VALUES
  ('contact.routine', '10 days'),
  ('contact.priority', '5 days'),
  ('contact.urgent', '2 days'),
  ('contact.emergency_safeguarding', '4 hours')
ON CONFLICT (key) DO NOTHING;
