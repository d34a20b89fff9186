/*  The kinnet command against a real stack: formats, exit codes, admin commands
    (through the admin service as the stack's administrator agency; admin init on
    the database). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
    size_t cap = 4 << 20;   // an audit export of several pages
    char *buffer = calloc (1, cap);
    size_t got = fread (buffer, 1, cap - 1, pipe);
    buffer[got] = '\0';
    int status = pclose (pipe);
    if (out)
        *out = buffer;
    else
        free (buffer);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  What the last s_run printed on stderr (caller frees).
static char *
s_stderr (void)
{
    char path[400];
    snprintf (path, sizeof path, "%s/cli.err", dir);
    char *text = kn_test_read_file (path);
    cr_assert (text, "no %s", path);
    return text;
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

    //  Unregistered agency: refused, not temporary.
    snprintf (args, sizeof args, "refer --file %s/referral.json", dir);
    cr_assert_eq (s_run (2, args, NULL), 4);

    //  No answer (nothing listens there): temporary, exit 8 and nothing else, so a
    //  script can retry on the exit code alone.
    const char *nowhere = "--endpoint tcp://127.0.0.1:9";
    snprintf (args, sizeof args, "%s --format json refer --file %s/referral.json", nowhere,
              dir);
    cr_assert_eq (s_run (0, args, &out), 8, "%s", out);
    json = json_loads (out, 0, NULL);
    cr_assert (json, "not JSON: %s", out);
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (json, "error"),
                                                          "code")),
                      "service_unavailable");
    json_decref (json);
    free (out);
    //  ping keeps exit 4 for "not up", as health checks read it.
    snprintf (args, sizeof args, "%s ping intake", nowhere);
    cr_assert_eq (s_run (0, args, NULL), 4);
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

Test (cli, ping_and_admin_agency_lifecycle)
{
    cr_assert_eq (s_run (0, "ping intake", NULL), 0);
    cr_assert_eq (s_run (0, "ping nosuchservice", NULL), 4);

    //  The administrator agency registers a new agency through the admin service.
    char args[600], *out = NULL;
    snprintf (args, sizeof args,
              "--format json admin agency add --name 'Hope Family Centre' --sector ngo_community"
              " --district south --cert-out %s/new",
              dir);
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, &out), 0, "%s", out);
    json_t *json = json_loads (out, 0, NULL);
    cr_assert (json, "%s", out);
    char agency_id[40], cert[400];
    snprintf (agency_id, sizeof agency_id, "%s",
              json_string_value (json_object_get (json, "agency_id")));
    snprintf (cert, sizeof cert, "%s",
              json_string_value (json_object_get (json, "secret_certificate")));
    json_decref (json);
    free (out);
    //  The certificate names the agency it belongs to (the id integrations read).
    zcert_t *saved = zcert_load (cert);
    cr_assert (saved, "%s", cert);
    cr_assert_str_eq (zcert_meta (saved, "agency_id"), agency_id);
    zcert_destroy (&saved);

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
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, NULL), 0);
    cr_assert_eq (s_run (KN_TEST_ADMIN, "admin agency revoke 00000000-0000-4000-8000-000000000000",
                         NULL),
                  6);
    cr_assert_eq (s_run (KN_TEST_ADMIN, "admin agency add --name X --sector wizardry --district d"
                                        " --cert-out /tmp/kn-unused", NULL),
                  3);
    free (env);
}

//  Registered agencies named name, in the stack's database.
static int
s_agencies_named (const char *name)
{
    char sql[300];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM core.agency WHERE name = '%s'", name);
    return kn_test_count (kn_test_stack_db_url (stack), sql);
}

//  `kinnet admin agency add` as agency: a school named name in district, its key
//  pair to the stack's folder/sub; the exit code, stdout in *out as s_run.
static int
s_agency_add (int agency, const char *name, const char *district, const char *sub,
              char **out)
{
    char args[600];
    snprintf (args, sizeof args,
              "admin agency add --name '%s' --sector school --district %s"
              " --cert-out %s/%s",
              name, district, dir, sub);
    return s_run (agency, args, out);
}

Test (cli, admin_needs_the_administrator_role)
{
    //  A plain agency is refused by the service, with the reason, and nothing is
    //  registered.
    char args[600], *out = NULL;
    cr_assert_eq (s_agency_add (0, "Plain Try", "north", "plain", NULL), 4);
    out = s_stderr ();
    cr_assert (strstr (out, "permission_denied"), "%s", out);
    cr_assert (strstr (out, "administrator"), "the message names the role: %s", out);
    free (out);
    cr_assert_eq (s_agencies_named ("Plain Try"), 0);
    cr_assert_eq (s_run (0, "admin routing show", NULL), 4);
    cr_assert_eq (s_run (0, "admin directory show", NULL), 4);

    //  A mistyped option is a usage error before anything is sent.
    snprintf (args, sizeof args,
              "admin agency add --name 'Flag Try' --sector school --district north"
              " --cert-out %s/flag --bogus-flag",
              dir);
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, NULL), 2);
    out = s_stderr ();
    cr_assert (strstr (out, "--bogus-flag"), "the option is named: %s", out);
    free (out);
    cr_assert_eq (s_agencies_named ("Flag Try"), 0);
    cr_assert_eq (s_run (KN_TEST_ADMIN, "admin routing show --verbose", NULL), 2);
    cr_assert_eq (s_run (KN_TEST_ADMIN, "admin population show --dry-run", NULL), 2);
    cr_assert_eq (s_run (KN_TEST_ADMIN, "admin migrate --force", NULL), 2);
    cr_assert_eq (s_run (KN_TEST_ADMIN, "admin agency revoke x --now", NULL), 2);

    //  The administrator agency may; the service tells what it did.
    cr_assert_eq (s_agency_add (KN_TEST_ADMIN, "Admin Try", "north", "admin", &out), 0,
                  "%s", out);
    free (out);
    cr_assert_eq (s_agencies_named ("Admin Try"), 1);
}

//  An agency's district is a registered one: a typo is invalid input (exit 3),
//  the message names the command that registers a district, nothing is written
//  and no key pair is left behind.
Test (cli, agency_add_refuses_an_unregistered_district)
{
    char *out = NULL;
    cr_assert_eq (s_agency_add (KN_TEST_ADMIN, "Typo School", "nrth", "typo", NULL), 3);
    out = s_stderr ();
    cr_expect (strstr (out, "district") && strstr (out, "district set nrth"), "%s", out);
    free (out);
    cr_expect_eq (s_agencies_named ("Typo School"), 0);
    char command[400];
    snprintf (command, sizeof command, "ls %s/typo | grep -q cert", dir);
    cr_expect_neq (system (command), 0, "a key pair was left in --cert-out");

    cr_assert_eq (s_agency_add (KN_TEST_ADMIN, "Typo School", "north", "typo", &out), 0,
                  "%s", out);
    free (out);
    cr_expect_eq (s_agencies_named ("Typo School"), 1);
}

//  kinnet admin init on the database at url (KINNET_DATABASE_URL, no broker).
static int
s_init (const char *url, const char *cert_out, const char *extra, char **out)
{
    char command[2048];
    snprintf (command, sizeof command,
              "KINNET_DATABASE_URL='%s' KINNET_LOG_LEVEL=warn %s --format json admin init"
              " --cert-out %s %s 2>&1",
              url, kn_test_cli_bin (), cert_out, extra);
    FILE *pipe = popen (command, "r");
    cr_assert (pipe);
    char *buffer = calloc (1, 65536);
    buffer[fread (buffer, 1, 65535, pipe)] = '\0';
    int status = pclose (pipe);
    *out = buffer;
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

Test (cli, admin_init_makes_only_the_first_administrator)
{
    //  A new database: the first init registers an administrator and writes its
    //  certificate; the second is refused and registers nothing.
    char *url = kn_test_db_create ();
    char cert_out[400], *out = NULL;
    snprintf (cert_out, sizeof cert_out, "%s/first-admin", dir);
    cr_assert_eq (s_init (url, cert_out, "", &out), 0, "%s", out);
    char *id = s_json_string (out, "agency_id");
    char *secret = s_json_string (out, "secret_certificate");
    free (out);
    cr_assert (id && secret);
    cr_assert (zsys_file_exists (secret), "%s", secret);
    char sql[300];
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM core.agency_role WHERE agency_id = '%s'"
              " AND role = 'administrator'",
              id);
    cr_assert_eq (kn_test_count (url, sql), 1);
    //  ... and nothing else: the administrator does not refer.
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM core.agency_role WHERE agency_id = '%s'", id);
    cr_assert_eq (kn_test_count (url, sql), 1, "the administrator holds another role");
    //  Its district is registered with it: nobody could register one before.
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM core.district"
                                      " WHERE code = 'partnership'"),
                  1);
    cr_assert_eq (s_init (url, cert_out, "", &out), 5, "%s", out);
    cr_assert (strstr (out, "administrator"), "%s", out);
    free (out);
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM core.agency"), 1);

    //  Every administrator certificate lost: --replace deactivates the old one,
    //  revokes its keys, on the record, and makes a new one, in one go.
    cr_assert_eq (s_init (url, cert_out, "--replace", &out), 0, "%s", out);
    char *second = s_json_string (out, "agency_id");
    free (out);
    cr_assert (second && strcmp (second, id) != 0);
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM core.agency a JOIN core.agency_key k ON k.agency_id = a.id"
              " WHERE a.id = '%s' AND NOT a.active AND k.revoked_at IS NOT NULL",
              id);
    cr_assert_eq (kn_test_count (url, sql), 1, "the lost administrator is still active");
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM core.audit WHERE operation = 'administrator_replaced'"
              " AND object_id = '%s'",
              id);
    cr_assert_eq (kn_test_count (url, sql), 1);
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM core.agency a JOIN core.agency_role r ON r.agency_id = a.id"
              " WHERE a.active AND r.role = 'administrator' AND a.id = '%s'",
              second);
    cr_assert_eq (kn_test_count (url, sql), 1);
    free (second);
    //  The key pairs were on disk before each registration; none is left pending.
    char pattern[500];
    snprintf (pattern, sizeof pattern, "ls %s/agency-pending-* 2>/dev/null | wc -l", cert_out);
    FILE *pending = popen (pattern, "r");
    int left = -1;
    cr_assert (pending && fscanf (pending, "%d", &left) == 1);
    pclose (pending);
    cr_assert_eq (left, 0, "a pending key pair was left behind");

    //  The stack's database has its administrator already: refused there too.
    cr_assert_eq (s_init (kn_test_stack_db_url (stack), cert_out, "", &out), 5, "%s", out);
    free (out);
    free (id);
    free (secret);
    free (url);
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
    cr_assert_eq (s_run (KN_TEST_ADMIN, role, NULL), 0);
    cr_assert_eq (s_run (1, args, NULL), 0);
    cr_assert_eq (s_run (1, "--format json override list --open", &out), 0);
    cr_assert_null (strstr (out, override_id), "reviewed override still open: %s", out);
    free (out);
    cr_assert_eq (s_run (KN_TEST_ADMIN,
                         "admin agency role add 00000000-0000-4000-8000-000000000000 auditor",
                         NULL),
                  6);
    cr_assert_eq (s_run (KN_TEST_ADMIN, "admin agency role add x wizard", NULL), 3);
    free (override_id);
    free (consent_id);
    free (subject_id);
}

//  Lines in text (a CSV record per line: no field here holds a line break).
static int
s_lines (const char *text)
{
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    return lines;
}

Test (cli, audit_export_as_auditor)
{
    //  Enough records for several pages (a page holds 1,000).
    free (kn_test_sql (kn_test_stack_db_url (stack),
                       "INSERT INTO core.audit (caseworker_id, service, operation, result)"
                       " SELECT 'cw-' || n, 'test', 'filler', 'ok'"
                       " FROM generate_series (1, 2100) n"));
    //  A value an agency chose that a spreadsheet would run as a formula.
    free (kn_test_sql (kn_test_stack_db_url (stack),
                       "INSERT INTO core.audit (caseworker_id, service, operation, result)"
                       " VALUES ('=1+1', 'test', 'formula', 'ok')"));
    char args[600], *out = NULL;
    const char *export = "audit export --from 2000-01-01 --to 2999-01-01";
    //  Without the auditor role: refused, and the refusal is on the record.
    cr_assert_eq (s_run (0, export, NULL), 4);
    snprintf (args, sizeof args, "admin agency role add %s auditor",
              kn_test_stack_agency_id (stack, 1));
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, NULL), 0);

    //  A writer (announced, with an xid) holding its transaction open keeps what
    //  commits after it from being sealed: the export is of sealed records only, and
    //  says it is not complete.
    const char *url = kn_test_stack_db_url (stack);
    PGconn *late = PQconnectdb (url);
    cr_assert_eq (PQstatus (late), CONNECTION_OK);
    PQclear (PQexec (late, "BEGIN; SELECT core.begin_write (); SELECT pg_current_xact_id ()"));
    free (kn_test_sql (url, "INSERT INTO core.audit (service, operation, result)"
                            " VALUES ('test', 'unsealed', 'ok')"));
    cr_assert_eq (s_run (1, export, &out), 0, "%.300s", out);
    cr_assert_null (strstr (out, ",unsealed,"), "an unsealed record was exported");
    free (out);
    out = NULL;
    char *err = s_stderr ();
    cr_assert (strstr (err, "not sealed yet; export again in a moment"), "%s", err);
    free (err);
    PQclear (PQexec (late, "COMMIT"));
    PQfinish (late);

    //  CSV: a header and one line per sealed record, every one up to the last
    //  sealed, across pages; once the sealer caught up, no warning.
    int64_t deadline = zclock_mono () + 30000;
    int sealed_before = 0, sealed_after = 0;
    for (bool complete = false; !complete;) {
        cr_assert (zclock_mono () < deadline, "the export never became complete");
        free (out);
        sealed_before = kn_test_count (url, "SELECT count (*) FROM core.audit_chain");
        cr_assert_eq (s_run (1, export, &out), 0, "%.300s", out);
        sealed_after = kn_test_count (url, "SELECT count (*) FROM core.audit_chain");
        err = s_stderr ();
        complete = !strstr (err, "not sealed yet");
        free (err);
        if (!complete)
            zclock_sleep (200);
    }
    cr_assert (strncmp (out, "audit_id,at,agency_id,", 22) == 0, "%.200s", out);
    cr_assert (strstr (out, ",cw-2100,"), "the last page is missing");
    cr_assert (strstr (out, ",unsealed,"), "the record sealed late is missing");
    cr_assert (strstr (out, ",permission_denied,"), "the refusal is not in the trail");
    cr_assert (strstr (out, ",\"'=1+1\",,test,formula,"), "a formula cell left as it was");
    cr_assert (s_lines (out) >= sealed_before + 1 && s_lines (out) <= sealed_after + 1,
               "%d lines for %d to %d sealed records", s_lines (out), sealed_before,
               sealed_after);
    int records = sealed_before;
    free (out);

    //  JSON, to a file: the records with their place in the chain.
    char path[400];
    snprintf (path, sizeof path, "%s/audit.json", dir);
    deadline = zclock_mono () + 30000;
    const char *seq = "";
    json_t *json = NULL;
    while (!*seq && zclock_mono () < deadline) {
        json_decref (json);
        snprintf (args, sizeof args, "%s --format json --out %s", export, path);
        cr_assert_eq (s_run (1, args, NULL), 0);
        json = json_load_file (path, 0, NULL);
        cr_assert (json, "not JSON: %s", path);
        json_t *first = json_array_get (json_object_get (json, "records"), 0);
        cr_assert (first);
        seq = json_string_value (json_object_get (first, "chain_seq"));
        cr_assert (seq, "chain_seq is a string");
        if (!*seq)
            zclock_sleep (200);
    }
    cr_assert (*seq, "the first record was never sealed");
    json_t *first = json_array_get (json_object_get (json, "records"), 0);
    cr_assert_eq (strlen (json_string_value (json_object_get (first, "chain_link"))), 64);
    cr_assert_geq (json_array_size (json_object_get (json, "records")), (size_t) records);
    cr_assert_str_eq (json_string_value (json_object_get (json, "from")), "2000-01-01");
    json_decref (json);

    cr_assert_eq (s_run (1, "audit export --from 2024-13-45 --to 2999-01-01", NULL), 3);
}

//  What the last s_run printed on stderr holds needle.
static bool
s_stderr_has (const char *needle)
{
    char *err = s_stderr ();
    bool found = strstr (err, needle) != NULL;
    free (err);
    return found;
}

Test (cli, exports_are_new_private_files)
{
    //  A subject, and the data-protection officer's role to export it.
    s_write ("consent.json",
             "{\"idempotency_key\": \"CLI-X-1\","
             " \"subject\": {\"person\": {\"given_name\": \"Mira\", \"family_name\": \"Sato\","
             "             \"date_of_birth\": \"2014-03-03\"}},"
             " \"given_by\": \"child\", \"scope\": {\"sectors\": [\"school\"],"
             " \"categories\": [\"education\"], \"purposes\": [\"coordination_of_support\"]},"
             " \"method\": \"digital\", \"evidence_reference\": \"app-9\","
             " \"privacy_notice_version\": \"4\", \"privacy_notice_language\": \"en\"}");
    char args[1024], *out = NULL;
    snprintf (args, sizeof args, "--format json consent record --file %s/consent.json", dir);
    cr_assert_eq (s_run (0, args, &out), 0, "%s", out);
    char *subject_id = s_json_string (out, "subject_id");
    free (out);
    cr_assert (subject_id);
    snprintf (args, sizeof args, "admin agency role add %s data_protection_officer",
              kn_test_stack_agency_id (stack, 0));
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, NULL), 0);

    //  Created with mode 0600 even under a umask that would leave it read-only.
    char path[400];
    struct stat info;
    snprintf (path, sizeof path, "%s/sar.json", dir);
    snprintf (args, sizeof args, "subject export %s --out %s", subject_id, path);
    mode_t umask_was = umask (0277);
    int rc = s_run (0, args, NULL);
    umask (umask_was);
    cr_assert_eq (rc, 0);
    cr_assert_eq (lstat (path, &info), 0);
    cr_assert_eq (info.st_mode & 07777, 0600, "mode %o", info.st_mode & 07777);

    //  The same name again: refused with exit 3, the file as it was.
    s_write ("taken.json", "keep");
    snprintf (path, sizeof path, "%s/taken.json", dir);
    snprintf (args, sizeof args, "subject export %s --out %s", subject_id, path);
    cr_assert_eq (s_run (0, args, NULL), 3);
    cr_assert (s_stderr_has ("exists: not overwritten"));
    char *kept = kn_test_read_file (path);
    cr_assert_str_eq (kept, "keep");
    free (kept);

    //  A symbolic link, even one to nowhere: not followed, nothing made where it points.
    char link[400], target[400];
    snprintf (link, sizeof link, "%s/link.json", dir);
    snprintf (target, sizeof target, "%s/elsewhere.json", dir);
    cr_assert_eq (symlink (target, link), 0);
    snprintf (args, sizeof args, "subject export %s --out %s", subject_id, link);
    cr_assert_eq (s_run (0, args, NULL), 3);
    cr_assert (s_stderr_has ("symbolic link: not followed"));
    cr_assert_neq (lstat (target, &info), 0, "the link was followed");

    //  A refused request leaves no empty file behind.
    snprintf (path, sizeof path, "%s/nobody.json", dir);
    snprintf (args, sizeof args,
              "subject export 6d0f5f0e-8f5c-4f57-a3d5-0f3a7c1b2e44 --out %s", path);
    cr_assert_eq (s_run (0, args, NULL), 6);
    cr_assert_neq (lstat (path, &info), 0, "an empty export was left behind");

    //  A report's file likewise, refused before the report is asked for (this
    //  agency is no auditor: asked, the answer would be exit 4).
    snprintf (path, sizeof path, "%s/taken.json", dir);
    snprintf (args, sizeof args,
              "report referrals --from 2026-01-01 --to 2026-02-01 --out %s", path);
    cr_assert_eq (s_run (0, args, NULL), 3);
    free (subject_id);

    //  The audit export likewise: refused without the role, and no file left behind.
    const char *export = "audit export --from 2000-01-01 --to 2999-01-01";
    snprintf (path, sizeof path, "%s/audit.csv", dir);
    snprintf (args, sizeof args, "%s --out %s", export, path);
    cr_assert_eq (s_run (0, args, NULL), 4);
    cr_assert_neq (lstat (path, &info), 0, "a refused audit export left a file");
    snprintf (args, sizeof args, "admin agency role add %s auditor",
              kn_test_stack_agency_id (stack, 0));
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, NULL), 0);
    //  Mode 0600 whatever the umask.
    snprintf (args, sizeof args, "%s --out %s", export, path);
    umask_was = umask (0277);
    rc = s_run (0, args, NULL);
    umask (umask_was);
    cr_assert_eq (rc, 0);
    cr_assert_eq (lstat (path, &info), 0);
    cr_assert_eq (info.st_mode & 07777, 0600, "mode %o", info.st_mode & 07777);
    //  An existing file is kept as it was.
    snprintf (path, sizeof path, "%s/taken.json", dir);
    snprintf (args, sizeof args, "%s --out %s", export, path);
    cr_assert_eq (s_run (0, args, NULL), 3);
    cr_assert (s_stderr_has ("exists: not overwritten"));
    kept = kn_test_read_file (path);
    cr_assert_str_eq (kept, "keep");
    free (kept);
    //  A symbolic link is not followed.
    snprintf (args, sizeof args, "%s --out %s", export, link);
    cr_assert_eq (s_run (0, args, NULL), 3);
    cr_assert (s_stderr_has ("symbolic link: not followed"));
    cr_assert_neq (lstat (target, &info), 0, "the link was followed");
}

Test (cli, admin_population_import_and_show)
{
    //  Checked here first: a bad line is named and nothing is sent.
    s_write ("bad.csv", "district,year,children\r\nnorth,2025,4100\r\nsouth,next,3000\r\n");
    char args[600], *out = NULL;
    snprintf (args, sizeof args, "admin population import %s/bad.csv", dir);
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, NULL), 3);
    out = s_stderr ();
    cr_assert (strstr (out, "line 3"), "%s", out);
    free (out);
    cr_assert_eq (kn_test_count (kn_test_stack_db_url (stack),
                                 "SELECT count(*) FROM core.population"),
                  0);

    //  Columns in any order, quoted fields; all figures in one request.
    s_write ("population.csv",
             "year,\"district\",children,source\nnorth,2025,4100\n"
             "2025,north,4100,census\n2025,south,3000,\"census, adjusted\"\n");
    snprintf (args, sizeof args, "admin population import %s/population.csv", dir);
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, &out), 3, "year 'north': %s", out);
    free (out);
    s_write ("population.csv",
             "year,\"district\",children,source\n"
             "2025,north,4100,census\n2025,south,3000,\"census, adjusted\"\n");
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, &out), 0, "%s", out);
    cr_assert (strstr (out, "loaded: 2"), "%s", out);
    free (out);
    cr_assert_eq (s_run (KN_TEST_ADMIN, "--format json admin population show", &out), 0);
    json_t *json = json_loads (out, 0, NULL);
    cr_assert (json_array_size (json) == 2, "%s", out);
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (json, 1), "district")),
                      "south");
    cr_assert_eq (json_integer_value (json_object_get (json_array_get (json, 0), "children")),
                  4100);
    json_decref (json);
    free (out);
    //  Only an administrator.
    cr_assert_eq (s_run (0, "admin population show", NULL), 4);

    //  More figures than one request takes: refused here, naming the limit.
    char *many = malloc (300000);
    size_t at = (size_t) sprintf (many, "district,year,children\n");
    for (int i = 0; i <= 10000; i++)
        at += (size_t) sprintf (many + at, "d%d,2025,%d\n", i, i);
    s_write ("many.csv", many);
    free (many);
    snprintf (args, sizeof args, "admin population import %s/many.csv", dir);
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, NULL), 3);
    out = s_stderr ();
    cr_assert (strstr (out, "too_large") && strstr (out, "10000"), "%s", out);
    free (out);
    cr_assert_eq (kn_test_count (kn_test_stack_db_url (stack),
                                 "SELECT count(*) FROM core.population"),
                  2);
}
