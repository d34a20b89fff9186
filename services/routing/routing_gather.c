/*  routing_gather: a run's writes, gathered and sent as one statement per table
    (routing_gather_t). A row-at-a-time INSERT pays its statement's work (bind,
    executor start, triggers, the round's WAL records) for every row; a run of
    referrals writes dozens of rows to each table, so each table gets one INSERT
    ... SELECT FROM unnest, its columns as arrays (kn_pgarray), as intake writes a
    batch. The rows are the single statements' own (need_insert,
    involvement_insert, case_insert, case_referral_insert, feed_append, the audit
    row), in the order they were gathered. feed_append_many is routing_feed's: it
    numbers each agency's events. */
#include "kn_alloc.h"
#include "routing_store_int.h"

static const char *s_statements[][2] = {
    //  case_insert's seven values, one column each.
    {"case_insert_many",
     "INSERT INTO routing.case (id, family_id, district, languages, urgency, opened_at,"
     " needs_count) SELECT id, fa, di, la::text[], ur, to_timestamp (op), nc"
     " FROM unnest ($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::smallint[],"
     " $6::float8[], $7::integer[]) WITH ORDINALITY AS t (id, fa, di, la, ur, op, nc, o)"
     " ORDER BY o"},
    //  case_referral_insert's five.
    {"case_referral_insert_many",
     "INSERT INTO routing.case_referral (referral_id, case_id, referring_agency_id, routed_at,"
     " full_view) SELECT re, ca, ra, to_timestamp (ro), fv"
     " FROM unnest ($1::uuid[], $2::uuid[], $3::uuid[], $4::float8[], $5::boolean[])"
     " WITH ORDINALITY AS t (re, ca, ra, ro, fv, o) ORDER BY o"},
    //  need_insert's twelve.
    {"need_insert_many",
     "INSERT INTO routing.need (id, case_id, referral_id, category, urgency, status, created_at,"
     " district, referring_agency_id, first_offered_at, first_deadline_at, unplaced_at)"
     " SELECT id, ca, re, cg, ur, st, to_timestamp (cr), di, ra, to_timestamp (fo),"
     " to_timestamp (fd), to_timestamp (un)"
     " FROM unnest ($1::uuid[], $2::uuid[], $3::uuid[], $4::smallint[], $5::smallint[],"
     " $6::float8[], $7::text[], $8::uuid[], $9::text[], $10::float8[], $11::float8[],"
     " $12::float8[]) WITH ORDINALITY AS t (id, ca, re, cg, ur, cr, di, ra, st, fo, fd, un, o)"
     " ORDER BY o"},
    //  involvement_insert's eleven.
    {"involvement_insert_many",
     "INSERT INTO routing.involvement (id, case_id, need_id, agency_id, status, rank,"
     " ranked_by, waiting_for_consent, offered_at, deadline_at, transferred_from,"
     " transfer_reason) SELECT id, ca, ne, ag, 'offered', ra, rb, wa, to_timestamp (oa),"
     " to_timestamp (da), tf, tr"
     " FROM unnest ($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::integer[],"
     " $6::bytea[], $7::boolean[], $8::float8[], $9::float8[], $10::uuid[], $11::smallint[])"
     " WITH ORDINALITY AS t (id, ca, ne, ag, ra, rb, wa, oa, da, tf, tr, o) ORDER BY o"},
};

int
routing_gather_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

void
routing_gather_init (routing_gather_t *gather)
{
    kn_pgarray_columns (gather->cases, GATHER_CASE_COLUMNS);
    kn_pgarray_columns (gather->links, GATHER_LINK_COLUMNS);
    kn_pgarray_columns (gather->needs, GATHER_NEED_COLUMNS);
    kn_pgarray_columns (gather->offers, GATHER_OFFER_COLUMNS);
    kn_pgarray_columns (gather->feed, GATHER_FEED_COLUMNS);
    kn_pgarray_columns (gather->audit, KN_AUDIT_COLUMNS);
}

static void
s_drop (kn_pgarray_t **columns, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kn_pgarray_destroy (&columns[i]);
}

void
routing_gather_drop (routing_gather_t *gather)
{
    s_drop (gather->cases, GATHER_CASE_COLUMNS);
    s_drop (gather->links, GATHER_LINK_COLUMNS);
    s_drop (gather->needs, GATHER_NEED_COLUMNS);
    s_drop (gather->offers, GATHER_OFFER_COLUMNS);
    s_drop (gather->feed, GATHER_FEED_COLUMNS);
    s_drop (gather->audit, KN_AUDIT_COLUMNS);
}

void
routing_gather_row (kn_pgarray_t **columns, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kn_pgarray_add (columns[i], values[i]);
}

//  One table's rows, if it has any (the columns consumed either way).
static int
s_write (routing_store_t *self, const char *name, kn_pgarray_t **columns, size_t n,
         kn_error_t *err)
{
    if (kn_pgarray_size (columns[0]) == 0) {
        s_drop (columns, n);
        return 0;
    }
    return kn_pgarray_exec (self->db, name, columns, n, err);
}

int
routing_gather_write (routing_store_t *self, routing_gather_t *gather, kn_error_t *err)
{
    int rc = s_write (self, "case_insert_many", gather->cases, GATHER_CASE_COLUMNS, err);
    rc = rc ?: s_write (self, "case_referral_insert_many", gather->links, GATHER_LINK_COLUMNS,
                        err);
    rc = rc ?: s_write (self, "need_insert_many", gather->needs, GATHER_NEED_COLUMNS, err);
    rc = rc ?: s_write (self, "involvement_insert_many", gather->offers, GATHER_OFFER_COLUMNS,
                        err);
    rc = rc ?: s_write (self, "feed_append_many", gather->feed, GATHER_FEED_COLUMNS, err);
    rc = rc ?: kn_audit_write (self->db, gather->audit, err);
    routing_gather_drop (gather); // what a failure left unsent
    routing_gather_init (gather);
    return rc;
}
