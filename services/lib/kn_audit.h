/*  kn_audit: one audit row per request a service handles: who (agency, caseworker),
    what (service, operation, object), about whom (a pseudonymous subject id, never
    a name), on what ground (consent id or lawful basis) and the result. Written in
    the same transaction as the change it records when there is one. */
#ifndef KN_AUDIT_H_INCLUDED
#define KN_AUDIT_H_INCLUDED

#include <stdbool.h>

#include "kn_db.h"
#include "kn_pgarray.h"

typedef struct {
    const char *agency_id;       // NULL when unauthenticated
    const char *caseworker_id;   // the agency's own id, may be NULL
    const char *service;
    const char *operation;
    const char *subject_ref;     // family id, may be NULL
    const char *object_id;       // e.g. referral id, may be NULL
    const char *basis;           // consent id or lawful basis, may be NULL
    const char *result;          // "ok" or kn_code_name()
    const char *role;            // the role the operation needed (e.g. "auditor"); NULL:
                                 // the usual one for service and operation, if any
} kn_audit_entry_t;

int kn_audit_prepare (kn_db_t *db, kn_error_t *err);
int kn_audit_append (kn_db_t *db, const kn_audit_entry_t *entry, kn_error_t *err);

//  The row of a request that no write of its own recorded (a refusal, a read, a
//  replayed write), in a statement of its own. A failure is logged (audit.failed);
//  when the request is a read about to be answered (answering_read), it must not
//  be answered unrecorded: -1 with err (SERVICE_UNAVAILABLE when the database is,
//  else INTERNAL). Otherwise 0.
int kn_audit_request (kn_db_t *db, const kn_audit_entry_t *entry, bool answering_read,
                      kn_error_t *err);

//  n rows in one statement, in the order given (a batch's requests).
int kn_audit_append_many (kn_db_t *db, const kn_audit_entry_t *entries, size_t n,
                          kn_error_t *err);

//  Rows gathered to be written later in one statement: entry added as a row of
//  columns (KN_AUDIT_COLUMNS of them, made by kn_pgarray_columns), then every row
//  added written in the order added (kn_audit_write consumes the columns; nothing
//  added writes nothing).
#define KN_AUDIT_COLUMNS 9
void kn_audit_add (kn_pgarray_t **columns, const kn_audit_entry_t *entry);
int kn_audit_write (kn_db_t *db, kn_pgarray_t **columns, kn_error_t *err);

//  The operation and result of the last row this thread tried to append since its
//  last kn_audit_last_reset, so a request loop can label its metrics with what the
//  handler already said once. true and both set (valid until the thread's next
//  append or reset), or false when no row was tried.
bool kn_audit_last (const char **operation, const char **result);
void kn_audit_last_reset (void);

#endif
