/*  intake_standing: whether each referral of a batch may be stored at all, asked
    before the batch's transaction and for every referral in one round trip: its
    district is one Kinnet knows (written back as the directory spells it) and its
    agency holds the referrer role. A key used before skips both: the batch answers
    the retry from the ledger, whatever changed since. */
#include "intake_store_int.h"

//  The districts Kinnet knows: the directory's, and those its active agencies are
//  in or serve. A referral names one of them, or routing could never place it.
#define KNOWN_DISTRICTS                                                                  \
    "SELECT code FROM core.district UNION SELECT district FROM core.agency WHERE active" \
    " UNION SELECT ad.district FROM core.agency_district ad JOIN core.agency a"          \
    "  ON a.id = ad.agency_id WHERE a.active"

static const char *s_statements[][2] = {
    //  Per referral of a batch: the district as the directory spells it (NULL when
    //  nobody knows it), whether the agency holds the referrer role, and whether its
    //  key was used already (a retry gets its first answer, whatever changed since).
    {"submit_standing",
     "SELECT (SELECT k.code FROM (" KNOWN_DISTRICTS ") k (code)"
     "  WHERE lower (k.code) = lower (t.d) ORDER BY k.code LIMIT 1),"
     " EXISTS (SELECT 1 FROM core.agency_role r WHERE r.agency_id = t.a"
     "  AND r.role = 'referrer'),"
     " EXISTS (SELECT 1 FROM intake.idempotency y WHERE y.agency_id = t.a AND y.key = t.k)"
     " FROM unnest ($1::text[], $2::uuid[], $3::text[]) WITH ORDINALITY AS t (d, a, k, i)"
     " ORDER BY t.i"},
    {"known_districts",
     "SELECT count (*), string_agg (code, ', ' ORDER BY code) FILTER (WHERE n <= 20)"
     " FROM (SELECT code, row_number () OVER (ORDER BY code) AS n"
     "  FROM (" KNOWN_DISTRICTS ") k (code)) d"},
};

int
intake_standing_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  The refusal for an unknown district, naming the ones Kinnet knows.
static void
s_unknown_district (intake_store_t *self, const char *district, kn_error_t *err)
{
    kn_error_t ignored;
    PGresult *known =
        kn_db_run (self->db, "known_districts", 0, NULL, NULL, NULL, &ignored);
    int count = known ? atoi (PQgetvalue (known, 0, 0)) : 0;
    kn_error_set (err, KN_E_INVALID_ARGUMENT, "district",
                  "unknown district '%.64s'; known: %.200s%s", district,
                  known && count ? PQgetvalue (known, 0, 1) : "none",
                  count > 20 ? ", ..." : "");
    PQclear (known);
}

//  What does not depend on the batch's transaction, for every item in one round
//  trip: the district is one Kinnet knows (written back as the directory spells
//  it) and the agency may refer. Refused items are answered here (rc -1) and true
//  is returned for those that go on. -1 when the statement failed (each item then
//  carries the error).
int
intake_check_standing (intake_store_t *self, intake_submission_t *items, size_t n,
                       bool *go_on)
{
    kn_error_t err;
    kn_error_clear (&err);
    PGresult *rows = NULL;
    //  A session found dead here is replaced once, as for the batch itself.
    for (int attempt = 0; attempt < 2 && !rows; attempt++) {
        if (attempt && !intake_reconnected (self, &err))
            break;
        kn_error_clear (&err);
        if (kn_db_ensure (self->db, &err))
            continue;
        kn_pgarray_t *columns[3];
        kn_pgarray_columns (columns, 3);
        for (size_t i = 0; i < n; i++) {
            kn_pgarray_add (columns[0], items[i].referral->district);
            kn_pgarray_add (columns[1], items[i].agency_id);
            kn_pgarray_add (columns[2], items[i].referral->idempotency_key);
        }
        rows = kn_pgarray_run (self->db, "submit_standing", columns, 3, &err);
    }
    if (!rows || (size_t)PQntuples (rows) != n) {
        if (rows)
            kn_error_set (&err, KN_E_INTERNAL, NULL, "district check returned %d rows",
                          PQntuples (rows));
        PQclear (rows);
        for (size_t i = 0; i < n; i++) {
            items[i].rc = -1;
            items[i].err = err;
            go_on[i] = false;
        }
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        go_on[i] = false;
        items[i].rc = -1;
        kn_error_clear (&items[i].err);
        if (PQgetvalue (rows, (int)i, 2)[0] == 't') {
            //  A retry: the batch answers it from the ledger (or finds the conflict).
            items[i].rc = 0;
            go_on[i] = true;
        } else if (PQgetvalue (rows, (int)i, 1)[0] != 't')
            kn_error_set (&items[i].err, KN_E_PERMISSION_DENIED, NULL,
                          "your agency does not hold the referrer role");
        else if (PQgetisnull (rows, (int)i, 0))
            s_unknown_district (self, items[i].referral->district, &items[i].err);
        else {
            snprintf (items[i].district, sizeof items[i].district, "%s",
                      PQgetvalue (rows, (int)i, 0));
            items[i].rc = 0;
            go_on[i] = true;
        }
    }
    PQclear (rows);
    return 0;
}
