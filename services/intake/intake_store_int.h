/*  intake_store_int: what the intake store's files share, and nobody else sees.
    The store is one object (intake_store_t: a session, the field key, the consent
    policy's settings) whose work is split by job, one file each:
      intake_store.c     the object, rollback, the audit row, a lost session's retry
      intake_standing.c  in a batch: a known district, the referrer role
      intake_submit.c    a batch in as few transactions as its answers allow
      intake_insert.c    a batch's new referrals written, one statement per table
      intake_get.c       a referral read back, audited
      intake_disclose.c  what another agency may see of a referral
      intake_withdraw.c  a referral withdrawn by its referrer
    Each file prepares the statements it runs; a statement another file also runs
    is prepared by the first that needs it (the session has them all). */
#ifndef INTAKE_STORE_INT_H_INCLUDED
#define INTAKE_STORE_INT_H_INCLUDED

#include "intake_store.h"

#include <ctype.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinnet/v1/consent.pb-c.h"
#include "kinnet/v1/events.pb-c.h"
#include "kn_audit.h"
#include "kn_log.h"
#include "kn_consent_policy.h"
#include "kn_idempotency.h"
#include "kn_keys.h"
#include "kn_language.h"
#include "kn_outbox.h"
#include "kn_pgarray.h"
#include "kn_subject.h"

#define MAX_CHILDREN          (1 + 15)
#define INTAKE_LANGUAGE_SLOTS 32 // distinct languages carried per referral

struct _intake_store_t {
    kn_db_t *db;
    kn_crypto_t *crypto;
    kn_policy_config_t policy;
};

//  One referral of a batch on its way through s_store_batch (intake_submit.c).
typedef struct {
    intake_submission_t *item;
    kn_idempotency_claim_t claim;
    kn_person_t people[MAX_CHILDREN];
    char subjects[MAX_CHILDREN][KN_UUID_STR];
    kn_data_key_t keys[MAX_CHILDREN]; // subjects[i]'s data key; keys[0] seals the referral
    char basis[48]; // the lawful basis's name, for the audit row
    //  Its children's distinct languages, found once for the row and the event.
    char *languages[INTAKE_LANGUAGE_SLOTS];
    char language_slots[INTAKE_LANGUAGE_SLOTS][9];
    size_t n_languages;
} pending_t;

//  Each file prepares its own statements; intake_store_new calls them all.
int intake_standing_prepare (kn_db_t *db, kn_error_t *err);
int intake_submit_prepare (kn_db_t *db, kn_error_t *err);
int intake_insert_prepare (kn_db_t *db, kn_error_t *err);
int intake_get_prepare (kn_db_t *db, kn_error_t *err);
int intake_withdraw_prepare (kn_db_t *db, kn_error_t *err);

//  intake_store.c

void intake_rollback (intake_store_t *self);

int intake_audit (intake_store_t *self, const char *agency_id, const char *caseworker_id,
                  const char *operation, const char *family_id, const char *object_id,
                  const char *basis, const char *result, kn_error_t *err);

//  kinnet.v1.ReferralStatus of a referral's status column.
int intake_status_value (const char *status);

//  After a failure: true when it was the connection that was lost and a fresh
//  session is up, so the operation may run once more (writes are idempotent by key).
bool intake_reconnected (intake_store_t *self, const kn_error_t *err);

//  intake_standing.c
//  In the batch's transaction (pipeline mode), send the standing of every item
//  (kn_db_defer_read): *rows holds it once the next read has been answered.
int intake_standing_send (intake_store_t *self, intake_submission_t **items, size_t n,
                          PGresult **rows, kn_error_t *err);
//  Item row i of the standing sent: true when it may be stored (its district then
//  written back as the directory spells it); else false, refused (rc -1, err).
bool intake_standing_judge (intake_store_t *self, intake_submission_t *item,
                            const PGresult *rows, int i);
//  intake_insert.c

//  Everything a new referral writes, for every new referral of the batch in one
//  statement per table: the referral, its subjects, its event and its audit row.
//  They are deferred: sent with the COMMIT in one round trip (kn_db_defer_commit).
//  received_us is the transaction's now (), the referrals' received_at.
int intake_insert_referrals (intake_store_t *self, pending_t **news, size_t n,
                             int64_t received_us, kn_error_t *err);

//  intake_disclose.c

//  Decide, withhold and record what another agency may see of a referral.
int intake_disclose (intake_store_t *self, const char *agency_id, int purpose,
                     intake_referral_t *referral, char *basis, size_t basis_size,
                     kn_error_t *err);

#endif
