/*  intake_get: a referral read back and opened with the field key. The referring
    agency sees all of it, any other agency what intake_disclose leaves. The read's
    audit row and disclosure records commit with it, or nothing is returned. */
#include "intake_store_int.h"
#include "kn_alloc.h"

static const char *s_statements[][2] = {
    //  Also run by intake_withdraw.c (a replay reads the state back).
    {"referral_get", "SELECT referring_agency_id, family_id, status,"
                     " (extract(epoch FROM received_at) * 1000000)::bigint,"
                     " coalesce((extract(epoch FROM withdrawn_at) * 1000000)::bigint, 0),"
                     " personal, withdraw_reason, family_disclosed"
                     " FROM intake.referral WHERE id = $1"},
    //  The people of a referral, each with their own sealed part (NULL for a
    //  referral stored before per-person parts: its people are inside personal).
    //  Each with their data key, read in the same query (kn_keys_open_joined).
    {"referral_people",
     "SELECT rs.subject_id, rs.personal, k.id, k.master_version, k.wrapped"
     " FROM intake.referral_subject rs"
     " LEFT JOIN core.data_key k ON k.subject_id = rs.subject_id"
     " WHERE rs.referral_id = $1 ORDER BY rs.position"},
};

int
intake_get_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

void
intake_referral_free (intake_referral_t *referral)
{
    if (!referral)
        return;
    free (referral->withdraw_reason);
    referral->withdraw_reason = NULL;
    if (referral->submitted)
        kinnet__v1__submit_referral__free_unpacked (referral->submitted, NULL);
    referral->submitted = NULL;
}

//  Open a sealed bytea column (text-format result) into a malloc'd buffer: NULL when
//  empty, erased (*erased set) or unreadable (err set).
static uint8_t *
s_open_column (intake_store_t *self, PGresult *row, int column, const char *ad,
               size_t *len, bool *erased, kn_error_t *err)
{
    uint8_t *plain = NULL;
    int rc = kn_keys_open_column (self->db, self->crypto, row, 0, column, ad, &plain, len,
                                  err);
    *erased = *erased || rc == KN_ERASED;
    return plain;
}

//  A person whose data was erased: every field empty.
static Kinnet__V1__Person *
s_erased_person (void)
{
    Kinnet__V1__Person *person = kn_malloc (sizeof *person);
    kinnet__v1__person__init (person);
    person->erased = true;
    return person;
}

//  Put each person's own part back into the referral (child first, then siblings,
//  in their order): opened under their own key, or marked erased.
static int
s_add_people (intake_store_t *self, const char *referral_id,
              Kinnet__V1__SubmitReferral *submitted, kn_error_t *err)
{
    if (submitted->child)
        return 0;   // stored before per-person parts: the people are inside
    const char *values[] = {referral_id};
    PGresult *rows = kn_db_run (self->db, "referral_people", 1, values, NULL, NULL, err);
    if (!rows)
        return -1;
    int n = PQntuples (rows), rc = 0;
    Kinnet__V1__Person **people = kn_calloc (n ? (size_t)n : 1, sizeof *people);
    for (int r = 0; r < n && rc == 0; r++) {
        char ad[2 * KN_UUID_STR + 2];
        snprintf (ad, sizeof ad, "%s:%s", referral_id, PQgetvalue (rows, r, 0));
        uint8_t *plain = NULL;
        size_t len = 0;
        int opened =
            kn_keys_open_joined (self->db, self->crypto, rows, r, 1, 2, ad, &plain, &len, err);
        //  No part: the person was erased before their part was split out of a
        //  referral from before per-person parts (kn_keys_rotate).
        if (opened == KN_ERASED || (opened == KN_OPENED && PQgetisnull (rows, r, 1)))
            people[r] = s_erased_person ();
        else if (opened == KN_OPENED && plain) {
            people[r] = kinnet__v1__person__unpack (NULL, len, plain);
            sodium_memzero (plain, len);
        }
        if (!people[r] && opened != -1)
            kn_error_set (err, KN_E_INTERNAL, NULL, "a person's part does not unpack");
        rc = people[r] ? 0 : -1;
        free (plain);
    }
    PQclear (rows);
    if (rc == 0 && n > 0) {
        submitted->child = people[0];
        submitted->n_siblings = (size_t)n - 1;
        submitted->siblings = n > 1 ? kn_calloc ((size_t)n - 1, sizeof *people) : NULL;
        for (int r = 1; r < n; r++)
            submitted->siblings[r - 1] = people[r];
    }
    else
        for (int r = 0; r < n; r++)
            if (people[r])
                kinnet__v1__person__free_unpacked (people[r], NULL);
    free (people);
    return rc;
}

static int
s_get_once (intake_store_t *self, const char *agency_id, const char *referral_id,
            const char *caseworker_id, int purpose, intake_referral_t *referral,
            kn_error_t *err)
{
    memset (referral, 0, sizeof *referral);
    if (kn_db_ensure (self->db, err))
        return -1;
    if (kn_db_begin_write (self->db, NULL, err))
        return -1;
    const char *values[] = {referral_id};
    PGresult *row = kn_db_run (self->db, "referral_get", 1, values, NULL, NULL, err);
    if (!row) {
        intake_rollback (self);
        return -1;
    }
    if (PQntuples (row) != 1) {
        PQclear (row);
        intake_rollback (self);
        return kn_error_set (err, KN_E_NOT_FOUND, "referral_id", "no such referral");
    }
    bool own = strcmp (PQgetvalue (row, 0, 0), agency_id) == 0;
    snprintf (referral->referral_id, KN_UUID_STR, "%s", referral_id);
    snprintf (referral->agency_id, KN_UUID_STR, "%s", PQgetvalue (row, 0, 0));
    snprintf (referral->family_id, KN_UUID_STR, "%s", PQgetvalue (row, 0, 1));
    referral->status = intake_status_value (PQgetvalue (row, 0, 2));
    referral->received_at_us = strtoll (PQgetvalue (row, 0, 3), NULL, 10);
    referral->withdrawn_at_us = strtoll (PQgetvalue (row, 0, 4), NULL, 10);
    referral->family_known = PQgetvalue (row, 0, 7)[0] == 't';

    size_t plain_len = 0;
    bool erased = false;
    kn_error_t open_err;
    kn_error_clear (&open_err);
    uint8_t *plain =
        s_open_column (self, row, 5, referral_id, &plain_len, &erased, &open_err);
    if (plain) {
        referral->submitted =
            kinnet__v1__submit_referral__unpack (NULL, plain_len, plain);
        sodium_memzero (plain, plain_len);
        free (plain);
    }
    if (!PQgetisnull (row, 0, 6)) {
        char ad[KN_UUID_STR + 16];
        snprintf (ad, sizeof ad, "%s:withdraw", referral_id);
        size_t reason_len = 0;
        uint8_t *reason =
            s_open_column (self, row, 6, ad, &reason_len, &erased, &open_err);
        if (reason) {
            referral->withdraw_reason = kn_malloc (reason_len + 1);
            memcpy (referral->withdraw_reason, reason, reason_len);
            referral->withdraw_reason[reason_len] = '\0';
            free (reason);
        }
    }
    PQclear (row);
    if (erased) {
        intake_rollback (self);
        intake_referral_free (referral);
        return kn_error_set (err, KN_E_NOT_FOUND, "referral_id",
                             "the referral's personal data was erased");
    }
    if (referral->submitted &&
        s_add_people (self, referral_id, referral->submitted, &open_err)) {
        kinnet__v1__submit_referral__free_unpacked (referral->submitted, NULL);
        referral->submitted = NULL;
    }
    if (!referral->submitted) {
        intake_rollback (self);
        intake_referral_free (referral);
        if (open_err.code == KN_E_SERVICE_UNAVAILABLE) {
            *err = open_err;
            return -1;
        }
        kn_log (KN_ERROR, "referral.decrypt_failed", "referral_id", referral_id, NULL);
        return kn_error_set (err, KN_E_INTERNAL, NULL,
                             "stored referral cannot be decrypted with the current keys");
    }
    //  The disclosure and its ground are on record before the data leaves.
    char basis[48] = "referring_agency";
    if (!own &&
        intake_disclose (self, agency_id, purpose, referral, basis, sizeof basis, err)) {
        intake_rollback (self);
        intake_referral_free (referral);
        return -1;
    }
    if (intake_audit (self, agency_id, caseworker_id, "get", referral->family_id,
                      referral_id, basis, "ok", err) ||
        kn_db_exec (self->db, "COMMIT", err)) {
        intake_rollback (self);
        intake_referral_free (referral);
        return -1;
    }
    return 0;
}

int
intake_store_get (intake_store_t *self, const char *agency_id, const char *referral_id,
                  const char *caseworker_id, int purpose, intake_referral_t *referral,
                  kn_error_t *err)
{
    int rc =
        s_get_once (self, agency_id, referral_id, caseworker_id, purpose, referral, err);
    if (rc && intake_reconnected (self, err))
        rc = s_get_once (self, agency_id, referral_id, caseworker_id, purpose, referral,
                         err);
    return rc;
}
