/*  kn_index_reindex: every subject's blind index recomputed under the current
    version, in bounded batches (kn_index.h says from what, and why it is safe). */
#include "kn_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kinnet/v1/consent.pb-c.h"
#include "kinnet/v1/intake.pb-c.h"
#include "kn_alloc.h"
#include "kn_keys.h"
#include "kn_pgarray.h"

//  A batch's subjects behind the current version ($1), after id $2, with their
//  data key and sealed date of birth. A dry run reads without locking.
#define BATCH_SQL                                                                        \
    "SELECT s.id::text, s.blind_index_version, encode (s.blind_index, 'hex'),"           \
    " s.birth_date, k.id, k.master_version, k.wrapped,"                                  \
    " (k.id IS NOT NULL AND k.wrapped IS NULL), s.split_from IS NOT NULL"                \
    " FROM core.subject s LEFT JOIN core.data_key k ON k.subject_id = s.id"              \
    " WHERE s.blind_index_version <> $1::smallint AND s.id > $2::uuid"                   \
    " ORDER BY s.id LIMIT $3::int"

enum { C_ID, C_VERSION, C_INDEX, C_BIRTH, C_KEY, C_ERASED = C_KEY + 3, C_SPLIT };

static const char *s_statements[][2] = {
    {"kn_index_batch", BATCH_SQL " FOR UPDATE OF s SKIP LOCKED"},
    {"kn_index_batch_wait", BATCH_SQL " FOR UPDATE OF s"},
    {"kn_index_batch_dry", BATCH_SQL},
    //  What names each person, newest first: their part of each referral (a Person),
    //  then each consent about them (a RecordConsent, naming them when recorded by
    //  identity). For one merged into another, what names that other: among it,
    //  what named them before the merge. In subject order, as the batch is (uuid
    //  order is the order of their canonical text).
    {"kn_index_inputs",
     "SELECT q.id, 'r', rs.referral_id::text || ':' || rs.subject_id::text,"
     " rs.personal, r.received_at FROM core.subject q"
     " JOIN intake.referral_subject rs ON rs.subject_id = coalesce (q.merged_into, q.id)"
     " JOIN intake.referral r ON r.id = rs.referral_id"
     " WHERE q.id = ANY ($1::uuid[]) AND rs.personal IS NOT NULL"
     " UNION ALL"
     " SELECT q.id, 'c', c.id::text, c.personal, c.recorded_at FROM core.subject q"
     " JOIN consent.record c ON c.subject_id = coalesce (q.merged_into, q.id)"
     " WHERE q.id = ANY ($1::uuid[])"
     " ORDER BY 1, 2 DESC, 5 DESC"},
    {"kn_index_taken", "SELECT encode (blind_index, 'hex') FROM core.subject"
                       " WHERE blind_index = ANY ($1::bytea[])"},
    {"kn_index_update",
     "UPDATE core.subject s SET blind_index = t.i, blind_index_version = t.v"
     " FROM unnest ($1::uuid[], $2::bytea[], $3::smallint[]) AS t (id, i, v)"
     " WHERE s.id = t.id"},
};

//  UNLINKED: split off another subject (records split), found by no identity: random
//  bytes under the current version, as for the erased, unless an input reproduces
//  their index (a correction gave them one of their own).
typedef enum { DONE, ERASED, UNRESOLVED, DUPLICATE, UNLINKED } outcome_t;

//  One subject of a batch.
typedef struct {
    char id[KN_UUID_STR];
    int version;                          // its index's, now
    uint8_t stored[KN_BLIND_INDEX_BYTES]; // its index, now
    char *birth_date;                     // opened, NUL-terminated (zeroed, freed)
    kn_data_key_t key;                    // its data key, when live
    bool has_key;
    outcome_t outcome;
    bool split;                           // split off another subject
    uint8_t index[KN_BLIND_INDEX_BYTES]; // the new one (DONE, ERASED, UNLINKED)
} subject_t;

static void
s_rollback (kn_db_t *db)
{
    kn_error_t ignored;
    kn_db_exec (db, "ROLLBACK", &ignored);
}

static int
s_hex (const char *hex, uint8_t *out, size_t size)
{
    size_t len = 0;
    return sodium_hex2bin (out, size, hex, strlen (hex), NULL, &len, NULL) == 0 &&
                   len == size
               ? 0
               : -1;
}

//  Open a sealed bytea (text form) about subject: under their key when sealed under
//  it, else as kn_keys_open would (format 1, another key). Malloc'd plain or NULL.
static uint8_t *
s_open (kn_db_t *db, kn_crypto_t *crypto, const subject_t *subject, const char *column,
        const char *ad, size_t *plain_len)
{
    size_t len = 0;
    unsigned char *sealed = PQunescapeBytea ((const unsigned char *)column, &len);
    if (!sealed)
        return NULL;
    char id[KN_UUID_STR];
    uint8_t *plain = NULL;
    if (subject->has_key && kn_crypto_sealed_key_id (sealed, len, id) &&
        strcmp (id, subject->key.id) == 0)
        plain = kn_crypto_open_under (&subject->key, sealed, len, ad, plain_len);
    else {
        kn_error_t ignored;
        if (kn_keys_open (db, crypto, sealed, len, ad, &plain, plain_len, &ignored) !=
            KN_OPENED) {
            free (plain);
            plain = NULL;
        }
    }
    PQfreemem (sealed);
    return plain;
}

//  The subject's row of the batch: their key unwrapped, their date of birth opened.
//  -1 with err when a key does not unwrap (a version the file lacks).
static int
s_read (kn_db_t *db, kn_crypto_t *crypto, PGresult *rows, int r, subject_t *subject,
        kn_error_t *err)
{
    snprintf (subject->id, sizeof subject->id, "%s", PQgetvalue (rows, r, C_ID));
    subject->version = atoi (PQgetvalue (rows, r, C_VERSION));
    if (s_hex (PQgetvalue (rows, r, C_INDEX), subject->stored, sizeof subject->stored))
        subject->outcome = UNRESOLVED;
    subject->split = PQgetvalue (rows, r, C_SPLIT)[0] == 't';
    if (PQgetvalue (rows, r, C_ERASED)[0] == 't') {
        subject->outcome = ERASED;
        randombytes_buf (subject->index, sizeof subject->index);
        return 0;
    }
    if (!PQgetisnull (rows, r, C_KEY)) {
        size_t len = 0;
        unsigned char *wrapped = PQunescapeBytea (
            (const unsigned char *)PQgetvalue (rows, r, C_KEY + 2), &len);
        int unwrapped =
            wrapped ? kn_crypto_data_key_unwrap (crypto, PQgetvalue (rows, r, C_KEY),
                                                 atoi (PQgetvalue (rows, r, C_KEY + 1)),
                                                 wrapped, len, &subject->key)
                    : -1;
        PQfreemem (wrapped);
        if (unwrapped != 0)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, "key_file",
                                 "data key %s is wrapped under field master version %s,"
                                 " which the key file does not hold (or it does not"
                                 " unwrap)",
                                 PQgetvalue (rows, r, C_KEY),
                                 PQgetvalue (rows, r, C_KEY + 1));
        subject->has_key = true;
    }
    size_t len = 0;
    uint8_t *dob = PQgetisnull (rows, r, C_BIRTH)
                       ? NULL
                       : s_open (db, crypto, subject, PQgetvalue (rows, r, C_BIRTH),
                                 subject->id, &len);
    if (dob && len < 16) {
        subject->birth_date = kn_malloc (len + 1);
        memcpy (subject->birth_date, dob, len);
        subject->birth_date[len] = '\0';
    }
    if (dob)
        sodium_memzero (dob, len);
    free (dob);
    if (!subject->birth_date)
        subject->outcome = UNRESOLVED;
    return 0;
}

//  The names one input holds (kind 'r': a Person, 'c': a RecordConsent by identity)
//  reproduce the subject's stored index: their index under the current version
//  into subject->index, true.
static bool
s_try (kn_crypto_t *crypto, subject_t *subject, char kind, const uint8_t *plain,
       size_t len)
{
    Kinnet__V1__Person *person = NULL;
    Kinnet__V1__RecordConsent *consent = NULL;
    const Kinnet__V1__Person *named = NULL;
    if (kind == 'r')
        named = person = kinnet__v1__person__unpack (NULL, len, plain);
    else {
        consent = kinnet__v1__record_consent__unpack (NULL, len, plain);
        named = consent && consent->subject ? consent->subject->person : NULL;
    }
    bool ok = false;
    uint8_t again[KN_BLIND_INDEX_BYTES];
    //  The same inputs, under the version the stored index was made under.
    if (named &&
        kn_crypto_blind_index_under (crypto, subject->version, named->given_name,
                                     named->family_name, subject->birth_date,
                                     again) == 0 &&
        sodium_memcmp (again, subject->stored, sizeof again) == 0) {
        kn_crypto_blind_index (crypto, named->given_name, named->family_name,
                               subject->birth_date, subject->index);
        ok = true;
    }
    if (person)
        kinnet__v1__person__free_unpacked (person, NULL);
    if (consent)
        kinnet__v1__record_consent__free_unpacked (consent, NULL);
    return ok;
}

//  Each live subject's new index from the first input, newest first, that
//  reproduces their stored one; UNRESOLVED when none does.
static int
s_recompute (kn_db_t *db, kn_crypto_t *crypto, subject_t *subjects, int n,
             kn_error_t *err)
{
    kn_pgarray_t *ids = kn_pgarray_new ();
    for (int i = 0; i < n; i++)
        kn_pgarray_add (ids, subjects[i].id);
    PGresult *inputs = kn_pgarray_run (db, "kn_index_inputs", &ids, 1, err);
    if (!inputs)
        return -1;
    bool *found = kn_calloc ((size_t)n, sizeof *found);
    for (int r = 0, i = 0; r < PQntuples (inputs); r++) {
        const char *id = PQgetvalue (inputs, r, 0);
        while (i < n && strcmp (subjects[i].id, id) < 0)
            i++; // both in id order
        if (i == n || strcmp (subjects[i].id, id) != 0 || found[i] ||
            subjects[i].outcome != DONE)
            continue;
        size_t len = 0;
        uint8_t *plain = s_open (db, crypto, &subjects[i], PQgetvalue (inputs, r, 3),
                                 PQgetvalue (inputs, r, 2), &len);
        if (plain) {
            found[i] =
                s_try (crypto, &subjects[i], PQgetvalue (inputs, r, 1)[0], plain, len);
            sodium_memzero (plain, len);
        }
        free (plain);
    }
    PQclear (inputs);
    for (int i = 0; i < n; i++)
        if (subjects[i].outcome == DONE && !found[i] && subjects[i].split) {
            subjects[i].outcome = UNLINKED;
            randombytes_buf (subjects[i].index, sizeof subjects[i].index);
        } else if (subjects[i].outcome == DONE && !found[i])
            subjects[i].outcome = UNRESOLVED;
    free (found);
    return 0;
}

//  A recomputed index some other subject holds already (the same person on record
//  twice, which merging will resolve): DUPLICATE, left as it is.
static int
s_duplicates (kn_db_t *db, subject_t *subjects, int n, kn_error_t *err)
{
    kn_pgarray_t *indexes = kn_pgarray_new ();
    for (int i = 0; i < n; i++)
        if (subjects[i].outcome == DONE)
            kn_pgarray_add_bytes (indexes, subjects[i].index, KN_BLIND_INDEX_BYTES);
    PGresult *taken = kn_pgarray_run (db, "kn_index_taken", &indexes, 1, err);
    if (!taken)
        return -1;
    for (int r = 0; r < PQntuples (taken); r++) {
        uint8_t index[KN_BLIND_INDEX_BYTES];
        if (s_hex (PQgetvalue (taken, r, 0), index, sizeof index))
            continue;
        for (int i = 0; i < n; i++)
            if (subjects[i].outcome == DONE &&
                memcmp (subjects[i].index, index, sizeof index) == 0)
                subjects[i].outcome = DUPLICATE;
    }
    PQclear (taken);
    return 0;
}

static void
s_count (kn_reindex_report_t *report, const subject_t *subject)
{
    switch (subject->outcome) {
    case DONE:
    case UNLINKED:
        report->reindexed++;
        break;
    case ERASED:
        report->erased++;
        break;
    case UNRESOLVED:
        report->unresolved++;
        break;
    case DUPLICATE:
        report->duplicates++;
        break;
    }
    if ((subject->outcome == UNRESOLVED || subject->outcome == DUPLICATE) &&
        report->n_listed < KN_INDEX_LISTED)
        snprintf (report->listed[report->n_listed++], KN_UUID_STR, "%s", subject->id);
}

//  A pass over the subjects behind: the first skips rows another transaction holds
//  (a disclosure share-locks its subject), so requests never wait for it; the
//  second takes what is still behind one row per transaction, waiting for the
//  holder (holding nothing else meanwhile, it can be in no deadlock). A dry run
//  reads, locks nothing and writes nothing.
typedef enum { FIRST, SKIPPED, DRY_RUN } pass_t;

//  One batch after *after: subjects read, recomputed and (unless a dry run)
//  written, in a transaction of its own. Subjects seen, or -1.
static int
s_batch (kn_db_t *db, kn_crypto_t *crypto, int batch, pass_t pass, char *after,
         kn_reindex_report_t *report, kn_error_t *err)
{
    char current[16], limit[16];
    snprintf (current, sizeof current, "%d", kn_crypto_index_version (crypto));
    snprintf (limit, sizeof limit, "%d", batch);
    const char *values[] = {current, after, limit};
    if (kn_db_exec (db, "BEGIN", err))
        return -1;
    bool dry_run = pass == DRY_RUN;
    PGresult *rows = kn_db_run (db,
                                dry_run           ? "kn_index_batch_dry"
                                : pass == SKIPPED ? "kn_index_batch_wait"
                                                  : "kn_index_batch",
                                3, values, NULL, NULL, err);
    if (!rows) {
        s_rollback (db);
        return -1;
    }
    int n = PQntuples (rows), rc = 0;
    subject_t *subjects = kn_calloc ((size_t)(n ? n : 1), sizeof *subjects);
    for (int r = 0; r < n && rc == 0; r++)
        rc = s_read (db, crypto, rows, r, &subjects[r], err);
    PQclear (rows);
    if (rc == 0 && n > 0)
        rc = s_recompute (db, crypto, subjects, n, err) ||
                     s_duplicates (db, subjects, n, err)
                 ? -1
                 : 0;
    kn_pgarray_t *columns[3];
    kn_pgarray_columns (columns, 3);
    for (int i = 0; i < n && rc == 0; i++) {
        s_count (report, &subjects[i]);
        if (subjects[i].outcome == DONE || subjects[i].outcome == ERASED ||
            subjects[i].outcome == UNLINKED) {
            kn_pgarray_add (columns[0], subjects[i].id);
            kn_pgarray_add_bytes (columns[1], subjects[i].index, KN_BLIND_INDEX_BYTES);
            kn_pgarray_add_int (columns[2], kn_crypto_index_version (crypto));
        }
    }
    if (rc == 0 && !dry_run && kn_pgarray_size (columns[0]) > 0) {
        PGresult *done = kn_pgarray_run (db, "kn_index_update", columns, 3, err);
        rc = done ? 0 : -1;
        PQclear (done);
    } else
        for (int c = 0; c < 3; c++)
            kn_pgarray_destroy (&columns[c]);
    if (n > 0)
        snprintf (after, KN_UUID_STR, "%s", subjects[n - 1].id);
    for (int i = 0; i < n; i++)
        if (subjects[i].birth_date) {
            sodium_memzero (subjects[i].birth_date, strlen (subjects[i].birth_date));
            free (subjects[i].birth_date);
        }
    sodium_memzero (subjects, (size_t)(n ? n : 1) * sizeof *subjects);
    free (subjects);
    if (rc || kn_db_exec (db, dry_run ? "ROLLBACK" : "COMMIT", err)) {
        s_rollback (db);
        return -1;
    }
    report->batches += !dry_run && n > 0;
    return n;
}

int
kn_index_reindex (kn_db_t *db, kn_crypto_t *crypto, int batch, bool dry_run,
                  kn_reindex_report_t *report, kn_error_t *err)
{
    memset (report, 0, sizeof *report);
    if (batch < 1 || batch > 100000)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "batch", "1 to 100000 rows");
    if (kn_db_ensure (db, err) || kn_keys_prepare (db, err) ||
        kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                           err) ||
        kn_index_check (db, crypto, err))
        return -1;
    //  The second pass sees again whatever the first left (with what it skipped):
    //  what is still left after it is the report's.
    for (pass_t pass = dry_run ? DRY_RUN : FIRST;; pass = SKIPPED) {
        char after[KN_UUID_STR] = "00000000-0000-0000-0000-000000000000";
        report->unresolved = report->duplicates = report->n_listed = 0;
        int size = pass == SKIPPED ? 1 : batch;
        for (;;) {
            int done = s_batch (db, crypto, size, pass, after, report, err);
            if (done < 0)
                return -1;
            if (done < size)
                break;
        }
        if (pass != FIRST)
            break;
    }
    return 0;
}
