/*  kn_db: a libpq session that survives reconnects with its prepared statements. */
#include "kn_db.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kn_config.h"
#include "kn_db_int.h"
#include "kn_log.h"

//  The open transaction ended: its lines are written if it committed, else dropped.
void
kn_db_int_lines_end (kn_db_t *self, bool committed)
{
    for (size_t i = 0; i < self->line_count; i++) {
        if (committed)
            kn_log_write (self->lines[i]);
        free (self->lines[i]);
    }
    self->line_count = 0;
}

void
kn_db_log_committed (kn_db_t *self, kn_level_t level, const char *event, ...)
{
    va_list args;
    va_start (args, event);
    char *line = kn_log_vline (level, event, args);
    va_end (args);
    if (!line)
        return;
    PGTransactionStatusType state = PQtransactionStatus (self->conn);
    if (state != PQTRANS_INTRANS && state != PQTRANS_INERROR && state != PQTRANS_ACTIVE) {
        kn_log_write (line); // no transaction: the effect is already there
        free (line);
        return;
    }
    if (self->line_count == self->line_room) {
        size_t room = self->line_room ? 2 * self->line_room : 8;
        char **lines = realloc (self->lines, room * sizeof *lines);
        if (!lines) {
            free (line); // a log line is not worth failing the transaction for
            return;
        }
        self->lines = lines;
        self->line_room = room;
    }
    self->lines[self->line_count++] = line;
}

PGresult *
kn_db_int_answer (kn_db_t *self, PGresult *result, kn_error_t *err, const char *what)
{
    ExecStatusType status = PQresultStatus (result);
    if (result && (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK))
        return result;
    kn_db_int_fail (self, result, err, what);
    PQclear (result);
    return NULL;
}

int
kn_db_int_fail (kn_db_t *self, PGresult *result, kn_error_t *err, const char *what)
{
    const char *state = result ? PQresultErrorField (result, PG_DIAG_SQLSTATE) : NULL;
    snprintf (self->sqlstate, sizeof self->sqlstate, "%s", state ? state : "");
    //  The server's message can echo parameter values, so it is logged as a code only.
    kn_log (KN_WARN, "db.error", "what", what, "sqlstate", self->sqlstate, NULL);
    bool connected = self->conn && PQstatus (self->conn) == CONNECTION_OK;
    kn_code_t code = kn_db_classify (self->sqlstate, connected);
    if (code == KN_E_CONFLICT)
        return kn_error_set (err, KN_E_CONFLICT, NULL, "already exists");
    if (code == KN_E_SERVICE_UNAVAILABLE)
        return kn_error_set (err, KN_E_SERVICE_UNAVAILABLE, NULL,
                             "the database is unavailable or busy (%s): retry with the "
                             "same idempotency key",
                             self->sqlstate[0] ? self->sqlstate : "connection");
    return kn_error_set (err, KN_E_INTERNAL, NULL, "database error (%s)",
                         self->sqlstate[0] ? self->sqlstate : "connection");
}

static int
s_simple (kn_db_t *self, const char *sql, kn_error_t *err)
{
    PGresult *result = PQexec (self->conn, sql);
    ExecStatusType status = PQresultStatus (result);
    int rc = 0;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        rc = kn_db_int_fail (self, result, err, "exec");
    PQclear (result);
    return rc;
}

static int
s_prepare_one (kn_db_t *self, const statement_t *statement, kn_error_t *err)
{
    PGresult *result = PQprepare (self->conn, statement->name, statement->sql, 0, NULL);
    int rc = 0;
    if (PQresultStatus (result) != PGRES_COMMAND_OK) {
        kn_log (KN_ERROR, "db.prepare_failed", "statement", statement->name, NULL);
        rc = kn_db_int_fail (self, result, err, statement->name);
    }
    PQclear (result);
    return rc;
}

//  The built-in timeouts, then the role's own (ALTER ROLE ... SET: the login has
//  them already, but they must win over the built-in ones), then each
//  KINNET_DB_*_TIMEOUT_MS the process sets.
//  Without either the built-in values hold. Every service session thus has a bound
//  on a statement, on a lock wait and on an idle open transaction: one forgotten
//  BEGIN cannot stop the others for good.
static int
s_timeouts (kn_db_t *self, kn_error_t *err)
{
    static const struct {
        const char *setting, *variable;
        long fallback_ms;
    } timeouts[] = {
        {"statement_timeout", "KINNET_DB_STATEMENT_TIMEOUT_MS",
         KN_DB_STATEMENT_TIMEOUT_MS},
        {"lock_timeout", "KINNET_DB_LOCK_TIMEOUT_MS", KN_DB_LOCK_TIMEOUT_MS},
        {"idle_in_transaction_session_timeout",
         "KINNET_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
         KN_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS},
    };
    char sql[600];
    int at = 0;
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++)
        at += snprintf (sql + at, sizeof sql - at, "SET %s = %ld; ", timeouts[i].setting,
                        timeouts[i].fallback_ms);
    //  Database-specific settings (setdatabase <> 0) come last and win, as at login.
    snprintf (
        sql + at, sizeof sql - at,
        "SELECT set_config (split_part (c, '=', 1), substr (c, strpos (c, '=') + 1),"
        " false) FROM pg_db_role_setting s, unnest (s.setconfig) c"
        " WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
        "   AND s.setdatabase IN (0, (SELECT oid FROM pg_database"
        "                             WHERE datname = current_database ()))"
        "   AND split_part (c, '=', 1) IN ('statement_timeout', 'lock_timeout',"
        "                                  'idle_in_transaction_session_timeout')"
        " ORDER BY s.setdatabase");
    if (s_simple (self, sql, err))
        return -1;
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        long ms = kn_config_int (timeouts[i].variable, -1);
        if (ms < 0)
            continue; // unset (or not a number): the role's value stands
        snprintf (sql, sizeof sql, "SET %s = %ld", timeouts[i].setting, ms);
        if (s_simple (self, sql, err))
            return -1;
    }
    return 0;
}

//  Session settings, role, statements and LISTENs: all a fresh session needs.
static int
s_setup_session (kn_db_t *self, kn_error_t *err)
{
    if (s_simple (self, "SET synchronous_commit = on; SET TIME ZONE 'UTC'", err))
        return -1;
    if (self->role && s_timeouts (self, err))
        return -1;
    if (self->generic_plans && s_simple (self, "SET plan_cache_mode = force_generic_plan", err))
        return -1;
    for (int i = 0; i < self->statement_count; i++)
        if (s_prepare_one (self, &self->statements[i], err))
            return -1;
    for (int i = 0; i < self->channel_count; i++) {
        char *ident = PQescapeIdentifier (self->conn, self->channels[i],
                                          strlen (self->channels[i]));
        char sql[200];
        snprintf (sql, sizeof sql, "LISTEN %s", ident ? ident : "\"\"");
        PQfreemem (ident);
        if (s_simple (self, sql, err))
            return -1;
    }
    return 0;
}

//  Server notices ("already exists, skipping") are not for our users' terminals.
static void
s_ignore_notice (void *arg, const char *message)
{
    (void) arg;
    (void) message;
}

//  The password of role from KINNET_DB_SECRETS/<role> (a file that only its owner
//  may read, as the CURVE and field keys), or "" when KINNET_DB_SECRETS is unset
//  (peer or trust authentication: tests, a socket only its owner reaches).
static int
s_password (const char *role, char password[KN_DB_PASSWORD_MAX + 1], kn_error_t *err)
{
    const char *dir = kn_config_str ("KINNET_DB_SECRETS", NULL);
    if (!dir || !*dir)
        return 0;
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", dir, role);
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat (fd, &st) != 0) {
        if (fd >= 0)
            close (fd);
        return kn_error_set (err, KN_E_INTERNAL, "KINNET_DB_SECRETS",
                             "cannot read the password of %s from %s", role, path);
    }
    if (st.st_mode & 077) {
        close (fd);
        return kn_error_set (err, KN_E_INTERNAL, "KINNET_DB_SECRETS",
                             "%s is readable by others (mode %03o): chmod 600 it", path,
                             (unsigned)(st.st_mode & 0777));
    }
    ssize_t n = read (fd, password, KN_DB_PASSWORD_MAX + 1);
    close (fd);
    if (n <= 0 || n > KN_DB_PASSWORD_MAX) {
        sodium_memzero (password, KN_DB_PASSWORD_MAX + 1);
        return kn_error_set (err, KN_E_INTERNAL, "KINNET_DB_SECRETS",
                             "the password in %s is empty or over %d bytes", path,
                             KN_DB_PASSWORD_MAX);
    }
    while (n > 0 && (password[n - 1] == '\n' || password[n - 1] == '\r'))
        n--;
    password[n] = 0;
    return 0;
}

static int
s_connect (kn_db_t *self, kn_error_t *err)
{
    if (self->conn)
        PQfinish (self->conn);
    //  Defaults the url may override (it is expanded after them): a peer that vanished
    //  (a half-open connection after a failover or a cut cable) is noticed in about a
    //  minute, not after the kernel's two hours, and a server that does not answer
    //  the connect in 10 s is taken as down. The application name lets an operator
    //  (and a test) tell whose session is whose in pg_stat_activity.
    //  A service logs in as its own role, whatever user the url names: user (and
    //  password) come after the url's expansion, so they win. Without a role (or a
    //  password) the keyword is NULL, which ends the list there.
    char app[80], password[KN_DB_PASSWORD_MAX + 1] = "";
    snprintf (app, sizeof app, "%s", self->role ? self->role : "kinnet");
    if (self->role && s_password (self->role, password, err))
        return -1;
    const char *keywords[] = {"keepalives",
                              "keepalives_idle",
                              "keepalives_interval",
                              "keepalives_count",
                              "tcp_user_timeout",
                              "connect_timeout",
                              "fallback_application_name",
                              "dbname",
                              self->role ? "user" : NULL,
                              *password ? "password" : NULL,
                              NULL};
    const char *values[] = {"1", "30", "10", "3", "60000", self->connect_timeout,
                            app, self->url, self->role, password, NULL};
    self->conn = PQconnectdbParams (keywords, values, 1);
    sodium_memzero (password, sizeof password);
    if (PQstatus (self->conn) != CONNECTION_OK) {
        kn_log (KN_WARN, "db.connect_failed", NULL);
        return kn_error_set (err, KN_E_SERVICE_UNAVAILABLE, NULL,
                             "cannot connect to the database: retry with the same "
                             "idempotency key");
    }
    PQsetNoticeProcessor (self->conn, s_ignore_notice, NULL);
    return s_setup_session (self, err);
}

static kn_db_t *
s_new (const char *url, const char *role, bool lazy, int connect_timeout_s, kn_error_t *err)
{
    kn_db_t *self = calloc (1, sizeof *self);
    if (!self) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    self->url = strdup (url ? url : "");
    self->role = role ? strdup (role) : NULL;
    self->lazy = lazy;
    snprintf (self->connect_timeout, sizeof self->connect_timeout, "%d", connect_timeout_s);
    if (s_connect (self, err)) {
        if (!lazy) {
            kn_db_destroy (&self);
            return NULL;
        }
        //  Not a failure: kn_db_ensure connects when the server is back.
        kn_log (KN_WARN, "db.unavailable", "problem", err->message, NULL);
        kn_db_disconnect (self);
    }
    return self;
}

kn_db_t *
kn_db_new (const char *url, const char *role, kn_error_t *err)
{
    return s_new (url, role, false, 10, err);
}

kn_db_t *
kn_db_new_lazy (const char *url, const char *role, int connect_timeout_s, kn_error_t *err)
{
    return s_new (url, role, true, connect_timeout_s < 2 ? 2 : connect_timeout_s, err);
}

void
kn_db_disconnect (kn_db_t *self)
{
    if (self->conn)
        PQfinish (self->conn);
    self->conn = NULL;
    self->deferring = false;   // the pipeline and the transaction go with it
    self->deferred = 0;
    kn_db_int_lines_end (self, false);
}

const char *const kn_db_service_roles[] = {
    "kinnet_broker",    "kinnet_intake", "kinnet_consent", "kinnet_routing",
    "kinnet_reporting", "kinnet_audit",  "kinnet_admin",   "kinnet_records", NULL};

int
kn_db_set_password (kn_db_t *self, const char *role, const char *password,
                    kn_error_t *err)
{
    char *verifier = PQencryptPasswordConn (self->conn, password, role, "scram-sha-256");
    if (!verifier)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "cannot compute the verifier: %s",
                             PQerrorMessage (self->conn));
    char *ident = PQescapeIdentifier (self->conn, role, strlen (role));
    char *literal = PQescapeLiteral (self->conn, verifier, strlen (verifier));
    PQfreemem (verifier);
    size_t size = (ident ? strlen (ident) : 0) + (literal ? strlen (literal) : 0) + 128;
    char *sql = ident && literal ? malloc (size) : NULL;
    int rc;
    if (!sql)
        rc = kn_error_set (err, KN_E_INTERNAL, NULL, "out of memory");
    else {
        /* One implicit transaction: the lock serialises two setups run at once
         * (two migrate containers of one upgrade), since concurrent ALTER ROLEs of
         * one role fail with "tuple concurrently updated". An advisory lock is the
         * database's own, and roles are the cluster's: a setup of another database
         * of the same cluster (ops/test runs suites side by side, each in its own)
         * can still collide, and that failure (XX000) is tried again: the same
         * ALTER ROLE again is harmless. */
        snprintf (sql, size,
                  "SELECT pg_advisory_xact_lock (hashtext ('kinnet.role.password'));"
                  "ALTER ROLE %s PASSWORD %s",
                  ident, literal);
        rc = s_simple (self, sql, err);
        for (int attempt = 1; rc != 0 && attempt < 5 && strcmp (self->sqlstate, "XX000") == 0;
             attempt++) {
            usleep ((useconds_t)(attempt * 20000));   // the other ALTER ROLE commits
            rc = s_simple (self, sql, err);
        }
    }
    free (sql);
    PQfreemem (ident);
    PQfreemem (literal);
    return rc;
}

kn_db_t *
kn_db_clone (kn_db_t *self, kn_error_t *err)
{
    return s_new (self->url, self->role, self->lazy, atoi (self->connect_timeout), err);
}

void
kn_db_destroy (kn_db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kn_db_t *self = *self_p;
    if (self->conn)
        PQfinish (self->conn);
    for (int i = 0; i < self->statement_count; i++) {
        free (self->statements[i].name);
        free (self->statements[i].sql);
    }
    for (int i = 0; i < self->channel_count; i++)
        free (self->channels[i]);
    kn_db_int_lines_end (self, false);
    free (self->lines);
    free (self->url);
    free (self->role);
    free (self);
    *self_p = NULL;
}

PGconn *
kn_db_conn (kn_db_t *self)
{
    return self->conn;
}

int
kn_db_prepare (kn_db_t *self, const char *name, const char *sql, kn_error_t *err)
{
    //  Several classes may share a session and a helper's statements (the audit
    //  writer, the consent policy): the same statement again is already there.
    for (int i = 0; i < self->statement_count; i++)
        if (strcmp (self->statements[i].name, name) == 0)
            return strcmp (self->statements[i].sql, sql) == 0
                       ? 0
                       : kn_error_set (err, KN_E_INTERNAL, NULL,
                                       "statement %s prepared twice with different SQL", name);
    if (self->statement_count == MAX_STATEMENTS)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "too many prepared statements");
    statement_t *statement = &self->statements[self->statement_count];
    statement->name = strdup (name);
    statement->sql = strdup (sql);
    self->statement_count++;
    //  A session that is down (kn_db_new_lazy) prepares it when kn_db_ensure connects.
    if (self->lazy && PQstatus (self->conn) != CONNECTION_OK)
        return 0;
    return s_prepare_one (self, statement, err);
}

int
kn_db_prepare_all (kn_db_t *self, const char *statements[][2], size_t n,
                   kn_error_t *err)
{
    for (size_t i = 0; i < n; i++)
        if (kn_db_prepare (self, statements[i][0], statements[i][1], err))
            return -1;
    return 0;
}

//  Whether the session is gone. A server that went away (a failover, a restart,
//  pg_terminate_backend) has usually left its FATAL message or the end of the
//  connection waiting on the socket already: read here, before a request's first
//  statement, the session is re-made now instead of failing that request.
static bool
s_gone (kn_db_t *self)
{
    if (!self->conn || PQstatus (self->conn) != CONNECTION_OK)
        return true;
    if (self->deferring || PQisBusy (self->conn))
        return false;   // mid-pipeline: its own results will say
    //  The FATAL message and the end of the connection may take two reads: read
    //  while there is something to read (a few times at most: a LISTENing session
    //  may be receiving notifications, which stay queued in libpq for its caller).
    for (int reads = 0; reads < 4; reads++) {
        struct pollfd socket = {PQsocket (self->conn), POLLIN, 0};
        if (socket.fd < 0)
            return true;
        if (poll (&socket, 1, 0) <= 0)
            break;
        if (!PQconsumeInput (self->conn))
            return true;
    }
    return PQstatus (self->conn) != CONNECTION_OK;
}

static int64_t
s_mono_ms (void)
{
    struct timespec at;
    clock_gettime (CLOCK_MONOTONIC, &at);
    return (int64_t)at.tv_sec * 1000 + at.tv_nsec / 1000000;
}

//  A generic plan is made once, for the tables as they were then: a session that
//  began on nearly empty tables would go on scanning them whole once they are
//  large. So the plans are dropped (made again on next use) every plans_every_ms,
//  between transactions.
static int
s_refresh_plans (kn_db_t *self, kn_error_t *err)
{
    if (!self->generic_plans || PQtransactionStatus (self->conn) != PQTRANS_IDLE)
        return 0;
    int64_t now = s_mono_ms ();
    if (now - self->plans_at_ms < self->plans_every_ms)
        return 0;
    self->plans_at_ms = now;
    return s_simple (self, "DISCARD PLANS", err);
}

int
kn_db_ensure (kn_db_t *self, kn_error_t *err)
{
    PGTransactionStatusType before =
        self->conn ? PQtransactionStatus (self->conn) : PQTRANS_UNKNOWN;
    if (!s_gone (self))
        return s_refresh_plans (self, err);
    //  Gone in the middle of a transaction: what the caller began went with it. Say
    //  so (the caller gives up and the client retries); a new session now would let
    //  the caller go on in autocommit, and its COMMIT "succeed".
    if (before == PQTRANS_INTRANS || before == PQTRANS_INERROR)
        return kn_error_set (err, KN_E_SERVICE_UNAVAILABLE, NULL,
                             "the database session ended in the middle of a transaction: "
                             "retry with the same idempotency key");
    kn_log (KN_WARN, "db.reconnect", NULL);
    self->deferring = false;   // the pipeline went with the connection
    self->deferred = 0;
    kn_db_int_lines_end (self, false); // and the transaction, uncommitted
    return s_connect (self, err);
}

int
kn_db_exec (kn_db_t *self, const char *sql, kn_error_t *err)
{
    if (self->deferring)
        kn_db_int_discard (self);   // e.g. the ROLLBACK of a caller that gave up
    self->round_trips++;
    PGresult *result = PQexec (self->conn, sql);
    ExecStatusType status = PQresultStatus (result);
    int rc = 0;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        rc = kn_db_int_fail (self, result, err, "exec");
    //  A COMMIT of a failed transaction succeeds, saying ROLLBACK: only the tag tells.
    bool committed = rc == 0 && strcmp (PQcmdStatus (result), "COMMIT") == 0;
    PQclear (result);
    PGTransactionStatusType state = PQtransactionStatus (self->conn);
    if (self->line_count && state != PQTRANS_INTRANS && state != PQTRANS_INERROR)
        kn_db_int_lines_end (self, committed);
    return rc;
}

PGresult *
kn_db_run (kn_db_t *self, const char *name, int nparams, const char *const *values,
           const int *lengths, const int *formats, kn_error_t *err)
{
    if (self->deferring)
        return kn_db_int_pipelined_run (self, name, nparams, values, lengths, formats, err);
    self->round_trips++;
    return kn_db_int_answer (
        self, PQexecPrepared (self->conn, name, nparams, values, lengths, formats, 0), err,
        name);
}

int
kn_db_begin_at (kn_db_t *self, int64_t *now_us, kn_error_t *err)
{
    //  One query string: BEGIN, then the new transaction's now ().
    self->round_trips++;
    PGresult *result = PQexec (
        self->conn, "BEGIN; " KN_DB_NOW_US_SQL);
    if (PQresultStatus (result) != PGRES_TUPLES_OK || PQntuples (result) != 1) {
        int rc = kn_db_int_fail (self, result, err, "begin");
        PQclear (result);
        return rc;
    }
    *now_us = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);
    return 0;
}

int
kn_db_begin_write (kn_db_t *self, int64_t *now_us, kn_error_t *err)
{
    //  One query string, so the announcement costs no round trip of its own.
    self->round_trips++;
    PGresult *result =
        PQexec (self->conn, "BEGIN; " KN_DB_ANNOUNCE_SQL "; " KN_DB_NOW_US_SQL);
    if (PQresultStatus (result) != PGRES_TUPLES_OK || PQntuples (result) != 1) {
        int rc = kn_db_int_fail (self, result, err, "begin_write");
        PQclear (result);
        //  BEGIN ran and the announcement failed: end what it opened.
        PGTransactionStatusType state = PQtransactionStatus (self->conn);
        if (state == PQTRANS_INERROR || state == PQTRANS_INTRANS)
            PQclear (PQexec (self->conn, "ROLLBACK"));
        return rc;
    }
    if (now_us)
        *now_us = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);
    return 0;
}

//  Did result affect the rows it should? (expect < 0: any number.)
int
kn_db_int_check_rows (kn_db_t *self, PGresult *result, long expect, const char *name,
              kn_error_t *err)
{
    if (expect < 0 || strtol (PQcmdTuples (result), NULL, 10) == expect)
        return 0;
    self->sqlstate[0] = 0;
    kn_log (KN_WARN, "db.unexpected_rows", "statement", name, NULL);
    return kn_error_set (err, KN_E_INTERNAL, NULL, "%s changed an unexpected number of rows",
                         name);
}

int
kn_db_do (kn_db_t *self, const char *name, int nparams, const char *const *values,
          long expect_rows, kn_error_t *err)
{
    if (self->deferring)
        return kn_db_int_defer (self, name, nparams, values, expect_rows, err);
    PGresult *result = kn_db_run (self, name, nparams, values, NULL, NULL, err);
    if (!result)
        return -1;
    int rc = kn_db_int_check_rows (self, result, expect_rows, name, err);
    PQclear (result);
    return rc;
}

PGresult *
kn_db_query (kn_db_t *self, const char *sql, int nparams, const char *const *values,
             kn_error_t *err)
{
    self->round_trips++;
    return kn_db_int_answer (
        self, PQexecParams (self->conn, sql, nparams, NULL, values, NULL, NULL, 0), err,
        "query");
}

int
kn_db_send (kn_db_t *self, const char *sql, int nparams, const char *const *values,
            kn_error_t *err)
{
    self->round_trips++;
    if (PQsendQueryParams (self->conn, sql, nparams, NULL, values, NULL, NULL, 0) == 1)
        return 0;
    return kn_db_int_fail (self, NULL, err, "send");
}

int
kn_db_ready (kn_db_t *self)
{
    if (PQconsumeInput (self->conn) == 0)
        return -1;
    return PQisBusy (self->conn) ? 0 : 1;
}

PGresult *
kn_db_receive (kn_db_t *self, kn_error_t *err)
{
    //  One statement gives one result, then NULL; an error may follow partial rows, so
    //  the last result is the one that counts.
    PGresult *result = NULL, *next;
    while ((next = PQgetResult (self->conn))) {
        PQclear (result);
        result = next;
    }
    return kn_db_int_answer (self, result, err, "query");
}

uint64_t
kn_db_round_trips (const kn_db_t *self)
{
    return self->round_trips;
}

const char *
kn_db_sqlstate (kn_db_t *self)
{
    return self->sqlstate;
}

void
kn_db_clear_sqlstate (kn_db_t *self)
{
    self->sqlstate[0] = '\0';
}

int
kn_db_listen (kn_db_t *self, const char *channel, kn_error_t *err)
{
    if (self->channel_count == MAX_CHANNELS)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "too many channels");
    self->channels[self->channel_count++] = strdup (channel);
    char *ident = PQescapeIdentifier (self->conn, channel, strlen (channel));
    char sql[200];
    snprintf (sql, sizeof sql, "LISTEN %s", ident ? ident : "\"\"");
    PQfreemem (ident);
    return s_simple (self, sql, err);
}

int
kn_db_prefer_generic_plans (kn_db_t *self, int64_t every_ms, kn_error_t *err)
{
    self->generic_plans = true;
    self->plans_every_ms = every_ms;
    self->plans_at_ms = s_mono_ms ();
    return self->conn ? s_simple (self, "SET plan_cache_mode = force_generic_plan", err) : 0;
}

int
kn_db_socket (kn_db_t *self)
{
    return self->conn ? PQsocket (self->conn) : -1;
}

int
kn_db_drain_notifies (kn_db_t *self)
{
    if (!PQconsumeInput (self->conn))
        return -1;
    int count = 0;
    PGnotify *notify;
    while ((notify = PQnotifies (self->conn)) != NULL) {
        PQfreemem (notify);
        count++;
    }
    return count;
}
