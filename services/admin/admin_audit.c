/*  admin_audit: the sealed audit trail of a period for an auditor, a page at a
    time, in chain order. Pages follow the chain's seq, not the audit id: ids come
    from a sequence at insert and rows become visible at commit, so paging by id
    would skip a row whose transaction committed after a later id was exported. The
    sealer links rows in commit-safe order, so a chain position, once seen, has
    every earlier one behind it. Records not sealed yet are counted, not sent. */
#include "admin_ops.h"

#include <stdlib.h>
#include <string.h>

#include "kn_pb.h"
#include "kn_validate.h"
#include "kn_alloc.h"

#define PAGE_DEFAULT 1000
//  2,000 records of at most a few hundred bytes each stay well under the 1 MiB
//  message limit (kn_service refuses a larger reply rather than send it).
#define PAGE_MAX     2000

//  $1, $2: the first day and the day after the last (UTC); $3 the last chain seq
//  seen; $4 the page size and one more, to tell whether there is a next page.
#define EXPORT_SQL                                                                         \
    "SELECT a.id, to_char (a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')," \
    " coalesce (a.agency_id::text, ''), coalesce (a.caseworker_id, ''),"                   \
    " coalesce (a.role, ''), a.service, a.operation, coalesce (a.subject_ref::text, ''),"  \
    " coalesce (a.object_id::text, ''), coalesce (a.basis, ''), a.result,"                 \
    " c.seq, encode (c.link, 'hex')"                                                       \
    " FROM core.audit_chain c JOIN core.audit a ON a.id = c.audit_id"                      \
    " WHERE a.at >= ($1::date)::timestamp AT TIME ZONE 'UTC'"                              \
    " AND a.at < ($2::date)::timestamp AT TIME ZONE 'UTC' AND c.seq > $3::bigint"          \
    " ORDER BY c.seq LIMIT $4::int"

//  The records of the period the sealer has not linked yet.
#define UNSEALED_SQL                                                                       \
    "SELECT count (*) FROM core.audit a"                                                   \
    " WHERE a.at >= ($1::date)::timestamp AT TIME ZONE 'UTC'"                              \
    " AND a.at < ($2::date)::timestamp AT TIME ZONE 'UTC'"                                 \
    " AND NOT EXISTS (SELECT 1 FROM core.audit_chain c WHERE c.audit_id = a.id)"

int
admin_audit_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare (db, "admin_audit_export", EXPORT_SQL, err) ||
           kn_db_prepare (db, "admin_audit_unsealed", UNSEALED_SQL, err);
}

int
admin_validate_export_audit (const admin_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__ExportAudit *op = request->export_audit;
    int y, m, d;
    if (kn_validate_date (op->from, &y, &m, &d))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "from",
                             "from must be a real date YYYY-MM-DD");
    if (kn_validate_date (op->to, &y, &m, &d))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "to",
                             "to must be a real date YYYY-MM-DD");
    //  YYYY-MM-DD compares as text as it does as a date.
    if (strcmp (op->to, op->from) <= 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "to", "to must be after from");
    if (op->after < 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "after",
                             "after is a chain position, 0 or more");
    if (op->limit < 0 || op->limit > PAGE_MAX)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "limit", "limit is 0 to %d",
                             PAGE_MAX);
    return 0;
}

int
admin_export_audit (admin_server_t *self, const char *agency,
                    const admin_request_t *request, admin_reply_t *reply, kn_error_t *err)
{
    const Kinnet__V1__ExportAudit *op = request->export_audit;
    int limit = op->limit ? op->limit : PAGE_DEFAULT;
    char after[24], page[16];
    snprintf (after, sizeof after, "%lld", (long long)op->after);
    snprintf (page, sizeof page, "%d", limit + 1);
    const char *values[] = {op->from, op->to, after, page};
    PGresult *rows =
        kn_db_ensure (self->db, err)
            ? NULL
            : kn_db_run (self->db, "admin_audit_export", 4, values, NULL, NULL, err);
    if (!rows)
        return -1;
    int n = PQntuples (rows);
    bool more = n > limit;
    if (more)
        n = limit;
    Kinnet__V1__AuditPage *out = kn_malloc (sizeof *out);
    kinnet__v1__audit_page__init (out);
    out->records = kn_calloc ((size_t)(n ? n : 1), sizeof *out->records);
    for (int r = 0; r < n; r++) {
        Kinnet__V1__AuditRecord *record = kn_malloc (sizeof *record);
        kinnet__v1__audit_record__init (record);
        record->audit_id = strtoll (PQgetvalue (rows, r, 0), NULL, 10);
        char **texts[] = {
            &record->at,          &record->agency_id, &record->caseworker_id,
            &record->role,        &record->service,   &record->operation,
            &record->subject_ref, &record->object_id, &record->basis,
            &record->result};
        for (int c = 0; c < 10; c++)
            *texts[c] = kn_pb_string (PQgetvalue (rows, r, c + 1));
        record->chain_seq = strtoll (PQgetvalue (rows, r, 11), NULL, 10);
        record->chain_link = kn_pb_string (PQgetvalue (rows, r, 12));
        out->records[out->n_records++] = record;
    }
    out->next_after = more && n ? out->records[n - 1]->chain_seq : 0;
    PQclear (rows);
    reply->audit = out;
    //  On the last page only: what an auditor must know before trusting the export.
    if (out->next_after)
        return 0;
    PGresult *unsealed =
        kn_db_run (self->db, "admin_audit_unsealed", 2, values, NULL, NULL, err);
    if (!unsealed)
        return -1;
    out->unsealed = strtoll (PQgetvalue (unsealed, 0, 0), NULL, 10);
    PQclear (unsealed);
    return 0;
}
