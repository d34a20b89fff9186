/*  Fuzz target: a ConsentRequest body as it arrives off the network: decoding,
    the unknown-field walk, validation of every operation and re-encoding. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "consent_validate.h"
#include "kn_pb.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    Kinnet__V1__ConsentRequest *request = kinnet__v1__consent_request__unpack (NULL, size, data);
    if (!request)
        return 0;
    char path[128];
    uint32_t number;
    kn_pb_find_unknown (&request->base, path, sizeof path, &number);
    kn_error_t err;
    time_t now = (time_t) 1795348800;
    switch (request->op_case) {
    case KINNET__V1__CONSENT_REQUEST__OP_RECORD:
        consent_validate_record (request->record, now, &err);
        break;
    case KINNET__V1__CONSENT_REQUEST__OP_WITHDRAW:
        consent_validate_withdraw (request->withdraw, &err);
        break;
    case KINNET__V1__CONSENT_REQUEST__OP_CHECK:
        consent_validate_check (request->check, &err);
        break;
    case KINNET__V1__CONSENT_REQUEST__OP_BASIS:
        consent_validate_basis (request->basis, now, &err);
        break;
    case KINNET__V1__CONSENT_REQUEST__OP_OVERRIDE:
        consent_validate_override (request->override, now, &err);
        break;
    case KINNET__V1__CONSENT_REQUEST__OP_REVIEW:
        consent_validate_review (request->review, &err);
        break;
    default:
        break;
    }
    size_t len = kinnet__v1__consent_request__get_packed_size (request);
    uint8_t *buffer = malloc (len + 1);
    kinnet__v1__consent_request__pack (request, buffer);
    free (buffer);
    kinnet__v1__consent_request__free_unpacked (request, NULL);
    return 0;
}
