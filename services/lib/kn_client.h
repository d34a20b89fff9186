/*  kn_client: the MDP/0.1 client that agency integrations link (and the CLI uses).
    Talks CURVE to the broker's frontend. Reliability is Lazy Pirate: when no reply
    comes within the timeout, the socket is thrown away, a new one connects and the
    same request (so the same idempotency key) is sent again, up to `retries` times.
    A handshake the broker refuses (unknown or revoked key) fails fast as
    KN_E_UNAUTHENTICATED instead of waiting out every retry. */
#ifndef KN_CLIENT_H_INCLUDED
#define KN_CLIENT_H_INCLUDED

#include <czmq.h>

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

#endif
