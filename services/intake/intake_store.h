/*  intake_store: all of intake's SQL. Each operation is one transaction that holds
    the state change, its outbox event and its audit row; the caller replies only
    after this returns 0, i.e. after COMMIT with synchronous_commit on. A failed
    operation has rolled back and written nothing. */
#ifndef INTAKE_STORE_H_INCLUDED
#define INTAKE_STORE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"
#include "kn_uuid.h"

typedef struct _intake_store_t intake_store_t;

typedef struct {
    char referral_id[KN_UUID_STR];
    char family_id[KN_UUID_STR];
    bool family_matched;
    //  The agency had standing with the family before this referral: only then does
    //  the reply show family_id, family_matched and subject_ids (migration 0015).
    bool family_known;
    bool replayed;
    int64_t received_at_us; // microseconds since the epoch
    //  Subject ids: the child first, then the siblings in request order (on a
    //  replay, read back from the referral).
    char subject_ids[16][KN_UUID_STR];
    size_t subject_count;
} intake_submit_result_t;

typedef struct {
    char referral_id[KN_UUID_STR];
    int status; // Kinnet__V1__ReferralStatus
    int64_t withdrawn_at_us;
    bool replayed;
} intake_withdraw_result_t;

typedef struct {
    char referral_id[KN_UUID_STR];
    char family_id[KN_UUID_STR];
    char agency_id[KN_UUID_STR];
    int status;
    int64_t received_at_us;
    int64_t withdrawn_at_us;               // 0 when not withdrawn
    char *withdraw_reason;                 // malloc'd, NULL when not withdrawn
    Kinnet__V1__SubmitReferral *submitted; // protobuf-c allocated, less what is withheld
    int withheld[16];                      // kinnet.v1.DataCategory values not disclosed
    size_t n_withheld;
    int disclosure_basis; // kinnet.v1.LawfulBasis; 0 for the referring agency
    bool family_known;    // the referrer had standing with the family (see above)
    char ground_id[KN_UUID_STR];
} intake_referral_t;

//  db and crypto are borrowed. Prepares the statements.
intake_store_t *intake_store_new (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err);
void intake_store_destroy (intake_store_t **self_p);

//  Store a validated referral for agency_id (the authenticated caller).
int intake_store_submit (intake_store_t *self, const char *agency_id,
                         const Kinnet__V1__SubmitReferral *referral,
                         intake_submit_result_t *result, kn_error_t *err);

//  One referral of a batch: agency_id and referral in, the rest out.
typedef struct {
    const char *agency_id;                      // the authenticated caller
    const Kinnet__V1__SubmitReferral *referral; // validated
    int rc;                                     // 0: stored or replayed, -1: see err
    char district[65];                          // as the directory spells it
    intake_submit_result_t result;
    kn_error_t err;
} intake_submission_t;

//  Store n validated referrals together: one transaction, one WAL flush and a few
//  statements for the whole batch, each referral answered as if stored alone
//  (stored, replayed, or refused with its own reason; a refused one does not hold
//  back the others). A batch that fails as a whole is tried again one referral at
//  a time, so nothing is acknowledged that did not commit. A key used twice in one
//  batch: the second is answered after the first has committed.
void intake_store_submit_many (intake_store_t *self, intake_submission_t *items,
                               size_t n);

//  Withdraw a referral the agency made, with a reason.
int intake_store_withdraw (intake_store_t *self, const char *agency_id,
                           const Kinnet__V1__WithdrawReferral *withdraw,
                           intake_withdraw_result_t *result, kn_error_t *err);

//  Read a referral back. The referring agency sees all of it; any other agency
//  sees what the consent policy permits it for purpose (identity and contact,
//  family circumstances, the referral narrative), and the rest is withheld; with
//  nothing permitted it gets KN_E_PERMISSION_DENIED and the reason. Every read is
//  audited and every disclosure recorded in the same transaction. Caller frees
//  with intake_referral_free.
int intake_store_get (intake_store_t *self, const char *agency_id,
                      const char *referral_id, const char *caseworker_id, int purpose,
                      intake_referral_t *referral, kn_error_t *err);
void intake_referral_free (intake_referral_t *referral);

//  Record a request that failed before reaching the store (validation, decoding).
void intake_store_audit_failure (intake_store_t *self, const char *agency_id,
                                 const char *caseworker_id, const char *operation,
                                 const char *object_id, kn_code_t code);

#endif
