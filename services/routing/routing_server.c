/*  routing_server: "routing" and "feed" requests in, replies out. A routing request
    runs its operation's row of the table below: validate, then handle (again, up to
    three times, when PostgreSQL aborted it for a deadlock). A feed request has one
    operation, a read, which may long-poll. */
#include "routing_server.h"

#include "kn_clock.h"
#include "kn_dispatch.h"
#include "kn_log.h"
#include "kn_service.h"
#include "routing_validate.h"

#define MAX_CASEWORKER 128

//  One operation of RoutingRequest: what it is called, what it answers with, the
//  ids its audit row names (about; NULL: none), its field rules (validate) and the
//  store call that runs it (handle; sets *replayed when it answered a retry).
typedef struct {
    int op_case; //  first, as kn_dispatch_find reads it
    const char *operation;
    Kinnet__V1__RoutingReply__ResultCase result_case;
    kn_about_t (*about) (const Kinnet__V1__RoutingRequest *request);
    int (*validate) (const Kinnet__V1__RoutingRequest *request, kn_error_t *err);
    int (*handle) (routing_store_t *store, const char *agency, int64_t now,
                   const Kinnet__V1__RoutingRequest *request,
                   Kinnet__V1__RoutingReply *reply, bool *replayed, kn_error_t *err);
    //  The store writes the audit row in the write's transaction; a replay's, and
    //  the other operations', are written here.
    bool audits_itself;
} op_t;

//  The operations' parts, in the order of the table below. Their field rules are
//  one function, routing_validate_request.

static kn_about_t
s_about_accept (const Kinnet__V1__RoutingRequest *request)
{
    return (kn_about_t){.caseworker = request->accept->caseworker_id,
                        .object = request->accept->offer_id};
}

static int
s_accept (routing_store_t *store, const char *agency, int64_t now,
          const Kinnet__V1__RoutingRequest *request, Kinnet__V1__RoutingReply *reply,
          bool *replayed, kn_error_t *err)
{
    return routing_store_accept (store, agency, now, request->accept, &reply->involvement,
                                 replayed, err);
}

static kn_about_t
s_about_decline (const Kinnet__V1__RoutingRequest *request)
{
    return (kn_about_t){.caseworker = request->decline->caseworker_id,
                        .object = request->decline->offer_id};
}

static int
s_decline (routing_store_t *store, const char *agency, int64_t now,
           const Kinnet__V1__RoutingRequest *request, Kinnet__V1__RoutingReply *reply,
           bool *replayed, kn_error_t *err)
{
    return routing_store_decline (store, agency, now, request->decline,
                                  &reply->involvement, replayed, err);
}

static kn_about_t
s_about_get_case (const Kinnet__V1__RoutingRequest *request)
{
    return (kn_about_t){.object = request->get_case->case_id};
}

static int
s_get_case (routing_store_t *store, const char *agency, int64_t now,
            const Kinnet__V1__RoutingRequest *request, Kinnet__V1__RoutingReply *reply,
            bool *replayed, kn_error_t *err)
{
    return routing_store_get_case (store, agency, request->get_case->case_id,
                                   &reply->case_, err);
}

static kn_about_t
s_about_contact (const Kinnet__V1__RoutingRequest *request)
{
    return (kn_about_t){.caseworker = request->contact->caseworker_id,
                        .object = request->contact->case_id};
}

static int
s_contact (routing_store_t *store, const char *agency, int64_t now,
           const Kinnet__V1__RoutingRequest *request, Kinnet__V1__RoutingReply *reply,
           bool *replayed, kn_error_t *err)
{
    return routing_store_contact (store, agency, now, request->contact,
                                  &reply->involvement, replayed, err);
}

static kn_about_t
s_about_transfer (const Kinnet__V1__RoutingRequest *request)
{
    return (kn_about_t){.caseworker = request->transfer->caseworker_id,
                        .object = request->transfer->case_id};
}

static int
s_transfer (routing_store_t *store, const char *agency, int64_t now,
            const Kinnet__V1__RoutingRequest *request, Kinnet__V1__RoutingReply *reply,
            bool *replayed, kn_error_t *err)
{
    return routing_store_transfer (store, agency, now, request->transfer,
                                   &reply->involvement, replayed, err);
}

static kn_about_t
s_about_lead (const Kinnet__V1__RoutingRequest *request)
{
    return (kn_about_t){.caseworker = request->lead->caseworker_id,
                        .object = request->lead->case_id};
}

static int
s_lead (routing_store_t *store, const char *agency, int64_t now,
        const Kinnet__V1__RoutingRequest *request, Kinnet__V1__RoutingReply *reply,
        bool *replayed, kn_error_t *err)
{
    return routing_store_lead (store, agency, now, request->lead, &reply->case_, replayed,
                               err);
}

static kn_about_t
s_about_close (const Kinnet__V1__RoutingRequest *request)
{
    return (kn_about_t){.caseworker = request->close->caseworker_id,
                        .object = request->close->case_id};
}

static int
s_close (routing_store_t *store, const char *agency, int64_t now,
         const Kinnet__V1__RoutingRequest *request, Kinnet__V1__RoutingReply *reply,
         bool *replayed, kn_error_t *err)
{
    return routing_store_close (store, agency, now, request->close, &reply->involvement,
                                replayed, err);
}

static int
s_unplaced (routing_store_t *store, const char *agency, int64_t now,
            const Kinnet__V1__RoutingRequest *request, Kinnet__V1__RoutingReply *reply,
            bool *replayed, kn_error_t *err)
{
    return routing_store_unplaced (store, agency, request->unplaced->district,
                                   &reply->unplaced, err);
}

#define OP(name)     KINNET__V1__ROUTING_REQUEST__OP_##name
#define RESULT(name) KINNET__V1__ROUTING_REPLY__RESULT_##name

//  The operations, as docs/protocol/routing.md lists them. Columns: op, audited
//  as, result, about, validate, handle, whether the store audits it.
static const op_t s_ops[] = {
    {OP (ACCEPT), "accept", RESULT (INVOLVEMENT), s_about_accept,
     routing_validate_request, s_accept, true},
    {OP (DECLINE), "decline", RESULT (INVOLVEMENT), s_about_decline,
     routing_validate_request, s_decline, true},
    {OP (GET_CASE), "get_case", RESULT (CASE), s_about_get_case, routing_validate_request,
     s_get_case, false},
    {OP (CONTACT), "contact", RESULT (INVOLVEMENT), s_about_contact,
     routing_validate_request, s_contact, true},
    {OP (TRANSFER), "transfer", RESULT (INVOLVEMENT), s_about_transfer,
     routing_validate_request, s_transfer, true},
    {OP (LEAD), "lead", RESULT (CASE), s_about_lead, routing_validate_request, s_lead,
     true},
    {OP (CLOSE), "close", RESULT (INVOLVEMENT), s_about_close, routing_validate_request,
     s_close, true},
    {OP (UNPLACED), "unplaced", RESULT (UNPLACED), NULL, routing_validate_request,
     s_unplaced, false},
};

#undef OP
#undef RESULT

//  Run op: validate, then handle. Fills reply (a malloc'd result inside it) or err.
static int
s_run (routing_store_t *store, const char *agency, const op_t *op,
       const Kinnet__V1__RoutingRequest *request, Kinnet__V1__RoutingReply *reply,
       kn_error_t *err)
{
    int64_t now = kn_clock_now ();
    bool replayed = false;
    reply->result_case = op->result_case;
    int rc = (op->validate ? op->validate (request, err) : 0)
                 ?: op->handle (store, agency, now, request, reply, &replayed, err);
    reply->replayed = replayed;
    return rc;
}

//  The result messages hung on a reply.
static void
s_free_result (Kinnet__V1__RoutingReply *reply)
{
    switch (reply->result_case) {
    case KINNET__V1__ROUTING_REPLY__RESULT_INVOLVEMENT:
        if (reply->involvement)
            kinnet__v1__involvement__free_unpacked (reply->involvement, NULL);
        reply->involvement = NULL;
        break;
    case KINNET__V1__ROUTING_REPLY__RESULT_CASE:
        if (reply->case_)
            kinnet__v1__case__free_unpacked (reply->case_, NULL);
        reply->case_ = NULL;
        break;
    case KINNET__V1__ROUTING_REPLY__RESULT_UNPLACED:
        if (reply->unplaced)
            kinnet__v1__case_need_list__free_unpacked (reply->unplaced, NULL);
        reply->unplaced = NULL;
        break;
    default:
        break;
    }
    reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT__NOT_SET;
}

//  Whether the last failure was a deadlock or serialization failure: the
//  transaction rolled back whole and may simply run again.
static bool
s_retryable (routing_store_t *store)
{
    const char *state = kn_db_sqlstate (routing_store_db (store));
    return strcmp (state, "40P01") == 0 || strcmp (state, "40001") == 0;
}

zmsg_t *
routing_server_handle (routing_store_t *store, zmsg_t *request)
{
    kn_error_t err;
    kn_error_clear (&err);
    char agency[KN_UUID_STR];
    if (kn_service_caller (request, agency, &err))
        return kn_service_error_reply (&err);
    Kinnet__V1__RoutingRequest *decoded =
        (Kinnet__V1__RoutingRequest *)kn_service_decode (
            request, &kinnet__v1__routing_request__descriptor, &err);
    const op_t *op =
        decoded ? KN_DISPATCH_FIND (s_ops, decoded->op_case,
                                    "RoutingRequest must set one operation", &err)
                : NULL;
    kn_about_t about = op && op->about ? op->about (decoded) : (kn_about_t){NULL};
    about.operation = op ? op->operation : "unknown";
    Kinnet__V1__RoutingReply reply = KINNET__V1__ROUTING_REPLY__INIT;
    kn_db_clear_sqlstate (routing_store_db (store));
    int rc = op ? s_run (store, agency, op, decoded, &reply, &err) : -1;
    //  Two transactions that write to the same agencies' feeds in another order can
    //  deadlock; PostgreSQL aborts one, which rolled back whole, so run it again.
    for (int retry = 0; op && rc && retry < 3 && s_retryable (store); retry++) {
        kn_log (KN_WARN, "request.retried", "operation", about.operation, "sqlstate",
                kn_db_sqlstate (routing_store_db (store)), NULL);
        kn_error_clear (&err);
        kn_db_clear_sqlstate (routing_store_db (store));
        s_free_result (&reply);
        rc = s_run (store, agency, op, decoded, &reply, &err);
    }
    zmsg_t *msg;
    const char *caseworker =
        about.caseworker && strlen (about.caseworker) <= MAX_CASEWORKER ? about.caseworker
                                                                        : NULL;
    if (rc == 0) {
        msg = kn_service_reply (&reply.base);
        kn_log (KN_INFO, "routing.handled", "operation", about.operation, "agency_id",
                agency, NULL);
        if (!op->audits_itself || reply.replayed)
            routing_store_audit (store, agency, caseworker, about.operation, about.object,
                                 KN_OK);
    } else {
        kn_log (KN_INFO, "request.refused", "operation", about.operation, "agency_id",
                agency, "code", kn_code_name (err.code), "field", err.field, NULL);
        routing_store_audit (store, agency, caseworker, about.operation, about.object,
                             err.code);
        msg = kn_service_error_reply (&err);
    }
    s_free_result (&reply);
    if (decoded)
        kinnet__v1__routing_request__free_unpacked (decoded, NULL);
    return msg;
}

zmsg_t *
routing_server_handle_feed (routing_store_t *store, zmsg_t *request,
                            routing_feed_wait_fn *wait, void *wait_state)
{
    kn_error_t err;
    kn_error_clear (&err);
    char agency[KN_UUID_STR];
    if (kn_service_caller (request, agency, &err))
        return kn_service_error_reply (&err);
    Kinnet__V1__FeedRequest *decoded = (Kinnet__V1__FeedRequest *)kn_service_decode (
        request, &kinnet__v1__feed_request__descriptor, &err);
    Kinnet__V1__FeedBatch *batch = NULL;
    int rc = decoded ? routing_validate_feed (decoded, &err) : -1;
    Kinnet__V1__FeedRead *read = rc ? NULL : decoded->read;
    if (rc == 0) {
        int max = read->max ? read->max : 100;
        int64_t deadline = zclock_mono () + read->wait_ms;
        rc = routing_store_feed_read (store, agency, read->after, max, &batch, &err);
        //  Long poll: wait for a wake-up and read again, until there is something or
        //  the wait is over.
        while (rc == 0 && batch->n_events == 0 && wait && zclock_mono () < deadline &&
               !zsys_interrupted) {
            wait (wait_state, (int)(deadline - zclock_mono ()));
            kinnet__v1__feed_batch__free_unpacked (batch, NULL);
            batch = NULL;
            rc = routing_store_feed_read (store, agency, read->after, max, &batch, &err);
        }
    }
    zmsg_t *msg;
    if (rc == 0) {
        Kinnet__V1__FeedReply reply = KINNET__V1__FEED_REPLY__INIT;
        reply.result_case = KINNET__V1__FEED_REPLY__RESULT_BATCH;
        reply.batch = batch;
        msg = kn_service_reply (&reply.base);
        char count[16];
        snprintf (count, sizeof count, "%zu", batch->n_events);
        kn_log (KN_DEBUG, "feed.read", "agency_id", agency, "events", count, NULL);
        routing_store_audit (store, agency, NULL, "feed_read", NULL, KN_OK);
    } else {
        kn_log (KN_INFO, "request.refused", "operation", "feed_read", "agency_id", agency,
                "code", kn_code_name (err.code), "field", err.field, NULL);
        routing_store_audit (store, agency, NULL, "feed_read", NULL, err.code);
        msg = kn_service_error_reply (&err);
    }
    if (batch)
        kinnet__v1__feed_batch__free_unpacked (batch, NULL);
    if (decoded)
        kinnet__v1__feed_request__free_unpacked (decoded, NULL);
    return msg;
}
