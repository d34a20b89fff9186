/*  consent_store_int: what the consent store's files share, and nobody else sees.
    The store is one object (consent_store_t: a session, the field key, the consent
    policy's settings, the override review period, what its writes share) whose
    work is split by job, one file each:
      consent_store.c     the object, audit row, outbox event, a replay, subject
      consent_scope.c     a grant's scope as Postgres arrays and back
      consent_standing.c  whether the caller may ask about a subject or a consent
      consent_load.c      a stored consent back as a message, its status worked out
      consent_record.c    a consent recorded
      consent_withdraw.c  a consent withdrawn, its recipients told
      consent_read.c      consents read: decided, logged and audited together
      consent_check.c     whether a disclosure would be permitted
      consent_receipt.c   a consent as a Kantara / ISO 27560 receipt
      consent_basis.c     a statutory basis recorded
      consent_override.c  safeguarding overrides, requested and reviewed
    consent_release.c is a class of its own (consent_release.h).
    Each file prepares the statements it runs (the session has them all). */
#ifndef CONSENT_STORE_INT_H_INCLUDED
#define CONSENT_STORE_INT_H_INCLUDED

#include "consent_store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kinnet/v1/events.pb-c.h"
#include "kn_audit.h"
#include "kn_config.h"
#include "kn_keys.h"
#include "kn_log.h"
#include "kn_outbox.h"
#include "kn_pb.h"
#include "kn_subject.h"
#include "kn_write.h"

#define IDEM     "consent.idempotency"
#define EPOCH(c) "floor (extract (epoch FROM " c "))::bigint"

struct _consent_store_t {
    kn_db_t *db;
    kn_crypto_t *crypto;
    kn_policy_config_t policy;
    int review_hours;
    kn_write_t write; // what each of its writes starts from: IDEM, audited as consent
};

//  The active agencies in the sectors of parameter p now: kept with a grant, so that a
//  sector grant covers its members at recording and never those who join later.
#define MEMBERS(p)                                                                       \
    "coalesce ((SELECT array_agg (a.id) FROM core.agency a JOIN core.sector s"           \
    " ON s.name = a.sector WHERE a.active AND s.value = ANY (" p ")), '{}')"

//  Whether the agency in parameter p holds the data-protection role now: stored with
//  a ground, so the ground counts for every controller's data (kn_consent_policy).
#define IS_DPO(p)                                                                        \
    "EXISTS (SELECT 1 FROM core.agency_role WHERE agency_id = " p                        \
    " AND role = 'data_protection_officer')"

#define RECORD_COLUMNS                                                                                                                          \
    "id, subject_id, given_by, recipient_agencies, recipient_sectors, categories, purposes, " EPOCH (                                           \
        "valid_from") ", coalesce (" EPOCH ("valid_until") ", 0), method, "                                                                     \
                                                           "notice_version, notice_language, interpreter_used, personal, recorded_by, " EPOCH ( \
                                                               "recorded_at")

//  Scope as four array literals.
typedef struct {
    char agencies[2048];
    char sectors[256];
    char categories[256];
    char purposes[256];
} scope_text_t;

//  Each file prepares its own statements; consent_store_new calls them all.
int consent_scope_prepare (kn_db_t *db, kn_error_t *err);
int consent_standing_prepare (kn_db_t *db, kn_error_t *err);
int consent_load_prepare (kn_db_t *db, kn_error_t *err);
int consent_record_prepare (kn_db_t *db, kn_error_t *err);
int consent_withdraw_prepare (kn_db_t *db, kn_error_t *err);
int consent_read_prepare (kn_db_t *db, kn_error_t *err);
int consent_receipt_prepare (kn_db_t *db, kn_error_t *err);
int consent_basis_prepare (kn_db_t *db, kn_error_t *err);
int consent_override_prepare (kn_db_t *db, kn_error_t *err);

//  consent_store.c

int consent_audit (consent_store_t *self, const char *agency_id,
                   const char *caseworker_id, const char *operation,
                   const char *subject_id, const char *object_id, const char *basis,
                   const char *result, kn_error_t *err);

//  Append event, packed, to the outbox in the caller's transaction.
int consent_outbox (consent_store_t *self, const char *topic, const char *id,
                    const ProtobufCMessage *event, kn_error_t *err);

//  A replay's answer: the consent as it is stored now, marked replayed.
int consent_replayed (consent_store_t *self, const char *consent_id,
                      Kinnet__V1__Consent **consent, kn_error_t *err);

//  The subject of a request: by id (must exist) or by identity (created if new).
int consent_subject (consent_store_t *self, const Kinnet__V1__SubjectRef *ref,
                     char subject_id[KN_UUID_STR], kn_error_t *err);

//  An enum value's name in lower case, into out (returned).
const char *consent_enum_name (const ProtobufCEnumDescriptor *descriptor, int value,
                               char *out, size_t size);

//  consent_scope.c

void consent_scope_text (const Kinnet__V1__Scope *scope, scope_text_t *out);

//  A scope from its four array columns (text form); malloc'd like an unpacked one.
Kinnet__V1__Scope *consent_scope_from (const char *agencies, const char *sectors,
                                       const char *categories, const char *purposes);

//  Every named recipient agency must exist.
int consent_agencies_exist (consent_store_t *self, const Kinnet__V1__Scope *scope,
                            kn_error_t *err);

//  consent_standing.c

//  0 when agency_id has standing on subject_id, else KN_E_PERMISSION_DENIED (on field).
int consent_standing (consent_store_t *self, const char *subject_id,
                      const char *agency_id, const char *field, kn_error_t *err);

//  Whether agency_id holds role: 1 or 0, -1 on failure.
int consent_has_role (consent_store_t *self, const char *agency_id, const char *role,
                      kn_error_t *err);

//  A consent the caller may not see is reported exactly like a missing one.
int consent_visible (consent_store_t *self, const char *consent_id, const char *agency_id,
                     kn_error_t *err);

//  consent_load.c

//  The consent as stored (every field), or NULL with KN_E_NOT_FOUND.
Kinnet__V1__Consent *consent_load (consent_store_t *self, const char *consent_id,
                                   kn_error_t *err);

//  Every row of result (RECORD_COLUMNS) as a consent.
Kinnet__V1__ConsentList *consent_list (consent_store_t *self, PGresult *result,
                                       kn_error_t *err);

#endif
