/*  records_keeper: the retention schedules applied (migration 0033 says what each
    keeps and from when; docs/privacy.md, "Retention"). A run, on a DPO's request
    (records_retention.c) or on the keeper's own every KINNET_RETENTION_INTERVAL_S:
      1. each person no record keeps any longer (records.due) and under no legal
         hold is erased as a DPO's erasure would (records_destroy), one transaction
         each, decided again under the person's locks (a referral naming them that
         committed meanwhile keeps them) and audited (retention_erase);
      2. outbox events past every consumer, feed events their agency has read past,
         idempotency entries: deleted past their period, a bounded batch of each;
         the audit trail and the disclosure log pruned up to a signed checkpoint by
         core.audit_prune (migration 0036: the function decides, no service may
         delete from them), about a batch of each, whole checkpoints at a time;
      3. the run's row (core.retention_run), written when it starts, brought up to
         date at the end, with an audit row (retention_run).
    At most `batch` people and `batch` rows of each kind a run; `more` says a batch
    was full. A dry run changes nothing and counts the same batches. Two keepers at
    once are safe: an erasure is decided under the person's lock, and a row
    deleted twice is deleted once. */
#ifndef RECORDS_KEEPER_H_INCLUDED
#define RECORDS_KEEPER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "records_ops.h"

#define RECORDS_BATCH_DEFAULT 500
#define RECORDS_BATCH_MAX     5000

//  The run's row, in the caller's open transaction. agency NULL: the keeper's own.
int records_run_open (records_server_t *self, const char *run_id, const char *agency,
                      int64_t now, bool dry_run, kn_error_t *err);

//  The run's row as recorded into run (no subject lists: those are not kept).
int records_run_load (records_server_t *self, const char *run_id,
                      Kinnet__V1__RetentionRun *run, kn_error_t *err);

//  Apply the schedules at now (kn_clock seconds), outside any transaction, and fill
//  run. The row of run_id must exist (records_run_open, committed).
int records_keeper_apply (records_server_t *self, const char *agency, const char *run_id,
                          int64_t now, bool dry_run, int batch,
                          Kinnet__V1__RetentionRun *run, kn_error_t *err);

int records_keeper_prepare (kn_db_t *db, kn_error_t *err);

//  The keeper's thread: its own session (KINNET_DATABASE_URL, role kinnet_records)
//  and runs every interval_s (the first one interval_s after the start), run after
//  run while a batch was full, until zsys_interrupted; _stop sets it and joins.
typedef struct _records_keeper_t records_keeper_t;
records_keeper_t *records_keeper_start (kn_crypto_t *crypto, const char *ledger_path,
                                        int64_t interval_s, int batch);
void records_keeper_stop (records_keeper_t **self_p);

#endif
