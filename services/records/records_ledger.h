/*  records_ledger: the erasure ledger, a file outside the database (its own volume,
    KINNET_ERASURE_LEDGER) with one line per erasure:
        <erased_at, RFC 3339 UTC> <subject_id> <key_id> <reference>
    appended after each erasure commits. A backup taken before an erasure still
    holds the person's wrapped data key; restoring it would bring them back. So at
    every start the records daemon erases again each person the ledger names whose
    key is live (recorded as erased by no agency, from the ledger), and writes the
    lines the ledger lacks (an erasure whose line was lost to a crash). */
#ifndef RECORDS_LEDGER_H_INCLUDED
#define RECORDS_LEDGER_H_INCLUDED

#include <stdbool.h>

#include "records_server.h"

//  1 to 64 characters from A-Z a-z 0-9 . _ / -: a reference, not a reason.
bool records_reference_valid (const char *reference);

//  The same as a request's field rule: 0, or -1 with INVALID_ARGUMENT (field
//  reference).
int records_reference_check (const char *reference, kn_error_t *err);

int records_ledger_append (const char *path, const char *erased_at, const char *subject_id,
                           const char *key_id, const char *reference, kn_error_t *err);

//  Both directions, as above; *reapplied and *written count the lines of each.
int records_ledger_sync (records_server_t *self, int *reapplied, int *written,
                         kn_error_t *err);

#endif
