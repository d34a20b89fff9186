/*  kinnet-echo: an MDP worker for the service "echo" that answers every request
    with the body it was sent. ops/bench drives it through the broker exactly as it
    drives intake (same clients, same CURVE, same bodies), so the difference between
    the two figures is what intake and PostgreSQL cost, and the echo figure alone is
    what messaging costs.
    Settings (environment): KINNET_SERVICE_CERT (a certificate with metadata
    service = "echo"), KINNET_SERVER_KEY, KINNET_BROKER_BACKEND, KINNET_ECHO_WORKERS
    (worker threads, each its own connection; 1), KINNET_ECHO_DELAY_US (pretend
    work per request; 0), KINNET_HEARTBEAT_MS, KINNET_LOG_LEVEL. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <czmq.h>

#include "kn_config.h"
#include "kn_log.h"
#include "kn_mdp.h"
#include "kn_worker.h"

typedef struct {
    const char *endpoint;
    zcert_t *cert;
    char server_key[41];
    long delay_us;
} echo_t;

static void *
s_serve (void *arg)
{
    echo_t *echo = (echo_t *) arg;
    kn_error_t err;
    kn_worker_t *worker
        = kn_worker_new (echo->endpoint, "echo", echo->cert, echo->server_key, &err);
    if (!worker) {
        kn_log (KN_ERROR, "service.start_failed", "problem", err.message, NULL);
        return NULL;
    }
    while (!zsys_interrupted) {
        zframe_t *reply_to = NULL;
        zmsg_t *request = kn_worker_recv (worker, &reply_to, 1000);
        if (!request)
            continue;
        //  [Caller][body...]: the reply is the body as the client sent it.
        zframe_t *caller = zmsg_pop (request);
        zframe_destroy (&caller);
        if (echo->delay_us > 0)
            usleep ((useconds_t) echo->delay_us);
        kn_worker_send (worker, &request, reply_to);
        zframe_destroy (&reply_to);
    }
    kn_worker_destroy (&worker);
    return NULL;
}

int
main (int argc, char *argv[])
{
    if (argc > 1) {
        printf ("usage: kinnet-echo\n"
                "MDP worker for the \"echo\" service (benchmarks): replies with the body.\n"
                "Settings (environment):\n"
                "  KINNET_SERVICE_CERT   certificate file (secret), metadata service=echo\n"
                "  KINNET_SERVER_KEY     broker public key (Z85) or its public cert file\n"
                "  KINNET_BROKER_BACKEND broker worker endpoint (tcp://127.0.0.1:5556)\n"
                "  KINNET_ECHO_WORKERS   worker threads, one connection each (1)\n"
                "  KINNET_ECHO_DELAY_US  pretend work per request in microseconds (0)\n"
                "  KINNET_HEARTBEAT_MS   heartbeat interval (2500)\n"
                "  KINNET_LOG_LEVEL      debug|info|warn|error (info)\n");
        return strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 ? 0 : 2;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    kn_log_init ("echo");

    echo_t echo = {
        .endpoint = kn_config_str ("KINNET_BROKER_BACKEND", "tcp://127.0.0.1:5556"),
        .delay_us = kn_config_int ("KINNET_ECHO_DELAY_US", 0),
    };
    const char *cert_path = kn_config_str ("KINNET_SERVICE_CERT", NULL);
    echo.cert = cert_path ? zcert_load (cert_path) : NULL;
    if (!echo.cert
        || kn_mdp_server_key (kn_config_str ("KINNET_SERVER_KEY", NULL), echo.server_key)) {
        kn_log (KN_ERROR, "service.config", "problem",
                !echo.cert ? "KINNET_SERVICE_CERT unreadable"
                           : "KINNET_SERVER_KEY is neither a key nor a certificate",
                NULL);
        zcert_destroy (&echo.cert);
        return 1;
    }
    long workers = kn_config_int ("KINNET_ECHO_WORKERS", 1);
    if (workers < 1 || workers > 64)
        workers = 1;
    pthread_t threads[64];
    for (long i = 0; i < workers; i++)
        pthread_create (&threads[i], NULL, s_serve, &echo);
    kn_log (KN_INFO, "service.started", NULL);
    for (long i = 0; i < workers; i++)
        pthread_join (threads[i], NULL);
    kn_log (KN_INFO, "service.stopped", NULL);
    zcert_destroy (&echo.cert);
    return 0;
}
