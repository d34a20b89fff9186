/*  kn_test_audit: what the audit-trail suites share: a database with a service's
    session and the sealer's, signing keys in files, and sealing until everything is
    chained. */
#ifndef KN_TEST_AUDIT_H_INCLUDED
#define KN_TEST_AUDIT_H_INCLUDED

#include "kn_audit_chain.h"
#include "kn_db.h"

//  A fresh database (*url, caller frees), a session as kinnet_intake (what every
//  service does) and one as kinnet_audit (the sealer's), their statements prepared.
void kn_test_audit_open (char **url, kn_db_t **service_db, kn_db_t **sealer_db);

//  A new signing key in a new file at path (64 bytes), loaded into signer; its
//  public key in hex (2 * KN_AUDIT_KEY_BYTES + 1 bytes).
void kn_test_audit_key (char *path, kn_audit_signer_t *signer, char *hex);

//  The key file at path and its .pub, removed.
void kn_test_audit_key_remove (const char *path);

//  Seal in batches of batch until every audit record and disclosure is chained.
//  The sealer waits for every older writing transaction in the cluster to end, and
//  suites running in parallel (other databases, same server) have some open: this
//  awaits that condition (20 s at most). Returns how many rows it sealed.
int kn_test_audit_seal_all (const char *url, kn_db_t *sealer_db, int batch);

#endif
