/*  kn_service: request unwrapping and reply packing shared by every worker. */
#include "kn_service.h"

#include <string.h>

#include "kinnet/v1/common.pb-c.h"
#include "kn_log.h"
#include "kn_mdp.h"
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

static __thread const char *s_last_operation;   // a descriptor's, static storage

//  The name of the oneof member message has set, or NULL.
static const char *
s_oneof_set (const ProtobufCMessage *message)
{
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        if (!(field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            continue;
        uint32_t set;
        memcpy (&set, (const char *) message + field->quantifier_offset, sizeof set);
        if (set == field->id)
            return field->name;
    }
    return NULL;
}

const char *
kn_service_last_operation (void)
{
    return s_last_operation;
}

void
kn_service_last_reset (void)
{
    s_last_operation = NULL;
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
    if (kn_pb_find_nul (descriptor, zframe_data (body), zframe_size (body), path, sizeof path)) {
        const char *relative = strchr (path, '.');
        kn_error_set (err, KN_E_INVALID_ARGUMENT, relative ? relative + 1 : path,
                      "text must not contain a NUL byte");
        protobuf_c_message_free_unpacked (message, NULL);
        return NULL;
    }
    kn_pb_canonical_ids (message);
    s_last_operation = s_oneof_set (message);
    return message;
}

//  Room left under the frame limit for what travels with the body (CURVE's 33 bytes
//  and some to spare).
#define REPLY_MARGIN 1024

zmsg_t *
kn_service_reply (const ProtobufCMessage *message)
{
    size_t len = protobuf_c_message_get_packed_size (message);
    //  The broker drops a connection whose frame is over the limit: the caller would
    //  get no answer and this worker would be cut off. Say so instead.
    if (len > KN_MAX_MESSAGE_BYTES - REPLY_MARGIN) {
        char size[24];
        snprintf (size, sizeof size, "%zu", len);
        kn_log (KN_WARN, "reply.too_large", "message", message->descriptor->name, "bytes",
                size, NULL);
        kn_error_t err;
        kn_error_set (&err, KN_E_TOO_LARGE, NULL,
                      "the answer is over the message limit; ask for less");
        return kn_service_error_reply (&err);
    }
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

//  One base-128 varint at *at (before end); false when cut short.
static bool
s_varint (const uint8_t **at, const uint8_t *end, uint64_t *value)
{
    *value = 0;
    for (int shift = 0; shift < 64 && *at < end; shift += 7) {
        uint8_t byte = *(*at)++;
        *value |= (uint64_t) (byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return true;
    }
    return false;
}

//  Find field number in [at, end): its varint value (wire type 0) or the bounds of
//  its bytes (wire type 2). 1 found, 0 absent, -1 not protobuf.
static int
s_field (const uint8_t *at, const uint8_t *end, uint32_t number, uint64_t *value,
         const uint8_t **start, size_t *len)
{
    while (at < end) {
        uint64_t key, size;
        if (!s_varint (&at, end, &key))
            return -1;
        uint32_t wire = (uint32_t) (key & 7);
        bool match = (key >> 3) == number;
        if (wire == 0) {
            if (!s_varint (&at, end, value))
                return -1;
            if (match)
                return 1;
        }
        else if (wire == 2) {
            if (!s_varint (&at, end, &size) || size > (uint64_t) (end - at))
                return -1;
            if (match) {
                *start = at;
                *len = (size_t) size;
                return 1;
            }
            at += size;
        }
        else if (wire == 1 || wire == 5) {
            size_t skip = wire == 1 ? 8 : 4;
            if ((size_t) (end - at) < skip)
                return -1;
            at += skip;
        }
        else
            return -1;
    }
    return 0;
}

kn_code_t
kn_service_reply_code (zmsg_t *reply)
{
    zframe_t *frame = reply ? zmsg_first (reply) : NULL;
    if (!frame)
        return KN_E_INTERNAL;
    const uint8_t *body = zframe_data (frame);
    const uint8_t *error = NULL, *unused = NULL;
    size_t error_len = 0, unused_len = 0;
    uint64_t ignored = 0, code = 0;
    int found = s_field (body, body + zframe_size (frame), 1, &ignored, &error, &error_len);
    if (found < 0)
        return KN_E_INTERNAL;
    //  Field 1 of the reply is Error; field 1 of Error is its code.
    if (found == 0 || !error
        || s_field (error, error + error_len, 1, &code, &unused, &unused_len) != 1)
        return KN_OK;
    return code > 0x7fffffff ? KN_E_INTERNAL : (kn_code_t) code;
}
