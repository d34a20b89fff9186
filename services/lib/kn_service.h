/*  kn_service: what every MDP worker does to a request before its own logic and
    to a reply after it: take the caller's agency from the broker's Caller frame
    (never from the body), decode exactly one body frame as the service's request
    message refusing unknown fields, and pack replies (an error reply is an
    ErrorReply, which decodes as any service's reply). */
#ifndef KN_SERVICE_H_INCLUDED
#define KN_SERVICE_H_INCLUDED

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>

#include "kn_error.h"
#include "kn_uuid.h"

//  request: [Caller][body] as kn_worker_recv returns it (not consumed). Fills
//  agency_id; 0, or -1 with KN_E_UNAUTHENTICATED.
int kn_service_caller (zmsg_t *request, char agency_id[KN_UUID_STR], kn_error_t *err);

//  The body (second frame) decoded as descriptor's message; NULL with KN_E_MALFORMED
//  (not exactly one decodable frame) or KN_E_INVALID_ARGUMENT (unknown fields; the
//  path is relative to the operation inside the request's oneof). Caller frees with
//  protobuf_c_message_free_unpacked.
ProtobufCMessage *kn_service_decode (zmsg_t *request, const ProtobufCMessageDescriptor *descriptor,
                                     kn_error_t *err);

//  The name of the oneof member (the operation, e.g. "submit") of the last request
//  kn_service_decode decoded on this thread since kn_service_last_reset, or NULL.
//  A name from the .proto, never from the request. For metrics, when a handler
//  wrote no audit row (a replayed write).
const char *kn_service_last_operation (void);
void kn_service_last_reset (void);

//  A reply body holding message; when message packs to more than the frame limit
//  allows (KN_MAX_MESSAGE_BYTES less a margin), an error reply TOO_LARGE instead,
//  logged: a frame over the limit would never arrive and would cost the worker its
//  connection.
zmsg_t *kn_service_reply (const ProtobufCMessage *message);

//  A reply body holding only the error (field 1 of every reply).
zmsg_t *kn_service_error_reply (const kn_error_t *err);

//  The error code a reply body carries in field 1: KN_OK when it has none, and
//  KN_E_INTERNAL when there is no reply or its first frame is not protobuf. Reads
//  the wire format without decoding the rest of the reply, so it is cheap.
kn_code_t kn_service_reply_code (zmsg_t *reply);

#endif
