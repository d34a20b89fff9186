/*  routing_rank as a table: each case gives candidates, the rule order, and the
    expected order of agency ids after ranking (full agencies dropped). */
#include <criterion/criterion.h>
#include <string.h>

#include "kn_test.h"
#include "routing_rank.h"
#include "routing_settings.h"
#include "routing_validate.h"

static void
s_fini (void)
{
    kn_test_no_leaks ();
}

TestSuite (rank, .fini = s_fini);

typedef struct {
    const char *name;
    const char *order;
    routing_candidate_t candidates[5];
    size_t count;
    const char *expected;   // agency ids (single letters here) in rank order
} rank_case_t;

//  agency id, continuity, language, language_match, capacity, load, last_offered
static const rank_case_t s_cases[] = {
    {"continuity beats everything",
     "continuity,language,headroom,rotation",
     {{"a", 0, 2, "ar", -1, 0, 0}, {"b", 2, 0, "", 10, 9, 500}, {"c", 1, 2, "ar", -1, 0, 0}},
     3, "bca"},
    {"language before headroom",
     "continuity,language,headroom,rotation",
     {{"a", 0, 0, "", -1, 0, 0}, {"b", 0, 1, "", 10, 5, 0}, {"c", 0, 2, "uk", 10, 9, 0}},
     3, "cba"},
    {"headroom: unlimited, then the larger free share",
     "continuity,language,headroom,rotation",
     {{"a", 0, 0, "", 10, 8, 0}, {"b", 0, 0, "", 4, 1, 0}, {"c", 0, 0, "", -1, 50, 0}},
     3, "cba"},
    {"rotation: least recently offered first, never offered before all",
     "continuity,language,headroom,rotation",
     {{"a", 0, 0, "", -1, 0, 300}, {"b", 0, 0, "", -1, 0, 100}, {"c", 0, 0, "", -1, 0, 0}},
     3, "cba"},
    {"full agencies are not candidates",
     "continuity,language,headroom,rotation",
     {{"a", 2, 2, "pl", 3, 3, 0}, {"b", 0, 0, "", 1, 0, 0}, {"c", 0, 0, "", 0, 0, 0}},
     3, "b"},
    {"the administrator's order applies: headroom first",
     "headroom,continuity",
     {{"a", 2, 0, "", 10, 9, 0}, {"b", 0, 0, "", 10, 1, 0}},
     2, "ba"},
    {"full ties fall to the agency id",
     "language",
     {{"b", 0, 0, "", -1, 0, 0}, {"a", 0, 0, "", -1, 0, 0}},
     2, "ab"},
    {"nobody eligible", "rotation", {{"a", 0, 0, "", 1, 1, 0}}, 1, ""},
};

Test (rank, table)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const rank_case_t *c = &s_cases[i];
        routing_order_t order;
        kn_error_t err;
        cr_assert_eq (routing_rank_parse_order (c->order, &order, &err), 0, "%s", c->name);
        routing_candidate_t candidates[5];
        memcpy (candidates, c->candidates, sizeof candidates);
        size_t kept = routing_rank (candidates, c->count, &order);
        char got[8] = "";
        for (size_t k = 0; k < kept; k++)
            got[k] = candidates[k].agency_id[0];
        cr_expect_str_eq (got, c->expected, "case \"%s\"", c->name);
    }
}

Test (rank, order_parsing)
{
    routing_order_t order;
    kn_error_t err;
    cr_assert_eq (routing_rank_parse_order ("rotation,continuity", &order, &err), 0);
    char text[80];
    routing_rank_format_order (&order, text, sizeof text);
    cr_assert_str_eq (text, "rotation,continuity");
    cr_assert_eq (routing_rank_parse_order ("language,speed", &order, &err), -1);
    cr_assert_str_eq (err.field, "rank.order");
    cr_assert (strstr (err.message, "speed"));
    cr_assert_eq (routing_rank_parse_order ("language,language", &order, &err), -1);
    cr_assert_eq (routing_rank_parse_order ("", &order, &err), -1);
}

Test (rank, reasons)
{
    routing_candidate_t c = {"a", 2, 2, "ar", 10, 3, 0};
    char detail[96];
    cr_assert_eq (routing_rank_score (&c, ROUTING_RULE_CONTINUITY, detail, sizeof detail), 2);
    cr_assert_str_eq (detail, "already working with the family");
    cr_assert_eq (routing_rank_score (&c, ROUTING_RULE_LANGUAGE, detail, sizeof detail), 2);
    cr_assert_str_eq (detail, "speaks ar");
    cr_assert_eq (routing_rank_score (&c, ROUTING_RULE_HEADROOM, detail, sizeof detail), 700);
    cr_assert_str_eq (detail, "7 of 10 places free");
    cr_assert_eq (routing_rank_score (&c, ROUTING_RULE_ROTATION, detail, sizeof detail), 0);
    cr_assert_str_eq (detail, "never offered");
}

Test (rank, deadlines_as_text)
{
    static const struct {
        const char *text;
        int64_t seconds;   // -1: refused
    } cases[] = {
        {"10 days", 864000},    {"1 hour", 3600},       {"4 hours", 14400},
        {"1 day 12 hours", 129600}, {"90 minutes", 5400}, {"2w", 1209600},
        {"  3 DAYS ", 259200},  {"90 days", 7776000},   {"91 days", -1},
        {"0 days", -1},         {"", -1},               {"soon", -1},
        {"10", -1},             {"-1 day", -1},         {"1 fortnight", -1},
        {"1 day; DROP", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t seconds = 0;
        kn_error_t err;
        int rc = routing_validate_interval (cases[i].text, "deadline.urgent", &seconds, &err);
        if (cases[i].seconds < 0) {
            cr_expect_eq (rc, -1, "'%s' accepted", cases[i].text);
            cr_expect_str_eq (err.field, "deadline.urgent");
        }
        else {
            cr_expect_eq (rc, 0, "'%s' refused", cases[i].text);
            cr_expect_eq (seconds, cases[i].seconds, "'%s'", cases[i].text);
        }
    }
}

//  routing.setting's rules, as a table: key, value, and the field an error names
//  ("" when the value is accepted). The CLI and the routing service both use them.
typedef struct {
    const char *key;
    const char *value;
    const char *field;
} setting_case_t;

static const setting_case_t s_settings[] = {
    {"rank.order", "rotation,continuity", ""},
    {"rank.order", "continuity,continuity", "rank.order"},
    {"deadline.urgent", "4 hours", ""},
    {"deadline.urgent", "0 hours", "deadline.urgent"},
    {"deadline.urgent", "91 days", "deadline.urgent"},
    {"deadline.someday", "4 hours", "key"},
    {"contact.emergency_safeguarding", "2 h", ""},
    {"contact.routine", "soon", "contact.routine"},
    {"emergency.to_district_lead", "false", ""},
    {"emergency.to_district_lead", "no", "emergency.to_district_lead"},
    {"escalate.to_district_lead_from", "never", ""},
    {"escalate.to_district_lead_from", "priority", ""},
    {"escalate.to_district_lead_from", "sometimes", "escalate.to_district_lead_from"},
    {"rank.orders", "continuity", "key"},
    {"", "", "key"},
};

Test (rank, settings_rules)
{
    for (size_t i = 0; i < sizeof s_settings / sizeof s_settings[0]; i++) {
        const setting_case_t *c = &s_settings[i];
        kn_error_t err;
        kn_error_clear (&err);
        int rc = routing_settings_check (c->key, c->value, &err);
        if (*c->field == 0)
            cr_assert_eq (rc, 0, "%s = %s refused: %s", c->key, c->value, err.message);
        else {
            cr_assert_eq (rc, -1, "%s = %s accepted", c->key, c->value);
            cr_assert_str_eq (err.field, c->field, "%s = %s", c->key, c->value);
        }
    }
    //  Every default passes its own rule, and every key has one.
    size_t count;
    const routing_setting_t *table = routing_settings_table (&count);
    cr_assert_eq (count, 11);
    for (size_t i = 0; i < count; i++) {
        kn_error_t err;
        cr_assert_eq (routing_settings_check (table[i].key, table[i].default_value, &err), 0,
                      "default of %s: %s", table[i].key, err.message);
    }
}
