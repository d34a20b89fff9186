/*  kn_service: request unwrapping and reply packing shared by every worker. */
#include "kn_service.h"

#include <string.h>

#include "kinnet/v1/common.pb-c.h"
#include "kn_pb.h"

int
kn_service_caller (zmsg_t *request, char agency_id[KN_UUID_STR], kn_error_t *err)
{
    zframe_t *frame = zmsg_first (request);
    Kinnet__V1__Caller *caller
        = frame ? kinnet__v1__caller__unpack (NULL, zframe_size (frame), zframe_data (frame))
                : NULL;
    bool valid = caller && kn_uuid_valid (caller->agency_id);
    if (valid)
        snprintf (agency_id, KN_UUID_STR, "%s", caller->agency_id);
    if (caller)
        kinnet__v1__caller__free_unpacked (caller, NULL);
    //  Only the broker builds this frame; without it nobody is accountable.
    return valid ? 0
                 : kn_error_set (err, KN_E_UNAUTHENTICATED, NULL,
                                 "request did not come through the broker");
}

ProtobufCMessage *
kn_service_decode (zmsg_t *request, const ProtobufCMessageDescriptor *descriptor,
                   kn_error_t *err)
{
    zframe_t *body = zmsg_size (request) == 2 ? zmsg_last (request) : NULL;
    ProtobufCMessage *message
        = body ? protobuf_c_message_unpack (descriptor, NULL, zframe_size (body), zframe_data (body))
               : NULL;
    if (!message) {
        kn_error_set (err, KN_E_MALFORMED, NULL, "request body must be exactly one %s frame",
                      descriptor->short_name);
        return NULL;
    }
    char path[128];
    uint32_t number = 0;
    if (kn_pb_find_unknown (message, path, sizeof path, &number)) {
        //  Data we cannot interpret is neither stored nor silently dropped.
        const char *relative = strchr (path, '.');
        kn_error_set (err, KN_E_INVALID_ARGUMENT, relative ? relative + 1 : "",
                      "unknown field number %u (is the client newer than the service?)", number);
        protobuf_c_message_free_unpacked (message, NULL);
        return NULL;
    }
    return message;
}

zmsg_t *
kn_service_reply (const ProtobufCMessage *message)
{
    size_t len = protobuf_c_message_get_packed_size (message);
    zframe_t *frame = zframe_new (NULL, len);
    protobuf_c_message_pack (message, zframe_data (frame));
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &frame);
    return msg;
}

zmsg_t *
kn_service_error_reply (const kn_error_t *err)
{
    Kinnet__V1__Error error = KINNET__V1__ERROR__INIT;
    error.code = err->code ? (Kinnet__V1__ErrorCode) err->code : KINNET__V1__ERROR_CODE__INTERNAL;
    error.message = (char *) err->message;
    error.field = (char *) err->field;
    Kinnet__V1__ErrorReply reply = KINNET__V1__ERROR_REPLY__INIT;
    reply.error = &error;
    return kn_service_reply (&reply.base);
}
