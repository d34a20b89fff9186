/*  consent_store: the consent store object (a session, the field key, the consent
    policy's settings, the override review period, what its writes share) and the
    few helpers its files share: the audit row, the outbox event, a replayed
    consent, the request's subject. The jobs live next door; consent_store_int.h is
    the map. */
#include "consent_store_int.h"

#include <stdio.h>

#include "kn_alloc.h"

consent_store_t *
consent_store_new (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err)
{
    if (consent_scope_prepare (db, err) || consent_standing_prepare (db, err)
        || consent_load_prepare (db, err) || consent_record_prepare (db, err)
        || consent_withdraw_prepare (db, err) || consent_read_prepare (db, err)
        || consent_receipt_prepare (db, err) || consent_basis_prepare (db, err)
        || consent_override_prepare (db, err))
        return NULL;
    if (kn_outbox_prepare (db, err) || kn_audit_prepare (db, err) || kn_subject_prepare (db, err)
        || kn_idempotency_prepare (db, IDEM, err) || kn_consent_policy_prepare (db, err))
        return NULL;
    consent_store_t *self = kn_calloc (1, sizeof *self);
    self->db = db;
    self->crypto = crypto;
    self->policy = kn_consent_policy_config ();
    long hours = kn_config_int ("KINNET_OVERRIDE_REVIEW_HOURS", 72);
    self->review_hours = (hours > 0 && hours <= 24 * 60) ? (int) hours : 72;
    kn_write_init (&self->write, db, crypto, IDEM, "consent");
    return self;
}

void
consent_store_destroy (consent_store_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  -------------------------------------------------------------------------
//  What the job files share

int
consent_audit (consent_store_t *self, const char *agency_id, const char *caseworker_id,
               const char *operation, const char *subject_id, const char *object_id,
               const char *basis, const char *result, kn_error_t *err)
{
    kn_audit_entry_t entry = {.agency_id = agency_id,     .caseworker_id = caseworker_id,
                              .service = "consent",       .operation = operation,
                              .subject_ref = subject_id,  .object_id = object_id,
                              .basis = basis,             .result = result};
    return kn_audit_append (self->db, &entry, err);
}

void
consent_store_audit (consent_store_t *self, const char *agency_id, const char *caseworker_id,
                     const char *operation, const char *subject_id, const char *object_id,
                     const char *basis, kn_code_t code)
{
    kn_error_t err;
    if (kn_db_ensure (self->db, &err) == 0)
        consent_audit (self, agency_id, caseworker_id, operation,
                       kn_uuid_valid (subject_id) ? subject_id : NULL,
                       kn_uuid_valid (object_id) ? object_id : NULL, basis,
                       kn_code_name (code), &err);
}

int
consent_outbox (consent_store_t *self, const char *topic, const char *id,
                const ProtobufCMessage *event, kn_error_t *err)
{
    size_t len = protobuf_c_message_get_packed_size (event);
    uint8_t *payload = kn_malloc (len ? len : 1);
    protobuf_c_message_pack (event, payload);
    int rc = kn_outbox_append (self->db, topic, id, payload, len, err);
    free (payload);
    return rc;
}

//  A replay's answer: the consent as it is stored now, marked replayed.
int
consent_replayed (consent_store_t *self, const char *consent_id,
                  Kinnet__V1__Consent **consent, kn_error_t *err)
{
    *consent = consent_load (self, consent_id, err);
    if (*consent)
        (*consent)->replayed = true;
    return *consent ? 0 : -1;
}

//  The subject of a request: by id (must exist) or by identity (created if new).
int
consent_subject (consent_store_t *self, const Kinnet__V1__SubjectRef *ref,
                 char subject_id[KN_UUID_STR], kn_error_t *err)
{
    if (*ref->subject_id) {
        int exists = kn_subject_exists (self->db, ref->subject_id, NULL, err);
        if (exists < 0) {
            if (err->code == KN_E_CONFLICT)   // merged: the field as this request names it
                snprintf (err->field, sizeof err->field, "subject.subject_id");
            return -1;
        }
        if (!exists)
            return kn_error_set (err, KN_E_NOT_FOUND, "subject.subject_id", "no such subject");
        snprintf (subject_id, KN_UUID_STR, "%s", ref->subject_id);
        return 0;
    }
    kn_person_t person = {ref->person->given_name, ref->person->family_name,
                          ref->person->date_of_birth};
    char subjects[1][KN_UUID_STR], family[KN_UUID_STR];
    bool matched;
    if (kn_subject_resolve (self->db, self->crypto, &person, 1, subjects, family, &matched, err))
        return -1;
    snprintf (subject_id, KN_UUID_STR, "%s", subjects[0]);
    return 0;
}

//  An enum value's name in lower case, into out (returned).
const char *
consent_enum_name (const ProtobufCEnumDescriptor *descriptor, int value, char *out,
                   size_t size)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value (descriptor, value);
    snprintf (out, size, "%s", v ? v->name : "unknown");
    for (char *c = out; *c; c++)
        *c = (char) ((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
    return out;
}
