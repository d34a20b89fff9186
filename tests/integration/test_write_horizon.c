/*  The write horizon (migration 0026, kn_cursor.h) against a real PostgreSQL: a
    writer of core.outbox, core.audit or core.disclosure announces itself before it
    has an xid, or its row is refused; the commit-ordered cursor reads past a
    transaction that stays open without writing (an operator's forgotten BEGIN), and
    never past a writer that has not ended, so a row committed late is not skipped. */
#include <criterion/criterion.h>
#include <string.h>

#include "kn_cursor.h"
#include "kn_db.h"
#include "kn_test.h"

static char *url;
static kn_db_t *reader;

static void
s_setup (void)
{
    url = kn_test_db_create ();
    kn_error_t err;
    reader = kn_db_new (url, NULL, &err);
    cr_assert_not_null (reader, "%s", err.message);
    cr_assert_eq (
        kn_cursor_prepare (reader, "next", "core.outbox o", "o", "o.id, o.topic", &err),
        0, "%s", err.message);
}

static void
s_teardown (void)
{
    kn_db_destroy (&reader);
    free (url);
    kn_test_no_leaks ();
}

TestSuite (write_horizon, .init = s_setup, .fini = s_teardown, .timeout = 60);

//  A raw session as the owner, as an operator's psql would be.
static PGconn *
s_session (void)
{
    PGconn *conn = PQconnectdb (url);
    cr_assert_eq (PQstatus (conn), CONNECTION_OK, "%s", PQerrorMessage (conn));
    return conn;
}

//  Run sql on conn, which must succeed; the first value of its last result
//  (caller frees), or NULL when there is none.
static char *
s_run (PGconn *conn, const char *sql)
{
    PGresult *result = PQexec (conn, sql);
    ExecStatusType status = PQresultStatus (result);
    cr_assert (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK, "%s: %s", sql,
               PQerrorMessage (conn));
    char *value = PQntuples (result) > 0 ? strdup (PQgetvalue (result, 0, 0)) : NULL;
    PQclear (result);
    return value;
}

//  Run sql on conn, which must fail with sqlstate.
static void
s_refused (PGconn *conn, const char *sql, const char *sqlstate)
{
    PGresult *result = PQexec (conn, sql);
    cr_assert_eq (PQresultStatus (result), PGRES_FATAL_ERROR, "%s was not refused", sql);
    const char *state = PQresultErrorField (result, PG_DIAG_SQLSTATE);
    cr_assert_str_eq (state ? state : "", sqlstate, "%s: %s", sql, PQerrorMessage (conn));
    PQclear (result);
}

static void
s_outbox (PGconn *conn, const char *topic)
{
    char sql[200];
    snprintf (sql, sizeof sql,
              "INSERT INTO core.outbox (topic, aggregate_id, payload)"
              " VALUES ('%s', gen_random_uuid (), '')",
              topic);
    free (s_run (conn, sql));
}

//  The topics the cursor reads after (xid, id) = *position, up to 10, joined by
//  spaces into topics; advances *position past them.
static void
s_read (char position[2][32], char *topics, size_t size)
{
    kn_error_t err;
    PGresult *rows = kn_cursor_next (reader, "next", position[0], position[1], 10, &err);
    cr_assert_not_null (rows, "%s", err.message);
    topics[0] = 0;
    for (int row = 0; row < PQntuples (rows); row++) {
        size_t at = strlen (topics);
        snprintf (topics + at, size - at, "%s%s", at ? " " : "",
                  PQgetvalue (rows, row, 2));
        snprintf (position[0], 32, "%s", PQgetvalue (rows, row, 0));
        snprintf (position[1], 32, "%s", PQgetvalue (rows, row, 1));
    }
    PQclear (rows);
}

//  s_read until it reads something, for up to 10 s. A transaction of another test
//  that ends between the cursor's snapshot and its look at the lock table holds the
//  horizon back for that one read (taken as a writer, safely): the next read passes.
static void
s_read_some (char position[2][32], char *topics, size_t size)
{
    int64_t deadline = zclock_mono () + 10000;
    do
        s_read (position, topics, size);
    while (!*topics && zclock_mono () < deadline && (zclock_sleep (20), true));
}

Test (write_horizon, a_write_after_the_xid_without_the_announcement_is_refused)
{
    PGconn *conn = s_session ();
    //  The transaction has an xid and did not announce itself: each table refuses.
    const char *rows[] = {
        "INSERT INTO core.outbox (topic, aggregate_id, payload)"
        " VALUES ('test.refused', gen_random_uuid (), '')",
        "INSERT INTO core.audit (service, operation, result) VALUES ('test', 'refused', 'ok')",
        "INSERT INTO core.disclosure (subject_id, recipient_id, categories, purpose, basis,"
        " service) VALUES (gen_random_uuid (), gen_random_uuid (), '{1}', 0, 'consent',"
        " 'test')"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        free (s_run (conn, "BEGIN; SELECT txid_current ()"));
        s_refused (conn, rows[i], "55000");
        free (s_run (conn, "ROLLBACK"));
    }
    //  Announcing after the xid is refused too.
    free (s_run (conn, "BEGIN; SELECT txid_current ()"));
    s_refused (conn, "SELECT core.begin_write ()", "55000");
    free (s_run (conn, "ROLLBACK"));
    //  So is K taken by hand after the xid: it is not begin_write's.
    free (s_run (conn, "BEGIN; SELECT txid_current ();"
                       " SELECT pg_advisory_xact_lock_shared (5426370611957220657)"));
    s_refused (conn, rows[0], "55000");
    free (s_run (conn, "ROLLBACK"));
    //  An announcement undone with its savepoint is gone.
    free (s_run (conn, "BEGIN; SAVEPOINT s; SELECT core.begin_write (); ROLLBACK TO s;"
                       " SELECT txid_current ()"));
    s_refused (conn, rows[0], "55000");
    free (s_run (conn, "ROLLBACK"));
    //  Announced before the xid: written. A first write announces itself.
    free (s_run (conn, "BEGIN; SELECT core.begin_write (); SELECT txid_current ()"));
    s_outbox (conn, "test.announced");
    free (s_run (conn, "COMMIT"));
    s_outbox (conn, "test.first_write");
    cr_assert_eq (kn_test_count (url, "SELECT count (*) FROM core.outbox WHERE topic IN"
                                      " ('test.announced', 'test.first_write')"),
                  2);
    cr_assert_eq (kn_test_count (url, "SELECT count (*) FROM core.outbox WHERE topic ="
                                      " 'test.refused'"),
                  0);
    PQfinish (conn);
}

Test (write_horizon, a_writers_begin_announces_it_in_one_round_trip)
{
    kn_error_t err;
    kn_db_t *db = kn_db_new (url, NULL, &err);
    cr_assert_not_null (db, "%s", err.message);
    int64_t now_us = 0;
    cr_assert_eq (kn_db_begin_write (db, &now_us, &err), 0, "%s", err.message);
    cr_assert_gt (now_us, 1700000000LL * 1000000);
    PGresult *held = kn_db_query (
        db,
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
        " AND pid = pg_backend_pid () AND classid = 1263425362 AND objid = 1230259505"
        " AND objsubid = 1 AND mode = 'ShareLock' AND granted)",
        0, NULL, &err);
    cr_assert_not_null (held, "%s", err.message);
    cr_assert_str_eq (PQgetvalue (held, 0, 0), "t");
    PQclear (held);
    cr_assert_eq (kn_db_exec (db, "ROLLBACK", &err), 0);
    kn_db_destroy (&db);

    //  A role that may not announce: the begin fails and leaves no transaction open.
    db = kn_db_new (url, "kinnet_broker", &err);
    cr_assert_not_null (db, "%s", err.message);
    cr_assert_eq (kn_db_begin_write (db, NULL, &err), -1);
    cr_assert_eq (PQtransactionStatus (kn_db_conn (db)), PQTRANS_IDLE);
    kn_db_destroy (&db);
}

//  An operator's forgotten BEGIN with an xid, older than every row: the cursor reads
//  past it, in this database and from another.
Test (write_horizon, an_open_transaction_that_writes_nothing_is_passed)
{
    PGconn *idle = s_session ();
    free (s_run (idle, "BEGIN; SELECT txid_current ()"));
    char *other_url = kn_test_db_create ();
    PGconn *elsewhere = PQconnectdb (other_url);
    cr_assert_eq (PQstatus (elsewhere), CONNECTION_OK);
    free (s_run (elsewhere, "BEGIN; SELECT core.begin_write (); SELECT txid_current ()"));
    PGconn *writer = s_session ();
    s_outbox (writer, "test.after_the_open_ones");
    char position[2][32] = {"0", "0"}, topics[200];
    s_read_some (position, topics, sizeof topics);
    cr_assert_str_eq (topics, "test.after_the_open_ones");
    //  Both are still open.
    cr_assert_eq (PQtransactionStatus (idle), PQTRANS_INTRANS);
    cr_assert_eq (PQtransactionStatus (elsewhere), PQTRANS_INTRANS);
    PQfinish (writer);
    PQfinish (elsewhere);
    free (other_url);
    PQfinish (idle);
}

//  Writer A announces itself and takes its xid first; writer B's row commits
//  first. The cursor must not read B's row before A ends, or it would pass A's.
Test (write_horizon, a_row_committed_late_is_not_skipped)
{
    PGconn *a = s_session (), *b = s_session ();
    free (s_run (a, "BEGIN; SELECT core.begin_write (); SELECT txid_current ()"));
    s_outbox (b, "test.b");
    char position[2][32] = {"0", "0"}, topics[200];
    s_read (position, topics, sizeof topics);
    cr_assert_str_eq (topics, "", "read past a writer that had not ended");
    s_outbox (a, "test.a");
    s_read (position, topics, sizeof topics);
    cr_assert_str_eq (topics, "");
    free (s_run (a, "COMMIT"));
    s_read_some (position, topics, sizeof topics);
    cr_assert_str_eq (topics, "test.a test.b");
    PQfinish (a);
    PQfinish (b);
}

//  A transaction never reads its own rows: they are not committed.
Test (write_horizon, the_readers_own_rows_wait_for_its_commit)
{
    kn_error_t err;
    cr_assert_eq (kn_db_begin_write (reader, NULL, &err), 0, "%s", err.message);
    PGresult *done = kn_db_query (reader,
                                  "INSERT INTO core.outbox (topic, aggregate_id, payload)"
                                  " VALUES ('test.own', gen_random_uuid (), '')",
                                  0, NULL, &err);
    cr_assert_not_null (done, "%s", err.message);
    PQclear (done);
    //  A later transaction commits, so the reader's xid is inside its snapshot's range.
    PGconn *later = s_session ();
    s_outbox (later, "test.later");
    PQfinish (later);
    char position[2][32] = {"0", "0"}, topics[200];
    s_read (position, topics, sizeof topics);
    cr_assert_str_eq (topics, "", "read its own rows before they committed");
    cr_assert_eq (kn_db_exec (reader, "COMMIT", &err), 0);
    s_read_some (position, topics, sizeof topics);
    cr_assert_str_eq (topics, "test.own test.later");
}
