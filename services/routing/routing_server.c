/*  routing_server: validate and dispatch "routing" and "feed" requests. */
#include "routing_server.h"

#include "kn_clock.h"
#include "kn_log.h"
#include "kn_service.h"
#include "kn_validate.h"

#define MAX_KEY 128
#define MAX_CASEWORKER 128

static int
s_key (const char *key, kn_error_t *err)
{
    return kn_validate_text (key, "idempotency_key", 1, MAX_KEY, false, err);
}

static int
s_caseworker (const char *value, const char *field, kn_error_t *err)
{
    return kn_validate_text (value, field, 0, MAX_CASEWORKER, false, err);
}

//  need is optional (0) in case operations; when set it must be a real category.
static int
s_need (int need, kn_error_t *err)
{
    return need ? kn_validate_enum (&kinnet__v1__need_category__descriptor, need, "need", err) : 0;
}

typedef struct {
    const char *operation;
    const char *caseworker;
    const char *object;
} about_t;

static int
s_dispatch (routing_store_t *store, const char *agency, Kinnet__V1__RoutingRequest *request,
            Kinnet__V1__RoutingReply *reply, about_t *about, kn_error_t *err)
{
    int64_t now = kn_clock_now ();
    bool replayed = false;
    int rc;
    switch (request->op_case) {
    case KINNET__V1__ROUTING_REQUEST__OP_ACCEPT: {
        Kinnet__V1__AcceptOffer *op = request->accept;
        *about = (about_t) {"accept", op->caseworker_id, op->offer_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_INVOLVEMENT;
        rc = s_key (op->idempotency_key, err) ?: kn_validate_uuid (op->offer_id, "offer_id", err)
             ?: s_caseworker (op->caseworker_id, "caseworker_id", err)
             ?: routing_store_accept (store, agency, now, op, &reply->involvement, &replayed, err);
        break;
    }
    case KINNET__V1__ROUTING_REQUEST__OP_DECLINE: {
        Kinnet__V1__DeclineOffer *op = request->decline;
        *about = (about_t) {"decline", op->caseworker_id, op->offer_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_INVOLVEMENT;
        rc = s_key (op->idempotency_key, err) ?: kn_validate_uuid (op->offer_id, "offer_id", err)
             ?: kn_validate_enum (&kinnet__v1__decline_reason__descriptor, op->reason, "reason", err)
             ?: s_caseworker (op->caseworker_id, "caseworker_id", err)
             ?: routing_store_decline (store, agency, now, op, &reply->involvement, &replayed, err);
        break;
    }
    case KINNET__V1__ROUTING_REQUEST__OP_GET_CASE:
        *about = (about_t) {"get_case", NULL, request->get_case->case_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_CASE;
        rc = kn_validate_uuid (request->get_case->case_id, "case_id", err)
             ?: routing_store_get_case (store, agency, request->get_case->case_id, &reply->case_,
                                        err);
        break;
    case KINNET__V1__ROUTING_REQUEST__OP_CONTACT: {
        Kinnet__V1__RecordContact *op = request->contact;
        *about = (about_t) {"contact", op->caseworker_id, op->case_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_INVOLVEMENT;
        rc = s_key (op->idempotency_key, err) ?: kn_validate_uuid (op->case_id, "case_id", err)
             ?: s_need (op->need, err) ?: s_caseworker (op->caseworker_id, "caseworker_id", err);
        if (rc == 0 && op->contacted_at && op->contacted_at->seconds <= 0)
            rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, "contacted_at",
                               "a time after 1970, or unset for now");
        rc = rc ?: routing_store_contact (store, agency, now, op, &reply->involvement, &replayed,
                                          err);
        break;
    }
    case KINNET__V1__ROUTING_REQUEST__OP_TRANSFER: {
        Kinnet__V1__TransferInvolvement *op = request->transfer;
        *about = (about_t) {"transfer", op->caseworker_id, op->case_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_INVOLVEMENT;
        rc = s_key (op->idempotency_key, err) ?: kn_validate_uuid (op->case_id, "case_id", err)
             ?: s_need (op->need, err)
             ?: kn_validate_uuid (op->to_agency_id, "to_agency_id", err)
             ?: kn_validate_enum (&kinnet__v1__transfer_reason__descriptor, op->reason, "reason",
                                  err)
             ?: s_caseworker (op->caseworker_id, "caseworker_id", err)
             ?: routing_store_transfer (store, agency, now, op, &reply->involvement, &replayed,
                                        err);
        break;
    }
    case KINNET__V1__ROUTING_REQUEST__OP_LEAD: {
        Kinnet__V1__AppointLead *op = request->lead;
        *about = (about_t) {"lead", op->caseworker_id, op->case_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_CASE;
        rc = s_key (op->idempotency_key, err) ?: kn_validate_uuid (op->case_id, "case_id", err)
             ?: kn_validate_uuid (op->agency_id, "agency_id", err)
             ?: s_caseworker (op->lead_caseworker_id, "lead_caseworker_id", err)
             ?: s_caseworker (op->caseworker_id, "caseworker_id", err)
             ?: routing_store_lead (store, agency, now, op, &reply->case_, &replayed, err);
        break;
    }
    case KINNET__V1__ROUTING_REQUEST__OP_CLOSE: {
        Kinnet__V1__CloseInvolvement *op = request->close;
        *about = (about_t) {"close", op->caseworker_id, op->case_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_INVOLVEMENT;
        rc = s_key (op->idempotency_key, err) ?: kn_validate_uuid (op->case_id, "case_id", err)
             ?: s_need (op->need, err)
             ?: kn_validate_enum (&kinnet__v1__outcome__descriptor, op->outcome, "outcome", err)
             ?: s_caseworker (op->caseworker_id, "caseworker_id", err)
             ?: routing_store_close (store, agency, now, op, &reply->involvement, &replayed, err);
        break;
    }
    case KINNET__V1__ROUTING_REQUEST__OP_UNPLACED:
        *about = (about_t) {"unplaced", NULL, NULL};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_UNPLACED;
        rc = kn_validate_text (request->unplaced->district, "district", 0, 64, false, err)
             ?: routing_store_unplaced (store, agency, request->unplaced->district,
                                        &reply->unplaced, err);
        break;
    default:
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "op",
                             "RoutingRequest must set one operation");
    }
    reply->replayed = replayed;
    return rc;
}

//  Writes audit themselves in their transaction; reads and refusals are audited here.
static bool
s_audited_by_store (const char *operation)
{
    return strcmp (operation, "get_case") && strcmp (operation, "unplaced")
           && strcmp (operation, "unknown");
}

zmsg_t *
routing_server_handle (routing_store_t *store, zmsg_t *request)
{
    kn_error_t err;
    kn_error_clear (&err);
    char agency[KN_UUID_STR];
    if (kn_service_caller (request, agency, &err))
        return kn_service_error_reply (&err);
    Kinnet__V1__RoutingRequest *decoded = (Kinnet__V1__RoutingRequest *) kn_service_decode (
        request, &kinnet__v1__routing_request__descriptor, &err);
    about_t about = {"unknown", NULL, NULL};
    Kinnet__V1__RoutingReply reply = KINNET__V1__ROUTING_REPLY__INIT;
    int rc = decoded ? s_dispatch (store, agency, decoded, &reply, &about, &err) : -1;
    zmsg_t *msg;
    const char *caseworker
        = about.caseworker && strlen (about.caseworker) <= MAX_CASEWORKER ? about.caseworker : NULL;
    if (rc == 0) {
        msg = kn_service_reply (&reply.base);
        kn_log (KN_INFO, "routing.handled", "operation", about.operation, "agency_id", agency,
                NULL);
        if (!s_audited_by_store (about.operation) || reply.replayed)
            routing_store_audit (store, agency, caseworker, about.operation, about.object, KN_OK);
    }
    else {
        kn_log (KN_INFO, "request.refused", "operation", about.operation, "agency_id", agency,
                "code", kn_code_name (err.code), "field", err.field, NULL);
        routing_store_audit (store, agency, caseworker, about.operation, about.object, err.code);
        msg = kn_service_error_reply (&err);
    }
    switch (reply.result_case) {
    case KINNET__V1__ROUTING_REPLY__RESULT_INVOLVEMENT:
        if (reply.involvement)
            kinnet__v1__involvement__free_unpacked (reply.involvement, NULL);
        break;
    case KINNET__V1__ROUTING_REPLY__RESULT_CASE:
        if (reply.case_)
            kinnet__v1__case__free_unpacked (reply.case_, NULL);
        break;
    case KINNET__V1__ROUTING_REPLY__RESULT_UNPLACED:
        if (reply.unplaced)
            kinnet__v1__case_need_list__free_unpacked (reply.unplaced, NULL);
        break;
    default:
        break;
    }
    if (decoded)
        kinnet__v1__routing_request__free_unpacked (decoded, NULL);
    return msg;
}

zmsg_t *
routing_server_handle_feed (routing_store_t *store, zmsg_t *request, routing_feed_wait_fn *wait,
                            void *wait_state)
{
    kn_error_t err;
    kn_error_clear (&err);
    char agency[KN_UUID_STR];
    if (kn_service_caller (request, agency, &err))
        return kn_service_error_reply (&err);
    Kinnet__V1__FeedRequest *decoded = (Kinnet__V1__FeedRequest *) kn_service_decode (
        request, &kinnet__v1__feed_request__descriptor, &err);
    Kinnet__V1__FeedBatch *batch = NULL;
    int rc = decoded ? 0 : -1;
    if (rc == 0 && decoded->op_case != KINNET__V1__FEED_REQUEST__OP_READ)
        rc = kn_error_set (&err, KN_E_INVALID_ARGUMENT, "op", "FeedRequest must set read");
    Kinnet__V1__FeedRead *read = rc ? NULL : decoded->read;
    if (rc == 0 && read->after < 0)
        rc = kn_error_set (&err, KN_E_INVALID_ARGUMENT, "after", "0 or the last seq you hold");
    else if (rc == 0 && (read->max < 0 || read->max > 500))
        rc = kn_error_set (&err, KN_E_INVALID_ARGUMENT, "max", "1..500, or unset for 100");
    else if (rc == 0 && (read->wait_ms < 0 || read->wait_ms > ROUTING_FEED_MAX_WAIT_MS))
        rc = kn_error_set (&err, KN_E_INVALID_ARGUMENT, "wait_ms", "0..%d milliseconds",
                           ROUTING_FEED_MAX_WAIT_MS);
    if (rc == 0) {
        int max = read->max ? read->max : 100;
        int64_t deadline = zclock_mono () + read->wait_ms;
        rc = routing_store_feed_read (store, agency, read->after, max, &batch, &err);
        //  Long poll: wait for a wake-up and read again, until there is something or
        //  the wait is over.
        while (rc == 0 && batch->n_events == 0 && wait && zclock_mono () < deadline
               && !zsys_interrupted) {
            wait (wait_state, (int) (deadline - zclock_mono ()));
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
    }
    else {
        kn_log (KN_INFO, "request.refused", "operation", "feed_read", "agency_id", agency, "code",
                kn_code_name (err.code), "field", err.field, NULL);
        routing_store_audit (store, agency, NULL, "feed_read", NULL, err.code);
        msg = kn_service_error_reply (&err);
    }
    if (batch)
        kinnet__v1__feed_batch__free_unpacked (batch, NULL);
    if (decoded)
        kinnet__v1__feed_request__free_unpacked (decoded, NULL);
    return msg;
}
