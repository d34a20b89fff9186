/*  Fuzz target: an IntakeRequest body as it arrives off the network. Decoding,
    validation and re-encoding must never crash, leak or read out of bounds,
    whatever the bytes. (The database part is exercised by the integration tests.) */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "intake_validate.h"
#include "kinnet/v1/common.pb-c.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    Kinnet__V1__IntakeRequest *request = kinnet__v1__intake_request__unpack (NULL, size, data);
    if (request) {
        kn_error_t err;
        switch (request->op_case) {
        case KINNET__V1__INTAKE_REQUEST__OP_SUBMIT:
            intake_validate_submit (request->submit, (time_t) 1795348800, &err);
            break;
        case KINNET__V1__INTAKE_REQUEST__OP_GET:
            intake_validate_get (request->get, &err);
            break;
        case KINNET__V1__INTAKE_REQUEST__OP_WITHDRAW:
            intake_validate_withdraw (request->withdraw, &err);
            break;
        default:
            break;
        }
        size_t len = kinnet__v1__intake_request__get_packed_size (request);
        uint8_t *buffer = malloc (len + 1);
        kinnet__v1__intake_request__pack (request, buffer);
        free (buffer);
        kinnet__v1__intake_request__free_unpacked (request, NULL);
    }
    //  The same bytes as the broker's Caller frame.
    Kinnet__V1__Caller *caller = kinnet__v1__caller__unpack (NULL, size, data);
    if (caller)
        kinnet__v1__caller__free_unpacked (caller, NULL);
    return 0;
}
