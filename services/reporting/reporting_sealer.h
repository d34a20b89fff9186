/*  reporting_sealer: the audit sealer. Services only insert audit rows; the sealer
    links them, after they commit, into the SHA-256 chain in commit order (kn_cursor)
    and, with a signing key, signs a checkpoint of the chain's head every interval,
    so chaining never serialises requests. A pass is _run_once; _start runs passes
    on a thread of its own, with its own session (role kinnet_audit, the only one
    that may write the chain), until zsys_interrupted. A failed pass keeps nothing:
    the chain's head is the position, and it moves only with what was sealed. */
#ifndef REPORTING_SEALER_H_INCLUDED
#define REPORTING_SEALER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "kn_audit_chain.h"
#include "kn_db.h"
#include "kn_error.h"

typedef struct _reporting_sealer_t reporting_sealer_t;

//  db stays the caller's. signer (copied; may be NULL: seal, never sign) signs a
//  checkpoint on the first pass, then every checkpoint_every_ms. batch: records
//  sealed per pass at most.
reporting_sealer_t *reporting_sealer_new (kn_db_t *db, const kn_audit_signer_t *signer,
                                          int64_t checkpoint_every_ms, int batch,
                                          kn_error_t *err);
void reporting_sealer_destroy (reporting_sealer_t **self_p);

//  One pass. 0 when more records are waiting (a full batch was sealed), 1 when the
//  chain has caught up, -1 on failure (err says why; call again later).
int reporting_sealer_run_once (reporting_sealer_t *self, kn_error_t *err);

//  Run passes on a thread of its own, sleeping seal_every_ms when caught up, until
//  zsys_interrupted is set; a sealer that cannot start sets it. _stop sets it,
//  joins, and nulls *self_p.
typedef struct _reporting_sealer_thread_t reporting_sealer_thread_t;
reporting_sealer_thread_t *reporting_sealer_start (const kn_audit_signer_t *signer,
                                                   int64_t seal_every_ms,
                                                   int64_t checkpoint_every_ms);
void reporting_sealer_stop (reporting_sealer_thread_t **self_p);

#endif
