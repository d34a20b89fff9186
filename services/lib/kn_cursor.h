/*  kn_cursor: read a table's rows in commit order, behind a durable position, so
    that no row is ever skipped. Ids come from a sequence and are not in commit
    order: a "last id seen" cursor skips a row whose transaction commits after a
    later id's. Every row carries its writing transaction's id (an xid8 column
    named xid), and the cursor reads, in (xid, id) order, only rows of transactions
    below a horizon: all of those are final (committed and visible, or never to be
    seen), and no new one can appear among them. The order is numeric, on the
    columns themselves (sorted as text, "1000" comes before "999").

    The horizon (core.write_horizon, migration 0026) is not the oldest running
    transaction, which any open transaction anywhere in the cluster holds back (a
    forgotten BEGIN in psql stopped routing and sealing): it is the oldest running
    transaction that may write these tables, or the snapshot's xmax if none does.
    Every writer of core.outbox, core.audit and core.disclosure announces itself
    before it has an xid: core.begin_write () takes advisory lock K shared until the
    end of the transaction and refuses once there is an xid (kn_db_begin_write does
    both in the BEGIN's round trip); triggers refuse a row from a transaction that
    has an xid and did not (a statement that is its transaction's first write
    announces it itself). So an xid running in the snapshot whose holder, in one read
    of pg_locks, holds its own xid lock and neither holds nor waits for K never wrote
    a row here and never will: the horizon passes it. Why one read, and why the
    holder's xid lock and not its mere absence from the list:
    - An ending transaction releases its xid lock before K (ProcReleaseLocks: the
      default lock method, then the advisory one), and pg_locks reads the whole lock
      table under all its partition locks. So a writer's xid lock is never seen
      without its K, even at the instant it ends; two reads could see the xid lock
      before it ended and no K after.
    - A transaction that ended after the snapshot has no xid lock any more: its rows
      are committed but not in the snapshot, so it holds the horizon.
    - Only the owner holds ExclusiveLock on its xid (waiters ask ShareLock and get it
      only once the owner has gone), so a waiter cannot vouch for an ended writer.
    - Prepared transactions (pid NULL) hold the horizon; where they can exist
      (max_prepared_transactions > 0) their locks move one partition at a time, so
      then nothing counts as harmless and the horizon is the old one.
    - pg_locks names 32-bit xids; the snapshot's are xid8. They are matched on the
      low 32 bits, which no two xids running at the same time share (they lie within
      2^31 of each other, or the server stops assigning them).
    - The caller's own xid is a horizon too: its rows are not committed.
    The triggers tell K taken by core.begin_write () from K taken by hand after the
    xid by the mark it sets with K (kinnet.write_begun, naming the transaction;
    undone with K when a savepoint rolls back), which is cheap, where reading
    pg_locks costs some 200 us and every lock partition's lock on every write. Only a
    transaction that forges that mark and takes K by hand could write unseen.
    Where the position is kept is the caller's business (routing.cursor, the audit
    chain's head), so it commits with the work done for the rows read.
    Used by routing's outbox consumer and reporting's audit sealer. */
#ifndef KN_CURSOR_H_INCLUDED
#define KN_CURSOR_H_INCLUDED

#include "kn_db.h"
#include "kn_error.h"

//  Prepare statement `name` reading `table` (with alias, e.g. "core.outbox o"):
//  each row is its xid as text, then `columns` (constant SQL naming the alias,
//  e.g. "o.id, o.topic"). The table must have columns xid (xid8) and id (bigint).
int kn_cursor_prepare (kn_db_t *db, const char *name, const char *table,
                       const char *alias, const char *columns, kn_error_t *err);

//  The same where the position is read by the statement itself: `position` is
//  constant SQL giving one row (xid8, bigint), e.g. the caller's cursor row, and
//  the statement's one parameter is the limit. A caller that locks its cursor row
//  can send this read in the same round trip as the lock (kn_db_run_each): run
//  after it, it reads the position the lock now guards.
int kn_cursor_prepare_at (kn_db_t *db, const char *name, const char *table,
                          const char *alias, const char *columns, const char *position,
                          kn_error_t *err);

//  Up to limit rows after position (xid as text, id as text): the result
//  (PQclear it) or NULL with err set.
PGresult *kn_cursor_next (kn_db_t *db, const char *name, const char *xid, const char *id,
                          int limit, kn_error_t *err);

#endif
