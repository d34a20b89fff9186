/*  kn_cursor: read a table's rows in commit order, behind a durable position, so
    that no row is ever skipped. Ids come from a sequence and are not in commit
    order: a "last id seen" cursor skips a row whose transaction commits after a
    later id's. Every row carries its writing transaction's id (an xid8 column
    named xid), and the cursor reads, in (xid, id) order, only rows of transactions
    older than the oldest one still running (pg_snapshot_xmin): all of those are
    visible, and no new one can appear among them. The order is numeric, on the
    columns themselves (sorted as text, "1000" comes before "999").
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

//  Up to limit rows after position (xid as text, id as text): the result
//  (PQclear it) or NULL with err set.
PGresult *kn_cursor_next (kn_db_t *db, const char *name, const char *xid, const char *id,
                          int limit, kn_error_t *err);

#endif
