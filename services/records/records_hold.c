/*  records_hold: legal holds. A hold in force on a person, or on a case (then on
    every person named in a referral routed to it), stops their erasure, by a DPO or
    by the retention keeper. Placing and lifting one are the DPO's, each with a
    reason sealed under the person's key (a case's: its first person not erased). */
#include "records_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kn_alloc.h"
#include "kn_keys.h"
#include "kn_pb.h"
#include "kn_validate.h"

#define HOLD_COLUMNS                                                                     \
    "id, coalesce (subject_id::text, ''), reason, placed_by,"                            \
    " extract (epoch FROM placed_at)::bigint, coalesce (lifted_by::text, ''),"           \
    " coalesce (extract (epoch FROM lifted_at)::bigint, 0), lift_reason,"                \
    " coalesce (case_id::text, ''), coalesce (subject_id, (SELECT rs.subject_id"         \
    "  FROM routing.case_referral cr JOIN intake.referral_subject rs"                    \
    "  ON rs.referral_id = cr.referral_id WHERE cr.case_id = legal_hold.case_id"         \
    "  ORDER BY cr.routed_at, cr.referral_id, rs.position LIMIT 1))"

//  The cases of the referrals naming person $1 (SQL).
#define CASES_OF(person)                                                                 \
    "(SELECT cr.case_id FROM routing.case_referral cr JOIN intake.referral_subject rs"  \
    " ON rs.referral_id = cr.referral_id WHERE rs.subject_id = " person ")"

int
records_validate_place_hold (const records_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__PlaceHold *op = request->place_hold;
    bool on_case = op->case_id && *op->case_id;
    if (on_case && op->subject_id && *op->subject_id)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "case_id",
                             "a hold is on a person (subject_id) or on a case (case_id),"
                             " not both");
    return kn_validate_text (op->idempotency_key, "idempotency_key", 1, 128, false, err) ||
                   (on_case ? kn_validate_uuid (op->case_id, "case_id", err)
                            : kn_validate_uuid (op->subject_id, "subject_id", err)) ||
                   kn_validate_text (op->reason, "reason", 1, 2000, true, err)
               ? -1
               : 0;
}

int
records_validate_lift_hold (const records_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__LiftHold *op = request->lift_hold;
    return kn_validate_text (op->idempotency_key, "idempotency_key", 1, 128, false, err) ||
                   kn_validate_uuid (op->hold_id, "hold_id", err) ||
                   kn_validate_text (op->reason, "reason", 1, 2000, true, err)
               ? -1
               : 0;
}

int
records_validate_holds (const records_request_t *request, kn_error_t *err)
{
    const char *subject = request->holds->subject_id, *on_case = request->holds->case_id;
    if (subject && *subject && on_case && *on_case)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "case_id",
                             "list the holds of a person or of a case, not both");
    return subject && *subject ? kn_validate_uuid (subject, "subject_id", err)
           : on_case && *on_case ? kn_validate_uuid (on_case, "case_id", err)
                                 : 0;
}

int
records_hold_in_force (records_server_t *self, const char *subject_id,
                       char hold_id[KN_UUID_STR], kn_error_t *err)
{
    const char *values[] = {subject_id};
    PGresult *row = kn_db_run (self->db, "records_hold_in_force", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    int held = PQntuples (row) > 0;
    if (held)
        snprintf (hold_id, KN_UUID_STR, "%s", PQgetvalue (row, 0, 0));
    PQclear (row);
    return held;
}

//  Row r of HOLD_COLUMNS as a Hold, for agency: its reasons, once opened, are a
//  disclosure to agency about the person (or the case's first person), logged.
static Kinnet__V1__Hold *
s_hold (records_server_t *self, const char *agency, PGresult *rows, int r)
{
    Kinnet__V1__Hold *hold = kn_malloc (sizeof *hold);
    kinnet__v1__hold__init (hold);
    const char *id = PQgetvalue (rows, r, 0);
    char ad[KN_UUID_STR + 8];
    hold->hold_id = kn_pb_string (id);
    hold->subject_id = kn_pb_string (PQgetvalue (rows, r, 1));
    hold->reason = kn_keys_open_text (self->db, self->crypto, rows, r, 2, id);
    hold->placed_by = kn_pb_string (PQgetvalue (rows, r, 3));
    hold->placed_at = kn_pb_timestamp (strtoll (PQgetvalue (rows, r, 4), NULL, 10));
    hold->lifted_by = kn_pb_string (PQgetvalue (rows, r, 5));
    int64_t lifted = strtoll (PQgetvalue (rows, r, 6), NULL, 10);
    if (lifted)
        hold->lifted_at = kn_pb_timestamp (lifted);
    snprintf (ad, sizeof ad, "%s:lift", id);
    hold->lift_reason = kn_keys_open_text (self->db, self->crypto, rows, r, 7, ad);
    hold->case_id = kn_pb_string (PQgetvalue (rows, r, 8));
    const char *about = PQgetvalue (rows, r, 9);
    if (hold->reason[0] && about[0]) {
        const char *values[] = {about, agency, id};
        kn_error_t err;
        PGresult *done = kn_db_run (self->db, "records_hold_disclosed", 3, values, NULL, NULL,
                                    &err);
        if (!done)   // unlogged, it is not shown
            hold->reason[0] = hold->lift_reason[0] = 0;
        PQclear (done);
    }
    return hold;
}

//  The hold hold_id as the reply (with replayed).
static int
s_answer (records_server_t *self, const char *agency, const char *hold_id, bool replayed,
          records_reply_t *reply, kn_error_t *err)
{
    const char *values[] = {hold_id};
    PGresult *rows = kn_db_run (self->db, "records_hold_get", 1, values, NULL, NULL, err);
    if (!rows)
        return -1;
    int rc = PQntuples (rows) == 1
                 ? 0
                 : kn_error_set (err, KN_E_NOT_FOUND, "hold_id", "no such hold");
    if (rc == 0) {
        reply->hold = s_hold (self, agency, rows, 0);
        reply->hold->replayed = replayed;
    }
    PQclear (rows);
    return rc;
}

//  reason sealed under subject_id's key, bound to ad; NULL with err.
static uint8_t *
s_seal (records_server_t *self, const char *subject_id, const char *reason, const char *ad,
        size_t *len, kn_error_t *err)
{
    return kn_keys_seal (self->db, self->crypto, subject_id, (const uint8_t *)reason,
                         strlen (reason), ad, len, err);
}

//  The case's family and the person whose key seals its hold's reasons (the first
//  not erased). NOT_FOUND (case_id) for no such case; CONFLICT when everyone named
//  in it is erased (or none yet).
static int
s_case_person (records_server_t *self, const char *case_id, char subject_id[KN_UUID_STR],
               char family_id[KN_UUID_STR], kn_error_t *err)
{
    const char *values[] = {case_id};
    PGresult *row = kn_db_run (self->db, "records_case_person", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    int rc = PQntuples (row) != 1 ? kn_error_set (err, KN_E_NOT_FOUND, "case_id", "no such case")
             : !PQgetvalue (row, 0, 1)[0]
                 ? kn_error_set (err, KN_E_CONFLICT, "case_id",
                                 "everyone named in the case is erased")
                 : 0;
    if (rc == 0) {
        snprintf (family_id, KN_UUID_STR, "%s", PQgetvalue (row, 0, 0));
        snprintf (subject_id, KN_UUID_STR, "%s", PQgetvalue (row, 0, 1));
    }
    PQclear (row);
    return rc;
}

int
records_place_hold (records_server_t *self, const char *agency,
                    const records_request_t *request, records_reply_t *reply, kn_error_t *err)
{
    const Kinnet__V1__PlaceHold *op = request->place_hold;
    kn_write_t w;
    kn_claim_t claim =
        records_write_begin (self, &w, agency, "place_hold", NULL, &op->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY
                   ? s_answer (self, agency, w.object_id, true, reply, err)
                   : -1;
    bool on_case = op->case_id && *op->case_id;
    char family_id[KN_UUID_STR], sealer[KN_UUID_STR];
    if (on_case ? s_case_person (self, op->case_id, sealer, family_id, err)
                : records_lock_current (self, op->subject_id, family_id, err))
        goto fail;
    if (!on_case)
        snprintf (sealer, sizeof sealer, "%s", op->subject_id);
    w.audit.subject_ref = family_id;
    size_t len = 0;
    //  An erased person has no key: kn_keys refuses (CONFLICT, subject_id).
    uint8_t *sealed = s_seal (self, sealer, op->reason, w.object_id, &len, err);
    if (!sealed)
        goto fail;
    const char *values[] = {w.object_id, on_case ? NULL : op->subject_id,
                            (const char *)sealed, agency, on_case ? op->case_id : NULL};
    int lengths[] = {0, 0, (int)len, 0, 0}, formats[] = {0, 0, 1, 0, 0};
    PGresult *done = kn_db_run (self->db, "records_hold_insert", 5, values, lengths,
                                formats, err);
    free (sealed);
    if (!done)
        goto fail;
    PQclear (done);
    if (kn_write_commit (&w, err))
        goto fail;
    return s_answer (self, agency, w.object_id, false, reply, err);
fail:
    return kn_write_abort (&w);
}

int
records_lift_hold (records_server_t *self, const char *agency,
                   const records_request_t *request, records_reply_t *reply, kn_error_t *err)
{
    const Kinnet__V1__LiftHold *op = request->lift_hold;
    kn_write_t w;
    kn_claim_t claim =
        records_write_begin (self, &w, agency, "lift_hold", op->hold_id, &op->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY
                   ? s_answer (self, agency, w.object_id, true, reply, err)
                   : -1;
    const char *values[] = {op->hold_id};
    PGresult *row = kn_db_run (self->db, "records_hold_lock", 1, values, NULL, NULL, err);
    if (!row)
        goto fail;
    char subject_id[KN_UUID_STR] = "", case_id[KN_UUID_STR] = "", family_id[KN_UUID_STR];
    bool found = PQntuples (row) == 1, lifted = found && PQgetvalue (row, 0, 1)[0] == 't';
    if (found) {
        snprintf (subject_id, sizeof subject_id, "%s", PQgetvalue (row, 0, 0));
        snprintf (case_id, sizeof case_id, "%s", PQgetvalue (row, 0, 2));
    }
    PQclear (row);
    if (!found || lifted) {
        kn_error_set (err, found ? KN_E_CONFLICT : KN_E_NOT_FOUND, "hold_id",
                      found ? "the hold is lifted already" : "no such hold");
        goto fail;
    }
    //  A hold on a case: its lifting reason goes under its first person's key too.
    if (case_id[0] && s_case_person (self, case_id, subject_id, family_id, err))
        goto fail;
    char ad[KN_UUID_STR + 8];
    snprintf (ad, sizeof ad, "%s:lift", op->hold_id);
    size_t len = 0;
    uint8_t *sealed = s_seal (self, subject_id, op->reason, ad, &len, err);
    if (!sealed)
        goto fail;
    const char *update[] = {op->hold_id, agency, (const char *)sealed};
    int lengths[] = {0, 0, (int)len}, formats[] = {0, 0, 1};
    PGresult *done = kn_db_run (self->db, "records_hold_lift", 3, update, lengths, formats,
                                err);
    free (sealed);
    if (!done)
        goto fail;
    PQclear (done);
    if (kn_write_commit (&w, err))
        goto fail;
    return s_answer (self, agency, op->hold_id, false, reply, err);
fail:
    return kn_write_abort (&w);
}

int
records_holds (records_server_t *self, const char *agency, const records_request_t *request,
               records_reply_t *reply, kn_error_t *err)
{
    const char *subject = request->holds->subject_id, *on_case = request->holds->case_id;
    const char *values[] = {subject && *subject ? subject : NULL,
                            on_case && *on_case ? on_case : NULL};
    PGresult *rows = kn_db_run (self->db, "records_holds", 2, values, NULL, NULL, err);
    if (!rows)
        return -1;
    Kinnet__V1__HoldList *list = kn_malloc (sizeof *list);
    kinnet__v1__hold_list__init (list);
    list->n_holds = (size_t)PQntuples (rows);
    list->holds = kn_calloc (list->n_holds ? list->n_holds : 1, sizeof *list->holds);
    for (size_t r = 0; r < list->n_holds; r++)
        list->holds[r] = s_hold (self, agency, rows, (int)r);
    PQclear (rows);
    reply->holds = list;
    return 0;
}

int
records_prepare (kn_db_t *db, kn_error_t *err)
{
    static const char *statements[][2] = {
        {"records_subject_lock", "SELECT family_id FROM core.subject WHERE id = $1"
                                 " FOR UPDATE"},
        {"records_erasure_get", "SELECT extract (epoch FROM erased_at)::bigint, reference"
                                " FROM core.erasure WHERE subject_id = $1"},
        {"records_erasures",
         "SELECT to_char (erased_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
         " subject_id, key_id, reference FROM core.erasure ORDER BY erased_at"},
        {"records_erase_counts",
         "SELECT (SELECT count(*) FROM intake.referral_subject WHERE subject_id = $1),"
         " (SELECT count(*) FROM consent.record WHERE subject_id = $1)"
         " + (SELECT count(*) FROM consent.basis WHERE subject_id = $1)"
         " + (SELECT count(*) FROM consent.override WHERE subject_id = $1)"
         " + (SELECT count(*) FROM consent.release WHERE subject_id = $1)"},
        //  Destroy the key, unlink the blind index, record it: one statement.
        {"records_erase",
         "WITH k AS (UPDATE core.data_key SET wrapped = NULL,"
         "             destroyed_at = coalesce ($5::timestamptz, now ())"
         "           WHERE subject_id = $1 AND wrapped IS NOT NULL RETURNING id, destroyed_at),"
         " s AS (UPDATE core.subject SET blind_index = $2 WHERE id = $1 RETURNING id),"
         " e AS (INSERT INTO core.erasure (subject_id, key_id, erased_at, erased_by, reference,"
         "                                 cause)"
         "       SELECT $1, k.id, k.destroyed_at, $4, $3, $6 FROM k, s"
         "       RETURNING key_id, erased_at)"
         " SELECT (extract (epoch FROM erased_at) * 1000000)::bigint, key_id,"
         " to_char (erased_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
         " FROM e"},
        //  Of the person's data and of those merged into them.
        //  The erasures agency $1 decided in the hour before $2 (epoch seconds, the
        //  service's clock), counted under a lock of that agency's: two requests at
        //  once cannot both take the last place.
        {"records_erase_rate",
         "SELECT pg_advisory_xact_lock (hashtext ('kinnet.erase.rate:' || $1::text)),"
         " (SELECT count(*) FROM core.erasure WHERE erased_by = $1::uuid AND cause = 'dpo'"
         "  AND erased_at > to_timestamp ($2::bigint) - interval '1 hour'),"
         //  This erasure takes everyone merged into the person ($3) with them.
         " 1 + (SELECT count(*) FROM core.subject WHERE merged_into = $3::uuid)"},
        {"records_recipients",
         "SELECT DISTINCT recipient_id FROM core.disclosure WHERE subject_id = $1"
         " OR subject_id IN (SELECT id FROM core.subject WHERE merged_into = $1) ORDER BY 1"},
        {"records_aliases", "SELECT id FROM core.subject WHERE merged_into = $1 ORDER BY id"},
        {"records_alias_erasures",
         "SELECT to_char (e.erased_at AT TIME ZONE 'UTC',"
         " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), e.subject_id, e.key_id, e.reference"
         " FROM core.erasure e JOIN core.subject s ON s.id = e.subject_id"
         " WHERE s.merged_into = $1 ORDER BY 2"},
        {"records_hold_in_force",
         "SELECT id FROM core.legal_hold WHERE lifted_at IS NULL"
         " AND (subject_id = $1 OR case_id IN " CASES_OF ("$1") ")"
         " ORDER BY placed_at LIMIT 1"},
        {"records_hold_insert", "INSERT INTO core.legal_hold (id, subject_id, reason,"
                                " placed_by, case_id) VALUES ($1, $2, $3, $4, $5)"},
        //  A case's family and its first person whose key is live (by the order its
        //  referrals were routed in, then their order in the referral).
        {"records_case_person",
         "SELECT k.family_id, coalesce (p.subject_id::text, '') FROM routing.case k"
         " LEFT JOIN LATERAL (SELECT rs.subject_id FROM routing.case_referral cr"
         "  JOIN intake.referral_subject rs ON rs.referral_id = cr.referral_id"
         "  JOIN core.data_key d ON d.subject_id = rs.subject_id AND d.wrapped IS NOT NULL"
         "  WHERE cr.case_id = k.id ORDER BY cr.routed_at, cr.referral_id, rs.position"
         "  LIMIT 1) p ON true WHERE k.id = $1"},
        {"records_hold_get", "SELECT " HOLD_COLUMNS " FROM core.legal_hold WHERE id = $1"},
        //  A hold's reasons read: family circumstances, for the DPO's records management.
        {"records_hold_disclosed",
         "INSERT INTO core.disclosure (subject_id, recipient_id, categories, purpose, basis,"
         " ground_id, service, object_id) VALUES ($1, $2, '{6}', 0, 'records_management',"
         " $3, 'records', $3)"},
        {"records_hold_lock", "SELECT coalesce (subject_id::text, ''), lifted_at IS NOT NULL,"
                              " coalesce (case_id::text, '')"
                              " FROM core.legal_hold WHERE id = $1 FOR UPDATE"},
        {"records_hold_lift", "UPDATE core.legal_hold SET lifted_by = $2,"
                              " lifted_at = now (), lift_reason = $3 WHERE id = $1"},
        //  $1 a person (their holds and their cases'), $2 a case; neither: in force.
        {"records_holds", "SELECT " HOLD_COLUMNS " FROM core.legal_hold"
                          " WHERE ($1::uuid IS NULL AND $2::uuid IS NULL AND lifted_at IS NULL)"
                          " OR subject_id = $1::uuid OR case_id = $2::uuid"
                          " OR case_id IN " CASES_OF ("$1::uuid")
                          " ORDER BY placed_at DESC, id"},
    };
    return kn_db_prepare_all (db, statements, sizeof statements / sizeof statements[0], err);
}
