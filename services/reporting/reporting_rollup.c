/*  reporting_rollup: periodic recomputation of the report rollups' dirty days.
    The SQL (rollup.run, migration 0043) holds the argument; this file only holds
    the lock, the transaction and the thread. */
#include "reporting_rollup.h"

#include <czmq.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "kn_config.h"
#include "kn_log.h"

//  The job's session lock: 'KNROLLUP' in ASCII. Held for one pass only.
#define ROLLUP_LOCK "5426365101563991376"

int
reporting_rollup_run_once (kn_db_t *db, int max_days, int *days, kn_error_t *err)
{
    if (days)
        *days = 0;
    PGresult *locked =
        kn_db_query (db, "SELECT pg_try_advisory_lock (" ROLLUP_LOCK ")", 0, NULL, err);
    if (!locked)
        return -1;
    bool mine = PQntuples (locked) == 1 && strcmp (PQgetvalue (locked, 0, 0), "t") == 0;
    PQclear (locked);
    if (!mine)
        return 1;
    int rc = -1;
    char limit[16];
    snprintf (limit, sizeof limit, "%d", max_days);
    const char *values[] = {limit};
    PGresult *done = NULL;
    if (kn_db_exec (db, "BEGIN ISOLATION LEVEL REPEATABLE READ", err))
        goto out;
    done = kn_db_query (db, "SELECT rollup.run ($1::int)", 1, values, err);
    if (!done || kn_db_exec (db, "COMMIT", err)) {
        kn_error_t ignored;
        kn_db_exec (db, "ROLLBACK", &ignored);
        goto out;
    }
    int n = atoi (PQgetvalue (done, 0, 0));
    if (days)
        *days = n;
    rc = n < max_days ? 1 : 0;
out:
    PQclear (done);
    kn_error_t ignored;
    PQclear (kn_db_query (db, "SELECT pg_advisory_unlock (" ROLLUP_LOCK ")", 0, NULL,
                          &ignored));
    return rc;
}

//  -------------------------------------------------------------------------
//  The thread

struct _reporting_rollup_thread_t {
    int64_t every_ms;
    pthread_t thread;
    bool started;
};

static void *
s_run (void *arg)
{
    reporting_rollup_thread_t *self = arg;
    kn_error_t err;
    //  The primary: a standby cannot be written, and the rollups are read from it
    //  as every other table is, once replicated.
    kn_db_t *db = kn_db_new (kn_config_str ("KINNET_DATABASE_URL", ""),
                             kn_config_str ("KINNET_DB_ROLE", "kinnet_reporting"), &err);
    if (!db) {
        kn_log (KN_ERROR, "rollup.start_failed", "problem", err.message, NULL);
        return NULL; //  reports still answer, from raw rows
    }
    kn_log (KN_INFO, "rollup.started", NULL);
    while (!zsys_interrupted) {
        int days = 0;
        int64_t start = zclock_mono ();
        int rc = reporting_rollup_run_once (db, 31, &days, &err);
        if (rc < 0)
            kn_log (KN_ERROR, "rollup.failed", "problem", err.message, NULL);
        else if (days > 0) {
            char n[16], ms[24];
            snprintf (n, sizeof n, "%d", days);
            snprintf (ms, sizeof ms, "%lld", (long long)(zclock_mono () - start));
            kn_log (KN_INFO, "rollup.pass", "days", n, "ms", ms, NULL);
        }
        if (rc == 0)
            continue; //  more waiting
        for (int64_t slept = 0; slept < self->every_ms && !zsys_interrupted; slept += 100)
            zclock_sleep (100);
    }
    kn_db_destroy (&db);
    return NULL;
}

reporting_rollup_thread_t *
reporting_rollup_start (int64_t every_ms)
{
    reporting_rollup_thread_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->every_ms = every_ms;
    self->started = pthread_create (&self->thread, NULL, s_run, self) == 0;
    if (!self->started)
        reporting_rollup_stop (&self);
    return self;
}

void
reporting_rollup_stop (reporting_rollup_thread_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    reporting_rollup_thread_t *self = *self_p;
    zsys_interrupted = 1;
    if (self->started)
        pthread_join (self->thread, NULL);
    free (self);
    *self_p = NULL;
}
