/*  records_ops: what the records service's files share. records_server decodes a
    request, checks the caller's role (data_protection_officer) and audits; the
    operations live one job per file (records_erase, records_hold), each a handler
    of the same shape that fills one member of the reply. A write runs as one
    kn_write from self->write (ledger records.idempotency), which audits it; a
    replayed write sets self->replayed so the server audits the replay. */
#ifndef RECORDS_OPS_H_INCLUDED
#define RECORDS_OPS_H_INCLUDED

#include <stdbool.h>

#include "kinnet/v1/events.pb-c.h"
#include "kinnet/v1/records.pb-c.h"
#include "kn_write.h"
#include "records_server.h"

struct _records_server_t {
    kn_db_t *db;
    kn_crypto_t *crypto;
    kn_write_t write;     //  every write's shared part: ledger, service, role
    bool replayed;        //  the last write answered from its ledger entry
    char *ledger_path;    //  the erasure ledger (KINNET_ERASURE_LEDGER), or NULL
    const char *role;     //  the role the current request is served in
    int shorten_delay_days;  //  how long a shorter retention period waits to apply
    int erase_hourly_limit;  //  erasures one DPO agency may decide in an hour
};

typedef Kinnet__V1__RecordsRequest records_request_t;
typedef Kinnet__V1__RecordsReply records_reply_t;

//  A handler: reads its member of request, fills its member of reply (malloc'd,
//  freed with the reply), or returns -1 with err.
typedef int (records_handle_fn) (records_server_t *self, const char *agency,
                                 const records_request_t *request, records_reply_t *reply,
                                 kn_error_t *err);
//  A validator: the field rules of the request's member, before the role check.
typedef int (records_validate_fn) (const records_request_t *request, kn_error_t *err);

//  A write's kn_write, begun (see admin_write_begin): object_id is what it changes,
//  NULL for a new id.
kn_claim_t records_write_begin (records_server_t *self, kn_write_t *w, const char *agency,
                                const char *operation, const char *object_id,
                                const ProtobufCMessage *request, kn_error_t *err);

//  Lock the person subject_id for this transaction against referrals naming them,
//  anything new sealed about them (kn_subject_lock_for_change) and other changes
//  (their row); their family into family_id. 0, or -1 with NOT_FOUND (field
//  subject_id) or err.
int records_lock_subject (records_server_t *self, const char *subject_id,
                          char family_id[KN_UUID_STR], kn_error_t *err);

//  records_lock_subject, refused (CONFLICT) when the person was merged into another:
//  what a DPO decides about them is decided about that other.
int records_lock_current (records_server_t *self, const char *subject_id,
                          char family_id[KN_UUID_STR], kn_error_t *err);

//  records_erase.c
int records_validate_erase (const records_request_t *request, kn_error_t *err);
records_handle_fn records_erase;

//  One erasure, whoever decided it.
typedef struct {
    const char *subject_id, *family_id;
    const char *reference;   // the erasure's reference (records_reference_valid)
    const char *by;          // the deciding DPO's agency; NULL: none (ledger, keeper)
    const char *at;          // when, as timestamptz text; NULL: now
    const char *cause;       // core.erasure.cause: dpo, ledger or retention
    bool tell;               // a subject.erased event to each recipient of their data
} records_destroy_t;

typedef struct {
    int64_t erased_us;
    char key_id[KN_UUID_STR];
    char erased_at[40];      // RFC 3339 UTC, for the ledger
    long moved;              // older values moved under the key first
} records_destroyed_t;

//  Erase what->subject_id in the caller's open write transaction, the person locked
//  (records_lock_subject): their values still under the root key moved under their
//  key, the key destroyed (made first when they had none), their blind index
//  unlinked, core.erasure written, and, with tell, each recipient told. 1 erased,
//  0 when their key was destroyed already (nothing done), -1 with err.
int records_destroy (records_server_t *self, const records_destroy_t *what,
                     records_destroyed_t *done, kn_error_t *err);

//  One copy of event (topic) to each agency that ever received data about subject_id
//  (the disclosure log), in the caller's transaction: *recipient (the event's
//  recipient_agency_id) is set for each, then cleared. Routing copies each into that
//  agency's feed.
int records_tell (records_server_t *self, const char *subject_id, const char *topic,
                  ProtobufCMessage *event, char **recipient, kn_error_t *err);

//  The SubjectMerged event of a merge, unmerge or split (merge_id) of b from a, at
//  at_s (seconds), into event, with its time in at; strings borrowed.
void records_merged_event (Kinnet__V1__SubjectMerged *event, Kinnet__V1__Timestamp *at,
                           int64_t at_s, const char *a, const char *b, const char *family_id,
                           const char *merge_id);

//  One copy of event (topic, about subject_id) into the outbox, as it is now (its
//  recipient already set), in the caller's transaction.
int records_tell_event (records_server_t *self, const char *topic, const char *subject_id,
                        ProtobufCMessage *event, kn_error_t *err);

//  After the commit of an erasure: its log line and its line in the erasure ledger.
void records_destroyed_logged (records_server_t *self, const char *subject_id,
                               const char *reference, const records_destroyed_t *done);

//  records_hold.c
int records_validate_place_hold (const records_request_t *request, kn_error_t *err);
int records_validate_lift_hold (const records_request_t *request, kn_error_t *err);
int records_validate_holds (const records_request_t *request, kn_error_t *err);
records_handle_fn records_place_hold;
records_handle_fn records_lift_hold;
records_handle_fn records_holds;
//  The id of the hold in force on subject_id into hold_id: 1, 0 when none, -1.
int records_hold_in_force (records_server_t *self, const char *subject_id,
                           char hold_id[KN_UUID_STR], kn_error_t *err);

//  records_retention.c
int records_validate_retention (const records_request_t *request, kn_error_t *err);
int records_validate_set_retention (const records_request_t *request, kn_error_t *err);
int records_validate_cancel_retention (const records_request_t *request, kn_error_t *err);
int records_validate_run_retention (const records_request_t *request, kn_error_t *err);
records_handle_fn records_retention;
records_handle_fn records_set_retention;
records_handle_fn records_cancel_retention;
records_handle_fn records_run_retention;
int records_retention_prepare (kn_db_t *db, kn_error_t *err);
//  The least time between two runs that are no dry run, whoever asks (seconds).
#define RECORDS_RUN_GAP_S 60

//  records_rectify.c
int records_validate_rectify (const records_request_t *request, kn_error_t *err);
records_handle_fn records_rectify;
int records_rectify_prepare (kn_db_t *db, kn_error_t *err);

//  records_merge.c
//  Every record about person p: its kind (core.subject_merge_row.kind) and id.
#define RECORDS_ABOUT(p)                                                                 \
    "SELECT 'referral', referral_id FROM intake.referral_subject WHERE subject_id = " p     \
    " UNION ALL SELECT 'consent', id FROM consent.record WHERE subject_id = " p            \
    " UNION ALL SELECT 'basis', id FROM consent.basis WHERE subject_id = " p               \
    " UNION ALL SELECT 'override', id FROM consent.override WHERE subject_id = " p         \
    " UNION ALL SELECT 'release', id FROM consent.release WHERE subject_id = " p           \
    " UNION ALL SELECT 'hold', id FROM core.legal_hold WHERE subject_id = " p

//  Move the records the merge (or split) merge_id lists from person from to person
//  to, each sealed value opened and sealed again under to's key, in the caller's
//  transaction, both people locked.
int records_move (records_server_t *self, const char *merge_id, const char *from,
                  const char *to, kn_error_t *err);
//  Both people of a merge's SubjectMerged event (topic), to routing (no recipient):
//  it re-decides their open offers.
int records_tell_routing (records_server_t *self, const char *topic,
                          ProtobufCMessage *event, char **recipient, const char *subject_id,
                          kn_error_t *err);
//  A merge or split as recorded (core.subject_merge).
typedef struct {
    char subject_id[KN_UUID_STR];   // who remains (a split: who it was split from)
    char other_id[KN_UUID_STR];     // who was merged in (a split: the new person)
    int64_t at, undone_at;          // epoch seconds; undone_at 0 while in force
    char reference[72], undo_reference[72];
    int referrals, consents, holds;
    bool split;
} records_merge_row_t;

//  The merge id into merge (with lock, FOR UPDATE): 1, 0 when there is none, -1.
int records_merge_load (records_server_t *self, const char *id, bool lock,
                        records_merge_row_t *merge, kn_error_t *err);
int records_validate_merge (const records_request_t *request, kn_error_t *err);
int records_validate_unmerge (const records_request_t *request, kn_error_t *err);
records_handle_fn records_merge;
records_handle_fn records_unmerge;
int records_merge_prepare (kn_db_t *db, kn_error_t *err);

//  records_split.c
int records_validate_split (const records_request_t *request, kn_error_t *err);
records_handle_fn records_split;
int records_split_prepare (kn_db_t *db, kn_error_t *err);

int records_prepare (kn_db_t *db, kn_error_t *err);

//  A server on db with every statement prepared and nothing else done (the keeper's
//  session; records_server_new adds the ledger's sync).
records_server_t *records_server_session (kn_db_t *db, kn_crypto_t *crypto,
                                          const char *ledger_path, kn_error_t *err);

#endif
