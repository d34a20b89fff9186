/*  admin_audit: the raw audit trail of a period for an auditor, a page at a time,
    each record with its place in the hash chain (none yet when not sealed). Pages
    follow the audit id, so a page never repeats or skips a record however many
    arrive while an auditor reads. */
#include "admin_ops.h"

#include <stdlib.h>
#include <string.h>

#include "kn_pb.h"
#include "kn_validate.h"

#define PAGE_DEFAULT 1000
#define PAGE_MAX     5000

//  $1, $2: the first day and the day after the last (UTC); $3 the last id seen;
//  $4 the page size and one more, to tell whether there is a next page.
#define EXPORT_SQL                                                                         \
    "SELECT a.id, to_char (a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')," \
    " coalesce (a.agency_id::text, ''), coalesce (a.caseworker_id, ''),"                   \
    " coalesce (a.role, ''), a.service, a.operation, coalesce (a.subject_ref::text, ''),"  \
    " coalesce (a.object_id::text, ''), coalesce (a.basis, ''), a.result,"                 \
    " coalesce (c.seq, 0), coalesce (encode (c.link, 'hex'), '')"                          \
    " FROM core.audit a LEFT JOIN core.audit_chain c ON c.audit_id = a.id"                 \
    " WHERE a.at >= ($1::date)::timestamp AT TIME ZONE 'UTC'"                              \
    " AND a.at < ($2::date)::timestamp AT TIME ZONE 'UTC' AND a.id > $3::bigint"           \
    " ORDER BY a.id LIMIT $4::int"

int
admin_audit_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare (db, "admin_audit_export", EXPORT_SQL, err);
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
                             "after is an audit id, 0 or more");
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
    Kinnet__V1__AuditPage *out = malloc (sizeof *out);
    kinnet__v1__audit_page__init (out);
    out->records = calloc ((size_t)(n ? n : 1), sizeof *out->records);
    for (int r = 0; r < n; r++) {
        Kinnet__V1__AuditRecord *record = malloc (sizeof *record);
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
    out->next_after = more && n ? out->records[n - 1]->audit_id : 0;
    PQclear (rows);
    reply->audit = out;
    return 0;
}
