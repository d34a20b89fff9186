/*  Fuzz target: the consent JSON files `kinnet consent record|basis|override --file`
    read (kn_pbjson_decode into a RecordConsent, a RecordBasis and a RequestOverride:
    the same text tried as each), then the consent service's validation of each, at
    a fixed time, then encoding back to JSON. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "consent_validate.h"
#include "kn_pbjson.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef int (validate_fn) (const ProtobufCMessage *message, time_t now, kn_error_t *err);

static int
s_record (const ProtobufCMessage *message, time_t now, kn_error_t *err)
{
    return consent_validate_record ((const Kinnet__V1__RecordConsent *) message, now, err);
}

static int
s_basis (const ProtobufCMessage *message, time_t now, kn_error_t *err)
{
    return consent_validate_basis ((const Kinnet__V1__RecordBasis *) message, now, err);
}

static int
s_override (const ProtobufCMessage *message, time_t now, kn_error_t *err)
{
    return consent_validate_override ((const Kinnet__V1__RequestOverride *) message, now, err);
}

static void
s_try (json_t *json, const ProtobufCMessageDescriptor *descriptor, validate_fn *validate)
{
    kn_error_t err;
    ProtobufCMessage *message = kn_pbjson_decode (descriptor, json, &err);
    if (!message)
        return;
    validate (message, (time_t) 1795348800, &err);
    json_t *back = kn_pbjson_encode (message);
    json_decref (back);
    protobuf_c_message_free_unpacked (message, NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    json_error_t error;
    json_t *json = json_loadb ((const char *) data, size, 0, &error);
    if (!json)
        return 0;
    s_try (json, &kinnet__v1__record_consent__descriptor, s_record);
    s_try (json, &kinnet__v1__record_basis__descriptor, s_basis);
    s_try (json, &kinnet__v1__request_override__descriptor, s_override);
    json_decref (json);
    return 0;
}
