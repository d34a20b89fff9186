/*  routing_threads: the consumer and the feed workers. See the header. */
#include "routing_threads.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "kn_clock.h"
#include "kn_config.h"
#include "kn_log.h"
#include "kn_mdp.h"
#include "kn_worker.h"
#include "routing_consumer.h"
#include "routing_server.h"
#include "kn_alloc.h"

typedef struct {
    kn_daemon_t *daemon;
    pthread_t thread;
    bool started;
} thread_t;

struct _routing_threads_t {
    int count;
    thread_t threads[ROUTING_MAX_FEED_WORKERS + 1];
};

static kn_db_t *
s_session (const char *listen, kn_error_t *err)
{
    kn_db_t *db = kn_db_new (kn_config_str ("KINNET_DATABASE_URL", ""),
                             kn_config_str ("KINNET_DB_ROLE", "kinnet_routing"), err);
    if (db && listen && kn_db_listen (db, listen, err))
        kn_db_destroy (&db);
    return db;
}

//  Block until the session has a notification or wait_ms passes; drop the wake-ups.
static void
s_wait_notify (kn_db_t *db, int wait_ms)
{
    kn_error_t err;
    if (kn_db_ensure (db, &err)) {
        zclock_sleep (wait_ms < 1000 ? wait_ms : 1000); // database down: retry soon
        return;
    }
    //  A notification that arrived while the last query ran is already in libpq's
    //  queue, not on the socket: it is a wake-up too.
    if (kn_db_drain_notifies (db) > 0)
        return;
    struct pollfd item = {kn_db_socket (db), POLLIN, 0};
    if (item.fd >= 0 && poll (&item, 1, wait_ms) > 0)
        kn_db_drain_notifies (db);
}

typedef struct {
    kn_db_t *db;
    kn_worker_t *worker;
} feed_wait_t;

//  Wait in slices short enough to keep heartbeating to the broker.
static void
s_feed_wait (void *state, int wait_ms)
{
    feed_wait_t *wait = state;
    int slice = kn_mdp_heartbeat_ms ();
    kn_worker_heartbeat (wait->worker);
    s_wait_notify (wait->db, wait_ms < slice ? wait_ms : slice);
    kn_worker_heartbeat (wait->worker);
}

//  The outbox consumer and the deadline clock.
static void *
s_consumer (void *arg)
{
    thread_t *self = arg;
    kn_error_t err;
    kn_db_t *db = s_session ("kinnet_outbox", &err);
    //  Its statements run for every event, and their plans do not depend on the
    //  values; re-planning the candidates query each time cost routing a third of
    //  its database time (docs/performance.md). Made again every 10 s, as the
    //  tables grow.
    if (db && kn_db_prefer_generic_plans (db, 10000, &err))
        kn_db_destroy (&db);
    routing_store_t *store =
        db ? routing_store_new (db, self->daemon->crypto, &err) : NULL;
    if (!store) {
        kn_log (KN_ERROR, "consumer.start_failed", "problem", err.message, NULL);
        kn_db_destroy (&db);
        zsys_interrupted = 1;
        return NULL;
    }
    kn_log (KN_INFO, "consumer.started", NULL);
    routing_consumer_t *consumer = routing_consumer_new (
        store, kn_config_int ("KINNET_UNPLACED_RETRY_S", 300) * 1000, 100);
    while (!zsys_interrupted) {
        int64_t sleep_ms = routing_consumer_run_once (consumer, kn_clock_now (), &err);
        if (sleep_ms < 0) {
            kn_log (KN_ERROR, "consumer.failed", "problem", err.message, NULL);
            zclock_sleep (500); // back off, then retry from the durable cursor
        } else if (sleep_ms > 0)
            s_wait_notify (db, (int)sleep_ms);
    }
    routing_consumer_destroy (&consumer);
    routing_store_destroy (&store);
    kn_db_destroy (&db);
    return NULL;
}

static void *
s_feed_worker (void *arg)
{
    thread_t *self = arg;
    kn_error_t err;
    kn_db_t *db = s_session ("kinnet_feed", &err);
    routing_store_t *store =
        db ? routing_store_new (db, self->daemon->crypto, &err) : NULL;
    kn_worker_t *worker =
        store ? kn_worker_new (
                    kn_config_str ("KINNET_BROKER_BACKEND", "tcp://127.0.0.1:5556"),
                    "feed", self->daemon->cert, self->daemon->server_key, &err)
              : NULL;
    if (!worker) {
        kn_log (KN_ERROR, "feed.start_failed", "problem", err.message, NULL);
        zsys_interrupted = 1;
    }
    while (worker && !zsys_interrupted) {
        zframe_t *reply_to = NULL;
        zmsg_t *request = kn_worker_recv (worker, &reply_to, 1000);
        if (!request)
            continue;
        kn_db_drain_notifies (db); // wake-ups from before this read are stale
        feed_wait_t wait = {db, worker};
        int64_t begun = kn_daemon_request_begin ();
        zmsg_t *reply = routing_server_handle_feed (store, request, s_feed_wait, &wait);
        kn_daemon_request_end ("feed", reply, begun);
        kn_worker_send (worker, &reply, reply_to);
        zmsg_destroy (&request);
        zframe_destroy (&reply_to);
    }
    kn_worker_destroy (&worker);
    routing_store_destroy (&store);
    kn_db_destroy (&db);
    return NULL;
}

routing_threads_t *
routing_threads_start (kn_daemon_t *daemon, int feeds)
{
    routing_threads_t *self = kn_calloc (1, sizeof *self);
    self->count = 1 + (feeds < 1                          ? 1
                       : feeds > ROUTING_MAX_FEED_WORKERS ? ROUTING_MAX_FEED_WORKERS
                                                          : feeds);
    for (int i = 0; i < self->count; i++) {
        thread_t *thread = &self->threads[i];
        thread->daemon = daemon;
        thread->started =
            pthread_create (&thread->thread, NULL, i == 0 ? s_consumer : s_feed_worker,
                            thread) == 0;
    }
    return self;
}

void
routing_threads_stop (routing_threads_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    routing_threads_t *self = *self_p;
    zsys_interrupted = 1;
    for (int i = 0; i < self->count; i++)
        if (self->threads[i].started)
            pthread_join (self->threads[i].thread, NULL);
    free (self);
    *self_p = NULL;
}
