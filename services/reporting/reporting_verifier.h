/*  reporting_verifier: verify_audit off the request thread. A verification reads
    the whole trail, minutes for a large one: on the service's only request thread
    it held every report back that long, and a client that gave up waiting lost the
    answer. This thread, with a database session of its own, runs one verification
    at a time. The request thread starts one and waits a moment for it; one that
    takes longer goes on, and its verdict is the answer to the next request for the
    same anchor (the same request, asked again) once it is done. */
#ifndef REPORTING_VERIFIER_H_INCLUDED
#define REPORTING_VERIFIER_H_INCLUDED

#include "kn_audit_chain.h"
#include "kn_db.h"
#include "reporting_replica.h"

typedef struct _reporting_verifier_t reporting_verifier_t;

//  Start the thread on db (a session to the primary for it alone: taken, *db_p
//  nulled) and standby (one to the standby, likewise; NULL *standby_p or standby_p:
//  none), checking against trusted (copied; n_trusted 1 or more). A verification
//  runs on the standby when it has replayed the position the request gave within
//  max_lag_ms (reporting_replica_route), else on db. NULL with err when the
//  sessions' statements cannot be prepared (the sessions are taken all the same).
reporting_verifier_t *
reporting_verifier_new (kn_db_t **db_p, kn_db_t **standby_p,
                        const kn_audit_trusted_t *trusted, size_t n_trusted, int max_lag_ms,
                        kn_error_t *err);

//  Stop the thread, after the verification it runs (if any) ends. Nulls *self_p.
void reporting_verifier_destroy (reporting_verifier_t **self_p);

//  The verdict for anchor (NULL: none). Starts a verification when none runs (that
//  must read what the primary had at lsn, its position when the request came; NULL
//  when there is no standby), then waits up to wait_ms for it. 0 with verdict and
//  route (where it was read) when a verification for this anchor ended, started by
//  this request or by an earlier one whose verdict nobody has collected yet (kept a
//  minute). Else -1 with err: SERVICE_UNAVAILABLE while it, or one for another
//  anchor, runs (ask again with the same request), or what the verification failed
//  with.
int reporting_verifier_ask (reporting_verifier_t *self, const kn_audit_anchor_t *anchor,
                            const char *lsn, int wait_ms, kn_audit_verdict_t *verdict,
                            reporting_route_t *route, kn_error_t *err);

#endif
