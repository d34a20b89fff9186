/*  kinnet-routing: the "routing" and "feed" services and the routing event
    consumer. Wiring only: one thread serves "routing" requests, one consumes the
    outbox and runs the deadlines, KINNET_FEED_WORKERS threads (default 4) serve
    "feed" long polls. Each thread has its own database session. */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>

#include "kn_clock.h"
#include "kn_config.h"
#include "kn_daemon.h"
#include "kn_log.h"
#include "kn_mdp.h"
#include "kn_metrics.h"
#include "kn_worker.h"
#include "routing_server.h"

#define MAX_FEED_WORKERS 32

typedef struct {
    kn_daemon_t *daemon;
    pthread_t thread;
    bool started;
} thread_t;

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
        zclock_sleep (wait_ms < 1000 ? wait_ms : 1000);   // database down: retry soon
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
    routing_store_t *store = db ? routing_store_new (db, self->daemon->crypto, &err) : NULL;
    if (!store) {
        kn_log (KN_ERROR, "consumer.start_failed", "problem", err.message, NULL);
        kn_db_destroy (&db);
        zsys_interrupted = 1;
        return NULL;
    }
    kn_log (KN_INFO, "consumer.started", NULL);
    int64_t retry_every = kn_config_int ("KINNET_UNPLACED_RETRY_S", 300) * 1000;
    int64_t retry_at = 0;   // at once, then every retry_every
    while (!zsys_interrupted) {
        int consumed = 0, expired = 0, placed = 0, chased = 0, ended = 0;
        int64_t now = kn_clock_now ();
        if (retry_every > 0 && zclock_mono () >= retry_at) {
            retry_at = zclock_mono () + retry_every;
            if (routing_store_retry_unplaced (store, now, 1000, &placed, &err))
                kn_log (KN_ERROR, "consumer.failed", "problem", err.message, NULL);
        }
        bool failed = routing_store_consume (store, now, 100, &consumed, &err)
                      || routing_store_expire (store, now, 100, &expired, &err)
                      || routing_store_chase_contacts (store, now, 100, &chased, &err)
                      || routing_store_end_grounds (store, now, 100, &ended, &err);
        //  After every wake-up, what is still waiting (a stuck consumer's grows).
        int64_t lag;
        kn_error_t lag_err;
        if (routing_store_outbox_lag (store, &lag, &lag_err) == 0)
            kn_metrics_gauge_set ("kinnet_outbox_lag_events", (double) lag, "routing", NULL);
        if (failed) {
            kn_log (KN_ERROR, "consumer.failed", "problem", err.message, NULL);
            zclock_sleep (500);   // back off, then retry from the durable cursor
            continue;
        }
        if (consumed == 100 || expired == 100 || chased == 100 || ended == 100)
            continue;   // more waiting
        //  Sleep until a wake-up, the next deadline, or a second (the clock may be
        //  a controlled one that jumps).
        int64_t next = routing_store_next_deadline (store, now, 1);
        s_wait_notify (db, (int) (next * 1000) > 0 ? (int) (next * 1000) : 1);
    }
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
    routing_store_t *store = db ? routing_store_new (db, self->daemon->crypto, &err) : NULL;
    kn_worker_t *worker
        = store ? kn_worker_new (kn_config_str ("KINNET_BROKER_BACKEND", "tcp://127.0.0.1:5556"),
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
        kn_db_drain_notifies (db);   // wake-ups from before this read are stale
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

static zmsg_t *
s_handle (void *store, zmsg_t *request)
{
    return routing_server_handle ((routing_store_t *) store, request);
}

int
main (int argc, char *argv[])
{
    kn_daemon_t daemon;
    int rc = kn_daemon_start (&daemon, "routing", argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc == 2 ? 2 : 1;
    if (kn_clock_controlled ())
        kn_log (KN_WARN, "clock.controlled", "problem",
                "KINNET_CLOCK_FILE is set: deadlines follow that file, not real time", NULL);
    kn_error_t err;
    routing_store_t *store = routing_store_new (daemon.db, daemon.crypto, &err);
    if (!store)
        kn_log (KN_ERROR, "service.start_failed", "problem", err.message, NULL);
    int feeds = (int) kn_config_int ("KINNET_FEED_WORKERS", 4);
    if (feeds < 1 || feeds > MAX_FEED_WORKERS)
        feeds = 4;
    thread_t threads[MAX_FEED_WORKERS + 1] = {0};
    for (int i = 0; store && i <= feeds; i++) {
        threads[i].daemon = &daemon;
        threads[i].started
            = pthread_create (&threads[i].thread, NULL, i == 0 ? s_consumer : s_feed_worker,
                              &threads[i])
              == 0;
    }
    rc = store ? kn_daemon_serve (&daemon, s_handle, store) : -1;
    zsys_interrupted = 1;   // stop the other threads too
    for (int i = 0; i <= feeds; i++)
        if (threads[i].started)
            pthread_join (threads[i].thread, NULL);
    routing_store_destroy (&store);
    kn_daemon_stop (&daemon);
    return rc == 0 ? 0 : 1;
}
