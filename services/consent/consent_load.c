/*  consent_load: a stored consent back as a message. The personal part (the
    guardian, the evidence reference, the caseworker) is opened with the field key,
    the withdrawals are read with it, and the status (active, partly or fully
    withdrawn, expired, not yet valid) is worked out from them and the clock. No
    decision about who may see it is made here: that is consent_read's. */
#include "consent_store_int.h"
#include "kn_clock.h"
#include "kn_alloc.h"

static const char *s_statements[][2] = {
    {"record_get", "SELECT " RECORD_COLUMNS " FROM consent.record WHERE id = $1"},
    {"withdrawals",
     "SELECT id, recipient_agencies, recipient_sectors, categories, purposes, channel,"
     " recorded_by, " EPOCH (
         "at") " FROM consent.withdrawal WHERE consent_id = $1 ORDER BY at"},
};

int
consent_load_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  Open a sealed bytea column (text-format result) into a malloc'd buffer; NULL
//  when erased or unreadable.
static uint8_t *
s_open (consent_store_t *self, PGresult *result, int row, int column, const char *ad,
        size_t *len)
{
    uint8_t *plain = NULL;
    kn_error_t ignored;
    kn_keys_open_column (self->db, self->crypto, result, row, column, ad, &plain, len,
                         &ignored);
    return plain;
}

static Kinnet__V1__Consent *
s_consent_from_row (consent_store_t *self, PGresult *result, int row, kn_error_t *err)
{
    const char *id = PQgetvalue (result, row, 0);
    size_t plain_len = 0;
    uint8_t *plain = s_open (self, result, row, 13, id, &plain_len);
    Kinnet__V1__RecordConsent *original =
        plain ? kinnet__v1__record_consent__unpack (NULL, plain_len, plain) : NULL;
    if (plain)
        sodium_memzero (plain, plain_len);
    free (plain);
    if (!original) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "stored consent cannot be decrypted");
        return NULL;
    }
    Kinnet__V1__Consent *consent = kn_malloc (sizeof *consent);
    kinnet__v1__consent__init (consent);
    consent->consent_id = kn_pb_string (id);
    consent->subject_id = kn_pb_string (PQgetvalue (result, row, 1));
    consent->given_by = atoi (PQgetvalue (result, row, 2));
    consent->guardian = original->guardian; // moved
    original->guardian = NULL;
    consent->scope =
        consent_scope_from (PQgetvalue (result, row, 3), PQgetvalue (result, row, 4),
                            PQgetvalue (result, row, 5), PQgetvalue (result, row, 6));
    int64_t from = strtoll (PQgetvalue (result, row, 7), NULL, 10);
    int64_t until = strtoll (PQgetvalue (result, row, 8), NULL, 10);
    consent->valid_from = kn_pb_timestamp (from);
    consent->valid_until = kn_pb_timestamp (until);
    consent->method = atoi (PQgetvalue (result, row, 9));
    consent->evidence_reference = kn_pb_string (original->evidence_reference);
    consent->privacy_notice_version = kn_pb_string (PQgetvalue (result, row, 10));
    consent->privacy_notice_language = kn_pb_string (PQgetvalue (result, row, 11));
    consent->interpreter_used = PQgetvalue (result, row, 12)[0] == 't';
    consent->recorded_by_agency_id = kn_pb_string (PQgetvalue (result, row, 14));
    consent->caseworker_id = kn_pb_string (original->caseworker_id);
    consent->recorded_at =
        kn_pb_timestamp (strtoll (PQgetvalue (result, row, 15), NULL, 10));
    kinnet__v1__record_consent__free_unpacked (original, NULL);

    const char *values[] = {id};
    PGresult *rows = kn_db_run (self->db, "withdrawals", 1, values, NULL, NULL, err);
    if (!rows) {
        kinnet__v1__consent__free_unpacked (consent, NULL);
        return NULL;
    }
    int n = PQntuples (rows);
    consent->withdrawals = kn_malloc ((n ? n : 1) * sizeof (Kinnet__V1__Withdrawal *));
    consent->n_withdrawals = (size_t)n;
    bool full = false;
    for (int i = 0; i < n; i++) {
        Kinnet__V1__Withdrawal *w = kn_malloc (sizeof *w);
        kinnet__v1__withdrawal__init (w);
        w->withdrawal_id = kn_pb_string (PQgetvalue (rows, i, 0));
        w->scope = consent_scope_from (PQgetvalue (rows, i, 1), PQgetvalue (rows, i, 2),
                                       PQgetvalue (rows, i, 3), PQgetvalue (rows, i, 4));
        w->channel = atoi (PQgetvalue (rows, i, 5));
        w->recorded_by_agency_id = kn_pb_string (PQgetvalue (rows, i, 6));
        w->at = kn_pb_timestamp (strtoll (PQgetvalue (rows, i, 7), NULL, 10));
        full |= w->scope->n_agencies + w->scope->n_sectors + w->scope->n_categories +
                    w->scope->n_purposes ==
                0;
        consent->withdrawals[i] = w;
    }
    PQclear (rows);
    time_t now = (time_t) kn_clock_now ();
    consent->status = full ? KINNET__V1__CONSENT_STATUS__FULLY_WITHDRAWN
                      : until && until <= now ? KINNET__V1__CONSENT_STATUS__EXPIRED
                      : from > now            ? KINNET__V1__CONSENT_STATUS__NOT_YET_VALID
                      : n > 0 ? KINNET__V1__CONSENT_STATUS__PARTLY_WITHDRAWN
                              : KINNET__V1__CONSENT_STATUS__ACTIVE;
    return consent;
}

Kinnet__V1__Consent *
consent_load (consent_store_t *self, const char *consent_id, kn_error_t *err)
{
    const char *values[] = {consent_id};
    PGresult *result = kn_db_run (self->db, "record_get", 1, values, NULL, NULL, err);
    if (!result)
        return NULL;
    Kinnet__V1__Consent *consent = NULL;
    if (PQntuples (result) == 1)
        consent = s_consent_from_row (self, result, 0, err);
    else
        kn_error_set (err, KN_E_NOT_FOUND, "consent_id", "no such consent");
    PQclear (result);
    return consent;
}

Kinnet__V1__ConsentList *
consent_list (consent_store_t *self, PGresult *result, kn_error_t *err)
{
    Kinnet__V1__ConsentList *list = kn_malloc (sizeof *list);
    kinnet__v1__consent_list__init (list);
    int n = PQntuples (result);
    list->consents = kn_malloc ((n ? n : 1) * sizeof (Kinnet__V1__Consent *));
    for (int i = 0; i < n; i++) {
        Kinnet__V1__Consent *consent = s_consent_from_row (self, result, i, err);
        if (!consent) {
            kinnet__v1__consent_list__free_unpacked (list, NULL);
            return NULL;
        }
        list->consents[list->n_consents++] = consent;
    }
    return list;
}
