/*  Erasure cannot be undone, so one DPO's erasures are seen and bounded: every DPO is
    told of each in its feed, and one DPO agency erases at most
    KINNET_ERASURE_HOURLY_LIMIT people an hour (here 2); past that the request is
    refused as retryable and nothing is erased. Another DPO agency has its own
    allowance, a dry run is not counted, and an erasure counts everyone merged into
    the person, whom it erases with them. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "kn_test.h"
#include "kn_uuid.h"

static kn_test_stack_t *stack;

#define s_count(fmt, ...) kn_test_countf (kn_test_stack_db_url (stack), fmt, __VA_ARGS__)

//  Refer child seed as agency 0; their subject into id.
static void
s_refer (int seed, char id[KN_UUID_STR])
{
    char key[32];
    snprintf (key, sizeof key, "oversight-%d", seed);
    kn_test_stack_refer (stack, 0, seed, key, id);
}

static void
s_setup (void)
{
    const char *env[] = {"records", "KINNET_ERASURE_HOURLY_LIMIT", "2", NULL};
    stack = kn_test_stack_new_with_env (env);
    kn_test_stack_grant (stack, 1, "data_protection_officer");
    kn_test_stack_grant (stack, KN_TEST_ADMIN, "data_protection_officer");
    kn_test_stack_start_records (stack);
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (erasure_oversight, .init = s_setup, .fini = s_teardown, .timeout = 120);

Test (erasure_oversight, one_dpo_erases_a_bounded_number_an_hour_and_every_dpo_is_told)
{
    char people[4][KN_UUID_STR];
    for (int i = 0; i < 4; i++)
        s_refer (300 + i, people[i]);
    char *out = NULL;
    //  A dry run is not an erasure: it does not count.
    cr_assert_eq (kn_test_stack_cli (stack, 1, &out, "subject erase %s --reference E/0"
                                                     " --dry-run", people[0]),
                  0, "%s", out);
    free (out);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq (kn_test_stack_cli (stack, 1, &out, "subject erase %s --reference E/%d",
                                         people[i], i),
                      0, "%s", out);
        free (out);
    }
    //  The third in the hour: refused, retryable, nothing erased.
    cr_assert_eq (kn_test_stack_cli (stack, 1, &out, "subject erase %s --reference E/2",
                                     people[2]),
                  8, "%s", out);
    cr_assert (strstr (out, "last hour"), "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.data_key WHERE subject_id = '%s'"
                           " AND wrapped IS NOT NULL", people[2]),
                  1, "the refused erasure destroyed the key");
    //  Another DPO agency has its own allowance.
    cr_assert_eq (kn_test_stack_cli (stack, KN_TEST_ADMIN, &out,
                                     "subject erase %s --reference E/3", people[3]),
                  0, "%s", out);
    free (out);
    //  Every DPO is told of each erasure, the other DPO's included.
    const char *url = kn_test_stack_db_url (stack);
    for (int i = 0; i < 3000 && kn_test_outbox_past_cursor (url) > 0; i++)
        zclock_sleep (10);   // polled: routing consumes the outbox
    for (int agency = 1; agency <= KN_TEST_ADMIN; agency += KN_TEST_ADMIN - 1) {
        cr_assert_eq (kn_test_stack_cli (stack, agency, &out, "--format json feed --after 0"),
                      0, "%s", out);
        for (int i = 0; i < 4; i++)
            cr_assert ((i == 2) != (strstr (out, people[i]) != NULL),
                       "agency %d, person %d: %s", agency, i, out);
        free (out);
    }
    //  A merge carries no one past the limit: the other DPO has one erasure left, and
    //  erasing a person with someone merged into them would take two.
    char kept[KN_UUID_STR], merged[KN_UUID_STR];
    s_refer (310, kept);
    s_refer (311, merged);
    cr_assert_eq (kn_test_stack_cli (stack, KN_TEST_ADMIN, &out,
                                     "subject merge %s %s --reference M/1", kept, merged),
                  0, "%s", out);
    free (out);
    cr_assert_eq (kn_test_stack_cli (stack, KN_TEST_ADMIN, &out,
                                     "subject erase %s --reference E/4", kept),
                  8, "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.data_key WHERE subject_id = '%s'"
                           " AND wrapped IS NOT NULL", kept),
                  1, "the merged pair was erased past the limit");
    //  No agency but a DPO is told (agency 0 received nothing about them).
    cr_assert_eq (kn_test_stack_cli (stack, 0, &out, "--format json feed --after 0"), 0, "%s",
                  out);
    cr_assert (!strstr (out, "subject.erased"), "%s", out);
    free (out);
}
