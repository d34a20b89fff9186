/*  kn_worker: the MDP/0.1 worker side, used by every Kinnet service.
    Connects to the backend of every broker of its list over CURVE with the service's
    certificate, says READY to each, exchanges heartbeats with each, and reconnects
    to one that goes quiet (a broker restart, or a broker's death while another
    serves, is survived without the service noticing). It serves one request at a
    time: a request a second broker hands it meanwhile waits in that connection. */
#ifndef KN_WORKER_H_INCLUDED
#define KN_WORKER_H_INCLUDED

#include <czmq.h>

#include "kn_endpoints.h"
#include "kn_error.h"

typedef struct _kn_worker_t kn_worker_t;

//  endpoint: one broker backend or a comma-separated list (kn_endpoints.h; a bad
//  list is KN_E_INVALID_ARGUMENT); every broker of a list holds the same
//  certificate, whose public key server_key is (Z85). cert: the service
//  certificate (copied).
kn_worker_t *kn_worker_new (const char *endpoint, const char *service, zcert_t *cert,
                            const char *server_key, kn_error_t *err);
void kn_worker_destroy (kn_worker_t **self_p);

//  Wait up to timeout_ms (-1: until interrupted) for the next request, from any
//  broker. Returns its body frames, the broker's Caller frame first, and sets
//  *reply_to to the client's address; the caller owns both. NULL on timeout or
//  interrupt.
zmsg_t *kn_worker_recv (kn_worker_t *self, zframe_t **reply_to, int timeout_ms);

//  The sockets to poll for input, one per broker, into items (room for
//  KN_ENDPOINTS_MAX); returns how many. They change when the worker reconnects, so
//  ask again before each poll; then kn_worker_recv with timeout 0 takes what came.
int kn_worker_pollitems (kn_worker_t *self, zmq_pollitem_t *items);

//  Send reply body frames to reply_to, through the broker the request came from:
//  this answers the request kn_worker_recv returned last. Takes ownership of
//  *reply_p and nulls it.
int kn_worker_send (kn_worker_t *self, zmsg_t **reply_p, zframe_t *reply_to);

//  Send a heartbeat to each broker it is due to. A worker that holds a request for long (a feed
//  long poll) calls this while it waits, so the broker keeps it.
void kn_worker_heartbeat (kn_worker_t *self);

//  A message off the broker's backend read, apart from the socket so that it can be
//  fuzzed: [empty][MDPW01][command byte][...] (the first two frames read as text up to
//  their first NUL byte). Takes those three frames off msg, which the caller still
//  owns, and returns the command (KN_MDPW_*, or whatever byte came), or -1 when msg
//  is not the worker protocol. For a REQUEST, at least two frames must follow; the
//  client's address goes to *reply_to (caller owns it), an empty frame after it is
//  dropped, and msg keeps the rest: the body frames kn_worker_recv returns. A REQUEST
//  with less is -1.
int kn_worker_frames (zmsg_t *msg, zframe_t **reply_to);

#endif
