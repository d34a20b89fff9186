/*  The database's boundaries between services (issue 16), checked on a migrated
    database as each service's own login: every service logs in as its own role and
    holds nothing more (no superuser, no membership it could SET ROLE into); the
    broker's login reads agencies and keys and nothing personal; routing reads no
    sealed column but a child's date of birth, and the catalogue of sealed columns
    covers every byte column that is not known to be something else; no service can
    update, delete or truncate the record (audit trail, chains, checkpoints, the
    disclosure log); and a role change is put on an administrator's account only by
    the admin service's own login. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kn_db.h"
#include "kn_test.h"

static char *url;

static const char *roles[] = {"kinnet_broker",    "kinnet_intake", "kinnet_consent",
                              "kinnet_routing",   "kinnet_reporting", "kinnet_audit",
                              "kinnet_admin",     "kinnet_records"};
#define N_ROLES (sizeof roles / sizeof roles[0])

static void
s_setup (void)
{
    url = kn_test_db_create ();
}

static void
s_teardown (void)
{
    free (url);
    kn_test_no_leaks ();
}

TestSuite (privileges, .init = s_setup, .fini = s_teardown, .timeout = 120);

static kn_db_t *
s_login (const char *role)
{
    kn_error_t err;
    kn_db_t *db = kn_db_new (url, role, &err);
    cr_assert_not_null (db, "%s cannot log in: %s", role, err.message);
    return db;
}

//  sql as the service's own login: "" when it ran, else its SQLSTATE.
static void
s_try (kn_db_t *db, const char *sql, char state[6])
{
    kn_error_t err;
    PGresult *result = kn_db_query (db, sql, 0, NULL, &err);
    snprintf (state, 6, "%s", result ? "" : kn_db_sqlstate (db));
    PQclear (result);
}

//  As role's own login, each statement ends as said: "" (it ran) or its SQLSTATE.
typedef struct {
    const char *sql, *state, *why;
} attempt_t;

static void
s_attempts (const char *role, const attempt_t *attempts, size_t n)
{
    kn_db_t *db = s_login (role);
    for (size_t i = 0; i < n; i++) {
        char state[6];
        s_try (db, attempts[i].sql, state);
        cr_assert_str_eq (state, attempts[i].state, "%s: %s", role, attempts[i].why);
    }
    kn_db_destroy (&db);
}
#define ATTEMPTS(role, ...)                                                                \
    do {                                                                                   \
        const attempt_t list[] = {__VA_ARGS__};                                            \
        s_attempts (role, list, sizeof list / sizeof list[0]);                             \
    } while (0)

//  The owner's answer to sql: the first value, or "" when it is NULL or absent.
static char *
s_owner (const char *sql)
{
    char *value = kn_test_sql (url, sql);
    return value ? value : strdup ("");
}

Test (privileges, every_service_logs_in_as_itself_and_holds_nothing_more)
{
    for (size_t i = 0; i < N_ROLES; i++) {
        kn_db_t *db = s_login (roles[i]);
        kn_error_t err;
        PGresult *who = kn_db_query (
            db,
            "SELECT session_user, current_user, r.rolsuper OR r.rolcreaterole OR"
            "       r.rolcreatedb OR r.rolreplication OR r.rolbypassrls,"
            "       (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid)"
            "  FROM pg_roles r WHERE r.rolname = current_user",
            0, NULL, &err);
        cr_assert_not_null (who, "%s", err.message);
        cr_assert_str_eq (PQgetvalue (who, 0, 0), roles[i], "logged in as another user");
        cr_assert_str_eq (PQgetvalue (who, 0, 1), roles[i]);
        cr_assert_str_eq (PQgetvalue (who, 0, 2), "f", "%s has a power", roles[i]);
        cr_assert_str_eq (PQgetvalue (who, 0, 3), "0", "%s is a member of a role",
                          roles[i]);
        PQclear (who);
        char state[6];
        s_try (db, "SET ROLE postgres", state);
        cr_assert_str_eq (state, "42501", "%s switched to the superuser", roles[i]);
        kn_db_destroy (&db);
    }
}

Test (privileges, the_broker_reads_agencies_and_keys_and_nothing_personal)
{
    //  Every table of Kinnet's schemas the broker's login may touch at all.
    char *reach = s_owner (
        "SELECT string_agg (format ('%I.%I', schemaname, tablename), ' '"
        "                   ORDER BY schemaname, tablename)"
        "  FROM pg_tables WHERE schemaname IN ('core', 'intake', 'consent', 'routing',"
        "                                      'admin')"
        "   AND (has_table_privilege ('kinnet_broker', format ('%I.%I', schemaname,"
        "            tablename), 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')"
        "        OR has_any_column_privilege ('kinnet_broker', format ('%I.%I',"
        "            schemaname, tablename), 'SELECT, INSERT, UPDATE'))");
    //  core.broker_presence: the brokers up, which split each agency's limits.
    cr_assert_str_eq (reach,
                      "core.agency core.agency_key core.broker_presence core.sealed_column");
    free (reach);
    ATTEMPTS ("kinnet_broker",
              {"SELECT count(*) FROM intake.referral", "42501", "read referrals"},
              {"SELECT count(*) FROM core.subject", "42501", "read subjects"},
              {"SELECT count(*) FROM core.agency_key", "", "cannot read its keys"},
              {"INSERT INTO core.broker_presence VALUES ('b', now (), 1)", "",
               "cannot stamp its presence"},
              {"UPDATE core.agency SET active = false", "42501", "switched agencies off"});
}

Test (privileges, routing_and_admin_read_no_sealed_column_but_the_date_of_birth)
{
    char *readable = s_owner (
        "SELECT string_agg (r.role || ':' || s.table_schema || '.' || s.table_name || '.'"
        "                   || s.column_name, ' ')"
        "  FROM core.sealed_column s,"
        "       unnest (ARRAY['kinnet_broker', 'kinnet_routing', 'kinnet_admin',"
        "                     'kinnet_audit']) r (role)"
        " WHERE has_column_privilege (r.role, format ('%I.%I', s.table_schema,"
        "                             s.table_name), s.column_name, 'SELECT')");
    cr_assert_str_eq (readable, "kinnet_routing:core.subject.birth_date");
    free (readable);
    ATTEMPTS ("kinnet_routing",
              {"SELECT personal FROM intake.referral LIMIT 1", "42501", "read a referral"},
              {"SELECT justification FROM consent.basis LIMIT 1", "42501",
               "read a justification"},
              {"SELECT id, status, children FROM intake.referral LIMIT 1", "",
               "lost what it routes on"});
}

Test (privileges, only_records_may_rewrite_a_sealed_column)
{
    //  Intake, consent and routing lock a person's row (the consent policy) through
    //  UPDATE on core.subject.row_lock, which holds nothing, not through UPDATE on
    //  the date of birth. A service may write a sealed value only where writing it
    //  is its work: intake a withdrawal's reason, consent a review's notes and a
    //  release decision's reason. Records corrects and splits people, so it may.
    char *writers = s_owner (
        "SELECT string_agg (r.role || ':' || s.table_name || '.' || s.column_name, ' '"
        "                   ORDER BY r.role, s.table_name, s.column_name)"
        "  FROM core.sealed_column s,"
        "       unnest (ARRAY['kinnet_broker', 'kinnet_intake', 'kinnet_consent',"
        "                     'kinnet_routing', 'kinnet_reporting', 'kinnet_audit',"
        "                     'kinnet_admin']) r (role)"
        " WHERE has_column_privilege (r.role, format ('%I.%I', s.table_schema,"
        "                             s.table_name), s.column_name, 'UPDATE')");
    cr_assert_str_eq (writers,
                      "kinnet_consent:override.review_notes"
                      " kinnet_consent:release.decision_reason"
                      " kinnet_intake:referral.withdraw_reason",
                      "sealed values writable: %s", writers);
    free (writers);
    //  One person, so that an UPDATE has a row to refuse.
    free (s_owner ("WITH f AS (INSERT INTO core.family (id) VALUES (gen_random_uuid ())"
                   " RETURNING id) INSERT INTO core.subject (id, family_id, blind_index)"
                   " SELECT gen_random_uuid (), id, sha256 ('row lock') FROM f"));
    const char *lockers[] = {"kinnet_intake", "kinnet_consent", "kinnet_routing"};
    for (size_t i = 0; i < sizeof lockers / sizeof lockers[0]; i++)
        ATTEMPTS (lockers[i],
                  {"UPDATE core.subject SET birth_date = birth_date", "42501",
                   "rewrote a date of birth"},
                  {"UPDATE core.subject SET row_lock = true", "23514",
                   "put a value in the lock's column"},
                  {"SELECT 1 FROM core.subject FOR SHARE", "", "cannot share-lock a person"},
                  {"SELECT 1 FROM core.subject FOR UPDATE", "", "cannot lock a person"});
}

Test (privileges, every_byte_column_is_sealed_or_known_to_be_something_else)
{
    //  A new bytea column must be put in core.sealed_column, or here with what it is.
    //  wrapped: a per-person data key, sealed under the field master key (which only
    //  the daemons that seal or open hold); routing reads it to open a date of birth.
    char *unknown = s_owner (
        "SELECT string_agg (c.table_schema || '.' || c.table_name || '.' || c.column_name,"
        "                   ' ')"
        "  FROM information_schema.columns c"
        " WHERE c.table_schema IN ('core', 'intake', 'consent', 'routing', 'admin')"
        "   AND c.data_type = 'bytea'"
        "   AND c.column_name NOT IN ('blind_index', 'payload', 'request_hash', 'link',"
        "                             'public_key', 'signature', 'ranked_by',"
        "                             'disclosure_link', 'previous', 'wrapped')"
        "   AND NOT EXISTS (SELECT 1 FROM core.sealed_column s"
        "                    WHERE (s.table_schema, s.table_name, s.column_name) ="
        "                          (c.table_schema, c.table_name, c.column_name))");
    cr_assert_str_eq (unknown, "", "byte columns neither sealed nor known: %s", unknown);
    free (unknown);
}

Test (privileges, no_service_can_rewrite_the_record)
{
    char *rewriters = s_owner (
        "SELECT string_agg (r.role || ':' || t.name, ' ')"
        "  FROM unnest (ARRAY['kinnet_broker', 'kinnet_intake', 'kinnet_consent',"
        "                     'kinnet_routing', 'kinnet_reporting', 'kinnet_audit',"
        "                     'kinnet_admin', 'kinnet_records']) r (role),"
        "       unnest (ARRAY['core.audit', 'core.audit_chain', 'core.audit_checkpoint',"
        "                     'core.disclosure', 'core.disclosure_chain',"
        "                     'core.audit_prune']) t (name)"
        " WHERE has_table_privilege (r.role, t.name, 'UPDATE, DELETE, TRUNCATE')"
        "    OR (t.name = 'core.audit_prune' AND has_table_privilege (r.role, t.name,"
        "        'INSERT'))"
        "    OR has_any_column_privilege (r.role, t.name, 'UPDATE')");
    cr_assert_str_eq (rewriters, "", "may rewrite the record: %s", rewriters);
    free (rewriters);
    //  And as the sealer's own login, which writes the chains: it cannot.
    ATTEMPTS ("kinnet_audit",
              {"DELETE FROM core.audit_checkpoint", "42501", "deleted checkpoints"},
              {"UPDATE core.audit_chain SET link = link", "42501", "rewrote the chain"});
    //  Only the records service may destroy a data key (an erasure), and nobody may
    //  delete one or bring a destroyed one back.
    char *destroyers = s_owner (
        "SELECT string_agg (r.rolname, ' ' ORDER BY r.rolname) FROM pg_roles r"
        " WHERE r.rolname LIKE 'kinnet\\_%' AND (has_any_column_privilege (r.oid,"
        " 'core.data_key', 'UPDATE') OR has_table_privilege (r.oid, 'core.data_key',"
        " 'DELETE, TRUNCATE'))");
    cr_assert_str_eq (destroyers, "kinnet_records", "may destroy data keys: %s", destroyers);
    free (destroyers);
    free (kn_test_sql (url, "INSERT INTO core.family (id) VALUES"
                            " ('00000000-0000-4000-8000-00000000f0f0');"
                            "INSERT INTO core.subject (id, family_id, blind_index) VALUES"
                            " ('00000000-0000-4000-8000-00000000a0a0',"
                            "  '00000000-0000-4000-8000-00000000f0f0', decode (repeat ('ab', 32), 'hex'));"
                            "INSERT INTO core.data_key (id, subject_id, master_version, destroyed_at)"
                            " VALUES ('00000000-0000-4000-8000-00000000d0d0',"
                            "  '00000000-0000-4000-8000-00000000a0a0', 1, now ())"));
    ATTEMPTS ("kinnet_records",
              {"UPDATE core.data_key SET wrapped = decode (repeat ('00', 72), 'hex'),"
               " destroyed_at = NULL", "23514", "brought a destroyed key back"},
              {"DELETE FROM core.data_key", "42501", "deleted data keys"});
    //  A service that makes data keys cannot destroy or swap one: erasure and
    //  rewrapping are not theirs.
    ATTEMPTS ("kinnet_intake",
              {"UPDATE core.data_key SET wrapped = NULL", "42501", "destroyed a data key"},
              {"DELETE FROM core.data_key", "42501", "deleted data keys"},
              {"SELECT count(*) FROM core.data_key", "", "cannot read data keys"});
}

//  The report rollups (0043) are derived counts that only the reporting login's job
//  writes; the services whose writes mark days do so through the triggers, and can
//  neither forge a rollup nor clear a mark (which would make a report read a stale
//  day). The job itself replaces rows; it never rewrites one in place.
Test (privileges, only_the_rollup_job_writes_the_rollups)
{
    const char *writers[] = {"kinnet_intake", "kinnet_routing", "kinnet_consent",
                             "kinnet_admin", "kinnet_records", "kinnet_audit"};
    for (size_t i = 0; i < sizeof writers / sizeof writers[0]; i++)
        ATTEMPTS (writers[i],
                  {"INSERT INTO rollup.referral (day, g, received, withdrawn, matched)"
                   " VALUES ('2026-01-01', 0, 1, 0, 0)", "42501", "forged a rollup"},
                  {"DELETE FROM rollup.dirty", "42501", "cleared the marks"},
                  {"INSERT INTO rollup.dirty VALUES (1, '2026-01-01')", "42501",
                   "marked a day by hand"});
    ATTEMPTS ("kinnet_reporting",
              {"DELETE FROM rollup.dirty WHERE false", "", "cannot clear marks"},
              {"UPDATE rollup.referral SET received = 0", "42501", "rewrote a rollup"},
              {"UPDATE rollup.dirty SET day = '2000-01-01'", "42501", "moved a mark"},
              {"DELETE FROM intake.referral WHERE false", "42501", "deleted a referral"});
}

Test (privileges, a_role_change_names_an_agency_only_from_the_admin_service)
{
    free (kn_test_sql (url, "INSERT INTO core.district (code) VALUES ('n')"));
    free (kn_test_sql (url, "INSERT INTO core.agency (id, name, sector, district) VALUES"
                            " ('00000000-0000-4000-8000-0000000000a1', 'A', 'school', 'n'),"
                            " ('00000000-0000-4000-8000-0000000000a2', 'B', 'school', 'n')"));
    //  Another session (the owner's here) names agency a1 as the administrator.
    free (kn_test_sql (url,
                       "SELECT set_config ('kinnet.admin_agency',"
                       "                   '00000000-0000-4000-8000-0000000000a1', false);"
                       "INSERT INTO core.agency_role (agency_id, role) VALUES"
                       " ('00000000-0000-4000-8000-0000000000a2', 'coordinator')"));
    char *by = s_owner ("SELECT coalesce (agency_id::text, 'none') || ' ' ||"
                        "       coalesce (caseworker_id, 'none')"
                        "  FROM core.audit WHERE operation = 'role_grant'"
                        "   AND role = 'coordinator'");
    cr_assert_str_eq (by, "none postgres", "the change was put on an agency: %s", by);
    free (by);
}

Test (privileges, admin_logins_sets_each_password_from_its_own_file)
{
    char dir[] = "/tmp/kn-logins-XXXXXX";
    cr_assert (mkdtemp (dir));
    char env[600], *out = NULL;
    snprintf (env, sizeof env, "KINNET_DATABASE_URL='%s' KINNET_LOG_LEVEL=warn", url);
    //  --generate makes every file, private, and sets every role's password; only a
    //  verifier reaches the server.
    cr_assert_eq (kn_test_run_cli (env, &out, "admin logins %s --generate", dir), 0, "%s",
                  out);
    free (out);
    for (size_t i = 0; i < N_ROLES; i++) {
        char path[300];
        snprintf (path, sizeof path, "%s/%s", dir, roles[i]);
        struct stat st;
        cr_assert_eq (stat (path, &st), 0, "%s not made", path);
        cr_assert_eq (st.st_mode & 0777, 0600, "%s mode %o", path, st.st_mode & 0777);
    }
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM pg_authid"
                                      " WHERE rolname LIKE 'kinnet\\_%'"
                                      "   AND rolpassword LIKE 'SCRAM-SHA-256$%'"),
                  (int) N_ROLES);
    //  A file others may read is refused before anything is set, by name.
    char path[300];
    snprintf (path, sizeof path, "%s/kinnet_broker", dir);
    cr_assert_eq (chmod (path, 0644), 0);
    cr_assert_eq (kn_test_run_cli (env, &out, "admin logins %s", dir), 3, "%s", out);
    cr_assert (strstr (out, "kinnet_broker") && strstr (out, "chmod 600"), "%s", out);
    free (out);
    //  And a daemon refuses to log in with it.
    setenv ("KINNET_DB_SECRETS", dir, 1);
    kn_error_t err;
    kn_db_t *db = kn_db_new (url, "kinnet_broker", &err);
    unsetenv ("KINNET_DB_SECRETS");
    cr_assert_null (db, "logged in with a password file others may read");
    cr_assert (strstr (err.message, "readable by others"), "%s", err.message);
    char command[400];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    cr_assert_eq (system (command), 0);
}

typedef struct {
    const char *env, *dir;
    int code;
    char *out;
} logins_run_t;

static void *
s_logins (void *arg)
{
    logins_run_t *run = arg;
    run->code = kn_test_run_cli (run->env, &run->out, "admin logins %s", run->dir);
    return NULL;
}

//  Two setups at once (two migrate containers of one upgrade) both succeed: without
//  a lock, the later ALTER ROLE of one role waits for the first and then fails with
//  "tuple concurrently updated". The first setup is held open here, mid-way,
//  holding the lock a setup takes; the CLI waits behind it and then sets every role.
Test (privileges, two_login_setups_at_once_both_succeed)
{
    char dir[] = "/tmp/kn-logins-XXXXXX";
    cr_assert (mkdtemp (dir));
    char env[600], *out = NULL;
    snprintf (env, sizeof env, "KINNET_DATABASE_URL='%s' KINNET_LOG_LEVEL=warn", url);
    cr_assert_eq (kn_test_run_cli (env, &out, "admin logins %s --generate", dir), 0, "%s",
                  out);
    free (out);
    kn_error_t err;
    kn_db_t *first = kn_db_new (url, NULL, &err);
    cr_assert_not_null (first, "%s", err.message);
    char state[6];
    s_try (first, "BEGIN", state);
    s_try (first, "SELECT pg_advisory_xact_lock (hashtext ('kinnet.role.password'))",
           state);
    cr_assert_str_empty (state);
    s_try (first, "ALTER ROLE kinnet_broker PASSWORD 'first setup'", state);
    cr_assert_str_empty (state);
    logins_run_t run = {.env = env, .dir = dir};
    pthread_t thread;
    cr_assert_eq (pthread_create (&thread, NULL, s_logins, &run), 0);
    //  Await the CLI's session waiting on a lock (the setup's lock, or without it
    //  the role's row), then let the first setup commit.
    int waiting = 0;
    for (int i = 0; i < 3000 && !waiting; i++) {
        waiting = kn_test_count (url, "SELECT count(*) FROM pg_stat_activity"
                                      " WHERE wait_event_type = 'Lock'"
                                      "   AND datname = current_database()");
        if (!waiting)
            zclock_sleep (10);
    }
    cr_assert_eq (waiting, 1, "the second setup never waited");
    s_try (first, "COMMIT", state);
    cr_assert_str_empty (state);
    pthread_join (thread, NULL);
    cr_assert_eq (run.code, 0, "%s", run.out);
    free (run.out);
    kn_db_destroy (&first);
    //  The second setup's passwords are the ones in force.
    setenv ("KINNET_DB_SECRETS", dir, 1);
    kn_db_t *broker = kn_db_new (url, "kinnet_broker", &err);
    unsetenv ("KINNET_DB_SECRETS");
    cr_assert_not_null (broker, "%s", err.message);
    kn_db_destroy (&broker);
    char command[400];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    cr_assert_eq (system (command), 0);
}
