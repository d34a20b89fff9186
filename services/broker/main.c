/*  kinnet-broker: reads its settings, wires keys, database and broker, runs. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "kn_config.h"
#include "kn_log.h"
#include "kn_mdp.h"
#include "kn_metrics.h"

//  KINNET_WORKER_BUSY_MAX_MS: above the longest request a service runs. Reporting's
//  is the longest: a standby wait (KINNET_REPORTING_MAX_LAG_MS, at most 30 s), then
//  statements of up to 300 s each (kinnet_reporting's statement_timeout).
#define BUSY_MAX_MS     600000
#define BUSY_MAX_MS_MAX 3600000

static void
s_usage (void)
{
    printf ("usage: kinnet-broker\n"
            "Majordomo (MDP/0.1) broker for Kinnet, CURVE on both sockets.\n"
            "Settings (environment):\n"
            "  KINNET_DATABASE_URL     PostgreSQL conninfo (agency keys)\n"
            "  KINNET_BROKER_CERT      broker certificate file (secret)\n"
            "  KINNET_SERVICE_CERTS    directory of service public certificates\n"
            "  KINNET_HEALTH_CERTS     directory of health-check public certificates (MMI only)\n"
            "  KINNET_BROKER_FRONTEND  agency endpoint   (tcp://127.0.0.1:5555)\n"
            "  KINNET_BROKER_BACKEND   worker endpoint   (tcp://127.0.0.1:5556)\n"
            "  KINNET_HEARTBEAT_MS     heartbeat interval (2500)\n"
            "  KINNET_WORKER_BUSY_MAX_MS  longest a worker may hold a request unheard,\n"
            "                          its connection alive, before the client is told\n"
            "                          SERVICE_UNAVAILABLE (600000)\n"
            "  KINNET_REQUEST_TIMEOUT_MS  wait for a worker before an error (2500)\n"
            "  KINNET_KEY_RELOAD_MS    periodic key reload (30000)\n"
            "  KINNET_MAX_QUEUED       queued requests per service (10000)\n"
            "  KINNET_MAX_QUEUED_PER_AGENCY  one agency's, per service (1000)\n"
            "  KINNET_MAX_AGENCY_BYTES one agency's requests in the broker (33554432)\n"
            "  KINNET_MAX_QUEUED_BYTES all requests in the broker (268435456)\n"
            "  KINNET_AGENCY_RATE      requests per second per agency, 0 = no limit (200)\n"
            "  KINNET_AGENCY_BURST     and in a burst (400)\n"
            "  KINNET_AGENCY_SHARE     percent of a service's workers one agency may hold\n"
            "                          while others wait (50)\n"
            "  KINNET_STRICT_SHARE_SERVICES  where that share holds always (feed)\n"
            "  (rate, burst, queue per agency and share are the partnership's: split among\n"
            "  the brokers up, each stamping core.broker_presence)\n"
            "  KINNET_BROKER_NAME      this broker's row there (host and frontend)\n"
            "  KINNET_BROKER_PRESENCE_MS  how often it is stamped (5000)\n"
            "  KINNET_MAX_CONNECTION_BYTES  buffered for one connection (8388608)\n"
            "  KINNET_MAX_KEY_CONNECTIONS   connections one key may hold open (256; 0: any)\n"
            "  KINNET_MAX_BUFFERED_BYTES    buffered for all connections (268435456)\n"
            "  KINNET_KEY_MAX_STALE_MS serve no agency when keys are older (90000)\n"
            "  KINNET_LOG_LEVEL        debug|info|warn|error (info)\n"
            "  KINNET_METRICS_LISTEN   Prometheus metrics on host:port (none)\n");
}

int
main (int argc, char *argv[])
{
    if (argc > 1) {
        s_usage ();
        return (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) ? 0 : 2;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    kn_log_init ("broker");
    zsys_catch_interrupts ();

    const char *cert_path = kn_config_str ("KINNET_BROKER_CERT", NULL);
    zcert_t *cert = cert_path ? zcert_load (cert_path) : NULL;
    if (!cert) {
        kn_log (KN_ERROR, "broker.config", "problem", "KINNET_BROKER_CERT unreadable", NULL);
        return 1;
    }
    kn_error_t err;
    if (kn_metrics_serve_start (kn_config_str ("KINNET_METRICS_LISTEN", NULL), &err)) {
        kn_log (KN_ERROR, "broker.config", "problem", err.message, NULL);
        zcert_destroy (&cert);
        return 1;
    }
    kn_db_t *db = kn_db_new (kn_config_str ("KINNET_DATABASE_URL", ""), "kinnet_broker", &err);
    if (!db) {
        kn_log (KN_ERROR, "broker.database", "problem", err.message, NULL);
        kn_metrics_serve_stop ();
        zcert_destroy (&cert);
        return 1;
    }
    broker_keys_t *keys = broker_keys_new (kn_config_str ("KINNET_SERVICE_CERTS", NULL),
                                           kn_config_str ("KINNET_HEALTH_CERTS", NULL), db,
                                           &err);
    //  This broker's row among the brokers up: the same across restarts.
    char host[128] = "", presence[256];
    gethostname (host, sizeof host - 1);
    snprintf (presence, sizeof presence, "%s %s", host,
              kn_config_str ("KINNET_BROKER_FRONTEND", "tcp://127.0.0.1:5555"));
    long busy_max_ms = kn_config_int ("KINNET_WORKER_BUSY_MAX_MS", BUSY_MAX_MS);
    broker_config_t config = {
        .frontend = kn_config_str ("KINNET_BROKER_FRONTEND", "tcp://127.0.0.1:5555"),
        .backend = kn_config_str ("KINNET_BROKER_BACKEND", "tcp://127.0.0.1:5556"),
        .cert = cert,
        .heartbeat_ms = kn_mdp_heartbeat_ms (),
        .busy_max_ms = busy_max_ms >= 1000 && busy_max_ms <= BUSY_MAX_MS_MAX
                           ? (int) busy_max_ms : BUSY_MAX_MS,
        .request_timeout_ms = (int) kn_config_int ("KINNET_REQUEST_TIMEOUT_MS", 2500),
        .key_reload_ms = (int) kn_config_int ("KINNET_KEY_RELOAD_MS", 30000),
        .max_queued = (int) kn_config_int ("KINNET_MAX_QUEUED", 10000),
        .max_queued_per_agency = (int) kn_config_int ("KINNET_MAX_QUEUED_PER_AGENCY", 1000),
        .max_agency_bytes = (size_t) kn_config_int ("KINNET_MAX_AGENCY_BYTES", 32 << 20),
        .max_queued_bytes = (size_t) kn_config_int ("KINNET_MAX_QUEUED_BYTES", 256 << 20),
        .agency_rate = (double) kn_config_int ("KINNET_AGENCY_RATE", 200),
        .agency_burst = (double) kn_config_int ("KINNET_AGENCY_BURST", 400),
        .agency_share = (int) kn_config_int ("KINNET_AGENCY_SHARE", 50),
        .poison_deaths = (int) kn_config_int ("KINNET_POISON_DEATHS", 0),
        .strict_services = kn_config_str ("KINNET_STRICT_SHARE_SERVICES", "feed"),
        .max_connection_bytes = (size_t) kn_config_int ("KINNET_MAX_CONNECTION_BYTES", 8 << 20),
        .max_buffered_bytes = (size_t) kn_config_int ("KINNET_MAX_BUFFERED_BYTES", 256 << 20),
        .max_key_connections = (size_t) kn_config_int ("KINNET_MAX_KEY_CONNECTIONS", 256),
        .presence_name = kn_config_str ("KINNET_BROKER_NAME", presence),
        .presence_ms = (int) kn_config_int ("KINNET_BROKER_PRESENCE_MS", 5000),
    };
    if (config.agency_share < 1 || config.agency_share > 100
        || (config.agency_rate > 0 && config.agency_burst < 1)) {
        kn_log (KN_ERROR, "broker.config", "problem",
                "KINNET_AGENCY_SHARE must be 1 to 100, KINNET_AGENCY_BURST at least 1", NULL);
        broker_keys_destroy (&keys);
    }
    if (busy_max_ms < 1000 || busy_max_ms > BUSY_MAX_MS_MAX) {
        kn_log (KN_ERROR, "broker.config", "problem",
                "KINNET_WORKER_BUSY_MAX_MS must be 1000 to 3600000", NULL);
        broker_keys_destroy (&keys);
    }
    if (keys)
        broker_keys_set_max_stale (keys, (int) kn_config_int ("KINNET_KEY_MAX_STALE_MS", 90000));
    broker_t *broker = keys ? broker_new (&config, keys, &db, &err) : NULL;
    int rc = 1;
    if (broker)
        rc = broker_run (broker);
    else
        kn_log (KN_ERROR, "broker.start_failed", "problem", err.message, NULL);
    broker_destroy (&broker);
    broker_keys_destroy (&keys);
    kn_db_destroy (&db);
    kn_metrics_serve_stop ();
    zcert_destroy (&cert);
    return rc;
}
