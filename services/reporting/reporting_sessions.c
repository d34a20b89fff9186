/*  reporting_sessions: a report's queries, side by side in one snapshot. The
    report's transaction (read only, repeatable read) opens on the first session; the
    others join its exported snapshot, so every table reads the same moment however
    many sessions share the work, and a session that cannot join is left out (the
    report runs more slowly, not wrongly). Each session takes the next query as it
    comes free. Nothing is written: the caller ends every transaction with ROLLBACK. */
#include "reporting_report_int.h"

#include <errno.h>
#include <poll.h>

#include "kn_log.h"
#include "kn_alloc.h"

//  A read-only transaction in snapshot (NULL: its own), without JIT compilation: the
//  report queries cost enough to cross its thresholds and run too briefly to repay
//  it (one took 0.5 s to compile and 1.1 s to run). The report's moment (kn_clock,
//  the one clock) is the transaction's setting kinnet.clock, which REPORT_NOW reads.
//  0, or -1 with nothing left open.
static int
s_begin (kn_db_t *db, const char *snapshot, int64_t now, kn_error_t *err)
{
    if (kn_db_ensure (db, err) ||
        kn_db_exec (db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
        return -1;
    int rc = 0;
    if (snapshot) {
        char *literal = PQescapeLiteral (kn_db_conn (db), snapshot, strlen (snapshot));
        char sql[128];
        snprintf (sql, sizeof sql, "SET TRANSACTION SNAPSHOT %s",
                  literal ? literal : "''");
        PQfreemem (literal);
        rc = kn_db_exec (db, sql, err);
    }
    if (rc == 0)
        rc = kn_db_exec (db, "SET LOCAL jit = off", err);
    if (rc == 0) {
        char sql[64];
        snprintf (sql, sizeof sql, "SET LOCAL kinnet.clock = '%lld'", (long long) now);
        rc = kn_db_exec (db, sql, err);
    }
    if (rc) {
        kn_error_t ignored;
        kn_db_exec (db, "ROLLBACK", &ignored);
    }
    return rc;
}

//  Open the report's transaction on dbs[0] and, in the same snapshot, on as many of
//  the others as will: open[] receives the sessions in use. Their count, or -1.
int
reporting_open (kn_db_t *const *dbs, size_t n_dbs, int64_t now, kn_db_t **open,
                kn_error_t *err)
{
    if (s_begin (dbs[0], NULL, now, err))
        return -1;
    open[0] = dbs[0];
    if (n_dbs < 2)
        return 1;
    kn_error_t ignored;
    PGresult *snapshot =
        kn_db_query (dbs[0], "SELECT pg_export_snapshot ()", 0, NULL, &ignored);
    if (!snapshot) {
        //  The failed export ended the transaction; the report runs on one session.
        kn_log (KN_WARN, "report.one_session", "problem", ignored.message, NULL);
        kn_db_exec (dbs[0], "ROLLBACK", &ignored);
        return s_begin (dbs[0], NULL, now, err) ? -1 : 1;
    }
    int n_open = 1;
    for (size_t k = 1; k < n_dbs && k < REPORTING_MAX_SESSIONS; k++) {
        if (s_begin (dbs[k], PQgetvalue (snapshot, 0, 0), now, &ignored) == 0)
            open[n_open++] = dbs[k];
        else
            kn_log (KN_WARN, "report.session_unavailable", "problem", ignored.message,
                    NULL);
    }
    PQclear (snapshot);
    return n_open;
}

//  Run every job's query, each session taking the next as it comes free (jobs marked
//  first go first). After a failure nothing more is sent; the queries under way are
//  waited for. 0, or -1 with the first failure.
int
reporting_run_jobs (reader_t *rd, kn_db_t **sessions, size_t n_sessions, kn_error_t *err)
{
    job_t **order = kn_malloc ((rd->n_jobs + 1) * sizeof *order);
    size_t n_order = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t j = 0; j < rd->n_jobs; j++)
            if (rd->jobs[j].first == (pass == 0))
                order[n_order++] = &rd->jobs[j];
    job_t *running[REPORTING_MAX_SESSIONS] = {NULL};
    size_t next = 0, in_flight = 0;
    int rc = 0;
    while (true) {
        for (size_t k = 0; k < n_sessions && rc == 0 && next < n_order; k++) {
            if (running[k])
                continue;
            job_t *job = order[next++];
            const char *values[] = {job->request.from, job->request.to};
            if (kn_db_send (sessions[k], job->sql, 2, values, err))
                rc = -1;
            else {
                running[k] = job;
                in_flight++;
            }
        }
        if (in_flight == 0)
            break;
        struct pollfd fds[REPORTING_MAX_SESSIONS];
        int timeout = -1; //  a session that lost its socket is looked at at once
        for (size_t k = 0; k < n_sessions; k++) {
            fds[k] = (struct pollfd){.fd = running[k] ? kn_db_socket (sessions[k]) : -1,
                                     .events = POLLIN};
            if (running[k] && fds[k].fd < 0)
                timeout = 0;
        }
        if (poll (fds, n_sessions, timeout) < 0 && errno != EINTR) {
            rc = kn_error_set (err, KN_E_INTERNAL, NULL, "poll: %s", strerror (errno));
            break; //  (the sessions' ROLLBACK waits for what is still running)
        }
        for (size_t k = 0; k < n_sessions; k++) {
            if (!running[k] || (fds[k].fd >= 0 && !fds[k].revents) ||
                kn_db_ready (sessions[k]) == 0)
                continue;
            kn_error_t failed;
            running[k]->rows = kn_db_receive (sessions[k], &failed);
            if (!running[k]->rows && rc == 0) {
                *err = failed;
                rc = -1;
            }
            running[k] = NULL;
            in_flight--;
        }
    }
    free (order);
    return rc;
}
