/*  kn_client: the MDP/0.1 client that agency integrations link (and the CLI uses).
    Talks CURVE to a broker's frontend. Reliability is Lazy Pirate over a list of
    brokers (zguide's Freelance, model one): when no reply comes within the timeout,
    the socket is thrown away, a new one connects to the next broker of the list
    (round robin; with one broker, the same one) and the same request (so the same
    idempotency key) is sent again, up to `retries` times. A call starts at the broker
    that answered last, so a dead broker costs one timeout once, not on every call.
    A handshake a broker refuses (unknown or revoked key) moves on to the next broker
    at once, without using up a retry: a refusal comes unauthenticated off the wire,
    so it must not hide a broker that would answer. When every broker of the list
    has refused, the call fails fast as KN_E_UNAUTHENTICATED instead of waiting out
    every retry (with one broker: at its first refusal, as before lists existed). */
#ifndef KN_CLIENT_H_INCLUDED
#define KN_CLIENT_H_INCLUDED

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>

#include "kn_error.h"

typedef struct _kn_client_t kn_client_t;

//  endpoint is one broker frontend or a comma-separated list of them
//  ("tcp://a:5555,tcp://b:5555", at most 8; kn_endpoints.h has the rules): a bad
//  list is KN_E_INVALID_ARGUMENT, field "endpoint". Every broker of a list is one
//  partnership's and holds the same certificate.
//  cert is the agency's certificate (secret key included); the client keeps a copy.
//  server_key is the brokers' public key in Z85 (40 characters).
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

//  How many brokers the last kn_client_call sent its request to, counting each
//  retry and each refused handshake (1: answered at once), and the endpoint it
//  sent to last (the one that answered, when one did). For logs, metrics, tests.
int kn_client_attempts (kn_client_t *self);
const char *kn_client_endpoint (kn_client_t *self);

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
