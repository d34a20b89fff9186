-- Events the routing consumer skipped. Before this release it ordered its reads by
-- the text of the transaction id (a bare "xid" in ORDER BY named its xid::text
-- output column), so "1000" came before "999": when events waiting to be routed
-- crossed a power of ten (a routing restart, a burst), the later ones were taken
-- first and the cursor passed the earlier ones, which were never routed.
--
-- Move the cursor back to just before the earliest event for routing that is at or
-- behind it and was never handled (routing.consumed is the ledger of handled ones).
-- Everything after it is delivered again; what was handled already is a no-op, as
-- for any redelivery. Where nothing was skipped the cursor does not move.
UPDATE routing.cursor c
   SET last_xid = e.xid, last_id = e.id - 1
  FROM (SELECT o.xid, o.id
          FROM core.outbox o, routing.cursor k
         WHERE k.consumer = 'routing'
           AND (o.xid, o.id) <= (k.last_xid, k.last_id)
           AND o.topic IN ('referral.received', 'referral.withdrawn',
                           'consent.recorded', 'consent.withdrawn')
           AND NOT EXISTS (SELECT 1 FROM routing.consumed d WHERE d.outbox_id = o.id)
         ORDER BY o.xid, o.id
         LIMIT 1) e
 WHERE c.consumer = 'routing';
