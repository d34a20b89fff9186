/*  kn_db against a real PostgreSQL: statements deferred into one round trip with
    their COMMIT (libpq pipeline mode) commit together or not at all, say which
    failed, and leave the session usable. */
#include <criterion/criterion.h>

#include "kn_db.h"
#include "kn_test.h"

static char *url;
static kn_db_t *db;

static void
s_setup (void)
{
    url = kn_test_db_create ();
    free (kn_test_sql (url, "CREATE TABLE t (k int PRIMARY KEY, v text NOT NULL)"));
    kn_error_t err;
    db = kn_db_new (url, NULL, &err);
    cr_assert_not_null (db, "%s", err.message);
    cr_assert_eq (kn_db_prepare (db, "put", "INSERT INTO t (k, v) VALUES ($1, $2)", &err), 0);
    cr_assert_eq (kn_db_prepare (db, "touch", "UPDATE t SET v = $2 WHERE k = $1", &err), 0);
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
s_rows (void)
{
    char *value = kn_test_sql (url, "SELECT count (*) FROM t");
    int n = atoi (value);
    free (value);
    return n;
}

static int
s_put (const char *k, const char *v, long expect, kn_error_t *err)
{
    const char *values[] = {k, v};
    return kn_db_do (db, "put", 2, values, expect, err);
}

Test (db, deferred_statements_commit_together)
{
    kn_error_t err;
    int64_t now_us = 0;
    cr_assert_eq (kn_db_begin_at (db, &now_us, &err), 0, "%s", err.message);
    cr_assert_gt (now_us, 1700000000LL * 1000000);
    cr_assert_eq (kn_db_defer_begin (db, &err), 0);
    cr_assert_eq (s_put ("1", "a", -1, &err), 0);
    cr_assert_eq (s_put ("2", "b", -1, &err), 0);
    //  Sent, not run yet as far as anyone else can see.
    cr_assert_eq (s_rows (), 0);
    cr_assert_eq (kn_db_defer_commit (db, &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 2);
    //  Out of pipeline mode: ordinary statements work again.
    cr_assert_eq (kn_db_exec (db, "BEGIN", &err), 0);
    cr_assert_eq (s_put ("3", "c", 1, &err), 0);
    cr_assert_eq (kn_db_exec (db, "COMMIT", &err), 0);
    cr_assert_eq (s_rows (), 3);
}

Test (db, a_failing_deferred_statement_commits_nothing)
{
    kn_error_t err;
    int64_t now_us;
    cr_assert_eq (kn_db_begin_at (db, &now_us, &err), 0);
    cr_assert_eq (kn_db_defer_begin (db, &err), 0);
    cr_assert_eq (s_put ("1", "a", -1, &err), 0);
    cr_assert_eq (s_put ("1", "again", -1, &err), 0);   // fails at the server
    cr_assert_eq (s_put ("2", "b", -1, &err), 0);      // never runs
    cr_assert_eq (kn_db_defer_commit (db, &err), -1);
    cr_assert_eq (err.code, KN_E_CONFLICT);
    cr_assert_str_eq (kn_db_sqlstate (db), "23505");
    cr_assert_eq (kn_db_exec (db, "ROLLBACK", &err), 0);
    cr_assert_eq (s_rows (), 0);
    //  The session is still good.
    cr_assert_eq (s_put ("9", "z", 1, &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 1);
}

Test (db, a_row_count_is_checked_at_once_and_never_deferred)
{
    kn_error_t err;
    const char *touch[] = {"42", "x"};   // no row 42: 0 rows, 1 expected
    cr_assert_eq (kn_db_do (db, "touch", 2, touch, 1, &err), -1);
    cr_assert_eq (err.code, KN_E_INTERNAL);
    cr_assert_eq (kn_db_do (db, "touch", 2, touch, 0, &err), 0, "%s", err.message);
    //  Deferred, the COMMIT would run before the count came back: refused, and the
    //  caller's ROLLBACK leaves nothing.
    int64_t now_us;
    cr_assert_eq (kn_db_begin_at (db, &now_us, &err), 0);
    cr_assert_eq (kn_db_defer_begin (db, &err), 0);
    cr_assert_eq (s_put ("1", "a", -1, &err), 0);
    cr_assert_eq (kn_db_do (db, "touch", 2, touch, 1, &err), -1);
    cr_assert_eq (kn_db_exec (db, "ROLLBACK", &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 0);
}

Test (db, giving_up_half_way_rolls_back)
{
    kn_error_t err;
    int64_t now_us;
    cr_assert_eq (kn_db_begin_at (db, &now_us, &err), 0);
    cr_assert_eq (kn_db_defer_begin (db, &err), 0);
    cr_assert_eq (s_put ("1", "a", -1, &err), 0);
    //  A caller that stops before its COMMIT rolls back as always.
    cr_assert_eq (kn_db_exec (db, "ROLLBACK", &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 0);
    cr_assert_eq (s_put ("2", "b", 1, &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 1);
}
