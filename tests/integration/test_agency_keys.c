/*  An agency's keys one at a time, through the real broker with CURVE: an agency
    rotates its certificate (key add, move to the new key, key revoke of the old)
    and is the same agency after, with its referrals, consents, feed and roles; the
    old key is refused from then on; its last live key cannot be revoked. Only an
    administrator may do any of it; bad input names its field and writes nothing. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include <sys/wait.h>

#include "admin_fixture.h"

static char dir[300];

static void
s_setup (void)
{
    zsys_init ();
    s_fixture_setup ();
    snprintf (dir, sizeof dir, "%s", kn_test_stack_dir (stack));
}

TestSuite (agency_keys, .init = s_setup, .fini = s_fixture_teardown, .timeout = 120);

//  Run the CLI as agency, or with the certificate cert when not NULL; its exit code,
//  stdout and stderr into *out (caller frees) when out is not NULL.
static int
s_run_as (int agency, const char *cert, const char *args, char **out)
{
    char *env = kn_test_stack_cli_env (stack, agency);
    char command[4096];
    snprintf (command, sizeof command, "%s %s%s%s %s --timeout 2000 --retries 1 %s 2>&1",
              env, cert ? "KINNET_CERT='" : "", cert ? cert : "", cert ? "'" : "",
              kn_test_cli_bin (), args);
    free (env);
    FILE *pipe = popen (command, "r");
    cr_assert (pipe);
    size_t cap = 1 << 20;
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

static int
s_run (int agency, const char *args, char **out)
{
    return s_run_as (agency, NULL, args, out);
}

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

//  Await the broker's answer to cert changing to want (0: admitted; 4: refused):
//  it reloads its key table on the NOTIFY of the change's commit.
static void
s_await_ping (const char *cert, int want)
{
    int64_t deadline = zclock_mono () + 10000;
    int rc = -1;
    while (rc != want && zclock_mono () < deadline) {
        char *env = kn_test_stack_cli_env (stack, 0);
        char command[4096];
        snprintf (command, sizeof command,
                  "%s KINNET_CERT='%s' %s --timeout 500 --retries 0 ping intake"
                  " >/dev/null 2>&1",
                  env, cert, kn_test_cli_bin ());
        free (env);
        rc = WEXITSTATUS (system (command));
    }
    cr_assert_eq (rc, want, "%s: ping answered exit %d, not %d", cert, rc, want);
}

#define REFERRAL_FORMAT                                                                  \
    "{\"idempotency_key\": \"ROT-%d\","                                                  \
    " \"child\": {\"given_name\": \"Dara\", \"family_name\": \"Okafor\","                \
    "            \"date_of_birth\": \"2017-09-14\", \"languages\": [\"en\"]},"           \
    " \"needs\": [{\"category\": \"attendance_and_learning\","                           \
    "             \"description\": \"Attendance 71%% this term.\"}],"                    \
    " \"urgency\": \"routine\", \"district\": \"north\","                                \
    " \"lawful_ground\": {\"basis\": \"public_task\","                                   \
    "                   \"justification\": \"Attendance below 75%%: statutory early help.\"}}"

//  A referral as agency 0 (or with cert); its id (caller frees).
static char *
s_refer (const char *cert, int n)
{
    char text[1024], name[32], args[600], *out = NULL;
    snprintf (text, sizeof text, REFERRAL_FORMAT, n);
    snprintf (name, sizeof name, "referral-%d.json", n);
    s_write (name, text);
    snprintf (args, sizeof args, "--format json refer --file %s/%s", dir, name);
    cr_assert_eq (s_run_as (0, cert, args, &out), 0, "%s", out);
    char *id = s_json_string (out, "referral_id");
    free (out);
    cr_assert (id);
    return id;
}

Test (agency_keys, a_rotated_agency_keeps_its_id_records_and_roles)
{
    const char *agency = kn_test_stack_agency_id (stack, 0);
    const char *old_cert = kn_test_stack_agency_cert_path (stack, 0);
    zcert_t *old_pair = kn_test_stack_agency_cert (stack, 0);
    char old_key[41];
    snprintf (old_key, sizeof old_key, "%s", zcert_public_txt (old_pair));
    zcert_destroy (&old_pair);

    //  Before: agency 0 has a referral, a consent it recorded, and a feed.
    char *referral = s_refer (NULL, 1);
    char consent[1024], args[1200], *out = NULL;
    snprintf (consent, sizeof consent,
              "{\"idempotency_key\": \"ROT-C-1\","
              " \"subject\": {\"person\": {\"given_name\": \"Ines\", \"family_name\":"
              " \"Ferreira\", \"date_of_birth\": \"2012-02-02\"}},"
              " \"given_by\": \"child\","
              " \"scope\": {\"agencies\": [\"%s\"], \"categories\": [\"education\"],"
              " \"purposes\": [\"coordination_of_support\"]},"
              " \"valid_until\": {\"seconds\": %ld}, \"method\": \"digital\","
              " \"evidence_reference\": \"app-1\", \"privacy_notice_version\": \"4\","
              " \"privacy_notice_language\": \"en\"}",
              kn_test_stack_agency_id (stack, 1), (long)time (NULL) + 10 * 86400);
    s_write ("consent.json", consent);
    snprintf (args, sizeof args, "--format json consent record --file %s/consent.json",
              dir);
    cr_assert_eq (s_run (0, args, &out), 0, "%s", out);
    char *consent_id = s_json_string (out, "consent_id");
    char *subject_id = s_json_string (out, "subject_id");
    free (out);
    //  Routing has handled both events, so the feed holds what it will hold.
    int64_t deadline = zclock_mono () + 20000;
    while (kn_test_outbox_past_cursor (kn_test_stack_db_url (stack)) > 0) {
        cr_assert (zclock_mono () < deadline, "routing never caught up");
        zclock_sleep (20);
    }
    char *feed_before = NULL;
    cr_assert_eq (s_run (0, "--format json feed --after 0", &feed_before), 0, "%s",
                  feed_before);

    //  key add: a second key for the same agency, written beside the first.
    snprintf (args, sizeof args,
              "--format json admin agency key add %s --cert-out %s/rot", agency, dir);
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, &out), 0, "%s", out);
    char *new_cert = s_json_string (out, "secret_certificate");
    char *new_key = s_json_string (out, "public_key");
    char *reported = s_json_string (out, "agency_id");
    free (out);
    cr_assert (new_cert && new_key && reported);
    cr_assert_str_eq (reported, agency);
    cr_assert (strstr (new_cert, "-key-"), "%s", new_cert);
    zcert_t *saved = zcert_load (new_cert);
    cr_assert (saved, "%s", new_cert);
    cr_assert_str_eq (zcert_meta (saved, "agency_id"), agency);
    zcert_destroy (&saved);
    //  Both keys connect while the integration moves over.
    s_await_ping (new_cert, 0);
    s_await_ping (old_cert, 0);
    snprintf (args, sizeof args, "--format json admin agency key list %s", agency);
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, &out), 0, "%s", out);
    cr_assert (strstr (out, old_key) && strstr (out, new_key) && !strstr (out, "revoked"),
               "%s", out);
    free (out);
    snprintf (args, sizeof args, "admin agency key list %s", agency);
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, &out), 0, "%s", out);
    cr_assert (strstr (out, "(active)") && strstr (out, new_key), "%s", out);
    free (out);

    //  key revoke of the old one: refused at once, even though the agency is active.
    snprintf (args, sizeof args, "--format json admin agency key revoke %s '%s'", agency,
              old_key);
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, &out), 0, "%s", out);
    cr_assert (strstr (out, "\"live_keys\": 1"), "%s", out);
    free (out);
    //  Repeating it is safe: the same idempotency key, the first answer.
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, NULL), 0);
    s_await_ping (old_cert, 4);
    cr_assert_eq (s_run (0, "feed --after 0", &out), 4, "the old key still works: %s",
                  out);
    free (out);

    //  With the new key, the same agency: its referral, its consent, its feed, and
    //  its referrer role (a new referral goes in).
    snprintf (args, sizeof args, "--format json referral show %s", referral);
    cr_assert_eq (s_run_as (0, new_cert, args, &out), 0, "%s", out);
    cr_assert (strstr (out, "Dara"), "%s", out);
    free (out);
    snprintf (args, sizeof args, "--format json consent list --subject %s", subject_id);
    cr_assert_eq (s_run_as (0, new_cert, args, &out), 0, "%s", out);
    cr_assert (strstr (out, consent_id), "%s", out);
    free (out);
    char *feed_after = NULL;
    cr_assert_eq (s_run_as (0, new_cert, "--format json feed --after 0", &feed_after), 0,
                  "%s", feed_after);
    cr_assert_str_eq (feed_after, feed_before);
    //  The case its referral opened, which the feed names.
    json_t *feed = json_loads (feed_before, 0, NULL);
    const char *case_id = json_string_value (json_object_get (
        json_array_get (json_object_get (feed, "events"), 0), "case_id"));
    cr_assert (case_id, "no case in the feed: %s", feed_before);
    snprintf (args, sizeof args, "--format json case show %s", case_id);
    cr_assert_eq (s_run_as (0, new_cert, args, &out), 0, "%s", out);
    cr_assert (strstr (out, case_id), "%s", out);
    free (out);
    json_decref (feed);
    char *second = s_refer (new_cert, 2);
    snprintf (args, sizeof args,
              "SELECT count (*) FROM intake.referral WHERE referring_agency_id = '%s'",
              agency);
    int referrals = kn_test_count (kn_test_stack_db_url (stack), args);
    cr_expect_eq (referrals, 2, "%d referrals: %s and %s", referrals, referral, second);

    //  The last live key is not revoked: that is what agency revoke is for. (Given
    //  after "--": a Z85 key may start with "--" and must still be read as the key.)
    //  A key-shaped argument starting with "--" that is no key of the agency: read as
    //  the key, it is malformed or unknown (which depends on its bytes), never an
    //  unknown option (exit 2).
    snprintf (args, sizeof args, "admin agency key revoke %s -- '--%.38s'", agency, new_key);
    int rc = s_run (KN_TEST_ADMIN, args, &out);
    cr_assert (rc == 3 || rc == 6, "a key after -- is not an option: exit %d: %s", rc, out);
    cr_assert_null (strstr (out, "unknown option"), "%s", out);
    free (out);
    snprintf (args, sizeof args, "admin agency key revoke %s -- '%s'", agency, new_key);
    cr_assert_eq (s_run (KN_TEST_ADMIN, args, &out), 5, "%s", out);
    cr_assert (strstr (out, "last live key") && strstr (out, "agency revoke"), "%s", out);
    free (out);
    s_await_ping (new_cert, 0);

    //  On the audit trail, as the administrator, naming the agency: the add, the
    //  revocation and its replay, and the refused revocation of the last key.
    snprintf (
        args, sizeof args,
        "SELECT count (*) FROM core.audit WHERE service = 'admin' AND object_id = '%s'"
        " AND agency_id = '%s' AND result = 'ok'"
        " AND operation IN ('add_agency_key', 'revoke_agency_key')",
        agency, kn_test_stack_agency_id (stack, KN_TEST_ADMIN));
    cr_expect_eq (kn_test_count (kn_test_stack_db_url (stack), args), 3);
    snprintf (
        args, sizeof args,
        "SELECT count (*) FROM core.audit WHERE service = 'admin' AND object_id = '%s'"
        " AND operation = 'revoke_agency_key' AND result = 'conflict'",
        agency);
    cr_expect_eq (kn_test_count (kn_test_stack_db_url (stack), args), 1);
    free (second);
    free (feed_before);
    free (feed_after);
    free (referral);
    free (consent_id);
    free (subject_id);
    free (new_cert);
    free (new_key);
    free (reported);
}

//  -------------------------------------------------------------------------
//  The requests themselves: roles, bad input, idempotency.

//  add (true) or revoke public_key for agency_id, as caller, under idempotency key.
static Kinnet__V1__AdminReply *
s_key (int caller, bool add, const char *key, const char *agency_id,
       const char *public_key)
{
    if (add) {
        Kinnet__V1__AddAgencyKey op = KINNET__V1__ADD_AGENCY_KEY__INIT;
        op.idempotency_key = (char *)key;
        op.agency_id = (char *)agency_id;
        op.public_key = (char *)public_key;
        Kinnet__V1__AdminRequest request = REQUEST (add_agency_key, ADD_AGENCY_KEY, &op);
        return s_admin (caller, &request);
    }
    Kinnet__V1__RevokeAgencyKey op = KINNET__V1__REVOKE_AGENCY_KEY__INIT;
    op.idempotency_key = (char *)key;
    op.agency_id = (char *)agency_id;
    op.public_key = (char *)public_key;
    Kinnet__V1__AdminRequest request =
        REQUEST (revoke_agency_key, REVOKE_AGENCY_KEY, &op);
    return s_admin (caller, &request);
}

static Kinnet__V1__AdminReply *
s_list (int caller, const char *agency_id)
{
    Kinnet__V1__ListAgencyKeys op = KINNET__V1__LIST_AGENCY_KEYS__INIT;
    op.agency_id = (char *)agency_id;
    Kinnet__V1__AdminRequest request = REQUEST (list_agency_keys, LIST_AGENCY_KEYS, &op);
    return s_admin (caller, &request);
}

//  The reply is the error code on field, with a message, and then freed.
static void
s_refused_free (Kinnet__V1__AdminReply *reply, Kinnet__V1__ErrorCode code,
                const char *field)
{
    s_refused (reply, code, field);
    cr_expect (reply->error->message && *reply->error->message);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
}

static int
s_keys (void)
{
    return kn_test_count (kn_test_stack_db_url (stack),
                          "SELECT count (*) FROM core.agency_key"
                          " WHERE revoked_at IS NULL");
}

Test (agency_keys, only_administrators_and_bad_input_writes_nothing)
{
    const char *agency0 = kn_test_stack_agency_id (stack, 0);
    const char *agency1 = kn_test_stack_agency_id (stack, 1);
    zcert_t *fresh = zcert_new ();
    const char *fresh_key = zcert_public_txt (fresh);
    zcert_t *own = kn_test_stack_agency_cert (stack, 0);
    zcert_t *other = kn_test_stack_agency_cert (stack, 1);
    zcert_t *service = zcert_load (kn_test_stack_service_cert_path (stack));
    cr_assert (own && other && service);
    int keys = s_keys ();

    //  An agency without the administrator role: refused, for itself or another,
    //  and on record; nothing written.
    for (int target = 0; target < 2; target++) {
        const char *id = target ? agency1 : agency0;
        s_refused_free (s_key (0, true, "x-add", id, fresh_key),
                        KINNET__V1__ERROR_CODE__PERMISSION_DENIED, "op");
        s_refused_free (
            s_key (0, false, "x-rev", id, zcert_public_txt (target ? other : own)),
            KINNET__V1__ERROR_CODE__PERMISSION_DENIED, "op");
        s_refused_free (s_list (0, id), KINNET__V1__ERROR_CODE__PERMISSION_DENIED, "op");
    }
    char sql[600];
    snprintf (
        sql, sizeof sql,
        "SELECT count (*) FROM core.audit WHERE service = 'admin' AND agency_id = '%s'"
        " AND result = 'permission_denied' AND operation IN ('add_agency_key',"
        " 'revoke_agency_key', 'list_agency_keys')",
        agency0);
    cr_expect_eq (kn_test_count (kn_test_stack_db_url (stack), sql), 6);

    //  Bad input, each named by its field.
    const char *nobody = "00000000-0000-4000-8000-000000000009";
    s_refused_free (s_key (KN_TEST_ADMIN, true, "b-1", nobody, fresh_key),
                    KINNET__V1__ERROR_CODE__NOT_FOUND, "agency_id");
    s_refused_free (s_key (KN_TEST_ADMIN, true, "b-2", "not-a-uuid", fresh_key),
                    KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "agency_id");
    s_refused_free (s_key (KN_TEST_ADMIN, true, "b-3", agency0, "short"),
                    KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "public_key");
    s_refused_free (s_key (KN_TEST_ADMIN, true, "b-4", agency0,
                           "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"),
                    KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "public_key");
    s_refused_free (s_key (KN_TEST_ADMIN, true, "", agency0, fresh_key),
                    KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "idempotency_key");
    //  A key registered already, to another agency or to this one, or a service's.
    s_refused_free (s_key (KN_TEST_ADMIN, true, "b-5", agency0, zcert_public_txt (other)),
                    KINNET__V1__ERROR_CODE__CONFLICT, "public_key");
    s_refused_free (s_key (KN_TEST_ADMIN, true, "b-6", agency0, zcert_public_txt (own)),
                    KINNET__V1__ERROR_CODE__CONFLICT, "public_key");
    s_refused_free (
        s_key (KN_TEST_ADMIN, true, "b-7", agency0, zcert_public_txt (service)),
        KINNET__V1__ERROR_CODE__CONFLICT, "public_key");
    //  Revoking another agency's key under this one, or a key of no agency.
    s_refused_free (
        s_key (KN_TEST_ADMIN, false, "b-8", agency0, zcert_public_txt (other)),
        KINNET__V1__ERROR_CODE__NOT_FOUND, "public_key");
    s_refused_free (s_key (KN_TEST_ADMIN, false, "b-9", agency0, fresh_key),
                    KINNET__V1__ERROR_CODE__NOT_FOUND, "public_key");
    s_refused_free (s_key (KN_TEST_ADMIN, false, "b-10", nobody, zcert_public_txt (own)),
                    KINNET__V1__ERROR_CODE__NOT_FOUND, "agency_id");
    s_refused_free (s_list (KN_TEST_ADMIN, nobody), KINNET__V1__ERROR_CODE__NOT_FOUND,
                    "agency_id");
    //  The only key of agency 1: its last live key.
    s_refused_free (
        s_key (KN_TEST_ADMIN, false, "b-11", agency1, zcert_public_txt (other)),
        KINNET__V1__ERROR_CODE__CONFLICT, "public_key");
    cr_expect_eq (s_keys (), keys, "a refused request wrote a key");
    cr_expect_eq (kn_test_count (kn_test_stack_db_url (stack),
                                 "SELECT count (*) FROM core.agency_key"),
                  keys, "a refused request wrote a key");

    //  A deactivated agency gets no new key: it stays deactivated.
    zcert_t *gone = zcert_new ();
    Kinnet__V1__RegisterAgency reg = KINNET__V1__REGISTER_AGENCY__INIT;
    reg.idempotency_key = "reg-gone";
    reg.name = "Gone Agency";
    reg.sector = KINNET__V1__AGENCY_SECTOR__HEALTH;
    reg.district = "north";
    reg.public_key = (char *)zcert_public_txt (gone);
    Kinnet__V1__AdminRequest request = REQUEST (register_agency, REGISTER_AGENCY, &reg);
    Kinnet__V1__AdminReply *reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    char gone_id[KN_UUID_STR];
    snprintf (gone_id, sizeof gone_id, "%s", reply->registered->agency_id);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    Kinnet__V1__RevokeAgency revoke = KINNET__V1__REVOKE_AGENCY__INIT;
    revoke.idempotency_key = "rev-gone";
    revoke.agency_id = gone_id;
    request = REQUEST (revoke_agency, REVOKE_AGENCY, &revoke);
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    s_refused_free (s_key (KN_TEST_ADMIN, true, "b-12", gone_id, fresh_key),
                    KINNET__V1__ERROR_CODE__CONFLICT, "agency_id");
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.agency_key WHERE agency_id = '%s'", gone_id);
    cr_expect_eq (kn_test_count (kn_test_stack_db_url (stack), sql), 1);

    //  A good add; its retry answers the same; other content under its key conflicts.
    reply = s_key (KN_TEST_ADMIN, true, "good-1", agency1, fresh_key);
    s_ok (reply);
    cr_expect_str_eq (reply->key_changed->agency_id, agency1);
    cr_expect_str_eq (reply->key_changed->public_key, fresh_key);
    cr_expect_eq (reply->key_changed->live_keys, 2);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    reply = s_key (KN_TEST_ADMIN, true, "good-1", agency1, fresh_key);
    s_ok (reply);
    cr_expect_eq (reply->key_changed->live_keys, 2);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    zcert_t *another = zcert_new ();
    s_refused_free (
        s_key (KN_TEST_ADMIN, true, "good-1", agency1, zcert_public_txt (another)),
        KINNET__V1__ERROR_CODE__CONFLICT, "idempotency_key");
    cr_expect_eq (s_keys (), keys + 1);
    //  The list: both keys, oldest first, the new one live.
    reply = s_list (KN_TEST_ADMIN, agency1);
    s_ok (reply);
    cr_assert_eq (reply->keys->n_keys, 2);
    cr_expect (reply->keys->active);
    cr_expect_str_eq (reply->keys->keys[0]->public_key, zcert_public_txt (other));
    cr_expect_str_eq (reply->keys->keys[1]->public_key, fresh_key);
    cr_expect (reply->keys->keys[1]->created_at && !reply->keys->keys[1]->revoked_at);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    //  Revoking a key already revoked changes nothing.
    reply = s_key (KN_TEST_ADMIN, false, "good-2", agency1, fresh_key);
    s_ok (reply);
    cr_expect (reply->key_changed->changed);
    cr_expect_eq (reply->key_changed->live_keys, 1);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    reply = s_key (KN_TEST_ADMIN, false, "good-3", agency1, fresh_key);
    s_ok (reply);
    cr_expect_not (reply->key_changed->changed);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    reply = s_list (KN_TEST_ADMIN, agency1);
    s_ok (reply);
    cr_expect (reply->keys->keys[1]->revoked_at);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    zcert_destroy (&another);
    zcert_destroy (&gone);
    zcert_destroy (&fresh);
    zcert_destroy (&own);
    zcert_destroy (&other);
    zcert_destroy (&service);
}
