/*  kn_daemon: shared service daemon wiring. */
#include "kn_daemon.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kn_audit.h"
#include "kn_clock.h"
#include "kn_config.h"
#include "kn_index.h"
#include "kn_log.h"
#include "kn_mdp.h"
#include "kn_metrics.h"
#include "kn_service.h"
#include "kn_worker.h"

int
kn_daemon_start (kn_daemon_t *self, const char *service, int argc, char **argv)
{
    memset (self, 0, sizeof *self);
    self->service = service;
    if (argc > 1) {
        bool help = strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0;
        printf (
            "usage: kinnet-%s\n"
            "MDP worker for the \"%s\" service.\n"
            "Settings (environment):\n"
            "  KINNET_DATABASE_URL   PostgreSQL conninfo (its user is not used)\n"
            "  KINNET_DB_ROLE        role to log in as (kinnet_%s)\n"
            "  KINNET_DB_SECRETS     directory with a password file per role (none:\n"
            "                        peer or trust authentication)\n"
            "  KINNET_DB_STATEMENT_TIMEOUT_MS, KINNET_DB_LOCK_TIMEOUT_MS,\n"
            "  KINNET_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS\n"
            "                        override the role's timeouts, ms (0: none)\n"
            "  KINNET_FIELD_KEY      key file: root key, field and index versions\n"
            "  KINNET_SERVICE_CERT   this service's certificate file (secret)\n"
            "  KINNET_SERVER_KEY     broker public key (Z85) or its public cert file\n"
            "  KINNET_BROKER_BACKEND broker worker endpoint (tcp://127.0.0.1:5556), or\n"
            "                        several, comma-separated: one per broker\n"
            "  KINNET_HEARTBEAT_MS   heartbeat interval (2500)\n"
            "  KINNET_LOG_LEVEL      debug|info|warn|error (info)\n"
            "  KINNET_METRICS_LISTEN Prometheus metrics on host:port (none)\n",
            service, service, service);
        return help ? 1 : 2;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    kn_log_init (service);
    //  Every daemon says so: since every rule reads kn_clock, a clock file moves
    //  consent validity and expiry as well as deadlines.
    if (kn_clock_controlled ())
        kn_log (KN_WARN, "clock.controlled", "problem",
                "KINNET_CLOCK_FILE is set: every rule (consent validity, overrides, "
                "deadlines) follows that file, not real time; tests only",
                NULL);

    kn_error_t err;
    kn_error_clear (&err);
    const char *cert_path = kn_config_str ("KINNET_SERVICE_CERT", NULL);
    self->cert = cert_path ? zcert_load (cert_path) : NULL;
    bool have_key = kn_mdp_server_key (kn_config_str ("KINNET_SERVER_KEY", NULL),
                                       self->server_key) == 0;
    if (self->cert && have_key)
        self->crypto =
            kn_crypto_new_from_file (kn_config_str ("KINNET_FIELD_KEY", ""), &err);
    if (!self->cert || !have_key || !self->crypto) {
        kn_log (KN_ERROR, "service.config", "problem",
                !self->cert ? "KINNET_SERVICE_CERT unreadable"
                : !have_key ? "KINNET_SERVER_KEY is neither a key nor a certificate"
                            : err.message,
                NULL);
        kn_daemon_stop (self);
        return -1;
    }
    char role[64];
    snprintf (role, sizeof role, "kinnet_%s", service);
    self->db = kn_db_new (kn_config_str ("KINNET_DATABASE_URL", ""),
                          kn_config_str ("KINNET_DB_ROLE", role), &err);
    if (!self->db) {
        kn_log (KN_ERROR, "service.database", "problem", err.message, NULL);
        kn_daemon_stop (self);
        return -1;
    }
    //  A key file that lost an index version still in use would match nobody
    //  indexed under it, silently: refused before serving anything.
    if (kn_index_check (self->db, self->crypto, &err)) {
        kn_log (KN_ERROR, "service.key_file", "problem", err.message, NULL);
        kn_daemon_stop (self);
        return -1;
    }
    if (kn_metrics_serve_start (kn_config_str ("KINNET_METRICS_LISTEN", NULL), &err)) {
        kn_log (KN_ERROR, "service.config", "problem", err.message, NULL);
        kn_daemon_stop (self);
        return -1;
    }
    return 0;
}

int64_t
kn_daemon_request_begin (void)
{
    kn_audit_last_reset ();
    kn_service_last_reset ();
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

void
kn_daemon_request_end (const char *service, zmsg_t *reply, int64_t begun)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    double seconds =
        (double)((int64_t)now.tv_sec * 1000000000 + now.tv_nsec - begun) / 1e9;
    const char *operation = "unknown", *result = "ok";
    //  No audit row (a replayed write): the operation the request asked for.
    if (!kn_audit_last (&operation, &result) && kn_service_last_operation ())
        operation = kn_service_last_operation ();
    //  An audit row that says ok may belong to a transaction that did not commit:
    //  what the caller got is the reply.
    kn_code_t code = kn_service_reply_code (reply);
    if (code != KN_OK)
        result = kn_code_name (code);
    kn_metrics_request (service, operation, result, seconds);
}

int
kn_daemon_serve (kn_daemon_t *self, kn_daemon_handler_fn *handler, void *state)
{
    kn_error_t err;
    kn_worker_t *worker =
        kn_worker_new (kn_config_str ("KINNET_BROKER_BACKEND", "tcp://127.0.0.1:5556"),
                       self->service, self->cert, self->server_key, &err);
    if (!worker) {
        kn_log (KN_ERROR, "service.start_failed", "problem", err.message, NULL);
        return -1;
    }
    kn_log (KN_INFO, "service.started", NULL);
    while (!zsys_interrupted) {
        zframe_t *reply_to = NULL;
        zmsg_t *request = kn_worker_recv (worker, &reply_to, 1000);
        if (!request)
            continue;
        int64_t begun = kn_daemon_request_begin ();
        zmsg_t *reply = handler (state, request);
        kn_daemon_request_end (self->service, reply, begun);
        kn_worker_send (worker, &reply, reply_to);
        zmsg_destroy (&request);
        zframe_destroy (&reply_to);
    }
    kn_log (KN_INFO, "service.stopped", NULL);
    kn_worker_destroy (&worker);
    return 0;
}

#define KN_MAX_SLOTS 64

int
kn_daemon_serve_many (kn_daemon_t *self, kn_daemon_batch_fn *handler, void *state)
{
    long slots = kn_config_int ("KINNET_WORKER_SLOTS", 16);
    if (slots < 1 || slots > KN_MAX_SLOTS) {
        kn_log (KN_ERROR, "service.start_failed", "problem",
                "KINNET_WORKER_SLOTS must be 1 to 64", NULL);
        return -1;
    }
    kn_worker_t *workers[KN_MAX_SLOTS] = {NULL};
    const char *endpoint =
        kn_config_str ("KINNET_BROKER_BACKEND", "tcp://127.0.0.1:5556");
    for (long i = 0; i < slots; i++) {
        kn_error_t err;
        workers[i] =
            kn_worker_new (endpoint, self->service, self->cert, self->server_key, &err);
        if (!workers[i]) {
            kn_log (KN_ERROR, "service.start_failed", "problem", err.message, NULL);
            for (long k = 0; k < i; k++)
                kn_worker_destroy (&workers[k]);
            return -1;
        }
    }
    kn_log (KN_INFO, "service.started", NULL);
    //  Wake at least this often, and then look at every slot: idle ones send their
    //  heartbeats and notice a silent broker. Between sweeps only the slots that have
    //  input are read.
    long tick_ms = kn_mdp_heartbeat_ms () < 1000 ? kn_mdp_heartbeat_ms () : 1000;
    int64_t swept_at = zclock_mono ();
    while (!zsys_interrupted) {
        //  Each slot has a socket per broker: first[i] is slot i's first item.
        zmq_pollitem_t items[KN_MAX_SLOTS * KN_ENDPOINTS_MAX];
        int first[KN_MAX_SLOTS + 1];
        int count = 0;
        for (long i = 0; i < slots; i++) {
            first[i] = count;
            count += kn_worker_pollitems (workers[i], items + count);
        }
        first[slots] = count;
        if (zmq_poll (items, count, tick_ms) < 0)
            break; // interrupted
        bool sweep = zclock_mono () - swept_at >= tick_ms;
        if (sweep)
            swept_at = zclock_mono ();
        zmsg_t *requests[KN_MAX_SLOTS], *replies[KN_MAX_SLOTS];
        zframe_t *reply_to[KN_MAX_SLOTS];
        const char *operations[KN_MAX_SLOTS];
        int from[KN_MAX_SLOTS];
        size_t n = 0;
        for (long i = 0; i < slots; i++) {
            bool input = false;
            for (int k = first[i]; k < first[i + 1]; k++)
                input = input || (items[k].revents & ZMQ_POLLIN);
            if (!sweep && !input)
                continue;
            requests[n] = kn_worker_recv (workers[i], &reply_to[n], 0);
            if (requests[n])
                from[n++] = (int)i;
        }
        if (n == 0)
            continue;
        kn_metrics_counter_add ("kinnet_batches_total", 1, self->service, NULL);
        kn_metrics_counter_add ("kinnet_batch_requests_total", (double)n, self->service,
                                NULL);
        int64_t begun = kn_daemon_request_begin ();
        handler (state, requests, replies, operations, n);
        struct timespec now;
        clock_gettime (CLOCK_MONOTONIC, &now);
        double seconds =
            (double)((int64_t)now.tv_sec * 1000000000 + now.tv_nsec - begun) / 1e9;
        for (size_t i = 0; i < n; i++) {
            kn_code_t code = kn_service_reply_code (replies[i]);
            kn_metrics_request (self->service, operations[i],
                                code == KN_OK ? "ok" : kn_code_name (code), seconds);
            kn_worker_send (workers[from[i]], &replies[i], reply_to[i]);
            zmsg_destroy (&requests[i]);
            zframe_destroy (&reply_to[i]);
        }
    }
    kn_log (KN_INFO, "service.stopped", NULL);
    for (long i = 0; i < slots; i++)
        kn_worker_destroy (&workers[i]);
    return 0;
}

void
kn_daemon_stop (kn_daemon_t *self)
{
    kn_metrics_serve_stop ();
    kn_db_destroy (&self->db);
    kn_crypto_destroy (&self->crypto);
    zcert_destroy (&self->cert);
}
