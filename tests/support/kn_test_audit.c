/*  kn_test_audit: the audit-trail suites' shared fixture. */
#include "kn_test_audit.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kn_audit.h"
#include "kn_test.h"

void
kn_test_audit_open (char **url, kn_db_t **service_db, kn_db_t **sealer_db)
{
    *url = kn_test_db_create ();
    kn_error_t err;
    *service_db = kn_db_new (*url, "kinnet_intake", &err);
    *sealer_db = kn_db_new (*url, "kinnet_audit", &err);
    cr_assert (*service_db && *sealer_db, "%s", err.message);
    cr_assert_eq (kn_audit_prepare (*service_db, &err), 0);
    cr_assert_eq (kn_audit_chain_prepare (*sealer_db, &err), 0, "%s", err.message);
}

void
kn_test_audit_key (char *path, kn_audit_signer_t *signer, char *hex)
{
    snprintf (path, 64, "/tmp/kn-audit-key-XXXXXX");
    int fd = mkstemp (path);
    cr_assert (fd >= 0);
    close (fd);
    unlink (path); // created again, exclusively, by the key writer
    kn_error_t err;
    cr_assert_eq (kn_audit_signer_create (path, hex, &err), 0, "%s", err.message);
    cr_assert_eq (kn_audit_signer_load (path, signer, &err), 0, "%s", err.message);
}

void
kn_test_audit_key_remove (const char *path)
{
    char pub[80];
    snprintf (pub, sizeof pub, "%s.pub", path);
    unlink (path);
    unlink (pub);
}

int
kn_test_audit_seal_all (const char *url, kn_db_t *sealer_db, int batch)
{
    int total = 0, sealed;
    kn_error_t err;
    int64_t deadline = zclock_mono () + 20000;
    while (true) {
        cr_assert_eq (kn_audit_chain_seal (sealer_db, batch, &sealed, &err), 0, "%s",
                      err.message);
        total += sealed;
        if (sealed > 0)
            continue;
        if (kn_test_count (url, "SELECT (SELECT count (*) FROM core.audit a WHERE NOT EXISTS"
                                " (SELECT 1 FROM core.audit_chain c WHERE c.audit_id = a.id))"
                                " + (SELECT count (*) FROM core.disclosure d WHERE NOT EXISTS"
                                " (SELECT 1 FROM core.disclosure_chain c"
                                "  WHERE c.disclosure_id = d.id))") == 0)
            return total;
        cr_assert (zclock_mono () < deadline, "records were never sealed");
        zclock_sleep (10);
    }
}
