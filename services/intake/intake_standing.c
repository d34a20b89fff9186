/*  intake_standing: whether each new referral of a batch may be stored at all: its
    district is one Kinnet knows (written back as the directory spells it) and its
    agency holds the referrer role. Asked for every referral in the batch's
    transaction, sent with its BEGIN and answered with its idempotency claims, so it
    costs no round trip of its own. A key used before is not judged: the batch
    answers the retry from the ledger, whatever changed since. */
#include "intake_store_int.h"

//  The districts Kinnet knows: the directory's, and those its active agencies are
//  in or serve. A referral names one of them, or routing could never place it.
#define KNOWN_DISTRICTS                                                                  \
    "SELECT code FROM core.district UNION SELECT district FROM core.agency WHERE active" \
    " UNION SELECT ad.district FROM core.agency_district ad JOIN core.agency a"          \
    "  ON a.id = ad.agency_id WHERE a.active"

static const char *s_statements[][2] = {
    //  Per referral of a batch: the district as the directory spells it (NULL when
    //  nobody knows it) and whether the agency holds the referrer role.
    {"submit_standing",
     "SELECT (SELECT k.code FROM (" KNOWN_DISTRICTS ") k (code)"
     "  WHERE lower (k.code) = lower (t.d) ORDER BY k.code LIMIT 1),"
     " EXISTS (SELECT 1 FROM core.agency_role r WHERE r.agency_id = t.a"
     "  AND r.role = 'referrer')"
     " FROM unnest ($1::text[], $2::uuid[]) WITH ORDINALITY AS t (d, a, i)"
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

int
intake_standing_send (intake_store_t *self, intake_submission_t **items, size_t n,
                      PGresult **rows, kn_error_t *err)
{
    kn_pgarray_t *columns[2];
    kn_pgarray_columns (columns, 2);
    for (size_t i = 0; i < n; i++) {
        kn_pgarray_add (columns[0], items[i]->referral->district);
        kn_pgarray_add (columns[1], items[i]->agency_id);
    }
    return kn_pgarray_defer_read (self->db, "submit_standing", columns, 2, rows, err);
}

bool
intake_standing_judge (intake_store_t *self, intake_submission_t *item,
                       const PGresult *rows, int i)
{
    if (PQgetvalue (rows, i, 1)[0] != 't')
        kn_error_set (&item->err, KN_E_PERMISSION_DENIED, NULL,
                      "your agency does not hold the referrer role");
    else if (PQgetisnull (rows, i, 0))
        s_unknown_district (self, item->referral->district, &item->err);
    else {
        snprintf (item->district, sizeof item->district, "%s", PQgetvalue (rows, i, 0));
        return true;
    }
    item->rc = -1;
    return false;
}
