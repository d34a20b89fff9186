/*  routing_rank: who gets an offer first. Pure: candidates in, ranked candidates
    out, so the rules can be tested as a table. Each rule gives a score (higher
    first); rules are applied in the administrator's order (routing.setting
    "rank.order"), ties fall to the next rule, and finally to the agency id so the
    order is always the same for the same data.
      continuity  2: working with the family now, 1: worked with it before, 0: never
      language    2: speaks one of the family's languages, 1: has interpreters, 0
      headroom    free places per thousand of capacity (1000 when unlimited)
      rotation    the agency offered least recently first (fair rotation) */
#ifndef ROUTING_RANK_H_INCLUDED
#define ROUTING_RANK_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "kn_error.h"
#include "kn_uuid.h"

typedef enum {
    ROUTING_RULE_CONTINUITY,
    ROUTING_RULE_LANGUAGE,
    ROUTING_RULE_HEADROOM,
    ROUTING_RULE_ROTATION,
    ROUTING_RULE_COUNT
} routing_rule_t;

typedef struct {
    routing_rule_t rules[ROUTING_RULE_COUNT];
    size_t count;
} routing_order_t;

typedef struct {
    char agency_id[KN_UUID_STR];
    int continuity;           // 0, 1, 2 as above
    int language;             // 0, 1, 2 as above
    char language_match[16];  // the matched language subtag, "" when none
    int capacity;             // -1: no limit
    int load;                 // open offers and accepted involvements, counted up to
                              // capacity (no more is needed); 0 without a limit
    int64_t last_offered;     // Unix seconds of its latest offer, 0: never
} routing_candidate_t;

//  Parse "continuity,language,headroom,rotation" (any order, each at most once,
//  at least one). -1 with KN_E_INVALID_ARGUMENT naming the bad rule.
int routing_rank_parse_order (const char *text, routing_order_t *order, kn_error_t *err);

//  The order's canonical text into out.
void routing_rank_format_order (const routing_order_t *order, char *out, size_t size);

const char *routing_rule_name (routing_rule_t rule);

//  Drop candidates with no capacity left, sort the rest best first. Returns how
//  many remain (they are candidates[0..n)).
size_t routing_rank (routing_candidate_t *candidates, size_t count, const routing_order_t *order);

//  A candidate's score for rule, and a short reason (no personal data) in detail.
int64_t routing_rank_score (const routing_candidate_t *candidate, routing_rule_t rule,
                            char *detail, size_t size);

#endif
