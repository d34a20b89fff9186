/*  Fuzz target: the referral JSON the CLI reads (kn_pbjson_decode into a
    SubmitReferral), then validation. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "intake_validate.h"
#include "kn_pbjson.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    json_error_t error;
    json_t *json = json_loadb ((const char *) data, size, 0, &error);
    if (!json)
        return 0;
    kn_error_t err;
    ProtobufCMessage *message
        = kn_pbjson_decode (&kinnet__v1__submit_referral__descriptor, json, &err);
    if (message) {
        intake_validate_submit ((Kinnet__V1__SubmitReferral *) message, (time_t) 1795348800,
                                &err);
        json_t *back = kn_pbjson_encode (message);
        json_decref (back);
        protobuf_c_message_free_unpacked (message, NULL);
    }
    json_decref (json);
    return 0;
}
