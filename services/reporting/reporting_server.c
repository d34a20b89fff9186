/*  reporting_server: decode a ReportingRequest, run its operation's row of the
    table below (validate, check the caller's role, handle), audit, encode. */
#include "reporting_server.h"

#include <stdlib.h>
#include <string.h>

#include "kinnet/v1/reporting.pb-c.h"
#include "kn_agency.h"
#include "kn_audit.h"
#include "kn_config.h"
#include "kn_dispatch.h"
#include "kn_log.h"
#include "kn_clock.h"
#include "kn_pb.h"
#include "kn_service.h"
#include "kn_validate.h"
#include "reporting_replica.h"
#include "reporting_report.h"
#include "reporting_subject.h"
#include "reporting_verifier.h"
#include "kn_alloc.h"


//  What the governance log holds: role changes, release decisions, override reviews,
//  and whatever an agency holding the data-protection role did (its reads included).
#define GOVERNANCE_MAX 5000
#define GOVERNANCE_SQL                                                                        \
    "SELECT a.id, floor (extract (epoch FROM a.at))::bigint, coalesce (a.agency_id::text, ''),"\
    " CASE WHEN a.service = 'admin' THEN coalesce (a.caseworker_id, '') ELSE '' END,"          \
    " a.service, a.operation, coalesce (a.object_id::text, ''), coalesce (a.role, ''),"       \
    " a.result FROM core.audit a"                                                              \
    " WHERE ($1::bigint IS NULL OR a.at >= to_timestamp ($1::bigint))"                         \
    " AND ($2::bigint IS NULL OR a.at < to_timestamp ($2::bigint))"                            \
    " AND (a.operation IN ('role_grant', 'role_revoke', 'release_approve', 'release_decline',"\
    "  'review') OR a.role = 'data_protection_officer'"                                        \
    "  OR a.agency_id IN (SELECT agency_id FROM core.agency_role"                              \
    "   WHERE role = 'data_protection_officer'))"                                              \
    " ORDER BY a.id LIMIT 5001"

//  The sessions reads run on, on one server: dbs[0] serves exports and the
//  governance log and opens a report; the others join its reports.
typedef struct {
    kn_db_t *dbs[REPORTING_MAX_SESSIONS];
    size_t n_dbs;
    consent_store_t *consents;   //  subject access exports read consents as consent does
} side_t;

struct _reporting_server_t {
    kn_db_t *db;        //  the primary: audit rows, roles, its WAL position
    side_t primary;     //  dbs[0] is db
    side_t standby;     //  n_dbs 0: no standby configured
    int max_lag_ms;     //  how long a read waits for the standby to catch up
    kn_sdc_config_t sdc;
    kn_crypto_t *crypto;
    size_t n_trusted;
    reporting_verifier_t *verifier;   //  verify_audit, on its own thread and sessions
    int verify_wait_ms;               //  how long a request waits for a verdict
};

//  Where one request reads: the side chosen, and why (s_read).
typedef struct {
    side_t *side;
    char lsn[REPORTING_LSN_SIZE];   //  the primary's position when it came ("": no standby)
    reporting_route_t route;
} read_t;

//  A side on first (the caller's), with more sessions to the same server (ours),
//  its consent store and the governance statement. A session that cannot be had now
//  only makes reports slower; a standby's sessions are lazy: they connect once it
//  is up.
static int
s_side_init (side_t *side, kn_db_t *first, kn_crypto_t *crypto, long sessions,
             kn_error_t *err)
{
    side->dbs[side->n_dbs++] = first;
    if (!(side->consents = consent_store_new (first, crypto, err))
        || kn_db_prepare (first, "reporting_governance", GOVERNANCE_SQL, err))
        return -1;
    while (side->n_dbs < (size_t) sessions) {
        kn_error_t failed;
        kn_db_t *extra = kn_db_clone (first, &failed);
        if (!extra) {
            kn_log (KN_WARN, "service.report_session_unavailable", "problem", failed.message,
                    NULL);
            break;
        }
        side->dbs[side->n_dbs++] = extra;
    }
    return 0;
}

//  Everything s_side_init made; dbs[0] stays the caller's.
static void
s_side_destroy (side_t *side)
{
    consent_store_destroy (&side->consents);
    for (size_t k = 1; k < side->n_dbs; k++)
        kn_db_destroy (&side->dbs[k]);
    side->n_dbs = 0;
}

reporting_server_t *
reporting_server_new (kn_db_t *db, kn_db_t *standby, kn_crypto_t *crypto,
                      const kn_audit_trusted_t *trusted, size_t n_trusted,
                      kn_error_t *err)
{
    kn_sdc_config_t sdc;
    long sessions = kn_config_int ("KINNET_REPORT_SESSIONS", 2);
    if (sessions < 1 || sessions > REPORTING_MAX_SESSIONS) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "KINNET_REPORT_SESSIONS",
                      "KINNET_REPORT_SESSIONS must be 1 to %d", REPORTING_MAX_SESSIONS);
        return NULL;
    }
    if (kn_sdc_config_from_env (&sdc, err) || kn_audit_prepare (db, err)
        || kn_db_prepare (db, "reporting_disclose",
                          "INSERT INTO core.disclosure (subject_id, recipient_id, categories,"
                          " purpose, basis, ground_id, service, object_id) VALUES ($1, $2,"
                          " '{1,2,3,4,5,6,7,8}', 0, 'subject_access', NULL, 'reporting', NULL)",
                          err)
        || kn_agency_prepare (db, err) || reporting_replica_prepare_primary (db, err))
        return NULL;
    reporting_server_t *self = kn_calloc (1, sizeof *self);
    self->db = db;
    self->crypto = crypto;
    self->sdc = sdc;
    self->n_trusted = n_trusted;
    self->max_lag_ms = reporting_replica_max_lag_ms ();
    if (s_side_init (&self->primary, db, crypto, sessions, err)
        || (standby
            && (s_side_init (&self->standby, standby, crypto, sessions, err)
                || reporting_replica_prepare (standby, err)))) {
        reporting_server_destroy (&self);
        return NULL;
    }
    self->verify_wait_ms = (int) kn_config_int ("KINNET_AUDIT_VERIFY_WAIT_MS", 250);
    if (self->verify_wait_ms < 0 || self->verify_wait_ms > 10000)
        self->verify_wait_ms = 250;
    //  Without a trusted key there is nothing to verify against (s_verify_audit).
    if (n_trusted) {
        kn_db_t *verify_db = kn_db_clone (db, err);
        kn_db_t *verify_standby = verify_db && standby ? kn_db_clone (standby, err) : NULL;
        if (!verify_db || (standby && !verify_standby)
            || !(self->verifier = reporting_verifier_new (&verify_db, &verify_standby, trusted,
                                                          n_trusted, self->max_lag_ms, err))) {
            kn_db_destroy (&verify_db);
            kn_db_destroy (&verify_standby);
            reporting_server_destroy (&self);
        }
    }
    return self;
}

void
reporting_server_destroy (reporting_server_t **self_p)
{
    if (self_p && *self_p) {
        reporting_verifier_destroy (&(*self_p)->verifier);
        s_side_destroy (&(*self_p)->primary);
        s_side_destroy (&(*self_p)->standby);
        free (*self_p);
        *self_p = NULL;
    }
}

//  The one correspondence of the wire's AuditAnchor (first) and the library's
//  anchor (second), read both ways below; the 32-byte hash goes alongside.
#define ANCHOR_FIELDS(X) X (checkpoint, number) X (records, seq) X (disclosures, disclosure_seq)

//  A validated anchor off the wire (s_validate_verify_audit checked its hash length).
static void
s_anchor_in (const Kinnet__V1__AuditAnchor *given, kn_audit_anchor_t *anchor)
{
#define IN(wire, ours) anchor->ours = given->wire;
    ANCHOR_FIELDS (IN)
#undef IN
    memcpy (anchor->hash, given->hash.data, sizeof anchor->hash);
}

static Kinnet__V1__AuditAnchor *
s_anchor_out (const kn_audit_anchor_t *anchor)
{
    Kinnet__V1__AuditAnchor *out = kn_malloc (sizeof *out);
    kinnet__v1__audit_anchor__init (out);
#define OUT(wire, ours) out->wire = anchor->ours;
    ANCHOR_FIELDS (OUT)
#undef OUT
    out->hash.len = sizeof anchor->hash;
    out->hash.data = kn_malloc (out->hash.len);
    memcpy (out->hash.data, anchor->hash, out->hash.len);
    return out;
}

static Kinnet__V1__AuditVerdict *
s_verdict (const kn_audit_verdict_t *v)
{
    Kinnet__V1__AuditVerdict *out = kn_malloc (sizeof *out);
    kinnet__v1__audit_verdict__init (out);
    out->intact = v->intact;
    out->signer_trusted = v->signer_trusted;
    out->records = v->records;
    out->checkpoints = v->checkpoints;
    out->unsealed = v->unsealed;
    out->head_seq = v->head_seq;
    out->last_checkpoint = v->last_checkpoint;
    out->broken_seq = v->broken_seq;
    out->broken_audit_id = v->broken_audit_id;
    out->problem = kn_strdup (v->problem);
    out->disclosures = v->disclosures;
    out->disclosures_unsealed = v->disclosures_unsealed;
    out->anchor = v->intact && v->has_anchor ? s_anchor_out (&v->anchor) : NULL;
    out->audit_start = v->audit_start;
    out->disclosure_start = v->disclosure_start;
    out->prunes = v->prunes;
    out->prunes_ahead = v->prunes_ahead;
    out->newest_prunes = kn_calloc (v->n_shown + 1, sizeof *out->newest_prunes);
    for (size_t i = 0; i < v->n_shown; i++) {
        const kn_audit_prune_t *p = &v->shown[i];
        Kinnet__V1__AuditPrune *prune = kn_malloc (sizeof *prune);
        kinnet__v1__audit_prune__init (prune);
        prune->chain = kn_strdup (p->disclosures ? "disclosure" : "audit");
        prune->checkpoint = p->checkpoint;
        prune->seq = p->seq;
        prune->removed = p->removed;
        prune->checkpoint_signed_at = kn_pb_timestamp (p->signed_at);
        prune->moment = kn_pb_timestamp (p->moment);
        prune->at = kn_pb_timestamp (p->at);
        out->newest_prunes[out->n_newest_prunes++] = prune;
    }
    return out;
}

//  One operation of ReportingRequest: what it is called, what it answers with, the
//  role the caller's agency must hold, the ids its audit row names (about; NULL:
//  none), its field rules (validate; NULL: none), and what runs it (handle).
typedef struct {
    int op_case; //  first, as kn_dispatch_find reads it
    const char *operation;
    Kinnet__V1__ReportingReply__ResultCase result_case;
    const char *role;
    kn_about_t (*about) (const Kinnet__V1__ReportingRequest *request);
    int (*validate) (const Kinnet__V1__ReportingRequest *request, kn_error_t *err);
    //  more field rules, checked once the role has been (NULL: none)
    int (*settle) (const Kinnet__V1__ReportingRequest *request, kn_error_t *err);
    //  at: where it reads (verify_audit chooses on its own thread, and says)
    int (*handle) (reporting_server_t *self, read_t *at, const char *agency,
                   const Kinnet__V1__ReportingRequest *request,
                   Kinnet__V1__ReportingReply *reply, kn_error_t *err);
} op_t;

//  The operations' parts, in the order of the table below.

static int
s_validate_verify_audit (const Kinnet__V1__ReportingRequest *request, kn_error_t *err)
{
    const Kinnet__V1__AuditAnchor *anchor = request->verify_audit->anchor;
    if (!anchor)
        return 0;
    if (anchor->checkpoint < 1)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "anchor.checkpoint",
                             "a checkpoint number is 1 or more");
    if (anchor->records < 0 || anchor->disclosures < 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT,
                             anchor->records < 0 ? "anchor.records"
                                                 : "anchor.disclosures",
                             "a chain position is 0 or more");
    if (anchor->hash.len != 32)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "anchor.hash",
                             "a checkpoint hash is 32 bytes");
    return 0;
}

//  Checked against the keys configured as trusted, never against the key this
//  process may sign with: one foothold in it must not make its own trail "intact".
//  The chains are read in batches (kn_audit_chain_verify), so memory stays bounded,
//  on the verifier's thread, so reports are not held back (reporting_verifier.h).
static int
s_verify_audit (reporting_server_t *self, read_t *at, const char *agency,
                const Kinnet__V1__ReportingRequest *request,
                Kinnet__V1__ReportingReply *reply, kn_error_t *err)
{
    if (self->n_trusted == 0)
        return kn_error_set (
            err, KN_E_INTERNAL, NULL,
            "this reporting service has no trusted audit public key "
            "(KINNET_AUDIT_TRUSTED_KEYS): it cannot vouch for the trail");
    const Kinnet__V1__AuditAnchor *given = request->verify_audit->anchor;
    kn_audit_anchor_t anchor = {0};
    if (given)
        s_anchor_in (given, &anchor);
    kn_audit_verdict_t verdict;
    if (reporting_verifier_ask (self->verifier, given ? &anchor : NULL,
                                *at->lsn ? at->lsn : NULL,
                                self->verify_wait_ms, &verdict, &at->route, err))
        return -1;
    reply->verdict = s_verdict (&verdict);
    return 0;
}

//  A report's settings are checked once the role has been.
static int
s_settle_report (const Kinnet__V1__ReportingRequest *request, kn_error_t *err)
{
    return reporting_report_validate (request->report, err);
}

static int
s_report (reporting_server_t *self, read_t *at, const char *agency,
          const Kinnet__V1__ReportingRequest *request, Kinnet__V1__ReportingReply *reply,
          kn_error_t *err)
{
    return reporting_report_run (at->side->dbs, at->side->n_dbs, &self->sdc, request->report,
                                 kn_clock_now (), &reply->report, err);
}

static kn_about_t
s_about_export_subject (const Kinnet__V1__ReportingRequest *request)
{
    return (kn_about_t){.caseworker = request->export_subject->caseworker_id,
                        .subject = request->export_subject->subject_id};
}

static int
s_validate_export_subject (const Kinnet__V1__ReportingRequest *request, kn_error_t *err)
{
    const Kinnet__V1__ExportSubject *op = request->export_subject;
    return kn_validate_uuid (op->subject_id, "subject_id", err)
               ?: kn_validate_text (op->caseworker_id, "caseworker_id", 0, 128, false,
                                    err);
}

static int
s_export_subject (reporting_server_t *self, read_t *at, const char *agency,
                  const Kinnet__V1__ReportingRequest *request,
                  Kinnet__V1__ReportingReply *reply, kn_error_t *err)
{
    const Kinnet__V1__ExportSubject *op = request->export_subject;
    json_t *document = NULL;
    if (reporting_subject_export (at->side->dbs[0], self->crypto, at->side->consents, agency,
                                  op->subject_id, &document, err))
        return -1;
    reply->subject_access = kn_malloc (sizeof *reply->subject_access);
    kinnet__v1__subject_access__init (reply->subject_access);
    reply->subject_access->subject_id = kn_strdup (op->subject_id);
    //  NULL only when memory ran out; an empty export must not pass for one.
    reply->subject_access->json = kn_alloc_checked (
        json_dumps (document, JSON_INDENT (2) | JSON_SORT_KEYS), __FILE__, __LINE__);
    json_decref (document);
    return 0;
}

//  The governance log of a period, from the audit trail.
static int
s_governance (reporting_server_t *self, read_t *at, const char *agency,
              const Kinnet__V1__ReportingRequest *request,
              Kinnet__V1__ReportingReply *reply, kn_error_t *err)
{
    kn_db_t *db = at->side->dbs[0];
    const Kinnet__V1__ListGovernance *op = request->governance;
    Kinnet__V1__GovernanceLog **log = &reply->governance;
    *log = NULL;
    //  Unset bounds: from the beginning, until now (the database's, as the rows').
    char from[24], to[24];
    snprintf (from, sizeof from, "%lld", op->from ? (long long) op->from->seconds : 0LL);
    snprintf (to, sizeof to, "%lld", op->to ? (long long) op->to->seconds : 0LL);
    const char *values[] = {op->from ? from : NULL, op->to ? to : NULL};
    PGresult *rows = kn_db_ensure (db, err) ? NULL
                     : kn_db_run (db, "reporting_governance", 2, values, NULL, NULL, err);
    if (!rows)
        return -1;
    *log = kn_malloc (sizeof **log);
    kinnet__v1__governance_log__init (*log);
    int n = PQntuples (rows);
    (*log)->truncated = n > GOVERNANCE_MAX;
    if (n > GOVERNANCE_MAX)
        n = GOVERNANCE_MAX;
    (*log)->actions = kn_malloc ((size_t) (n ? n : 1) * sizeof (Kinnet__V1__GovernanceAction *));
    for (int r = 0; r < n; r++) {
        Kinnet__V1__GovernanceAction *a = kn_malloc (sizeof *a);
        kinnet__v1__governance_action__init (a);
        a->audit_id = strtoll (PQgetvalue (rows, r, 0), NULL, 10);
        a->at = kn_pb_timestamp (strtoll (PQgetvalue (rows, r, 1), NULL, 10));
        a->agency_id = kn_pb_string (PQgetvalue (rows, r, 2));
        a->database_user = kn_pb_string (PQgetvalue (rows, r, 3));
        a->service = kn_pb_string (PQgetvalue (rows, r, 4));
        a->operation = kn_pb_string (PQgetvalue (rows, r, 5));
        a->object_id = kn_pb_string (PQgetvalue (rows, r, 6));
        a->role = kn_pb_string (PQgetvalue (rows, r, 7));
        a->result = kn_pb_string (PQgetvalue (rows, r, 8));
        (*log)->actions[(*log)->n_actions++] = a;
    }
    PQclear (rows);
    return 0;
}

#define OP(name)     KINNET__V1__REPORTING_REQUEST__OP_##name
#define RESULT(name) KINNET__V1__REPORTING_REPLY__RESULT_##name

//  The operations, as docs/protocol/reporting.md lists them. Columns: op, audited
//  as, result, role, about, validate, settle, handle. An export's ids are checked
//  before the role, so that the audit row of a refused export names them; a
//  report's settings after it.
static const op_t s_ops[] = {
    {OP (VERIFY_AUDIT), "verify_audit", RESULT (VERDICT), "auditor", NULL,
     s_validate_verify_audit, NULL, s_verify_audit},
    {OP (REPORT), "report", RESULT (REPORT), "auditor", NULL, NULL, s_settle_report,
     s_report},
    {OP (EXPORT_SUBJECT), "subject_export", RESULT (SUBJECT_ACCESS),
     "data_protection_officer", s_about_export_subject, s_validate_export_subject, NULL,
     s_export_subject},
    {OP (GOVERNANCE), "governance", RESULT (GOVERNANCE), "auditor", NULL, NULL, NULL,
     s_governance},
};

//  Run op where its read should go: on the standby once it has replayed the
//  primary's position now, else on the primary (reporting_replica.h); at says which.
//  A read the standby fails (a session lost, a query a recovery conflict cancelled)
//  runs again on the primary. verify_audit chooses on the verifier's thread, on the
//  session that will read.
static int
s_read (reporting_server_t *self, const op_t *op, const char *agency,
        const Kinnet__V1__ReportingRequest *request, Kinnet__V1__ReportingReply *reply,
        read_t *at, kn_error_t *err)
{
    bool own = op->op_case == OP (VERIFY_AUDIT);
    at->side = &self->primary;
    if (self->standby.n_dbs
        && reporting_replica_position (self->db, at->lsn, err))
        return -1;
    if (!own) {
        reporting_replica_route (self->standby.n_dbs ? self->standby.dbs[0] : NULL,
                                 at->lsn, self->max_lag_ms, &at->route);
        if (at->route.standby)
            at->side = &self->standby;
    }
    int rc = op->handle (self, at, agency, request, reply, err);
    if (rc && !own && at->route.standby && err->code == KN_E_SERVICE_UNAVAILABLE) {
        kn_log (KN_WARN, "reporting.standby_failed", "operation", op->operation, "problem",
                err->message, NULL);
        at->route.standby = false;
        at->route.reason = "standby_failed";
        at->side = &self->primary;
        kn_error_clear (err);
        rc = op->handle (self, at, agency, request, reply, err);
    }
    if (!own)
        reporting_replica_record (&at->route);
    return rc;
}

#undef OP
#undef RESULT

//  Run op: validate; name in about what the now valid request names; check the
//  caller's role and the settings that come after it; read where s_read says. Fills
//  reply (a malloc'd result and source inside it) or err.
static int
s_run (reporting_server_t *self, const char *agency, const op_t *op,
       const Kinnet__V1__ReportingRequest *request, Kinnet__V1__ReportingReply *reply,
       kn_about_t *about, kn_error_t *err)
{
    if (op->validate && op->validate (request, err))
        return -1;
    if (op->about)
        *about = op->about (request);
    about->operation = op->operation;
    read_t at = {.side = NULL};
    if (kn_agency_require (self->db, agency, op->role, err)
        || (op->settle && op->settle (request, err))
        || s_read (self, op, agency, request, reply, &at, err))
        return -1;
    reply->result_case = op->result_case;
    reply->source = reporting_replica_source (&at.route);
    return 0;
}

zmsg_t *
reporting_server_handle (reporting_server_t *self, zmsg_t *request)
{
    kn_error_t err;
    kn_error_clear (&err);
    char agency[KN_UUID_STR];
    if (kn_service_caller (request, agency, &err))
        return kn_service_error_reply (&err);
    Kinnet__V1__ReportingRequest *decoded = (Kinnet__V1__ReportingRequest *) kn_service_decode (
        request, &kinnet__v1__reporting_request__descriptor, &err);
    Kinnet__V1__ReportingReply reply = KINNET__V1__REPORTING_REPLY__INIT;
    const op_t *op =
        decoded ? KN_DISPATCH_FIND (s_ops, decoded->op_case,
                                    "ReportingRequest must set one operation", &err)
                : NULL;
    kn_about_t about = {.operation = op ? op->operation : "unknown"};
    const char *role = op ? op->role : NULL;
    int rc = op ? s_run (self, agency, op, decoded, &reply, &about, &err) : -1;
    //  Every request is on record, with the role it needed, refusals included. An
    //  answer leaves only once its record (and, for an export, its disclosure) has
    //  committed on the primary: if that cannot be written, the request fails.
    kn_audit_entry_t entry = {
        .agency_id = agency,
        .caseworker_id = about.caseworker && *about.caseworker ? about.caseworker : NULL,
        .subject_ref = about.subject,
        .service = "reporting",
        .operation = about.operation,
        .result = rc == 0 ? "ok" : kn_code_name (err.code),
        .role = role};
    kn_error_t audit_err;
    kn_error_clear (&audit_err);
    if (rc == 0) {
        const char *disclosed[] = {about.subject, agency};
        PGresult *row = NULL;
        bool exported = reply.result_case == KINNET__V1__REPORTING_REPLY__RESULT_SUBJECT_ACCESS;
        if (kn_db_ensure (self->db, &audit_err) || kn_db_exec (self->db, "BEGIN", &audit_err)
            || (exported
                && !(row = kn_db_run (self->db, "reporting_disclose", 2, disclosed, NULL, NULL,
                                      &audit_err)))
            || kn_audit_append (self->db, &entry, &audit_err)
            || kn_db_exec (self->db, "COMMIT", &audit_err)) {
            kn_error_t ignored;
            kn_db_exec (self->db, "ROLLBACK", &ignored);
            kn_log (KN_ERROR, "audit.failed", "operation", about.operation, "problem",
                    audit_err.message, NULL);
            //  A database that went away is retryable here as anywhere.
            rc = kn_error_set (&err,
                               audit_err.code == KN_E_SERVICE_UNAVAILABLE
                                   ? KN_E_SERVICE_UNAVAILABLE
                                   : KN_E_INTERNAL,
                               NULL,
                               "the record of this request could not be written; nothing "
                               "was disclosed");
        }
        PQclear (row);
    }
    else if (kn_db_ensure (self->db, &audit_err) == 0
             && kn_audit_append (self->db, &entry, &audit_err))
        kn_log (KN_ERROR, "audit.failed", "problem", audit_err.message, NULL);
    zmsg_t *msg = rc == 0 ? kn_service_reply (&reply.base) : kn_service_error_reply (&err);
    kn_log (KN_INFO, rc == 0 ? "reporting.handled" : "request.refused", "operation",
            about.operation, "agency_id", agency, "code", kn_code_name (err.code), NULL);
    if (reply.result_case == KINNET__V1__REPORTING_REPLY__RESULT_VERDICT)
        kinnet__v1__audit_verdict__free_unpacked (reply.verdict, NULL);
    if (reply.result_case == KINNET__V1__REPORTING_REPLY__RESULT_REPORT)
        kinnet__v1__report__free_unpacked (reply.report, NULL);
    if (reply.result_case == KINNET__V1__REPORTING_REPLY__RESULT_SUBJECT_ACCESS)
        kinnet__v1__subject_access__free_unpacked (reply.subject_access, NULL);
    if (reply.result_case == KINNET__V1__REPORTING_REPLY__RESULT_GOVERNANCE && reply.governance)
        kinnet__v1__governance_log__free_unpacked (reply.governance, NULL);
    if (reply.source)
        kinnet__v1__read_source__free_unpacked (reply.source, NULL);
    if (decoded)
        kinnet__v1__reporting_request__free_unpacked (decoded, NULL);
    return msg;
}
