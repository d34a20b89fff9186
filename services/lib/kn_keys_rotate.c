/*  kn_keys_rotate: rewrap data keys under the current master; move format-1 values
    under their people's data keys. */
#include "kn_keys_rotate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kn_alloc.h"
#include "kn_keys.h"
#include "kn_pgarray.h"
#include "kn_uuid.h"

//  Every sealed column: its table, the ad it is bound to (an SQL expression over
//  the row t), and the person whose key seals it.
typedef struct {
    const char *table;
    const char *column;
    const char *ad;
    const char *subject;
    const char *about;   // the row is about person $3 (an SQL condition over t)
} sealed_t;

#define CHILD                                                                            \
    "(SELECT subject_id FROM intake.referral_subject s WHERE s.referral_id = t.id"      \
    " ORDER BY position LIMIT 1)"
//  A referral from before holds every person it names.
#define NAMES                                                                            \
    "EXISTS (SELECT 1 FROM intake.referral_subject s WHERE s.referral_id = t.id"        \
    " AND s.subject_id = $3::uuid)"
#define THEIRS "t.subject_id = $3::uuid"

static const sealed_t s_sealed[] = {
    {"core.subject", "birth_date", "t.id::text", "t.id", "t.id = $3::uuid"},
    {"intake.referral", "personal", "t.id::text", CHILD, NAMES},
    {"intake.referral", "withdraw_reason", "t.id || ':withdraw'", CHILD, NAMES},
    {"consent.record", "personal", "t.id::text", "t.subject_id", THEIRS},
    {"consent.basis", "justification", "t.id::text", "t.subject_id", THEIRS},
    {"consent.override", "details", "t.id::text", "t.subject_id", THEIRS},
    {"consent.override", "review_notes", "t.id || ':review'", "t.subject_id", THEIRS},
    {"consent.release", "request_reason", "t.id::text", "t.subject_id", THEIRS},
    {"consent.release", "decision_reason", "t.id || ':decision'", "t.subject_id", THEIRS},
};
#define N_SEALED (sizeof s_sealed / sizeof s_sealed[0])

static void
s_rollback (kn_db_t *db)
{
    kn_error_t ignored;
    kn_db_exec (db, "ROLLBACK", &ignored);
}

//  One batch of data keys not under the current master: rewrapped (a dry run only
//  unwraps them, reading past the *offset it has seen). Rows done, -1.
static int
s_rewrap_batch (kn_db_t *db, kn_crypto_t *crypto, int batch, bool dry_run, long *offset,
                kn_error_t *err)
{
    char current[16], limit[16], skip[24];
    snprintf (current, sizeof current, "%d", kn_crypto_master_version (crypto));
    snprintf (limit, sizeof limit, "%d", batch);
    snprintf (skip, sizeof skip, "%ld", dry_run ? *offset : 0L);
    const char *values[] = {current, limit, skip};
    if (kn_db_begin_write (db, NULL, err))
        return -1;
    PGresult *rows = kn_db_query (
        db,
        dry_run ? "SELECT id, master_version, wrapped FROM core.data_key"
                  " WHERE wrapped IS NOT NULL AND master_version <> $1::smallint"
                  " ORDER BY id OFFSET $3::int LIMIT $2::int"
                : "SELECT id, master_version, wrapped FROM core.data_key"
                  " WHERE wrapped IS NOT NULL AND master_version <> $1::smallint"
                  " AND $3::int = 0 ORDER BY id LIMIT $2::int FOR UPDATE SKIP LOCKED",
        3, values, err);
    if (!rows) {
        s_rollback (db);
        return -1;
    }
    int n = PQntuples (rows), rc = 0;
    kn_pgarray_t *columns[3];
    kn_pgarray_columns (columns, 3);
    for (int r = 0; r < n && rc == 0; r++) {
        size_t len = 0;
        unsigned char *wrapped =
            PQunescapeBytea ((const unsigned char *)PQgetvalue (rows, r, 2), &len);
        kn_data_key_t key;
        if (!wrapped || kn_crypto_data_key_unwrap (crypto, PQgetvalue (rows, r, 0),
                                                   atoi (PQgetvalue (rows, r, 1)),
                                                   wrapped, len, &key) != 0)
            rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, "key_file",
                               "data key %s is wrapped under field master version %s,"
                               " which the key file does not hold (or it does not"
                               " unwrap): add that version to the file",
                               PQgetvalue (rows, r, 0), PQgetvalue (rows, r, 1));
        else {
            uint8_t again[KN_WRAPPED_KEY_BYTES];
            int version = 0;
            kn_crypto_data_key_wrap (crypto, &key, again, &version);
            kn_pgarray_add (columns[0], key.id);
            kn_pgarray_add_int (columns[1], version);
            kn_pgarray_add_bytes (columns[2], again, sizeof again);
        }
        sodium_memzero (&key, sizeof key);
        PQfreemem (wrapped);
    }
    PQclear (rows);
    if (rc == 0 && n > 0 && !dry_run) {
        PGresult *done = kn_pgarray_run (db, "kn_keys_rewrap", columns, 3, err);
        rc = done ? 0 : -1;
        PQclear (done);
    }
    else
        for (int c = 0; c < 3; c++)
            kn_pgarray_destroy (&columns[c]);
    if (rc || kn_db_exec (db, dry_run ? "ROLLBACK" : "COMMIT", err)) {
        s_rollback (db);
        return -1;
    }
    *offset += n;
    return n;
}

//  A referral from before per-person parts (its people inside it, plain): each
//  person's Person sealed into their referral_subject row under their own key (an
//  erased person's is dropped), and the rest, sealed under the child's key, into
//  *rest. -1 with err.
static int
s_split_referral (kn_db_t *db, kn_crypto_t *crypto, const char *id, const uint8_t *plain,
                  size_t plain_len, const kn_data_key_t *child_key, uint8_t **rest,
                  size_t *rest_len, kn_error_t *err)
{
    Kinnet__V1__SubmitReferral *referral =
        kinnet__v1__submit_referral__unpack (NULL, plain_len, plain);
    if (!referral)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "referral %s does not unpack", id);
    const char *values[] = {id};
    PGresult *rows = kn_db_query (db,
                                  "SELECT subject_id, position FROM intake.referral_subject"
                                  " WHERE referral_id = $1 AND personal IS NULL",
                                  1, values, err);
    int rc = rows ? 0 : -1;
    for (int r = 0; rows && r < PQntuples (rows) && rc == 0; r++) {
        const char *subject = PQgetvalue (rows, r, 0);
        size_t position = (size_t)atoi (PQgetvalue (rows, r, 1));
        const Kinnet__V1__Person *person =
            position == 0 ? referral->child
            : position <= referral->n_siblings ? referral->siblings[position - 1]
                                               : NULL;
        kn_data_key_t key;
        kn_error_t key_err;
        if (!person)
            continue;
        if (kn_keys_for_subjects (db, crypto, &subject, 1, &key, &key_err)) {
            if (key_err.code != KN_E_CONFLICT)
                rc = -1, *err = key_err;
            continue;   // erased: their part is dropped
        }
        size_t len = kinnet__v1__person__get_packed_size (person), sealed_len = 0;
        uint8_t *packed = kn_malloc (len ? len : 1);
        kinnet__v1__person__pack (person, packed);
        char ad[2 * KN_UUID_STR + 2];
        snprintf (ad, sizeof ad, "%s:%s", id, subject);
        uint8_t *sealed = kn_crypto_seal_under (&key, packed, len, ad, &sealed_len);
        sodium_memzero (packed, len);
        free (packed);
        sodium_memzero (&key, sizeof key);
        const char *update[] = {id, subject, (const char *)sealed};
        int lengths[] = {0, 0, (int)sealed_len}, formats[] = {0, 0, 1};
        PGresult *done = sealed ? kn_db_run (db, "kn_keys_forward_person", 3, update,
                                             lengths, formats, err)
                                : NULL;
        rc = done ? 0 : -1;
        PQclear (done);
        free (sealed);
    }
    PQclear (rows);
    if (rc == 0) {
        Kinnet__V1__SubmitReferral without = *referral;
        without.child = NULL;
        without.siblings = NULL;
        without.n_siblings = 0;
        size_t len = kinnet__v1__submit_referral__get_packed_size (&without);
        uint8_t *packed = kn_malloc (len ? len : 1);
        kinnet__v1__submit_referral__pack (&without, packed);
        *rest = kn_crypto_seal_under (child_key, packed, len, id, rest_len);
        sodium_memzero (packed, len);
        free (packed);
    }
    kinnet__v1__submit_referral__free_unpacked (referral, NULL);
    return rc;
}

//  One batch of one column's format-1 values, sealed again under their people's
//  keys, in a transaction of its own. Or, with about set, every such value about
//  that person, inside the caller's transaction. Rows done (forwarded or erased), -1.
static int
s_forward_batch (kn_db_t *db, kn_crypto_t *crypto, size_t which, int batch, bool dry_run,
                 const char *about, long *erased, long *offset, kn_error_t *err)
{
    const sealed_t *column = &s_sealed[which];
    char sql[800], update_name[32];
    snprintf (update_name, sizeof update_name, "kn_keys_forward_%zu", which);
    snprintf (sql, sizeof sql, "UPDATE %s SET %s = $2 WHERE id = $1", column->table,
              column->column);
    if (!dry_run && kn_db_prepare (db, update_name, sql, err))
        return -1;
    //  The rows of erased people stay as they are (they are counted, and skipped by
    //  offset in a dry run and after).
    snprintf (sql, sizeof sql,
              "SELECT t.id::text, t.%s, %s, (%s)::text FROM %s t"
              " WHERE t.%s IS NOT NULL AND get_byte (t.%s, 0) = 1 AND %s"
              " ORDER BY t.id OFFSET $1::int LIMIT $2::int%s",
              column->column, column->ad, column->subject, column->table, column->column,
              column->column, about ? column->about : "$3::uuid IS NULL",
              dry_run ? "" : about ? " FOR UPDATE OF t" : " FOR UPDATE OF t SKIP LOCKED");
    char skip[24], limit[16];
    snprintf (skip, sizeof skip, "%ld", *offset);
    snprintf (limit, sizeof limit, "%d", batch);
    const char *values[] = {skip, limit, about};
    if (!about && kn_db_begin_write (db, NULL, err))
        return -1;
    PGresult *rows = kn_db_query (db, sql, 3, values, err);
    if (!rows) {
        if (!about)
            s_rollback (db);
        return -1;
    }
    int n = PQntuples (rows), rc = 0;
    for (int r = 0; r < n && rc == 0; r++) {
        const char *id = PQgetvalue (rows, r, 0), *ad = PQgetvalue (rows, r, 2);
        const char *subject = PQgetvalue (rows, r, 3);
        kn_data_key_t key;
        kn_error_t key_err;
        if (kn_keys_for_subjects (db, crypto, &subject, 1, &key, &key_err)) {
            if (key_err.code != KN_E_CONFLICT) {
                *err = key_err;
                rc = -1;
            }
            else   // an erased person: kn_keys refuses to make them a key
                (*erased)++, (*offset)++;
            continue;
        }
        size_t sealed_len = 0, plain_len = 0;
        unsigned char *sealed =
            PQunescapeBytea ((const unsigned char *)PQgetvalue (rows, r, 1), &sealed_len);
        uint8_t *plain =
            sealed ? kn_crypto_open (crypto, sealed, sealed_len, ad, &plain_len) : NULL;
        PQfreemem (sealed);
        if (!plain)
            rc = kn_error_set (err, KN_E_INTERNAL, NULL,
                               "%s.%s of %s does not open with the root key",
                               column->table, column->column, id);
        else if (!dry_run) {
            size_t again_len = 0;
            uint8_t *again = NULL;
            if (strcmp (column->table, "intake.referral") == 0 &&
                strcmp (column->column, "personal") == 0) {
                if (s_split_referral (db, crypto, id, plain, plain_len, &key, &again,
                                      &again_len, err))
                    rc = -1;
            }
            else
                again = kn_crypto_seal_under (&key, plain, plain_len, ad, &again_len);
            const char *update[] = {id, (const char *)again};
            int lengths[] = {0, (int)again_len}, formats[] = {0, 1};
            PGresult *done = again && rc == 0 ? kn_db_run (db, update_name, 2, update,
                                                           lengths, formats, err)
                                              : NULL;
            rc = done ? 0 : -1;
            PQclear (done);
            free (again);
        }
        else
            (*offset)++;   // a dry run changes nothing: read past it next time
        if (plain)
            sodium_memzero (plain, plain_len);
        free (plain);
        sodium_memzero (&key, sizeof key);
    }
    PQclear (rows);
    if (about)
        return rc ? -1 : n;
    if (rc || kn_db_exec (db, dry_run ? "ROLLBACK" : "COMMIT", err)) {
        s_rollback (db);
        return -1;
    }
    return n;
}

//  The statements the forward step runs (again after a reconnect).
static int
s_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_ensure (db, err) || kn_keys_prepare (db, err) ||
                   kn_db_prepare (db, "kn_keys_forward_person",
                                  "UPDATE intake.referral_subject SET personal = $3"
                                  " WHERE referral_id = $1 AND subject_id = $2",
                                  err)
               ? -1
               : 0;
}

int
kn_keys_forward_subject (kn_db_t *db, kn_crypto_t *crypto, const char *subject_id,
                         long *forwarded, kn_error_t *err)
{
    *forwarded = 0;
    if (s_prepare (db, err))
        return -1;
    for (size_t c = 0; c < N_SEALED; c++) {
        long erased = 0, offset = 0;
        int done = s_forward_batch (db, crypto, c, 1000000, false, subject_id, &erased,
                                    &offset, err);
        if (done < 0)
            return -1;
        *forwarded += done - erased;
    }
    return 0;
}

int
kn_keys_rewrap (kn_db_t *db, kn_crypto_t *crypto, int batch, bool dry_run,
                kn_rewrap_report_t *report, kn_error_t *err)
{
    memset (report, 0, sizeof *report);
    if (batch < 1 || batch > 100000)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "batch", "1 to 100000 rows");
    if (s_prepare (db, err) ||
        kn_db_prepare (db, "kn_keys_rewrap",
                       "UPDATE core.data_key k SET master_version = t.v, wrapped = t.w"
                       " FROM unnest ($1::uuid[], $2::smallint[], $3::bytea[]) AS t (id, v, w)"
                       " WHERE k.id = t.id AND k.wrapped IS NOT NULL",
                       err))
        return -1;
    long seen = 0;
    for (;;) {
        int done = s_rewrap_batch (db, crypto, batch, dry_run, &seen, err);
        if (done < 0)
            return -1;
        if (done == 0)
            break;
        report->keys_rewrapped += done;
        report->batches += !dry_run;
    }
    for (size_t c = 0; c < N_SEALED; c++) {
        long offset = 0;
        for (;;) {
            long erased_before = report->values_erased;
            int done = s_forward_batch (db, crypto, c, batch, dry_run, NULL,
                                        &report->values_erased, &offset, err);
            if (done < 0)
                return -1;
            if (done == 0)
                break;
            report->values_forwarded += done - (report->values_erased - erased_before);
            report->batches += !dry_run;
        }
    }
    return 0;
}

int
kn_keys_status (kn_db_t *db, int *versions, long *counts, int max, long *legacy,
                long *erased, kn_error_t *err)
{
    if (kn_db_ensure (db, err))
        return -1;
    PGresult *rows = kn_db_query (db,
                                  "SELECT master_version, count(*) FROM core.data_key"
                                  " WHERE wrapped IS NOT NULL GROUP BY 1 ORDER BY 1",
                                  0, NULL, err);
    if (!rows)
        return -1;
    int n = 0;
    for (int r = 0; r < PQntuples (rows) && n < max; r++, n++) {
        versions[n] = atoi (PQgetvalue (rows, r, 0));
        counts[n] = atol (PQgetvalue (rows, r, 1));
    }
    PQclear (rows);
    PGresult *gone = kn_db_query (
        db, "SELECT count(*) FROM core.data_key WHERE wrapped IS NULL", 0, NULL, err);
    if (!gone)
        return -1;
    *erased = atol (PQgetvalue (gone, 0, 0));
    PQclear (gone);
    *legacy = 0;
    for (size_t c = 0; c < N_SEALED; c++) {
        char sql[300];
        snprintf (sql, sizeof sql,
                  "SELECT count(*) FROM %s WHERE %s IS NOT NULL AND get_byte (%s, 0) = 1",
                  s_sealed[c].table, s_sealed[c].column, s_sealed[c].column);
        PGresult *count = kn_db_query (db, sql, 0, NULL, err);
        if (!count)
            return -1;
        *legacy += atol (PQgetvalue (count, 0, 0));
        PQclear (count);
    }
    return n;
}
