/*  Fuzz target: the referral JSON the CLI reads (kn_pbjson_decode into a
    SubmitReferral), then validation (fuzz_pbjson.h). */
#include "fuzz_pbjson.h"
#include "intake_validate.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
s_submit (const ProtobufCMessage *message, time_t now, kn_error_t *err)
{
    return intake_validate_submit ((const Kinnet__V1__SubmitReferral *) message, now,
                                   err);
}

static const fuzz_pbjson_t s_messages[] = {
    {&kinnet__v1__submit_referral__descriptor, s_submit},
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    return fuzz_pbjson_run (data, size, s_messages,
                            sizeof s_messages / sizeof s_messages[0]);
}
