/*  kn_client: the MDP/0.1 client that agency integrations link (and the CLI uses).
    Talks CURVE to the broker's frontend. Reliability is Lazy Pirate: when no reply
    comes within the timeout, the socket is thrown away, a new one connects and the
    same request (so the same idempotency key) is sent again, up to `retries` times.
    A handshake the broker refuses (unknown or revoked key) fails fast as
    KN_E_UNAUTHENTICATED instead of waiting out every retry. */
#ifndef KN_CLIENT_H_INCLUDED
#define KN_CLIENT_H_INCLUDED

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>

#include "kn_error.h"

typedef struct _kn_client_t kn_client_t;

//  cert is the agency's certificate (secret key included); the client keeps a copy.
//  server_key is the broker's public key in Z85 (40 characters).
kn_client_t *kn_client_new (const char *endpoint, zcert_t *cert, const char *server_key,
                            kn_error_t *err);
void kn_client_destroy (kn_client_t **self_p);

//  Milliseconds to wait for each attempt's reply (default 5000).
void kn_client_set_timeout (kn_client_t *self, int timeout_ms);
//  Extra attempts after the first (default 2).
void kn_client_set_retries (kn_client_t *self, int retries);

//  Send body (one frame) to service and wait for the reply. Returns the reply body
//  frame, which the caller owns, or NULL with err set (KN_E_SERVICE_UNAVAILABLE when
//  nothing answered, KN_E_UNAUTHENTICATED when the broker refused the key).
zframe_t *kn_client_call (kn_client_t *self, const char *service, const void *body,
                          size_t len, kn_error_t *err);

//  The two readings of what the broker sends back, apart from the socket so that they
//  can be fuzzed: the broker's frontend is outside the client's control.

//  The reply body in a message off the broker's frontend, [empty][MDPC01][service]
//  [body...], where service is the one called (each of the first three frames is read
//  as text up to its first NUL byte). Destroys *msg_p (nulls it) and returns the first
//  body frame, which the caller owns, or NULL when the message is anything else.
zframe_t *kn_client_reply_frames (zmsg_t **msg_p, const char *service);

//  A reply body decoded as reply_type, a Kinnet reply (field 1 its Error). Returns the
//  reply, which the caller frees with protobuf_c_message_free_unpacked, or NULL with
//  err set: KN_E_MALFORMED when the bytes are not a reply_type, otherwise the Error
//  the service sent (its code, field and message; KN_E_INTERNAL for code 0).
ProtobufCMessage *kn_client_reply_decode (const ProtobufCMessageDescriptor *reply_type,
                                          const void *body, size_t len, kn_error_t *err);

#endif
