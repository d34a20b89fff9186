/*  kinnet-records: the "records" service (records_server). Wiring only: the daemon's
    session (role kinnet_records), the erasure ledger (KINNET_ERASURE_LEDGER), the
    server, the loop. */
#include "kn_config.h"
#include "kn_daemon.h"
#include "kn_log.h"
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
    rc = server ? kn_daemon_serve (&daemon, s_handle, server) : -1;
    records_server_destroy (&server);
    kn_daemon_stop (&daemon);
    return rc == 0 ? 0 : 1;
}
