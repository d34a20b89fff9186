-- What became of each need, kept on the need as it happens (the routing service
-- writes these in the transaction of the offer, the acceptance and the first
-- contact), so the timeliness report reads one table instead of summing up every
-- offer of every need.

ALTER TABLE routing.need
  ADD COLUMN first_offered_at   timestamptz,
  ADD COLUMN first_deadline_at  timestamptz,
  ADD COLUMN accepted_at        timestamptz,
  ADD COLUMN first_contact_at   timestamptz;

UPDATE routing.need nd SET
  first_offered_at = t.first_offered, first_deadline_at = t.first_deadline,
  accepted_at = t.accepted_at, first_contact_at = t.contact_at
FROM (SELECT i.need_id, min (i.offered_at) AS first_offered,
             (array_agg (i.deadline_at ORDER BY i.offered_at))[1] AS first_deadline,
             min (i.decided_at) FILTER (WHERE i.status IN ('accepted', 'closed', 'transferred'))
               AS accepted_at,
             min (i.first_contact_at) AS contact_at
      FROM routing.involvement i GROUP BY i.need_id) t
WHERE t.need_id = nd.id;

CREATE INDEX need_created ON routing.need (created_at);
CREATE INDEX case_opened ON routing.case (opened_at);
CREATE INDEX involvement_offered ON routing.involvement (offered_at);
