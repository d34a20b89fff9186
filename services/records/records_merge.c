/*  records_merge: merging two subjects known to be one person, and undoing a merge
    (migration 0039 says what moves and what stays). Both run in one transaction,
    both people (and everyone merged into them) locked as for an erasure, and move
    the same way: the rows a merge listed (core.subject_merge_row) are moved from
    one person to the other, each sealed value opened and sealed again under the
    receiving person's key, bound to what it is bound to there. A merge lists what
    the merged person has and moves it to the one who remains; an unmerge moves the
    same list back. Every agency that received data about either person is told
    (subject.merged, subject.unmerged), and routing re-decides both people's open
    offers (their consents moved). */
#include "records_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kinnet/v1/events.pb-c.h"
#include "kn_alloc.h"
#include "kn_clock.h"
#include "kn_keys.h"
#include "kn_keys_rotate.h"
#include "kn_log.h"
#include "kn_outbox.h"
#include "kn_pb.h"
#include "kn_pgarray.h"
#include "kn_subject.h"
#include "kn_validate.h"
#include "records_ledger.h"

//  A kind of row a merge moves whole, with its sealed columns (each bound to the
//  row's id and a suffix). Referral parts and referrals are moved apart: what their
//  values are bound to is not their id alone.
typedef struct {
    const char *kind;        // core.subject_merge_row.kind
    const char *table;
    const char *column[2];   // its sealed columns (the second may be NULL)
    const char *suffix[2];   // the ad of each: the row's id and this
} moved_t;

static const moved_t s_moved[] = {
    {"consent", "consent.record", {"personal", NULL}, {"", NULL}},
    {"basis", "consent.basis", {"justification", NULL}, {"", NULL}},
    {"override", "consent.override", {"details", "review_notes"}, {"", ":review"}},
    {"release", "consent.release", {"request_reason", "decision_reason"}, {"", ":decision"}},
    {"hold", "core.legal_hold", {"reason", "lift_reason"}, {"", ":lift"}},
};
#define N_MOVED (sizeof s_moved / sizeof s_moved[0])

#define MERGE_COLUMNS                                                                    \
    "subject_id, merged_id, extract (epoch FROM merged_at)::bigint, reference,"          \
    " referrals, consents, holds, coalesce (extract (epoch FROM unmerged_at)::bigint, 0),"\
    " coalesce (unmerge_reference, ''), kind"

//  What a merge of $1 would move: referral parts, grounds, holds.
#define COUNTS_OF                                                                        \
    "(SELECT count(*) FROM intake.referral_subject WHERE subject_id = $1),"              \
    " (SELECT count(*) FROM consent.record WHERE subject_id = $1)"                       \
    " + (SELECT count(*) FROM consent.basis WHERE subject_id = $1)"                      \
    " + (SELECT count(*) FROM consent.override WHERE subject_id = $1)"                   \
    " + (SELECT count(*) FROM consent.release WHERE subject_id = $1),"                   \
    " (SELECT count(*) FROM core.legal_hold WHERE subject_id = $1)"

int
records_merge_prepare (kn_db_t *db, kn_error_t *err)
{
    static const char *statements[][2] = {
        //  Each of the people: merged into whom, erased.
        {"merge_state",
         "SELECT s.id, coalesce (s.merged_into::text, ''),"
         " EXISTS (SELECT 1 FROM core.erasure e WHERE e.subject_id = s.id)"
         " FROM core.subject s WHERE s.id = ANY ($1::uuid[])"},
        {"merge_shared",
         "SELECT a.referral_id FROM intake.referral_subject a"
         " JOIN intake.referral_subject b ON b.referral_id = a.referral_id"
         " WHERE a.subject_id = $1 AND b.subject_id = $2 ORDER BY 1 LIMIT 1"},
        {"merge_preview", "SELECT " COUNTS_OF},
        {"merge_insert",
         "INSERT INTO core.subject_merge (id, subject_id, merged_id, merged_by, reference,"
         " referrals, consents, holds) SELECT $2::uuid, $3::uuid, $1, $4::uuid, $5::text, "
         COUNTS_OF},
        //  Everything the merged person ($2) has, listed under the merge ($1).
        {"merge_list",
         "INSERT INTO core.subject_merge_row (merge_id, kind, row_id)"
         " SELECT $1, k, id FROM (" RECORDS_ABOUT ("$2")
         " UNION ALL SELECT 'alias', id FROM core.subject WHERE merged_into = $2"
         ") AS m (k, id)"},
        //  The listed parts of $2 (locked), to move to another person.
        {"merge_parts",
         "SELECT rs.referral_id, rs.personal FROM intake.referral_subject rs"
         " JOIN core.subject_merge_row m ON m.row_id = rs.referral_id AND m.kind = 'referral'"
         " WHERE m.merge_id = $1 AND rs.subject_id = $2 ORDER BY 1 FOR UPDATE OF rs"},
        {"merge_part_move", "UPDATE intake.referral_subject SET subject_id = $3, personal = $4"
                            " WHERE referral_id = $1 AND subject_id = $2"},
        //  The listed referrals whose referred child is $2: the rest of the referral
        //  is sealed under the child's key.
        {"merge_rests",
         "SELECT r.id, r.personal, r.withdraw_reason FROM intake.referral r"
         " JOIN core.subject_merge_row m ON m.row_id = r.id AND m.kind = 'referral'"
         " JOIN intake.referral_subject rs ON rs.referral_id = r.id AND rs.position = 0"
         " WHERE m.merge_id = $1 AND rs.subject_id = $2 ORDER BY 1 FOR UPDATE OF r"},
        {"merge_rest_move",
         "UPDATE intake.referral SET personal = $2, withdraw_reason = $3 WHERE id = $1"},
        {"merge_aliases",
         "UPDATE core.subject SET merged_into = $3 WHERE merged_into = $2 AND id IN"
         " (SELECT row_id FROM core.subject_merge_row WHERE merge_id = $1 AND kind = 'alias')"},
        {"merge_link", "UPDATE core.subject SET merged_into = $2 WHERE id = $1"},
        //  A correction of the person kept since the merge $2 (exact times: a second's
        //  rounding would miss one made just after).
        {"merge_rectified",
         "SELECT EXISTS (SELECT 1 FROM core.rectification c, core.subject_merge m"
         " WHERE m.id = $2 AND c.subject_id = $1 AND c.rectified_at >= m.merged_at)"},
        {"merge_get", "SELECT " MERGE_COLUMNS " FROM core.subject_merge WHERE id = $1"},
        {"merge_lock", "SELECT " MERGE_COLUMNS " FROM core.subject_merge WHERE id = $1"
                       " FOR UPDATE"},
        {"merge_undone", "UPDATE core.subject_merge SET unmerged_by = $2,"
                         " unmerged_at = now (), unmerge_reference = $3 WHERE id = $1"
                         " RETURNING extract (epoch FROM unmerged_at)::bigint"},
    };
    if (kn_db_prepare_all (db, statements, sizeof statements / sizeof statements[0], err))
        return -1;
    //  Per kind of row: the listed rows of $2 (locked), and their move.
    for (size_t i = 0; i < N_MOVED; i++) {
        const moved_t *m = &s_moved[i];
        char name[32], sql[600];
        snprintf (name, sizeof name, "merge_rows_%zu", i);
        snprintf (sql, sizeof sql,
                  "SELECT t.id, t.%s, %s%s FROM %s t JOIN core.subject_merge_row m"
                  " ON m.row_id = t.id AND m.kind = '%s'"
                  " WHERE m.merge_id = $1 AND t.subject_id = $2 ORDER BY 1 FOR UPDATE OF t",
                  m->column[0], m->column[1] ? "t." : "NULL::bytea",
                  m->column[1] ? m->column[1] : "", m->table, m->kind);
        if (kn_db_prepare (db, name, sql, err))
            return -1;
        snprintf (name, sizeof name, "merge_move_%zu", i);
        snprintf (sql, sizeof sql, "UPDATE %s SET subject_id = $2, %s = $3%s%s%s WHERE id = $1",
                  m->table, m->column[0], m->column[1] ? ", " : "",
                  m->column[1] ? m->column[1] : "", m->column[1] ? " = $4" : "");
        if (kn_db_prepare (db, name, sql, err))
            return -1;
    }
    return 0;
}

int
records_validate_merge (const records_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__MergeSubjects *op = request->merge;
    if (kn_validate_text (op->idempotency_key, "idempotency_key", 1, 128, false, err) ||
        kn_validate_uuid (op->subject_id, "subject_id", err) ||
        kn_validate_uuid (op->merged_subject_id, "merged_subject_id", err) ||
        records_reference_check (op->reference, err))
        return -1;
    return strcmp (op->subject_id, op->merged_subject_id) == 0
               ? kn_error_set (err, KN_E_INVALID_ARGUMENT, "merged_subject_id",
                               "merged_subject_id is subject_id: a person is one already")
               : 0;
}

int
records_validate_unmerge (const records_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__UnmergeSubjects *op = request->unmerge;
    return kn_validate_text (op->idempotency_key, "idempotency_key", 1, 128, false, err) ||
                   kn_validate_uuid (op->merge_id, "merge_id", err) ||
                   records_reference_check (op->reference, err)
               ? -1
               : 0;
}

//  Open column c of row r (bound to ad), seal it again under to's key (bound to
//  ad_to) into *sealed (NULL for a NULL column). -1 with err.
static int
s_reseal (records_server_t *self, PGresult *rows, int r, int c, const char *ad,
          const char *to, const char *ad_to, uint8_t **sealed, int *sealed_len,
          kn_error_t *err)
{
    *sealed = NULL;
    *sealed_len = 0;
    if (PQgetisnull (rows, r, c))
        return 0;
    uint8_t *plain = NULL;
    size_t len = 0, out_len = 0;
    int opened = kn_keys_open_column (self->db, self->crypto, rows, r, c, ad, &plain, &len,
                                      err);
    if (opened != KN_OPENED) {
        free (plain);
        return opened == KN_ERASED ? kn_error_set (err, KN_E_CONFLICT, "subject_id",
                                                   "a value to move is erased")
                                   : -1;
    }
    *sealed = kn_keys_seal (self->db, self->crypto, to, plain ? plain : (uint8_t *)"", len,
                            ad_to, &out_len, err);
    if (plain)
        sodium_memzero (plain, len);
    free (plain);
    *sealed_len = (int)out_len;
    return *sealed ? 0 : -1;
}

int
records_move (records_server_t *self, const char *merge_id, const char *from, const char *to,
        kn_error_t *err)
{
    const char *values[] = {merge_id, from, to};
    //  The rest of each referral about from as its child, first: whose child it is
    //  is read from the parts, which move next.
    PGresult *rows = kn_db_run (self->db, "merge_rests", 2, values, NULL, NULL, err);
    int rc = rows ? 0 : -1;
    for (int r = 0; rows && r < PQntuples (rows) && rc == 0; r++) {
        const char *id = PQgetvalue (rows, r, 0);
        char ad[KN_UUID_STR + 16];
        snprintf (ad, sizeof ad, "%s:withdraw", id);
        uint8_t *rest = NULL, *reason = NULL;
        int rest_len = 0, reason_len = 0;
        rc = s_reseal (self, rows, r, 1, id, to, id, &rest, &rest_len, err) ||
                     s_reseal (self, rows, r, 2, ad, to, ad, &reason, &reason_len, err)
                 ? -1
                 : 0;
        const char *update[] = {id, (const char *)rest, (const char *)reason};
        int lengths[] = {0, rest_len, reason_len}, formats[] = {0, 1, 1};
        PGresult *done = rc ? NULL
                            : kn_db_run (self->db, "merge_rest_move", 3, update, lengths,
                                         formats, err);
        rc = done ? 0 : -1;
        PQclear (done);
        free (rest);
        free (reason);
    }
    PQclear (rows);
    //  Each part: bound to its referral and its person, so bound anew.
    rows = rc ? NULL : kn_db_run (self->db, "merge_parts", 2, values, NULL, NULL, err);
    rc = rows ? rc : -1;
    for (int r = 0; rows && r < PQntuples (rows) && rc == 0; r++) {
        const char *referral = PQgetvalue (rows, r, 0);
        char ad[2 * KN_UUID_STR + 2], ad_to[2 * KN_UUID_STR + 2];
        snprintf (ad, sizeof ad, "%s:%s", referral, from);
        snprintf (ad_to, sizeof ad_to, "%s:%s", referral, to);
        uint8_t *part = NULL;
        int part_len = 0;
        rc = s_reseal (self, rows, r, 1, ad, to, ad_to, &part, &part_len, err);
        const char *update[] = {referral, from, to, (const char *)part};
        int lengths[] = {0, 0, 0, part_len}, formats[] = {0, 0, 0, 1};
        PGresult *done = rc ? NULL
                            : kn_db_run (self->db, "merge_part_move", 4, update, lengths,
                                         formats, err);
        rc = done ? 0 : -1;
        PQclear (done);
        free (part);
    }
    PQclear (rows);
    //  Grounds, requests and holds: bound to their own ids.
    for (size_t i = 0; i < N_MOVED && rc == 0; i++) {
        char name[32];
        snprintf (name, sizeof name, "merge_rows_%zu", i);
        rows = kn_db_run (self->db, name, 2, values, NULL, NULL, err);
        rc = rows ? 0 : -1;
        snprintf (name, sizeof name, "merge_move_%zu", i);
        for (int r = 0; rows && r < PQntuples (rows) && rc == 0; r++) {
            const char *id = PQgetvalue (rows, r, 0);
            uint8_t *sealed[2] = {NULL, NULL};
            int lengths[4] = {0, 0, 0, 0}, formats[] = {0, 0, 1, 1};
            for (int c = 0; c < 2 && rc == 0 && s_moved[i].column[c]; c++) {
                char ad[KN_UUID_STR + 16];
                snprintf (ad, sizeof ad, "%s%s", id, s_moved[i].suffix[c]);
                rc = s_reseal (self, rows, r, 1 + c, ad, to, ad, &sealed[c],
                               &lengths[2 + c], err);
            }
            const char *update[] = {id, to, (const char *)sealed[0], (const char *)sealed[1]};
            PGresult *done = rc ? NULL
                                : kn_db_run (self->db, name, s_moved[i].column[1] ? 4 : 3,
                                             update, lengths, formats, err);
            rc = done ? 0 : -1;
            PQclear (done);
            free (sealed[0]);
            free (sealed[1]);
        }
        PQclear (rows);
    }
    //  Those merged into from before, listed with the merge, follow it.
    PGresult *done = rc ? NULL : kn_db_run (self->db, "merge_aliases", 3, values, NULL, NULL,
                                            err);
    rc = done ? rc : -1;
    PQclear (done);
    return rc;
}

int
records_merge_load (records_server_t *self, const char *id, bool lock,
                    records_merge_row_t *merge, kn_error_t *err)
{
    const char *values[] = {id};
    PGresult *row = kn_db_run (self->db, lock ? "merge_lock" : "merge_get", 1, values, NULL,
                               NULL, err);
    if (!row)
        return -1;
    int found = PQntuples (row) == 1;
    if (found) {
        snprintf (merge->subject_id, sizeof merge->subject_id, "%s", PQgetvalue (row, 0, 0));
        snprintf (merge->other_id, sizeof merge->other_id, "%s", PQgetvalue (row, 0, 1));
        merge->at = strtoll (PQgetvalue (row, 0, 2), NULL, 10);
        snprintf (merge->reference, sizeof merge->reference, "%s", PQgetvalue (row, 0, 3));
        merge->referrals = atoi (PQgetvalue (row, 0, 4));
        merge->consents = atoi (PQgetvalue (row, 0, 5));
        merge->holds = atoi (PQgetvalue (row, 0, 6));
        merge->undone_at = strtoll (PQgetvalue (row, 0, 7), NULL, 10);
        snprintf (merge->undo_reference, sizeof merge->undo_reference, "%s",
                  PQgetvalue (row, 0, 8));
        merge->split = strcmp (PQgetvalue (row, 0, 9), "split") == 0;
    }
    PQclear (row);
    return found;
}

//  The merge recorded as id, as the reply.
static int
s_answer (records_server_t *self, const char *id, bool replayed, records_reply_t *reply,
          kn_error_t *err)
{
    records_merge_row_t merge;
    int found = records_merge_load (self, id, false, &merge, err);
    if (found <= 0)
        return found ? -1 : kn_error_set (err, KN_E_INTERNAL, NULL, "merge %s not recorded", id);
    Kinnet__V1__Merge *out = kn_malloc (sizeof *out);
    kinnet__v1__merge__init (out);
    out->merge_id = kn_pb_string (id);
    out->subject_id = kn_pb_string (merge.subject_id);
    out->merged_subject_id = kn_pb_string (merge.other_id);
    out->merged_at = kn_pb_timestamp (merge.at);
    out->reference = kn_pb_string (merge.reference);
    out->referrals = merge.referrals;
    out->consents = merge.consents;
    out->holds = merge.holds;
    if (merge.undone_at)
        out->unmerged_at = kn_pb_timestamp (merge.undone_at);
    out->unmerge_reference = kn_pb_string (merge.undo_reference);
    out->replayed = replayed;
    reply->merge = out;
    return 0;
}

//  A dry run's answer: what merging op's people would move.
static int
s_preview (records_server_t *self, const Kinnet__V1__MergeSubjects *op, bool replayed,
           records_reply_t *reply, kn_error_t *err)
{
    const char *values[] = {op->merged_subject_id};
    PGresult *row = kn_db_run (self->db, "merge_preview", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    Kinnet__V1__Merge *out = kn_malloc (sizeof *out);
    kinnet__v1__merge__init (out);
    out->merge_id = kn_pb_string ("");
    out->subject_id = kn_pb_string (op->subject_id);
    out->merged_subject_id = kn_pb_string (op->merged_subject_id);
    out->reference = kn_pb_string (op->reference);
    out->referrals = atoi (PQgetvalue (row, 0, 0));
    out->consents = atoi (PQgetvalue (row, 0, 1));
    out->holds = atoi (PQgetvalue (row, 0, 2));
    out->unmerge_reference = kn_pb_string ("");
    out->dry_run = true;
    out->replayed = replayed;
    reply->merge = out;
    PQclear (row);
    return 0;
}

//  Both people as a merge needs them: on record, not erased, neither merged into
//  anyone, named together in no referral. The first failing check's error.
static int
s_mergeable (records_server_t *self, const char *a, const char *b, kn_error_t *err)
{
    kn_pgarray_t *ids = kn_pgarray_new ();
    kn_pgarray_add (ids, a);
    kn_pgarray_add (ids, b);
    PGresult *rows = kn_pgarray_run (self->db, "merge_state", &ids, 1, err);
    if (!rows)
        return -1;
    int rc = 0;
    for (int who = 0; who < 2 && rc == 0; who++) {
        const char *id = who ? b : a, *field = who ? "merged_subject_id" : "subject_id";
        int r = 0;
        while (r < PQntuples (rows) && strcmp (PQgetvalue (rows, r, 0), id) != 0)
            r++;
        if (r == PQntuples (rows))
            rc = kn_error_set (err, KN_E_NOT_FOUND, field, "no such subject");
        else if (PQgetvalue (rows, r, 2)[0] == 't')
            rc = kn_error_set (err, KN_E_CONFLICT, field, "the person is erased");
        else if (PQgetvalue (rows, r, 1)[0])
            rc = kn_error_set (err, KN_E_CONFLICT, field,
                               "the person was merged into another subject already");
    }
    PQclear (rows);
    const char *values[] = {a, b};
    PGresult *shared = rc ? NULL : kn_db_run (self->db, "merge_shared", 2, values, NULL,
                                              NULL, err);
    if (!shared)
        return -1;
    if (PQntuples (shared) > 0)
        rc = kn_error_set (err, KN_E_CONFLICT, "merged_subject_id",
                           "referral %s names both: they are two people, not one",
                           PQgetvalue (shared, 0, 0));
    PQclear (shared);
    return rc;
}

//  Tell every agency that received data about subject_id (and those merged into
//  it) what happened, and routing to re-decide both people's offers.
static int
s_tell (records_server_t *self, const char *topic, const char *merge_id, const char *a,
        const char *b, const char *family_id, int64_t at_s, kn_error_t *err)
{
    Kinnet__V1__Timestamp at;
    Kinnet__V1__SubjectMerged event;
    records_merged_event (&event, &at, at_s, a, b, family_id, merge_id);
    return records_tell (self, a, topic, &event.base, &event.recipient_agency_id, err) ||
                   records_tell_routing (self, topic, &event.base, &event.recipient_agency_id,
                                         a, err)
               ? -1
               : 0;
}

void
records_merged_event (Kinnet__V1__SubjectMerged *event, Kinnet__V1__Timestamp *at, int64_t at_s,
                      const char *a, const char *b, const char *family_id,
                      const char *merge_id)
{
    kinnet__v1__timestamp__init (at);
    at->seconds = at_s;
    kinnet__v1__subject_merged__init (event);
    event->subject_id = (char *)a;
    event->merged_subject_id = (char *)b;
    event->family_id = (char *)family_id;
    event->at = at;
    event->merge_id = (char *)merge_id;
}

int
records_tell_routing (records_server_t *self, const char *topic, ProtobufCMessage *event,
                      char **recipient, const char *subject_id, kn_error_t *err)
{
    *recipient = "";
    int rc = records_tell_event (self, topic, subject_id, event, err);
    *recipient = NULL;
    return rc;
}

//  Lock both people and those merged into them; a's family into family_id.
static int
s_lock (records_server_t *self, const char *a, const char *b, char family_id[KN_UUID_STR],
        kn_error_t *err)
{
    const char *ids[] = {a, b};
    char families[2][KN_UUID_STR];
    if (kn_subject_lock_for_change_many (self->db, ids, 2, families, err))
        return -1;
    snprintf (family_id, KN_UUID_STR, "%s", families[0]);
    return 0;
}

int
records_merge (records_server_t *self, const char *agency, const records_request_t *request,
               records_reply_t *reply, kn_error_t *err)
{
    const Kinnet__V1__MergeSubjects *op = request->merge;
    kn_write_t w;
    kn_claim_t claim = records_write_begin (self, &w, agency,
                                            op->dry_run ? "merge_dry_run" : "merge", NULL,
                                            &op->base, err);
    if (claim == KN_CLAIM_REPLAY)
        return op->dry_run ? s_preview (self, op, true, reply, err)
                           : s_answer (self, w.object_id, true, reply, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    char family_id[KN_UUID_STR];
    const char *a = op->subject_id, *b = op->merged_subject_id;
    if (s_mergeable (self, a, b, err) || s_lock (self, a, b, family_id, err) ||
        s_mergeable (self, a, b, err))   // decided again under the locks
        goto fail;
    w.audit.subject_ref = family_id;
    if (op->dry_run) {
        if (kn_write_commit (&w, err))
            goto fail;
        return s_preview (self, op, false, reply, err);
    }
    //  Older values under the root key first, so that every value moved is b's own.
    long moved = 0;
    const char *values[] = {b, w.object_id, a, agency, op->reference};
    const char *link[] = {b, a};
    PGresult *done = NULL;
    if (kn_keys_forward_subject (self->db, self->crypto, b, &moved, err) ||
        !(done = kn_db_run (self->db, "merge_insert", 5, values, NULL, NULL, err)))
        goto fail;
    PQclear (done);
    const char *list[] = {w.object_id, b};
    if (!(done = kn_db_run (self->db, "merge_list", 2, list, NULL, NULL, err)))
        goto fail;
    PQclear (done);
    if (records_move (self, w.object_id, b, a, err) ||
        !(done = kn_db_run (self->db, "merge_link", 2, link, NULL, NULL, err)))
        goto fail;
    PQclear (done);
    if (s_tell (self, "subject.merged", w.object_id, a, b, family_id, kn_clock_now (), err) ||
        kn_write_commit (&w, err))
        goto fail;
    kn_log (KN_INFO, "subject.merged", "subject_id", a, "merged_subject_id", b, "merge_id",
            w.object_id, NULL);
    return s_answer (self, w.object_id, false, reply, err);
fail:
    return kn_write_abort (&w);
}

//  Whether the merge can still be undone as it was made, both people locked: neither
//  erased since (the values are gone), b still merged into a and a into nobody (a
//  later merge of a moved what this one listed on: undo that first), and a not
//  corrected since (the parts that came from b would go back with a's identity).
//  0, or -1 with CONFLICT (field merge_id) or err.
static int
s_undoable (records_server_t *self, const char *id, const records_merge_row_t *merge,
            kn_error_t *err)
{
    kn_pgarray_t *ids = kn_pgarray_new ();
    kn_pgarray_add (ids, merge->subject_id);
    kn_pgarray_add (ids, merge->other_id);
    PGresult *state = kn_pgarray_run (self->db, "merge_state", &ids, 1, err);
    if (!state)
        return -1;
    bool erased = false, a_merged = false, b_moved = false;
    for (int r = 0; r < PQntuples (state); r++) {
        bool is_a = strcmp (PQgetvalue (state, r, 0), merge->subject_id) == 0;
        const char *into = PQgetvalue (state, r, 1);
        erased = erased || PQgetvalue (state, r, 2)[0] == 't';
        a_merged = a_merged || (is_a && into[0]);
        b_moved = b_moved || (!is_a && strcmp (into, merge->subject_id) != 0);
    }
    PQclear (state);
    const char *problem =
        erased     ? "the person is erased"
        : a_merged ? "the person kept was merged into another since: undo that merge first"
        : b_moved  ? "the merged person is no longer merged into the person kept"
                   : NULL;
    const char *values[] = {merge->subject_id, id};
    PGresult *fixed = problem ? NULL : kn_db_run (self->db, "merge_rectified", 2, values,
                                                  NULL, NULL, err);
    if (!problem && !fixed)
        return -1;
    if (fixed && PQgetvalue (fixed, 0, 0)[0] == 't')
        problem = "the person kept was corrected since the merge (their parts, those from"
                  " the merge too, hold the correction): separate them with split";
    PQclear (fixed);
    return problem ? kn_error_set (err, KN_E_CONFLICT, "merge_id", "%s", problem) : 0;
}

int
records_unmerge (records_server_t *self, const char *agency,
                 const records_request_t *request, records_reply_t *reply, kn_error_t *err)
{
    const Kinnet__V1__UnmergeSubjects *op = request->unmerge;
    kn_write_t w;
    kn_claim_t claim = records_write_begin (self, &w, agency, "unmerge", op->merge_id,
                                            &op->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY ? s_answer (self, op->merge_id, true, reply, err)
                                        : -1;
    records_merge_row_t merge;
    char family_id[KN_UUID_STR];
    int found = records_merge_load (self, op->merge_id, false, &merge, err);
    const char *a = merge.subject_id, *b = merge.other_id;
    if (found < 0)
        goto fail;
    if (!found) {
        kn_error_set (err, KN_E_NOT_FOUND, "merge_id", "no such merge");
        goto fail;
    }
    if (merge.undone_at) {
        kn_error_set (err, KN_E_CONFLICT, "merge_id", "the merge was undone already");
        goto fail;
    }
    if (merge.split) {
        kn_error_set (err, KN_E_CONFLICT, "merge_id",
                      "that is a split: it is undone by merging the two people");
        goto fail;
    }
    //  Both locked, then the merge row: two unmerges of one merge wait for each other.
    if (s_lock (self, a, b, family_id, err))
        goto fail;
    w.audit.subject_ref = family_id;
    if (records_merge_load (self, op->merge_id, true, &merge, err) < 0)
        goto fail;
    if (merge.undone_at) {
        kn_error_set (err, KN_E_CONFLICT, "merge_id", "the merge was undone already");
        goto fail;
    }
    if (s_undoable (self, op->merge_id, &merge, err))
        goto fail;
    //  Told while b is still merged into a: the recipients of data about either. Then
    //  b stands alone again, so that what moves back is sealed about them.
    const char *link[] = {b, NULL};
    const char *mark[] = {op->merge_id, agency, op->reference};
    PGresult *done = NULL;
    if (s_tell (self, "subject.unmerged", op->merge_id, a, b, family_id, kn_clock_now (),
                err) ||
        !(done = kn_db_run (self->db, "merge_link", 2, link, NULL, NULL, err)))
        goto fail;
    PQclear (done);
    if (records_move (self, op->merge_id, a, b, err))
        goto fail;
    if (!(done = kn_db_run (self->db, "merge_undone", 3, mark, NULL, NULL, err)))
        goto fail;
    PQclear (done);
    if (kn_write_commit (&w, err))
        goto fail;
    kn_log (KN_INFO, "subject.unmerged", "subject_id", a, "merged_subject_id", b,
            "merge_id", op->merge_id, NULL);
    return s_answer (self, op->merge_id, false, reply, err);
fail:
    return kn_write_abort (&w);
}
