/*  The reporting service through the broker: the auditor role is required and
    every request is audited; the audit trail the whole stack writes is sealed in
    the background and verifies intact, with trusted checkpoints, until someone
    changes a record; an auditor's anchor is held against it; the service trusts
    only the keys configured as trusted, not the one it signs with. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kinnet/v1/reporting.pb-c.h"
#include <jansson.h>

#include "kn_agency.h"
#include "kn_test.h"

static kn_test_stack_t *stack;

static void
s_setup (void)
{
    stack = kn_test_stack_new ();
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (reporting, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  One request to the reporting service as agency; the decoded reply.
static Kinnet__V1__ReportingReply *
s_reporting (int agency, const Kinnet__V1__ReportingRequest *request)
{
    return kn_test_reporting_call (stack, agency, request, 10000);
}

static Kinnet__V1__ReportingReply *
s_verify_anchored (int agency, Kinnet__V1__AuditAnchor *anchor)
{
    Kinnet__V1__VerifyAuditTrail op = KINNET__V1__VERIFY_AUDIT_TRAIL__INIT;
    op.anchor = anchor;
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_VERIFY_AUDIT;
    request.verify_audit = &op;
    return s_reporting (agency, &request);
}

static Kinnet__V1__ReportingReply *
s_verify (int agency)
{
    Kinnet__V1__VerifyAuditTrail op = KINNET__V1__VERIFY_AUDIT_TRAIL__INIT;
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_VERIFY_AUDIT;
    request.verify_audit = &op;
    return s_reporting (agency, &request);
}

static int
s_count (const char *sql)
{
    return kn_test_count (kn_test_stack_db_url (stack), sql);
}

Test (reporting, auditors_verify_the_sealed_trail)
{
    //  Some traffic to audit: referrals from agency 0.
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 1);
    for (int i = 0; i < 5; i++) {
        char key[32];
        snprintf (key, sizeof key, "rep-%d", i);
        zframe_t *body = kn_test_referral_request (i, key);
        kn_error_t err;
        zframe_t *reply = kn_client_call (client, "intake", zframe_data (body),
                                          zframe_size (body), &err);
        cr_assert (reply, "%s", err.message);
        zframe_destroy (&reply);
        zframe_destroy (&body);
    }
    kn_client_destroy (&client);

    //  Without the auditor role: refused, and the refusal is on record.
    Kinnet__V1__ReportingReply *reply = s_verify (0);
    cr_assert (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__PERMISSION_DENIED);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    cr_assert_eq (s_count ("SELECT count (*) FROM core.audit WHERE service = 'reporting'"
                           " AND result = 'permission_denied' AND role = 'auditor'"),
                  1);

    kn_error_t err;
    kn_db_t *admin = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    cr_assert_eq (kn_agency_set_role (admin, kn_test_stack_agency_id (stack, 1), "auditor", true,
                                      &err),
                  0, "%s", err.message);
    kn_db_destroy (&admin);

    //  The sealer links everything within moments and signs checkpoints: wait for a
    //  verdict with nothing unsealed and a checkpoint over the whole chain.
    int64_t deadline = zclock_mono () + 20000;
    bool settled = false;
    Kinnet__V1__AuditAnchor anchor = KINNET__V1__AUDIT_ANCHOR__INIT;
    uint8_t anchor_hash[32];
    while (!settled && zclock_mono () < deadline) {
        reply = s_verify (1);
        cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
        cr_assert (reply->verdict->intact, "%s", reply->verdict->problem);
        settled = reply->verdict->unsealed <= 1   // this very request's audit row
                  && reply->verdict->last_checkpoint >= 5
                  && reply->verdict->last_checkpoint == reply->verdict->head_seq;
        if (settled) {
            cr_assert (reply->verdict->signer_trusted);
            cr_assert_geq (reply->verdict->records, 5);
            cr_assert_not_null (reply->verdict->anchor);
            cr_assert_eq (reply->verdict->anchor->hash.len, 32);
            anchor.checkpoint = reply->verdict->anchor->checkpoint;
            anchor.records = reply->verdict->anchor->records;
            anchor.disclosures = reply->verdict->anchor->disclosures;
            memcpy (anchor_hash, reply->verdict->anchor->hash.data, 32);
            anchor.hash.data = anchor_hash;
            anchor.hash.len = 32;
        }
        kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
        if (!settled)
            zclock_sleep (100);
    }
    cr_assert (settled, "the trail was never sealed and checkpointed");

    //  The anchor kept from that verdict: still there, unchanged, while the trail grows.
    reply = s_verify_anchored (1, &anchor);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    cr_assert (reply->verdict->intact, "%s", reply->verdict->problem);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    //  An anchor the trail does not hold: a rewritten history.
    anchor_hash[0] ^= 1;
    reply = s_verify_anchored (1, &anchor);
    cr_assert_null (reply->error);
    cr_assert_not (reply->verdict->intact);
    cr_assert (strstr (reply->verdict->problem, "rewritten"), "%s",
               reply->verdict->problem);
    cr_assert_null (reply->verdict->anchor, "a broken trail hands out no anchor");
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    //  One that is not an anchor at all: refused, with the field.
    anchor.hash.len = 5;
    reply = s_verify_anchored (1, &anchor);
    cr_assert (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT);
    cr_assert_str_eq (reply->error->field, "anchor.hash");
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);

    //  Someone changes a sealed record: the auditor's next check says where.
    free (kn_test_sql (kn_test_stack_db_url (stack),
                       "UPDATE core.audit SET result = 'ok', caseworker_id = 'x'"
                       " WHERE id = (SELECT audit_id FROM core.audit_chain WHERE seq = 2)"));
    reply = s_verify (1);
    cr_assert_null (reply->error);
    cr_assert_not (reply->verdict->intact);
    cr_assert_eq (reply->verdict->broken_seq, 2, "%s", reply->verdict->problem);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    cr_assert_geq (s_count ("SELECT count (*) FROM core.audit WHERE service = 'reporting'"
                            " AND operation = 'verify_audit' AND result = 'ok'"
                            " AND role = 'auditor'"),
                   2);
}

Test (reporting, verify_audit_trusts_only_the_configured_keys)
{
    //  The service signs with its own key but is told to trust another: its own
    //  checkpoints are then not vouched for. (One foothold in the process must not
    //  make the process's trail "intact".)
    kn_test_stack_destroy (&stack);
    static const char *const env[] = {
        "reporting", "KINNET_AUDIT_TRUSTED_KEYS",
        "1111111111111111111111111111111111111111111111111111111111111111", NULL};
    stack = kn_test_stack_new_with_env (env);
    kn_error_t err;
    kn_db_t *admin = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    cr_assert_eq (kn_agency_set_role (admin, kn_test_stack_agency_id (stack, 1),
                                      "auditor", true, &err),
                  0, "%s", err.message);
    kn_db_destroy (&admin);
    int64_t deadline = zclock_mono () + 20000;
    bool checked = false;
    while (!checked && zclock_mono () < deadline) {
        Kinnet__V1__ReportingReply *reply = s_verify (1);
        cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
        checked = reply->verdict->checkpoints > 0;
        if (checked) {
            cr_assert_not (reply->verdict->intact);
            cr_assert (strstr (reply->verdict->problem, "not a trusted one"), "%s",
                       reply->verdict->problem);
        }
        kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
        if (!checked)
            zclock_sleep (100);
    }
    cr_assert (checked, "no checkpoint was ever signed");
}

//  A referral from agency 0 in district, for child seed.
static void
s_refer (int seed, const char *district)
{
    char given[32], key[32];
    snprintf (given, sizeof given, "Child%d", seed);
    snprintf (key, sizeof key, "report-%d", seed);
    Kinnet__V1__Person child = KINNET__V1__PERSON__INIT;
    child.given_name = given;
    child.family_name = "Okafor";
    child.date_of_birth = "2014-02-03";
    Kinnet__V1__Need need = KINNET__V1__NEED__INIT;
    need.category = KINNET__V1__NEED_CATEGORY__HOUSING_NEED;
    need.description = "Overcrowded.";
    Kinnet__V1__Need *needs[] = {&need};
    Kinnet__V1__LawfulGround ground = KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    ground.justification = "Early help assessment.";
    Kinnet__V1__SubmitReferral submit = KINNET__V1__SUBMIT_REFERRAL__INIT;
    submit.idempotency_key = key;
    submit.child = &child;
    submit.needs = needs;
    submit.n_needs = 1;
    submit.urgency = KINNET__V1__URGENCY__ROUTINE;
    submit.district = (char *) district;
    submit.lawful_ground = &ground;
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_SUBMIT;
    request.submit = &submit;
    size_t len = kinnet__v1__intake_request__get_packed_size (&request);
    uint8_t *buf = malloc (len);
    kinnet__v1__intake_request__pack (&request, buf);
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 1);
    kn_error_t err;
    zframe_t *reply = kn_client_call (client, "intake", buf, len, &err);
    cr_assert (reply, "%s", err.message);
    zframe_destroy (&reply);
    kn_client_destroy (&client);
    free (buf);
}

static Kinnet__V1__ReportingReply *
s_report (int agency, const char *name, const char *from, const char *to,
          const Kinnet__V1__ReportDimension *by, size_t n_by)
{
    Kinnet__V1__RunReport run = KINNET__V1__RUN_REPORT__INIT;
    run.report = (char *) name;
    run.from = (char *) from;
    run.to = (char *) to;
    run.by = (Kinnet__V1__ReportDimension *) by;
    run.n_by = n_by;
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_REPORT;
    request.report = &run;
    return s_reporting (agency, &request);
}

static void
s_grant_auditor (int agency)
{
    kn_error_t err;
    kn_db_t *admin = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    cr_assert_eq (kn_agency_set_role (admin, kn_test_stack_agency_id (stack, agency), "auditor",
                                      true, &err),
                  0, "%s", err.message);
    kn_db_destroy (&admin);
}

//  A period around now: from 30 days ago to tomorrow.
static char s_from[16], s_to[16];

static void
s_period (void)
{
    time_t now = time (NULL);
    time_t from = now - 30 * 86400, to = now + 86400;
    strftime (s_from, sizeof s_from, "%Y-%m-%d", gmtime (&from));
    strftime (s_to, sizeof s_to, "%Y-%m-%d", gmtime (&to));
}

static int
s_row_of (const Kinnet__V1__ReportTable *table, const char *label)
{
    for (size_t r = 0; r < table->n_row_labels; r++)
        if (strcmp (table->row_labels[r], label) == 0)
            return (int) r;
    return -1;
}

Test (reporting, referrals_report_withholds_small_counts)
{
    s_period ();
    for (int i = 0; i < 7; i++)
        s_refer (100 + i, "north");
    for (int i = 0; i < 2; i++)
        s_refer (200 + i, "south");
    const Kinnet__V1__ReportDimension by_district[] = {KINNET__V1__REPORT_DIMENSION__BY_DISTRICT};

    Kinnet__V1__ReportingReply *reply
        = s_report (0, "referrals", s_from, s_to, by_district, 1);
    cr_assert (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__PERMISSION_DENIED);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    s_grant_auditor (1);

    reply = s_report (1, "referrals", s_from, s_to, by_district, 1);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    Kinnet__V1__Report *report = reply->report;
    cr_assert_str_eq (report->marker, "[c]");
    cr_assert (strlen (report->method) > 20, "%s", report->method);
    cr_assert_geq (report->n_sections, 2);
    cr_assert_str_eq (report->sections[0]->name, "referrals");
    const Kinnet__V1__ReportTable *received = report->sections[0]->tables[0];
    cr_assert_str_eq (received->row_dimension, "district");
    int north = s_row_of (received, "north"), south = s_row_of (received, "south");
    cr_assert (north >= 0 && south >= 0);
    //  South's 2 is withheld; so is whatever would give it back from the total.
    cr_assert (received->cells[south]->withheld);
    cr_assert (received->cells[north]->withheld || received->grand_total->withheld,
               "south's count could be recovered from the total and north's");
    if (!received->cells[north]->withheld)
        cr_assert_eq (received->cells[north]->value, 7);
    cr_assert_geq (received->withheld, 2);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);

    //  No breakdown: one cell of 9, shown.
    reply = s_report (1, "referrals", s_from, s_to, NULL, 0);
    cr_assert_null (reply->error);
    received = reply->report->sections[0]->tables[0];
    cr_assert_eq (received->n_cells, 1);
    cr_assert_not (received->cells[0]->withheld);
    cr_assert_eq (received->cells[0]->value, 9);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);

    //  Bad requests: clear errors, nothing else.
    struct {
        const char *name, *from, *to;
        size_t n_by;
        const char *field;
    } bad[] = {
        {"gossip", "2026-01-01", "2026-02-01", 0, "report"},
        {"referrals", "2026-02-30", "2026-03-01", 0, "from"},
        {"referrals", "2026-03-01", "2026-03-01", 0, "to"},
        {"referrals", "2020-01-01", "2026-01-01", 0, "to"},
        {"referrals", "2026-01-01", "2026-02-01", 3, "by"},
    };
    const Kinnet__V1__ReportDimension three[] = {KINNET__V1__REPORT_DIMENSION__BY_DISTRICT,
                                                 KINNET__V1__REPORT_DIMENSION__BY_NEED,
                                                 KINNET__V1__REPORT_DIMENSION__BY_MONTH};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        reply = s_report (1, bad[i].name, bad[i].from, bad[i].to, three, bad[i].n_by);
        cr_assert (reply->error, "case %zu accepted", i);
        cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT);
        cr_assert_str_eq (reply->error->field, bad[i].field, "case %zu", i);
        kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    }
    const Kinnet__V1__ReportDimension twice[] = {KINNET__V1__REPORT_DIMENSION__BY_NEED,
                                                 KINNET__V1__REPORT_DIMENSION__BY_NEED};
    reply = s_report (1, "referrals", "2026-01-01", "2026-02-01", twice, 2);
    cr_assert (reply->error);
    cr_assert_str_eq (reply->error->field, "by[1]");
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    //  Every report request is on record, as the auditor it needed.
    cr_assert_geq (s_count ("SELECT count (*) FROM core.audit WHERE service = 'reporting'"
                            " AND operation = 'report' AND role = 'auditor'"),
                   9);
}

//  The CLI as agency 1.
#define s_cli(output, ...) kn_test_run_cli (s_env (), output, __VA_ARGS__)

static const char *
s_env (void)
{
    static char env[2048];
    char *text = kn_test_stack_cli_env (stack, 1);
    snprintf (env, sizeof env, "%s", text);
    free (text);
    return env;
}

Test (reporting, report_cli_formats)
{
    s_period ();
    for (int i = 0; i < 6; i++)
        s_refer (300 + i, "east");
    s_grant_auditor (1);
    char *out = NULL;
    cr_assert_eq (s_cli (&out, "report referrals --from %s --to %s --by district", s_from, s_to),
                  0, "%s", out);
    cr_assert (strncmp (out, "section,table,row_dimension,row,column_dimension,column,value\r\n",
                        63) == 0, "%s", out);
    cr_assert (strstr (out, "referrals,Referrals received,district,east,,all,6\r\n"), "%s", out);
    cr_assert (strstr (out, "\r\nmethod,"), "%s", out);
    free (out);
    cr_assert_eq (s_cli (&out, "report declines --from %s --to %s --by district"
                               " --format html", s_from, s_to),
                  0, "%s", out);
    cr_assert (strstr (out, "<!DOCTYPE html>") && strstr (out, "<footer>"), "%.300s", out);
    cr_assert_null (strstr (out, "http://") == NULL ? NULL : strstr (out, "src=\"http"));
    free (out);
    cr_assert_eq (s_cli (&out, "report referrals --from %s --to %s --format json", s_from, s_to),
                  0, "%s", out);
    cr_assert (strstr (out, "\"marker\": \"[c]\""), "%s", out);
    free (out);
    cr_assert_eq (s_cli (&out, "report timeliness --from %s --to %s --format html", s_from, s_to),
                  0, "%s", out);
    cr_assert (strstr (out, "statistic(s) withheld") && strstr (out, "<svg"), "%.400s", out);
    free (out);
    cr_assert_eq (s_cli (&out, "report timeliness --from %s --to %s", s_from, s_to), 0, "%s", out);
    cr_assert (strstr (out, "time,\"Time to acceptance"), "%s", out);
    free (out);
    cr_assert_eq (s_cli (NULL, "report referrals --from %s --to %s --by karma", s_from, s_to), 3);
    cr_assert_eq (s_cli (NULL, "report --help"), 0);
}

static Kinnet__V1__ReportingReply *
s_export (int agency, const char *subject_id)
{
    Kinnet__V1__ExportSubject op = KINNET__V1__EXPORT_SUBJECT__INIT;
    op.subject_id = (char *) subject_id;
    op.caseworker_id = "dpo-1";
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_EXPORT_SUBJECT;
    request.export_subject = &op;
    return s_reporting (agency, &request);
}

Test (reporting, subject_access_export)
{
    //  A referral from agency 0 names Child7.
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 1);
    zframe_t *body = kn_test_referral_request (7, "sar-7");
    kn_error_t err;
    zframe_t *frame = kn_client_call (client, "intake", zframe_data (body), zframe_size (body),
                                      &err);
    cr_assert (frame, "%s", err.message);
    Kinnet__V1__IntakeReply *submitted = kinnet__v1__intake_reply__unpack (
        NULL, zframe_size (frame), zframe_data (frame));
    cr_assert (submitted && submitted->submitted);
    //  The first referral of a family shows no subject ids (docs/protocol.md §4.5):
    //  the DPO finds the subject in the registry.
    char sql[200], subject[KN_UUID_STR];
    snprintf (sql, sizeof sql,
              "SELECT subject_id FROM intake.referral_subject WHERE referral_id = '%s'",
              submitted->submitted->referral_id);
    char *found = kn_test_sql (kn_test_stack_db_url (stack), sql);
    snprintf (subject, sizeof subject, "%s", found);
    free (found);
    kinnet__v1__intake_reply__free_unpacked (submitted, NULL);
    zframe_destroy (&frame);
    zframe_destroy (&body);
    kn_client_destroy (&client);

    //  Only a data-protection officer may export, and every attempt is on record.
    Kinnet__V1__ReportingReply *reply = s_export (1, subject);
    cr_assert (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__PERMISSION_DENIED);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    kn_db_t *admin = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    cr_assert_eq (kn_agency_set_role (admin, kn_test_stack_agency_id (stack, 1),
                                      "data_protection_officer", true, &err),
                  0, "%s", err.message);
    kn_db_destroy (&admin);

    reply = s_export (1, subject);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    json_error_t parse;
    json_t *document = json_loads (reply->subject_access->json, 0, &parse);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    cr_assert (document, "%s", parse.text);
    cr_assert_str_eq (json_string_value (json_object_get (document, "subject_id")), subject);
    cr_assert_not_null (json_string_value (json_object_get (document, "date_of_birth")));
    json_t *referrals = json_object_get (document, "referrals");
    cr_assert_eq (json_array_size (referrals), 1);
    json_t *person = json_object_get (json_array_get (referrals, 0), "person");
    cr_assert_str_eq (json_string_value (json_object_get (person, "given_name")), "Child7");
    cr_assert_eq (json_array_size (json_object_get (json_array_get (referrals, 0), "needs")), 1);
    cr_assert (json_is_array (json_object_get (document, "disclosures")));
    cr_assert (json_is_array (json_object_get (document, "consents"))
                   || json_is_object (json_object_get (document, "consents")));
    //  The referral's own audit record is there.
    json_t *audit = json_object_get (document, "audit");
    bool submit_seen = false;
    size_t i;
    json_t *record;
    json_array_foreach (audit, i, record)
        submit_seen |= strcmp (json_string_value (json_object_get (record, "operation")),
                               "submit") == 0;
    cr_assert (submit_seen);
    json_decref (document);
    //  Audit records say which role an operation was done in.
    cr_assert_geq (s_count ("SELECT count (*) FROM core.audit WHERE service = 'intake'"
                            " AND operation = 'submit' AND role = 'referrer'"),
                   1);
    cr_assert_eq (s_count ("SELECT count (*) FROM core.audit WHERE service = 'reporting'"
                           " AND operation = 'subject_export' AND result = 'ok'"
                           " AND role = 'data_protection_officer' AND caseworker_id = 'dpo-1'"
                           " AND subject_ref IS NOT NULL"),
                  1);

    //  Bad requests: no such subject, not an id.
    reply = s_export (1, "6d0f5f0e-8f5c-4f57-a3d5-0f3a7c1b2e44");
    cr_assert (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__NOT_FOUND);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    reply = s_export (1, "child seven");
    cr_assert (reply->error);
    cr_assert_str_eq (reply->error->field, "subject_id");
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);

    //  The CLI writes it as a private file.
    char path[300];
    snprintf (path, sizeof path, "%s/sar.html", kn_test_stack_dir (stack));
    char *out = NULL;
    cr_assert_eq (s_cli (&out, "subject export %s --out '%s'", subject, path), 0, "%s", out);
    free (out);
    struct stat info;
    cr_assert_eq (stat (path, &info), 0);
    cr_assert_eq (info.st_mode & 0777, 0600);
    char *html = kn_test_read_file (path);
    cr_assert_not_null (html);
    cr_assert (strstr (html, "Child7") && strstr (html, "<h2>audit</h2>"), "%.300s", html);
    free (html);
}

//  A long verification (held 6 s by a test hook that Debug builds alone have) runs
//  on its own thread: the request that started it is answered at once, reports are
//  answered while it runs, and the verdict is the answer to the same request asked
//  again once it is done.
Test (reporting, a_long_verification_does_not_hold_reports_back)
{
    kn_test_stack_destroy (&stack);
    static const char *const env[] = {"reporting", "KINNET_TEST_VERIFY_HOLD_MS", "6000", NULL};
    stack = kn_test_stack_new_with_env (env);
    s_grant_auditor (1);
    s_period ();

    int64_t asked = zclock_mono ();
    Kinnet__V1__ReportingReply *reply = s_verify (1);
    cr_assert (reply->error, "a 6 s verification answered at once");
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__SERVICE_UNAVAILABLE);
    cr_assert (strstr (reply->error->message, "being verified"), "%s", reply->error->message);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);

    //  A report meanwhile: answered, and the verification still runs after it.
    reply = s_report (1, "referrals", s_from, s_to, NULL, 0);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    int64_t reported = zclock_mono () - asked;
    cr_assert_lt (reported, 3000, "the report waited %lld ms", (long long) reported);
    reply = s_verify (1);
    cr_assert (reply->error && strstr (reply->error->message, "being verified"),
               "the verification was over before the report was answered");
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);

    //  Another anchor waits its turn.
    uint8_t hash[32] = {0};
    Kinnet__V1__AuditAnchor anchor = KINNET__V1__AUDIT_ANCHOR__INIT;
    anchor.checkpoint = 1;
    anchor.hash.data = hash;
    anchor.hash.len = 32;
    reply = s_verify_anchored (1, &anchor);
    cr_assert (reply->error && strstr (reply->error->message, "another anchor"), "%s",
               reply->error ? reply->error->message : "a verdict");
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);

    //  Asked again, the same request gets the verdict once it is there.
    int64_t deadline = zclock_mono () + 20000;
    bool verdict = false;
    while (!verdict && zclock_mono () < deadline) {
        reply = s_verify (1);
        verdict = reply->error == NULL;
        if (verdict)
            cr_assert (reply->verdict->intact, "%s", reply->verdict->problem);
        else
            cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__SERVICE_UNAVAILABLE,
                          "%s", reply->error->message);
        kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
        if (!verdict)
            zclock_sleep (250);
    }
    cr_assert (verdict, "the verdict never came");
    cr_assert_geq (zclock_mono () - asked, 6000, "the hold did not hold");
}
