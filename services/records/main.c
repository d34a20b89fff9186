/*  kinnet-records: the "records" service (records_server). Wiring only: the daemon's
    session (role kinnet_records), the erasure ledger (KINNET_ERASURE_LEDGER), the
    server, the retention keeper's thread (records_keeper: every
    KINNET_RETENTION_INTERVAL_S, default 3600, 0 for never; KINNET_RETENTION_BATCH,
    default 500), how long a shorter retention period waits
    (KINNET_RETENTION_SHORTEN_DELAY_DAYS, default 30), the loop. */
#include "kn_config.h"
#include "kn_daemon.h"
#include "kn_log.h"
#include "records_keeper.h"
#include "records_server.h"

static zmsg_t *
s_handle (void *server, zmsg_t *request)
{
    return records_server_handle ((records_server_t *)server, request);
}

int
main (int argc, char *argv[])
{
    kn_daemon_t daemon;
    int rc = kn_daemon_start (&daemon, "records", argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc == 2 ? 2 : 1;
    kn_error_t err;
    kn_error_clear (&err);
    records_server_t *server = records_server_new (
        daemon.db, daemon.crypto, kn_config_str ("KINNET_ERASURE_LEDGER", NULL), &err);
    if (!server)
        kn_log (KN_ERROR, "service.start_failed", "problem", err.message, NULL);
    long interval = kn_config_int ("KINNET_RETENTION_INTERVAL_S", 3600);
    long batch = kn_config_int ("KINNET_RETENTION_BATCH", RECORDS_BATCH_DEFAULT);
    if (interval < 0 || interval > 31 * 86400 || batch < 1 || batch > RECORDS_BATCH_MAX) {
        kn_log (KN_ERROR, "config.invalid", "problem",
                "KINNET_RETENTION_INTERVAL_S must be 0 to 2678400 and KINNET_RETENTION_BATCH"
                " 1 to 5000",
                NULL);
        records_server_destroy (&server);
    }
    long delay = kn_config_int ("KINNET_RETENTION_SHORTEN_DELAY_DAYS",
                                RECORDS_SHORTEN_DELAY_DEFAULT);
    if (delay < RECORDS_SHORTEN_DELAY_MIN || delay > RECORDS_SHORTEN_DELAY_MAX) {
        kn_log (KN_ERROR, "config.invalid", "problem",
                "KINNET_RETENTION_SHORTEN_DELAY_DAYS must be 1 to 3650", NULL);
        records_server_destroy (&server);
    }
    if (server)
        records_server_set_shorten_delay (server, (int)delay);
    long limit = kn_config_int ("KINNET_ERASURE_HOURLY_LIMIT", RECORDS_ERASE_LIMIT_DEFAULT);
    if (limit < 1 || limit > RECORDS_ERASE_LIMIT_MAX) {
        kn_log (KN_ERROR, "config.invalid", "problem",
                "KINNET_ERASURE_HOURLY_LIMIT must be 1 to 100000", NULL);
        records_server_destroy (&server);
    }
    if (server)
        records_server_set_erase_limit (server, (int)limit);
    records_keeper_t *keeper =
        server && interval > 0
            ? records_keeper_start (daemon.crypto,
                                    kn_config_str ("KINNET_ERASURE_LEDGER", NULL), interval,
                                    (int)batch)
            : NULL;
    if (server && interval == 0)
        kn_log (KN_WARN, "keeper.off", "problem",
                "KINNET_RETENTION_INTERVAL_S=0: no retention schedule is applied", NULL);
    rc = server ? kn_daemon_serve (&daemon, s_handle, server) : -1;
    records_keeper_stop (&keeper);
    records_server_destroy (&server);
    kn_daemon_stop (&daemon);
    return rc == 0 ? 0 : 1;
}
