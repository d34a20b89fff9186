/*  kn_db_pipeline: a transaction's statements sent without waiting for each answer
    (libpq pipeline mode), between kn_db_defer_begin and kn_db_defer_commit. A write
    (kn_db_do) is only sent; its answer is read with the next read's (kn_db_run sends
    the read and a flush request, then reads every answer up to its own) or with the
    COMMIT's. So writes whose results nobody reads cost no round trip of their own.
    The first failure is the one reported: the server skips every statement after
    it, and the caller rolls the transaction back. */
#include <stdio.h>
#include <stdlib.h>

#include "kn_db_int.h"

//  Read whatever is left up to the sync point: after a failure, each statement still
//  to come answers PGRES_PIPELINE_ABORTED, then a NULL. A dead connection answers
//  nothing: bounded.
static void
s_drain_to_sync (kn_db_t *self)
{
    for (int left = 2 * (MAX_DEFERRED + 4); left > 0; left--) {
        PGresult *result = PQgetResult (self->conn);
        bool sync = result && PQresultStatus (result) == PGRES_PIPELINE_SYNC;
        PQclear (result);
        if (sync || (!result && PQstatus (self->conn) != CONNECTION_OK))
            break;
    }
}

//  One statement's answer, then the NULL that ends it: 0 when it did what it should
//  (changed expect rows, unless expect < 0), else -1 with err. A read's answer is
//  kept in *keep, or its first value parsed into *integer, when they are given.
static int
s_read_one (kn_db_t *self, const char *name, long expect, PGresult **keep, int64_t *integer,
            kn_error_t *err)
{
    PGresult *result = PQgetResult (self->conn);
    if (!result)
        return kn_db_int_fail (self, NULL, err, name); // the connection went
    ExecStatusType status = PQresultStatus (result);
    int rc = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK
                 ? kn_db_int_check_rows (self, result, expect, name, err)
                 : kn_db_int_fail (self, result, err, name);
    if (rc == 0 && integer) {
        if (PQntuples (result) == 1 && PQnfields (result) == 1 && !PQgetisnull (result, 0, 0))
            *integer = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
        else
            rc = kn_error_set (err, KN_E_INTERNAL, NULL, "%s answered no single value", name);
    }
    if (rc == 0 && keep)
        *keep = result;
    else
        PQclear (result);
    PQclear (PQgetResult (self->conn));
    return rc;
}

//  Read the answers of the statements sent and not yet read, in order, up to the
//  first failure (what the server skipped after it is left for the sync point).
static int
s_collect (kn_db_t *self, kn_error_t *err)
{
    int rc = 0;
    for (int i = 0; i < self->deferred && rc == 0; i++)
        rc = s_read_one (self, self->deferred_names[i], self->deferred_expect[i],
                         self->deferred_keep[i], self->deferred_integer[i], err);
    self->deferred = 0;
    return rc;
}

//  Ask the server for the answers so far (it holds them until a flush or a sync).
static int
s_flush (kn_db_t *self, const char *name, kn_error_t *err)
{
    self->round_trips++;
    if (PQsendFlushRequest (self->conn) != 1 || PQflush (self->conn) != 0)
        return kn_db_int_fail (self, NULL, err, name);
    return 0;
}

//  Send a statement without waiting: prepared name, or sql when given (name then
//  only names it in errors). Its answer is read with the next read's or the
//  COMMIT's: checked against expect rows, and kept in *keep or its first value
//  parsed into *integer when they are given.
static int
s_defer (kn_db_t *self, const char *name, const char *sql, int nparams,
         const char *const *values, long expect, PGresult **keep, int64_t *integer,
         kn_error_t *err)
{
    //  Many statements and no read in between: read those so far first.
    if (self->deferred == MAX_DEFERRED && (s_flush (self, name, err) || s_collect (self, err)))
        return -1;
    int sent = sql ? PQsendQueryParams (self->conn, sql, nparams, NULL, values, NULL, NULL, 0)
                   : PQsendQueryPrepared (self->conn, name, nparams, values, NULL, NULL, 0);
    if (sent != 1)
        return kn_db_int_fail (self, NULL, err, name);
    int i = self->deferred++;
    self->deferred_names[i] = name;
    self->deferred_expect[i] = expect;
    self->deferred_keep[i] = keep;
    self->deferred_integer[i] = integer;
    if (keep)
        *keep = NULL;
    return 0;
}

int
kn_db_int_defer (kn_db_t *self, const char *name, int nparams, const char *const *values,
                 long expect_rows, kn_error_t *err)
{
    return s_defer (self, name, NULL, nparams, values, expect_rows, NULL, NULL, err);
}

int
kn_db_defer_read (kn_db_t *self, const char *name, int nparams, const char *const *values,
                  PGresult **answer, kn_error_t *err)
{
    *answer = NULL;
    if (!self->deferring)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "not in pipeline mode");
    return s_defer (self, name, NULL, nparams, values, -1, answer, NULL, err);
}

PGresult *
kn_db_int_pipelined_run (kn_db_t *self, const char *name, int nparams,
                         const char *const *values, const int *lengths, const int *formats,
                         kn_error_t *err)
{
    if (PQsendQueryPrepared (self->conn, name, nparams, values, lengths, formats, 0) != 1) {
        kn_db_int_fail (self, NULL, err, name);
        return NULL;
    }
    if (s_flush (self, name, err) || s_collect (self, err))
        return NULL; // the read is left for the sync point too
    PGresult *result = PQgetResult (self->conn);
    if (!result) {
        kn_db_int_fail (self, NULL, err, name);
        return NULL;
    }
    PQclear (PQgetResult (self->conn)); // the NULL that ends it
    return kn_db_int_answer (self, result, err, name);
}

int
kn_db_run_all (kn_db_t *self, size_t n, const char *const *names, int nparams,
               const char *const *values, PGresult **results, kn_error_t *err)
{
    kn_db_read_t reads[16];
    if (n > sizeof reads / sizeof reads[0])
        return kn_error_set (err, KN_E_INTERNAL, NULL, "too many reads in one round trip");
    for (size_t i = 0; i < n; i++)
        reads[i] = (kn_db_read_t) {names[i], nparams, values};
    return kn_db_run_each (self, n, reads, results, err);
}

int
kn_db_run_each (kn_db_t *self, size_t n, const kn_db_read_t *reads, PGresult **results,
                kn_error_t *err)
{
    for (size_t i = 0; i < n; i++)
        results[i] = NULL;
    //  Outside a pipeline, one for these alone, ended by a sync point.
    bool own = !self->deferring, synced = false;
    if (own && PQenterPipelineMode (self->conn) != 1)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "cannot enter pipeline mode");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (PQsendQueryPrepared (self->conn, reads[i].name, reads[i].nparams, reads[i].values,
                                 NULL, NULL, 0) != 1)
            rc = kn_db_int_fail (self, NULL, err, reads[i].name);
    if (rc == 0 && own) {
        self->round_trips++;
        rc = (synced = PQpipelineSync (self->conn) == 1) ? 0
                                                         : kn_db_int_fail (self, NULL, err, "sync");
    } else if (rc == 0)
        rc = s_flush (self, reads[0].name, err) ?: s_collect (self, err); // the writes before
    for (size_t i = 0; i < n && rc == 0; i++) {
        PGresult *result = PQgetResult (self->conn);
        if (result)
            PQclear (PQgetResult (self->conn)); // the NULL that ends it
        results[i] = result ? kn_db_int_answer (self, result, err, reads[i].name) : NULL;
        if (!result)
            kn_db_int_fail (self, NULL, err, reads[i].name);
        rc = results[i] ? 0 : -1;
    }
    if (own) {
        //  What is left (after a failure) up to the sync point, then out of the pipeline.
        if (!synced)
            synced = PQpipelineSync (self->conn) == 1;
        if (synced)
            s_drain_to_sync (self);
        PQexitPipelineMode (self->conn);
    }
    for (size_t i = 0; i < n && rc; i++) {
        PQclear (results[i]);
        results[i] = NULL;
    }
    return rc;
}

//  Leave pipeline mode without committing (a caller gave up half way): what was sent
//  runs in the transaction, which the caller then rolls back.
void
kn_db_int_discard (kn_db_t *self)
{
    if (PQpipelineSync (self->conn) == 1)
        s_drain_to_sync (self);
    PQexitPipelineMode (self->conn);
    self->deferring = false;
    self->deferred = 0;
}

int
kn_db_defer_begin (kn_db_t *self, kn_error_t *err)
{
    if (self->deferring || PQenterPipelineMode (self->conn) != 1)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "cannot enter pipeline mode");
    self->deferring = true;
    self->deferred = 0;
    return 0;
}

int
kn_db_defer_begin_write (kn_db_t *self, int64_t *now_us, kn_error_t *err)
{
    //  What kn_db_begin_write sends in one query string, one statement at a time (a
    //  pipeline takes no query string of several).
    *now_us = 0;
    if (kn_db_defer_begin (self, err) ||
        s_defer (self, "begin", "BEGIN", 0, NULL, -1, NULL, NULL, err) ||
        s_defer (self, "begin_write", KN_DB_ANNOUNCE_SQL, 0, NULL, -1, NULL, NULL, err) ||
        s_defer (self, "begin_now", KN_DB_NOW_US_SQL, 0, NULL, -1, NULL, now_us, err))
        return -1;
    return 0;
}

int
kn_db_defer_commit (kn_db_t *self, kn_error_t *err)
{
    if (!self->deferring)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "not in pipeline mode");
    kn_error_t first;
    kn_error_clear (&first);
    //  A write whose row count matters is read before the COMMIT goes out: once it
    //  has, only the server can stop it. The others go with the COMMIT.
    bool counted = false;
    for (int i = 0; i < self->deferred; i++)
        counted = counted || self->deferred_expect[i] >= 0;
    int rc = counted ? s_flush (self, "commit", &first) ?: s_collect (self, &first) : 0;
    bool synced = false;
    if (rc == 0) {
        self->round_trips++;
        if (PQsendQueryParams (self->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1 ||
            PQpipelineSync (self->conn) != 1)
            rc = kn_db_int_fail (self, NULL, &first, "commit");
        else {
            synced = true;
            //  Each write's answer, the COMMIT's, then the sync point.
            rc = s_collect (self, &first)
                     ?: s_read_one (self, "commit", -1, NULL, NULL, &first);
        }
    }
    if (!synced)
        synced = PQpipelineSync (self->conn) == 1;
    if (synced)
        s_drain_to_sync (self);
    if (PQexitPipelineMode (self->conn) != 1 && rc == 0)
        rc = kn_db_int_fail (self, NULL, &first, "pipeline");
    self->deferring = false;
    self->deferred = 0;
    if (rc)
        *err = first; // still to be rolled back, which drops the lines
    else
        kn_db_int_lines_end (self, true);
    return rc;
}
