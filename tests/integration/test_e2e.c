/*  End to end through real sockets: kinnet-broker and kinnet-intake processes,
    CURVE on, ZAP admitting registered agency keys from PostgreSQL. */
#include <criterion/criterion.h>
#include <signal.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kn_agency.h"
#include "kn_mdp.h"
#include "kn_test.h"
#include "kn_worker.h"

static kn_test_stack_t *stack;

static void
s_setup (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    stack = kn_test_stack_new ();
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (e2e, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  Call intake and decode; asserts a reply came.
static Kinnet__V1__IntakeReply *
s_call (kn_client_t *client, zframe_t *body)
{
    kn_error_t err;
    zframe_t *reply = kn_client_call (client, "intake", zframe_data (body), zframe_size (body), &err);
    cr_assert (reply, "no reply: %s", err.message);
    Kinnet__V1__IntakeReply *decoded
        = kinnet__v1__intake_reply__unpack (NULL, zframe_size (reply), zframe_data (reply));
    zframe_destroy (&reply);
    cr_assert (decoded, "reply is not an IntakeReply");
    return decoded;
}

static Kinnet__V1__IntakeReply *
s_submit (kn_client_t *client, int seed, const char *key)
{
    zframe_t *body = kn_test_referral_request (seed, key);
    Kinnet__V1__IntakeReply *reply = s_call (client, body);
    zframe_destroy (&body);
    return reply;
}

static long
s_count (const char *sql)
{
    return kn_test_count (kn_test_stack_db_url (stack), sql);
}

Test (e2e, submit_is_stored_with_event_and_audit)
{
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 0);
    Kinnet__V1__IntakeReply *reply = s_submit (client, 1, "ref-1");
    cr_assert_null (reply->error, "error: %s", reply->error ? reply->error->message : "");
    cr_assert_eq (reply->result_case, KINNET__V1__INTAKE_REPLY__RESULT_SUBMITTED);
    cr_assert_not (reply->submitted->replayed);
    char sql[256];
    snprintf (sql, sizeof sql,
              "SELECT referring_agency_id FROM intake.referral WHERE id = '%s'",
              reply->submitted->referral_id);
    char *agency = kn_test_sql (kn_test_stack_db_url (stack), sql);
    //  The agency is the one the key says, not anything in the body.
    cr_assert_str_eq (agency, kn_test_stack_agency_id (stack, 0));
    free (agency);
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM core.outbox WHERE topic = 'referral.received'"
              " AND aggregate_id = '%s'",
              reply->submitted->referral_id);
    cr_assert_eq (s_count (sql), 1);
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM core.audit WHERE operation = 'submit' AND result = 'ok'"
              " AND object_id = '%s'",
              reply->submitted->referral_id);
    cr_assert_eq (s_count (sql), 1);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    kn_client_destroy (&client);
}

Test (e2e, retry_returns_first_answer_and_conflict_is_refused)
{
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 0);
    Kinnet__V1__IntakeReply *first = s_submit (client, 2, "ref-2");
    Kinnet__V1__IntakeReply *again = s_submit (client, 2, "ref-2");
    cr_assert_null (again->error);
    cr_assert (again->submitted->replayed);
    cr_assert_str_eq (again->submitted->referral_id, first->submitted->referral_id);

    Kinnet__V1__IntakeReply *conflict = s_submit (client, 3, "ref-2");
    cr_assert_not_null (conflict->error);
    cr_assert_eq (conflict->error->code, KINNET__V1__ERROR_CODE__CONFLICT);
    cr_assert_str_eq (conflict->error->field, "idempotency_key");
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral"), 1);

    //  The same key from another agency is that agency's own key.
    kn_client_t *other = kn_test_stack_client (stack, 1, 5000, 0);
    Kinnet__V1__IntakeReply *theirs = s_submit (other, 2, "ref-2");
    cr_assert_null (theirs->error);
    cr_assert_str_neq (theirs->submitted->referral_id, first->submitted->referral_id);
    //  Same child, other agency: one family, which the reply does not say (the
    //  other agency had no standing with it).
    cr_assert_not (theirs->submitted->family_matched);
    cr_assert_str_eq (theirs->submitted->family_id, "");
    cr_assert_eq (theirs->submitted->n_subject_ids, 0);
    cr_assert_eq (s_count ("SELECT count(DISTINCT family_id) FROM intake.referral"), 1);

    kinnet__v1__intake_reply__free_unpacked (first, NULL);
    kinnet__v1__intake_reply__free_unpacked (again, NULL);
    kinnet__v1__intake_reply__free_unpacked (conflict, NULL);
    kinnet__v1__intake_reply__free_unpacked (theirs, NULL);
    kn_client_destroy (&client);
    kn_client_destroy (&other);
}

Test (e2e, invalid_referral_gets_field_error_and_writes_nothing)
{
    Kinnet__V1__Person child = KINNET__V1__PERSON__INIT;
    child.given_name = "Ana";
    child.family_name = "Silva";
    child.date_of_birth = "2019-02-30";
    Kinnet__V1__SubmitReferral submit = KINNET__V1__SUBMIT_REFERRAL__INIT;
    submit.idempotency_key = "bad-1";
    submit.child = &child;
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_SUBMIT;
    request.submit = &submit;
    zframe_t *body = zframe_new (NULL, kinnet__v1__intake_request__get_packed_size (&request));
    kinnet__v1__intake_request__pack (&request, zframe_data (body));
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 0);
    Kinnet__V1__IntakeReply *reply = s_call (client, body);
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT);
    cr_assert_str_eq (reply->error->field, "child.date_of_birth");
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral"), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.idempotency"), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.outbox"), 0);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    zframe_destroy (&body);
    kn_client_destroy (&client);
}

Test (e2e, unknown_fields_are_refused_with_their_place)
{
    //  A field number this schema does not have, inside the child.
    zframe_t *valid = kn_test_referral_request (12, "unknown-field");
    Kinnet__V1__IntakeRequest *request = kinnet__v1__intake_request__unpack (
        NULL, zframe_size (valid), zframe_data (valid));
    uint8_t value = 1;
    ProtobufCMessageUnknownField extra = {.tag = 99,
                                          .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT,
                                          .len = 1,
                                          .data = &value};
    request->submit->child->base.n_unknown_fields = 1;
    request->submit->child->base.unknown_fields = &extra;
    zframe_t *body = zframe_new (NULL, kinnet__v1__intake_request__get_packed_size (request));
    kinnet__v1__intake_request__pack (request, zframe_data (body));
    request->submit->child->base.n_unknown_fields = 0;
    request->submit->child->base.unknown_fields = NULL;
    kinnet__v1__intake_request__free_unpacked (request, NULL);

    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 0);
    Kinnet__V1__IntakeReply *reply = s_call (client, body);
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT);
    cr_assert_str_eq (reply->error->field, "child");
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral"), 0);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    zframe_destroy (&body);
    zframe_destroy (&valid);
    kn_client_destroy (&client);
}

Test (e2e, malformed_protobuf_gets_error_and_service_keeps_serving)
{
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 0);
    static const uint8_t garbage[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    zframe_t *body = zframe_new (garbage, sizeof garbage);
    Kinnet__V1__IntakeReply *reply = s_call (client, body);
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__MALFORMED);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    zframe_destroy (&body);

    //  An empty IntakeRequest (no operation chosen).
    body = zframe_new (NULL, 0);
    reply = s_call (client, body);
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    zframe_destroy (&body);

    reply = s_submit (client, 4, "after-garbage");
    cr_assert_null (reply->error);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    kn_client_destroy (&client);
}

Test (e2e, oversize_frame_is_dropped_and_broker_keeps_serving)
{
    kn_client_t *client = kn_test_stack_client (stack, 0, 1000, 0);
    size_t size = KN_MAX_MESSAGE_BYTES + 1024;
    uint8_t *big = calloc (1, size);
    kn_error_t err;
    zframe_t *reply = kn_client_call (client, "intake", big, size, &err);
    free (big);
    //  ZMQ_MAXMSGSIZE: the broker drops the connection rather than read it.
    cr_assert_null (reply);
    cr_assert_eq (err.code, KN_E_SERVICE_UNAVAILABLE);
    kn_client_destroy (&client);

    client = kn_test_stack_client (stack, 0, 5000, 0);
    Kinnet__V1__IntakeReply *ok = s_submit (client, 5, "after-oversize");
    cr_assert_null (ok->error);
    kinnet__v1__intake_reply__free_unpacked (ok, NULL);
    kn_client_destroy (&client);
}

Test (e2e, unregistered_key_never_gets_a_reply)
{
    kn_client_t *client = kn_test_stack_client (stack, 2, 1500, 0);
    kn_error_t err;
    zframe_t *body = kn_test_referral_request (6, "stranger");
    zframe_t *reply = kn_client_call (client, "intake", zframe_data (body), zframe_size (body), &err);
    cr_assert_null (reply);
    cr_assert_eq (err.code, KN_E_UNAUTHENTICATED, "got %s: %s", kn_code_name (err.code),
                  err.message);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral"), 0);
    zframe_destroy (&body);
    kn_client_destroy (&client);
}

Test (e2e, registering_a_key_takes_effect_without_restart)
{
    //  Agency 2's key is refused, then registered while the broker runs.
    kn_client_t *client = kn_test_stack_client (stack, 2, 1500, 0);
    kn_error_t err;
    zframe_t *body = kn_test_referral_request (7, "newcomer");
    zframe_t *reply = kn_client_call (client, "intake", zframe_data (body), zframe_size (body), &err);
    cr_assert_null (reply);
    kn_client_destroy (&client);

    kn_db_t *db = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    zcert_t *cert = kn_test_stack_agency_cert (stack, 2);
    char id[KN_UUID_STR];
    cr_assert_eq (kn_agency_add (db, "Newcomer", "ngo_community", "south",
                                 zcert_public_txt (cert), id, &err),
                  0);
    zcert_destroy (&cert);
    kn_db_destroy (&db);

    //  The broker reloads on NOTIFY; retry until it answers (bounded).
    client = kn_test_stack_client (stack, 2, 1000, 0);
    int64_t deadline = zclock_mono () + 10000;
    while (!reply && zclock_mono () < deadline)
        reply = kn_client_call (client, "intake", zframe_data (body), zframe_size (body), &err);
    cr_assert_not_null (reply, "registered key still refused: %s", err.message);
    zframe_destroy (&reply);
    zframe_destroy (&body);
    kn_client_destroy (&client);
}

Test (e2e, revoked_key_is_refused)
{
    kn_client_t *open_connection = kn_test_stack_client (stack, 1, 5000, 0);
    Kinnet__V1__IntakeReply *ok = s_submit (open_connection, 8, "before-revoke");
    cr_assert_null (ok->error);
    kinnet__v1__intake_reply__free_unpacked (ok, NULL);

    kn_error_t err;
    kn_db_t *db = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    cr_assert_eq (kn_agency_revoke (db, kn_test_stack_agency_id (stack, 1), &err), 0);
    kn_db_destroy (&db);

    //  New connections with the revoked key fail the handshake once the broker has
    //  applied the revocation (bounded wait for its NOTIFY-driven reload).
    bool refused = false;
    int64_t deadline = zclock_mono () + 10000;
    while (!refused && zclock_mono () < deadline) {
        //  A new connection (so a new handshake) every time.
        kn_client_t *fresh = kn_test_stack_client (stack, 1, 1000, 0);
        zframe_t *reply = kn_client_call (fresh, "mmi.service", "intake", 6, &err);
        refused = !reply && err.code == KN_E_UNAUTHENTICATED;
        zframe_destroy (&reply);
        kn_client_destroy (&fresh);
    }
    cr_assert (refused, "revoked key still admitted: %s", err.message);

    //  The connection opened before the revocation is no longer served either: the
    //  broker checks every message's key, not just the handshake.
    kn_client_set_timeout (open_connection, 1000);
    zframe_t *body = kn_test_referral_request (9, "after-revoke");
    zframe_t *reply
        = kn_client_call (open_connection, "intake", zframe_data (body), zframe_size (body), &err);
    cr_assert_null (reply, "a revoked key got an answer");
    zframe_destroy (&body);
    kn_client_destroy (&open_connection);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral"), 1);
}

Test (e2e, client_key_cannot_register_as_worker)
{
    //  A worker with agency 0's certificate offers to serve "intake".
    zcert_t *cert = kn_test_stack_agency_cert (stack, 0);
    kn_error_t err;
    kn_worker_t *rogue = kn_worker_new (kn_test_stack_backend (stack), "rogue", cert,
                                        kn_test_stack_server_key (stack), &err);
    zcert_destroy (&cert);
    cr_assert (rogue);
    //  The broker never lists it: the service "rogue" has no live worker.
    cr_assert_not (kn_test_stack_wait_service (stack, "rogue", 1500));
    //  And it never receives requests meant for intake.
    zframe_t *reply_to = NULL;
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 0);
    Kinnet__V1__IntakeReply *reply = s_submit (client, 10, "not-for-rogue");
    cr_assert_null (reply->error);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    zmsg_t *stolen = kn_worker_recv (rogue, &reply_to, 300);
    cr_assert_null (stolen);
    kn_worker_destroy (&rogue);
    kn_client_destroy (&client);
}

Test (e2e, no_worker_gets_error_then_succeeds_when_back)
{
    kn_test_stack_stop_intake (stack, SIGTERM);
    //  The worker said DISCONNECT; wait until the broker no longer lists it.
    int64_t deadline = zclock_mono () + 5000;
    while (kn_test_stack_wait_service (stack, "intake", 100) && zclock_mono () < deadline)
        ;
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 0);
    Kinnet__V1__IntakeReply *reply = s_submit (client, 11, "while-down");
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__SERVICE_UNAVAILABLE);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);

    kn_test_stack_start_intake (stack);
    cr_assert (kn_test_stack_wait_service (stack, "intake", 20000));
    reply = s_submit (client, 11, "while-down");
    cr_assert_null (reply->error);
    cr_assert_not (reply->submitted->replayed);   // the first attempt wrote nothing
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    kn_client_destroy (&client);
}

Test (e2e, mmi_reports_services)
{
    kn_client_t *client = kn_test_stack_client (stack, 0, 2000, 0);
    kn_error_t err;
    zframe_t *reply = kn_client_call (client, "mmi.service", "intake", 6, &err);
    cr_assert (reply && zframe_streq (reply, "200"));
    zframe_destroy (&reply);
    reply = kn_client_call (client, "mmi.service", "nonesuch", 8, &err);
    cr_assert (reply && zframe_streq (reply, "404"));
    zframe_destroy (&reply);
    reply = kn_client_call (client, "mmi.unknown", "x", 1, &err);
    cr_assert (reply && zframe_streq (reply, "501"));
    zframe_destroy (&reply);
    kn_client_destroy (&client);
}

Test (e2e, worker_lost_mid_request_is_answered)
{
    //  Only a test worker serves intake; it takes a request and goes away unanswered.
    kn_test_stack_stop_intake (stack, SIGTERM);
    int64_t deadline = zclock_mono () + 5000;
    while (kn_test_stack_wait_service (stack, "intake", 100) && zclock_mono () < deadline)
        ;
    zcert_t *cert = zcert_load (kn_test_stack_service_cert_path (stack));
    kn_error_t err;
    kn_worker_t *worker = kn_worker_new (kn_test_stack_backend (stack), "intake", cert,
                                         kn_test_stack_server_key (stack), &err);
    zcert_destroy (&cert);
    cr_assert (worker);
    cr_assert (kn_test_stack_wait_service (stack, "intake", 5000));

    //  A raw MDP client socket: it sends, and we can wait on it afterwards.
    zsock_t *dealer = kn_test_stack_dealer (stack, 0, 0);
    zframe_t *body = kn_test_referral_request (13, "lost");
    zmsg_t *sent = zmsg_new ();
    zmsg_addstr (sent, "");
    zmsg_addstr (sent, KN_MDPC);
    zmsg_addstr (sent, "intake");
    zmsg_addmem (sent, zframe_data (body), zframe_size (body));
    zmsg_send (&sent, dealer);
    zframe_destroy (&body);

    zframe_t *reply_to = NULL;
    zmsg_t *taken = kn_worker_recv (worker, &reply_to, 5000);
    cr_assert_not_null (taken, "the test worker never got the request");
    zmsg_destroy (&taken);
    zframe_destroy (&reply_to);
    kn_worker_destroy (&worker);   // says DISCONNECT while busy, without replying

    zpoller_t *poller = zpoller_new (dealer, NULL);
    cr_assert_eq (zpoller_wait (poller, 5000), dealer, "the client was left waiting");
    zmsg_t *answer = zmsg_recv (dealer);
    zframe_t *last = zmsg_last (answer);
    Kinnet__V1__IntakeReply *decoded
        = kinnet__v1__intake_reply__unpack (NULL, zframe_size (last), zframe_data (last));
    cr_assert (decoded && decoded->error);
    cr_assert_eq (decoded->error->code, KINNET__V1__ERROR_CODE__SERVICE_UNAVAILABLE);
    kinnet__v1__intake_reply__free_unpacked (decoded, NULL);
    zmsg_destroy (&answer);
    zpoller_destroy (&poller);
    zsock_destroy (&dealer);
}

//  A worker that answers each request with its body, after a delay.
static void
s_slow_echo (zsock_t *pipe, void *args)
{
    zcert_t *cert = zcert_load (kn_test_stack_service_cert_path (stack));
    kn_error_t err;
    kn_worker_t *worker = kn_worker_new (kn_test_stack_backend (stack), "intake", cert,
                                         kn_test_stack_server_key (stack), &err);
    zcert_destroy (&cert);
    zsock_signal (pipe, 0);
    while (true) {
        zframe_t *reply_to = NULL;
        zmsg_t *request = kn_worker_recv (worker, &reply_to, 50);
        if (zsock_events (pipe) & ZMQ_POLLIN)
            break;   // $TERM
        if (!request)
            continue;
        zclock_sleep (300);   // slower than the client's patience, on purpose
        zframe_t *caller = zmsg_pop (request);
        zframe_destroy (&caller);
        kn_worker_send (worker, &request, reply_to);
        zframe_destroy (&reply_to);
    }
    kn_worker_destroy (&worker);
}

Test (e2e, a_late_reply_is_never_taken_for_the_next_one)
{
    kn_test_stack_stop_intake (stack, SIGTERM);
    int64_t deadline = zclock_mono () + 5000;
    while (kn_test_stack_wait_service (stack, "intake", 100) && zclock_mono () < deadline)
        ;
    zactor_t *slow = zactor_new (s_slow_echo, NULL);
    cr_assert (kn_test_stack_wait_service (stack, "intake", 5000));

    kn_client_t *client = kn_test_stack_client (stack, 0, 100, 0);
    kn_error_t err;
    zframe_t *reply = kn_client_call (client, "intake", "first", 5, &err);
    cr_assert_null (reply, "the slow worker answered within 100 ms?");
    kn_client_set_timeout (client, 3000);
    reply = kn_client_call (client, "intake", "second", 6, &err);
    cr_assert_not_null (reply, "%s", err.message);
    cr_assert (zframe_streq (reply, "second"), "got the answer to an earlier request");
    zframe_destroy (&reply);
    kn_client_destroy (&client);
    zactor_destroy (&slow);
}
