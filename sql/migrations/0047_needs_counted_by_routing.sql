-- routing.case.needs_count was kept by a row trigger on routing.need: one UPDATE of
-- the case per need inserted, with the case's own triggers after it. In routing's
-- profile following intake that UPDATE was 11 % of its statement time (issue 19),
-- and a case opened with two needs was written three times.
--
-- Routing is the only writer of routing.need (services/routing/routing_offer.c,
-- need_insert) and now keeps the count itself: a case is inserted with the needs
-- its first referral brings, and a referral that joins an open case adds the needs
-- it put on it in one UPDATE. The count means what it meant: the needs put on the
-- case (no role may delete a need). test_routing_batch checks it against count (*)
-- after each kind of referral.
DROP TRIGGER need_counted ON routing.need;
DROP FUNCTION routing.count_need ();
