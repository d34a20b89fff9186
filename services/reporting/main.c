/*  kinnet-reporting: the "reporting" service and the audit sealer. Wiring only: the
    main thread serves requests; a second thread links new audit records into the
    hash chain every KINNET_AUDIT_SEAL_MS (1000) and, with KINNET_AUDIT_KEY, signs a
    checkpoint every KINNET_AUDIT_CHECKPOINT_S (60). */
#include <pthread.h>
#include <string.h>

#include "kn_audit_chain.h"
#include "kn_config.h"
#include "kn_daemon.h"
#include "kn_log.h"
#include "reporting_server.h"

#define MAX_TRUSTED 8

typedef struct {
    kn_audit_signer_t signer;
    bool sign;
} sealer_t;

static void *
s_sealer (void *arg)
{
    sealer_t *self = arg;
    kn_error_t err;
    kn_db_t *db = kn_db_new (kn_config_str ("KINNET_DATABASE_URL", ""),
                             kn_config_str ("KINNET_AUDIT_DB_ROLE", "kinnet_audit"), &err);
    if (!db || kn_audit_chain_prepare (db, &err)) {
        kn_log (KN_ERROR, "sealer.start_failed", "problem", err.message, NULL);
        kn_db_destroy (&db);
        zsys_interrupted = 1;
        return NULL;
    }
    int64_t every = kn_config_int ("KINNET_AUDIT_SEAL_MS", 1000);
    int64_t checkpoint_every = kn_config_int ("KINNET_AUDIT_CHECKPOINT_S", 60) * 1000;
    int64_t checkpoint_at = zclock_mono ();   // the first at once, then every interval
    kn_log (KN_INFO, "sealer.started", "signing", self->sign ? "yes" : "no", NULL);
    while (!zsys_interrupted) {
        int sealed = 0;
        if (kn_audit_chain_seal (db, 5000, &sealed, &err))
            kn_log (KN_ERROR, "sealer.failed", "problem", err.message, NULL);
        bool made = false;
        if (self->sign && zclock_mono () >= checkpoint_at) {
            checkpoint_at = zclock_mono () + checkpoint_every;
            if (kn_audit_chain_checkpoint (db, &self->signer, &made, &err))
                kn_log (KN_ERROR, "sealer.failed", "problem", err.message, NULL);
        }
        if (sealed == 5000)
            continue;   // more waiting
        for (int64_t slept = 0; slept < every && !zsys_interrupted; slept += 100)
            zclock_sleep (100);
    }
    kn_db_destroy (&db);
    return NULL;
}

static zmsg_t *
s_handle (void *server, zmsg_t *request)
{
    return reporting_server_handle ((reporting_server_t *) server, request);
}

int
main (int argc, char *argv[])
{
    kn_daemon_t daemon;
    int rc = kn_daemon_start (&daemon, "reporting", argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc == 2 ? 2 : 1;
    kn_error_t err;
    kn_error_clear (&err);
    static sealer_t sealer;
    const char *key_path = kn_config_str ("KINNET_AUDIT_KEY", NULL);
    sealer.sign = key_path && kn_audit_signer_load (key_path, &sealer.signer, &err) == 0;
    if (key_path && !sealer.sign)
        kn_log (KN_ERROR, "service.config", "problem", err.message, NULL);
    uint8_t trusted[MAX_TRUSTED][KN_AUDIT_KEY_BYTES];
    size_t n_trusted = 0;
    const char *public_key = kn_config_str ("KINNET_AUDIT_PUBLIC_KEY", NULL);
    if (public_key && kn_audit_public_key_parse (public_key, trusted[0], &err) == 0)
        n_trusted = 1;
    else if (sealer.sign) {
        memcpy (trusted[0], sealer.signer.public_key, KN_AUDIT_KEY_BYTES);
        n_trusted = 1;
    }
    //  Reports may read from a replica; audit rows always go to the primary.
    const char *replica = kn_config_str ("KINNET_REPORTING_DATABASE_URL", NULL);
    kn_db_t *read_db = replica ? kn_db_new (replica, kn_config_str ("KINNET_DB_ROLE",
                                                                    "kinnet_reporting"),
                                            &err)
                               : NULL;
    reporting_server_t *server
        = (!key_path || sealer.sign) && (!replica || read_db)
              ? reporting_server_new (daemon.db, read_db ? read_db : daemon.db, daemon.crypto,
                                      (const uint8_t (*)[KN_AUDIT_KEY_BYTES]) trusted, n_trusted,
                                      &err)
              : NULL;
    if (!server)
        kn_log (KN_ERROR, "service.start_failed", "problem", err.message, NULL);
    pthread_t thread;
    bool started = server && pthread_create (&thread, NULL, s_sealer, &sealer) == 0;
    rc = started ? kn_daemon_serve (&daemon, s_handle, server) : -1;
    zsys_interrupted = 1;
    if (started)
        pthread_join (thread, NULL);
    reporting_server_destroy (&server);
    kn_db_destroy (&read_db);
    kn_daemon_stop (&daemon);
    return rc == 0 ? 0 : 1;
}
