/*  kn_keys: the per-person data keys of core.data_key (kn_crypto.h explains the
    envelope). A subject's key is made the first time something about them is sealed,
    inside the caller's transaction, and read back (unwrapped) for every value opened:
    nothing is cached, so an erased key opens nothing from the next statement on. */
#ifndef KN_KEYS_H_INCLUDED
#define KN_KEYS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"

//  The advisory lock key of one person (SQL over a uuid expression): shared by
//  whoever seals something new about them (kn_keys_seal), exclusive for a change
//  to the person as a whole (kn_subject_lock_for_change).
#define KN_SUBJECT_LOCK(id) "hashtextextended ('kinnet.subject:' || " id "::text, 0)"

//  The statements kn_keys_for_subjects runs (kn_subject_prepare calls it).
int kn_keys_prepare (kn_db_t *db, kn_error_t *err);

//  The data keys of subjects[0..n) in out[0..n), making those they lack, inside the
//  caller's transaction. KN_E_CONFLICT (field subject_id) when one was erased:
//  nothing new is sealed about an erased person.
int kn_keys_for_subjects (kn_db_t *db, kn_crypto_t *crypto, const char *const *subjects,
                          size_t n, kn_data_key_t *out, kn_error_t *err);

//  Seal plain (bound to ad) under subject_id's data key; NULL with err. Holds the
//  person's lock (KN_SUBJECT_LOCK) shared until the caller's transaction ends, so
//  an erasure cannot decide about them in between.
uint8_t *kn_keys_seal (kn_db_t *db, kn_crypto_t *crypto, const char *subject_id,
                       const uint8_t *plain, size_t len, const char *ad,
                       size_t *sealed_len, kn_error_t *err);

typedef enum {
    KN_OPENED = 0,
    KN_ERASED = 1,   // its data key was destroyed: the person's data was erased
} kn_open_t;

//  Open a sealed value of either format into *plain (malloc'd, caller zeroes and
//  frees): KN_OPENED, KN_ERASED (*plain NULL), or -1 with err when it does not
//  authenticate, names no key on record, or the database failed.
int kn_keys_open (kn_db_t *db, kn_crypto_t *crypto, const uint8_t *sealed, size_t len,
                  const char *ad, uint8_t **plain, size_t *plain_len, kn_error_t *err);

//  kn_keys_open of a bytea column in text form (row r, column c of result); a NULL
//  column opens to *plain NULL, KN_OPENED.
int kn_keys_open_column (kn_db_t *db, kn_crypto_t *crypto, const PGresult *result, int r,
                         int c, const char *ad, uint8_t **plain, size_t *plain_len,
                         kn_error_t *err);

//  kn_keys_open_column with the data key read in the same query (a join on
//  core.data_key): columns c_key, c_key + 1 and c_key + 2 of row r are its id,
//  master_version and wrapped. Saves the round trip when the value is sealed under
//  that key; otherwise (format 1, another key) it is kn_keys_open_column.
int kn_keys_open_joined (kn_db_t *db, kn_crypto_t *crypto, const PGresult *result, int r,
                         int c, int c_key, const char *ad, uint8_t **plain,
                         size_t *plain_len, kn_error_t *err);

//  The same as a NUL-terminated string, malloc'd: "" when the column is NULL, its
//  person was erased, or it does not open (for text shown beside other data: a
//  reason, a note).
char *kn_keys_open_text (kn_db_t *db, kn_crypto_t *crypto, const PGresult *result, int r,
                         int c, const char *ad);

#endif
