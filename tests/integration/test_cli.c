/*  The kinnet command against a real stack: formats, exit codes, admin commands. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sys/wait.h>

#include "kn_test.h"

static kn_test_stack_t *stack;
static char dir[300];

static void
s_setup (void)
{
    zsys_init ();
    stack = kn_test_stack_new ();
    snprintf (dir, sizeof dir, "%s", kn_test_stack_dir (stack));
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (cli, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  Run the CLI as agency; returns the exit code, stdout into *out (caller frees).
static int
s_run (int agency, const char *args, char **out)
{
    char *env = kn_test_stack_cli_env (stack, agency);
    char command[4096];
    snprintf (command, sizeof command, "%s %s --timeout 2000 --retries 1 %s 2>%s/cli.err",
              env, kn_test_cli_bin (), args, dir);
    free (env);
    FILE *pipe = popen (command, "r");
    cr_assert (pipe);
    char *buffer = calloc (1, 65536);
    size_t got = fread (buffer, 1, 65535, pipe);
    buffer[got] = '\0';
    int status = pclose (pipe);
    if (out)
        *out = buffer;
    else
        free (buffer);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
s_write (const char *name, const char *text)
{
    char path[400];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    cr_assert (file);
    fputs (text, file);
    fclose (file);
}

static const char *s_referral =
    "{\"idempotency_key\": \"CLI-1\","
    " \"child\": {\"given_name\": \"Dara\", \"family_name\": \"Okafor\","
    "            \"date_of_birth\": \"2017-09-14\", \"languages\": [\"en\", \"ig\"]},"
    " \"guardians\": [{\"given_name\": \"Ngozi\", \"family_name\": \"Okafor\","
    "                 \"relationship\": \"mother\", \"parental_responsibility\": true}],"
    " \"needs\": [{\"category\": \"attendance_and_learning\","
    "             \"description\": \"Attendance 71% this term.\"}],"
    " \"urgency\": \"routine\", \"district\": \"north\","
    " \"lawful_ground\": {\"basis\": \"public_task\","
    "                   \"justification\": \"Attendance below 75%: statutory early help.\"}}";

Test (cli, refer_show_withdraw_json)
{
    s_write ("referral.json", s_referral);
    char args[600], *out = NULL;
    snprintf (args, sizeof args, "--format json refer --file %s/referral.json", dir);
    cr_assert_eq (s_run (0, args, &out), 0, "output: %s", out);
    json_t *json = json_loads (out, 0, NULL);
    cr_assert (json, "not JSON: %s", out);
    const char *id = json_string_value (json_object_get (json, "referral_id"));
    cr_assert (id && strlen (id) == 36);
    char referral_id[40];
    snprintf (referral_id, sizeof referral_id, "%s", id);
    json_decref (json);
    free (out);

    //  Same file again: same id, replayed.
    cr_assert_eq (s_run (0, args, &out), 0);
    json = json_loads (out, 0, NULL);
    cr_assert_str_eq (json_string_value (json_object_get (json, "referral_id")), referral_id);
    cr_assert (json_is_true (json_object_get (json, "replayed")));
    json_decref (json);
    free (out);

    snprintf (args, sizeof args, "--format json referral show %s", referral_id);
    cr_assert_eq (s_run (0, args, &out), 0);
    json = json_loads (out, 0, NULL);
    json_t *submitted = json_object_get (json, "submitted");
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (submitted, "child"),
                                                          "given_name")),
                      "Dara");
    json_decref (json);
    free (out);

    //  The other agency has no ground to see it: refused, with the reason.
    cr_assert_eq (s_run (1, args, &out), 4);
    cr_assert (strstr (out, "permission_denied"), "%s", out);
    free (out);

    snprintf (args, sizeof args, "referral withdraw %s --reason 'Family declined support'",
              referral_id);
    cr_assert_eq (s_run (0, args, &out), 0);
    cr_assert (strstr (out, "withdrawn"));
    free (out);
    //  Repeating the command is safe (same default idempotency key).
    cr_assert_eq (s_run (0, args, NULL), 0);
}

Test (cli, exit_codes)
{
    char args[600];
    cr_assert_eq (s_run (0, "--help", NULL), 0);
    cr_assert_eq (s_run (0, "refer --help", NULL), 0);
    cr_assert_eq (s_run (0, "nonsense", NULL), 2);
    cr_assert_eq (s_run (0, "refer", NULL), 2);

    //  Invalid: unknown enum name, named by field.
    s_write ("bad.json", "{\"idempotency_key\": \"X\", \"urgency\": \"whenever\"}");
    snprintf (args, sizeof args, "--format json refer --file %s/bad.json", dir);
    char *out = NULL;
    cr_assert_eq (s_run (0, args, &out), 3);
    json_t *json = json_loads (out, 0, NULL);
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (json, "error"), "field")),
                      "urgency");
    json_decref (json);
    free (out);
    //  Invalid: the service's own validation.
    s_write ("nochild.json", "{\"idempotency_key\": \"X\", \"urgency\": \"routine\"}");
    snprintf (args, sizeof args, "refer --file %s/nochild.json", dir);
    cr_assert_eq (s_run (0, args, NULL), 3);
    //  Not JSON at all.
    s_write ("broken.json", "{\"idempotency_key\": ");
    snprintf (args, sizeof args, "refer --file %s/broken.json", dir);
    cr_assert_eq (s_run (0, args, NULL), 3);

    //  Conflict: same key, other content.
    s_write ("referral.json", s_referral);
    snprintf (args, sizeof args, "refer --file %s/referral.json", dir);
    cr_assert_eq (s_run (0, args, NULL), 0);
    char changed[2048];
    snprintf (changed, sizeof changed, "%s", s_referral);
    char *routine = strstr (changed, "\"routine\"");
    memcpy (routine, "\"urgent\" ", 9);
    s_write ("changed.json", changed);
    snprintf (args, sizeof args, "refer --file %s/changed.json", dir);
    cr_assert_eq (s_run (0, args, NULL), 5);

    //  Unregistered agency: refused (auth/unreachable).
    snprintf (args, sizeof args, "refer --file %s/referral.json", dir);
    cr_assert_eq (s_run (2, args, NULL), 4);
}

Test (cli, ping_and_admin_agency_lifecycle)
{
    cr_assert_eq (s_run (0, "ping intake", NULL), 0);
    cr_assert_eq (s_run (0, "ping nosuchservice", NULL), 4);

    char args[600], *out = NULL;
    snprintf (args, sizeof args,
              "--format json admin agency add --name 'Hope Family Centre' --sector ngo_community"
              " --district south --cert-out %s/new",
              dir);
    cr_assert_eq (s_run (0, args, &out), 0, "%s", out);
    json_t *json = json_loads (out, 0, NULL);
    cr_assert (json, "%s", out);
    char agency_id[40], cert[400];
    snprintf (agency_id, sizeof agency_id, "%s",
              json_string_value (json_object_get (json, "agency_id")));
    snprintf (cert, sizeof cert, "%s",
              json_string_value (json_object_get (json, "secret_certificate")));
    json_decref (json);
    free (out);

    //  The new agency's certificate works through the broker (after its reload).
    char *env = kn_test_stack_cli_env (stack, 0);
    char command[4096];
    int rc = -1;
    int64_t deadline = zclock_mono () + 10000;
    while (rc != 0 && zclock_mono () < deadline) {
        snprintf (command, sizeof command, "%s KINNET_CERT='%s' %s --timeout 500 --retries 0"
                  " ping intake >/dev/null 2>&1", env, cert, kn_test_cli_bin ());
        rc = WEXITSTATUS (system (command));
    }
    cr_assert_eq (rc, 0, "new agency could not reach the broker");

    snprintf (args, sizeof args, "admin agency revoke %s", agency_id);
    cr_assert_eq (s_run (0, args, NULL), 0);
    cr_assert_eq (s_run (0, "admin agency revoke 00000000-0000-4000-8000-000000000000", NULL), 6);
    cr_assert_eq (s_run (0, "admin agency add --name X --sector wizardry --district d"
                            " --cert-out /tmp/kn-unused", NULL),
                  3);
    free (env);
}

//  Value of "key": "value" in JSON text (first occurrence).
static char *
s_json_string (const char *text, const char *key)
{
    json_t *json = json_loads (text, 0, NULL);
    cr_assert (json, "not JSON: %s", text);
    const char *value = json_string_value (json_object_get (json, key));
    char *copy = value ? strdup (value) : NULL;
    json_decref (json);
    return copy;
}

Test (cli, consent_and_override_commands)
{
    char consent[1024];
    snprintf (consent, sizeof consent,
              "{\"idempotency_key\": \"CLI-C-1\","
              " \"subject\": {\"person\": {\"given_name\": \"Ines\", \"family_name\": \"Ferreira\","
              "             \"date_of_birth\": \"2012-02-02\"}},"
              " \"given_by\": \"child\","
              " \"scope\": {\"agencies\": [\"%s\"], \"categories\": [\"identity_and_contact\","
              "           \"education\"], \"purposes\": [\"coordination_of_support\"]},"
              " \"valid_until\": {\"seconds\": %ld},"
              " \"method\": \"digital\", \"evidence_reference\": \"app-77\","
              " \"privacy_notice_version\": \"4\", \"privacy_notice_language\": \"pt\"}",
              kn_test_stack_agency_id (stack, 1), (long) time (NULL) + 10 * 86400);
    s_write ("consent.json", consent);
    char args[1024], *out = NULL;
    snprintf (args, sizeof args, "--format json consent record --file %s/consent.json", dir);
    cr_assert_eq (s_run (0, args, &out), 0, "%s", out);
    char *consent_id = s_json_string (out, "consent_id");
    char *subject_id = s_json_string (out, "subject_id");
    free (out);
    cr_assert (consent_id && subject_id);

    snprintf (args, sizeof args, "consent show %s", consent_id);
    cr_assert_eq (s_run (0, args, NULL), 0);
    snprintf (args, sizeof args, "--format json consent list --subject %s", subject_id);
    cr_assert_eq (s_run (0, args, &out), 0);
    cr_assert (strstr (out, consent_id));
    free (out);
    cr_assert_eq (s_run (0, "--format json consent expiring --days 30", &out), 0);
    cr_assert (strstr (out, consent_id), "expiring list: %s", out);
    free (out);
    snprintf (args, sizeof args,
              "consent check --subject %s --agency %s --category education"
              " --category mental_health_data --purpose coordination_of_support",
              subject_id, kn_test_stack_agency_id (stack, 1));
    cr_assert_eq (s_run (0, args, &out), 0);
    cr_assert (strstr (out, "PARTLY PERMITTED"), "%s", out);
    free (out);
    snprintf (args, sizeof args, "consent receipt %s", consent_id);
    cr_assert_eq (s_run (0, args, &out), 0);
    cr_assert (strstr (out, "consentReceiptID"));
    free (out);

    //  Usage errors, then the withdrawal. Agency 1 is a named recipient: it sees the
    //  consent but may not withdraw it; the recorder (agency 0) may.
    snprintf (args, sizeof args, "consent withdraw %s", consent_id);
    cr_assert_eq (s_run (0, args, NULL), 2);
    snprintf (args, sizeof args, "consent withdraw %s --channel pigeon", consent_id);
    cr_assert_eq (s_run (0, args, NULL), 2);
    snprintf (args, sizeof args,
              "--format json consent withdraw %s --channel written --category education", consent_id);
    cr_assert_neq (s_run (1, args, &out), 0, "%s", out);
    cr_assert (strstr (out, "permission_denied"), "%s", out);
    free (out);
    cr_assert_eq (s_run (0, args, &out), 0, "%s", out);
    cr_assert (strstr (out, "PARTLY_WITHDRAWN") || strstr (out, "partly_withdrawn"), "%s", out);
    free (out);
    //  The same command again is the same request (same default key).
    cr_assert_eq (s_run (0, args, NULL), 0);

    //  A release: agency 1 records the same consent itself (its own evidence) and asks
    //  agency 0, the controller of what agency 0 holds, to let it count; agency 0
    //  approves. The asker cannot approve its own request.
    snprintf (args, sizeof args, "--format json consent record --file %s/consent.json", dir);
    cr_assert_eq (s_run (1, args, &out), 0, "%s", out);
    char *evidence = s_json_string (out, "consent_id");
    free (out);
    snprintf (args, sizeof args,
              "--format json release request --ground %s --controller %s"
              " --reason 'The young person asked us to coordinate with the school.'",
              evidence, kn_test_stack_agency_id (stack, 0));
    cr_assert_eq (s_run (1, args, &out), 0, "%s", out);
    char *release_id = s_json_string (out, "release_id");
    free (out);
    cr_assert_eq (s_run (0, "--format json release list --open", &out), 0, "%s", out);
    cr_assert (strstr (out, release_id), "%s", out);
    cr_assert (strstr (out, "coordinate with the school"), "%s", out);
    free (out);
    snprintf (args, sizeof args, "release approve %s --reason 'Checked.'", release_id);
    cr_assert_eq (s_run (1, args, &out), 4, "the asker approved its own request: %s", out);
    free (out);
    snprintf (args, sizeof args, "--format json release approve %s --reason 'Checked.'",
              release_id);
    cr_assert_eq (s_run (0, args, &out), 0, "%s", out);
    cr_assert (strstr (out, "release_approved") || strstr (out, "RELEASE_APPROVED"), "%s", out);
    free (out);
    cr_assert_eq (s_run (0, "release list --open", &out), 0);
    cr_assert_null (strstr (out, release_id), "approved request still open: %s", out);
    free (out);
    free (release_id);
    free (evidence);

    //  A safeguarding override, its open review, and a review by the DPO role.
    char override[1024];
    snprintf (override, sizeof override,
              "{\"idempotency_key\": \"CLI-O-1\", \"subject\": {\"subject_id\": \"%s\"},"
              " \"reason\": \"immediate_danger\","
              " \"details\": \"Child disclosed a threat at home this morning.\","
              " \"approver_role\": \"designated_safeguarding_lead\", \"approver_id\": \"dsl-1\","
              " \"scope\": {\"agencies\": [\"%s\"], \"categories\": [\"referral_narrative\"]}}",
              subject_id, kn_test_stack_agency_id (stack, 1));
    s_write ("override.json", override);
    snprintf (args, sizeof args, "--format json override request --file %s/override.json", dir);
    cr_assert_eq (s_run (0, args, &out), 0, "%s", out);
    char *override_id = s_json_string (out, "override_id");
    free (out);
    cr_assert_eq (s_run (0, "--format json override list --open", &out), 0);
    cr_assert (strstr (out, override_id));
    free (out);
    snprintf (args, sizeof args, "override review %s --decision upheld --notes 'Proportionate.'",
              override_id);
    cr_assert_eq (s_run (0, args, &out), 4, "no DPO role yet: %s", out);
    free (out);
    char role[200];
    snprintf (role, sizeof role, "admin agency role add %s data_protection_officer",
              kn_test_stack_agency_id (stack, 1));
    cr_assert_eq (s_run (0, role, NULL), 0);
    cr_assert_eq (s_run (1, args, NULL), 0);
    cr_assert_eq (s_run (1, "--format json override list --open", &out), 0);
    cr_assert_null (strstr (out, override_id), "reviewed override still open: %s", out);
    free (out);
    cr_assert_eq (s_run (0, "admin agency role add 00000000-0000-4000-8000-000000000000 auditor",
                         NULL),
                  6);
    cr_assert_eq (s_run (0, "admin agency role add x wizard", NULL), 3);
    free (override_id);
    free (consent_id);
    free (subject_id);
}
