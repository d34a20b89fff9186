/*  kn_index: the blind-index key's versions in the database. Which versions the
    subjects' indexes and the ledgers' request digests are under, whether a key
    file holds every version in use, and the re-index that moves every subject's
    index to the current version.
    The re-index recomputes an index from the person's own sealed data: their date
    of birth (core.subject.birth_date) and their names from their part of their most
    recent referral (intake.referral_subject.personal) or, failing that, from a
    consent recorded about them by identity (consent.record.personal). It trusts
    what it recomputes only when the same inputs reproduce the stored index under
    its own version, so a wrong source can never move a person to someone else's
    index. An erased person (key destroyed) gets random bytes under the current
    version: they never match again. A person whose inputs cannot be found or do
    not reproduce stays under the old version and is counted (status, and the
    re-index's report), never dropped.
    Each batch is one transaction that locks only its own rows (FOR UPDATE SKIP
    LOCKED); intake looks a person up under every version the key file holds, so a
    reader finds them before or after their batch. The rows another transaction
    held are taken afterwards one per transaction, waiting for their holder. Runs with the database owner's
    login and the whole key file (kinnet admin indexkey reindex), as the field
    master's rewrap does: it reads every person's sealed data, which no service's
    role may. */
#ifndef KN_INDEX_H_INCLUDED
#define KN_INDEX_H_INCLUDED

#include <stdbool.h>

#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"
#include "kn_uuid.h"

//  0 when crypto holds every index version some subject's index is under; else -1
//  with err naming the missing version and what to do. Every daemon runs it at
//  start (a file that lost a version in use would silently stop matching).
int kn_index_check (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err);

#define KN_INDEX_LISTED 10

typedef struct {
    long reindexed;  // indexes recomputed under the current version
    long erased;     // erased people: random bytes under the current version
    long unresolved; // no inputs, or none reproducing the index: left as they are
    long duplicates; // the recomputed index is another subject's: left as they are
    long batches;    // transactions committed
    //  The first unresolved and duplicate subjects (pseudonymous ids), to look into.
    char listed[KN_INDEX_LISTED][KN_UUID_STR];
    int n_listed;
} kn_reindex_report_t;

//  Recompute every subject's index not under the current version, batch subjects
//  per transaction; with dry_run count what would change and change nothing.
//  Refuses to start when a version in use is not in the key file.
int kn_index_reindex (kn_db_t *db, kn_crypto_t *crypto, int batch, bool dry_run,
                      kn_reindex_report_t *report, kn_error_t *err);

//  One index version's use.
typedef struct {
    int version;
    long subjects;       // subjects whose index is under it
    long erased;         // of them, erased people (the re-index unlinks them)
    long without_inputs; // of them, with no referral part or consent to recompute from
    long fingerprints;   // idempotency ledger rows digested under it
    long recent;         // of them, made within the window
    char newest[32];     // the newest of them (ISO 8601), "" when none
} kn_index_use_t;

//  The versions in use (by subjects or ledger rows), in order, at most max; how
//  many, or -1. window_days: how far back a fingerprint counts as recent, from now
//  (kn_clock).
int kn_index_status (kn_db_t *db, int window_days, kn_index_use_t *uses, int max,
                     kn_error_t *err);

#endif
