-- The outbox consumer is woken after the appending transaction has committed
-- (kn_db_wake_after_commit sends NOTIFY kinnet_outbox in a transaction of its own
-- that waits for no WAL flush), no longer by a trigger inside it. A pg_notify inside
-- the transaction made its COMMIT take PostgreSQL's cluster-wide NOTIFY lock and hold
-- it until the commit's WAL flush was on disk, so every commit that appended an event
-- queued behind the slowest flush of all of them: the tail of intake's latency
-- (docs/performance.md). The wake-up carries no data; a consumer also polls.
DROP TRIGGER outbox_appended ON core.outbox;
DROP FUNCTION core.notify_outbox ();
