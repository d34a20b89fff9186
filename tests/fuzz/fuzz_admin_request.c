/*  Fuzz target: an AdminRequest body as it arrives off the network, taken through
    what admin_server_handle does before the role check: kn_service_decode's steps
    (unpack, the unknown-field walk, the NUL-byte walk, canonical ids), then the
    validator of the operation it names (the validators admin_ops.h exports, in
    admin_server.c's s_ops order; that table is static, so the dispatch is repeated
    here), then re-encoding, which must be stable for what the service accepts.
    The role check and the handlers need a database and are not reached. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin_ops.h"
#include "kn_pb.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  The validator admin_server.c's s_ops gives the operation (NULL: none).
static admin_validate_fn *
s_validator (Kinnet__V1__AdminRequest__OpCase op)
{
    switch (op) {
    case KINNET__V1__ADMIN_REQUEST__OP_REGISTER_AGENCY: return admin_validate_register;
    case KINNET__V1__ADMIN_REQUEST__OP_REVOKE_AGENCY: return admin_validate_revoke;
    case KINNET__V1__ADMIN_REQUEST__OP_SET_ROLE: return admin_validate_set_role;
    case KINNET__V1__ADMIN_REQUEST__OP_IMPORT_DIRECTORY: return admin_validate_import;
    case KINNET__V1__ADMIN_REQUEST__OP_SHOW_DIRECTORY: return admin_validate_show;
    case KINNET__V1__ADMIN_REQUEST__OP_SET_DIRECTORY: return admin_validate_set_directory;
    case KINNET__V1__ADMIN_REQUEST__OP_SET_DISTRICT: return admin_validate_set_district;
    case KINNET__V1__ADMIN_REQUEST__OP_SET_ROUTING: return admin_validate_set_routing;
    case KINNET__V1__ADMIN_REQUEST__OP_IMPORT_POPULATION: return admin_validate_population;
    case KINNET__V1__ADMIN_REQUEST__OP_EXPORT_AUDIT: return admin_validate_export_audit;
    default: return NULL;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char path[128];
    uint32_t number = 0;
    kn_error_t err;
    Kinnet__V1__AdminRequest *request = kinnet__v1__admin_request__unpack (NULL, size, data);
    if (!request)
        return 0;
    //  kn_service_decode refuses unknown fields and NUL bytes in text.
    bool accepted = !kn_pb_find_unknown (&request->base, path, sizeof path, &number) &&
                    !kn_pb_find_nul (&kinnet__v1__admin_request__descriptor, data, size, path,
                                     sizeof path);
    if (accepted) {
        kn_pb_canonical_ids (&request->base);
        admin_validate_fn *validate = s_validator (request->op_case);
        if (validate)
            validate (request, &err);
    }
    size_t len = kinnet__v1__admin_request__get_packed_size (request);
    uint8_t *buffer = malloc (len + 1);
    if (kinnet__v1__admin_request__pack (request, buffer) != len)
        __builtin_trap ();
    //  What the service accepts packs to bytes that unpack and pack the same (the
    //  idempotency ledger hashes a request packed). Not asked of a refused request:
    //  protobuf-c 1.4 keeps a non-minimal tag 0 (80 00 00) as an unknown field,
    //  then refuses the 00 00 it packs it as.
    if (accepted) {
        Kinnet__V1__AdminRequest *again = kinnet__v1__admin_request__unpack (NULL, len, buffer);
        if (!again || kinnet__v1__admin_request__get_packed_size (again) != len)
            __builtin_trap ();
        uint8_t *twice = malloc (len + 1);
        kinnet__v1__admin_request__pack (again, twice);
        if (memcmp (buffer, twice, len) != 0)
            __builtin_trap ();
        free (twice);
        kinnet__v1__admin_request__free_unpacked (again, NULL);
    }
    free (buffer);
    kinnet__v1__admin_request__free_unpacked (request, NULL);
    return 0;
}
