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

//  The gather's tables, in the order they are written, with the statement that
//  writes each (the audit rows are kn_audit's).
typedef struct {
    const char *statement;
    kn_pgarray_t **columns;
    size_t n;
} table_t;

enum { TABLES = 6 };

static void
s_tables (routing_gather_t *gather, table_t tables[TABLES])
{
    tables[0] = (table_t){"case_insert_many", gather->cases, GATHER_CASE_COLUMNS};
    tables[1] = (table_t){"case_referral_insert_many", gather->links, GATHER_LINK_COLUMNS};
    tables[2] = (table_t){"need_insert_many", gather->needs, GATHER_NEED_COLUMNS};
    tables[3] = (table_t){"involvement_insert_many", gather->offers, GATHER_OFFER_COLUMNS};
    tables[4] = (table_t){"feed_append_many", gather->feed, GATHER_FEED_COLUMNS};
    tables[5] = (table_t){NULL, gather->audit, KN_AUDIT_COLUMNS};
}

void
routing_gather_init (routing_gather_t *gather)
{
    table_t tables[TABLES];
    s_tables (gather, tables);
    for (size_t t = 0; t < TABLES; t++)
        kn_pgarray_columns (tables[t].columns, tables[t].n);
}

void
routing_gather_drop (routing_gather_t *gather)
{
    table_t tables[TABLES];
    s_tables (gather, tables);
    for (size_t t = 0; t < TABLES; t++)
        for (size_t i = 0; i < tables[t].n; i++)
            kn_pgarray_destroy (&tables[t].columns[i]);
}

void
routing_gather_row (kn_pgarray_t **columns, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kn_pgarray_add (columns[i], values[i]);
}

int
routing_gather_write (routing_store_t *self, routing_gather_t *gather, kn_error_t *err)
{
    table_t tables[TABLES];
    s_tables (gather, tables);
    int rc = 0;
    for (size_t t = 0; t < TABLES && rc == 0; t++) {
        if (kn_pgarray_size (tables[t].columns[0]) == 0)
            continue; // nothing gathered: nothing sent
        rc = tables[t].statement
                 ? kn_pgarray_exec (self->db, tables[t].statement, tables[t].columns,
                                    tables[t].n, err)
                 : kn_audit_write (self->db, tables[t].columns, err);
    }
    routing_gather_drop (gather); // what was not sent (exec and write consume theirs)
    routing_gather_init (gather);
    return rc;
}
