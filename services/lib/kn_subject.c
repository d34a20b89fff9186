/*  kn_subject: subject resolution by blind index, with sealed dates of birth. */
#include "kn_subject.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kn_keys.h"
#include "kn_pgarray.h"
#include "kn_alloc.h"

int
kn_subject_prepare (kn_db_t *db, kn_error_t *err)
{
    static const char *statements[][2] = {
        //  unnest yields the keys in the (sorted) order given, one lock after another.
        {"kn_subject_lock",
         "SELECT count (pg_advisory_xact_lock (k)) FROM unnest ($1::bigint[]) AS k"},
        //  The people asked for and everyone merged into them, with whether asked.
        {"kn_subject_index_of",
         "SELECT encode (blind_index, 'hex'), family_id, id, id = ANY ($1::uuid[])"
         " FROM core.subject WHERE id = ANY ($1::uuid[]) OR merged_into = ANY ($1::uuid[])"
         " ORDER BY id"},
        {"kn_subject_lock_persons",
         "SELECT count (pg_advisory_xact_lock (" KN_SUBJECT_LOCK ("p") "))"
         " FROM unnest ($1::uuid[]) AS p"},
        //  One merged into another is found as that other (core.subject.merged_into).
        {"kn_subject_find",
         "SELECT encode (s.blind_index, 'hex'), coalesce (s.merged_into, s.id),"
         " coalesce (t.family_id, s.family_id), s.blind_index_version"
         " FROM core.subject s LEFT JOIN core.subject t ON t.id = s.merged_into"
         " WHERE s.blind_index = ANY ($1::bytea[])"},
        //  One person found by no identity, with their key (kn_subject_add_unlinked).
        {"kn_subject_insert_unlinked",
         "WITH s AS (INSERT INTO core.subject (id, family_id, blind_index, birth_date,"
         " blind_index_version, split_from) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id)"
         " INSERT INTO core.data_key (id, subject_id, master_version, wrapped)"
         " SELECT $7::uuid, s.id, $8::smallint, $9::bytea FROM s"},
        {"kn_subject_family_insert",
         "INSERT INTO core.family (id) SELECT unnest ($1::uuid[])"},
        //  New subjects with their data keys: one statement, one round trip.
        {"kn_subject_insert",
         "WITH s AS (INSERT INTO core.subject (id, family_id, blind_index, birth_date,"
         " blind_index_version) SELECT * FROM unnest ($1::uuid[], $2::uuid[], $3::bytea[],"
         " $4::bytea[], $5::smallint[]) RETURNING id)"
         " INSERT INTO core.data_key (id, subject_id, master_version, wrapped)"
         " SELECT * FROM unnest ($6::uuid[], $7::uuid[], $8::smallint[], $9::bytea[])"},
        //  With the person's data key, which seals the date of birth: one round trip.
        {KN_SUBJECT_GET, KN_SUBJECT_ROW " WHERE s.id = $1"},
    };
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++)
        if (kn_db_prepare (db, statements[i][0], statements[i][1], err))
            return -1;
    return kn_keys_prepare (db, err);
}

//  The index versions of the key file, the current first: a person is looked up
//  under each, so one indexed under an older version is found during a re-index.
typedef struct {
    int n;
    int versions[KN_INDEX_MAX];
} versions_t;

//  One distinct person of a batch.
typedef struct {
    //  Their index under each version (versions_t's order): [0], the current one,
    //  is what identifies them in the batch and what a new subject is stored with.
    uint8_t index[KN_INDEX_MAX][KN_BLIND_INDEX_BYTES];
    char id[KN_UUID_STR];
    char family_id[KN_UUID_STR];
    const char *date_of_birth; // of the first mention, for a new subject
    const char *given_name;    // of a mention, while the older indexes are made
    const char *family_name;
    bool known;                // on record, or introduced earlier in the batch
    bool created;              // to insert
    int found_version;         // the version their stored index is under
    kn_data_key_t key;         // its data key, once made or read
} person_t;

static int
s_compare_index (const void *a, const void *b)
{
    return memcmp (a, b, KN_BLIND_INDEX_BYTES);
}

static int
s_compare_key (const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static person_t *
s_person (person_t *persons, size_t count, const uint8_t *index)
{
    return bsearch (index, persons, count, sizeof *persons, s_compare_index);
}

//  Lock every distinct index under every version the key file holds, in one order
//  for every caller. Not the current version's alone: during a rotation two
//  processes may disagree on which is current (one given the file that makes
//  version N current, the other not yet), and each would then lock a key the other
//  never takes and both create the person. The rotation procedure keeps one
//  version in every running process's file, so any two lock at least one key in
//  common.
static int
s_lock (kn_db_t *db, const person_t *persons, size_t count, const versions_t *versions,
        kn_error_t *err)
{
    size_t n = count * (size_t)versions->n;
    int64_t *keys = kn_malloc (n * sizeof *keys);
    for (size_t i = 0; i < count; i++)
        for (int v = 0; v < versions->n; v++)
            memcpy (&keys[i * (size_t)versions->n + (size_t)v], persons[i].index[v],
                    sizeof *keys);
    qsort (keys, n, sizeof *keys, s_compare_key);
    kn_pgarray_t *array = kn_pgarray_new ();
    for (size_t i = 0; i < n; i++)
        if (i == 0 || keys[i] != keys[i - 1])
            kn_pgarray_add_int (array, (long long)keys[i]);
    free (keys);
    return kn_pgarray_exec (db, "kn_subject_lock", &array, 1, err);
}

//  One index of one person under one version, for looking rows up.
typedef struct {
    uint8_t index[KN_BLIND_INDEX_BYTES];
    int version;
    person_t *person;
} ref_t;

//  Mark the persons already on record with their subject and family, found under
//  any version. Were one person on record twice (under two versions), the subject
//  under the current version wins, so every caller picks the same.
static int
s_find_known (kn_db_t *db, person_t *persons, size_t count, const versions_t *versions,
              kn_error_t *err)
{
    size_t n = count * (size_t)versions->n;
    ref_t *refs = kn_malloc (n * sizeof *refs);
    kn_pgarray_t *array = kn_pgarray_new ();
    for (size_t i = 0; i < count; i++)
        for (int v = 0; v < versions->n; v++) {
            ref_t *ref = &refs[i * (size_t)versions->n + (size_t)v];
            memcpy (ref->index, persons[i].index[v], KN_BLIND_INDEX_BYTES);
            ref->version = versions->versions[v];
            ref->person = &persons[i];
            kn_pgarray_add_bytes (array, persons[i].index[v], KN_BLIND_INDEX_BYTES);
        }
    qsort (refs, n, sizeof *refs, s_compare_index);
    PGresult *result = kn_pgarray_run (db, "kn_subject_find", &array, 1, err);
    if (!result) {
        free (refs);
        return -1;
    }
    for (int row = 0; row < PQntuples (result); row++) {
        uint8_t index[KN_BLIND_INDEX_BYTES];
        size_t len = 0;
        const char *hex = PQgetvalue (result, row, 0);
        if (sodium_hex2bin (index, sizeof index, hex, strlen (hex), NULL, &len, NULL) !=
                0 ||
            len != sizeof index)
            continue;
        ref_t *ref = bsearch (index, refs, n, sizeof *refs, s_compare_index);
        int version = atoi (PQgetvalue (result, row, 3));
        //  An index matches only under the version it was made under.
        if (!ref || ref->version != version)
            continue;
        person_t *person = ref->person;
        if (person->known && person->found_version == versions->versions[0])
            continue;
        snprintf (person->id, KN_UUID_STR, "%s", PQgetvalue (result, row, 1));
        snprintf (person->family_id, KN_UUID_STR, "%s", PQgetvalue (result, row, 2));
        person->known = true;
        person->found_version = version;
    }
    PQclear (result);
    free (refs);
    return 0;
}

//  Insert the new families (the array is consumed), the subjects the groups
//  introduced and their data keys, each date of birth sealed under its own key.
static int
s_insert_new (kn_db_t *db, kn_crypto_t *crypto, kn_pgarray_t **families,
              person_t *persons, size_t count, kn_error_t *err)
{
    if (kn_pgarray_size (*families) > 0 &&
        kn_pgarray_exec (db, "kn_subject_family_insert", families, 1, err))
        return -1;
    kn_pgarray_destroy (families);
    kn_pgarray_t *columns[9];
    kn_pgarray_columns (columns, 9);
    size_t made = 0;
    for (size_t i = 0; i < count; i++) {
        person_t *person = &persons[i];
        if (!person->created)
            continue;
        uint8_t wrapped[KN_WRAPPED_KEY_BYTES];
        int version = 0;
        kn_crypto_data_key_new (crypto, &person->key, wrapped, &version);
        made++;
        const char *dob = person->date_of_birth ? person->date_of_birth : "";
        size_t sealed_len = 0;
        uint8_t *sealed = kn_crypto_seal_under (&person->key, (const uint8_t *)dob,
                                                strlen (dob), person->id, &sealed_len);
        kn_pgarray_add (columns[0], person->id);
        kn_pgarray_add (columns[1], person->family_id);
        kn_pgarray_add_bytes (columns[2], person->index[0], KN_BLIND_INDEX_BYTES);
        kn_pgarray_add_bytes (columns[3], sealed, sealed_len);
        kn_pgarray_add_int (columns[4], kn_crypto_index_version (crypto));
        kn_pgarray_add (columns[5], person->key.id);
        kn_pgarray_add (columns[6], person->id);
        kn_pgarray_add_int (columns[7], version);
        kn_pgarray_add_bytes (columns[8], wrapped, sizeof wrapped);
        free (sealed);
    }
    if (made > 0)
        return kn_pgarray_exec (db, "kn_subject_insert", columns, 9, err);
    for (size_t c = 0; c < 9; c++)
        kn_pgarray_destroy (&columns[c]);
    return 0;
}

//  The data keys of the persons known before this batch, when a group asks for keys.
static int
s_known_keys (kn_db_t *db, kn_crypto_t *crypto, person_t *persons, size_t count,
              kn_error_t *err)
{
    const char **ids = kn_calloc (count ? count : 1, sizeof *ids);
    kn_data_key_t *keys = kn_calloc (count ? count : 1, sizeof *keys);
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (!persons[i].created)
            ids[n++] = persons[i].id;
    int rc = kn_keys_for_subjects (db, crypto, ids, n, keys, err);
    for (size_t i = 0, k = 0; i < count && rc == 0; i++)
        if (!persons[i].created)
            persons[i].key = keys[k++];
    sodium_memzero (keys, (count ? count : 1) * sizeof *keys);
    free (keys);
    free (ids);
    return rc;
}

int
kn_subject_resolve_many (kn_db_t *db, kn_crypto_t *crypto, kn_subject_group_t *groups,
                         size_t n, kn_error_t *err)
{
    size_t total = 0;
    for (size_t g = 0; g < n; g++) {
        if (groups[g].count == 0 || groups[g].count > KN_SUBJECT_MAX)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, NULL, "1 to %d people",
                                 KN_SUBJECT_MAX);
        total += groups[g].count;
    }
    if (total == 0)
        return 0;
    //  Every mention's index; then the distinct persons, sorted by index.
    uint8_t (*mentions)[KN_BLIND_INDEX_BYTES] = kn_malloc (total * sizeof *mentions);
    person_t *persons = kn_calloc (total, sizeof *persons);
    size_t at = 0;
    for (size_t g = 0; g < n; g++)
        for (size_t i = 0; i < groups[g].count; i++, at++) {
            const kn_person_t *p = &groups[g].people[i];
            kn_crypto_blind_index (crypto, p->given_name, p->family_name,
                                   p->date_of_birth, mentions[at]);
            memcpy (persons[at].index[0], mentions[at], KN_BLIND_INDEX_BYTES);
            persons[at].date_of_birth = p->date_of_birth;
            persons[at].given_name = p->given_name;
            persons[at].family_name = p->family_name;
        }
    qsort (persons, total, sizeof *persons, s_compare_index);
    size_t count = 0;
    for (size_t i = 0; i < total; i++)
        if (count == 0 ||
            s_compare_index (persons[i].index[0], persons[count - 1].index[0]) != 0)
            persons[count++] = persons[i];
    //  Each distinct person under the older versions too.
    versions_t versions;
    versions.n = kn_crypto_index_versions (crypto, versions.versions);
    for (size_t i = 0; i < count; i++) {
        for (int v = 1; v < versions.n; v++)
            kn_crypto_blind_index_under (crypto, versions.versions[v],
                                         persons[i].given_name, persons[i].family_name,
                                         persons[i].date_of_birth, persons[i].index[v]);
        persons[i].date_of_birth = NULL;   // set again for the new ones below
    }

    kn_pgarray_t *families = kn_pgarray_new ();
    int rc = s_lock (db, persons, count, &versions, err) ||
                     s_find_known (db, persons, count, &versions, err)
                 ? -1
                 : 0;
    //  Group by group, as one request after another would: the family of the first
    //  known person in index order, else a new one; the unknown join it.
    at = 0;
    for (size_t g = 0; g < n && rc == 0; g++) {
        kn_subject_group_t *group = &groups[g];
        person_t *members[KN_SUBJECT_MAX];
        for (size_t i = 0; i < group->count; i++)
            members[i] = s_person (persons, count, mentions[at + i]);
        group->matched = false;
        person_t *first_known = NULL;
        for (size_t i = 0; i < group->count; i++)
            if (members[i]->known &&
                (!first_known ||
                 s_compare_index (members[i]->index, first_known->index) < 0))
                first_known = members[i];
        if (first_known) {
            group->matched = true;
            memcpy (group->family_id, first_known->family_id, KN_UUID_STR);
        } else {
            kn_uuid_generate (group->family_id);
            kn_pgarray_add (families, group->family_id);
        }
        for (size_t i = 0; i < group->count; i++) {
            person_t *person = members[i];
            if (!person->known) {
                kn_uuid_generate (person->id);
                memcpy (person->family_id, group->family_id, KN_UUID_STR);
                person->date_of_birth = group->people[i].date_of_birth;
                person->known = person->created = true;
            }
            memcpy (group->subjects[i], person->id, KN_UUID_STR);
        }
        at += group->count;
    }
    if (rc == 0)
        rc = s_insert_new (db, crypto, &families, persons, count, err);
    bool want_keys = false;
    for (size_t g = 0; g < n; g++)
        want_keys = want_keys || groups[g].keys;
    if (rc == 0 && want_keys)
        rc = s_known_keys (db, crypto, persons, count, err);
    at = 0;
    for (size_t g = 0; g < n && rc == 0; g++) {
        for (size_t i = 0; groups[g].keys && i < groups[g].count; i++)
            groups[g].keys[i] = s_person (persons, count, mentions[at + i])->key;
        at += groups[g].count;
    }
    kn_pgarray_destroy (&families);
    sodium_memzero (persons, total * sizeof *persons);
    free (persons);
    free (mentions);
    return rc;
}

int
kn_subject_resolve (kn_db_t *db, kn_crypto_t *crypto, const kn_person_t *people,
                    size_t count, char subjects[][KN_UUID_STR],
                    char family_id[KN_UUID_STR], bool *matched, kn_error_t *err)
{
    if (count == 0 || count > KN_SUBJECT_MAX)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, NULL, "1 to %d people",
                             KN_SUBJECT_MAX);
    kn_subject_group_t group = {.people = people, .count = count, .subjects = subjects};
    if (kn_subject_resolve_many (db, crypto, &group, 1, err))
        return -1;
    memcpy (family_id, group.family_id, KN_UUID_STR);
    *matched = group.matched;
    return 0;
}

int
kn_subject_lock_identity (kn_db_t *db, kn_crypto_t *crypto, const kn_person_t *person,
                          int version, uint8_t index[KN_BLIND_INDEX_BYTES],
                          char holder[KN_UUID_STR], kn_error_t *err)
{
    if (kn_crypto_blind_index_under (crypto, version, person->given_name,
                                     person->family_name, person->date_of_birth, index))
        return kn_error_set (err, KN_E_INTERNAL, NULL,
                             "the key file lacks index version %d", version);
    person_t one = {0};
    versions_t versions;
    versions.n = kn_crypto_index_versions (crypto, versions.versions);
    for (int v = 0; v < versions.n; v++)
        kn_crypto_blind_index_under (crypto, versions.versions[v], person->given_name,
                                     person->family_name, person->date_of_birth,
                                     one.index[v]);
    if (s_lock (db, &one, 1, &versions, err) || s_find_known (db, &one, 1, &versions, err))
        return -1;
    snprintf (holder, KN_UUID_STR, "%s", one.known ? one.id : "");
    return 0;
}

int
kn_subject_lock_for_change (kn_db_t *db, const char *subject_id,
                            char family_id[KN_UUID_STR], kn_error_t *err)
{
    return kn_subject_lock_for_change_many (db, &subject_id, 1,
                                            (char (*)[KN_UUID_STR])family_id, err);
}

//  The people asked for and everyone merged into them, in id order, as rows of
//  kn_subject_index_of; NULL with err.
static PGresult *
s_people_of (kn_db_t *db, const char *const *subject_ids, size_t n, kn_error_t *err)
{
    kn_pgarray_t *asked = kn_pgarray_new ();
    for (size_t i = 0; i < n; i++)
        kn_pgarray_add (asked, subject_ids[i]);
    return kn_pgarray_run (db, "kn_subject_index_of", &asked, 1, err);
}

//  Whether two readings of s_people_of name the same people.
static bool
s_same_people (const PGresult *a, const PGresult *b)
{
    if (PQntuples (a) != PQntuples (b))
        return false;
    for (int r = 0; r < PQntuples (a); r++)
        if (strcmp (PQgetvalue (a, r, 2), PQgetvalue (b, r, 2)) != 0)
            return false;
    return true;
}

int
kn_subject_lock_for_change_many (kn_db_t *db, const char *const *subject_ids, size_t n,
                                 char (*family_ids)[KN_UUID_STR], kn_error_t *err)
{
    PGresult *rows = s_people_of (db, subject_ids, n, err);
    if (!rows)
        return -1;
    int count = PQntuples (rows);
    person_t *people = kn_calloc ((size_t)count + 1, sizeof *people);
    kn_pgarray_t *ids = kn_pgarray_new ();
    size_t found = 0;
    bool readable = true;
    for (int r = 0; r < count; r++) {
        const char *hex = PQgetvalue (rows, r, 0);
        size_t len = 0;
        readable = readable &&
                   sodium_hex2bin (people[r].index[0], sizeof people[r].index[0], hex,
                                   strlen (hex), NULL, &len, NULL) == 0 &&
                   len == sizeof people[r].index[0];
        kn_pgarray_add (ids, PQgetvalue (rows, r, 2));   // in id order: one for all
        for (size_t i = 0; PQgetvalue (rows, r, 3)[0] == 't' && i < n; i++)
            if (strcmp (subject_ids[i], PQgetvalue (rows, r, 2)) == 0) {
                snprintf (family_ids[i], KN_UUID_STR, "%s", PQgetvalue (rows, r, 1));
                found++;
            }
    }
    int rc = !readable  ? kn_error_set (err, KN_E_INTERNAL, NULL, "a stored index is unreadable")
             : found == n ? 0
                          : kn_error_set (err, KN_E_NOT_FOUND, "subject_id", "no such subject");
    //  The indexes' locks first, as a referral takes them (in one sorted order), then
    //  the people's own. The stored indexes, whichever version each is under: a
    //  referral locks a person's index under every version its key file holds, and
    //  every running daemon's file holds every version in use (kn_index_check).
    //  Those merged into a person are locked with them: a change to the person
    //  changes whom their identity finds.
    versions_t stored = {.n = 1};
    if (rc == 0)
        rc = s_lock (db, people, (size_t)count, &stored, err);
    free (people);
    if (rc == 0)
        rc = kn_pgarray_exec (db, "kn_subject_lock_persons", &ids, 1, err);
    kn_pgarray_destroy (&ids);
    //  Read again under the locks: a merge that committed while this waited may have
    //  merged someone more into them, whose index this did not lock.
    PGresult *again = rc == 0 ? s_people_of (db, subject_ids, n, err) : NULL;
    if (rc == 0 && !again)
        rc = -1;
    if (again && !s_same_people (rows, again))
        rc = kn_error_set (err, KN_E_CONFLICT, "subject_id",
                           "the person was merged with another while this request waited:"
                           " send it again");
    PQclear (again);
    PQclear (rows);
    return rc;
}

int
kn_subject_exists (kn_db_t *db, const char *subject_id, char *family_id, kn_error_t *err)
{
    if (!kn_uuid_valid (subject_id))
        return 0;
    const char *values[] = {subject_id};
    PGresult *row = kn_db_run (db, KN_SUBJECT_GET, 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    int found = PQntuples (row) == 1;
    //  Merged into another: their records are that person's now. Who that is is not
    //  said: the agencies that received data about them were told in their feeds.
    int rc = found && PQgetvalue (row, 0, 5)[0] == 't'
                 ? kn_error_set (err, KN_E_CONFLICT, "subject_id",
                                 "the person was merged into another subject: use the id"
                                 " given in the subject.merged event of your feed")
                 : found;
    if (rc > 0 && family_id)
        snprintf (family_id, KN_UUID_STR, "%s", PQgetvalue (row, 0, 0));
    PQclear (row);
    return rc;
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
    PGresult *result = kn_db_run (db, KN_SUBJECT_GET, 1, values, NULL, NULL, err);
    if (!result)
        return -1;
    int age = kn_subject_age_of (db, crypto, result, subject_id, now);
    PQclear (result);
    return age;
}

int
kn_subject_age_of (kn_db_t *db, kn_crypto_t *crypto, PGresult *result,
                   const char *subject_id, time_t now)
{
    int age = -1;
    if (PQntuples (result) == 1 && !PQgetisnull (result, 0, 1)) {
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        //  Erased (or unreadable): the date of birth is not on record.
        kn_error_t ignored;
        if (kn_keys_open_joined (db, crypto, result, 0, 1, 2, subject_id, &plain,
                                 &plain_len, &ignored) == KN_OPENED &&
            plain && plain_len < 16) {
            char date[16];
            memcpy (date, plain, plain_len);
            date[plain_len] = '\0';
            age = kn_age_from_date (date, now);
        }
        free (plain);
    }
    return age;
}

int
kn_subject_add_unlinked (kn_db_t *db, kn_crypto_t *crypto, const char *family_id,
                         const char *twin_of, const char *date_of_birth,
                         char id[KN_UUID_STR], kn_data_key_t *key, kn_error_t *err)
{
    kn_uuid_generate (id);
    uint8_t wrapped[KN_WRAPPED_KEY_BYTES], unlinked[KN_BLIND_INDEX_BYTES];
    int master = 0;
    kn_crypto_data_key_new (crypto, key, wrapped, &master);
    randombytes_buf (unlinked, sizeof unlinked);
    size_t sealed_len = 0;
    uint8_t *sealed = kn_crypto_seal_under (key, (const uint8_t *)date_of_birth,
                                            strlen (date_of_birth), id, &sealed_len);
    if (!sealed)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "sealing failed");
    char version[16], master_text[16];
    snprintf (version, sizeof version, "%d", kn_crypto_index_version (crypto));
    snprintf (master_text, sizeof master_text, "%d", master);
    const char *values[] = {id,   family_id, (const char *)unlinked, (const char *)sealed,
                            version, twin_of, key->id, master_text, (const char *)wrapped};
    int lengths[] = {0, 0, (int)sizeof unlinked, (int)sealed_len, 0, 0, 0, 0,
                     (int)sizeof wrapped};
    int formats[] = {0, 0, 1, 1, 0, 0, 0, 0, 1};
    PGresult *done = kn_db_run (db, "kn_subject_insert_unlinked", 9, values, lengths, formats,
                                err);
    free (sealed);
    PQclear (done);
    return done ? 0 : -1;
}
