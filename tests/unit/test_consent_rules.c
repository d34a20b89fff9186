/*  The consent policy's rules as a table: facts in (the grounds that cover the
    recipient, the child's age, whether the recipient is active), a decision out,
    category by category. No database: kn_consent_policy_decide only loads these
    facts and calls the same function. */
#include <criterion/criterion.h>
#include <string.h>

#include "kinnet/v1/consent.pb-c.h"
#include "kn_consent_policy.h"
#include "kn_test.h"

static void
s_fini (void)
{
    kn_test_no_leaks ();
}

TestSuite (rules, .fini = s_fini);

#define IDENTITY  KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT
#define NARRATIVE KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE
#define HEALTH    KINNET__V1__DATA_CATEGORY__PHYSICAL_HEALTH_DATA
#define PUBLIC    KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK
#define CONSENT   KINNET__V1__LAWFUL_BASIS__CONSENT
#define OVERRIDE  KINNET__V1__LAWFUL_BASIS__SAFEGUARDING_OVERRIDE

//  Grounds: category, id, by_child, withdrawn, basis, special_condition, decided.
#define GUARDIAN(cat, id) {cat, id, false, false, 0, false, true}
#define CHILD(cat, id)    {cat, id, true, false, 0, false, true}

typedef struct {
    const char *name;
    kn_disagreement_t rule;
    bool inactive;
    int age;
    kn_policy_ground_t consents[3];
    size_t n_consents;
    kn_policy_ground_t bases[2];
    size_t n_bases;
    kn_policy_ground_t overrides[2];
    size_t n_overrides;
    int categories[3];
    size_t n;
    int decision;
    //  The first category's outcome: basis (0: refused), ground, and a piece of
    //  its reason.
    int basis;
    const char *ground;
    const char *reason;
} rule_case_t;

static const rule_case_t s_cases[] = {
    {"an inactive recipient gets nothing, whatever covers it", KN_DISAGREE_CHILD, true, 9,
     {GUARDIAN (IDENTITY, "c1")}, 1, {{0}}, 0, {{0}}, 0, {IDENTITY}, 1,
     KINNET__V1__DECISION__DENIED, 0, "", "not an active agency"},
    {"a guardian's consent covers a young child", KN_DISAGREE_CHILD, false, 9,
     {GUARDIAN (IDENTITY, "c1")}, 1, {{0}}, 0, {{0}}, 0, {IDENTITY}, 1,
     KINNET__V1__DECISION__PERMITTED, CONSENT, "c1", "consent c1"},
    {"a young child's own consent does not count", KN_DISAGREE_CHILD, false, 9,
     {CHILD (IDENTITY, "c1")}, 1, {{0}}, 0, {{0}}, 0, {IDENTITY}, 1,
     KINNET__V1__DECISION__DENIED, 0, "", "a guardian's consent is required"},
    {"no date of birth on record: only a guardian's counts", KN_DISAGREE_CHILD, false, -1,
     {CHILD (IDENTITY, "c1")}, 1, {{0}}, 0, {{0}}, 0, {IDENTITY}, 1,
     KINNET__V1__DECISION__DENIED, 0, "", "a guardian's consent is required"},
    {"an older child decides for themself", KN_DISAGREE_CHILD, false, 15,
     {CHILD (IDENTITY, "c1")}, 1, {{0}}, 0, {{0}}, 0, {IDENTITY}, 1,
     KINNET__V1__DECISION__PERMITTED, CONSENT, "c1", "consent c1"},
    {"an older child's withdrawal outweighs a guardian's consent", KN_DISAGREE_CHILD, false,
     15, {{IDENTITY, "c1", true, true, 0, false, true}, GUARDIAN (IDENTITY, "c2")}, 2, {{0}},
     0, {{0}}, 0, {IDENTITY}, 1, KINNET__V1__DECISION__DENIED, 0, "", "the child withdrew"},
    {"rule both: the child's alone is not enough", KN_DISAGREE_BOTH, false, 15,
     {CHILD (IDENTITY, "c1")}, 1, {{0}}, 0, {{0}}, 0, {IDENTITY}, 1,
     KINNET__V1__DECISION__DENIED, 0, "", "both the child's and a guardian's"},
    {"rule both: child and guardian together", KN_DISAGREE_BOTH, false, 15,
     {GUARDIAN (IDENTITY, "c2"), CHILD (IDENTITY, "c1")}, 2, {{0}}, 0, {{0}}, 0, {IDENTITY},
     1, KINNET__V1__DECISION__PERMITTED, CONSENT, "c1", "consent c1"},
    {"a consent the controller did not decide is named, never used", KN_DISAGREE_CHILD, false,
     9, {{IDENTITY, "c1", false, false, 0, false, false}}, 1, {{0}}, 0, {{0}}, 0, {IDENTITY},
     1, KINNET__V1__DECISION__DENIED, 0, "", "consent c1 covers this recipient, but the"},
    {"consent is preferred to a statutory basis", KN_DISAGREE_CHILD, false, 9,
     {GUARDIAN (IDENTITY, "c1")}, 1, {{IDENTITY, "b1", false, false, PUBLIC, false, true}}, 1,
     {{0}}, 0, {IDENTITY}, 1, KINNET__V1__DECISION__PERMITTED, CONSENT, "c1", "consent c1"},
    {"a statutory basis covers what no consent does", KN_DISAGREE_CHILD, false, 9, {{0}}, 0,
     {{NARRATIVE, "b1", false, false, PUBLIC, false, true}}, 1, {{0}}, 0, {NARRATIVE}, 1,
     KINNET__V1__DECISION__PERMITTED, PUBLIC, "b1", "statutory basis b1"},
    {"health data on a basis needs a special-category condition", KN_DISAGREE_CHILD, false, 9,
     {{0}}, 0, {{HEALTH, "b1", false, false, PUBLIC, false, true}}, 1, {{0}}, 0, {HEALTH}, 1,
     KINNET__V1__DECISION__DENIED, 0, "", "special-category condition"},
    {"with the condition it goes", KN_DISAGREE_CHILD, false, 9, {{0}}, 0,
     {{HEALTH, "b1", false, false, PUBLIC, true, true}}, 1, {{0}}, 0, {HEALTH}, 1,
     KINNET__V1__DECISION__PERMITTED, PUBLIC, "b1", "statutory basis b1"},
    {"an override the controller decided releases the rest", KN_DISAGREE_CHILD, false, 9,
     {{0}}, 0, {{0}}, 0, {{NARRATIVE, "o1", false, false, 0, false, true}}, 1, {NARRATIVE},
     1, KINNET__V1__DECISION__PERMITTED, OVERRIDE, "o1", "safeguarding override o1"},
    {"another agency's override releases nothing of this controller's", KN_DISAGREE_CHILD,
     false, 9, {{0}}, 0, {{0}}, 0, {{NARRATIVE, "o1", false, false, 0, false, false}}, 1,
     {NARRATIVE}, 1, KINNET__V1__DECISION__DENIED, 0, "", "did not decide"},
    {"one category covered of two: partly permitted", KN_DISAGREE_CHILD, false, 9,
     {GUARDIAN (IDENTITY, "c1")}, 1, {{0}}, 0, {{0}}, 0, {IDENTITY, NARRATIVE}, 2,
     KINNET__V1__DECISION__PARTLY_PERMITTED, CONSENT, "c1", "consent c1"},
    {"nothing at all", KN_DISAGREE_CHILD, false, 9, {{0}}, 0, {{0}}, 0, {{0}}, 0, {NARRATIVE},
     1, KINNET__V1__DECISION__DENIED, 0, "", "no consent, statutory basis or override"},
};

Test (rules, table)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const rule_case_t *c = &s_cases[i];
        kn_policy_config_t config = {.child_age = 13, .disagreement = c->rule};
        kn_policy_facts_t facts = {.recipient_active = !c->inactive,
                                   .age = c->age,
                                   .consents = c->consents,
                                   .n_consents = c->n_consents,
                                   .bases = c->bases,
                                   .n_bases = c->n_bases,
                                   .overrides = c->overrides,
                                   .n_overrides = c->n_overrides};
        kn_policy_decision_t d;
        kn_consent_policy_rules (&config, &facts, c->categories, c->n, &d);
        cr_assert_eq (d.decision, c->decision, "%s: decision %d", c->name, d.decision);
        cr_assert_eq (d.count, c->n, "%s", c->name);
        const kn_policy_category_t *first = &d.categories[0];
        cr_assert_eq (first->category, c->categories[0], "%s", c->name);
        cr_assert_eq (first->permitted, c->basis != 0, "%s", c->name);
        cr_assert_eq (first->basis, c->basis, "%s: basis %d", c->name, first->basis);
        cr_assert_str_eq (first->ground_id, c->ground, "%s", c->name);
        cr_assert (strstr (first->reason, c->reason), "%s: reason \"%s\"", c->name,
                   first->reason);
    }
}

Test (rules, a_category_asked_twice_is_decided_once)
{
    kn_policy_ground_t consents[] = {GUARDIAN (IDENTITY, "c1"), GUARDIAN (IDENTITY, "c2")};
    kn_policy_facts_t facts = {.recipient_active = true, .age = 9, .consents = consents,
                               .n_consents = 2};
    kn_policy_config_t config = {.child_age = 13, .disagreement = KN_DISAGREE_CHILD};
    int categories[] = {IDENTITY, IDENTITY};
    kn_policy_decision_t d;
    kn_consent_policy_rules (&config, &facts, categories, 2, &d);
    cr_assert_eq (d.count, 1);
    //  The first consent is the ground; every consent that counts may carry a referral.
    cr_assert_str_eq (d.categories[0].ground_id, "c1");
    cr_assert_eq (d.categories[0].n_consents, 2);
}
