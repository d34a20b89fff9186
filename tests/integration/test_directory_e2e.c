/*  From a published HSDS file to a first offer, through the kinnet command, the
    broker and every service, as docs/directory.md walks it: an agency registers,
    its organization's full HSDS record (every member an API sends, most of which
    Kinnet does not read) is imported with a mapping that links the two (a dry run
    first), `directory show` says it can receive offers, a school refers a child
    with a need the record maps, and the offer reaches the agency's feed. Waits are
    for conditions (the feed's long poll), never for time. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "kn_test.h"

//  The organization of tests/data/hsds/family-hub-full.json.
#define HUB "3c1f9a52-6b7e-4d0a-9f3e-2a8b5c7d1e04"

static kn_test_stack_t *stack;

static void
s_setup (void)
{
    zsys_init ();
    stack = kn_test_stack_new ();
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (directory_e2e, .init = s_setup, .fini = s_teardown, .timeout = 180);

//  kinnet args with env (a "VAR=value ..." prefix): its exit code, stdout and stderr
//  in *out (caller frees).
static int
s_run (const char *env, const char *args, char **out)
{
    char quiet[4096];
    snprintf (quiet, sizeof quiet, "%s KINNET_LOG_LEVEL=warn", env);
    return kn_test_run_cli (quiet, out, "%s", args);
}

//  kinnet args as agency of the stack.
static int
s_as (int agency, const char *args, char **out)
{
    char *env = kn_test_stack_cli_env (stack, agency);
    int rc = s_run (env, args, out);
    free (env);
    return rc;
}

static void
s_write (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    cr_assert (file, "%s", path);
    fputs (text, file);
    fclose (file);
}

Test (directory_e2e, published_record_to_first_offer)
{
    const char *dir = kn_test_stack_dir (stack);
    char args[2000], path[600], *out;

    //  1. The agency registers, with its own key pair.
    snprintf (args, sizeof args,
              "--format json admin agency add --name 'Riverside Family Hub'"
              " --sector ngo_community --district north --cert-out %s",
              dir);
    cr_assert_eq (s_as (KN_TEST_ADMIN, args, &out), 0, "%s", out);
    json_t *added = json_loads (out, 0, NULL);
    cr_assert (added, "not JSON: %s", out);
    free (out);
    char agency[KN_UUID_STR];
    snprintf (agency, sizeof agency, "%s",
              json_string_value (json_object_get (added, "agency_id")));
    json_decref (added);

    //  The district it serves, registered: an import refuses a code that is not.
    cr_assert_eq (s_as (KN_TEST_ADMIN,
                        "admin directory district set north --name 'North Riverside'", &out),
                  0, "%s", out);
    free (out);

    //  2. The mapping: the council's terms and areas, and the link to the agency.
    char mapping[600];
    snprintf (mapping, sizeof mapping, "%s/hub-mapping.json", dir);
    char text[1500];
    snprintf (text, sizeof text,
              "{\"needs\": {\"RS-PAR\": \"parenting_support\"},"
              " \"sectors\": {\"ORG-VCS\": \"ngo_community\"},"
              " \"districts\": {\"North Riverside\": \"north\"},"
              " \"capacity_units\": [\"families\"],"
              " \"organizations\": {\"" HUB "\": {\"agency_id\": \"%s\"}}}",
              agency);
    s_write (mapping, text);
    snprintf (path, sizeof path, "%s/hsds/family-hub-full.json", kn_test_data_dir ());

    //  3. A dry run says what the import would do and writes nothing; then the import.
    snprintf (args, sizeof args,
              "--format json admin directory import %s --mapping %s --dry-run", path,
              mapping);
    cr_assert_eq (s_as (KN_TEST_ADMIN, args, &out), 0, "%s", out);
    cr_expect (strstr (out, "\"linked\""), "%s", out);
    free (out);
    char *linked =
        kn_test_sqlf (kn_test_stack_db_url (stack),
                      "SELECT count(*) FROM core.agency WHERE directory_id = '%s'", HUB);
    cr_expect_str_eq (linked, "0", "a dry run wrote");
    free (linked);
    snprintf (args, sizeof args, "admin directory import %s --mapping %s", path, mapping);
    cr_assert_eq (s_as (KN_TEST_ADMIN, args, &out), 0, "%s", out);
    cr_expect (strstr (out, "linked"), "%s", out);
    free (out);

    //  4. The directory says it can receive offers, with what the record says.
    cr_assert_eq (s_as (KN_TEST_ADMIN, "--format json admin directory show " HUB, &out),
                  0, "%s", out);
    json_t *listing = json_loads (out, 0, NULL);
    cr_assert (listing, "not JSON: %s", out);
    free (out);
    json_t *entry = json_array_get (listing, 0);
    cr_expect_str_eq (json_string_value (json_object_get (entry, "agency_id")), agency);
    cr_expect (json_is_true (json_object_get (entry, "can_receive_offers")),
               "why not: %s", json_string_value (json_object_get (entry, "why_not")));
    cr_expect_eq (json_integer_value (json_object_get (entry, "capacity")), 12);
    cr_expect (json_is_true (json_object_get (entry, "interpreters")));
    json_decref (listing);

    //  5. A school (agency 0) refers a child in the north needing parenting support.
    snprintf (path, sizeof path, "%s/referral.json", dir);
    s_write (path, "{\"idempotency_key\": \"hub-e2e-1\","
                   " \"child\": {\"given_name\": \"Sami\", \"family_name\": \"Haddad\","
                   " \"date_of_birth\": \"2017-03-14\", \"languages\": [\"ar\"]},"
                   " \"needs\": [{\"category\": \"parenting_support\","
                   " \"description\": \"Parents ask for help with routines at home.\"}],"
                   " \"urgency\": \"priority\", \"district\": \"north\","
                   " \"lawful_ground\": {\"basis\": \"public_task\","
                   " \"justification\": \"Early help assessment.\"}}");
    snprintf (args, sizeof args, "--format json refer --file %s", path);
    cr_assert_eq (s_as (0, args, &out), 0, "%s", out);
    free (out);

    //  6. The offer reaches the agency's feed, read with its own certificate. The
    //  broker admits a new key when PostgreSQL tells it; until then a read is
    //  refused, and each refusal is followed by a short pause, not a busy loop.
    char *env = kn_test_stack_cli_env (stack, KN_TEST_ADMIN);
    char hub_env[2600];
    snprintf (hub_env, sizeof hub_env, "%s KINNET_CERT='%s/agency-%s.cert_secret'", env,
              dir, agency);
    free (env);
    bool offered = false;
    int64_t deadline = zclock_mono () + 60000;
    while (!offered && zclock_mono () < deadline) {
        int rc = s_run (hub_env, "--format json feed --wait 5000", &out);
        offered = rc == 0 && strstr (out, "offer.made");
        free (out);
        if (rc != 0)
            zclock_sleep (50);
    }
    cr_assert (offered, "no offer reached the imported agency's feed");
    char *offers = kn_test_sqlf (kn_test_stack_db_url (stack),
                                 "SELECT count(*) FROM routing.involvement"
                                 " WHERE agency_id = '%s' AND status = 'offered'",
                                 agency);
    cr_expect_str_eq (offers, "1");
    free (offers);
}
