/*  kn_subject: subject resolution by blind index, with sealed dates of birth. */
#include "kn_subject.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
kn_subject_prepare (kn_db_t *db, kn_error_t *err)
{
    static const char *statements[][2] = {
        {"kn_subject_lock", "SELECT pg_advisory_xact_lock($1::bigint)"},
        {"kn_subject_family", "SELECT family_id FROM core.subject WHERE blind_index = $1"},
        {"kn_subject_family_insert", "INSERT INTO core.family (id) VALUES ($1)"},
        {"kn_subject_upsert",
         "WITH ins AS (INSERT INTO core.subject (id, family_id, blind_index, birth_date)"
         " VALUES ($1, $2, $3, $4) ON CONFLICT (blind_index) DO NOTHING RETURNING id)"
         " SELECT id FROM ins UNION ALL"
         " SELECT id FROM core.subject WHERE blind_index = $3 LIMIT 1"},
        {"kn_subject_get", "SELECT family_id, birth_date FROM core.subject WHERE id = $1"},
    };
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++)
        if (kn_db_prepare (db, statements[i][0], statements[i][1], err))
            return -1;
    return 0;
}

typedef struct {
    uint8_t index[KN_BLIND_INDEX_BYTES];
    size_t position;   // in the caller's array
} entry_t;

static int
s_compare (const void *a, const void *b)
{
    return memcmp (((const entry_t *) a)->index, ((const entry_t *) b)->index,
                   KN_BLIND_INDEX_BYTES);
}

//  First value of row 0 into out; returns rows or -1.
static int
s_run (kn_db_t *db, const char *name, int n, const char *const *values, const int *lengths,
       const int *formats, char *out, size_t size, kn_error_t *err)
{
    PGresult *result = kn_db_run (db, name, n, values, lengths, formats, err);
    if (!result)
        return -1;
    int rows = PQntuples (result);
    if (out && rows > 0)
        snprintf (out, size, "%s", PQgetvalue (result, 0, 0));
    PQclear (result);
    return rows;
}

int
kn_subject_resolve (kn_db_t *db, kn_crypto_t *crypto, const kn_person_t *people,
                    size_t count, char subjects[][KN_UUID_STR], char family_id[KN_UUID_STR],
                    bool *matched, kn_error_t *err)
{
    if (count == 0 || count > KN_SUBJECT_MAX)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, NULL, "1 to %d people", KN_SUBJECT_MAX);
    entry_t entries[KN_SUBJECT_MAX];
    for (size_t i = 0; i < count; i++) {
        kn_crypto_blind_index (crypto, people[i].given_name, people[i].family_name,
                               people[i].date_of_birth, entries[i].index);
        entries[i].position = i;
    }
    //  Lock each index in sorted order; the same person twice locks once.
    qsort (entries, count, sizeof *entries, s_compare);
    for (size_t i = 0; i < count; i++) {
        if (i > 0 && memcmp (entries[i].index, entries[i - 1].index, 32) == 0)
            continue;
        int64_t key;
        memcpy (&key, entries[i].index, sizeof key);
        char key_text[32];
        snprintf (key_text, sizeof key_text, "%" PRId64, key);
        const char *values[] = {key_text};
        if (s_run (db, "kn_subject_lock", 1, values, NULL, NULL, NULL, 0, err) < 0)
            return -1;
    }
    *matched = false;
    for (size_t i = 0; i < count && !*matched; i++) {
        const char *values[] = {(const char *) entries[i].index};
        int lengths[] = {KN_BLIND_INDEX_BYTES};
        int formats[] = {1};
        int rows = s_run (db, "kn_subject_family", 1, values, lengths, formats, family_id,
                          KN_UUID_STR, err);
        if (rows < 0)
            return -1;
        *matched = rows > 0;
    }
    if (!*matched) {
        kn_uuid_generate (family_id);
        const char *values[] = {family_id};
        if (s_run (db, "kn_subject_family_insert", 1, values, NULL, NULL, NULL, 0, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < count; i++) {
        size_t at = entries[i].position;
        char subject_id[KN_UUID_STR];
        kn_uuid_generate (subject_id);
        const char *dob = people[at].date_of_birth ? people[at].date_of_birth : "";
        size_t sealed_len = 0;
        uint8_t *sealed = kn_crypto_seal (crypto, (const uint8_t *) dob, strlen (dob),
                                          subject_id, &sealed_len);
        const char *values[] = {subject_id, family_id, (const char *) entries[i].index,
                                (const char *) sealed};
        int lengths[] = {0, 0, KN_BLIND_INDEX_BYTES, (int) sealed_len};
        int formats[] = {0, 0, 1, 1};
        int rows = s_run (db, "kn_subject_upsert", 4, values, lengths, formats, subjects[at],
                          KN_UUID_STR, err);
        free (sealed);
        if (rows != 1)
            return rows < 0 ? -1 : kn_error_set (err, KN_E_INTERNAL, NULL, "subject upsert");
    }
    return 0;
}

int
kn_subject_exists (kn_db_t *db, const char *subject_id, char *family_id, kn_error_t *err)
{
    if (!kn_uuid_valid (subject_id))
        return 0;
    const char *values[] = {subject_id};
    char family[KN_UUID_STR] = "";
    int rows = s_run (db, "kn_subject_get", 1, values, NULL, NULL, family, sizeof family, err);
    if (rows > 0 && family_id)
        snprintf (family_id, KN_UUID_STR, "%s", family);
    return rows < 0 ? -1 : rows > 0;
}

int
kn_age_from_date (const char *date_of_birth, time_t now)
{
    int y, m, d;
    if (!date_of_birth || sscanf (date_of_birth, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return -1;
    struct tm today;
    gmtime_r (&now, &today);
    int ty = today.tm_year + 1900, tm = today.tm_mon + 1, td = today.tm_mday;
    return ty - y - ((m > tm || (m == tm && d > td)) ? 1 : 0);
}

int
kn_subject_age (kn_db_t *db, kn_crypto_t *crypto, const char *subject_id, time_t now,
                kn_error_t *err)
{
    const char *values[] = {subject_id};
    PGresult *result = kn_db_run (db, "kn_subject_get", 1, values, NULL, NULL, err);
    if (!result)
        return -1;
    int age = -1;
    if (PQntuples (result) == 1 && !PQgetisnull (result, 0, 1)) {
        size_t sealed_len = 0, plain_len = 0;
        unsigned char *sealed = PQunescapeBytea (
            (const unsigned char *) PQgetvalue (result, 0, 1), &sealed_len);
        uint8_t *plain = sealed ? kn_crypto_open (crypto, sealed, sealed_len, subject_id,
                                                  &plain_len)
                                : NULL;
        if (plain && plain_len < 16) {
            char date[16];
            memcpy (date, plain, plain_len);
            date[plain_len] = '\0';
            age = kn_age_from_date (date, now);
        }
        free (plain);
        PQfreemem (sealed);
    }
    PQclear (result);
    return age;
}
