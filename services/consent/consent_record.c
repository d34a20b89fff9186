/*  consent_record: a family's consent recorded. One transaction, idempotent by
    key: the record (its personal part sealed, bound to the consent id), the
    consent.recorded event and the audit row. A sector grant keeps the sector's
    members at recording, and a data-protection officer's ground counts for every
    controller's data. */
#include "consent_store_int.h"
#include "kn_clock.h"
#include "kn_alloc.h"

static const char *s_statements[][2] = {
    {"record_insert",
     "INSERT INTO consent.record (id, subject_id, given_by, recipient_agencies,"
     " recipient_sectors, categories, purposes, valid_from, valid_until, method,"
     " notice_version, notice_language, interpreter_used, personal, recorded_by, by_dpo,"
     " sector_members)"
     " VALUES ($1, $2, $3, $4::uuid[], $5::smallint[], $6::smallint[], $7::smallint[],"
     " to_timestamp ($8::bigint), to_timestamp ($9::bigint), $10, $11,"
     " $12, $13, $14, $15, " IS_DPO ("$15::uuid") ", " MEMBERS ("$5::smallint[]") ")"},
};

int
consent_record_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

int
consent_store_record (consent_store_t *self, const char *agency_id,
                      const Kinnet__V1__RecordConsent *record,
                      Kinnet__V1__Consent **consent, kn_error_t *err)
{
    *consent = NULL;
    kn_write_t w = self->write;
    kn_uuid_generate_ordered (w.object_id);
    kn_claim_t claim = kn_write_begin (&w, agency_id, "record", &record->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY
                   ? consent_replayed (self, w.object_id, consent, err)
                   : -1;
    char *consent_id = w.object_id;
    char subject_id[KN_UUID_STR];
    if (consent_subject (self, record->subject, subject_id, err) ||
        consent_agencies_exist (self, record->scope, err))
        goto fail;

    scope_text_t scope;
    consent_scope_text (record->scope, &scope);
    size_t plain_len = kinnet__v1__record_consent__get_packed_size (record);
    uint8_t *plain = kn_malloc (plain_len ? plain_len : 1);
    kinnet__v1__record_consent__pack (record, plain);
    size_t sealed_len = 0;
    uint8_t *sealed = kn_keys_seal (self->db, self->crypto, subject_id, plain, plain_len,
                                    consent_id, &sealed_len, err);
    sodium_memzero (plain, plain_len);
    free (plain);
    if (!sealed)
        goto fail;
    char given_by[8], from[24] = "", until[24] = "", method[8];
    snprintf (given_by, sizeof given_by, "%d", record->given_by);
    //  Valid from now (kn_clock's, as every rule reads it) unless the record says.
    int64_t now = kn_clock_now ();
    snprintf (from, sizeof from, "%lld",
              (long long)(record->valid_from ? record->valid_from->seconds : now));
    if (record->valid_until)
        snprintf (until, sizeof until, "%lld", (long long)record->valid_until->seconds);
    snprintf (method, sizeof method, "%d", record->method);
    const char *values[] = {consent_id,
                            subject_id,
                            given_by,
                            scope.agencies,
                            scope.sectors,
                            scope.categories,
                            scope.purposes,
                            from,
                            until[0] ? until : NULL,
                            method,
                            record->privacy_notice_version,
                            record->privacy_notice_language,
                            record->interpreter_used ? "t" : "f",
                            (const char *)sealed,
                            agency_id};
    int lengths[15] = {0};
    int formats[15] = {0};
    lengths[13] = (int)sealed_len;
    formats[13] = 1;
    PGresult *result =
        kn_db_run (self->db, "record_insert", 15, values, lengths, formats, err);
    free (sealed);
    if (!result)
        goto fail;
    PQclear (result);

    Kinnet__V1__ConsentRecorded event = KINNET__V1__CONSENT_RECORDED__INIT;
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = now;
    event.consent_id = consent_id;
    event.subject_id = subject_id;
    event.recorded_by_agency_id = (char *)agency_id;
    event.recorded_at = &at;
    w.audit.subject_ref = subject_id;
    w.audit.basis = "consent";
    if (consent_outbox (self, "consent.recorded", consent_id, &event.base, err) ||
        kn_write_commit (&w, err))
        goto fail;
    *consent = consent_load (self, consent_id, err);
    return *consent ? 0 : -1;

fail:
    return kn_write_abort (&w);
}
