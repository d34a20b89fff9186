/*  kinnet-admin: the "admin" service (admin_server). Wiring only: the daemon's
    session (role kinnet_admin), the server, the loop. */
#include "admin_server.h"
#include "kn_daemon.h"
#include "kn_log.h"

static zmsg_t *
s_handle (void *server, zmsg_t *request)
{
    return admin_server_handle ((admin_server_t *)server, request);
}

int
main (int argc, char *argv[])
{
    kn_daemon_t daemon;
    int rc = kn_daemon_start (&daemon, "admin", argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc == 2 ? 2 : 1;
    kn_error_t err;
    kn_error_clear (&err);
    admin_server_t *server = admin_server_new (daemon.db, daemon.crypto, &err);
    if (!server)
        kn_log (KN_ERROR, "service.start_failed", "problem", err.message, NULL);
    rc = server ? kn_daemon_serve (&daemon, s_handle, server) : -1;
    admin_server_destroy (&server);
    kn_daemon_stop (&daemon);
    return rc == 0 ? 0 : 1;
}
