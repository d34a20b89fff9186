/*  kn_worker: the MDP/0.1 worker side, used by every Kinnet service.
    Connects to the broker's backend over CURVE with the service's certificate, says
    READY, exchanges heartbeats, and reconnects when the broker goes quiet (a broker
    restart is survived without the service noticing). */
#ifndef KN_WORKER_H_INCLUDED
#define KN_WORKER_H_INCLUDED

#include <czmq.h>

#include "kn_error.h"

typedef struct _kn_worker_t kn_worker_t;

//  cert: the service certificate (copied); server_key: broker public key, Z85.
kn_worker_t *kn_worker_new (const char *endpoint, const char *service, zcert_t *cert,
                            const char *server_key, kn_error_t *err);
void kn_worker_destroy (kn_worker_t **self_p);

//  Wait up to timeout_ms (-1: until interrupted) for the next request. Returns its
//  body frames, the broker's Caller frame first, and sets *reply_to to the client's
//  address; the caller owns both. NULL on timeout or interrupt.
zmsg_t *kn_worker_recv (kn_worker_t *self, zframe_t **reply_to, int timeout_ms);

//  The socket to poll for input (it changes when the worker reconnects, so ask
//  again before each poll); then kn_worker_recv with timeout 0 takes what came.
zsock_t *kn_worker_socket (kn_worker_t *self);

//  Send reply body frames to reply_to. Takes ownership of *reply_p and nulls it.
int kn_worker_send (kn_worker_t *self, zmsg_t **reply_p, zframe_t *reply_to);

//  Send a heartbeat if one is due. A worker that holds a request for long (a feed
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
