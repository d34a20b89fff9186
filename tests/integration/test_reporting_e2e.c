/*  The reporting service through the broker: the auditor role is required and
    every request is audited; the audit trail the whole stack writes is sealed in
    the background and verifies intact, with trusted checkpoints, until someone
    changes a record. */
#include <criterion/criterion.h>
#include <string.h>

#include "kinnet/v1/reporting.pb-c.h"
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

static Kinnet__V1__ReportingReply *
s_verify (int agency)
{
    Kinnet__V1__VerifyAuditTrail op = KINNET__V1__VERIFY_AUDIT_TRAIL__INIT;
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_VERIFY_AUDIT;
    request.verify_audit = &op;
    size_t len = kinnet__v1__reporting_request__get_packed_size (&request);
    uint8_t buf[64];
    kinnet__v1__reporting_request__pack (&request, buf);
    kn_client_t *client = kn_test_stack_client (stack, agency, 5000, 1);
    kn_error_t err;
    zframe_t *frame = kn_client_call (client, "reporting", buf, len, &err);
    kn_client_destroy (&client);
    cr_assert (frame, "%s", err.message);
    Kinnet__V1__ReportingReply *reply = kinnet__v1__reporting_reply__unpack (
        NULL, zframe_size (frame), zframe_data (frame));
    zframe_destroy (&frame);
    cr_assert (reply);
    return reply;
}

static int
s_count (const char *sql)
{
    char *value = kn_test_sql (kn_test_stack_db_url (stack), sql);
    int n = value ? atoi (value) : -1;
    free (value);
    return n;
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
        }
        kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
        if (!settled)
            zclock_sleep (100);
    }
    cr_assert (settled, "the trail was never sealed and checkpointed");

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
