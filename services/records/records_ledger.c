/*  records_ledger: the erasure ledger file, appended after each erasure and applied
    again at every start. */
#include "records_ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kn_audit.h"
#include "kn_keys_rotate.h"
#include "kn_log.h"
#include "kn_uuid.h"
#include "records_ops.h"

bool
records_reference_valid (const char *reference)
{
    size_t len = reference ? strlen (reference) : 0;
    if (len < 1 || len > 64)
        return false;
    for (const char *c = reference; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
              (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '/' || *c == '-'))
            return false;
    return true;
}

int
records_reference_check (const char *reference, kn_error_t *err)
{
    return records_reference_valid (reference)
               ? 0
               : kn_error_set (err, KN_E_INVALID_ARGUMENT, "reference",
                               "reference must be 1 to 64 characters from A-Z a-z 0-9 . _"
                               " / - (a case-file reference, not a reason)");
}

int
records_ledger_append (const char *path, const char *erased_at, const char *subject_id,
                       const char *key_id, const char *reference, kn_error_t *err)
{
    char line[256];
    int len = snprintf (line, sizeof line, "%s %s %s %s\n", erased_at, subject_id, key_id,
                        reference);
    int fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write (fd, line, (size_t)len) == len && fsync (fd) == 0;
    if (fd >= 0 && close (fd) != 0)
        ok = false;
    return ok ? 0
              : kn_error_set (err, KN_E_INTERNAL, NULL, "cannot append to the erasure"
                              " ledger %s: %s", path, strerror (errno));
}

//  Erase again the person of one ledger line, when the database has them with a live
//  key (a restore from before the erasure): moved forward, key destroyed, unlinked,
//  recorded as from the ledger, audited. 1 when erased again, 0 when nothing to do.
static int
s_reapply (records_server_t *self, const char *erased_at, const char *subject_id,
           const char *reference, kn_error_t *err)
{
    if (kn_db_begin_write (self->db, NULL, err))
        return -1;
    char family_id[KN_UUID_STR];
    int rc = records_lock_subject (self, subject_id, family_id, err);
    if (rc && err->code == KN_E_NOT_FOUND) {   // not in this database: nothing to do
        kn_error_clear (err);
        kn_db_exec (self->db, "ROLLBACK", err);
        return 0;
    }
    records_destroy_t what = {.subject_id = subject_id,
                              .family_id = family_id,
                              .reference = reference,
                              .at = erased_at,
                              .cause = "ledger"};
    records_destroyed_t done;
    int erased = rc == 0 ? records_destroy (self, &what, &done, err) : -1;
    kn_audit_entry_t entry = {.service = "records",
                              .operation = "erase_from_ledger",
                              .subject_ref = family_id,
                              .object_id = subject_id,
                              .result = "ok"};
    if (erased < 0 || (erased && kn_audit_append (self->db, &entry, err)) ||
        kn_db_exec (self->db, "COMMIT", err)) {
        kn_error_t ignored;
        kn_db_exec (self->db, "ROLLBACK", &ignored);
        return -1;
    }
    return erased ? 1 : 0;
}

int
records_ledger_sync (records_server_t *self, int *reapplied, int *written, kn_error_t *err)
{
    *reapplied = *written = 0;
    if (!self->ledger_path)
        return 0;
    zhashx_t *listed = zhashx_new ();   // subject ids the ledger names
    FILE *file = fopen (self->ledger_path, "r");
    if (!file && errno != ENOENT) {
        zhashx_destroy (&listed);
        return kn_error_set (err, KN_E_INTERNAL, NULL, "cannot read the erasure ledger %s:"
                             " %s", self->ledger_path, strerror (errno));
    }
    char line[512];
    int rc = 0, line_no = 0;
    while (rc == 0 && file && fgets (line, sizeof line, file)) {
        line_no++;
        char at[64], subject[64], key[64], reference[80];
        if (sscanf (line, "%63s %63s %63s %79s", at, subject, key, reference) != 4 ||
            !kn_uuid_valid (subject) || !records_reference_valid (reference)) {
            char number[16];
            snprintf (number, sizeof number, "%d", line_no);
            kn_log (KN_ERROR, "ledger.bad_line", "line", number, NULL);
            continue;
        }
        zhashx_insert (listed, subject, (void *)1);
        int again = s_reapply (self, at, subject, reference, err);
        if (again < 0)
            rc = -1;
        *reapplied += again > 0;
    }
    if (file)
        fclose (file);
    //  Erasures the ledger lacks.
    PGresult *rows = rc ? NULL : kn_db_run (self->db, "records_erasures", 0, NULL, NULL,
                                            NULL, err);
    if (!rows && rc == 0)
        rc = -1;
    for (int r = 0; rows && r < PQntuples (rows) && rc == 0; r++)
        if (!zhashx_lookup (listed, PQgetvalue (rows, r, 1))) {
            rc = records_ledger_append (self->ledger_path, PQgetvalue (rows, r, 0),
                                        PQgetvalue (rows, r, 1), PQgetvalue (rows, r, 2),
                                        PQgetvalue (rows, r, 3), err);
            *written += rc == 0;
        }
    PQclear (rows);
    zhashx_destroy (&listed);
    return rc;
}
