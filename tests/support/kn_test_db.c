/*  kn_test_db: the throwaway PostgreSQL ops/test starts: databases, SQL, counts. */
#include "kn_test.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kn_uuid.h"

const char *
kn_test_admin_url (void)
{
    const char *url = getenv ("KINNET_TEST_DATABASE_URL");
    if (!url || !*url)
        cr_assert_fail ("KINNET_TEST_DATABASE_URL is not set: run the suite with ops/test");
    return url;
}

char *
kn_test_sql (const char *url, const char *sql)
{
    PGconn *conn = PQconnectdb (url);
    cr_assert_eq (PQstatus (conn), CONNECTION_OK, "connect: %s", PQerrorMessage (conn));
    PGresult *result = PQexec (conn, sql);
    ExecStatusType status = PQresultStatus (result);
    cr_assert (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK, "%s: %s", sql,
               PQerrorMessage (conn));
    char *value = NULL;
    if (status == PGRES_TUPLES_OK && PQntuples (result) > 0 && PQnfields (result) > 0)
        value = strdup (PQgetvalue (result, 0, 0));
    PQclear (result);
    PQfinish (conn);
    return value;
}

char *
kn_test_read_file (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return NULL;
    size_t size = 0, used = 0;
    char *text = NULL;
    while (true) {
        if (used + 4096 + 1 > size) {
            size = size ? size * 2 : 8192;
            text = realloc (text, size);
        }
        size_t got = fread (text + used, 1, size - used - 1, file);
        used += got;
        if (got == 0)
            break;
    }
    fclose (file);
    text[used] = 0;
    return text;
}

int
kn_test_count (const char *url, const char *sql)
{
    char *value = kn_test_sql (url, sql);
    int count = value ? atoi (value) : -1;
    free (value);
    return count;
}

int
kn_test_outbox_past_cursor (const char *url)
{
    return kn_test_count (url, "SELECT count (*) FROM core.outbox o, routing.cursor c"
                              " WHERE (o.xid, o.id) > (c.last_xid, c.last_id)");
}

int
kn_test_outbox_skipped (const char *url)
{
    return kn_test_count (url, "SELECT count (*) FROM core.outbox o, routing.cursor c"
                              " WHERE (o.xid, o.id) <= (c.last_xid, c.last_id)"
                              " AND o.topic IN ('referral.received', 'referral.withdrawn',"
                              "  'consent.recorded', 'consent.withdrawn',"
                              "  'release.requested', 'release.decided', 'override.requested')"
                              " AND NOT EXISTS (SELECT 1 FROM routing.consumed d"
                              "  WHERE d.outbox_id = o.id)");
}

//  Databases of test processes that have ended, dropped: the cluster then holds only
//  what running tests use, so it stays small (a standby's base backup copies the
//  whole cluster: test_report_standby) and the disk does not fill over a run. Each
//  database is named after the process that made it (kn_t_<pid>_...); one whose
//  process is gone is dropped, its leftover sessions ended. Best effort: another
//  process dropping the same one first, or a session that will not go, is fine.
static void
s_drop_orphans (void)
{
    PGconn *conn = PQconnectdb (kn_test_admin_url ());
    if (PQstatus (conn) != CONNECTION_OK) {
        PQfinish (conn);
        return;
    }
    PGresult *names = PQexec (conn, "SELECT datname FROM pg_database"
                                    " WHERE datname ~ '^kn_t_[0-9]+_[0-9a-f]+$'");
    for (int r = 0; PQresultStatus (names) == PGRES_TUPLES_OK && r < PQntuples (names); r++) {
        const char *name = PQgetvalue (names, r, 0);
        long pid = strtol (name + 5, NULL, 10);
        if (pid <= 0 || pid == (long) getpid () || kill ((pid_t) pid, 0) == 0 || errno != ESRCH)
            continue;
        char sql[128];
        snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
        PQclear (PQexec (conn, sql));
    }
    PQclear (names);
    PQfinish (conn);
}

char *
kn_test_db_create (void)
{
    s_drop_orphans ();
    char name[64];
    char uuid[KN_UUID_STR];
    kn_uuid_generate (uuid);
    snprintf (name, sizeof name, "kn_t_%ld_%.8s%.4s", (long) getpid (), uuid, uuid + 9);
    char sql[160];
    snprintf (sql, sizeof sql, "CREATE DATABASE %s TEMPLATE kinnet_template", name);
    free (kn_test_sql (kn_test_admin_url (), sql));
    size_t size = strlen (kn_test_admin_url ()) + strlen (name) + 16;
    char *url = malloc (size);
    //  A later keyword wins in a libpq conninfo string.
    snprintf (url, size, "%s dbname=%s", kn_test_admin_url (), name);
    return url;
}

