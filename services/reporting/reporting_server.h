/*  reporting_server: the "reporting" MDP service: role checks, the audit-trail
    check, and (as they land) the auditors' reports. Every request is audited with
    the role it needed. */
#ifndef REPORTING_SERVER_H_INCLUDED
#define REPORTING_SERVER_H_INCLUDED

#include <czmq.h>

#include "kn_audit_chain.h"
#include "kn_crypto.h"
#include "kn_db.h"

typedef struct _reporting_server_t reporting_server_t;

//  db (the primary: audit rows, roles, its WAL position, and the reads the standby
//  cannot take) and standby (NULL: none; a kn_db_new_lazy session to a standby,
//  which may be down) stay the caller's. Every read (report, export, governance,
//  verification) runs on the standby when it has replayed, within
//  KINNET_REPORTING_MAX_LAG_MS (2000), the primary's position when the request came,
//  else on the primary (reporting_replica.h); the reply's source says which.
//  trusted: public keys checkpoints must be signed with, configured apart from the
//  signing key (n_trusted 0: verify_audit answers an error; else verifications run
//  on a reporting_verifier of their own, on other sessions to the same servers,
//  waiting KINNET_AUDIT_VERIFY_WAIT_MS (250) for a verdict). Small-count
//  suppression follows KINNET_SDC_THRESHOLD and KINNET_SDC_ROUND. crypto (the field
//  key) opens sealed fields for subject access exports; it stays the caller's.
reporting_server_t *reporting_server_new (kn_db_t *db, kn_db_t *standby, kn_crypto_t *crypto,
                                          const kn_audit_trusted_t *trusted,
                                          size_t n_trusted, kn_error_t *err);
void reporting_server_destroy (reporting_server_t **self_p);

//  [Caller][ReportingRequest] in, ReportingReply body out (caller owns it).
zmsg_t *reporting_server_handle (reporting_server_t *self, zmsg_t *request);

#endif
