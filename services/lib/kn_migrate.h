/*  kn_migrate: forward-only schema migrations, compiled in from sql/migrations.
    Applying takes a session advisory lock, so two migrate steps started together
    apply each migration exactly once; each migration commits in its own transaction
    together with its row in core.schema_migration. */
#ifndef KN_MIGRATE_H_INCLUDED
#define KN_MIGRATE_H_INCLUDED

#include "kn_db.h"
#include "kn_error.h"

typedef struct {
    int version;
    const char *name;
    const char *sql;
} kn_migration_t;

extern const kn_migration_t kn_migrations[];
extern const int kn_migration_count;

//  Apply every migration not yet applied. *applied_p (may be NULL) gets how many
//  were applied now. 0 on success.
int kn_migrate_apply (kn_db_t *db, int *applied_p, kn_error_t *err);

//  Highest applied version (0 for an empty database), -1 on error.
int kn_migrate_current (kn_db_t *db, kn_error_t *err);

#endif
