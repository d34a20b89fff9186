/*  reporting_rollup: the rollup job. Keeps the report rollups (sql migration 0043)
    current: each pass recomputes, from raw rows, the days whose rows changed since
    they were last rolled up (the marks the write triggers leave), in one REPEATABLE
    READ transaction on the primary, and deletes the marks it saw. A mark committed
    after the pass's snapshot stays for the next pass, so nothing is skipped; a day
    is recomputed whole, never added to, so nothing counts twice; a pass killed at
    any point (kill -9 too) leaves its transaction undone and its marks in place.
    Only one pass runs at a time in the cluster (a session advisory lock): another
    reporting daemon's job skips while one holds it. A pass is _run_once; _start
    runs passes on a thread of its own, with its own session, until zsys_interrupted. */
#ifndef REPORTING_ROLLUP_H_INCLUDED
#define REPORTING_ROLLUP_H_INCLUDED

#include <stdint.h>

#include "kn_db.h"
#include "kn_error.h"

//  One pass on db (the primary, role kinnet_reporting), recomputing up to max_days
//  marked days. 0 when more marks are waiting, 1 when the rollups have caught up (or
//  another job holds the lock), -1 on failure (err says why; call again later).
//  *days (may be NULL): the days recomputed.
int reporting_rollup_run_once (kn_db_t *db, int max_days, int *days, kn_error_t *err);

//  Run passes on a thread of its own, sleeping every_ms when caught up, until
//  zsys_interrupted is set. _stop sets it, joins, and nulls *self_p.
typedef struct _reporting_rollup_thread_t reporting_rollup_thread_t;
reporting_rollup_thread_t *reporting_rollup_start (int64_t every_ms);
void reporting_rollup_stop (reporting_rollup_thread_t **self_p);

#endif
