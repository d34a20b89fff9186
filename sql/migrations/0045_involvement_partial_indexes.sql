-- The reports' indexes on when an offer was decided and when an involvement closed
-- (0043) held every involvement, the open ones under NULL: each offer routing made
-- paid two index insertions for entries no query reads (every query on these
-- columns asks for a range of times, which NULL is never in). Routing's insert of
-- the offer was its costliest statement (issue 19). Kept for the rows that have a
-- time; the planner still uses them for a range, which implies NOT NULL.
DROP INDEX routing.involvement_decided;
DROP INDEX routing.involvement_closed;
CREATE INDEX involvement_decided ON routing.involvement (decided_at)
  WHERE decided_at IS NOT NULL;
CREATE INDEX involvement_closed ON routing.involvement (closed_at)
  WHERE closed_at IS NOT NULL;
