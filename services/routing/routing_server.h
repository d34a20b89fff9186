/*  routing_server: the "routing" and "feed" MDP services' request handling:
    caller, decode, validate, dispatch to routing_store, audit, encode. */
#ifndef ROUTING_SERVER_H_INCLUDED
#define ROUTING_SERVER_H_INCLUDED

#include <czmq.h>

#include "routing_store.h"

//  [Caller][RoutingRequest] in, RoutingReply body out (caller owns it).
zmsg_t *routing_server_handle (routing_store_t *store, zmsg_t *request);

//  Wait for a first event of the feed: called with the agency and how long it may
//  block; returns when something may have arrived or the time is up.
typedef void (routing_feed_wait_fn) (void *state, int wait_ms);

//  [Caller][FeedRequest] in, FeedReply body out. wait (may be NULL) blocks for a
//  long poll between reads.
zmsg_t *routing_server_handle_feed (routing_store_t *store, zmsg_t *request,
                                    routing_feed_wait_fn *wait, void *wait_state);

#endif
