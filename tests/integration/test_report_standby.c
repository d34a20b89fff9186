/*  The reporting service with a real streaming standby (kn_test_standby: a physical
    copy of the test cluster, replaying the primary's WAL): a read runs on the standby
    once it has replayed what the primary had when the request came, and the reply
    says so; a standby that is down, held behind beyond KINNET_REPORTING_MAX_LAG_MS or
    promoted leaves the read to the primary, which then answers with everything
    acknowledged; a standby back up answers again, without a restart of the service.
    Audit rows and an export's disclosure are written on the primary either way. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kinnet/v1/reporting.pb-c.h"
#include "kn_test.h"
#include "kn_test_standby.h"

//  How long a read waits for the standby. Long enough that a loaded machine's
//  replay of a few referrals' WAL is caught up within it (1.5 s was not, twice);
//  not the default (2000), so a read that waits exactly this long shows the
//  setting applies.
#define MAX_LAG_MS "4000"

static kn_test_standby_t *standby;
static kn_test_stack_t *stack;
static int metrics_port;
static char from[16], to[16]; // a report period around today

static void
s_setup (void)
{
    standby = kn_test_standby_new ();
    metrics_port = kn_test_free_port ();
    char listen[32];
    snprintf (listen, sizeof listen, "127.0.0.1:%d", metrics_port);
    //  Counts of 2 and more are shown, so that one more referral is seen.
    const char *env[] = {"reporting", "KINNET_SDC_THRESHOLD",        "2",
                         "reporting", "KINNET_REPORTING_MAX_LAG_MS", MAX_LAG_MS,
                         "reporting", "KINNET_METRICS_LISTEN",       listen,
                         NULL};
    stack = kn_test_stack_new_with_env (env);
    kn_test_stack_grant (stack, 1, "auditor");
    kn_test_stack_grant (stack, 1, "data_protection_officer");
    //  The test's database, just made on the primary, is on the standby too: its
    //  sessions there can log in from the first request.
    cr_assert (kn_test_standby_wait_replayed (standby, 60000),
               "the standby did not replay the test's database");
    time_t now = time (NULL);
    time_t start = now - 30 * 86400, end = now + 2 * 86400;
    strftime (from, sizeof from, "%Y-%m-%d", gmtime (&start));
    strftime (to, sizeof to, "%Y-%m-%d", gmtime (&end));
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_standby_destroy (&standby);
    kn_test_no_leaks ();
}

TestSuite (report_standby, .init = s_setup, .fini = s_teardown, .timeout = 240);

//  The reporting daemon, started again with the standby as its read server.
static void
s_use_standby (void)
{
    char *url = kn_test_standby_url (standby, kn_test_stack_db_url (stack));
    kn_test_stack_set_env (stack, "reporting", "KINNET_REPORTING_DATABASE_URL", url);
    free (url);
    kn_test_stack_stop_reporting (stack, SIGTERM);
    kn_test_stack_start_reporting (stack);
}

static Kinnet__V1__ReportingReply *
s_call (const Kinnet__V1__ReportingRequest *request)
{
    Kinnet__V1__ReportingReply *reply = kn_test_reporting_call (stack, 1, request, 10000);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    cr_assert_not_null (reply->source, "every answer says where it was read");
    return reply;
}

//  The referrals report over the suite's period, as a request (request points at run).
static void
s_referrals_request (Kinnet__V1__RunReport *run, Kinnet__V1__ReportingRequest *request)
{
    kinnet__v1__run_report__init (run);
    run->report = "referrals";
    run->from = from;
    run->to = to;
    kinnet__v1__reporting_request__init (request);
    request->op_case = KINNET__V1__REPORTING_REQUEST__OP_REPORT;
    request->report = run;
}

//  The referrals report; *received: its "Referrals received" total.
static Kinnet__V1__ReportingReply *
s_report (int64_t *received)
{
    Kinnet__V1__RunReport run;
    Kinnet__V1__ReportingRequest request;
    s_referrals_request (&run, &request);
    Kinnet__V1__ReportingReply *reply = s_call (&request);
    const Kinnet__V1__ReportTable *table = reply->report->sections[0]->tables[0];
    cr_assert_str_eq (table->title, "Referrals received");
    cr_assert_not (table->grand_total->withheld);
    *received = table->grand_total->value;
    return reply;
}

static Kinnet__V1__ReportingReply *
s_verify (void)
{
    Kinnet__V1__VerifyAuditTrail op = KINNET__V1__VERIFY_AUDIT_TRAIL__INIT;
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_VERIFY_AUDIT;
    request.verify_audit = &op;
    //  A verification may outlast the request's wait: ask again, as a client does.
    for (int attempt = 0; attempt < 100; attempt++) {
        size_t len = kinnet__v1__reporting_request__get_packed_size (&request);
        uint8_t buf[64];
        kinnet__v1__reporting_request__pack (&request, buf);
        kn_client_t *client = kn_test_stack_client (stack, 1, 10000, 1);
        kn_error_t err;
        zframe_t *frame = kn_client_call (client, "reporting", buf, len, &err);
        kn_client_destroy (&client);
        cr_assert (frame, "%s", err.message);
        Kinnet__V1__ReportingReply *reply = kinnet__v1__reporting_reply__unpack (
            NULL, zframe_size (frame), zframe_data (frame));
        zframe_destroy (&frame);
        if (!reply->error ||
            reply->error->code != KINNET__V1__ERROR_CODE__SERVICE_UNAVAILABLE) {
            cr_assert_null (reply->error, "%s",
                            reply->error ? reply->error->message : "");
            cr_assert (reply->verdict->intact, "%s", reply->verdict->problem);
            cr_assert_not_null (reply->source);
            return reply;
        }
        kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    }
    cr_assert_fail ("verify_audit never answered");
    return NULL;
}

//  The export of subject (a new JSON object) and where it was read (*on_standby).
static json_t *
s_export_document (const char *subject, bool *on_standby)
{
    Kinnet__V1__ExportSubject op = KINNET__V1__EXPORT_SUBJECT__INIT;
    op.subject_id = (char *)subject;
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_EXPORT_SUBJECT;
    request.export_subject = &op;
    Kinnet__V1__ReportingReply *reply = s_call (&request);
    json_t *document = json_loads (reply->subject_access->json, 0, NULL);
    cr_assert (document);
    *on_standby = reply->source->server == KINNET__V1__READ_SERVER__READ_STANDBY;
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    return document;
}

static Kinnet__V1__ReportingReply *
s_export (const char *subject)
{
    Kinnet__V1__ExportSubject op = KINNET__V1__EXPORT_SUBJECT__INIT;
    op.subject_id = (char *)subject;
    op.caseworker_id = "dpo-1";
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_EXPORT_SUBJECT;
    request.export_subject = &op;
    Kinnet__V1__ReportingReply *reply = s_call (&request);
    json_t *document = json_loads (reply->subject_access->json, 0, NULL);
    cr_assert (document);
    cr_assert_str_eq (json_string_value (json_object_get (document, "subject_id")),
                      subject);
    cr_assert_eq (json_array_size (json_object_get (document, "referrals")), 1,
                  "the export holds the referral acknowledged before it");
    json_decref (document);
    return reply;
}

static Kinnet__V1__ReportingReply *
s_governance (void)
{
    Kinnet__V1__ListGovernance op = KINNET__V1__LIST_GOVERNANCE__INIT;
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_GOVERNANCE;
    request.governance = &op;
    return s_call (&request);
}

//  reply was read on the standby (true) or the primary, for reason; then freed.
static void
s_expect_source (Kinnet__V1__ReportingReply *reply, bool on_standby, const char *reason)
{
    const Kinnet__V1__ReadSource *source = reply->source;
    cr_expect_eq (source->server,
                  on_standby ? KINNET__V1__READ_SERVER__READ_STANDBY
                             : KINNET__V1__READ_SERVER__READ_PRIMARY,
                  "read on the %s (%s), not the %s", on_standby ? "primary" : "standby",
                  source->reason, on_standby ? "standby" : "primary");
    cr_expect_str_eq (source->reason, reason);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
}

static void
s_refer (int seed, char subject[KN_UUID_STR])
{
    char key[32];
    snprintf (key, sizeof key, "standby-%d", seed);
    char ignored[KN_UUID_STR];
    kn_test_stack_refer (stack, 0, seed, key, subject ? subject : ignored);
}

static double
s_metric (const char *series)
{
    char *body = NULL;
    cr_assert_eq (kn_test_http (metrics_port, "GET", "/metrics", NULL, &body), 200);
    double value = -1;
    if (!kn_test_metric (body, series, &value))
        value = -1;
    free (body);
    return value;
}

Test (report_standby, reads_what_the_primary_acknowledged_on_the_standby)
{
    s_use_standby ();
    char subject[KN_UUID_STR];
    s_refer (1, NULL);
    s_refer (2, NULL);
    int64_t received;
    Kinnet__V1__ReportingReply *reply = s_report (&received);
    cr_expect_eq (received, 2);
    cr_expect_geq (reply->source->lag_bytes, 0, "a standby reached: its lag is known");
    s_expect_source (reply, true, "caught_up");

    //  Acknowledged on the primary, then at once a report on the standby: in it.
    s_refer (3, subject);
    reply = s_report (&received);
    cr_expect_eq (received, 3, "a referral acknowledged before the report is in it");
    s_expect_source (reply, true, "caught_up");

    //  A subject export reads on the standby; its disclosure and audit row are on the
    //  primary (the standby refuses writes: had they gone there, the export would fail).
    s_expect_source (s_export (subject), true, "caught_up");
    cr_expect_eq (kn_test_countf (kn_test_stack_db_url (stack),
                                  "SELECT count (*) FROM core.disclosure WHERE service ="
                                  " 'reporting' AND subject_id = '%s'",
                                  subject),
                  1);
    s_expect_source (s_verify (), true, "caught_up");
    s_expect_source (s_governance (), true, "caught_up");
    cr_expect_eq (
        kn_test_count (kn_test_stack_db_url (stack),
                       "SELECT count (*) FROM core.audit WHERE service = 'reporting'"
                       " AND result = 'ok'"),
        5, "two reports, an export, a verification, the governance log");

    cr_expect_geq (s_metric ("kinnet_reporting_reads_total{server=\"standby\","
                             "reason=\"caught_up\"}"),
                   5);
    cr_expect_eq (s_metric ("kinnet_reporting_standby_up"), 1);
    cr_expect_geq (s_metric ("kinnet_reporting_replica_lag_bytes"), 0);

    //  The CLI says where: a line of its CSV, a member of its JSON.
    char *output = NULL;
    cr_assert_eq (kn_test_stack_cli (stack, 1, &output,
                                     "report referrals --from %s --to %s", from, to),
                  0, "%s", output);
    cr_expect (strstr (output, "\nsource,,,standby,,caught_up,"), "%s", output);
    free (output);
    cr_assert_eq (kn_test_stack_cli (stack, 1, &output,
                                     "report referrals --from %s --to %s --format json",
                                     from, to),
                  0, "%s", output);
    json_t *json = json_loads (output, 0, NULL);
    cr_assert (json, "%s", output);
    json_t *source = json_object_get (json, "source");
    cr_expect_str_eq (json_string_value (json_object_get (source, "server")),
                      "read_standby", "%s", output);
    json_decref (json);
    free (output);
    //  HTML: in the footer; with --out, on standard error too.
    char path[400];
    snprintf (path, sizeof path, "%s/report.html", kn_test_stack_dir (stack));
    cr_assert_eq (
        kn_test_stack_cli (stack, 1, &output,
                           "report referrals --from %s --to %s --format html --out %s",
                           from, to, path),
        0, "%s", output);
    cr_expect (strstr (output, "; read on the standby: "), "%s", output);
    free (output);
    char *html = kn_test_read_file (path);
    cr_assert (html);
    cr_expect (strstr (html, "<p>read on the standby: "), "%s", html);
    free (html);
}

Test (report_standby, a_standby_that_is_down_leaves_reads_to_the_primary)
{
    //  The service starts while its standby is down.
    kn_test_standby_stop (standby);
    s_use_standby ();
    char subject[KN_UUID_STR];
    s_refer (1, NULL);
    s_refer (2, subject);
    int64_t received;
    Kinnet__V1__ReportingReply *reply = s_report (&received);
    cr_expect_eq (received, 2);
    cr_expect_eq (reply->source->lag_bytes, -1, "no standby reached: no lag known");
    s_expect_source (reply, false, "standby_down");
    s_expect_source (s_export (subject), false, "standby_down");
    s_expect_source (s_verify (), false, "standby_down");
    cr_expect_eq (s_metric ("kinnet_reporting_standby_up"), 0);

    //  Back: the next report is the standby's, its sessions made on the way.
    kn_test_standby_start (standby);
    reply = s_report (&received);
    cr_expect_eq (received, 2);
    s_expect_source (reply, true, "caught_up");

    //  Restarted between two requests: the sessions the daemon holds look open but
    //  are dead. The next report finds that out and reads on a new one.
    kn_test_standby_stop (standby);
    kn_test_standby_start (standby);
    reply = s_report (&received);
    cr_expect_eq (received, 2);
    s_expect_source (reply, true, "caught_up");

    //  Gone again under sessions that were up: the primary answers, the service runs.
    kn_test_standby_stop (standby);
    s_refer (3, NULL);
    reply = s_report (&received);
    cr_expect_eq (received, 3);
    s_expect_source (reply, false, "standby_down");
    s_expect_source (s_governance (), false, "standby_down");
    cr_assert_eq (kill (kn_test_stack_reporting_pid (stack), 0), 0,
                  "the service runs on");

    //  Restarted: its old sessions are dead; the very next report makes new ones.
    kn_test_standby_start (standby);
    reply = s_report (&received);
    cr_expect_eq (received, 3);
    s_expect_source (reply, true, "caught_up");
    s_expect_source (s_export (subject), true, "caught_up");
    cr_expect_geq (s_metric ("kinnet_reporting_reads_total{server=\"primary\","
                             "reason=\"standby_down\"}"),
                   5);
}

Test (report_standby, a_standby_held_behind_leaves_the_read_to_the_primary)
{
    s_use_standby ();
    char subject[KN_UUID_STR];
    s_refer (1, NULL);
    s_refer (2, NULL);
    int64_t received;
    s_expect_source (s_report (&received), true, "caught_up");

    //  Replay paused: the standby receives the new referral's WAL but does not apply it.
    kn_test_standby_pause (standby, true);
    s_refer (3, subject);
    int64_t asked = zclock_mono ();
    Kinnet__V1__ReportingReply *reply = s_report (&received);
    cr_expect_eq (received, 3, "the primary's answer holds the new referral");
    cr_expect_gt (reply->source->lag_bytes, 0);
    cr_expect_geq (reply->source->lag_ms, atoi (MAX_LAG_MS),
                   "it waited the setting's bound (past the default, 2000)");
    cr_expect_lt (reply->source->lag_ms, atoi (MAX_LAG_MS) + 2000,
                  "it waited the setting's bound, not longer");
    cr_expect_geq (zclock_mono () - asked, atoi (MAX_LAG_MS));
    s_expect_source (reply, false, "standby_behind");
    s_expect_source (s_export (subject), false, "standby_behind");
    s_expect_source (s_verify (), false, "standby_behind");
    cr_expect_gt (s_metric ("kinnet_reporting_replica_lag_bytes"), 0);
    cr_expect_eq (s_metric ("kinnet_reporting_standby_up"), 1);

    //  Replay resumed: the standby catches up and answers, with the referral.
    kn_test_standby_pause (standby, false);
    reply = s_report (&received);
    cr_expect_eq (received, 3);
    s_expect_source (reply, true, "caught_up");
}

Test (report_standby, a_promoted_standby_is_not_read_as_a_standby)
{
    s_use_standby ();
    s_refer (1, NULL);
    s_refer (2, NULL);
    int64_t received;
    s_expect_source (s_report (&received), true, "caught_up");
    //  Promoted apart from the primary (a split, or an operator's mistake): what the
    //  primary acknowledges from now on never reaches it.
    char *admin = kn_test_standby_url (standby, kn_test_admin_url ());
    free (kn_test_sql (admin, "SELECT pg_promote ()"));
    free (admin);
    s_refer (3, NULL);
    Kinnet__V1__ReportingReply *reply = s_report (&received);
    cr_expect_eq (received, 3);
    s_expect_source (reply, false, "standby_promoted");
}

Test (report_standby, an_export_holds_the_erasure_acknowledged_before_it)
{
    kn_test_stack_start_records (stack);
    s_use_standby ();
    char subject[KN_UUID_STR];
    s_refer (1, subject);
    bool on_standby;
    json_t *document = s_export_document (subject, &on_standby);
    cr_expect (on_standby);
    cr_expect_null (json_object_get (document, "erased"));
    json_decref (document);

    //  Erased on the primary while the standby's replay is held: the standby still
    //  holds the person's key, and must not be the one that answers.
    kn_test_standby_pause (standby, true);
    char *output = NULL;
    cr_assert_eq (kn_test_stack_cli (stack, 1, &output,
                                     "subject erase %s --reference DPO/7", subject),
                  0, "%s", output);
    free (output);
    document = s_export_document (subject, &on_standby);
    cr_expect_not (on_standby);
    cr_expect (json_is_true (json_object_get (document, "erased")),
               "an export after the erasure shows the person: %s",
               json_string_value (json_object_get (document, "date_of_birth")));
    cr_expect_null (json_object_get (document, "referrals"));
    json_decref (document);

    kn_test_standby_pause (standby, false);
    document = s_export_document (subject, &on_standby);
    cr_expect (on_standby);
    cr_expect (json_is_true (json_object_get (document, "erased")));
    json_decref (document);
}

//  How many of reporting's sessions on the standby (admin: its URL) have run a
//  statement whose text holds mark since before (a clock_timestamp () there),
//  awaited up to 10 s: 0 when none did.
static int
s_standby_ran (const char *admin, const char *before, const char *mark)
{
    int64_t deadline = zclock_mono () + 10000;
    int ran = 0;
    while (ran == 0 && zclock_mono () < deadline) {
        ran = kn_test_countf (admin,
                              "SELECT count (*) FROM pg_stat_activity"
                              " WHERE usename = 'kinnet_reporting' AND query_start > '%s'"
                              " AND query LIKE '%%%s%%'",
                              before, mark);
        if (ran == 0)
            zclock_sleep (10); // not routed yet: look again shortly
    }
    return ran;
}

//  Sessions that asked the standby for its replay position since before: only a
//  read routed to the standby has a reason to.
static int
s_standby_asked (const char *admin, const char *before)
{
    return s_standby_ran (admin, before, "pg_last_wal_replay_lsn");
}

//  Sessions that ran the verification hold's marked statement on the standby since
//  before: a verification chose the standby and is held (a Debug build's hook).
static int
s_standby_chosen (const char *admin, const char *before)
{
    return s_standby_ran (admin, before, "kinnet_verify_hold");
}

Test (report_standby, a_read_the_standby_fails_midway_runs_again_on_the_primary)
{
    //  Each verification waits 3 s once it has chosen its server (a test hook of
    //  Debug builds), long enough to take the standby away under it.
    kn_test_stack_set_env (stack, "reporting", "KINNET_TEST_VERIFY_HOLD_MS", "3000");
    s_use_standby ();
    s_refer (1, NULL);
    Kinnet__V1__VerifyAuditTrail op = KINNET__V1__VERIFY_AUDIT_TRAIL__INIT;
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_VERIFY_AUDIT;
    request.verify_audit = &op;
    char *admin = kn_test_standby_url (standby, kn_test_admin_url ());
    char *before = kn_test_sql (admin, "SELECT clock_timestamp ()");
    uint8_t buf[16];
    size_t len = kinnet__v1__reporting_request__pack (&request, buf);
    kn_client_t *client = kn_test_stack_client (stack, 1, 10000, 1);
    kn_error_t err;
    zframe_t *frame = kn_client_call (client, "reporting", buf, len, &err);
    kn_client_destroy (&client);
    cr_assert (frame, "%s", err.message);
    Kinnet__V1__ReportingReply *reply = kinnet__v1__reporting_reply__unpack (
        NULL, zframe_size (frame), zframe_data (frame));
    zframe_destroy (&frame);
    cr_assert (reply && reply->error, "the verification is held: not answered yet");
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__SERVICE_UNAVAILABLE);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);

    //  It chose the standby (the hold's marked statement ran there since the request;
    //  a probe alone would not do: the verifier may still be waiting for the standby
    //  to catch up, and would find it down rather than fail on it): stop the standby
    //  under it.
    int chosen = s_standby_chosen (admin, before);
    free (before);
    free (admin);
    cr_assert_eq (chosen, 1, "the verification never chose the standby");
    kn_test_standby_stop (standby);

    //  The verification fails on the standby and runs again on the primary.
    s_expect_source (s_verify (), false, "standby_failed");
    cr_expect_eq (s_metric ("kinnet_reporting_reads_total{server=\"primary\","
                            "reason=\"standby_failed\"}"),
                  1);
}

//  -------------------------------------------------------------------------
//  A long wait for the standby, and a worker that dies in it

//  The referrals report sent by a raw client of agency 1, not waited for: its socket.
static zsock_t *
s_report_send (void)
{
    Kinnet__V1__RunReport run;
    Kinnet__V1__ReportingRequest request;
    s_referrals_request (&run, &request);
    uint8_t buf[128];
    cr_assert_leq (kinnet__v1__reporting_request__get_packed_size (&request), sizeof buf);
    size_t len = kinnet__v1__reporting_request__pack (&request, buf);
    zsock_t *client = kn_test_stack_dealer (stack, 1, 0);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, "MDPC01");
    zmsg_addstr (msg, "reporting");
    zmsg_addmem (msg, buf, len);
    cr_assert_eq (zmsg_send (&msg, client), 0);
    return client;
}

//  The answer on client within timeout_ms (caller frees), or NULL.
static Kinnet__V1__ReportingReply *
s_report_answer (zsock_t *client, int timeout_ms)
{
    zframe_t *body = kn_test_mdp_reply (client, timeout_ms);
    if (!body)
        return NULL;
    Kinnet__V1__ReportingReply *reply = kinnet__v1__reporting_reply__unpack (
        NULL, zframe_size (body), zframe_data (body));
    zframe_destroy (&body);
    cr_assert (reply, "the reply is not a ReportingReply");
    return reply;
}

//  The reporting daemon started with the longest standby wait the setting allows,
//  its standby's replay paused behind a new referral, and a report sent: returns
//  once the daemon is waiting for the standby (its session there has asked for the
//  replay position since), with the client's socket.
static zsock_t *
s_report_waiting_for_the_standby (void)
{
    kn_test_stack_set_env (stack, "reporting", "KINNET_REPORTING_MAX_LAG_MS", "30000");
    s_use_standby ();
    s_refer (1, NULL);
    s_refer (2, NULL);
    int64_t received;
    s_expect_source (s_report (&received), true, "caught_up");
    kn_test_standby_pause (standby, true);
    s_refer (3, NULL);
    char *admin = kn_test_standby_url (standby, kn_test_admin_url ());
    char *before = kn_test_sql (admin, "SELECT clock_timestamp ()");
    zsock_t *client = s_report_send ();
    int asked = s_standby_asked (admin, before);
    free (before);
    free (admin);
    cr_assert_geq (asked, 1, "the report never asked the standby");
    return client;
}

Test (report_standby, a_wait_longer_than_the_heartbeat_expiry_is_answered)
{
    //  The broker once gave a busy worker ten heartbeats after its liveness ran
    //  out (2.6 s with the stack's 200 ms), and answered its client "the worker
    //  handling this request stopped" although the setting allows 30 s.
    zsock_t *client = s_report_waiting_for_the_standby ();
    int64_t asked = zclock_mono ();
    Kinnet__V1__ReportingReply *early = s_report_answer (client, 4000);
    cr_assert_null (early, "answered after %lld ms while the worker waited: %s",
                    (long long)(zclock_mono () - asked),
                    early && early->error ? early->error->message : "a report");

    //  Replay resumed: the standby catches up, and the waiting worker answers.
    kn_test_standby_pause (standby, false);
    Kinnet__V1__ReportingReply *reply = s_report_answer (client, 10000);
    zsock_destroy (&client);
    cr_assert (reply, "the waiting worker's answer never came");
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    cr_expect_geq (reply->source->lag_ms, 4000, "it waited for the standby");
    printf ("standby wait: answered after %lld ms of waiting\n",
            (long long)reply->source->lag_ms);
    const Kinnet__V1__ReportTable *table = reply->report->sections[0]->tables[0];
    cr_expect_eq (table->grand_total->value, 3, "the report holds the new referral");
    s_expect_source (reply, true, "caught_up");
}

//  The client of a worker that died (kill) or froze (stop) in the standby wait is
//  told SERVICE_UNAVAILABLE soon, not after the 30 s the wait may last.
static void
s_worker_lost_mid_request (int signal)
{
    zsock_t *client = s_report_waiting_for_the_standby ();
    pid_t pid = kn_test_stack_reporting_pid (stack);
    cr_assert_eq (kill (pid, signal), 0);
    int64_t lost = zclock_mono ();
    Kinnet__V1__ReportingReply *reply = s_report_answer (client, 10000);
    int64_t told = zclock_mono () - lost;
    zsock_destroy (&client);
    //  Killed (a stopped process too) before any assertion can leave it stopped.
    kn_test_stack_stop_reporting (stack, SIGKILL);
    kn_test_standby_pause (standby, false);
    cr_assert (reply, "the client was never told");
    printf ("%s: client told after %lld ms\n", signal == SIGKILL ? "killed" : "frozen",
            (long long)told);
    cr_assert (reply->error, "a lost worker's request was answered as served");
    cr_expect_eq (reply->error->code, KINNET__V1__ERROR_CODE__SERVICE_UNAVAILABLE, "%s",
                  reply->error->message);
    //  Its request is handed to another worker, once: with none, it waits out what
    //  is left of KINNET_REQUEST_TIMEOUT_MS (the stack's 1500 ms) since it came.
    //  Frozen, the worker is found first, when it stops answering the broker's pings
    //  (every 200 ms, given up after 3 × 200 ms silent).
    cr_expect_lt (told, signal == SIGKILL ? 1500 + 1000 : 1500 + 800 + 1000, "%s",
                  reply->error->message);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
}

Test (report_standby, a_worker_killed_while_it_waits_is_reported_to_its_client)
{
    s_worker_lost_mid_request (SIGKILL);
}

Test (report_standby, a_worker_frozen_while_it_waits_is_reported_to_its_client)
{
    s_worker_lost_mid_request (SIGSTOP);
}
