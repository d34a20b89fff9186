/*  kinnet-intake: reads settings, wires database, crypto, store and worker, serves. */
#include <stdio.h>
#include <string.h>

#include "intake_server.h"
#include "kn_config.h"
#include "kn_log.h"
#include "kn_mdp.h"
#include "kn_worker.h"

static void
s_usage (void)
{
    printf ("usage: kinnet-intake\n"
            "MDP worker for the \"intake\" service (referrals in).\n"
            "Settings (environment):\n"
            "  KINNET_DATABASE_URL   PostgreSQL conninfo\n"
            "  KINNET_DB_ROLE        role to SET after connecting (kinnet_intake)\n"
            "  KINNET_FIELD_KEY      field-encryption key file (64 hex characters)\n"
            "  KINNET_SERVICE_CERT   this service's certificate file (secret)\n"
            "  KINNET_SERVER_KEY     broker public key (Z85) or its public cert file\n"
            "  KINNET_BROKER_BACKEND broker worker endpoint (tcp://127.0.0.1:5556)\n"
            "  KINNET_HEARTBEAT_MS   heartbeat interval (2500)\n"
            "  KINNET_LOG_LEVEL      debug|info|warn|error (info)\n");
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
    kn_log_init ("intake");

    kn_error_t err;
    const char *cert_path = kn_config_str ("KINNET_SERVICE_CERT", NULL);
    zcert_t *cert = cert_path ? zcert_load (cert_path) : NULL;
    char server_key[41];
    bool have_key = kn_mdp_server_key (kn_config_str ("KINNET_SERVER_KEY", NULL), server_key) == 0;
    kn_crypto_t *crypto
        = kn_crypto_new_from_file (kn_config_str ("KINNET_FIELD_KEY", ""), &err);
    if (!cert || !have_key || !crypto) {
        kn_log (KN_ERROR, "intake.config", "problem",
                !cert ? "KINNET_SERVICE_CERT unreadable"
                : !have_key ? "KINNET_SERVER_KEY is neither a key nor a certificate"
                              : err.message,
                NULL);
        return 1;
    }
    kn_db_t *db = kn_db_new (kn_config_str ("KINNET_DATABASE_URL", ""),
                             kn_config_str ("KINNET_DB_ROLE", "kinnet_intake"), &err);
    intake_store_t *store = db ? intake_store_new (db, crypto, &err) : NULL;
    kn_worker_t *worker
        = store ? kn_worker_new (kn_config_str ("KINNET_BROKER_BACKEND", "tcp://127.0.0.1:5556"),
                                 "intake", cert, server_key, &err)
                : NULL;
    int rc = 1;
    if (worker) {
        intake_server_t *server = intake_server_new (store);
        kn_log (KN_INFO, "intake.started", NULL);
        while (!zsys_interrupted) {
            zframe_t *reply_to = NULL;
            zmsg_t *request = kn_worker_recv (worker, &reply_to, 1000);
            if (!request)
                continue;
            zmsg_t *reply = intake_server_handle (server, request);
            kn_worker_send (worker, &reply, reply_to);
            zmsg_destroy (&request);
            zframe_destroy (&reply_to);
        }
        kn_log (KN_INFO, "intake.stopped", NULL);
        intake_server_destroy (&server);
        rc = 0;
    }
    else
        kn_log (KN_ERROR, "intake.start_failed", "problem", err.message, NULL);
    kn_worker_destroy (&worker);
    intake_store_destroy (&store);
    kn_db_destroy (&db);
    kn_crypto_destroy (&crypto);
    zcert_destroy (&cert);
    return rc;
}
