/*  consent_receipt: a consent as a receipt for the family, in Kantara Consent
    Receipt v1.1 fields with ISO/IEC TS 27560 record events (given, withdrawn).
    Read through consent_store_read, so it is decided, logged and audited as a
    read ("receipt"). */
#include "consent_store_int.h"

#include <jansson.h>

static const char *s_statements[][2] = {
    {"agency_name", "SELECT name, sector FROM core.agency WHERE id = $1"},
};

int
consent_receipt_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

static json_t *
s_enum_array (const ProtobufCEnumDescriptor *descriptor, const int *values, size_t n)
{
    json_t *array = json_array ();
    char name[64];
    for (size_t i = 0; i < n; i++)
        json_array_append_new (array, json_string (consent_enum_name (
                                          descriptor, values[i], name, sizeof name)));
    return array;
}

static json_t *
s_receipt (consent_store_t *self, const Kinnet__V1__Consent *consent)
{
    char name[64];
    json_t *controllers = json_array ();
    const char *values[] = {consent->recorded_by_agency_id};
    kn_error_t err;
    PGresult *result = kn_db_run (self->db, "agency_name", 1, values, NULL, NULL, &err);
    if (result && PQntuples (result) == 1)
        json_array_append_new (controllers,
                               json_pack ("{s:s,s:s,s:s}", "piiController",
                                          PQgetvalue (result, 0, 0), "piiControllerId",
                                          consent->recorded_by_agency_id, "sector",
                                          PQgetvalue (result, 0, 1)));
    PQclear (result);
    const Kinnet__V1__Scope *scope = consent->scope;
    json_t *third_parties = json_array ();
    for (size_t i = 0; i < scope->n_agencies; i++) {
        const char *agency[] = {scope->agencies[i]};
        result = kn_db_run (self->db, "agency_name", 1, agency, NULL, NULL, &err);
        json_array_append_new (
            third_parties,
            json_pack ("{s:s,s:s}", "agencyId", scope->agencies[i], "name",
                       result && PQntuples (result) ? PQgetvalue (result, 0, 0) : ""));
        PQclear (result);
    }
    for (size_t i = 0; i < scope->n_sectors; i++)
        json_array_append_new (
            third_parties,
            json_pack ("{s:s}", "sector",
                       consent_enum_name (&kinnet__v1__agency_sector__descriptor,
                                          scope->sectors[i], name, sizeof name)));
    bool sensitive = false;
    for (size_t i = 0; i < scope->n_categories; i++)
        sensitive |=
            scope->categories[i] != KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT &&
            scope->categories[i] != KINNET__V1__DATA_CATEGORY__EDUCATION;
    json_t *purposes = json_array ();
    for (size_t i = 0; i < scope->n_purposes; i++) {
        consent_enum_name (&kinnet__v1__purpose__descriptor, scope->purposes[i], name,
                           sizeof name);
        json_array_append_new (
            purposes,
            json_pack ("{s:s,s:[s],s:s,s:o,s:b,s:s,s:b,s:O}", "purpose", name,
                       "purposeCategory", name, "consentType", "EXPLICIT", "piiCategory",
                       s_enum_array (&kinnet__v1__data_category__descriptor,
                                     (const int *)scope->categories, scope->n_categories),
                       "primaryPurpose", i == 0, "termination",
                       consent->valid_until ? "at valid_until, or on withdrawal"
                                            : "on withdrawal",
                       "thirdPartyDisclosure", json_array_size (third_parties) > 0,
                       "thirdPartyName", third_parties));
    }
    json_t *events = json_array ();
    json_array_append_new (events,
                           json_pack ("{s:s,s:I,s:s}", "event", "given", "timestamp",
                                      (json_int_t)consent->recorded_at->seconds, "by",
                                      consent->recorded_by_agency_id));
    for (size_t i = 0; i < consent->n_withdrawals; i++) {
        const Kinnet__V1__Withdrawal *w = consent->withdrawals[i];
        const Kinnet__V1__Scope *ws = w->scope;
        bool all =
            ws->n_agencies + ws->n_sectors + ws->n_categories + ws->n_purposes == 0;
        json_array_append_new (
            events,
            json_pack ("{s:s,s:I,s:s,s:s,s:o,s:o}", "event",
                       all ? "withdrawn" : "partly_withdrawn", "timestamp",
                       (json_int_t)(w->at ? w->at->seconds : 0), "by",
                       w->recorded_by_agency_id, "channel",
                       consent_enum_name (&kinnet__v1__collection_method__descriptor,
                                          w->channel, name, sizeof name),
                       "categories",
                       s_enum_array (&kinnet__v1__data_category__descriptor,
                                     (const int *)ws->categories, ws->n_categories),
                       "purposes",
                       s_enum_array (&kinnet__v1__purpose__descriptor,
                                     (const int *)ws->purposes, ws->n_purposes)));
    }
    json_decref (third_parties);
    char method[32], status[32], giver[32];
    json_t *receipt = json_pack (
        "{s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:[{s:s,s:o}],s:b,s:o,s:s,s:s,s:b,s:s,s:o}",
        "version", "KI-CR-v1.1.0", "jurisdiction",
        kn_config_str ("KINNET_JURISDICTION", "GB"), "consentTimestamp",
        (json_int_t)consent->recorded_at->seconds, "collectionMethod",
        consent_enum_name (&kinnet__v1__collection_method__descriptor, consent->method,
                           method, sizeof method),
        "consentReceiptID", consent->consent_id, "language",
        consent->privacy_notice_language, "piiPrincipalId", consent->subject_id,
        "policyUrl", consent->privacy_notice_version, "piiControllers", controllers,
        "publicKey", "", "services", "service",
        "Kinnet: coordination of support around a family", "purposes", purposes,
        "sensitive", sensitive, "spiCat",
        s_enum_array (&kinnet__v1__data_category__descriptor,
                      (const int *)scope->categories, scope->n_categories),
        "givenBy",
        consent_enum_name (&kinnet__v1__consent_giver__descriptor, consent->given_by,
                           giver, sizeof giver),
        "evidenceReference", consent->evidence_reference, "interpreterUsed",
        consent->interpreter_used, "status",
        consent_enum_name (&kinnet__v1__consent_status__descriptor, consent->status,
                           status, sizeof status),
        "events", events);
    if (consent->valid_until)
        json_object_set_new (receipt, "validUntil",
                             json_integer ((json_int_t)consent->valid_until->seconds));
    return receipt;
}

int
consent_store_receipt (consent_store_t *self, const char *agency_id,
                       const char *consent_id, char **json, kn_error_t *err)
{
    *json = NULL;
    Kinnet__V1__Consent *consent = NULL;
    if (consent_store_read (self, agency_id, "receipt", consent_id, &consent, err))
        return -1;
    json_t *receipt = s_receipt (self, consent);
    kinnet__v1__consent__free_unpacked (consent, NULL);
    *json = receipt ? json_dumps (receipt, JSON_INDENT (2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref (receipt);
    return *json ? 0
                 : kn_error_set (err, KN_E_INTERNAL, NULL, "receipt could not be built");
}
