/*  kn_audit: the audit writer. Empty strings are stored as NULL. */
#include "kn_audit.h"

static const char *
s_or_null (const char *value)
{
    return (value && *value) ? value : NULL;
}

int
kn_audit_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare (db, "kn_audit_append",
                          "INSERT INTO core.audit (agency_id, caseworker_id, service,"
                          " operation, subject_ref, object_id, basis, result, role)"
                          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                          err);
}

int
kn_audit_append (kn_db_t *db, const kn_audit_entry_t *entry, kn_error_t *err)
{
    const char *values[] = {
        s_or_null (entry->agency_id), s_or_null (entry->caseworker_id), entry->service,
        entry->operation,             s_or_null (entry->subject_ref),   s_or_null (entry->object_id),
        s_or_null (entry->basis),     entry->result,                    s_or_null (entry->role),
    };
    PGresult *result = kn_db_run (db, "kn_audit_append", 9, values, NULL, NULL, err);
    if (!result)
        return -1;
    PQclear (result);
    return 0;
}
