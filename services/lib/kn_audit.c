/*  kn_audit: the audit writer. Empty strings are stored as NULL. */
#include "kn_audit.h"
#include "kn_log.h"

#include <stdio.h>
#include <string.h>

#include "kn_pgarray.h"

//  Copies: the entry's strings may not outlive the call.
static __thread char s_last_operation[64];
static __thread char s_last_result[32];
static __thread bool s_last_set;

static const char *
s_or_null (const char *value)
{
    return (value && *value) ? value : NULL;
}

int
kn_audit_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare (
        db, "kn_audit_append",
        "INSERT INTO core.audit (agency_id, caseworker_id, service,"
        " operation, subject_ref, object_id, basis, result, role)"
        " SELECT a, c, s, op, sr, ob, b, r, ro FROM unnest ($1::uuid[],"
        " $2::text[], $3::text[], $4::text[], $5::uuid[], $6::uuid[],"
        " $7::text[], $8::text[], $9::text[])"
        " WITH ORDINALITY AS t (a, c, s, op, sr, ob, b, r, ro, o) ORDER BY o",
        err);
}

//  The role an operation is done in, when the caller does not say: what the
//  agency needs to hold (or, for referrals, the role every agency has).
static const char *
s_role_of (const char *service, const char *operation)
{
    static const char *table[][3] = {
        {"intake", "submit", "referrer"},
        {"intake", "withdraw", "referrer"},
        {"consent", "review", "data_protection_officer"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp (service, table[i][0]) == 0 && strcmp (operation, table[i][1]) == 0)
            return table[i][2];
    return NULL;
}

int
kn_audit_append (kn_db_t *db, const kn_audit_entry_t *entry, kn_error_t *err)
{
    return kn_audit_append_many (db, entry, 1, err);
}

int
kn_audit_append_many (kn_db_t *db, const kn_audit_entry_t *entries, size_t n,
                      kn_error_t *err)
{
    if (n == 0)
        return 0;
    kn_pgarray_t *columns[KN_AUDIT_COLUMNS];
    kn_pgarray_columns (columns, KN_AUDIT_COLUMNS);
    for (size_t i = 0; i < n; i++)
        kn_audit_add (columns, &entries[i]);
    return kn_audit_write (db, columns, err);
}

void
kn_audit_add (kn_pgarray_t **columns, const kn_audit_entry_t *entry)
{
    //  Noted before the write: a request whose audit row fails still knows what it was.
    snprintf (s_last_operation, sizeof s_last_operation, "%s",
              entry->operation ? entry->operation : "unknown");
    snprintf (s_last_result, sizeof s_last_result, "%s", entry->result ? entry->result : "ok");
    s_last_set = true;
    const char *role = entry->role ? entry->role : s_role_of (entry->service, entry->operation);
    const char *row[KN_AUDIT_COLUMNS] = {
        s_or_null (entry->agency_id),
        s_or_null (entry->caseworker_id),
        entry->service,
        entry->operation,
        s_or_null (entry->subject_ref),
        s_or_null (entry->object_id),
        s_or_null (entry->basis),
        entry->result,
        s_or_null (role),
    };
    for (size_t c = 0; c < KN_AUDIT_COLUMNS; c++)
        kn_pgarray_add (columns[c], row[c]);
}

int
kn_audit_write (kn_db_t *db, kn_pgarray_t **columns, kn_error_t *err)
{
    if (kn_pgarray_size (columns[0]) == 0) {
        for (size_t c = 0; c < KN_AUDIT_COLUMNS; c++)
            kn_pgarray_destroy (&columns[c]);
        return 0;
    }
    return kn_pgarray_exec (db, "kn_audit_append", columns, KN_AUDIT_COLUMNS, err);
}

bool
kn_audit_last (const char **operation, const char **result)
{
    if (!s_last_set)
        return false;
    *operation = s_last_operation;
    *result = s_last_result;
    return true;
}

void
kn_audit_last_reset (void)
{
    s_last_set = false;
}

int
kn_audit_request (kn_db_t *db, const kn_audit_entry_t *entry, bool answering_read,
                  kn_error_t *err)
{
    kn_error_t audit_err;
    kn_error_clear (&audit_err);
    if (kn_db_ensure (db, &audit_err) == 0 && kn_audit_append (db, entry, &audit_err) == 0)
        return 0;
    kn_log (KN_ERROR, "audit.failed", "operation", entry->operation, "problem",
            audit_err.message, NULL);
    if (!answering_read)
        return 0;
    return kn_error_set (err,
                         audit_err.code == KN_E_SERVICE_UNAVAILABLE ? KN_E_SERVICE_UNAVAILABLE
                                                                    : KN_E_INTERNAL,
                         NULL, "the record of this request could not be written");
}
