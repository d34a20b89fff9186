/*  records_erase: erasing a person. In one transaction: the values about them still
    sealed under the root key are moved under the data keys of the people they belong
    to (kn_keys_forward_subject: else destroying the key would leave them readable),
    their data key is destroyed, their blind index replaced by random bytes (a later
    referral about them makes a new person, unlinked to the old), and the erasure is
    recorded (core.erasure) with the audit row. After the commit the erasure ledger
    (records_ledger.c) gets its line. */
#include "records_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kn_alloc.h"
#include "kn_clock.h"
#include "kn_keys.h"
#include "kn_keys_rotate.h"
#include "kinnet/v1/events.pb-c.h"
#include "kn_log.h"
#include "kn_outbox.h"
#include "kn_pb.h"
#include "kn_validate.h"
#include "records_ledger.h"

int
records_validate_erase (const records_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__EraseSubject *op = request->erase;
    if (kn_validate_text (op->idempotency_key, "idempotency_key", 1, 128, false, err) ||
        kn_validate_uuid (op->subject_id, "subject_id", err))
        return -1;
    return records_reference_check (op->reference, err);
}

//  How many referrals name the person and how many consent records are about them.
static int
s_counts (records_server_t *self, const char *subject_id, Kinnet__V1__Erasure *erasure,
          kn_error_t *err)
{
    const char *values[] = {subject_id};
    PGresult *row = kn_db_run (self->db, "records_erase_counts", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    erasure->referrals = atoi (PQgetvalue (row, 0, 0));
    erasure->consents = atoi (PQgetvalue (row, 0, 1));
    PQclear (row);
    return 0;
}

//  The erasure on record for subject_id into erasure (erased_at, reference): 1, 0
//  when there is none, -1.
static int
s_recorded (records_server_t *self, const char *subject_id, Kinnet__V1__Erasure *erasure,
            kn_error_t *err)
{
    const char *values[] = {subject_id};
    PGresult *row = kn_db_run (self->db, "records_erasure_get", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    int found = PQntuples (row) == 1;
    if (found && erasure) {
        erasure->erased_at = kn_pb_timestamp (strtoll (PQgetvalue (row, 0, 0), NULL, 10));
        erasure->reference = kn_pb_string (PQgetvalue (row, 0, 1));
    }
    PQclear (row);
    return found;
}

int
records_tell (records_server_t *self, const char *subject_id, const char *topic,
              ProtobufCMessage *event, char **recipient, kn_error_t *err)
{
    const char *values[] = {subject_id};
    PGresult *rows = kn_db_run (self->db, "records_recipients", 1, values, NULL, NULL, err);
    if (!rows)
        return -1;
    int rc = 0;
    for (int r = 0; r < PQntuples (rows) && rc == 0; r++) {
        *recipient = PQgetvalue (rows, r, 0);
        rc = records_tell_event (self, topic, subject_id, event, err);
    }
    *recipient = NULL;
    PQclear (rows);
    return rc;
}

int
records_tell_event (records_server_t *self, const char *topic, const char *subject_id,
                    ProtobufCMessage *event, kn_error_t *err)
{
    size_t len = protobuf_c_message_get_packed_size (event);
    uint8_t *payload = kn_malloc (len ? len : 1);
    protobuf_c_message_pack (event, payload);
    int rc = kn_outbox_append (self->db, topic, subject_id, payload, len, err);
    free (payload);
    return rc;
}

//  One subject.erased event per agency that ever received data about the person;
//  for an erasure one DPO decided (dpos), one more for routing, which copies it to
//  every DPO: one DPO's irreversible decision is seen by the others.
static int
s_tell_recipients (records_server_t *self, const char *subject_id, const char *family_id,
                   int64_t erased_us, bool dpos, kn_error_t *err)
{
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = erased_us / 1000000;
    Kinnet__V1__SubjectErased event = KINNET__V1__SUBJECT_ERASED__INIT;
    event.subject_id = (char *)subject_id;
    event.family_id = (char *)family_id;
    event.erased_at = &at;
    return records_tell (self, subject_id, "subject.erased", &event.base,
                         &event.recipient_agency_id, err) ||
                   (dpos && records_tell_routing (self, "subject.erased", &event.base,
                                                &event.recipient_agency_id, subject_id, err))
               ? -1
               : 0;
}

//  Destroy subject_id's key and unlink their index, recorded as what says: 1, 0
//  when their key was destroyed already, -1.
static int
s_destroy_one (records_server_t *self, const char *subject_id, const records_destroy_t *what,
               records_destroyed_t *done, kn_error_t *err)
{
    //  Their values still under the root key go under their own key first: else
    //  destroying it would leave those readable.
    long moved = 0;
    if (kn_keys_forward_subject (self->db, self->crypto, subject_id, &moved, err))
        return -1;
    done->moved += moved;
    //  The person must have a key to destroy: one that had nothing sealed yet gets
    //  one now (it then seals nothing).
    kn_data_key_t key;
    const char *subjects[] = {subject_id};
    if (kn_keys_for_subjects (self->db, self->crypto, subjects, 1, &key, err)) {
        //  Destroyed already (CONFLICT from kn_keys): nothing left to do.
        if (err->code != KN_E_CONFLICT)
            return -1;
        kn_error_clear (err);
        return 0;
    }
    sodium_memzero (key.key, sizeof key.key);
    uint8_t unlinked[KN_BLIND_INDEX_BYTES];
    randombytes_buf (unlinked, sizeof unlinked);
    const char *values[] = {subject_id, (const char *)unlinked, what->reference,
                            what->by,   what->at,               what->cause};
    int lengths[] = {0, (int)sizeof unlinked, 0, 0, 0, 0}, formats[] = {0, 1, 0, 0, 0, 0};
    PGresult *row = kn_db_run (self->db, "records_erase", 6, values, lengths, formats, err);
    if (!row)
        return -1;
    int erased = PQntuples (row) == 1;
    if (erased) {
        done->erased_us = strtoll (PQgetvalue (row, 0, 0), NULL, 10);
        snprintf (done->key_id, sizeof done->key_id, "%s", PQgetvalue (row, 0, 1));
        snprintf (done->erased_at, sizeof done->erased_at, "%s", PQgetvalue (row, 0, 2));
    }
    PQclear (row);
    return erased;
}

int
records_destroy (records_server_t *self, const records_destroy_t *what,
                 records_destroyed_t *done, kn_error_t *err)
{
    done->moved = 0;
    int erased = s_destroy_one (self, what->subject_id, what, done, err);
    if (erased <= 0)
        return erased;
    //  Those merged into them are them: each erased with them (their key seals their
    //  date of birth; their index would find the person), each with its own record.
    const char *values[] = {what->subject_id};
    PGresult *aliases = kn_db_run (self->db, "records_aliases", 1, values, NULL, NULL, err);
    if (!aliases)
        return -1;
    int rc = 0;
    for (int r = 0; r < PQntuples (aliases) && rc == 0; r++) {
        records_destroyed_t alias = {0};
        rc = s_destroy_one (self, PQgetvalue (aliases, r, 0), what, &alias, err) < 0 ? -1 : 0;
        done->moved += alias.moved;
    }
    PQclear (aliases);
    if (rc == 0 && what->tell &&
        s_tell_recipients (self, what->subject_id, what->family_id, done->erased_us,
                           strcmp (what->cause, "dpo") == 0, err))
        return -1;
    return rc ? -1 : 1;
}

void
records_destroyed_logged (records_server_t *self, const char *subject_id,
                          const char *reference, const records_destroyed_t *done)
{
    kn_log (KN_INFO, "subject.erased", "subject_id", subject_id, "key_id", done->key_id,
            NULL);
    //  The ledger's line, after the commit: a line for an erasure that did not happen
    //  would erase someone at the next restore. One lost here (a crash just now) is
    //  written at the next start (records_ledger_sync).
    kn_error_t ledger_err;
    if (self->ledger_path &&
        records_ledger_append (self->ledger_path, done->erased_at, subject_id, done->key_id,
                               reference, &ledger_err))
        kn_log (KN_ERROR, "ledger.write_failed", "problem", ledger_err.message, NULL);
    //  And a line for each one merged into them: a restore from before the merge
    //  would bring them back apart.
    const char *values[] = {subject_id};
    PGresult *rows = self->ledger_path ? kn_db_run (self->db, "records_alias_erasures", 1,
                                                    values, NULL, NULL, &ledger_err)
                                       : NULL;
    for (int r = 0; rows && r < PQntuples (rows); r++)
        if (records_ledger_append (self->ledger_path, PQgetvalue (rows, r, 0),
                                   PQgetvalue (rows, r, 1), PQgetvalue (rows, r, 2),
                                   PQgetvalue (rows, r, 3), &ledger_err))
            kn_log (KN_ERROR, "ledger.write_failed", "problem", ledger_err.message, NULL);
    PQclear (rows);
}

//  Whether agency may erase one more person this hour (records_server_set_erase_limit):
//  0, or -1 with RESOURCE_EXHAUSTED or err. Holds the agency's lock to the commit.
static int
s_within_limit (records_server_t *self, const char *agency, const char *subject_id,
                kn_error_t *err)
{
    char now[24];
    snprintf (now, sizeof now, "%lld", (long long)kn_clock_now ());
    const char *values[] = {agency, now, subject_id};
    PGresult *row = kn_db_run (self->db, "records_erase_rate", 3, values, NULL, NULL, err);
    if (!row)
        return -1;
    long done = atol (PQgetvalue (row, 0, 1)), more = atol (PQgetvalue (row, 0, 2));
    PQclear (row);
    //  A merge cannot carry more people past the limit than it allows.
    return done + more <= self->erase_hourly_limit
               ? 0
               : kn_error_set (err, KN_E_RESOURCE_EXHAUSTED, NULL,
                               "your agency has erased %ld people in the last hour, the"
                               " most it may (KINNET_ERASURE_HOURLY_LIMIT): erasure cannot be"
                               " undone, so more must wait; the retention keeper erases"
                               " what its schedules make due",
                               done);
}

int
records_erase (records_server_t *self, const char *agency, const records_request_t *request,
               records_reply_t *reply, kn_error_t *err)
{
    const Kinnet__V1__EraseSubject *op = request->erase;
    Kinnet__V1__Erasure *erasure = kn_malloc (sizeof *erasure);
    kinnet__v1__erasure__init (erasure);
    reply->erasure = erasure;
    erasure->subject_id = kn_pb_string (op->subject_id);
    erasure->dry_run = op->dry_run;
    if (op->dry_run)   // the reference as given (a real erasure's is its record's)
        erasure->reference = kn_pb_string (op->reference);
    char subject_id[KN_UUID_STR];   // canonical already (kn_service_decode)
    snprintf (subject_id, sizeof subject_id, "%s", op->subject_id);
    kn_write_t w;
    kn_claim_t claim = records_write_begin (self, &w, agency, op->dry_run ? "erase_dry_run"
                                                                          : "erase",
                                            subject_id, &op->base, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    if (claim == KN_CLAIM_REPLAY) {
        erasure->replayed = true;
        if (op->dry_run)
            return s_counts (self, subject_id, erasure, err);
        return s_counts (self, subject_id, erasure, err) ||
                       s_recorded (self, subject_id, erasure, err) < 0
                   ? -1
                   : 0;
    }
    char family_id[KN_UUID_STR], hold_id[KN_UUID_STR];
    if (records_lock_current (self, subject_id, family_id, err))
        goto fail;
    w.audit.subject_ref = family_id;
    int erased = s_recorded (self, subject_id, NULL, err);
    if (erased < 0)
        goto fail;
    if (erased) {
        kn_error_set (err, KN_E_CONFLICT, "subject_id", "the person is already erased");
        goto fail;
    }
    int held = records_hold_in_force (self, subject_id, hold_id, err);
    if (held < 0)
        goto fail;
    if (held) {
        kn_error_set (err, KN_E_CONFLICT, "subject_id",
                      "the person is under legal hold %s: it must be lifted first", hold_id);
        goto fail;
    }
    if (s_counts (self, subject_id, erasure, err) ||
        (!op->dry_run && s_within_limit (self, agency, subject_id, err)))
        goto fail;
    //  A dry run moves nothing for good: it counts inside a savepoint it rolls back,
    //  and commits only the request's own record (the claim and the audit row).
    if (op->dry_run) {
        long moved = 0;
        if (kn_db_exec (self->db, "SAVEPOINT dry_run", err) ||
            kn_keys_forward_subject (self->db, self->crypto, subject_id, &moved, err) ||
            kn_db_exec (self->db, "ROLLBACK TO SAVEPOINT dry_run", err) ||
            kn_write_commit (&w, err))
            goto fail;
        erasure->values_moved = (int32_t)moved;
        return 0;
    }
    records_destroy_t what = {.subject_id = subject_id,
                              .family_id = family_id,
                              .reference = op->reference,
                              .by = agency,
                              .cause = "dpo",
                              .tell = true};
    records_destroyed_t done;
    int destroyed = records_destroy (self, &what, &done, err);
    if (destroyed < 0)
        goto fail;
    if (destroyed == 0) {   // its key was destroyed without a record of it
        kn_error_set (err, KN_E_CONFLICT, "subject_id", "the person is already erased");
        goto fail;
    }
    if (kn_write_commit (&w, err))
        goto fail;
    erasure->values_moved = (int32_t)done.moved;
    erasure->erased_at = kn_pb_timestamp (done.erased_us / 1000000);
    erasure->reference = kn_pb_string (op->reference);
    records_destroyed_logged (self, subject_id, op->reference, &done);
    return 0;
fail:
    return kn_write_abort (&w);
}
