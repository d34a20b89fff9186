/*  consent_basis: a statutory basis recorded (a ground other than consent, with
    its justification sealed). One transaction, idempotent by key: the ground and
    its audit row. */
#include "consent_store_int.h"
#include "kn_clock.h"

static const char *s_statements[][2] = {
    {"basis_insert",
     "INSERT INTO consent.basis (id, subject_id, basis, special_condition,"
     " recipient_agencies, recipient_sectors, categories, purposes, valid_from, valid_until,"
     " justification, recorded_by, by_dpo, sector_members) VALUES ($1, $2, $3, $4, $5::uuid[],"
     " $6::smallint[], $7::smallint[], $8::smallint[], to_timestamp ($12::bigint),"
     " to_timestamp ($9::bigint), $10, $11,"
     " " IS_DPO ("$11::uuid") ", " MEMBERS ("$6::smallint[]") ")"},
    {"basis_subject", "SELECT subject_id FROM consent.basis WHERE id = $1"},
};

int
consent_basis_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  The answer: the ground recorded and its subject.
static int
s_recorded (const char *basis_id, const char *subject_id, bool replayed,
            Kinnet__V1__BasisRecorded **recorded)
{
    *recorded = malloc (sizeof **recorded);
    kinnet__v1__basis_recorded__init (*recorded);
    (*recorded)->basis_id = kn_pb_string (basis_id);
    (*recorded)->subject_id = kn_pb_string (subject_id);
    (*recorded)->replayed = replayed;
    return 0;
}

//  A replay's answer: the first request's ground, its subject read back.
static int
s_replayed (consent_store_t *self, const char *basis_id,
            Kinnet__V1__BasisRecorded **recorded, kn_error_t *err)
{
    const char *values[] = {basis_id};
    PGresult *result = kn_db_run (self->db, "basis_subject", 1, values, NULL, NULL, err);
    if (!result)
        return -1;
    char subject_id[KN_UUID_STR] = "";
    if (PQntuples (result) == 1)
        snprintf (subject_id, sizeof subject_id, "%s", PQgetvalue (result, 0, 0));
    PQclear (result);
    return s_recorded (basis_id, subject_id, true, recorded);
}

int
consent_store_basis (consent_store_t *self, const char *agency_id,
                     const Kinnet__V1__RecordBasis *basis,
                     Kinnet__V1__BasisRecorded **recorded, kn_error_t *err)
{
    *recorded = NULL;
    kn_write_t w = self->write;
    kn_uuid_generate_ordered (w.object_id);
    kn_claim_t claim = kn_write_begin (&w, agency_id, "basis", &basis->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY ? s_replayed (self, w.object_id, recorded, err)
                                        : -1;
    const char *basis_id = w.object_id;
    char subject_id[KN_UUID_STR], basis_name[48];
    if (consent_subject (self, basis->subject, subject_id, err) ||
        consent_agencies_exist (self, basis->scope, err))
        goto fail;
    scope_text_t scope;
    consent_scope_text (basis->scope, &scope);
    size_t sealed_len = 0;
    uint8_t *sealed = kn_keys_seal (self->db, self->crypto, subject_id,
                                    (const uint8_t *)basis->justification,
                                    strlen (basis->justification), basis_id, &sealed_len,
                                    err);
    if (!sealed)
        goto fail;
    char kind[8], condition[8], until[24] = "", from[24];
    //  Valid from now, as every rule reads the time (kn_clock).
    snprintf (from, sizeof from, "%lld", (long long)kn_clock_now ());
    snprintf (kind, sizeof kind, "%d", basis->basis);
    snprintf (condition, sizeof condition, "%d", basis->special_condition);
    if (basis->valid_until)
        snprintf (until, sizeof until, "%lld", (long long)basis->valid_until->seconds);
    const char *values[] = {basis_id,
                            subject_id,
                            kind,
                            condition,
                            scope.agencies,
                            scope.sectors,
                            scope.categories,
                            scope.purposes,
                            until[0] ? until : NULL,
                            (const char *)sealed,
                            agency_id,
                            from};
    int lengths[12] = {0}, formats[12] = {0};
    lengths[9] = (int)sealed_len;
    formats[9] = 1;
    PGresult *result =
        kn_db_run (self->db, "basis_insert", 12, values, lengths, formats, err);
    free (sealed);
    if (!result)
        goto fail;
    PQclear (result);
    consent_enum_name (&kinnet__v1__lawful_basis__descriptor, basis->basis, basis_name,
                       sizeof basis_name);
    w.audit.subject_ref = subject_id;
    w.audit.basis = basis_name;
    if (kn_write_commit (&w, err))
        goto fail;
    return s_recorded (basis_id, subject_id, false, recorded);

fail:
    return kn_write_abort (&w);
}
