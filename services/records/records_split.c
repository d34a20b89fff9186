/*  records_split: separating a subject that is two people (two children with the same
    name and date of birth, which matching takes for one). The DPO names the records
    about the other one; in one transaction, the person locked as for an erasure,
    those records are listed under a split (a core.subject_merge of kind 'split') and
    moved (records_move) to a new subject in a family of their own, whose date of
    birth is their newest referral part's and whose index is random bytes: both people
    have the same identity, so it finds the first, as before. Every agency that
    received data from those records is told (subject.split), and routing re-decides
    both people's offers. Migration 0039 says what stays where. */
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
#include "kn_pb.h"
#include "kn_pgarray.h"
#include "kn_uuid.h"
#include "kn_validate.h"
#include "records_ledger.h"

#define SPLIT_MAX 100

int
records_split_prepare (kn_db_t *db, kn_error_t *err)
{
    static const char *statements[][2] = {
        //  Which of the ids $2 are records about $1, and of which kind. Every
        //  parameter is an array (kn_pgarray): a single value is its first element.
        {"split_classify", "SELECT m.id::text, m.k FROM (" RECORDS_ABOUT ("($1::uuid[])[1]")
                           ") AS m (k, id) WHERE m.id = ANY ($2::uuid[])"},
        {"split_list", "INSERT INTO core.subject_merge_row (merge_id, kind, row_id)"
                       " SELECT DISTINCT ($1::uuid[])[1], m.k, m.id FROM ("
                       RECORDS_ABOUT ("($2::uuid[])[1]")
                       ") AS m (k, id) WHERE m.id = ANY ($3::uuid[])"},
        {"split_family", "INSERT INTO core.family (id) VALUES ($1)"},
        {"split_subject", "INSERT INTO core.subject (id, family_id, blind_index,"
                          " blind_index_version, split_from) VALUES ($1, $2, $3, $4, $5)"},
        {"split_birth", "UPDATE core.subject SET birth_date = $2 WHERE id = $1"},
        //  The newest part of the named referrals: who the other person is.
        {"split_part",
         "SELECT rs.referral_id, rs.personal FROM intake.referral_subject rs"
         " JOIN intake.referral r ON r.id = rs.referral_id"
         " WHERE rs.subject_id = ($1::uuid[])[1] AND rs.referral_id = ANY ($2::uuid[])"
         " AND rs.personal IS NOT NULL ORDER BY r.received_at DESC, 1 LIMIT 1"},
        {"split_insert",
         "INSERT INTO core.subject_merge (id, kind, subject_id, merged_id, merged_by,"
         " reference, referrals, consents, holds)"
         " VALUES ($1, 'split', $2, $3, $4, $5, $6, $7, $8)"},
        //  Who received data from the records moved, and from which of them: a
        //  disclosure names the record (object_id) or the ground it was made under
        //  (ground_id). Each is told of those records only, not of the others.
        {"split_recipients",
         "SELECT d.recipient_id, string_agg (DISTINCT m.row_id::text, ',')"
         " FROM core.disclosure d JOIN core.subject_merge_row m ON m.merge_id = $2"
         " AND m.row_id IN (d.object_id, d.ground_id) WHERE (d.subject_id = $1"
         " OR d.subject_id IN (SELECT id FROM core.subject WHERE merged_into = $1))"
         " GROUP BY d.recipient_id ORDER BY 1"},
        {"split_rows", "SELECT row_id::text FROM core.subject_merge_row WHERE merge_id = $1"
                       " ORDER BY kind, row_id"},
        //  A release request about $1 whose ground is among the ids $2 but is not
        //  itself: it would stay behind, under the first person, asking about a ground
        //  that moved.
        {"split_orphans",
         "SELECT x.id::text FROM consent.release x WHERE x.subject_id = ($1::uuid[])[1]"
         " AND x.ground_id = ANY ($2::uuid[]) AND NOT x.id = ANY ($2::uuid[])"
         " ORDER BY 1 LIMIT 1"},
    };
    return kn_db_prepare_all (db, statements, sizeof statements / sizeof statements[0], err);
}

int
records_validate_split (const records_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__SplitSubject *op = request->split;
    if (kn_validate_text (op->idempotency_key, "idempotency_key", 1, 128, false, err) ||
        kn_validate_uuid (op->subject_id, "subject_id", err))
        return -1;
    if (records_reference_check (op->reference, err))
        return -1;
    if (op->n_record_ids == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "record_ids",
                             "name the records about the other person (1 to %d)", SPLIT_MAX);
    if (op->n_record_ids > SPLIT_MAX)   // as every list over its limit (transport §5)
        return kn_error_set (err, KN_E_TOO_LARGE, "record_ids",
                             "at most %d records in one split", SPLIT_MAX);
    for (size_t i = 0; i < op->n_record_ids; i++) {
        char field[48];
        snprintf (field, sizeof field, "record_ids[%zu]", i);
        if (kn_validate_uuid (op->record_ids[i], field, err))
            return -1;
    }
    return 0;
}

//  Statement name run with the person ($1, an array of one) and the records named
//  ($2), as every split statement takes them: its rows, or NULL with err.
static PGresult *
s_run_named (records_server_t *self, const char *name, const Kinnet__V1__SplitSubject *op,
             kn_error_t *err)
{
    kn_pgarray_t *columns[2];
    kn_pgarray_columns (columns, 2);
    kn_pgarray_add (columns[0], op->subject_id);
    for (size_t i = 0; i < op->n_record_ids; i++)
        kn_pgarray_add (columns[1], op->record_ids[i]);
    return kn_pgarray_run (self->db, name, columns, 2, err);
}

//  No release request is left behind by the ground it asks about: 0, or -1 with
//  INVALID_ARGUMENT naming it.
static int
s_orphans (records_server_t *self, const Kinnet__V1__SplitSubject *op, kn_error_t *err)
{
    PGresult *rows = s_run_named (self, "split_orphans", op, err);
    if (!rows)
        return -1;
    int rc = PQntuples (rows) == 0
                 ? 0
                 : kn_error_set (err, KN_E_INVALID_ARGUMENT, "record_ids",
                                 "release request %s asks about a ground named here: name it"
                                 " too",
                                 PQgetvalue (rows, 0, 0));
    PQclear (rows);
    return rc;
}

//  Each named record is about the person: their kinds counted into split (referrals,
//  consents, holds). INVALID_ARGUMENT naming the first that is not, or when no
//  referral is named.
static int
s_classify (records_server_t *self, const Kinnet__V1__SplitSubject *op,
            Kinnet__V1__Split *split, kn_error_t *err)
{
    PGresult *rows = s_run_named (self, "split_classify", op, err);
    if (!rows)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < op->n_record_ids && rc == 0; i++) {
        bool named = false;
        for (size_t e = 0; e < i && !named; e++)
            named = strcmp (op->record_ids[e], op->record_ids[i]) == 0;
        if (named)
            continue;   // named twice: counted once
        int r = 0;
        while (r < PQntuples (rows) && strcmp (PQgetvalue (rows, r, 0), op->record_ids[i]))
            r++;
        if (r == PQntuples (rows)) {
            char field[48];
            snprintf (field, sizeof field, "record_ids[%zu]", i);
            rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, field,
                               "not a referral, consent, basis, override, release request"
                               " or hold about subject_id");
            break;
        }
        const char *kind = PQgetvalue (rows, r, 1);
        if (strcmp (kind, "referral") == 0)
            split->referrals++;
        else if (strcmp (kind, "hold") == 0)
            split->holds++;
        else
            split->consents++;
    }
    PQclear (rows);
    if (rc == 0 && s_orphans (self, op, err))
        rc = -1;
    if (rc == 0 && split->referrals == 0)
        rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, "record_ids",
                           "name at least one referral: the other person is known by their"
                           " part of it");
    return rc;
}

//  The other person made: a family of their own, an index no identity makes, their
//  date of birth from their newest part among the named referrals, under a key of
//  their own.
static int
s_make (records_server_t *self, const Kinnet__V1__SplitSubject *op, const char *id,
        kn_error_t *err)
{
    PGresult *part = s_run_named (self, "split_part", op, err);
    if (!part)
        return -1;
    char ad[2 * KN_UUID_STR + 2];
    snprintf (ad, sizeof ad, "%s:%s", PQntuples (part) ? PQgetvalue (part, 0, 0) : "",
              op->subject_id);
    uint8_t *plain = NULL;
    size_t len = 0;
    int opened = PQntuples (part) == 1
                     ? kn_keys_open_column (self->db, self->crypto, part, 0, 1, ad, &plain,
                                            &len, err)
                     : kn_error_set (err, KN_E_CONFLICT, "record_ids",
                                     "the named referrals hold no part of the person");
    PQclear (part);
    Kinnet__V1__Person *person =
        opened == KN_OPENED && plain ? kinnet__v1__person__unpack (NULL, len, plain) : NULL;
    if (plain)
        sodium_memzero (plain, len);
    free (plain);
    if (!person)
        return opened == KN_OPENED ? kn_error_set (err, KN_E_INTERNAL, NULL,
                                                   "a referral part does not unpack")
                                   : -1;
    char family[KN_UUID_STR], version[16];
    kn_uuid_generate (family);
    snprintf (version, sizeof version, "%d", kn_crypto_index_version (self->crypto));
    uint8_t unlinked[KN_BLIND_INDEX_BYTES];
    randombytes_buf (unlinked, sizeof unlinked);
    const char *family_values[] = {family};
    const char *subject[] = {id, family, (const char *)unlinked, version, op->subject_id};
    int lengths[] = {0, 0, (int)sizeof unlinked, 0, 0}, formats[] = {0, 0, 1, 0, 0};
    PGresult *done = kn_db_run (self->db, "split_family", 1, family_values, NULL, NULL, err);
    bool made = done != NULL;
    PQclear (done);
    if (made) {
        done = kn_db_run (self->db, "split_subject", 5, subject, lengths, formats, err);
        made = done != NULL;
        PQclear (done);
    }
    size_t sealed_len = 0;
    uint8_t *sealed = made ? kn_keys_seal (self->db, self->crypto, id,
                                           (const uint8_t *)person->date_of_birth,
                                           strlen (person->date_of_birth), id, &sealed_len,
                                           err)
                           : NULL;
    kinnet__v1__person__free_unpacked (person, NULL);
    const char *birth[] = {id, (const char *)sealed};
    int birth_lengths[] = {0, (int)sealed_len}, birth_formats[] = {0, 1};
    done = sealed ? kn_db_run (self->db, "split_birth", 2, birth, birth_lengths,
                               birth_formats, err)
                  : NULL;
    free (sealed);
    PQclear (done);
    return done ? 0 : -1;
}

//  event's record ids: the text list ids ("a,b,c"), or every row of rows.
static void
s_record_ids (Kinnet__V1__SubjectMerged *event, char *ids, const PGresult *rows)
{
    free (event->record_ids);
    size_t n = ids ? 1 : (size_t)PQntuples (rows);
    for (const char *c = ids; c && *c; c++)
        n += *c == ',';
    event->record_ids = kn_calloc (n + 1, sizeof *event->record_ids);
    event->n_record_ids = 0;
    if (ids)
        for (char *next, *id = strtok_r (ids, ",", &next); id; id = strtok_r (NULL, ",", &next))
            event->record_ids[event->n_record_ids++] = id;
    else
        for (int r = 0; r < PQntuples (rows); r++)
            event->record_ids[event->n_record_ids++] = PQgetvalue (rows, r, 0);
}

//  Each agency that received data from the records moved, told which of those
//  records were the other person's (only those it received: the others' ids would
//  tell it of records it never saw); then routing, told of all of them.
static int
s_tell (records_server_t *self, const Kinnet__V1__Split *split, const char *family_id,
        kn_error_t *err)
{
    const char *values[] = {split->subject_id, split->split_id};
    PGresult *recipients = kn_db_run (self->db, "split_recipients", 2, values, NULL, NULL,
                                      err);
    PGresult *rows = recipients ? kn_db_run (self->db, "split_rows", 1, values + 1, NULL,
                                             NULL, err)
                                : NULL;
    if (!rows) {
        PQclear (recipients);
        return -1;
    }
    Kinnet__V1__Timestamp at;
    Kinnet__V1__SubjectMerged event;
    records_merged_event (&event, &at, kn_clock_now (), split->subject_id,
                          split->new_subject_id, family_id, split->split_id);
    int rc = 0;
    for (int r = 0; r < PQntuples (recipients) && rc == 0; r++) {
        s_record_ids (&event, PQgetvalue (recipients, r, 1), NULL);
        event.recipient_agency_id = PQgetvalue (recipients, r, 0);
        rc = records_tell_event (self, "subject.split", split->subject_id, &event.base, err);
    }
    event.recipient_agency_id = NULL;
    s_record_ids (&event, NULL, rows);
    rc = rc || records_tell_routing (self, "subject.split", &event.base,
                                     &event.recipient_agency_id, split->subject_id, err)
             ? -1
             : 0;
    free (event.record_ids);
    PQclear (rows);
    PQclear (recipients);
    return rc;
}

//  The split recorded as id, as the reply.
static int
s_answer (records_server_t *self, const char *id, bool replayed, Kinnet__V1__Split *split,
          kn_error_t *err)
{
    records_merge_row_t row;
    int found = records_merge_load (self, id, false, &row, err);
    if (found <= 0)
        return found ? -1 : kn_error_set (err, KN_E_INTERNAL, NULL, "split %s not recorded", id);
    free (split->split_id);
    free (split->subject_id);
    free (split->new_subject_id);
    free (split->reference);
    split->split_id = kn_pb_string (id);
    split->subject_id = kn_pb_string (row.subject_id);
    split->new_subject_id = kn_pb_string (row.other_id);
    split->split_at = kn_pb_timestamp (row.at);
    split->reference = kn_pb_string (row.reference);
    split->referrals = row.referrals;
    split->consents = row.consents;
    split->holds = row.holds;
    split->dry_run = false;
    split->replayed = replayed;
    return 0;
}

int
records_split (records_server_t *self, const char *agency, const records_request_t *request,
               records_reply_t *reply, kn_error_t *err)
{
    const Kinnet__V1__SplitSubject *op = request->split;
    Kinnet__V1__Split *split = kn_malloc (sizeof *split);
    kinnet__v1__split__init (split);
    reply->split = split;
    split->split_id = kn_pb_string ("");
    split->subject_id = kn_pb_string (op->subject_id);
    split->new_subject_id = kn_pb_string ("");
    split->reference = kn_pb_string (op->reference);
    split->dry_run = op->dry_run;
    kn_write_t w;
    kn_claim_t claim = records_write_begin (self, &w, agency,
                                            op->dry_run ? "split_dry_run" : "split", NULL,
                                            &op->base, err);
    if (claim == KN_CLAIM_REPLAY) {
        split->replayed = true;
        return op->dry_run ? s_classify (self, op, split, err)
                           : s_answer (self, w.object_id, true, split, err);
    }
    if (claim == KN_CLAIM_FAILED)
        return -1;
    char family_id[KN_UUID_STR], other[KN_UUID_STR];
    if (records_lock_current (self, op->subject_id, family_id, err))
        goto fail;
    kn_pgarray_t *ids = kn_pgarray_new ();
    kn_pgarray_add (ids, op->subject_id);
    PGresult *state = kn_pgarray_run (self->db, "merge_state", &ids, 1, err);
    if (!state)
        goto fail;
    bool erased = PQntuples (state) == 1 && PQgetvalue (state, 0, 2)[0] == 't';
    PQclear (state);
    if (erased) {
        kn_error_set (err, KN_E_CONFLICT, "subject_id", "the person is erased");
        goto fail;
    }
    w.audit.subject_ref = family_id;
    //  Their older values under their key first: every value moved is theirs.
    long moved = 0;
    if (s_classify (self, op, split, err) ||
        kn_keys_forward_subject (self->db, self->crypto, op->subject_id, &moved, err))
        goto fail;
    if (op->dry_run)
        return kn_write_commit (&w, err) ? kn_write_abort (&w) : 0;
    kn_uuid_generate (other);
    char counts[3][16];
    snprintf (counts[0], sizeof counts[0], "%d", split->referrals);
    snprintf (counts[1], sizeof counts[1], "%d", split->consents);
    snprintf (counts[2], sizeof counts[2], "%d", split->holds);
    const char *row[] = {w.object_id, op->subject_id, other,    agency,
                         op->reference, counts[0],    counts[1], counts[2]};
    PGresult *done = NULL;
    if (s_make (self, op, other, err) ||
        !(done = kn_db_run (self->db, "split_insert", 8, row, NULL, NULL, err)))
        goto fail;
    PQclear (done);
    kn_pgarray_t *list[3];
    kn_pgarray_columns (list, 3);
    kn_pgarray_add (list[0], w.object_id);
    kn_pgarray_add (list[1], op->subject_id);
    for (size_t i = 0; i < op->n_record_ids; i++)
        kn_pgarray_add (list[2], op->record_ids[i]);
    if (kn_pgarray_exec (self->db, "split_list", list, 3, err) ||
        records_move (self, w.object_id, op->subject_id, other, err))
        goto fail;
    free (split->split_id);
    free (split->new_subject_id);
    split->split_id = kn_pb_string (w.object_id);
    split->new_subject_id = kn_pb_string (other);
    if (s_tell (self, split, family_id, err) || kn_write_commit (&w, err))
        goto fail;
    kn_log (KN_INFO, "subject.split", "subject_id", op->subject_id, "new_subject_id", other,
            "split_id", w.object_id, NULL);
    return s_answer (self, w.object_id, false, split, err);
fail:
    return kn_write_abort (&w);
}
