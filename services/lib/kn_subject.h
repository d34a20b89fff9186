/*  kn_subject: the shared registry of subjects (children and family members) and
    families in core.subject / core.family. A person is found by the keyed blind
    index of their normalised name and date of birth, never by clear text; the date
    of birth is kept sealed, for the consent policy's age rule.
    The index is keyed by a versioned key (kn_crypto.h): a person is looked up under
    every version the key file holds, so one indexed under an older version is found
    while a re-index (kn_index.h) moves everyone to the current one; a new subject is
    stored under the current version.
    Runs inside the caller's transaction: a transaction-scoped advisory lock per
    index and version (all of a call's taken in one statement, in sorted order)
    serialises two requests naming the same new person, so they resolve to one
    subject, even from two processes that disagree on the current version. A new
    subject gets its data key (kn_keys) with it, and its date of birth is sealed
    under it, in the statement that inserts them. A batch of groups costs four
    statements whatever its size, five when it asks for the keys of people already
    known. */
#ifndef KN_SUBJECT_H_INCLUDED
#define KN_SUBJECT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"
#include "kn_keys.h"
#include "kn_uuid.h"

typedef struct {
    const char *given_name;
    const char *family_name;
    const char *date_of_birth;   // YYYY-MM-DD
} kn_person_t;

#define KN_SUBJECT_MAX 32

int kn_subject_prepare (kn_db_t *db, kn_error_t *err);

//  Resolve people[0..count) to subjects of one family, creating what is unknown.
//  subjects[i] receives people[i]'s id; family_id the family; *matched whether any
//  of them was already known (their family is then used).
int kn_subject_resolve (kn_db_t *db, kn_crypto_t *crypto, const kn_person_t *people,
                        size_t count, char subjects[][KN_UUID_STR],
                        char family_id[KN_UUID_STR], bool *matched, kn_error_t *err);

//  One group of a batch: a referral's children, resolved to one family.
typedef struct {
    const kn_person_t *people;        // in: 1 to KN_SUBJECT_MAX people
    size_t count;
    char (*subjects)[KN_UUID_STR];    // out: count ids, people[i]'s in subjects[i]
    char family_id[KN_UUID_STR];      // out
    bool matched;                     // out: someone was known already
    kn_data_key_t *keys;              // out when not NULL: count data keys (kn_keys),
                                      // people[i]'s in keys[i]; the caller zeroes them
} kn_subject_group_t;

//  Resolve n groups as kn_subject_resolve would one after the other: a later group
//  finds the people an earlier one introduced.
int kn_subject_resolve_many (kn_db_t *db, kn_crypto_t *crypto, kn_subject_group_t *groups,
                             size_t n, kn_error_t *err);

//  A new person in family_id whom no identity finds (random index bytes, split_from
//  twin_of), with their data key (into key) and their date of birth sealed under it:
//  for a mention that would find a person already named in the same referral (two
//  identities merged into one person). id receives them.
int kn_subject_add_unlinked (kn_db_t *db, kn_crypto_t *crypto, const char *family_id,
                             const char *twin_of, const char *date_of_birth,
                             char id[KN_UUID_STR], kn_data_key_t *key, kn_error_t *err);

//  Lock a known person, for this transaction, against a referral naming them and
//  against anything new being sealed about them: the lock on their blind index (the
//  one a referral takes before it looks them up), then their own, exclusively. For
//  an erasure, before it decides: whatever names the person either committed before
//  (and is seen) or waits until it is over. family_id receives their family.
//  NOT_FOUND (field subject_id) when there is no such subject.
int kn_subject_lock_for_change (kn_db_t *db, const char *subject_id,
                                char family_id[KN_UUID_STR], kn_error_t *err);

//  The same for several people at once (a merge), each with everyone merged into
//  them: every index lock, in one sorted order, then every person's own. family_ids[i]
//  receives subject_ids[i]'s family. NOT_FOUND when one of them is not on record.
int kn_subject_lock_for_change_many (kn_db_t *db, const char *const *subject_ids, size_t n,
                                     char (*family_ids)[KN_UUID_STR], kn_error_t *err);

//  Before a person's identity is changed to person's (a rectification): lock that
//  identity for this transaction under every index version, as a referral naming it
//  does before it looks it up, and find who holds it. index receives it under
//  version (the one the person's stored index is under, which the change keeps: a
//  re-index moves it on), holder the subject on record with it under any version
//  ("" when nobody).
int kn_subject_lock_identity (kn_db_t *db, kn_crypto_t *crypto, const kn_person_t *person,
                              int version, uint8_t index[KN_BLIND_INDEX_BYTES],
                              char holder[KN_UUID_STR], kn_error_t *err);

//  1 when subject_id names a subject, 0 when not, -1 on error, and -1 with CONFLICT
//  (field subject_id) when it was merged into another (nothing is recorded about it
//  any more). family_id (may be NULL) receives its family.
int kn_subject_exists (kn_db_t *db, const char *subject_id, char *family_id,
                       kn_error_t *err);

//  Whole years of age at now, or -1 when the date of birth is not on record.
int kn_subject_age (kn_db_t *db, kn_crypto_t *crypto, const char *subject_id, time_t now,
                    kn_error_t *err);

//  The prepared read kn_subject_age makes (one parameter: the subject id), for a
//  caller that sends it with others in one round trip (kn_db_run_each), and the age
//  from its result.
#define KN_SUBJECT_GET "kn_subject_get"
//  Its row, for a caller reading a subject found another way (append the WHERE on s):
//  kn_subject_age_of reads any row of this shape.
#define KN_SUBJECT_ROW                                                                     \
    "SELECT s.family_id, s.birth_date, k.id, k.master_version, k.wrapped,"                 \
    " s.merged_into IS NOT NULL FROM core.subject s"                                       \
    " LEFT JOIN core.data_key k ON k.subject_id = s.id"
int kn_subject_age_of (kn_db_t *db, kn_crypto_t *crypto, PGresult *result,
                       const char *subject_id, time_t now);

//  Age in whole years of a YYYY-MM-DD date at now; -1 when not a date.
int kn_age_from_date (const char *date_of_birth, time_t now);

#endif
