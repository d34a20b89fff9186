/*  kn_migrate: idempotent, and safe when two migrate steps start together; what
    the migrations set on the database and its roles. */
#include <criterion/criterion.h>
#include <pthread.h>

#include "kn_agency.h"
#include "kn_migrate.h"
#include "kn_test.h"

TestSuite (migrate, .fini = kn_test_no_leaks);

static char *
s_empty_db (void)
{
    //  A database without Kinnet's schema: created from template0.
    char *url = kn_test_db_create ();
    char *name = strrchr (url, '=') + 1;
    char sql[200];
    snprintf (sql, sizeof sql, "DROP DATABASE %s", name);
    const char *admin = getenv ("KINNET_TEST_DATABASE_URL");
    free (kn_test_sql (admin, sql));
    snprintf (sql, sizeof sql, "CREATE DATABASE %s TEMPLATE template0", name);
    free (kn_test_sql (admin, sql));
    return url;
}

static void *
s_migrate (void *url)
{
    kn_error_t err;
    kn_db_t *db = kn_db_new ((const char *) url, NULL, &err);
    int applied = -1;
    if (db && kn_migrate_apply (db, &applied, &err) != 0)
        applied = -1;
    kn_db_destroy (&db);
    return (void *) (intptr_t) applied;
}

Test (migrate, applies_once_and_reports_version, .timeout = 180)
{
    char *url = s_empty_db ();
    intptr_t first = (intptr_t) s_migrate (url);
    cr_assert_eq (first, kn_migration_count);
    intptr_t second = (intptr_t) s_migrate (url);
    cr_assert_eq (second, 0);
    char *version = kn_test_sql (url, "SELECT max(version) FROM core.schema_migration");
    cr_assert_eq (atoi (version), kn_migrations[kn_migration_count - 1].version);
    free (version);
    free (url);
}

//  Migration 0026: an operator's session (a login without a role value of its own)
//  has its idle open transactions ended after 10 minutes; a daemon's session keeps
//  its role's shorter bound.
Test (migrate, operators_sessions_have_an_idle_transaction_bound, .timeout = 180)
{
    char *url = s_empty_db ();
    cr_assert_eq ((intptr_t) s_migrate (url), kn_migration_count);
    char *login = kn_test_sql (url, "SHOW idle_in_transaction_session_timeout");
    cr_assert_str_eq (login, "10min");
    free (login);
    kn_error_t err;
    kn_db_t *routing = kn_db_new (url, "kinnet_routing", &err);
    cr_assert_not_null (routing, "%s", err.message);
    PGresult *shown =
        kn_db_query (routing, "SHOW idle_in_transaction_session_timeout", 0, NULL, &err);
    cr_assert_not_null (shown, "%s", err.message);
    cr_assert_str_eq (PQgetvalue (shown, 0, 0), "1min");
    PQclear (shown);
    kn_db_destroy (&routing);
    free (url);
}

Test (migrate, concurrent_migrations_apply_each_once, .timeout = 180)
{
    char *url = s_empty_db ();
    pthread_t a, b;
    pthread_create (&a, NULL, s_migrate, url);
    pthread_create (&b, NULL, s_migrate, url);
    void *ra, *rb;
    pthread_join (a, &ra);
    pthread_join (b, &rb);
    cr_assert_eq ((intptr_t) ra + (intptr_t) rb, kn_migration_count,
                  "applied %ld + %ld", (long) (intptr_t) ra, (long) (intptr_t) rb);
    char *rows = kn_test_sql (url, "SELECT count(*) FROM core.schema_migration");
    cr_assert_eq (atoi (rows), kn_migration_count);
    free (rows);
    free (url);
}

//  The statement fails (and says so in err), as a permission or a trigger refuses it.
static bool
s_refused (kn_db_t *db, const char *sql)
{
    kn_error_t err;
    kn_error_clear (&err);
    PGresult *result = kn_db_query (db, sql, 0, NULL, &err);
    PQclear (result);
    return result == NULL;
}

Test (migrate, revocation_is_final_and_admin_reads_no_case, .timeout = 180)
{
    char *url = kn_test_db_create ();
    free (kn_test_sql (url, "INSERT INTO core.district (code) VALUES ('north')"));
    kn_error_t err;
    kn_db_t *owner = kn_db_new (url, NULL, &err);
    cr_assert (owner, "%s", err.message);
    char id[KN_UUID_STR];
    zcert_t *cert = zcert_new ();
    cr_assert_eq (kn_agency_add (owner, "Some school", "school", "north",
                                 zcert_public_txt (cert), id, &err),
                  0, "%s", err.message);
    cr_assert_eq (kn_agency_revoke (owner, id, &err), 0, "%s", err.message);
    char sql[300];
    //  Not even the owner revives or moves a revoked key, or reactivates the agency.
    snprintf (sql, sizeof sql, "UPDATE core.agency_key SET revoked_at = NULL WHERE agency_id = '%s'",
              id);
    cr_assert (s_refused (owner, sql), "a revoked key came back");
    snprintf (sql, sizeof sql, "UPDATE core.agency SET active = true WHERE id = '%s'", id);
    cr_assert (s_refused (owner, sql), "a deactivated agency came back");
    //  The admin service's role counts involvements and reads nothing else of a case.
    kn_db_t *admin = kn_db_new (url, "kinnet_admin", &err);
    cr_assert (admin, "%s", err.message);
    cr_assert_not (s_refused (admin, "SELECT count(*) FROM routing.involvement"
                                     " WHERE agency_id IS NOT NULL AND status = 'offered'"));
    cr_assert (s_refused (admin, "SELECT case_id FROM routing.involvement"));
    cr_assert (s_refused (admin, "SELECT * FROM intake.referral"));
    snprintf (sql, sizeof sql, "UPDATE core.agency_key SET agency_id = agency_id WHERE agency_id = '%s'",
              id);
    cr_assert (s_refused (admin, sql), "the admin role may move keys");
    kn_db_destroy (&admin);
    kn_db_destroy (&owner);
    zcert_destroy (&cert);
    free (url);
}

//  A database as it was before migration 0048 (its keys dropped), holding the
//  agencies given as VALUES rows (id, district) and agency_district rows as
//  (agency id, district). The migrations after 0048 stay applied: s_apply_0048
//  runs 0048 alone.
static char *
s_before_0048 (const char *agencies, const char *served)
{
    char *url = kn_test_db_create ();
    free (kn_test_sql (
        url,
        "ALTER TABLE core.agency DROP CONSTRAINT IF EXISTS agency_district_registered;"
        " ALTER TABLE core.agency_district"
        "  DROP CONSTRAINT IF EXISTS agency_district_district_registered"));
    char sql[600];
    snprintf (sql, sizeof sql,
              "INSERT INTO core.agency (id, name, sector, district)"
              " SELECT id::uuid, 'Agency', 'school', d FROM (VALUES %s) v (id, d)",
              agencies);
    free (kn_test_sql (url, sql));
    if (served) {
        snprintf (
            sql, sizeof sql,
            "INSERT INTO core.agency_district SELECT a::uuid, d FROM (VALUES %s) v (a, d)",
            served);
        free (kn_test_sql (url, sql));
    }
    return url;
}

//  Migration 0048's own SQL, run as kn_migrate_apply runs a migration (one
//  transaction, as the database's owner): whether it applied.
static bool
s_apply_0048 (const char *url)
{
    const kn_migration_t *migration = NULL;
    for (int i = 0; i < kn_migration_count; i++)
        if (kn_migrations[i].version == 48)
            migration = &kn_migrations[i];
    cr_assert (migration, "no migration 0048");
    kn_error_t err;
    kn_db_t *owner = kn_db_new (url, NULL, &err);
    cr_assert (owner, "%s", err.message);
    bool applied = kn_db_exec (owner, "BEGIN", &err) == 0 &&
                   kn_db_exec (owner, migration->sql, &err) == 0 &&
                   kn_db_exec (owner, "COMMIT", &err) == 0;
    kn_db_destroy (&owner);
    return applied;
}

//  Whether 0048's two keys are validated: "true,true", "false,false" or mixed.
static char *
s_validated (const char *url)
{
    return kn_test_sql (url,
                        "SELECT string_agg (convalidated::text, ',' ORDER BY conname)"
                        " FROM pg_constraint WHERE conname IN"
                        " ('agency_district_registered',"
                        "  'agency_district_district_registered')");
}

#define LEGACY "00000000-0000-4000-8000-0000000000c1"

//  Migration 0048 upgrades a database whose agencies are in districts nobody
//  registered: it applies, leaves them as they are, and checks every later write.
Test (migrate, agency_districts_are_registered_ones_after_an_upgrade, .timeout = 180)
{
    char *url =
        s_before_0048 ("('" LEGACY "', 'old-town')", "('" LEGACY "', 'old-quay')");
    cr_assert (s_apply_0048 (url), "0048 applies over unregistered codes");
    char *validated = s_validated (url);
    cr_expect_str_eq (validated, "false,false",
                      "keys over unregistered codes: NOT VALID");
    free (validated);
    cr_expect_eq (kn_test_count (url, "SELECT count (*) FROM core.agency WHERE district ="
                                      " 'old-town'"),
                  1);
    //  The legacy agency still changes in what is not its district.
    kn_error_t err;
    kn_db_t *owner = kn_db_new (url, NULL, &err);
    cr_assert (owner, "%s", err.message);
    cr_expect_not (s_refused (
        owner, "UPDATE core.agency SET name = 'Renamed' WHERE id = '" LEGACY "'"));
    //  Every new code, home or served, is checked, whoever writes.
    cr_expect (s_refused (owner, "INSERT INTO core.agency (name, sector, district)"
                                 " VALUES ('New', 'school', 'old-town')"));
    cr_expect (s_refused (
        owner, "UPDATE core.agency SET district = 'elsewhere' WHERE id = '" LEGACY "'"));
    cr_expect (s_refused (owner, "INSERT INTO core.agency_district VALUES ('" LEGACY
                                 "', 'elsewhere')"));
    //  Registered, the codes make the keys whole.
    cr_expect_not (s_refused (owner,
                              "INSERT INTO core.district (code) VALUES ('old-town'),"
                              " ('old-quay')"));
    cr_expect_not (s_refused (owner, "ALTER TABLE core.agency VALIDATE CONSTRAINT"
                                     " agency_district_registered"));
    cr_expect_not (s_refused (owner,
                              "ALTER TABLE core.agency_district VALIDATE CONSTRAINT"
                              " agency_district_district_registered"));
    //  A district an agency is in is neither deleted nor recoded under it.
    cr_expect (s_refused (owner, "DELETE FROM core.district WHERE code = 'old-town'"));
    cr_expect (s_refused (owner, "UPDATE core.district SET code = 'new-town'"
                                 " WHERE code = 'old-town'"));
    cr_expect (s_refused (owner, "DELETE FROM core.district WHERE code = 'old-quay'"));
    kn_db_destroy (&owner);
    free (url);

    //  A database whose agencies are all in registered districts gets whole keys.
    url = s_before_0048 ("('" LEGACY "', 'north')", NULL);
    free (kn_test_sql (url, "INSERT INTO core.district (code) VALUES ('north')"));
    cr_assert (s_apply_0048 (url));
    validated = s_validated (url);
    cr_expect_str_eq (validated, "true,true");
    free (validated);
    free (url);
}
