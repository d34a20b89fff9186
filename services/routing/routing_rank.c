/*  routing_rank: scoring and sorting of candidate agencies. */
#include "routing_rank.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *s_rule_names[ROUTING_RULE_COUNT]
    = {"continuity", "language", "headroom", "rotation"};

const char *
routing_rule_name (routing_rule_t rule)
{
    return rule < ROUTING_RULE_COUNT ? s_rule_names[rule] : "?";
}

int
routing_rank_parse_order (const char *text, routing_order_t *order, kn_error_t *err)
{
    memset (order, 0, sizeof *order);
    const char *at = text ? text : "";
    while (*at) {
        size_t len = strcspn (at, ",");
        size_t rule;
        for (rule = 0; rule < ROUTING_RULE_COUNT; rule++)
            if (strlen (s_rule_names[rule]) == len && strncmp (at, s_rule_names[rule], len) == 0)
                break;
        if (rule == ROUTING_RULE_COUNT)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, "rank.order",
                                 "unknown rule \"%.*s\" (rules: continuity, language, "
                                 "headroom, rotation)",
                                 (int) (len > 32 ? 32 : len), at);
        for (size_t i = 0; i < order->count; i++)
            if (order->rules[i] == (routing_rule_t) rule)
                return kn_error_set (err, KN_E_INVALID_ARGUMENT, "rank.order",
                                     "rule \"%s\" is named twice", s_rule_names[rule]);
        order->rules[order->count++] = (routing_rule_t) rule;
        at += len;
        if (*at == ',')
            at++;
    }
    if (order->count == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "rank.order",
                             "name at least one rule");
    return 0;
}

void
routing_rank_format_order (const routing_order_t *order, char *out, size_t size)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < order->count && used < size; i++)
        used += (size_t) snprintf (out + used, size - used, "%s%s", i ? "," : "",
                                   s_rule_names[order->rules[i]]);
}

int64_t
routing_rank_score (const routing_candidate_t *candidate, routing_rule_t rule, char *detail,
                    size_t size)
{
    switch (rule) {
    case ROUTING_RULE_CONTINUITY:
        snprintf (detail, size, "%s",
                  candidate->continuity == 2   ? "already working with the family"
                  : candidate->continuity == 1 ? "worked with the family before"
                                               : "new to the family");
        return candidate->continuity;
    case ROUTING_RULE_LANGUAGE:
        if (candidate->language == 2)
            snprintf (detail, size, "speaks %s", candidate->language_match);
        else
            snprintf (detail, size, "%s",
                      candidate->language == 1 ? "interpreters available"
                                               : "no language match");
        return candidate->language;
    case ROUTING_RULE_HEADROOM:
        if (candidate->capacity < 0) {
            snprintf (detail, size, "no capacity limit");
            return 1000;
        }
        snprintf (detail, size, "%d of %d places free", candidate->capacity - candidate->load,
                  candidate->capacity);
        return candidate->capacity == 0
                   ? 0
                   : (int64_t) (candidate->capacity - candidate->load) * 1000
                         / candidate->capacity;
    case ROUTING_RULE_ROTATION:
        if (candidate->last_offered == 0)
            snprintf (detail, size, "never offered");
        else {
            time_t at = (time_t) candidate->last_offered;
            struct tm tm;
            gmtime_r (&at, &tm);
            strftime (detail, size, "last offered %Y-%m-%dT%H:%M:%SZ", &tm);
        }
        return -candidate->last_offered;
    default:
        detail[0] = 0;
        return 0;
    }
}

static int
s_compare (const void *a_, const void *b_, void *order_)
{
    const routing_candidate_t *a = a_, *b = b_;
    const routing_order_t *order = order_;
    char ignored[64];
    for (size_t i = 0; i < order->count; i++) {
        int64_t sa = routing_rank_score (a, order->rules[i], ignored, sizeof ignored);
        int64_t sb = routing_rank_score (b, order->rules[i], ignored, sizeof ignored);
        if (sa != sb)
            return sa > sb ? -1 : 1;
    }
    return strcmp (a->agency_id, b->agency_id);
}

size_t
routing_rank (routing_candidate_t *candidates, size_t count, const routing_order_t *order)
{
    size_t kept = 0;
    for (size_t i = 0; i < count; i++)
        if (candidates[i].capacity < 0 || candidates[i].load < candidates[i].capacity)
            candidates[kept++] = candidates[i];
    //  qsort_r (glibc): the daemon ranks on more than one thread.
    qsort_r (candidates, kept, sizeof *candidates, s_compare, (void *) order);
    return kept;
}
