/*  kn_db against a real PostgreSQL: statements deferred into one round trip with
    their COMMIT (libpq pipeline mode) commit together or not at all, say which
    failed, and leave the session usable; a read among them sees them and reports
    their failure; a row count is checked before the COMMIT goes; a service session carries its role's
    timeouts (and the process's), also after a reconnect; a lost session and a lock
    wait that timed out are SERVICE_UNAVAILABLE, a bug INTERNAL; effects are logged
    only once committed; a session asked for generic plans keeps them; a writing
    transaction's BEGIN and a read can wait for the next read's round trip. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <unistd.h>

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

Test (db, a_row_count_is_checked_before_the_commit_goes)
{
    kn_error_t err;
    const char *touch[] = {"42", "x"};   // no row 42: 0 rows, 1 expected
    cr_assert_eq (kn_db_do (db, "touch", 2, touch, 1, &err), -1);
    cr_assert_eq (err.code, KN_E_INTERNAL);
    cr_assert_eq (kn_db_do (db, "touch", 2, touch, 0, &err), 0, "%s", err.message);
    //  Deferred, the count is read before the COMMIT is sent: the commit fails,
    //  nothing is kept, the session is still good.
    int64_t now_us;
    cr_assert_eq (kn_db_begin_at (db, &now_us, &err), 0);
    cr_assert_eq (kn_db_defer_begin (db, &err), 0);
    cr_assert_eq (s_put ("1", "a", -1, &err), 0);
    cr_assert_eq (kn_db_do (db, "touch", 2, touch, 1, &err), 0, "only sent: %s", err.message);
    cr_assert_eq (kn_db_defer_commit (db, &err), -1);
    cr_assert_eq (err.code, KN_E_INTERNAL);
    cr_assert (strstr (err.message, "touch"), "%s", err.message);
    cr_assert_eq (kn_db_exec (db, "ROLLBACK", &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 0);
    cr_assert_eq (s_put ("2", "b", 1, &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 1);
}

//  A read between deferred writes reads their answers first, and sees what they did.
Test (db, a_read_in_a_pipeline_sees_the_writes_before_it)
{
    kn_error_t err;
    cr_assert_eq (kn_db_prepare (db, "count", "SELECT count (*) FROM t", &err), 0);
    int64_t now_us;
    cr_assert_eq (kn_db_begin_at (db, &now_us, &err), 0);
    cr_assert_eq (kn_db_defer_begin (db, &err), 0);
    cr_assert_eq (s_put ("1", "a", 1, &err), 0);
    cr_assert_eq (s_put ("2", "b", -1, &err), 0);
    PGresult *result = kn_db_run (db, "count", 0, NULL, NULL, NULL, &err);
    cr_assert (result, "%s", err.message);
    cr_assert_str_eq (PQgetvalue (result, 0, 0), "2");
    PQclear (result);
    cr_assert_eq (s_put ("3", "c", -1, &err), 0);
    cr_assert_eq (kn_db_defer_commit (db, &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 3);
}

//  A write that failed before a read makes the read fail with the write's error; the
//  caller's ROLLBACK keeps nothing and the session goes on.
Test (db, a_failed_write_fails_the_next_read)
{
    kn_error_t err;
    cr_assert_eq (kn_db_prepare (db, "count", "SELECT count (*) FROM t", &err), 0);
    int64_t now_us;
    cr_assert_eq (kn_db_begin_at (db, &now_us, &err), 0);
    cr_assert_eq (kn_db_defer_begin (db, &err), 0);
    cr_assert_eq (s_put ("1", "a", -1, &err), 0);
    cr_assert_eq (s_put ("1", "again", -1, &err), 0); // fails at the server
    cr_assert_null (kn_db_run (db, "count", 0, NULL, NULL, NULL, &err));
    cr_assert_eq (err.code, KN_E_CONFLICT, "%s", err.message);
    cr_assert_eq (kn_db_exec (db, "ROLLBACK", &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 0);
    cr_assert_eq (s_put ("2", "b", 1, &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 1);
}

//  More writes in a row than the pipeline keeps track of are read as they go.
Test (db, many_writes_without_a_read_all_commit)
{
    kn_error_t err;
    int64_t now_us;
    cr_assert_eq (kn_db_begin_at (db, &now_us, &err), 0);
    cr_assert_eq (kn_db_defer_begin (db, &err), 0);
    for (int k = 0; k < 100; k++) {
        char key[8];
        snprintf (key, sizeof key, "%d", k);
        cr_assert_eq (s_put (key, "v", 1, &err), 0, "%d: %s", k, err.message);
    }
    cr_assert_eq (kn_db_defer_commit (db, &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 100);
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

//  What sqlstates a client may retry (the same key): the server gone or going,
//  full, or a wait given up; never a bug.
Test (db, failures_are_sorted_into_retryable_and_bugs)
{
    static const struct {
        const char *sqlstate;
        bool connected;
        kn_code_t code;
    } cases[] = {
        {"", false, KN_E_SERVICE_UNAVAILABLE},      // no answer: the connection went
        {"", true, KN_E_INTERNAL},                  // no answer, connection fine: ours
        {"08006", false, KN_E_SERVICE_UNAVAILABLE}, // connection_failure
        {"08001", true, KN_E_SERVICE_UNAVAILABLE},  // cannot connect
        {"57P01", false, KN_E_SERVICE_UNAVAILABLE}, // admin_shutdown
        {"57P02", false, KN_E_SERVICE_UNAVAILABLE}, // crash_shutdown
        {"57P03", false, KN_E_SERVICE_UNAVAILABLE}, // cannot_connect_now (starting)
        {"53300", false, KN_E_SERVICE_UNAVAILABLE}, // too_many_connections
        {"57014", true, KN_E_SERVICE_UNAVAILABLE},  // statement_timeout
        {"55P03", true, KN_E_SERVICE_UNAVAILABLE},  // lock_timeout
        {"40001", true, KN_E_SERVICE_UNAVAILABLE},  // serialization_failure
        {"40P01", true, KN_E_SERVICE_UNAVAILABLE},  // deadlock_detected
        {"25P03", false, KN_E_SERVICE_UNAVAILABLE}, // idle_in_transaction timeout
        {"25006", true, KN_E_SERVICE_UNAVAILABLE},  // read only: a failover
        {"23505", true, KN_E_CONFLICT},
        {"42601", true, KN_E_INTERNAL}, // syntax_error: a bug
        {"42501", true, KN_E_INTERNAL}, // insufficient_privilege: a bug
        {"23502", true, KN_E_INTERNAL}, // not_null_violation
        {"22P02", true, KN_E_INTERNAL}, // invalid_text_representation
        {"57P04", true, KN_E_INTERNAL}, // database_dropped: not coming back
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq (kn_db_classify (cases[i].sqlstate, cases[i].connected),
                      cases[i].code, "sqlstate '%s' connected %d", cases[i].sqlstate,
                      cases[i].connected);
}

//  SHOW name on db.
static char *
s_show (kn_db_t *session, const char *name)
{
    char sql[100];
    snprintf (sql, sizeof sql, "SHOW %s", name);
    kn_error_t err;
    PGresult *result = kn_db_query (session, sql, 0, NULL, &err);
    cr_assert (result, "%s", err.message);
    char *value = strdup (PQgetvalue (result, 0, 0));
    PQclear (result);
    return value;
}

static void
s_expect_setting (kn_db_t *session, const char *name, const char *expected)
{
    char *value = s_show (session, name);
    cr_expect_str_eq (value, expected, "%s", name);
    free (value);
}

//  End the sessions named application_name in this database, and wait until they
//  are gone.
static void
s_terminate (const char *application_name)
{
    char sql[400];
    snprintf (sql, sizeof sql,
              "SELECT count (pg_terminate_backend (pid)) FROM pg_stat_activity"
              " WHERE datname = current_database () AND application_name = '%s'",
              application_name);
    free (kn_test_sql (url, sql));
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM pg_stat_activity"
              " WHERE datname = current_database () AND application_name = '%s'",
              application_name);
    int64_t deadline = zclock_mono () + 10000;
    while (kn_test_count (url, sql) > 0) {
        cr_assert (zclock_mono () < deadline, "%s outlived pg_terminate_backend",
                   application_name);
        zclock_sleep (10);
    }
}

Test (db, a_service_session_has_its_roles_timeouts)
{
    kn_error_t err;
    kn_db_t *intake = kn_db_new (url, "kinnet_intake", &err);
    cr_assert (intake, "%s", err.message);
    //  ALTER ROLE ... SET (migration 0024) applies at login, not at SET ROLE: kn_db
    //  applies it.
    s_expect_setting (intake, "statement_timeout", "30s");
    s_expect_setting (intake, "lock_timeout", "5s");
    s_expect_setting (intake, "idle_in_transaction_session_timeout", "1min");
    s_expect_setting (intake, "application_name", "kinnet_intake");
    //  A new session after the server dropped this one has them again.
    s_terminate ("kinnet_intake");
    PGresult *result = kn_db_query (intake, "SELECT 1", 0, NULL, &err);
    cr_assert_null (result);
    cr_assert_eq (err.code, KN_E_SERVICE_UNAVAILABLE, "%s", err.message);
    cr_assert (strstr (err.message, "retry with the same idempotency key"), "%s",
               err.message);
    cr_assert_eq (kn_db_ensure (intake, &err), 0, "%s", err.message);
    s_expect_setting (intake, "statement_timeout", "30s");
    s_expect_setting (intake, "lock_timeout", "5s");
    kn_db_destroy (&intake);

    kn_db_t *reporting = kn_db_new (url, "kinnet_reporting", &err);
    cr_assert (reporting, "%s", err.message);
    s_expect_setting (reporting, "statement_timeout", "5min");
    s_expect_setting (reporting, "idle_in_transaction_session_timeout", "5min");
    kn_db_destroy (&reporting);
}

Test (db, the_process_settings_override_the_roles)
{
    setenv ("KINNET_DB_STATEMENT_TIMEOUT_MS", "1234", 1);
    setenv ("KINNET_DB_LOCK_TIMEOUT_MS", "0", 1);
    setenv ("KINNET_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", "not a number", 1);
    kn_error_t err;
    kn_db_t *consent = kn_db_new (url, "kinnet_consent", &err);
    cr_assert (consent, "%s", err.message);
    s_expect_setting (consent, "statement_timeout", "1234ms");
    s_expect_setting (consent, "lock_timeout", "0");
    s_expect_setting (consent, "idle_in_transaction_session_timeout",
                      "1min"); // the role's
    kn_db_destroy (&consent);
}

Test (db, a_lock_wait_gives_up_retryably)
{
    free (kn_test_sql (url, "GRANT SELECT, INSERT, UPDATE ON t TO kinnet_intake"));
    setenv ("KINNET_DB_LOCK_TIMEOUT_MS", "200", 1);
    kn_error_t err;
    kn_db_t *intake = kn_db_new (url, "kinnet_intake", &err);
    cr_assert (intake, "%s", err.message);
    //  Another session holds the table, as a forgotten BEGIN would.
    PGconn *holder = PQconnectdb (url);
    PQclear (PQexec (holder, "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE"));
    cr_assert_eq (PQtransactionStatus (holder), PQTRANS_INTRANS);
    PGresult *result = kn_db_query (intake, "SELECT count (*) FROM t", 0, NULL, &err);
    cr_assert_null (result);
    cr_assert_eq (err.code, KN_E_SERVICE_UNAVAILABLE, "%s", err.message);
    cr_assert_str_eq (kn_db_sqlstate (intake), "55P03");
    PQclear (PQexec (holder, "ROLLBACK"));
    PQfinish (holder);
    //  The same session goes on.
    result = kn_db_query (intake, "SELECT count (*) FROM t", 0, NULL, &err);
    cr_assert (result, "%s", err.message);
    PQclear (result);
    //  A bug stays a bug.
    cr_assert_null (kn_db_query (intake, "SELEC 1", 0, NULL, &err));
    cr_assert_eq (err.code, KN_E_INTERNAL);
    kn_db_destroy (&intake);
}

Test (db, effects_are_logged_after_commit_only)
{
    kn_error_t err;
    int saved;
    char *path = kn_test_stderr_begin (&saved);
    //  Rolled back: never said.
    cr_assert_eq (kn_db_exec (db, "BEGIN", &err), 0);
    kn_db_log_committed (db, KN_INFO, "effect.rolled_back", "id", "1", NULL);
    cr_assert_eq (kn_db_exec (db, "ROLLBACK", &err), 0);
    //  A COMMIT of a failed transaction succeeds, saying ROLLBACK: never said.
    cr_assert_eq (kn_db_exec (db, "BEGIN", &err), 0);
    kn_db_log_committed (db, KN_INFO, "effect.failed", "id", "2", NULL);
    cr_assert_eq (s_put ("1", NULL, 1, &err), -1); // v is NOT NULL
    cr_assert_eq (kn_db_exec (db, "COMMIT", &err), 0);
    //  A COMMIT that fails (a deferred constraint): never said.
    free (kn_test_sql (url,
                       "CREATE FUNCTION t_refuse () RETURNS trigger LANGUAGE plpgsql AS"
                       " $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"));
    free (kn_test_sql (url, "CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON t"
                            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                            " WHEN (NEW.v = 'refuse') EXECUTE FUNCTION t_refuse ()"));
    cr_assert_eq (kn_db_exec (db, "BEGIN", &err), 0);
    kn_db_log_committed (db, KN_INFO, "effect.refused_at_commit", "id", "3", NULL);
    cr_assert_eq (s_put ("3", "refuse", 1, &err), 0);
    cr_assert_eq (kn_db_exec (db, "COMMIT", &err), -1);
    //  Committed, plainly and deferred: said, after the COMMIT.
    cr_assert_eq (kn_db_exec (db, "BEGIN", &err), 0);
    kn_db_log_committed (db, KN_INFO, "effect.committed", "id", "4", NULL);
    cr_assert_eq (s_put ("4", "d", 1, &err), 0);
    char *before = kn_test_read_file (path);
    cr_assert_null (strstr (before ? before : "", "effect.committed"),
                    "said before COMMIT");
    free (before);
    cr_assert_eq (kn_db_exec (db, "COMMIT", &err), 0);
    int64_t now_us;
    cr_assert_eq (kn_db_begin_at (db, &now_us, &err), 0);
    kn_db_log_committed (db, KN_INFO, "effect.deferred", "id", "5", NULL);
    cr_assert_eq (kn_db_defer_begin (db, &err), 0);
    cr_assert_eq (s_put ("5", "e", -1, &err), 0);
    cr_assert_eq (kn_db_defer_commit (db, &err), 0, "%s", err.message);
    //  Outside a transaction there is nothing to wait for.
    kn_db_log_committed (db, KN_INFO, "effect.autocommit", NULL);
    char *text = kn_test_stderr_end (saved, path);
    cr_expect_null (strstr (text, "effect.rolled_back"), "%s", text);
    cr_expect_null (strstr (text, "effect.failed"), "%s", text);
    cr_expect_null (strstr (text, "effect.refused_at_commit"), "%s", text);
    cr_expect (strstr (text, "\"event\":\"effect.committed\",\"id\":\"4\""), "%s", text);
    cr_expect (strstr (text, "effect.deferred"), "%s", text);
    cr_expect (strstr (text, "effect.autocommit"), "%s", text);
    free (text);
}

//  End db's session from the server's side (pg_terminate_backend) and await the
//  backend's end.
static void
s_end_session (void)
{
    char *pid = kn_test_sql (url, "SELECT pid FROM pg_stat_activity WHERE datname ="
                                  " current_database () AND pid <> pg_backend_pid ()"
                                  " AND backend_type = 'client backend'");
    cr_assert (pid);
    free (kn_test_sqlf (url, "SELECT pg_terminate_backend (%s)", pid));
    int64_t deadline = zclock_mono () + 10000;
    while (kn_test_countf (url, "SELECT count (*) FROM pg_stat_activity WHERE pid = %s", pid)
               != 0
           && zclock_mono () < deadline)
        zclock_sleep (20);
    cr_assert_lt (zclock_mono (), deadline, "the backend %s did not end", pid);
    free (pid);
}

//  A session the server ended while idle (a failover, a restart) is noticed before
//  the next request's first statement, and re-made: that request succeeds, rather
//  than failing once for the caller to retry.
Test (db, a_session_ended_while_idle_is_remade_before_the_next_request)
{
    s_end_session ();
    kn_error_t err;
    cr_assert_eq (kn_db_ensure (db, &err), 0, "%s", err.message);
    cr_assert_eq (s_put ("1", "after", 1, &err), 0, "the first statement after: %s",
                  err.message);
    cr_assert_eq (s_rows (), 1);
}

//  Ended in the middle of a transaction: kn_db_ensure says so rather than handing
//  the caller a new session (it would go on in autocommit, and its COMMIT would
//  "succeed" with nothing before it); the next request gets a new session.
Test (db, a_session_ended_mid_transaction_is_reported_not_replaced)
{
    kn_error_t err;
    cr_assert_eq (kn_db_exec (db, "BEGIN", &err), 0, "%s", err.message);
    cr_assert_eq (s_put ("1", "inside", 1, &err), 0, "%s", err.message);
    s_end_session ();
    cr_assert_eq (kn_db_ensure (db, &err), -1, "a new session replaced a transaction's");
    cr_assert_eq (err.code, KN_E_SERVICE_UNAVAILABLE);
    cr_assert_eq (kn_db_ensure (db, &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 0, "the transaction's row survived its session");
    cr_assert_eq (s_put ("2", "after", 1, &err), 0, "%s", err.message);
}

//  A session asked for generic plans keeps them: on a new session after the old
//  one ended too (routing's consumer would otherwise be re-planning its
//  costliest statement on every call again, without a sign).
Test (db, generic_plans_survive_a_reconnect)
{
    s_expect_setting (db, "plan_cache_mode", "auto");
    kn_error_t err;
    cr_assert_eq (kn_db_prefer_generic_plans (db, 60000, &err), 0, "%s", err.message);
    s_expect_setting (db, "plan_cache_mode", "force_generic_plan");
    //  Closed from this side: when the server ends a session, a statement may find
    //  out before kn_db_ensure does (test_db's other reconnect tests cover that).
    kn_db_disconnect (db);
    cr_assert_eq (kn_db_ensure (db, &err), 0, "%s", err.message);
    s_expect_setting (db, "plan_cache_mode", "force_generic_plan");
}

//  The plan of `get` as EXPLAIN EXECUTE shows it (the session's cached plan).
static char *
s_plan_of_get (void)
{
    kn_error_t err;
    PGresult *result = kn_db_query (db, "EXPLAIN EXECUTE get (1)", 0, NULL, &err);
    cr_assert (result, "%s", err.message);
    char *plan = strdup (PQgetvalue (result, 0, 0));
    PQclear (result);
    return plan;
}

//  A generic plan made while a table was tiny scans it whole; once the table has
//  grown, the plans are made again (between transactions, on the session's clock)
//  and look rows up by key.
Test (db, generic_plans_are_made_again_as_tables_grow)
{
    kn_error_t err;
    //  Analysed while it holds one row: the planner then trusts its single page.
    free (kn_test_sql (url, "INSERT INTO t VALUES (0, 'v'); ANALYZE t"));
    cr_assert_eq (kn_db_prepare (db, "get", "SELECT v FROM t WHERE k = $1", &err), 0);
    cr_assert_eq (kn_db_prefer_generic_plans (db, 0, &err), 0, "%s", err.message);
    char *plan = s_plan_of_get ();
    cr_assert (strstr (plan, "Seq Scan"), "the plan on a one-row table: %s", plan);
    free (plan);
    free (kn_test_sql (url, "INSERT INTO t SELECT k, 'v' FROM generate_series (1, 100000) k"));
    cr_assert_eq (kn_db_ensure (db, &err), 0, "%s", err.message);
    plan = s_plan_of_get ();
    cr_expect (strstr (plan, "Index"), "the plan on 100,000 rows: %s", plan);
    free (plan);
}

//  Several reads in one round trip: each result in its place, in or out of a
//  pipeline (in one, after the writes before them); one that fails fails them all
//  and leaves the session usable.
Test (db, several_reads_go_in_one_round_trip)
{
    kn_error_t err;
    cr_assert_eq (kn_db_prepare (db, "below", "SELECT count (*) FROM t WHERE k < $1", &err), 0);
    cr_assert_eq (kn_db_prepare (db, "above", "SELECT count (*) FROM t WHERE k > $1", &err), 0);
    cr_assert_eq (kn_db_prepare (db, "boom", "SELECT 1 / ($1::int - 5)", &err), 0);
    for (int k = 1; k <= 9; k++) {
        char key[4];
        snprintf (key, sizeof key, "%d", k);
        cr_assert_eq (s_put (key, "v", 1, &err), 0);
    }
    const char *names[] = {"below", "above"}, *five[] = {"5"};
    PGresult *results[2];
    cr_assert_eq (kn_db_run_all (db, 2, names, 1, five, results, &err), 0, "%s", err.message);
    cr_assert_str_eq (PQgetvalue (results[0], 0, 0), "4");
    cr_assert_str_eq (PQgetvalue (results[1], 0, 0), "4");
    PQclear (results[0]);
    PQclear (results[1]);
    //  Out of the pipeline again: a plain statement works.
    cr_assert_eq (s_put ("10", "v", 1, &err), 0, "%s", err.message);

    //  In a pipeline, after a write that is only sent.
    int64_t now_us;
    cr_assert_eq (kn_db_begin_at (db, &now_us, &err), 0);
    cr_assert_eq (kn_db_defer_begin (db, &err), 0);
    cr_assert_eq (s_put ("11", "v", 1, &err), 0);
    cr_assert_eq (kn_db_run_all (db, 2, names, 1, five, results, &err), 0, "%s", err.message);
    cr_assert_str_eq (PQgetvalue (results[1], 0, 0), "6", "the write before is seen");
    PQclear (results[0]);
    PQclear (results[1]);
    cr_assert_eq (kn_db_defer_commit (db, &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 11);

    //  One fails (division by zero): none is returned, the session goes on.
    const char *bad[] = {"below", "boom", "above"};
    PGresult *three[3];
    cr_assert_eq (kn_db_run_all (db, 3, bad, 1, five, three, &err), -1);
    cr_assert (!three[0] && !three[1] && !three[2]);
    cr_assert_str_eq (kn_db_sqlstate (db), "22012");
    cr_assert_eq (s_put ("12", "v", 1, &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 12);
}

//  kn_db_defer_begin_write and kn_db_defer_read cost no round trip of their own:
//  BEGIN, the announcement, now () and the kept read are answered with the next
//  read, which sees them all in one transaction; a failure before a kept read
//  leaves it unanswered, and the caller's ROLLBACK keeps nothing.
Test (db, a_deferred_begin_and_read_wait_for_the_next_read)
{
    kn_error_t err;
    cr_assert_eq (kn_db_prepare (db, "count", "SELECT count (*) FROM t", &err), 0);
    cr_assert_eq (kn_db_prepare (db, "now_us",
                                 "SELECT (extract (epoch FROM now ()) * 1000000)::bigint,"
                                 " current_setting ('kinnet.write_begun', true) IS NOT NULL",
                                 &err),
                  0);
    uint64_t before = kn_db_round_trips (db);
    int64_t now_us = -1;
    cr_assert_eq (kn_db_defer_begin_write (db, &now_us, &err), 0, "%s", err.message);
    cr_assert_eq (now_us, 0, "not answered yet");
    cr_assert_eq (s_put ("1", "a", 1, &err), 0);
    PGresult *kept = (PGresult *)&err; // anything not NULL
    cr_assert_eq (kn_db_defer_read (db, "count", 0, NULL, &kept, &err), 0);
    cr_assert_null (kept, "not answered yet");
    cr_assert_eq (kn_db_round_trips (db), before, "nothing waited for so far");
    PGresult *now = kn_db_run (db, "now_us", 0, NULL, NULL, NULL, &err);
    cr_assert (now, "%s", err.message);
    cr_assert_eq (kn_db_round_trips (db), before + 1);
    cr_assert_eq (now_us, strtoll (PQgetvalue (now, 0, 0), NULL, 10),
                  "the transaction's now ()");
    cr_assert_str_eq (PQgetvalue (now, 0, 1), "t", "announced as a writer");
    PQclear (now);
    cr_assert (kept);
    cr_assert_str_eq (PQgetvalue (kept, 0, 0), "1", "the write before it is seen");
    PQclear (kept);
    cr_assert_eq (kn_db_defer_commit (db, &err), 0, "%s", err.message);
    cr_assert_eq (kn_db_round_trips (db), before + 2);
    cr_assert_eq (s_rows (), 1);

    //  A write that fails before the kept read: the read is never answered.
    cr_assert_eq (kn_db_defer_begin_write (db, &now_us, &err), 0, "%s", err.message);
    cr_assert_eq (s_put ("2", "b", 1, &err), 0);
    cr_assert_eq (s_put ("1", "again", -1, &err), 0); // fails at the server
    cr_assert_eq (kn_db_defer_read (db, "count", 0, NULL, &kept, &err), 0);
    cr_assert_null (kn_db_run (db, "count", 0, NULL, NULL, NULL, &err));
    cr_assert_eq (err.code, KN_E_CONFLICT, "%s", err.message);
    cr_assert_null (kept);
    cr_assert_eq (kn_db_exec (db, "ROLLBACK", &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 1);
    cr_assert_eq (s_put ("3", "c", 1, &err), 0, "%s", err.message);
    cr_assert_eq (s_rows (), 2);
}
