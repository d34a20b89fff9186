/*  consent_store: all of the consent service's SQL. Writes are one transaction each
    (state, outbox event, audit row) and idempotent by key; reads check the caller's
    standing on the subject first. Results are protobuf-c messages allocated with
    malloc, which the caller frees with protobuf_c_message_free_unpacked. */
#ifndef CONSENT_STORE_H_INCLUDED
#define CONSENT_STORE_H_INCLUDED

#include "kinnet/v1/consent.pb-c.h"
#include "kn_consent_policy.h"
#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"

typedef struct _consent_store_t consent_store_t;

consent_store_t *consent_store_new (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err);
void consent_store_destroy (consent_store_t **self_p);

int consent_store_record (consent_store_t *self, const char *agency_id,
                          const Kinnet__V1__RecordConsent *record,
                          Kinnet__V1__Consent **consent, kn_error_t *err);
int consent_store_withdraw (consent_store_t *self, const char *agency_id,
                            const Kinnet__V1__WithdrawConsent *withdraw,
                            Kinnet__V1__Consent **consent, kn_error_t *err);
//  Reads of consents are decided by the consent policy (the guardian's details are
//  the recorder's data), logged in core.disclosure and audited in one transaction:
//  if the log or the audit cannot be written, the read fails.
int consent_store_get (consent_store_t *self, const char *agency_id, const char *consent_id,
                       Kinnet__V1__Consent **consent, kn_error_t *err);
//  The same, audited as operation (e.g. "receipt").
int consent_store_read (consent_store_t *self, const char *agency_id, const char *operation,
                        const char *consent_id, Kinnet__V1__Consent **consent,
                        kn_error_t *err);
int consent_store_list (consent_store_t *self, const char *agency_id, const char *subject_id,
                        Kinnet__V1__ConsentList **list, kn_error_t *err);
//  The consents about subject_id agency_id may see, as stored, read in the caller's
//  transaction with no log or audit of their own: for the subject access export,
//  which is decided, logged and audited as a whole.
int consent_store_subject_consents (consent_store_t *self, const char *agency_id,
                                    const char *subject_id, Kinnet__V1__ConsentList **list,
                                    kn_error_t *err);
int consent_store_expiring (consent_store_t *self, const char *agency_id, int days,
                            Kinnet__V1__ConsentList **list, kn_error_t *err);
//  Receipt as Kantara Consent Receipt / ISO/IEC TS 27560 JSON (malloc'd string).
int consent_store_receipt (consent_store_t *self, const char *agency_id,
                           const char *consent_id, char **json, kn_error_t *err);
int consent_store_check (consent_store_t *self, const char *agency_id,
                         const Kinnet__V1__CheckDisclosure *check,
                         kn_policy_decision_t *decision, kn_error_t *err);
int consent_store_basis (consent_store_t *self, const char *agency_id,
                         const Kinnet__V1__RecordBasis *basis,
                         Kinnet__V1__BasisRecorded **recorded, kn_error_t *err);
int consent_store_override (consent_store_t *self, const char *agency_id,
                            const Kinnet__V1__RequestOverride *request,
                            Kinnet__V1__Override **override, kn_error_t *err);
int consent_store_review (consent_store_t *self, const char *agency_id,
                          const Kinnet__V1__ReviewOverride *review,
                          Kinnet__V1__Override **override, kn_error_t *err);
int consent_store_overrides (consent_store_t *self, const char *agency_id, bool open_only,
                             Kinnet__V1__OverrideList **list, kn_error_t *err);

//  Audit a request (refused ones included); outside any transaction.
void consent_store_audit (consent_store_t *self, const char *agency_id,
                          const char *caseworker_id, const char *operation,
                          const char *subject_id, const char *object_id, const char *basis,
                          kn_code_t code);

#endif
