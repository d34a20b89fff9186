/*  kinnet-routing: the "routing" and "feed" services and the routing event
    consumer. Wiring only: this thread serves "routing" requests; routing_threads
    runs the consumer and KINNET_FEED_WORKERS (default 4) feed workers. Each
    thread has its own database session. */
#include "kn_config.h"
#include "kn_daemon.h"
#include "kn_log.h"
#include "routing_server.h"
#include "routing_threads.h"

static zmsg_t *
s_handle (void *store, zmsg_t *request)
{
    return routing_server_handle ((routing_store_t *)store, request);
}

int
main (int argc, char *argv[])
{
    kn_daemon_t daemon;
    int rc = kn_daemon_start (&daemon, "routing", argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc == 2 ? 2 : 1;
    kn_error_t err;
    routing_store_t *store = routing_store_new (daemon.db, daemon.crypto, &err);
    if (!store)
        kn_log (KN_ERROR, "service.start_failed", "problem", err.message, NULL);
    int feeds = (int)kn_config_int ("KINNET_FEED_WORKERS", 4);
    if (feeds < 1 || feeds > ROUTING_MAX_FEED_WORKERS)
        feeds = 4;
    routing_threads_t *threads = store ? routing_threads_start (&daemon, feeds) : NULL;
    rc = store ? kn_daemon_serve (&daemon, s_handle, store) : -1;
    routing_threads_stop (&threads); // stops them all
    routing_store_destroy (&store);
    kn_daemon_stop (&daemon);
    return rc == 0 ? 0 : 1;
}
