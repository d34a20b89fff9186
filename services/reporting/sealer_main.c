/*  kinnet-sealer: the audit sealer on its own, in a process (and a container) that
    holds the audit signing key, the kinnet_audit login and nothing else: no broker
    connection, no field key, no agency's request ever reaches it. It links new
    audit and disclosure records into their hash chains every KINNET_AUDIT_SEAL_MS
    (1000) and, with KINNET_AUDIT_KEY, signs a checkpoint every
    KINNET_AUDIT_CHECKPOINT_S (60), until SIGTERM. kinnet-reporting then runs with
    KINNET_AUDIT_SEALER=off (docs/operations.md, "Secrets per container"). */
#include <czmq.h>
#include <sodium.h>
#include <string.h>

#include "kn_audit_chain.h"
#include "kn_config.h"
#include "kn_log.h"
#include "reporting_sealer.h"

int
main (int argc, char *argv[])
{
    if (argc > 1) {
        bool help = strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0;
        printf ("usage: kinnet-sealer\n"
                "The audit sealer: chains audit and disclosure records, signs checkpoints.\n"
                "Settings (environment):\n"
                "  KINNET_DATABASE_URL        PostgreSQL conninfo (its user is not used)\n"
                "  KINNET_AUDIT_DB_ROLE       role to log in as (kinnet_audit)\n"
                "  KINNET_DB_SECRETS          directory with the role's password file\n"
                "  KINNET_AUDIT_KEY           Ed25519 signing key file (mode 600); without\n"
                "                             it records are chained but never signed\n"
                "  KINNET_AUDIT_SEAL_MS       pause when caught up, ms (1000)\n"
                "  KINNET_AUDIT_CHECKPOINT_S  seconds between signed checkpoints (60)\n"
                "  KINNET_LOG_LEVEL           debug|info|warn|error (info)\n");
        return help ? 0 : 2;
    }
    zsys_init ();
    zsys_set_logstream (NULL);
    kn_log_init ("sealer");
    if (sodium_init () < 0) {
        kn_log (KN_ERROR, "sealer.start_failed", "problem", "libsodium", NULL);
        return 1;
    }
    kn_error_t err;
    kn_error_clear (&err);
    kn_audit_signer_t signer;
    const char *key_path = kn_config_str ("KINNET_AUDIT_KEY", NULL);
    if (key_path && kn_audit_signer_load (key_path, &signer, &err)) {
        kn_log (KN_ERROR, "sealer.start_failed", "problem", err.message, NULL);
        return 1;
    }
    if (!key_path)
        kn_log (KN_WARN, "sealer.config", "problem",
                "no KINNET_AUDIT_KEY: records are chained, checkpoints never signed", NULL);
    reporting_sealer_thread_t *sealer = reporting_sealer_start (
        key_path ? &signer : NULL, kn_config_int ("KINNET_AUDIT_SEAL_MS", 1000),
        kn_config_int ("KINNET_AUDIT_CHECKPOINT_S", 60) * 1000);
    sodium_memzero (&signer, sizeof signer);
    //  The sealer's thread runs until an interrupt (or its own failure to start)
    //  sets zsys_interrupted.
    while (sealer && !zsys_interrupted)
        zclock_sleep (200);
    reporting_sealer_stop (&sealer);
    return 0;
}
