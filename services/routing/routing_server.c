/*  routing_server: validate and dispatch "routing" and "feed" requests. */
#include "routing_server.h"

#include "kn_clock.h"
#include "kn_log.h"
#include "kn_service.h"
#include "routing_validate.h"

#define MAX_CASEWORKER 128

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
    int rc = routing_validate_request (request, err);
    switch (request->op_case) {
    case KINNET__V1__ROUTING_REQUEST__OP_ACCEPT:
        *about = (about_t) {"accept", request->accept->caseworker_id, request->accept->offer_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_INVOLVEMENT;
        rc = rc ?: routing_store_accept (store, agency, now, request->accept, &reply->involvement,
                                         &replayed, err);
        break;
    case KINNET__V1__ROUTING_REQUEST__OP_DECLINE:
        *about = (about_t) {"decline", request->decline->caseworker_id, request->decline->offer_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_INVOLVEMENT;
        rc = rc ?: routing_store_decline (store, agency, now, request->decline,
                                          &reply->involvement, &replayed, err);
        break;
    case KINNET__V1__ROUTING_REQUEST__OP_GET_CASE:
        *about = (about_t) {"get_case", NULL, request->get_case->case_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_CASE;
        rc = rc ?: routing_store_get_case (store, agency, request->get_case->case_id,
                                           &reply->case_, err);
        break;
    case KINNET__V1__ROUTING_REQUEST__OP_CONTACT:
        *about = (about_t) {"contact", request->contact->caseworker_id, request->contact->case_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_INVOLVEMENT;
        rc = rc ?: routing_store_contact (store, agency, now, request->contact,
                                          &reply->involvement, &replayed, err);
        break;
    case KINNET__V1__ROUTING_REQUEST__OP_TRANSFER:
        *about = (about_t) {"transfer", request->transfer->caseworker_id,
                            request->transfer->case_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_INVOLVEMENT;
        rc = rc ?: routing_store_transfer (store, agency, now, request->transfer,
                                           &reply->involvement, &replayed, err);
        break;
    case KINNET__V1__ROUTING_REQUEST__OP_LEAD:
        *about = (about_t) {"lead", request->lead->caseworker_id, request->lead->case_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_CASE;
        rc = rc ?: routing_store_lead (store, agency, now, request->lead, &reply->case_,
                                       &replayed, err);
        break;
    case KINNET__V1__ROUTING_REQUEST__OP_CLOSE:
        *about = (about_t) {"close", request->close->caseworker_id, request->close->case_id};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_INVOLVEMENT;
        rc = rc ?: routing_store_close (store, agency, now, request->close, &reply->involvement,
                                        &replayed, err);
        break;
    case KINNET__V1__ROUTING_REQUEST__OP_UNPLACED:
        *about = (about_t) {"unplaced", NULL, NULL};
        reply->result_case = KINNET__V1__ROUTING_REPLY__RESULT_UNPLACED;
        rc = rc ?: routing_store_unplaced (store, agency, request->unplaced->district,
                                           &reply->unplaced, err);
        break;
    default:
        return -1;   // routing_validate_request named the missing operation
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
    Kinnet__V1__RoutingRequest *decoded = (Kinnet__V1__RoutingRequest *) kn_service_decode (
        request, &kinnet__v1__routing_request__descriptor, &err);
    about_t about = {"unknown", NULL, NULL};
    Kinnet__V1__RoutingReply reply = KINNET__V1__ROUTING_REPLY__INIT;
    kn_db_clear_sqlstate (routing_store_db (store));
    int rc = decoded ? s_dispatch (store, agency, decoded, &reply, &about, &err) : -1;
    //  Two transactions that write to the same agencies' feeds in another order can
    //  deadlock; PostgreSQL aborts one, which rolled back whole, so run it again.
    for (int retry = 0; rc && retry < 3 && s_retryable (store); retry++) {
        kn_log (KN_WARN, "request.retried", "operation", about.operation, "sqlstate",
                kn_db_sqlstate (routing_store_db (store)), NULL);
        kn_error_clear (&err);
        kn_db_clear_sqlstate (routing_store_db (store));
        s_free_result (&reply);
        rc = s_dispatch (store, agency, decoded, &reply, &about, &err);
    }
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
    s_free_result (&reply);
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
    int rc = decoded ? routing_validate_feed (decoded, &err) : -1;
    Kinnet__V1__FeedRead *read = rc ? NULL : decoded->read;
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
