/*  broker_queue: one service's requests waiting for a worker, fair between agencies.
    Each agency has its own first-in-first-out line; workers are handed requests
    from the lines in turn (round robin), so an agency that sends a thousand
    requests delays another agency's next one by at most one request per worker,
    not a thousand. While other agencies wait, an agency may hold at most `cap`
    of the service's workers at once; when nobody else waits it may use them all,
    so a lone busy agency is not slowed down, unless the cap is strict: a service
    whose requests hold a worker while they wait (the feed's long polls) keeps
    workers free for agencies that come later. */
#ifndef BROKER_QUEUE_H_INCLUDED
#define BROKER_QUEUE_H_INCLUDED

#include <czmq.h>

#include "kn_uuid.h"

typedef struct {
    zmsg_t *msg;         // [client][""][Caller][body...], ready to hand a worker
    int64_t deadline;    // answered SERVICE_UNAVAILABLE if no worker took it by then
    int handed;          // how many workers it was handed to (that died or are holding it)
    int left;            // how many workers left cleanly holding it (broker.c)
    size_t bytes;        // its size, as counted against the agency's and the total
    char agency[KN_UUID_STR];
} broker_request_t;

typedef struct _broker_queue_t broker_queue_t;

broker_queue_t *broker_queue_new (void);
//  Frees every request still waiting.
void broker_queue_destroy (broker_queue_t **self_p);

//  Requests waiting: all, or one agency's.
size_t broker_queue_size (broker_queue_t *self);
size_t broker_queue_agency_size (broker_queue_t *self, const char *agency);

//  Take ownership of request: last in its agency's line, or first (a request
//  handed back by a worker that died holding it keeps its place).
void broker_queue_push (broker_queue_t *self, broker_request_t *request);
void broker_queue_push_front (broker_queue_t *self, broker_request_t *request);

//  The next request to hand a worker (caller owns it), counted as held by its
//  agency until broker_queue_done; NULL when none is waiting. cap: how many
//  workers one agency may hold while another agency waits (strict: at any time).
broker_request_t *broker_queue_next (broker_queue_t *self, size_t cap, bool strict);
void broker_queue_done (broker_queue_t *self, const char *agency);

//  The oldest request of any line whose deadline is at or before now (caller owns
//  it), or NULL.
broker_request_t *broker_queue_expired (broker_queue_t *self, int64_t now);

void broker_request_destroy (broker_request_t **self_p);

#endif
