/*  routing_consumer: one pass of routing's background work, and how long it may
    sleep after. A pass tries the unplaced list again when that is due, then takes
    up to a batch each of outbox events, expired offers, overdue first contacts and
    ended grounds (routing_events.c, routing_deadlines.c), and reports the outbox
    lag. Whoever owns the thread calls _run_once in a loop and sleeps as told, or
    until the database wakes it; tests call it directly with the time they choose.
    A failed pass keeps nothing half-done: the next one starts from the durable
    cursor. */
#ifndef ROUTING_CONSUMER_H_INCLUDED
#define ROUTING_CONSUMER_H_INCLUDED

#include <stdint.h>

#include "kn_error.h"
#include "routing_store.h"

typedef struct _routing_consumer_t routing_consumer_t;

//  store stays the caller's. retry_every_ms: how often the unplaced list is tried
//  again (KINNET_UNPLACED_RETRY_S; 0 never); the first pass always tries it.
//  batch: at most this many items of each kind per pass.
routing_consumer_t *routing_consumer_new (routing_store_t *store, int64_t retry_every_ms,
                                          int batch);
void routing_consumer_destroy (routing_consumer_t **self_p);

//  One pass at now (Unix seconds). Returns how many milliseconds the caller may
//  sleep before the next pass: 0 when more is waiting, otherwise until the next
//  deadline, at most a second (the clock may be a controlled one that jumps).
//  -1 when a step failed (err says why: the first; the other steps ran all the
//  same, so deadlines keep expiring while an event cannot be routed): back off,
//  then call again.
int64_t routing_consumer_run_once (routing_consumer_t *self, int64_t now,
                                   kn_error_t *err);

#endif
