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

-- The team around the family, counted on the case as it changes: how many needs it
-- has, how many agencies ever took one on, how many involvements are accepted now.
-- Kept by triggers, so no write path can forget them.
ALTER TABLE routing.case
  ADD COLUMN needs_count     integer NOT NULL DEFAULT 0,
  ADD COLUMN agencies_count  integer NOT NULL DEFAULT 0,
  ADD COLUMN accepted_now    integer NOT NULL DEFAULT 0;

UPDATE routing.case c SET
  needs_count = (SELECT count (*) FROM routing.need n WHERE n.case_id = c.id),
  agencies_count = (SELECT count (DISTINCT i.agency_id) FROM routing.involvement i
                    WHERE i.case_id = c.id AND i.status IN ('accepted', 'closed', 'transferred')),
  accepted_now = (SELECT count (*) FROM routing.involvement i
                  WHERE i.case_id = c.id AND i.status = 'accepted');

CREATE FUNCTION routing.count_need () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE routing.case SET needs_count = needs_count + 1 WHERE id = NEW.case_id;
  RETURN NULL;
END $$;
CREATE TRIGGER need_counted AFTER INSERT ON routing.need
  FOR EACH ROW EXECUTE FUNCTION routing.count_need ();

CREATE FUNCTION routing.count_involvement () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'accepted' AND OLD.status <> 'accepted' THEN
    UPDATE routing.case SET accepted_now = accepted_now + 1,
      agencies_count = agencies_count + CASE WHEN EXISTS (SELECT 1 FROM routing.involvement i
        WHERE i.case_id = NEW.case_id AND i.agency_id = NEW.agency_id AND i.id <> NEW.id
        AND i.status IN ('accepted', 'closed', 'transferred')) THEN 0 ELSE 1 END
    WHERE id = NEW.case_id;
  ELSIF OLD.status = 'accepted' AND NEW.status <> 'accepted' THEN
    UPDATE routing.case SET accepted_now = accepted_now - 1 WHERE id = NEW.case_id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER involvement_counted AFTER UPDATE OF status ON routing.involvement
  FOR EACH ROW EXECUTE FUNCTION routing.count_involvement ();
