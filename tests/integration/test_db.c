/*  kn_db against a real PostgreSQL: write-behind sends the end of a transaction in
    one round trip and must still commit all of it or none of it. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kn_db.h"
#include "kn_test.h"

static char *url;
static kn_db_t *db;

static void
s_setup (void)
{
    url = kn_test_db_create ();
    kn_error_t err;
    db = kn_db_new (url, NULL, &err);
    cr_assert (db, "%s", err.message);
    cr_assert_eq (kn_db_exec (db, "CREATE TABLE t (k int PRIMARY KEY, v text)", &err), 0);
    cr_assert_eq (kn_db_prepare (db, "t_insert", "INSERT INTO t VALUES ($1::int, $2)", &err), 0);
}

static void
s_teardown (void)
{
    kn_db_destroy (&db);
    free (url);
    kn_test_no_leaks ();
}

TestSuite (db, .init = s_setup, .fini = s_teardown, .timeout = 60);

static int
s_insert (const char *k, kn_error_t *err)
{
    const char *values[] = {k, "value"};
    PGresult *result = kn_db_run (db, "t_insert", 2, values, NULL, NULL, err);
    if (!result)
        return -1;
    cr_assert_eq (PQresultStatus (result), PGRES_COMMAND_OK);
    PQclear (result);
    return 0;
}

static long
s_count (void)
{
    char *n = kn_test_sql (url, "SELECT count (*) FROM t");
    long count = atol (n);
    free (n);
    return count;
}

Test (db, write_behind_commits_everything_queued)
{
    kn_error_t err;
    cr_assert_eq (kn_db_exec (db, "BEGIN", &err), 0);
    cr_assert_eq (s_insert ("1", &err), 0);   // an ordinary statement first
    cr_assert_eq (kn_db_write_behind_begin (db, &err), 0);
    cr_assert_eq (s_insert ("2", &err), 0);
    cr_assert_eq (s_insert ("3", &err), 0);
    cr_assert_eq (s_count (), 0, "nothing is visible before the COMMIT");
    cr_assert_eq (kn_db_write_behind_commit (db, &err), 0, "%s", err.message);
    cr_assert_eq (s_count (), 3);
    //  The session is back to normal: a statement runs and answers at once.
    PGresult *result = kn_db_query (db, "SELECT max (k) FROM t", 0, NULL, &err);
    cr_assert (result);
    cr_assert_str_eq (PQgetvalue (result, 0, 0), "3");
    PQclear (result);
}

Test (db, a_failing_queued_statement_commits_nothing)
{
    kn_error_t err;
    cr_assert_eq (s_insert ("7", &err), 0);
    cr_assert_eq (kn_db_exec (db, "BEGIN", &err), 0);
    cr_assert_eq (kn_db_write_behind_begin (db, &err), 0);
    cr_assert_eq (s_insert ("8", &err), 0);
    cr_assert_eq (s_insert ("7", &err), 0, "queued: the conflict is not known yet");
    cr_assert_eq (s_insert ("9", &err), 0);
    cr_assert_eq (kn_db_write_behind_commit (db, &err), -1);
    cr_assert_eq (err.code, KN_E_CONFLICT, "%s", err.message);
    cr_assert_str_eq (kn_db_sqlstate (db), "23505");
    cr_assert_eq (kn_db_exec (db, "ROLLBACK", &err), 0);
    cr_assert_eq (s_count (), 1, "8 and 9 went with the failed transaction");
    cr_assert_eq (s_insert ("8", &err), 0, "and the session is usable: %s", err.message);
}

Test (db, abort_rolls_back_what_was_queued)
{
    kn_error_t err;
    cr_assert_eq (kn_db_exec (db, "BEGIN", &err), 0);
    cr_assert_eq (s_insert ("1", &err), 0);
    cr_assert_eq (kn_db_write_behind_begin (db, &err), 0);
    cr_assert_eq (s_insert ("2", &err), 0);
    kn_db_write_behind_abort (db);
    kn_db_write_behind_abort (db);   // a second one is a no-op
    cr_assert_eq (kn_db_exec (db, "ROLLBACK", &err), 0);
    cr_assert_eq (s_count (), 0);
    cr_assert_eq (s_insert ("5", &err), 0, "%s", err.message);
    cr_assert_eq (s_count (), 1);
}

Test (db, a_commit_after_an_earlier_failure_is_refused)
{
    kn_error_t err;
    cr_assert_eq (kn_db_exec (db, "BEGIN", &err), 0);
    cr_assert_eq (s_insert ("1", &err), 0);
    //  A failure before write-behind leaves the transaction aborted ...
    cr_assert_eq (s_insert ("1", &err), -1);
    cr_assert_eq (kn_db_write_behind_begin (db, &err), 0);
    cr_assert_eq (kn_db_write_behind_commit (db, &err), -1,
                  "... and its COMMIT, answered ROLLBACK, must not count as committed");
    cr_assert_eq (kn_db_exec (db, "ROLLBACK", &err), 0);
    cr_assert_eq (s_count (), 0);
}
