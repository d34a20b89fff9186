/*  records_rectify: correcting a person's name or date of birth (GDPR Art. 16). In
    one transaction, the person locked as for an erasure: their values still under
    the root key are moved under their key, the corrected identity is locked and
    must be nobody else's, every referral part naming them is sealed again with the
    correction, their date of birth and blind index are replaced (under the index
    version their stored one is under: a re-index moves it on), the correction is
    recorded (core.rectification: the fields' names, never values) and every agency
    that received data about them is told (subject.rectified). */
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
#include "kn_subject.h"
#include "kn_validate.h"
#include "records_ledger.h"

int
records_rectify_prepare (kn_db_t *db, kn_error_t *err)
{
    static const char *statements[][2] = {
        //  The person's parts, newest referral first (the newest says who they are).
        {"rectify_parts",
         "SELECT rs.referral_id, rs.personal FROM intake.referral_subject rs"
         " JOIN intake.referral r ON r.id = rs.referral_id"
         " WHERE rs.subject_id = $1 AND rs.personal IS NOT NULL"
         " ORDER BY r.received_at DESC, rs.referral_id"},
        {"rectify_part_update", "UPDATE intake.referral_subject SET personal = $3"
                                " WHERE referral_id = $1 AND subject_id = $2"},
        {"rectify_subject", "SELECT blind_index_version, encode (blind_index, 'hex')"
                            " FROM core.subject WHERE id = $1"},
        //  One merged into the person whose identity is the corrected one: the person
        //  is found by it now, so theirs is unlinked ($2 the index, $3 random bytes).
        {"rectify_alias_unlink", "UPDATE core.subject SET blind_index = $3"
                                 " WHERE merged_into = $1 AND blind_index = $2"},
        {"rectify_subject_update", "UPDATE core.subject SET blind_index = $2,"
                                   " birth_date = coalesce ($3, birth_date) WHERE id = $1"},
        {"rectify_insert",
         "INSERT INTO core.rectification (id, subject_id, fields, referrals, rectified_by,"
         " reference) VALUES ($1, $2, $3::text[], $4, $5, $6)"
         " RETURNING extract (epoch FROM rectified_at)::bigint"},
        {"rectify_get", "SELECT subject_id, array_to_string (fields, ','), referrals,"
                        " extract (epoch FROM rectified_at)::bigint, reference"
                        " FROM core.rectification WHERE id = $1"},
    };
    return kn_db_prepare_all (db, statements, sizeof statements / sizeof statements[0], err);
}

static bool
s_set (const char *text)
{
    return text && *text;
}

int
records_validate_rectify (const records_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__RectifySubject *op = request->rectify;
    if (kn_validate_text (op->idempotency_key, "idempotency_key", 1, 128, false, err) ||
        kn_validate_uuid (op->subject_id, "subject_id", err) ||
        records_reference_check (op->reference, err))
        return -1;
    if (!s_set (op->given_name) && !s_set (op->family_name) && !s_set (op->date_of_birth))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "given_name",
                             "set at least one of given_name, family_name, date_of_birth");
    if ((s_set (op->given_name) &&
         kn_validate_text (op->given_name, "given_name", 1, KN_MAX_NAME, false, err)) ||
        (s_set (op->family_name) &&
         kn_validate_text (op->family_name, "family_name", 1, KN_MAX_NAME, false, err)))
        return -1;
    if (!s_set (op->date_of_birth))
        return 0;
    int y, m, d;
    if (kn_validate_date (op->date_of_birth, &y, &m, &d))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "date_of_birth",
                             "date_of_birth must be a real date as YYYY-MM-DD");
    char today[16];
    time_t now = (time_t)kn_clock_now ();
    strftime (today, sizeof today, "%Y-%m-%d", gmtime (&now));
    return strcmp (op->date_of_birth, today) > 0
               ? kn_error_set (err, KN_E_INVALID_ARGUMENT, "date_of_birth",
                               "date_of_birth is in the future")
               : 0;
}

//  The rectification recorded as id, as the reply.
static int
s_answer (records_server_t *self, const char *id, bool replayed, records_reply_t *reply,
          kn_error_t *err)
{
    const char *values[] = {id};
    PGresult *row = kn_db_run (self->db, "rectify_get", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    int rc = PQntuples (row) == 1
                 ? 0
                 : kn_error_set (err, KN_E_INTERNAL, NULL, "rectification %s not recorded", id);
    if (rc == 0) {
        Kinnet__V1__Rectification *out = kn_malloc (sizeof *out);
        kinnet__v1__rectification__init (out);
        out->subject_id = kn_pb_string (PQgetvalue (row, 0, 0));
        //  Field names (no commas in them), as listed.
        const char *list = PQgetvalue (row, 0, 1);
        out->fields = kn_calloc (3, sizeof *out->fields);
        for (const char *at = list; *at && out->n_fields < 3;) {
            size_t len = strcspn (at, ",");
            out->fields[out->n_fields++] = kn_strndup (at, len);
            at += len + (at[len] == ',');
        }
        out->referrals = atoi (PQgetvalue (row, 0, 2));
        out->rectified_at = kn_pb_timestamp (strtoll (PQgetvalue (row, 0, 3), NULL, 10));
        out->reference = kn_pb_string (PQgetvalue (row, 0, 4));
        out->replayed = replayed;
        reply->rectification = out;
    }
    PQclear (row);
    return rc;
}

//  A part's Person, opened (NULL with err; *erased when the person's key is gone).
static Kinnet__V1__Person *
s_open_part (records_server_t *self, PGresult *rows, int r, const char *subject_id,
             kn_error_t *err)
{
    char ad[2 * KN_UUID_STR + 2];
    snprintf (ad, sizeof ad, "%s:%s", PQgetvalue (rows, r, 0), subject_id);
    uint8_t *plain = NULL;
    size_t len = 0;
    int opened = kn_keys_open_column (self->db, self->crypto, rows, r, 1, ad, &plain, &len,
                                      err);
    if (opened == KN_ERASED) {
        kn_error_set (err, KN_E_CONFLICT, "subject_id", "the person is erased");
        return NULL;
    }
    Kinnet__V1__Person *person =
        opened == KN_OPENED && plain ? kinnet__v1__person__unpack (NULL, len, plain) : NULL;
    if (plain)
        sodium_memzero (plain, len);
    free (plain);
    if (!person && opened == KN_OPENED)
        kn_error_set (err, KN_E_INTERNAL, NULL, "a referral part does not unpack");
    return person;
}

//  Seal part r again with the corrections applied.
static int
s_reseal_part (records_server_t *self, PGresult *rows, int r, const char *subject_id,
               const Kinnet__V1__RectifySubject *op, kn_error_t *err)
{
    Kinnet__V1__Person *person = s_open_part (self, rows, r, subject_id, err);
    if (!person)
        return -1;
    //  Borrowed for the packing only; the unpacked strings are put back to be freed.
    char *given = person->given_name, *family = person->family_name,
         *born = person->date_of_birth;
    if (s_set (op->given_name))
        person->given_name = op->given_name;
    if (s_set (op->family_name))
        person->family_name = op->family_name;
    if (s_set (op->date_of_birth))
        person->date_of_birth = op->date_of_birth;
    size_t len = kinnet__v1__person__get_packed_size (person);
    uint8_t *plain = kn_malloc (len ? len : 1);
    kinnet__v1__person__pack (person, plain);
    person->given_name = given;
    person->family_name = family;
    person->date_of_birth = born;
    kinnet__v1__person__free_unpacked (person, NULL);
    char ad[2 * KN_UUID_STR + 2];
    snprintf (ad, sizeof ad, "%s:%s", PQgetvalue (rows, r, 0), subject_id);
    size_t sealed_len = 0;
    uint8_t *sealed = kn_keys_seal (self->db, self->crypto, subject_id, plain, len, ad,
                                    &sealed_len, err);
    sodium_memzero (plain, len);
    free (plain);
    if (!sealed)
        return -1;
    const char *values[] = {PQgetvalue (rows, r, 0), subject_id, (const char *)sealed};
    int lengths[] = {0, 0, (int)sealed_len}, formats[] = {0, 0, 1};
    PGresult *done = kn_db_run (self->db, "rectify_part_update", 3, values, lengths,
                                formats, err);
    free (sealed);
    PQclear (done);
    return done ? 0 : -1;
}

//  Who the person is on record: the newest part whose names reproduce their stored
//  index (parts moved in by a merge may spell them otherwise), else the newest.
//  *identity NULL when no part names them.
static int
s_who (records_server_t *self, PGresult *parts, const char *subject_id,
       Kinnet__V1__Person **identity, kn_error_t *err)
{
    const char *values[] = {subject_id};
    PGresult *row = kn_db_run (self->db, "rectify_subject", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    uint8_t stored[KN_BLIND_INDEX_BYTES] = {0};
    int version = PQntuples (row) == 1 ? atoi (PQgetvalue (row, 0, 0)) : 0;
    if (version)
        sodium_hex2bin (stored, sizeof stored, PQgetvalue (row, 0, 1),
                        strlen (PQgetvalue (row, 0, 1)), NULL, NULL, NULL);
    PQclear (row);
    for (int r = 0; r < PQntuples (parts); r++) {
        Kinnet__V1__Person *person = s_open_part (self, parts, r, subject_id, err);
        if (!person)
            return -1;
        uint8_t index[KN_BLIND_INDEX_BYTES];
        if (version &&
            kn_crypto_blind_index_under (self->crypto, version, person->given_name,
                                         person->family_name, person->date_of_birth,
                                         index) == 0 &&
            sodium_memcmp (index, stored, sizeof index) == 0) {
            if (*identity)
                kinnet__v1__person__free_unpacked (*identity, NULL);
            *identity = person;
            return 0;
        }
        if (*identity)
            kinnet__v1__person__free_unpacked (person, NULL);
        else
            *identity = person;   // the newest, unless one reproduces the index
    }
    return 0;
}

//  The person's identity after the correction: the newest part's, corrected, into
//  person (strings owned by identity, which the caller frees). Without a part, every
//  field must be given.
static int
s_identity (records_server_t *self, PGresult *parts, const char *subject_id,
            const Kinnet__V1__RectifySubject *op, Kinnet__V1__Person **identity,
            kn_person_t *person, kn_error_t *err)
{
    *identity = NULL;
    if (s_who (self, parts, subject_id, identity, err))
        return -1;
    const Kinnet__V1__Person *now = *identity;
    person->given_name = s_set (op->given_name) ? op->given_name : now ? now->given_name : "";
    person->family_name =
        s_set (op->family_name) ? op->family_name : now ? now->family_name : "";
    person->date_of_birth =
        s_set (op->date_of_birth) ? op->date_of_birth : now ? now->date_of_birth : "";
    if (!*person->given_name || !*person->family_name || !*person->date_of_birth)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT,
                             !*person->given_name    ? "given_name"
                             : !*person->family_name ? "family_name"
                                                     : "date_of_birth",
                             "no referral names this person: give the given name, family"
                             " name and date of birth");
    return 0;
}

//  Change the person's index (and date of birth) in core.subject.
static int
s_reindex (records_server_t *self, const char *subject_id, const kn_person_t *person,
           const Kinnet__V1__RectifySubject *op, kn_error_t *err)
{
    const char *values[] = {subject_id};
    PGresult *row = kn_db_run (self->db, "rectify_subject", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    int version = PQntuples (row) == 1 ? atoi (PQgetvalue (row, 0, 0)) : 1;
    PQclear (row);
    uint8_t index[KN_BLIND_INDEX_BYTES];
    char holder[KN_UUID_STR];
    if (kn_subject_lock_identity (self->db, self->crypto, person, version, index, holder,
                                  err))
        return -1;
    //  The holder is not named: a DPO would otherwise learn who is on record under
    //  any identity it cares to try, without standing with that family.
    if (holder[0] && strcmp (holder, subject_id) != 0)
        return kn_error_set (err, KN_E_CONFLICT, "subject_id",
                             "the corrected identity is another person's on record: if"
                             " they are one person, merge the two (kinnet subject merge)"
                             " by the ids you hold from their referrals");
    uint8_t unlinked[KN_BLIND_INDEX_BYTES];
    randombytes_buf (unlinked, sizeof unlinked);
    const char *alias[] = {subject_id, (const char *)index, (const char *)unlinked};
    int alias_lengths[] = {0, (int)sizeof index, (int)sizeof unlinked},
        alias_formats[] = {0, 1, 1};
    PGresult *unlink = kn_db_run (self->db, "rectify_alias_unlink", 3, alias, alias_lengths,
                                  alias_formats, err);
    if (!unlink)
        return -1;
    PQclear (unlink);
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    if (s_set (op->date_of_birth) &&
        !(sealed = kn_keys_seal (self->db, self->crypto, subject_id,
                                 (const uint8_t *)op->date_of_birth,
                                 strlen (op->date_of_birth), subject_id, &sealed_len, err)))
        return -1;
    const char *update[] = {subject_id, (const char *)index, (const char *)sealed};
    int lengths[] = {0, (int)sizeof index, (int)sealed_len}, formats[] = {0, 1, 1};
    PGresult *done = kn_db_run (self->db, "rectify_subject_update", 3, update, lengths,
                                formats, err);
    free (sealed);
    PQclear (done);
    return done ? 0 : -1;
}

//  The names of the fields op corrects, as a text[] literal and a list.
static void
s_fields (const Kinnet__V1__RectifySubject *op, char literal[64], const char *names[3],
          size_t *n)
{
    *n = 0;
    if (s_set (op->given_name))
        names[(*n)++] = "given_name";
    if (s_set (op->family_name))
        names[(*n)++] = "family_name";
    if (s_set (op->date_of_birth))
        names[(*n)++] = "date_of_birth";
    snprintf (literal, 64, "{%s%s%s%s%s}", *n > 0 ? names[0] : "", *n > 1 ? "," : "",
              *n > 1 ? names[1] : "", *n > 2 ? "," : "", *n > 2 ? names[2] : "");
}

int
records_rectify (records_server_t *self, const char *agency,
                 const records_request_t *request, records_reply_t *reply, kn_error_t *err)
{
    const Kinnet__V1__RectifySubject *op = request->rectify;
    kn_write_t w;
    kn_claim_t claim = records_write_begin (self, &w, agency, "rectify", NULL, &op->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY ? s_answer (self, w.object_id, true, reply, err) : -1;
    char family_id[KN_UUID_STR];
    long moved = 0;
    PGresult *parts = NULL;
    Kinnet__V1__Person *identity = NULL;
    if (records_lock_current (self, op->subject_id, family_id, err))
        goto fail;
    w.audit.subject_ref = family_id;
    //  Older values under the root key first, so that every part is the person's own.
    if (kn_keys_forward_subject (self->db, self->crypto, op->subject_id, &moved, err))
        goto fail;
    const char *values[] = {op->subject_id};
    parts = kn_db_run (self->db, "rectify_parts", 1, values, NULL, NULL, err);
    kn_person_t person;
    if (!parts || s_identity (self, parts, op->subject_id, op, &identity, &person, err) ||
        s_reindex (self, op->subject_id, &person, op, err))
        goto fail;
    int resealed = 0;
    for (int r = 0; r < PQntuples (parts); r++, resealed++)
        if (s_reseal_part (self, parts, r, op->subject_id, op, err))
            goto fail;
    char literal[64], count[16];
    const char *names[3];
    size_t n = 0;
    s_fields (op, literal, names, &n);
    snprintf (count, sizeof count, "%d", resealed);
    const char *row[] = {w.object_id, op->subject_id, literal, count, agency, op->reference};
    PGresult *done = kn_db_run (self->db, "rectify_insert", 6, row, NULL, NULL, err);
    if (!done)
        goto fail;
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = strtoll (PQgetvalue (done, 0, 0), NULL, 10);
    PQclear (done);
    Kinnet__V1__SubjectRectified event = KINNET__V1__SUBJECT_RECTIFIED__INIT;
    event.subject_id = op->subject_id;
    event.family_id = family_id;
    event.rectified_at = &at;
    event.fields = (char **)names;
    event.n_fields = n;
    if (records_tell (self, op->subject_id, "subject.rectified", &event.base,
                      &event.recipient_agency_id, err) ||
        kn_write_commit (&w, err))
        goto fail;
    PQclear (parts);
    if (identity)
        kinnet__v1__person__free_unpacked (identity, NULL);
    kn_log (KN_INFO, "subject.rectified", "subject_id", op->subject_id, "fields", literal,
            NULL);
    return s_answer (self, w.object_id, false, reply, err);
fail:
    PQclear (parts);
    if (identity)
        kinnet__v1__person__free_unpacked (identity, NULL);
    return kn_write_abort (&w);
}
