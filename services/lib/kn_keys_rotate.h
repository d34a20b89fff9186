/*  kn_keys_rotate: moving sealed data forward, online, in bounded batches.
    - Rewrap: every data key not wrapped under the key file's current field master
      is unwrapped with the version it names and wrapped again under the current one.
      No sealed value is touched.
    - Forward: every value still sealed under the root key (format 1, from before
      per-person keys) is opened and sealed again under its person's data key (made
      when they have none), bound to the same ad.
    Each batch is one transaction that locks only its own rows (FOR UPDATE SKIP
    LOCKED), so the services keep sealing and opening throughout: a reader sees a
    value before or after its batch, and both open. Runs with the database owner's
    login and the whole key file (kinnet admin fieldkey rewrap). */
#ifndef KN_KEYS_ROTATE_H_INCLUDED
#define KN_KEYS_ROTATE_H_INCLUDED

#include <stdbool.h>

#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"

typedef struct {
    long keys_rewrapped;     // data keys wrapped again under the current master
    long values_forwarded;   // format-1 values sealed again under a data key
    long values_erased;      // format-1 values of an erased person: left as they are
    long batches;            // transactions committed
} kn_rewrap_report_t;

//  Rewrap and forward everything, batch rows per transaction; with dry_run count
//  what would change and change nothing. Fails (nothing of the failing batch
//  written) when a key is wrapped under a version the key file lacks, or a value
//  does not open.
int kn_keys_rewrap (kn_db_t *db, kn_crypto_t *crypto, int batch, bool dry_run,
                    kn_rewrap_report_t *report, kn_error_t *err);

//  Inside the caller's transaction: every value about subject_id still sealed under
//  the root key (their date of birth, every referral from before that names them,
//  the consents about them) moved under the data keys of the people they belong to,
//  as rewrap would; what erasing them must do first. *forwarded counts them.
int kn_keys_forward_subject (kn_db_t *db, kn_crypto_t *crypto, const char *subject_id,
                             long *forwarded, kn_error_t *err);

//  Per master version, the live data keys wrapped under it (versions[i], counts[i],
//  at most max); *legacy the values still sealed under the root key; *erased the
//  destroyed keys. Returns the number of versions, or -1.
int kn_keys_status (kn_db_t *db, int *versions, long *counts, int max, long *legacy,
                    long *erased, kn_error_t *err);

#endif
