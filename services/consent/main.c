/*  kinnet-consent: the "consent" service. Wiring only. */
#include "consent_server.h"
#include "kn_daemon.h"
#include "kn_log.h"

static zmsg_t *
s_handle (void *server, zmsg_t *request)
{
    return consent_server_handle ((consent_server_t *) server, request);
}

int
main (int argc, char *argv[])
{
    kn_daemon_t daemon;
    int rc = kn_daemon_start (&daemon, "consent", argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc == 2 ? 2 : 1;
    kn_error_t err;
    consent_store_t *store = consent_store_new (daemon.db, daemon.crypto, &err);
    if (!store)
        kn_log (KN_ERROR, "service.start_failed", "problem", err.message, NULL);
    consent_release_t *releases
        = store ? consent_release_new (daemon.db, daemon.crypto, &err) : NULL;
    if (store && !releases)
        kn_log (KN_ERROR, "service.start_failed", "problem", err.message, NULL);
    consent_server_t *server = releases ? consent_server_new (store, releases) : NULL;
    rc = server ? kn_daemon_serve (&daemon, s_handle, server) : -1;
    consent_server_destroy (&server);
    consent_release_destroy (&releases);
    consent_store_destroy (&store);
    kn_daemon_stop (&daemon);
    return rc == 0 ? 0 : 1;
}
