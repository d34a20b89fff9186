/*  broker_suspects: requests that were in flight when their worker died. A request
    whose worker's connection closes is handed to another worker once (broker.h);
    one that crashes every worker it reaches (a poison request) would then kill two,
    and two more each time its sender repeats it. The broker remembers such requests
    by a digest of their agency, service and body (the same bytes, as a retry sends
    them, give the same digest) for a while; a request that was in flight when a
    worker died before is not handed out again when a second one dies holding it.
    The table holds at most `capacity` requests: the oldest is forgotten first, so
    memory is bounded whatever fails. */
#ifndef BROKER_SUSPECTS_H_INCLUDED
#define BROKER_SUSPECTS_H_INCLUDED

#include <czmq.h>

typedef struct _broker_suspects_t broker_suspects_t;

//  Remember up to capacity requests, each for window_ms after the last worker that
//  died holding it. NULL when libsodium cannot start.
broker_suspects_t *broker_suspects_new (size_t capacity, int64_t window_ms);
void broker_suspects_destroy (broker_suspects_t **self_p);

//  A worker died holding msg ([client][""][Caller][body...]) of service: how many
//  workers have died holding the same request within the window, this one included.
int broker_suspects_died (broker_suspects_t *self, const char *service, zmsg_t *msg,
                          int64_t now);

//  A worker answered msg: it is no poison, forget it. Costs nothing unless a
//  worker died holding a request within the window.
void broker_suspects_answered (broker_suspects_t *self, const char *service, zmsg_t *msg,
                               int64_t now);

#endif
