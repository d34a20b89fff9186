/*  kinnet-intake: the "intake" service (referrals in). Wiring only. */
#include "intake_server.h"
#include "kn_daemon.h"
#include "kn_log.h"

static void
s_handle (void *server, zmsg_t **requests, zmsg_t **replies, const char **operations,
          size_t n)
{
    intake_server_handle_many ((intake_server_t *)server, requests, replies, operations,
                               n);
}

int
main (int argc, char *argv[])
{
    kn_daemon_t daemon;
    int rc = kn_daemon_start (&daemon, "intake", argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc == 2 ? 2 : 1;
    kn_error_t err;
    intake_store_t *store = intake_store_new (daemon.db, daemon.crypto, &err);
    if (!store)
        kn_log (KN_ERROR, "service.start_failed", "problem", err.message, NULL);
    intake_server_t *server = store ? intake_server_new (store) : NULL;
    rc = server ? kn_daemon_serve_many (&daemon, s_handle, server) : -1;
    intake_server_destroy (&server);
    intake_store_destroy (&store);
    kn_daemon_stop (&daemon);
    return rc == 0 ? 0 : 1;
}
