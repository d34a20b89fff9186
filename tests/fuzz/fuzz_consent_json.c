/*  Fuzz target: the consent JSON files `kinnet consent record|basis|override --file`
    read (kn_pbjson_decode into a RecordConsent, a RecordBasis and a RequestOverride:
    the same text tried as each), then the consent service's validation of each
    (fuzz_pbjson.h). */
#include "consent_validate.h"
#include "fuzz_pbjson.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

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

static const fuzz_pbjson_t s_messages[] = {
    {&kinnet__v1__record_consent__descriptor, s_record},
    {&kinnet__v1__record_basis__descriptor, s_basis},
    {&kinnet__v1__request_override__descriptor, s_override},
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    return fuzz_pbjson_run (data, size, s_messages,
                            sizeof s_messages / sizeof s_messages[0]);
}
