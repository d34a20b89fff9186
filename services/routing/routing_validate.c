/*  routing_validate: field rules of routing and feed requests. */
#include "routing_validate.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

int
routing_validate_request (const Kinnet__V1__RoutingRequest *request, kn_error_t *err)
{
    switch (request->op_case) {
    case KINNET__V1__ROUTING_REQUEST__OP_ACCEPT: {
        const Kinnet__V1__AcceptOffer *op = request->accept;
        return s_key (op->idempotency_key, err) ?: kn_validate_uuid (op->offer_id, "offer_id", err)
               ?: s_caseworker (op->caseworker_id, "caseworker_id", err);
    }
    case KINNET__V1__ROUTING_REQUEST__OP_DECLINE: {
        const Kinnet__V1__DeclineOffer *op = request->decline;
        return s_key (op->idempotency_key, err) ?: kn_validate_uuid (op->offer_id, "offer_id", err)
               ?: kn_validate_enum (&kinnet__v1__decline_reason__descriptor, op->reason, "reason",
                                    err)
               ?: s_caseworker (op->caseworker_id, "caseworker_id", err);
    }
    case KINNET__V1__ROUTING_REQUEST__OP_GET_CASE:
        return kn_validate_uuid (request->get_case->case_id, "case_id", err);
    case KINNET__V1__ROUTING_REQUEST__OP_CONTACT: {
        const Kinnet__V1__RecordContact *op = request->contact;
        if (s_key (op->idempotency_key, err) || kn_validate_uuid (op->case_id, "case_id", err)
            || s_need (op->need, err) || s_caseworker (op->caseworker_id, "caseworker_id", err))
            return -1;
        if (op->contacted_at && op->contacted_at->seconds <= 0)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, "contacted_at",
                                 "a time after 1970, or unset for now");
        return 0;
    }
    case KINNET__V1__ROUTING_REQUEST__OP_TRANSFER: {
        const Kinnet__V1__TransferInvolvement *op = request->transfer;
        return s_key (op->idempotency_key, err) ?: kn_validate_uuid (op->case_id, "case_id", err)
               ?: s_need (op->need, err)
               ?: kn_validate_uuid (op->to_agency_id, "to_agency_id", err)
               ?: kn_validate_enum (&kinnet__v1__transfer_reason__descriptor, op->reason,
                                    "reason", err)
               ?: s_caseworker (op->caseworker_id, "caseworker_id", err);
    }
    case KINNET__V1__ROUTING_REQUEST__OP_LEAD: {
        const Kinnet__V1__AppointLead *op = request->lead;
        return s_key (op->idempotency_key, err) ?: kn_validate_uuid (op->case_id, "case_id", err)
               ?: kn_validate_uuid (op->agency_id, "agency_id", err)
               ?: s_caseworker (op->lead_caseworker_id, "lead_caseworker_id", err)
               ?: s_caseworker (op->caseworker_id, "caseworker_id", err);
    }
    case KINNET__V1__ROUTING_REQUEST__OP_CLOSE: {
        const Kinnet__V1__CloseInvolvement *op = request->close;
        return s_key (op->idempotency_key, err) ?: kn_validate_uuid (op->case_id, "case_id", err)
               ?: s_need (op->need, err)
               ?: kn_validate_enum (&kinnet__v1__outcome__descriptor, op->outcome, "outcome", err)
               ?: s_caseworker (op->caseworker_id, "caseworker_id", err);
    }
    case KINNET__V1__ROUTING_REQUEST__OP_UNPLACED:
        return kn_validate_text (request->unplaced->district, "district", 0, 64, false, err);
    default:
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "op",
                             "RoutingRequest must set one operation");
    }
}

int
routing_validate_feed (const Kinnet__V1__FeedRequest *request, kn_error_t *err)
{
    if (request->op_case != KINNET__V1__FEED_REQUEST__OP_READ)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "op", "FeedRequest must set read");
    const Kinnet__V1__FeedRead *read = request->read;
    if (read->after < 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "after", "0 or the last seq you hold");
    if (read->max < 0 || read->max > ROUTING_FEED_MAX_EVENTS)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "max", "1..%d, or unset for 100",
                             ROUTING_FEED_MAX_EVENTS);
    if (read->wait_ms < 0 || read->wait_ms > ROUTING_FEED_MAX_WAIT_MS)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "wait_ms", "0..%d milliseconds",
                             ROUTING_FEED_MAX_WAIT_MS);
    return 0;
}

int
routing_validate_interval (const char *text, const char *field, int64_t *seconds,
                           kn_error_t *err)
{
    static const struct {
        const char *name;
        int64_t seconds;
    } units[] = {{"s", 1},         {"sec", 1},      {"secs", 1},      {"second", 1},
                 {"seconds", 1},   {"min", 60},     {"mins", 60},     {"minute", 60},
                 {"minutes", 60},  {"h", 3600},     {"hour", 3600},   {"hours", 3600},
                 {"d", 86400},     {"day", 86400},  {"days", 86400},  {"w", 604800},
                 {"week", 604800}, {"weeks", 604800}};
    int64_t total = 0;
    int parts = 0;
    const char *at = text ? text : "";
    while (*at) {
        while (isspace ((unsigned char) *at))
            at++;
        if (!*at)
            break;
        if (!isdigit ((unsigned char) *at))
            goto bad;
        char *end;
        long long count = strtoll (at, &end, 10);
        if (count < 0 || count > 1000000)
            goto bad;
        at = end;
        while (isspace ((unsigned char) *at))
            at++;
        size_t len = 0;
        while (isalpha ((unsigned char) at[len]))
            len++;
        size_t u;
        for (u = 0; u < sizeof units / sizeof units[0]; u++)
            if (strlen (units[u].name) == len && strncasecmp (at, units[u].name, len) == 0)
                break;
        if (len == 0 || u == sizeof units / sizeof units[0])
            goto bad;
        at += len;
        total += (int64_t) count * units[u].seconds;
        parts++;
        if (total > 90 * 86400)
            goto bad;
    }
    if (parts == 0 || total <= 0)
        goto bad;
    *seconds = total;
    return 0;
bad:
    return kn_error_set (err, KN_E_INVALID_ARGUMENT, field,
                         "a time above zero and at most 90 days, such as '10 days', '4 hours' "
                         "or '1 day 12 hours'");
}
