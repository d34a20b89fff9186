/*  routing_threads: the routing daemon's threads besides the request loop: one
    routing_consumer (events and deadlines) and the "feed" workers, which serve
    agencies' long polls. Each thread opens its own database session and listens
    there for the wake-ups intake and routing send (kinnet_outbox, kinnet_feed),
    so neither polls the database. They end when zsys_interrupted is set; a thread
    that cannot start sets it, taking the daemon down rather than running half. */
#ifndef ROUTING_THREADS_H_INCLUDED
#define ROUTING_THREADS_H_INCLUDED

#include "kn_daemon.h"

typedef struct _routing_threads_t routing_threads_t;

//  Start the consumer and `feeds` feed workers (1 to ROUTING_MAX_FEED_WORKERS).
//  daemon stays the caller's and must outlive the threads.
#define ROUTING_MAX_FEED_WORKERS 32
routing_threads_t *routing_threads_start (kn_daemon_t *daemon, int feeds);

//  Tell every thread to stop, wait for them, free; nulls *self_p.
void routing_threads_stop (routing_threads_t **self_p);

#endif
