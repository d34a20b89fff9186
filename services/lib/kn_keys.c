/*  kn_keys: per-person data keys, made on first use and read back on every open. */
#include "kn_keys.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "kn_alloc.h"
#include "kn_pgarray.h"
#include "kn_uuid.h"

int
kn_keys_prepare (kn_db_t *db, kn_error_t *err)
{
    static const char *statements[][2] = {
        {"kn_keys_find", "SELECT subject_id, id, master_version, wrapped"
                         " FROM core.data_key WHERE subject_id = ANY ($1::uuid[])"},
        //  A key made at the same time by another transaction wins: the loser reads
        //  it back (what RETURNING leaves out).
        {"kn_keys_insert",
         "INSERT INTO core.data_key (id, subject_id, master_version, wrapped)"
         " SELECT * FROM unnest ($1::uuid[], $2::uuid[], $3::smallint[], $4::bytea[])"
         " ON CONFLICT (subject_id) DO NOTHING RETURNING subject_id"},
        //  With whether the person was merged into another (read under the lock: a
        //  merge holds it exclusively until it commits).
        {"kn_keys_hold",
         "SELECT pg_advisory_xact_lock_shared (" KN_SUBJECT_LOCK ("$1") "),"
         " coalesce ((SELECT merged_into IS NOT NULL FROM core.subject WHERE id = $1::uuid),"
         " false)"},
    };
    return kn_db_prepare_all (db, statements, sizeof statements / sizeof statements[0], err);
}

static int
s_index_of (const char *const *subjects, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp (subjects[i], id) == 0)
            return (int)i;
    return -1;
}

//  Fill out[i] for every subject on record among the rows of kn_keys_find; found[i]
//  marks them. -1 with err for an erased subject or a key that does not unwrap.
static int
s_take (kn_crypto_t *crypto, PGresult *rows, const char *const *subjects, size_t n,
        kn_data_key_t *out, bool *found, kn_error_t *err)
{
    int rc = 0;
    for (int r = 0; r < PQntuples (rows) && rc == 0; r++) {
        int i = s_index_of (subjects, n, PQgetvalue (rows, r, 0));
        if (i < 0 || found[i])
            continue;
        if (PQgetisnull (rows, r, 3)) {
            rc = kn_error_set (err, KN_E_CONFLICT, "subject_id",
                               "the person's data was erased: nothing more is kept about"
                               " them");
            break;
        }
        size_t len = 0;
        unsigned char *wrapped =
            PQunescapeBytea ((const unsigned char *)PQgetvalue (rows, r, 3), &len);
        if (!wrapped ||
            kn_crypto_data_key_unwrap (crypto, PQgetvalue (rows, r, 1),
                                       atoi (PQgetvalue (rows, r, 2)), wrapped, len,
                                       &out[i]) != 0)
            rc = kn_error_set (err, KN_E_INTERNAL, NULL,
                               "a data key does not unwrap: is field master version %s"
                               " in the key file?",
                               PQgetvalue (rows, r, 2));
        PQfreemem (wrapped);
        found[i] = rc == 0;
    }
    return rc;
}

static int
s_find (kn_db_t *db, kn_crypto_t *crypto, const char *const *subjects, size_t n,
        kn_data_key_t *out, bool *found, kn_error_t *err)
{
    kn_pgarray_t *ids = kn_pgarray_new ();
    for (size_t i = 0; i < n; i++)
        if (!found[i])
            kn_pgarray_add (ids, subjects[i]);
    PGresult *rows = kn_pgarray_run (db, "kn_keys_find", &ids, 1, err);
    if (!rows)
        return -1;
    int rc = s_take (crypto, rows, subjects, n, out, found, err);
    PQclear (rows);
    return rc;
}

int
kn_keys_for_subjects (kn_db_t *db, kn_crypto_t *crypto, const char *const *subjects,
                      size_t n, kn_data_key_t *out, kn_error_t *err)
{
    if (n == 0)
        return 0;
    bool *found = kn_calloc (n, sizeof *found);
    int rc = s_find (db, crypto, subjects, n, out, found, err);
    size_t missing = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        missing += !found[i];
    if (rc == 0 && missing > 0) {
        kn_pgarray_t *columns[4];
        kn_pgarray_columns (columns, 4);
        for (size_t i = 0; i < n; i++) {
            //  A subject named twice gets one key: the first mention's.
            int first = s_index_of (subjects, n, subjects[i]);
            if (found[i] || first != (int)i)
                continue;
            uint8_t wrapped[KN_WRAPPED_KEY_BYTES];
            int version = 0;
            kn_crypto_data_key_new (crypto, &out[i], wrapped, &version);
            kn_pgarray_add (columns[0], out[i].id);
            kn_pgarray_add (columns[1], subjects[i]);
            kn_pgarray_add_int (columns[2], version);
            kn_pgarray_add_bytes (columns[3], wrapped, sizeof wrapped);
        }
        PGresult *made = kn_pgarray_run (db, "kn_keys_insert", columns, 4, err);
        if (!made)
            rc = -1;
        for (int r = 0; made && r < PQntuples (made); r++) {
            int i = s_index_of (subjects, n, PQgetvalue (made, r, 0));
            if (i >= 0)
                found[i] = true;
        }
        PQclear (made);
        //  Keys another transaction made first, then the repeated mentions.
        bool lost = false;
        for (size_t i = 0; i < n && rc == 0; i++)
            lost = lost || (!found[i] && s_index_of (subjects, n, subjects[i]) == (int)i);
        if (rc == 0 && lost)
            rc = s_find (db, crypto, subjects, n, out, found, err);
        for (size_t i = 0; i < n && rc == 0; i++) {
            int first = s_index_of (subjects, n, subjects[i]);
            if (!found[i] && found[first]) {
                out[i] = out[first];
                found[i] = true;
            }
            else if (!found[i])
                rc = kn_error_set (err, KN_E_NOT_FOUND, "subject_id", "no such subject");
        }
    }
    if (rc != 0)
        sodium_memzero (out, n * sizeof *out);
    free (found);
    return rc;
}

uint8_t *
kn_keys_seal (kn_db_t *db, kn_crypto_t *crypto, const char *subject_id,
              const uint8_t *plain, size_t len, const char *ad, size_t *sealed_len,
              kn_error_t *err)
{
    //  Held to the end of the transaction: an erasure deciding about the person waits
    //  for what is sealed here to commit, and sees it; one that decided first has
    //  destroyed the key by now, and kn_keys_for_subjects refuses.
    const char *values[] = {subject_id};
    PGresult *held = kn_db_run (db, "kn_keys_hold", 1, values, NULL, NULL, err);
    if (!held)
        return NULL;
    //  A request that found the person before a merge committed, and waited for it
    //  here, must not record anything more about the merged person: it would be
    //  left behind, invisible to the person kept.
    bool merged = PQgetvalue (held, 0, 1)[0] == 't';
    PQclear (held);
    if (merged) {
        kn_error_set (err, KN_E_CONFLICT, "subject_id",
                      "the person was merged into another subject: use the id given in the"
                      " subject.merged event of your feed");
        return NULL;
    }
    kn_data_key_t key;
    if (kn_keys_for_subjects (db, crypto, &subject_id, 1, &key, err))
        return NULL;
    uint8_t *sealed = kn_crypto_seal_under (&key, plain, len, ad, sealed_len);
    sodium_memzero (&key, sizeof key);
    if (!sealed)
        kn_error_set (err, KN_E_INTERNAL, NULL, "sealing failed");
    return sealed;
}

int
kn_keys_open (kn_db_t *db, kn_crypto_t *crypto, const uint8_t *sealed, size_t len,
              const char *ad, uint8_t **plain, size_t *plain_len, kn_error_t *err)
{
    *plain = NULL;
    char id[KN_UUID_STR];
    if (!kn_crypto_sealed_key_id (sealed, len, id)) {
        *plain = kn_crypto_open (crypto, sealed, len, ad, plain_len);
        return *plain ? KN_OPENED
               : kn_crypto_has_root (crypto)
                   ? kn_error_set (err, KN_E_INTERNAL, NULL,
                                   "a sealed value does not open with the root key")
                   : kn_error_set (err, KN_E_INTERNAL, NULL,
                                   "a value is sealed under the root key, which the key"
                                   " file no longer holds: put the root back and run"
                                   " kinnet admin fieldkey rewrap");
    }
    const char *values[] = {id};
    PGresult *row = kn_db_query (
        db, "SELECT master_version, wrapped FROM core.data_key WHERE id = $1", 1, values,
        err);
    if (!row)
        return -1;
    int rc = 0;
    if (PQntuples (row) != 1)
        rc = kn_error_set (err, KN_E_INTERNAL, NULL, "a sealed value names no data key");
    else if (PQgetisnull (row, 0, 1))
        rc = KN_ERASED;
    else {
        size_t wrapped_len = 0;
        unsigned char *wrapped =
            PQunescapeBytea ((const unsigned char *)PQgetvalue (row, 0, 1), &wrapped_len);
        kn_data_key_t key;
        if (wrapped && kn_crypto_data_key_unwrap (crypto, id, atoi (PQgetvalue (row, 0, 0)),
                                                  wrapped, wrapped_len, &key) == 0)
            *plain = kn_crypto_open_under (&key, sealed, len, ad, plain_len);
        sodium_memzero (&key, sizeof key);
        PQfreemem (wrapped);
        if (!*plain)
            rc = kn_error_set (err, KN_E_INTERNAL, NULL,
                               "a sealed value does not open with its data key");
    }
    PQclear (row);
    return rc;
}

//  The sealed bytes of column c of row r into *sealed (PQfreemem), and *plain
//  cleared: 1 when there are some, 0 when the column is NULL (it opens to nothing),
//  -1 with err.
static int
s_sealed_column (const PGresult *result, int r, int c, unsigned char **sealed, size_t *len,
                 uint8_t **plain, size_t *plain_len, kn_error_t *err)
{
    *plain = NULL;
    *plain_len = 0;
    *sealed = NULL;
    if (PQgetisnull (result, r, c))
        return 0;
    *sealed = PQunescapeBytea ((const unsigned char *)PQgetvalue (result, r, c), len);
    return *sealed ? 1 : kn_error_set (err, KN_E_INTERNAL, NULL, "out of memory");
}

int
kn_keys_open_column (kn_db_t *db, kn_crypto_t *crypto, const PGresult *result, int r,
                     int c, const char *ad, uint8_t **plain, size_t *plain_len,
                     kn_error_t *err)
{
    size_t len = 0;
    unsigned char *sealed = NULL;
    int some = s_sealed_column (result, r, c, &sealed, &len, plain, plain_len, err);
    if (some <= 0)
        return some < 0 ? -1 : KN_OPENED;
    int rc = kn_keys_open (db, crypto, sealed, len, ad, plain, plain_len, err);
    PQfreemem (sealed);
    return rc;
}

int
kn_keys_open_joined (kn_db_t *db, kn_crypto_t *crypto, const PGresult *result, int r, int c,
                     int c_key, const char *ad, uint8_t **plain, size_t *plain_len,
                     kn_error_t *err)
{
    size_t len = 0;
    unsigned char *sealed = NULL;
    int some = s_sealed_column (result, r, c, &sealed, &len, plain, plain_len, err);
    if (some <= 0)
        return some < 0 ? -1 : KN_OPENED;
    char id[KN_UUID_STR];
    int rc;
    if (PQgetisnull (result, r, c_key) || !kn_crypto_sealed_key_id (sealed, len, id) ||
        strcasecmp (id, PQgetvalue (result, r, c_key)) != 0)
        rc = kn_keys_open (db, crypto, sealed, len, ad, plain, plain_len, err);
    else if (PQgetisnull (result, r, c_key + 2))
        rc = KN_ERASED;
    else {
        size_t wrapped_len = 0;
        unsigned char *wrapped = PQunescapeBytea (
            (const unsigned char *)PQgetvalue (result, r, c_key + 2), &wrapped_len);
        kn_data_key_t key;
        if (wrapped && kn_crypto_data_key_unwrap (crypto, id,
                                                  atoi (PQgetvalue (result, r, c_key + 1)),
                                                  wrapped, wrapped_len, &key) == 0)
            *plain = kn_crypto_open_under (&key, sealed, len, ad, plain_len);
        sodium_memzero (&key, sizeof key);
        PQfreemem (wrapped);
        rc = *plain ? KN_OPENED
                    : kn_error_set (err, KN_E_INTERNAL, NULL,
                                    "a sealed value does not open with its data key");
    }
    PQfreemem (sealed);
    return rc;
}

char *
kn_keys_open_text (kn_db_t *db, kn_crypto_t *crypto, const PGresult *result, int r, int c,
                   const char *ad)
{
    uint8_t *plain = NULL;
    size_t len = 0;
    kn_error_t ignored;
    kn_keys_open_column (db, crypto, result, r, c, ad, &plain, &len, &ignored);
    char *text = kn_malloc (len + 1);
    if (plain)
        memcpy (text, plain, len);
    text[plain ? len : 0] = '\0';
    if (plain)
        sodium_memzero (plain, len);
    free (plain);
    return text;
}
