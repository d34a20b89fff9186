/*  kn_migrate: apply the embedded migrations under an advisory lock. */
#include "kn_migrate.h"

#include <stdio.h>
#include <stdlib.h>

#include "kn_log.h"

//  Arbitrary constant naming Kinnet's migration lock among advisory locks.
#define MIGRATION_LOCK "7345120001"

int
kn_migrate_current (kn_db_t *db, kn_error_t *err)
{
    PGresult *result = PQexec (kn_db_conn (db),
                               "SELECT coalesce(max(version), 0) FROM core.schema_migration");
    int version = -1;
    if (PQresultStatus (result) == PGRES_TUPLES_OK)
        version = atoi (PQgetvalue (result, 0, 0));
    else
        kn_error_set (err, KN_E_INTERNAL, NULL, "cannot read core.schema_migration");
    PQclear (result);
    return version;
}

int
kn_migrate_apply (kn_db_t *db, int *applied_p, kn_error_t *err)
{
    int applied = 0;
    if (applied_p)
        *applied_p = 0;
    if (kn_db_exec (db, "SELECT pg_advisory_lock(" MIGRATION_LOCK ")", err))
        return -1;
    int rc = kn_db_exec (db,
                         "CREATE SCHEMA IF NOT EXISTS core;"
                         "CREATE TABLE IF NOT EXISTS core.schema_migration ("
                         " version integer PRIMARY KEY, name text NOT NULL,"
                         " applied_at timestamptz NOT NULL DEFAULT now())",
                         err);
    int current = rc ? -1 : kn_migrate_current (db, err);
    if (current < 0)
        rc = -1;
    for (int i = 0; rc == 0 && i < kn_migration_count; i++) {
        const kn_migration_t *migration = &kn_migrations[i];
        if (migration->version <= current)
            continue;
        char version[16];
        snprintf (version, sizeof version, "%d", migration->version);
        const char *params[] = {version, migration->name};
        rc = kn_db_exec (db, "BEGIN", err);
        if (rc == 0)
            rc = kn_db_exec (db, migration->sql, err);
        if (rc == 0) {
            PGresult *result = PQexecParams (
                kn_db_conn (db),
                "INSERT INTO core.schema_migration (version, name) VALUES ($1, $2)", 2,
                NULL, params, NULL, NULL, 0);
            if (PQresultStatus (result) != PGRES_COMMAND_OK)
                rc = kn_error_set (err, KN_E_INTERNAL, NULL, "cannot record migration %s",
                                   version);
            PQclear (result);
        }
        if (rc == 0)
            rc = kn_db_exec (db, "COMMIT", err);
        if (rc == 0) {
            kn_log (KN_INFO, "migrate.applied", "version", version, "name",
                    migration->name, NULL);
            applied++;
        }
        else {
            kn_error_t ignored;
            kn_db_exec (db, "ROLLBACK", &ignored);
            kn_log (KN_ERROR, "migrate.failed", "version", version, NULL);
            snprintf (err->field, sizeof err->field, "%s_%s", version, migration->name);
        }
    }
    kn_error_t ignored;
    kn_db_exec (db, "SELECT pg_advisory_unlock(" MIGRATION_LOCK ")", &ignored);
    if (applied_p)
        *applied_p = applied;
    return rc;
}
