/*  A lost or unavailable database as clients see it, through the real stack and the
    kinnet CLI: a service session the server ended is replaced; while the database
    takes no connections every service answers SERVICE_UNAVAILABLE (the CLI exits 8,
    temporary, and says service_unavailable), never INTERNAL; a lock held past intake's
    lock_timeout is SERVICE_UNAVAILABLE too; and a retry with the same key stores the
    referral once. */
#include <criterion/criterion.h>
#include <libpq-fe.h>

#include "kn_agency.h"
#include "kn_test.h"

static kn_test_stack_t *stack;
static PGconn *watch; // the test's own session: it outlives the outage
static char dir[300];

static const char *s_services[] = {"kinnet_intake", "kinnet_consent", "kinnet_routing",
                                   "kinnet_reporting", "kinnet_admin"};

static void
s_setup (void)
{
    zsys_init ();
    //  Intake gives up on a lock after 0.5 s, well within the CLI's wait.
    const char *env[] = {"intake", "KINNET_DB_LOCK_TIMEOUT_MS", "500", NULL};
    stack = kn_test_stack_new_with_env (env);
    snprintf (dir, sizeof dir, "%s", kn_test_stack_dir (stack));
    watch = PQconnectdb (kn_test_stack_db_url (stack));
    cr_assert_eq (PQstatus (watch), CONNECTION_OK);
    kn_error_t err;
    kn_db_t *admin = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    cr_assert (admin, "%s", err.message);
    cr_assert_eq (kn_agency_set_role (admin, kn_test_stack_agency_id (stack, 0),
                                      "auditor", true, &err),
                  0, "%s", err.message);
    kn_db_destroy (&admin);
}

static void
s_teardown (void)
{
    PQclear (PQexec (watch, "ROLLBACK"));
    PQfinish (watch);
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (db_loss, .init = s_setup, .fini = s_teardown, .timeout = 180);

//  sql on the test's own session; the first value of its first row (caller frees),
//  or NULL.
static char *
s_watch (const char *sql)
{
    PGresult *result = PQexec (watch, sql);
    ExecStatusType status = PQresultStatus (result);
    cr_assert (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK, "%s: %s", sql,
               PQerrorMessage (watch));
    char *value = PQntuples (result) ? strdup (PQgetvalue (result, 0, 0)) : NULL;
    PQclear (result);
    return value;
}

static int
s_watch_count (const char *sql)
{
    char *value = s_watch (sql);
    int n = value ? atoi (value) : -1;
    free (value);
    return n;
}

//  End every service's database session (each names its role), and wait until the
//  server has let those go. A service may already have a new one by then (routing's
//  consumer reconnects at once to go on with its work): what is awaited is the end
//  of the sessions that were ended, by their process ids.
static void
s_end_sessions (void)
{
    char names[400] = "";
    for (size_t i = 0; i < sizeof s_services / sizeof s_services[0]; i++)
        snprintf (names + strlen (names), sizeof names - strlen (names), "%s'%s'",
                  i ? ", " : "", s_services[i]);
    char list[700];
    snprintf (list, sizeof list,
              "SELECT string_agg (pid::text, ',') FROM pg_stat_activity"
              " WHERE datname = current_database () AND application_name IN (%s)",
              names);
    char *pids = s_watch (list);
    cr_assert (pids && *pids, "no service session found");
    char terminate[4200], left[4200];
    snprintf (terminate, sizeof terminate,
              "SELECT count (pg_terminate_backend (pid)) FROM unnest ('{%s}'::int[]) AS pid",
              pids);
    snprintf (left, sizeof left,
              "SELECT count (*) FROM pg_stat_activity WHERE pid = ANY ('{%s}'::int[])", pids);
    free (pids);
    cr_assert_gt (s_watch_count (terminate), 0, "no service session ended");
    int64_t deadline = zclock_mono () + 10000;
    while (s_watch_count (left) > 0) {
        cr_assert (zclock_mono () < deadline, "a service session outlived its end");
        zclock_sleep (10);
    }
}

//  The database takes no new session (as while it restarts), or again. Said from
//  another database: the server refuses it from inside.
static void
s_connections (bool allowed)
{
    char sql[200];
    char *name = s_watch ("SELECT current_database ()");
    snprintf (sql, sizeof sql, "ALTER DATABASE \"%s\" ALLOW_CONNECTIONS %s", name,
              allowed ? "true" : "false");
    free (name);
    PGconn *server = PQconnectdb (getenv ("KINNET_TEST_DATABASE_URL"));
    PGresult *result = PQexec (server, sql);
    cr_assert_eq (PQresultStatus (result), PGRES_COMMAND_OK, "%s: %s", sql,
                  PQerrorMessage (server));
    PQclear (result);
    PQfinish (server);
}

//  The CLI as agency with JSON output; its exit code, and what it printed in *out.
static int
s_cli (int agency, char **out, const char *args)
{
    char *env = kn_test_stack_cli_env (stack, agency);
    int rc =
        kn_test_run_cli (env, out, "--format json --timeout 5000 --retries 0 %s", args);
    free (env);
    return rc;
}

static const char *s_referral =
    "{\"idempotency_key\": \"LOSS-1\","
    " \"child\": {\"given_name\": \"Ines\", \"family_name\": \"Moreau\","
    "            \"date_of_birth\": \"2016-03-11\", \"languages\": [\"fr\"]},"
    " \"needs\": [{\"category\": \"parenting_support\", \"description\": \"Support.\"}],"
    " \"urgency\": \"routine\", \"district\": \"north\","
    " \"lawful_ground\": {\"basis\": \"public_task\","
    "                   \"justification\": \"Early help assessment.\"}}";

static void
s_write_referral (void)
{
    char path[400];
    snprintf (path, sizeof path, "%s/loss.json", dir);
    FILE *file = fopen (path, "w");
    cr_assert (file);
    fputs (s_referral, file);
    fclose (file);
}

//  One request to each service, as agency, and what it should be sent with.
typedef struct {
    int agency;
    const char *args;
} call_t;

static void
s_calls (call_t calls[6])
{
    static char refer[400];
    snprintf (refer, sizeof refer, "refer --file %s/loss.json", dir);
    call_t all[] = {
        {0, refer},                                                // intake
        {0, "consent expiring --days 30"},                         // consent
        {0, "case unplaced"},                                      // routing
        {0, "feed"},                                               // feed
        {0, "report referrals --from 2026-01-01 --to 2026-12-31"}, // reporting
        {KN_TEST_ADMIN, "admin routing show"},                     // admin
    };
    memcpy (calls, all, sizeof all);
}

//  A service whose sessions the server ended answers SERVICE_UNAVAILABLE at most
//  once per session it had (feed has two), never INTERNAL, and then serves.
static void
s_served_again (const call_t *call)
{
    int rc = -1;
    for (int attempt = 0; attempt < 4 && rc != 0; attempt++) {
        char *out = NULL;
        rc = s_cli (call->agency, &out, call->args);
        cr_expect (rc == 0 || (rc == 8 && strstr (out, "\"service_unavailable\"")),
                   "%s: exit %d: %s", call->args, rc, out);
        free (out);
    }
    cr_expect_eq (rc, 0, "%s is not served again", call->args);
}

Test (db_loss, an_unavailable_database_is_retryable_everywhere)
{
    s_write_referral ();
    call_t calls[6];
    s_calls (calls);
    //  A restart: every session ends and none can be had for a while.
    s_connections (false);
    s_end_sessions ();
    for (size_t i = 0; i < 6; i++) {
        char *out = NULL;
        int rc = s_cli (calls[i].agency, &out, calls[i].args);
        cr_expect_eq (rc, 8, "%s: exit %d: %s", calls[i].args, rc, out);
        cr_expect (strstr (out, "\"service_unavailable\""), "%s: %s", calls[i].args, out);
        cr_expect (strstr (out, "retry with the same idempotency key"), "%s: %s",
                   calls[i].args, out);
        cr_expect_null (strstr (out, "internal"), "%s: %s", calls[i].args, out);
        free (out);
    }
    s_connections (true);
    //  The same command again: stored now, once; and again: the stored answer.
    char *out = NULL;
    cr_assert_eq (s_cli (0, &out, calls[0].args), 0, "%s", out);
    cr_assert (strstr (out, "\"replayed\": false") || !strstr (out, "\"replayed\": true"),
               "%s", out);
    char first[KN_UUID_STR] = "";
    const char *at = strstr (out, "\"referral_id\": \"");
    cr_assert (at, "%s", out);
    snprintf (first, sizeof first, "%s", at + strlen ("\"referral_id\": \""));
    free (out);
    cr_assert_eq (s_cli (0, &out, calls[0].args), 0, "%s", out);
    cr_assert (strstr (out, "\"replayed\": true"), "%s", out);
    cr_assert (strstr (out, first), "%s", out);
    free (out);
    cr_assert_eq (s_watch_count ("SELECT count (*) FROM intake.referral"), 1);
    cr_assert_eq (s_watch_count ("SELECT count (*) FROM intake.idempotency"
                                 " WHERE key = 'LOSS-1'"),
                  1);
    for (size_t i = 1; i < 6; i++)
        s_served_again (&calls[i]);
}

Test (db_loss, an_ended_session_is_replaced_never_internal)
{
    s_write_referral ();
    call_t calls[6];
    s_calls (calls);
    s_end_sessions ();
    //  Intake tries once more on a new session: the client does not notice.
    char *out = NULL;
    cr_assert_eq (s_cli (0, &out, calls[0].args), 0, "%s", out);
    free (out);
    s_end_sessions ();
    for (size_t i = 1; i < 6; i++)
        s_served_again (&calls[i]);
    cr_assert_eq (s_watch_count ("SELECT count (*) FROM intake.referral"), 1);
}

Test (db_loss, a_lock_held_too_long_is_retryable)
{
    s_write_referral ();
    call_t calls[6];
    s_calls (calls);
    //  A forgotten BEGIN that holds intake's ledger.
    free (s_watch ("BEGIN"));
    free (s_watch ("LOCK TABLE intake.idempotency IN ACCESS EXCLUSIVE MODE"));
    char *out = NULL;
    int rc = s_cli (0, &out, calls[0].args);
    cr_expect_eq (rc, 8, "exit %d: %s", rc, out);
    cr_expect (strstr (out, "\"service_unavailable\"") && strstr (out, "55P03"), "%s",
               out);
    free (out);
    free (s_watch ("ROLLBACK"));
    cr_assert_eq (s_cli (0, &out, calls[0].args), 0, "%s", out);
    free (out);
    cr_assert_eq (s_watch_count ("SELECT count (*) FROM intake.referral"), 1);
}
