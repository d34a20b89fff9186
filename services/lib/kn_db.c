/*  kn_db: a libpq session that survives reconnects with its prepared statements. */
#include "kn_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_log.h"

#define MAX_STATEMENTS 128
#define MAX_CHANNELS 8

typedef struct {
    char *name;
    char *sql;
} statement_t;

struct _kn_db_t {
    PGconn *conn;
    char *url;
    char *role;
    statement_t statements[MAX_STATEMENTS];
    int statement_count;
    char *channels[MAX_CHANNELS];
    int channel_count;
    char sqlstate[6];
};

static int
s_fail (kn_db_t *self, PGresult *result, kn_error_t *err, const char *what)
{
    const char *state = result ? PQresultErrorField (result, PG_DIAG_SQLSTATE) : NULL;
    snprintf (self->sqlstate, sizeof self->sqlstate, "%s", state ? state : "");
    //  The server's message can echo parameter values, so it is logged as a code only.
    kn_log (KN_WARN, "db.error", "what", what, "sqlstate", self->sqlstate, NULL);
    if (state && strcmp (state, "23505") == 0)
        return kn_error_set (err, KN_E_CONFLICT, NULL, "already exists");
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
        rc = s_fail (self, result, err, "exec");
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
        rc = s_fail (self, result, err, statement->name);
    }
    PQclear (result);
    return rc;
}

//  Session settings, role, statements and LISTENs: all a fresh session needs.
static int
s_setup_session (kn_db_t *self, kn_error_t *err)
{
    if (s_simple (self, "SET synchronous_commit = on; SET TIME ZONE 'UTC'", err))
        return -1;
    if (self->role) {
        char *ident = PQescapeIdentifier (self->conn, self->role, strlen (self->role));
        char sql[200];
        snprintf (sql, sizeof sql, "SET ROLE %s", ident ? ident : "\"\"");
        PQfreemem (ident);
        if (s_simple (self, sql, err))
            return -1;
    }
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

static int
s_connect (kn_db_t *self, kn_error_t *err)
{
    if (self->conn)
        PQfinish (self->conn);
    self->conn = PQconnectdb (self->url);
    if (PQstatus (self->conn) != CONNECTION_OK) {
        kn_log (KN_WARN, "db.connect_failed", NULL);
        return kn_error_set (err, KN_E_INTERNAL, NULL, "cannot connect to the database");
    }
    PQsetNoticeProcessor (self->conn, s_ignore_notice, NULL);
    return s_setup_session (self, err);
}

kn_db_t *
kn_db_new (const char *url, const char *role, kn_error_t *err)
{
    kn_db_t *self = calloc (1, sizeof *self);
    if (!self) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    self->url = strdup (url ? url : "");
    self->role = role ? strdup (role) : NULL;
    if (s_connect (self, err)) {
        kn_db_destroy (&self);
        return NULL;
    }
    return self;
}

kn_db_t *
kn_db_clone (kn_db_t *self, kn_error_t *err)
{
    return kn_db_new (self->url, self->role, err);
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
    return s_prepare_one (self, statement, err);
}

int
kn_db_ensure (kn_db_t *self, kn_error_t *err)
{
    if (self->conn && PQstatus (self->conn) == CONNECTION_OK)
        return 0;
    kn_log (KN_WARN, "db.reconnect", NULL);
    return s_connect (self, err);
}

int
kn_db_exec (kn_db_t *self, const char *sql, kn_error_t *err)
{
    return s_simple (self, sql, err);
}

PGresult *
kn_db_run (kn_db_t *self, const char *name, int nparams, const char *const *values,
           const int *lengths, const int *formats, kn_error_t *err)
{
    PGresult *result
        = PQexecPrepared (self->conn, name, nparams, values, lengths, formats, 0);
    ExecStatusType status = PQresultStatus (result);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        return result;
    s_fail (self, result, err, name);
    PQclear (result);
    return NULL;
}

PGresult *
kn_db_query (kn_db_t *self, const char *sql, int nparams, const char *const *values,
             kn_error_t *err)
{
    PGresult *result = PQexecParams (self->conn, sql, nparams, NULL, values, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (result);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        return result;
    s_fail (self, result, err, "query");
    PQclear (result);
    return NULL;
}

int
kn_db_send (kn_db_t *self, const char *sql, int nparams, const char *const *values,
            kn_error_t *err)
{
    if (PQsendQueryParams (self->conn, sql, nparams, NULL, values, NULL, NULL, 0) == 1)
        return 0;
    return s_fail (self, NULL, err, "send");
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
    ExecStatusType status = PQresultStatus (result);
    if (result && (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK))
        return result;
    s_fail (self, result, err, "query");
    PQclear (result);
    return NULL;
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
