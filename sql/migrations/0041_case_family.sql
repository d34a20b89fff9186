-- Routing ranks a need's candidates by continuity: whether an agency works or worked
-- with the family, on any of its cases, open or closed. Only open cases had an index
-- by family (case_open_family), so every offer scanned every case ever opened: a cost
-- that grew with the deployment's history (issue 19). Closed cases by family too.
CREATE INDEX case_family ON routing.case (family_id);
