/*  kinnet-reporting: the "reporting" service and the audit sealer. Wiring only: the
    main thread serves requests; reporting_sealer's thread links new audit records
    into the hash chain every KINNET_AUDIT_SEAL_MS (1000) and, with KINNET_AUDIT_KEY,
    signs a checkpoint every KINNET_AUDIT_CHECKPOINT_S (60), unless
    KINNET_AUDIT_SEALER=off (kinnet-sealer does it in a process of its own). verify_audit checks
    against KINNET_AUDIT_TRUSTED_KEYS (or KINNET_AUDIT_PUBLIC_KEY), never against
    the key this process signs with, on reporting_verifier's thread (the server
    starts it). With KINNET_REPORTING_DATABASE_URL, reads go to that standby when it
    has caught up with the primary (reporting_replica.h). reporting_rollup's thread
    keeps the report rollups current on the primary every KINNET_REPORT_ROLLUP_S
    (10; 0: not in this process). */
#include <sodium.h>
#include <string.h>

#include "kn_audit_chain.h"
#include "kn_config.h"
#include "kn_daemon.h"
#include "kn_log.h"
#include "reporting_rollup.h"
#include "reporting_sealer.h"
#include "reporting_server.h"

static zmsg_t *
s_handle (void *server, zmsg_t *request)
{
    return reporting_server_handle ((reporting_server_t *)server, request);
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
    kn_audit_signer_t signer;
    const char *key_path = kn_config_str ("KINNET_AUDIT_KEY", NULL);
    bool sign = key_path && kn_audit_signer_load (key_path, &signer, &err) == 0;
    if (key_path && !sign)
        kn_log (KN_ERROR, "service.config", "problem", err.message, NULL);
    kn_audit_trusted_t trusted[KN_AUDIT_TRUST_MAX];
    size_t n_trusted = 0;
    const char *keys = kn_config_str ("KINNET_AUDIT_TRUSTED_KEYS",
                                      kn_config_str ("KINNET_AUDIT_PUBLIC_KEY", NULL));
    kn_error_t key_err;
    if (keys &&
        kn_audit_trust_parse (keys, trusted, KN_AUDIT_TRUST_MAX, &n_trusted, &key_err)) {
        kn_log (KN_ERROR, "service.config", "problem", key_err.message, NULL);
        n_trusted = 0; //  trust all of a list or none of it
    }
    if (n_trusted == 0)
        kn_log (KN_WARN, "service.config", "problem",
                "no KINNET_AUDIT_TRUSTED_KEYS: verify_audit will answer an error", NULL);
    //  Reads may go to a standby, which may be down now (its sessions connect when it
    //  is up); audit rows always go to the primary.
    const char *replica = kn_config_str ("KINNET_REPORTING_DATABASE_URL", NULL);
    kn_db_t *standby =
        replica && *replica
            ? kn_db_new_lazy (replica, kn_config_str ("KINNET_DB_ROLE", "kinnet_reporting"),
                              2, &err)
            : NULL;
    reporting_server_t *server =
        (!key_path || sign) && (!replica || !*replica || standby)
            ? reporting_server_new (daemon.db, standby, daemon.crypto, trusted, n_trusted,
                                    &err)
            : NULL;
    if (!server)
        kn_log (KN_ERROR, "service.start_failed", "problem", err.message, NULL);
    //  KINNET_AUDIT_SEALER=off: kinnet-sealer runs elsewhere, with the signing key
    //  this process then never holds.
    bool seal = strcmp (kn_config_str ("KINNET_AUDIT_SEALER", "on"), "off") != 0;
    reporting_sealer_thread_t *sealer =
        server && seal ? reporting_sealer_start (
                             sign ? &signer : NULL,
                             kn_config_int ("KINNET_AUDIT_SEAL_MS", 1000),
                             kn_config_int ("KINNET_AUDIT_CHECKPOINT_S", 60) * 1000)
                       : NULL;
    sodium_memzero (&signer, sizeof signer);
    long rollup_s = kn_config_int ("KINNET_REPORT_ROLLUP_S", 10);
    reporting_rollup_thread_t *rollup =
        server && rollup_s > 0 ? reporting_rollup_start (rollup_s * 1000) : NULL;
    rc = server && (sealer || !seal) && (rollup || rollup_s <= 0)
             ? kn_daemon_serve (&daemon, s_handle, server)
             : -1;
    reporting_rollup_stop (&rollup);
    reporting_sealer_stop (&sealer); // stops it too
    reporting_server_destroy (&server);
    kn_db_destroy (&standby);
    kn_daemon_stop (&daemon);
    return rc == 0 ? 0 : 1;
}
