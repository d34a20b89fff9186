/*  kn_index: which blind-index versions are in use, and whether a key file holds
    them. The re-index is kn_index_reindex.c's. */
#include "kn_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_clock.h"

int
kn_index_check (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err)
{
    PGresult *rows = kn_db_query (
        db, "SELECT version FROM core.blind_index_versions () AS version ORDER BY 1", 0,
        NULL, err);
    if (!rows)
        return -1;
    int rc = 0;
    for (int r = 0; r < PQntuples (rows) && rc == 0; r++) {
        int version = atoi (PQgetvalue (rows, r, 0));
        if (!kn_crypto_has_index (crypto, version))
            rc = kn_error_set (
                err, KN_E_INVALID_ARGUMENT, "key_file",
                "index key version %d is in use (subjects' blind indexes are under it) but"
                " not in the key file: matching them would silently fail. Put its line"
                " back (version 1 is the root key's), or re-index first: kinnet admin"
                " indexkey status",
                version);
    }
    PQclear (rows);
    return rc;
}

//  The use of version in uses[0..*n), added in order when new (at most max).
static kn_index_use_t *
s_use (kn_index_use_t *uses, int *n, int max, int version)
{
    int at = 0;
    while (at < *n && uses[at].version < version)
        at++;
    if (at < *n && uses[at].version == version)
        return &uses[at];
    if (*n == max)
        return NULL;
    memmove (&uses[at + 1], &uses[at], (size_t)(*n - at) * sizeof *uses);
    memset (&uses[at], 0, sizeof *uses);
    uses[at].version = version;
    (*n)++;
    return &uses[at];
}

//  Every idempotency ledger: a request digest in each is under some index version.
#define LEDGER(t) "SELECT request_hash_version AS v, created_at AS at FROM " t
#define LEDGERS                                                                          \
    LEDGER ("intake.idempotency")                                                        \
    " UNION ALL " LEDGER ("consent.idempotency") " UNION ALL " LEDGER (                  \
        "routing.idempotency") " UNION ALL " LEDGER ("admin.idempotency") " UNION ALL " LEDGER ("records.idempotency")

int
kn_index_status (kn_db_t *db, int window_days, kn_index_use_t *uses, int max,
                 kn_error_t *err)
{
    if (kn_db_ensure (db, err))
        return -1;
    //  An erased person's key row is kept with its wrapping gone.
    PGresult *subjects = kn_db_query (
        db,
        "SELECT s.blind_index_version, count(*),"
        " count(*) FILTER (WHERE k.id IS NOT NULL AND k.wrapped IS NULL),"
        " count(*) FILTER (WHERE (k.id IS NULL OR k.wrapped IS NOT NULL)"
        "  AND NOT EXISTS (SELECT 1 FROM intake.referral_subject rs"
        "                   WHERE rs.subject_id = s.id AND rs.personal IS NOT NULL)"
        "  AND NOT EXISTS (SELECT 1 FROM consent.record c WHERE c.subject_id = s.id))"
        " FROM core.subject s LEFT JOIN core.data_key k ON k.subject_id = s.id"
        " GROUP BY 1 ORDER BY 1",
        0, NULL, err);
    if (!subjects)
        return -1;
    int n = 0;
    for (int r = 0; r < PQntuples (subjects); r++) {
        kn_index_use_t *use = s_use (uses, &n, max, atoi (PQgetvalue (subjects, r, 0)));
        if (!use)
            break;
        use->subjects = atol (PQgetvalue (subjects, r, 1));
        use->erased = atol (PQgetvalue (subjects, r, 2));
        use->without_inputs = atol (PQgetvalue (subjects, r, 3));
    }
    PQclear (subjects);
    char now[24], days[16];
    snprintf (now, sizeof now, "%lld", (long long)kn_clock_now ());
    snprintf (days, sizeof days, "%d", window_days);
    const char *values[] = {now, days};
    PGresult *prints = kn_db_query (
        db,
        "SELECT v, count(*),"
        " count(*) FILTER (WHERE at > to_timestamp ($1::bigint)"
        "                              - make_interval (days => $2::int)),"
        " to_char (max (at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " FROM (" LEDGERS ") l GROUP BY 1 ORDER BY 1",
        2, values, err);
    if (!prints)
        return -1;
    for (int r = 0; r < PQntuples (prints); r++) {
        kn_index_use_t *use = s_use (uses, &n, max, atoi (PQgetvalue (prints, r, 0)));
        if (!use)
            break;
        use->fingerprints = atol (PQgetvalue (prints, r, 1));
        use->recent = atol (PQgetvalue (prints, r, 2));
        snprintf (use->newest, sizeof use->newest, "%s", PQgetvalue (prints, r, 3));
    }
    PQclear (prints);
    return n;
}
