/*  Case routing end to end through the broker over CURVE, with the real broker,
    intake, consent and routing processes: the full story of a family's case,
    bad requests, deadlines driven by the stack's clock file, feed long polls and
    isolation, kill -9 of routing mid-stream, two routing processes on one
    stream, an open transaction that holds up neither routing nor sealing, and the
    CLI. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kinnet/v1/routing.pb-c.h"
#include "kn_agency.h"
#include "kn_test.h"

static kn_test_stack_t *stack;
//  Agencies: 0 school (the stack's), 1 health (the stack's), then social, ngo,
//  outsider added here with certificates of their own.
enum { SCHOOL, HEALTH, SOCIAL, NGO, OUTSIDER, AGENCIES };
static char ids[AGENCIES][KN_UUID_STR];
static char certs[AGENCIES][420];

//  SQL on the stack's database (printf-style), its result dropped.
#define s_sql(...) free (kn_test_sqlf (kn_test_stack_db_url (stack), __VA_ARGS__))

#define s_count(...) kn_test_countf (kn_test_stack_db_url (stack), __VA_ARGS__)

static void s_await_admitted (int agency);

static void
s_setup (void)
{
    stack = kn_test_stack_new ();
    snprintf (ids[SCHOOL], KN_UUID_STR, "%s", kn_test_stack_agency_id (stack, 0));
    snprintf (ids[HEALTH], KN_UUID_STR, "%s", kn_test_stack_agency_id (stack, 1));
    snprintf (certs[SCHOOL], 420, "%s", kn_test_stack_agency_cert_path (stack, 0));
    snprintf (certs[HEALTH], 420, "%s", kn_test_stack_agency_cert_path (stack, 1));
    const char *names[] = {"", "", "Social care", "Family NGO", "Elsewhere"};
    const char *sectors[] = {"", "", "social_services", "ngo_community", "housing"};
    kn_error_t err;
    kn_db_t *admin = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    for (int a = SOCIAL; a < AGENCIES; a++) {
        zcert_t *cert = zcert_new ();
        char path[400];
        snprintf (path, sizeof path, "%s/extra%d.cert", kn_test_stack_dir (stack), a);
        cr_assert_eq (zcert_save (cert, path), 0);
        snprintf (certs[a], 420, "%s_secret", path);
        cr_assert_eq (kn_agency_add (admin, names[a], sectors[a], "north",
                                     zcert_public_txt (cert), ids[a], &err),
                      0, "%s", err.message);
        zcert_destroy (&cert);
    }
    kn_db_destroy (&admin);
    //  Parenting support: social care. Income: the NGO. Physical health: health.
    s_sql ("INSERT INTO core.agency_need VALUES ('%s', 8), ('%s', 7), ('%s', 5)", ids[SOCIAL],
           ids[NGO], ids[HEALTH]);
    s_sql ("UPDATE core.district SET child_protection_lead = '%s' WHERE code = 'north'",
           ids[SOCIAL]);
    for (int a = SOCIAL; a < AGENCIES; a++)
        s_await_admitted (a);
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

//  The broker learns new keys through NOTIFY: wait until it admits agency.
static void
s_await_admitted (int agency)
{
    int64_t deadline = zclock_mono () + 15000;
    bool admitted = false;
    while (!admitted && zclock_mono () < deadline) {
        zcert_t *cert = zcert_load (certs[agency]);
        kn_error_t err;
        kn_client_t *client = kn_client_new (kn_test_stack_frontend (stack), cert,
                                             kn_test_stack_server_key (stack), &err);
        zcert_destroy (&cert);
        kn_client_set_timeout (client, 1000);
        kn_client_set_retries (client, 0);
        zframe_t *reply = kn_client_call (client, "mmi.service", "feed", 4, &err);
        admitted = reply != NULL;
        zframe_destroy (&reply);
        kn_client_destroy (&client);
        if (!admitted)
            zclock_sleep (50);   // not a busy loop of handshakes against the broker
    }
    cr_assert (admitted, "the broker never admitted agency %d", agency);
}

TestSuite (routing_e2e, .init = s_setup, .fini = s_teardown, .timeout = 240);

static kn_client_t *
s_client (int agency, int timeout_ms)
{
    zcert_t *cert = zcert_load (certs[agency]);
    cr_assert (cert);
    kn_error_t err;
    kn_client_t *client
        = kn_client_new (kn_test_stack_frontend (stack), cert, kn_test_stack_server_key (stack), &err);
    zcert_destroy (&cert);
    cr_assert (client, "%s", err.message);
    kn_client_set_timeout (client, timeout_ms);
    kn_client_set_retries (client, 2);
    return client;
}

//  One request; the decoded reply (caller frees).
static ProtobufCMessage *
s_call (int agency, const char *service, const ProtobufCMessage *request,
        const ProtobufCMessageDescriptor *reply_type, int timeout_ms)
{
    kn_client_t *client = s_client (agency, timeout_ms);
    size_t len = protobuf_c_message_get_packed_size (request);
    uint8_t *buf = malloc (len ? len : 1);
    protobuf_c_message_pack (request, buf);
    kn_error_t err;
    zframe_t *frame = kn_client_call (client, service, buf, len, &err);
    free (buf);
    kn_client_destroy (&client);
    cr_assert (frame, "%s call failed: %s", service, err.message);
    ProtobufCMessage *reply
        = protobuf_c_message_unpack (reply_type, NULL, zframe_size (frame), zframe_data (frame));
    zframe_destroy (&frame);
    cr_assert (reply);
    return reply;
}

static Kinnet__V1__RoutingReply *
s_routing (int agency, Kinnet__V1__RoutingRequest *request)
{
    return (Kinnet__V1__RoutingReply *) s_call (agency, "routing", &request->base,
                                                &kinnet__v1__routing_reply__descriptor, 5000);
}

//  Refer child seed from the school for needs; returns the referral id.
static void
s_refer (int seed, const int *needs, size_t n, int urgency, char referral_id[KN_UUID_STR])
{
    char given[32], key[32];
    snprintf (given, sizeof given, "Child%d", seed);
    snprintf (key, sizeof key, "e2e-%d-%zu", seed, n);
    Kinnet__V1__Person child = KINNET__V1__PERSON__INIT;
    child.given_name = given;
    child.family_name = "Haddad";
    child.date_of_birth = "2015-09-12";
    char *languages[] = {"ar"};
    child.languages = languages;
    child.n_languages = 1;
    Kinnet__V1__Need msgs[4], *ptrs[4];
    for (size_t i = 0; i < n; i++) {
        kinnet__v1__need__init (&msgs[i]);
        msgs[i].category = needs[i];
        msgs[i].description = "Support needed at home.";
        ptrs[i] = &msgs[i];
    }
    Kinnet__V1__LawfulGround ground = KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    ground.justification = "Early help assessment.";
    Kinnet__V1__SubmitReferral submit = KINNET__V1__SUBMIT_REFERRAL__INIT;
    submit.idempotency_key = key;
    submit.child = &child;
    submit.needs = ptrs;
    submit.n_needs = n;
    submit.urgency = urgency;
    submit.district = "north";
    submit.lawful_ground = &ground;
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_SUBMIT;
    request.submit = &submit;
    Kinnet__V1__IntakeReply *reply = (Kinnet__V1__IntakeReply *) s_call (
        SCHOOL, "intake", &request.base, &kinnet__v1__intake_reply__descriptor, 5000);
    cr_assert_null (reply->error, "refer: %s", reply->error ? reply->error->message : "");
    snprintf (referral_id, KN_UUID_STR, "%s", reply->submitted->referral_id);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
}

//  Long-poll agency's feed from *after until an event of topic arrives (its
//  involvement/offer id into id, when given) or 30 s pass. Returns the event's
//  seq, or 0 on time-out.
static int64_t
s_await (int agency, int64_t *after, const char *topic, char id[KN_UUID_STR])
{
    int64_t deadline = zclock_mono () + 30000;
    while (zclock_mono () < deadline) {
        Kinnet__V1__FeedRead read = KINNET__V1__FEED_READ__INIT;
        read.after = *after;
        read.wait_ms = 5000;
        Kinnet__V1__FeedRequest request = KINNET__V1__FEED_REQUEST__INIT;
        request.op_case = KINNET__V1__FEED_REQUEST__OP_READ;
        request.read = &read;
        Kinnet__V1__FeedReply *reply = (Kinnet__V1__FeedReply *) s_call (
            agency, "feed", &request.base, &kinnet__v1__feed_reply__descriptor, 10000);
        //  A read is safe to repeat: after a routing process was killed, the broker
        //  may hand a read to one of its dead workers and answer SERVICE_UNAVAILABLE.
        if (reply->error && reply->error->code == KINNET__V1__ERROR_CODE__SERVICE_UNAVAILABLE) {
            kinnet__v1__feed_reply__free_unpacked (reply, NULL);
            continue;
        }
        cr_assert_null (reply->error, "feed: %s", reply->error ? reply->error->message : "");
        int64_t found = 0;
        for (size_t i = 0; i < reply->batch->n_events && !found; i++) {
            Kinnet__V1__FeedEvent *event = reply->batch->events[i];
            *after = event->seq;
            if (strcmp (event->topic, topic) == 0) {
                found = event->seq;
                if (id && event->body_case == KINNET__V1__FEED_EVENT__BODY_OFFER)
                    snprintf (id, KN_UUID_STR, "%s", event->offer->involvement->involvement_id);
                else if (id && event->body_case == KINNET__V1__FEED_EVENT__BODY_INVOLVEMENT)
                    snprintf (id, KN_UUID_STR, "%s", event->involvement->involvement_id);
                else if (id && event->body_case == KINNET__V1__FEED_EVENT__BODY_ESCALATION)
                    snprintf (id, KN_UUID_STR, "%s",
                              event->escalation->involvement->involvement_id);
            }
        }
        kinnet__v1__feed_reply__free_unpacked (reply, NULL);
        if (found)
            return found;
    }
    return 0;
}

static Kinnet__V1__RoutingReply *
s_accept (int agency, const char *offer, const char *key)
{
    Kinnet__V1__AcceptOffer op = KINNET__V1__ACCEPT_OFFER__INIT;
    op.idempotency_key = (char *) key;
    op.offer_id = (char *) offer;
    op.caseworker_id = "cw-7";
    Kinnet__V1__RoutingRequest request = KINNET__V1__ROUTING_REQUEST__INIT;
    request.op_case = KINNET__V1__ROUTING_REQUEST__OP_ACCEPT;
    request.accept = &op;
    return s_routing (agency, &request);
}

static void
s_expect_error (Kinnet__V1__RoutingReply *reply, int code, const char *field)
{
    cr_assert (reply->error, "expected an error");
    cr_assert_eq (reply->error->code, code, "code %d (%s)", reply->error->code,
                  reply->error->message);
    if (field)
        cr_assert_str_eq (reply->error->field, field);
    kinnet__v1__routing_reply__free_unpacked (reply, NULL);
}

static void
s_expect_ok (Kinnet__V1__RoutingReply *reply)
{
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    kinnet__v1__routing_reply__free_unpacked (reply, NULL);
}

Test (routing_e2e, a_family_case_from_referral_to_closure)
{
    char referral[KN_UUID_STR];
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT,
                         KINNET__V1__NEED_CATEGORY__INCOME_POVERTY,
                         KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH};
    s_refer (1, needs, 3, KINNET__V1__URGENCY__PRIORITY, referral);

    int64_t social_seq = 0, ngo_seq = 0, health_seq = 0, school_seq = 0, outsider_seq = 0;
    char social_offer[KN_UUID_STR], ngo_offer[KN_UUID_STR], health_offer[KN_UUID_STR];
    cr_assert (s_await (SOCIAL, &social_seq, "offer.made", social_offer));
    cr_assert (s_await (NGO, &ngo_seq, "offer.made", ngo_offer));
    cr_assert (s_await (HEALTH, &health_seq, "offer.made", health_offer));

    //  Bad requests change nothing: someone else's offer, an unknown one, a
    //  missing decline reason, an empty request.
    int feed_rows = s_count ("SELECT count (*) FROM routing.feed");
    s_expect_error (s_accept (NGO, social_offer, "x-1"), KINNET__V1__ERROR_CODE__NOT_FOUND,
                    "offer_id");
    s_expect_error (s_accept (NGO, "6d0f5f0e-8f5c-4f57-a3d5-0f3a7c1b2e44", "x-2"),
                    KINNET__V1__ERROR_CODE__NOT_FOUND, "offer_id");
    s_expect_error (s_accept (NGO, "not-a-uuid", "x-3"), KINNET__V1__ERROR_CODE__INVALID_ARGUMENT,
                    "offer_id");
    Kinnet__V1__DeclineOffer no_reason = KINNET__V1__DECLINE_OFFER__INIT;
    no_reason.idempotency_key = "x-4";
    no_reason.offer_id = health_offer;
    Kinnet__V1__RoutingRequest request = KINNET__V1__ROUTING_REQUEST__INIT;
    request.op_case = KINNET__V1__ROUTING_REQUEST__OP_DECLINE;
    request.decline = &no_reason;
    s_expect_error (s_routing (HEALTH, &request), KINNET__V1__ERROR_CODE__INVALID_ARGUMENT,
                    "reason");
    Kinnet__V1__RoutingRequest empty = KINNET__V1__ROUTING_REQUEST__INIT;
    s_expect_error (s_routing (HEALTH, &empty), KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "op");
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.feed"), feed_rows);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement WHERE status <> 'offered'"),
                  0);

    //  Social care and the NGO accept; health declines (not eligible).
    s_expect_ok (s_accept (SOCIAL, social_offer, "s-1"));
    s_expect_ok (s_accept (NGO, ngo_offer, "n-1"));
    s_expect_error (s_accept (NGO, ngo_offer, "n-2"), KINNET__V1__ERROR_CODE__CONFLICT, "offer_id");
    Kinnet__V1__DeclineOffer decline = KINNET__V1__DECLINE_OFFER__INIT;
    decline.idempotency_key = "h-1";
    decline.offer_id = health_offer;
    decline.reason = KINNET__V1__DECLINE_REASON__NOT_ELIGIBLE;
    request.decline = &decline;
    s_expect_ok (s_routing (HEALTH, &request));
    //  No other health service: the need is unplaced and the school is told.
    cr_assert (s_await (SCHOOL, &school_seq, "need.unplaced", NULL));

    //  The case, as the school sees it.
    char *case_id = kn_test_sql (kn_test_stack_db_url (stack),
                                 "SELECT id FROM routing.case LIMIT 1");
    Kinnet__V1__GetCase get = KINNET__V1__GET_CASE__INIT;
    get.case_id = case_id;
    Kinnet__V1__RoutingRequest show = KINNET__V1__ROUTING_REQUEST__INIT;
    show.op_case = KINNET__V1__ROUTING_REQUEST__OP_GET_CASE;
    show.get_case = &get;
    Kinnet__V1__RoutingReply *reply = s_routing (SCHOOL, &show);
    cr_assert_null (reply->error);
    cr_assert_eq (reply->case_->n_involvements, 3);
    cr_assert_eq (reply->case_->n_needs, 3);
    cr_assert_eq (reply->case_->n_referral_ids, 1);
    cr_assert_str_eq (reply->case_->referral_ids[0], referral);
    kinnet__v1__routing_reply__free_unpacked (reply, NULL);
    //  Health declined: it sees only its own offer, not the team.
    reply = s_routing (HEALTH, &show);
    cr_assert_null (reply->error);
    cr_assert_eq (reply->case_->n_involvements, 1);
    cr_assert_str_eq (reply->case_->involvements[0]->agency_id, ids[HEALTH]);
    kinnet__v1__routing_reply__free_unpacked (reply, NULL);
    //  An agency with no part in it does not know it exists.
    s_expect_error (s_routing (OUTSIDER, &show), KINNET__V1__ERROR_CODE__NOT_FOUND, "case_id");

    //  The school appoints social care's caseworker as lead professional; the NGO hears.
    Kinnet__V1__AppointLead lead = KINNET__V1__APPOINT_LEAD__INIT;
    lead.idempotency_key = "lead-1";
    lead.case_id = case_id;
    lead.agency_id = ids[SOCIAL];
    lead.lead_caseworker_id = "sw-42";
    Kinnet__V1__RoutingRequest appoint = KINNET__V1__ROUTING_REQUEST__INIT;
    appoint.op_case = KINNET__V1__ROUTING_REQUEST__OP_LEAD;
    appoint.lead = &lead;
    reply = s_routing (SCHOOL, &appoint);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    cr_assert_str_eq (reply->case_->lead_agency_id, ids[SOCIAL]);
    kinnet__v1__routing_reply__free_unpacked (reply, NULL);
    cr_assert (s_await (NGO, &ngo_seq, "lead.changed", NULL));

    //  First contacts, then both involvements close.
    const int team[] = {SOCIAL, NGO};
    for (int t = 0; t < 2; t++) {
        Kinnet__V1__RecordContact contact = KINNET__V1__RECORD_CONTACT__INIT;
        contact.idempotency_key = "contact-1";
        contact.case_id = case_id;
        Kinnet__V1__RoutingRequest op = KINNET__V1__ROUTING_REQUEST__INIT;
        op.op_case = KINNET__V1__ROUTING_REQUEST__OP_CONTACT;
        op.contact = &contact;
        reply = s_routing (team[t], &op);
        cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
        cr_assert_not_null (reply->involvement->first_contact_at);
        kinnet__v1__routing_reply__free_unpacked (reply, NULL);
    }
    for (int t = 0; t < 2; t++) {
        Kinnet__V1__CloseInvolvement close = KINNET__V1__CLOSE_INVOLVEMENT__INIT;
        close.idempotency_key = "close-1";
        close.case_id = case_id;
        close.outcome = KINNET__V1__OUTCOME__NEEDS_MET;
        Kinnet__V1__RoutingRequest op = KINNET__V1__ROUTING_REQUEST__INIT;
        op.op_case = KINNET__V1__ROUTING_REQUEST__OP_CLOSE;
        op.close = &close;
        reply = s_routing (team[t], &op);
        cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
        cr_assert_eq (reply->involvement->status, KINNET__V1__INVOLVEMENT_STATUS__CLOSED);
        kinnet__v1__routing_reply__free_unpacked (reply, NULL);
    }
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement WHERE status = 'closed'"), 2);
    //  The unplaced health need keeps the case open.
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.case WHERE status = 'open'"), 1);

    //  Feeds are the agency's own: the outsider's is empty; nobody else's events
    //  reach it, whatever cursor it asks for.
    Kinnet__V1__FeedRead read = KINNET__V1__FEED_READ__INIT;
    Kinnet__V1__FeedRequest feed = KINNET__V1__FEED_REQUEST__INIT;
    feed.op_case = KINNET__V1__FEED_REQUEST__OP_READ;
    feed.read = &read;
    Kinnet__V1__FeedReply *batch = (Kinnet__V1__FeedReply *) s_call (
        OUTSIDER, "feed", &feed.base, &kinnet__v1__feed_reply__descriptor, 5000);
    cr_assert_null (batch->error);
    cr_assert_eq (batch->batch->n_events, 0);
    cr_assert_eq (batch->batch->last_seq, 0);
    kinnet__v1__feed_reply__free_unpacked (batch, NULL);
    (void) outsider_seq;
    //  A wait beyond the limit is refused.
    read.wait_ms = 60000;
    batch = (Kinnet__V1__FeedReply *) s_call (OUTSIDER, "feed", &feed.base,
                                              &kinnet__v1__feed_reply__descriptor, 5000);
    cr_assert (batch->error);
    cr_assert_str_eq (batch->error->field, "wait_ms");
    kinnet__v1__feed_reply__free_unpacked (batch, NULL);
    //  Every request left an audit row, refusals included.
    cr_assert_geq (s_count ("SELECT count (*) FROM core.audit WHERE service = 'routing'"
                            " AND result = 'not_found'"), 3);
    free (case_id);
}

Test (routing_e2e, deadlines_follow_the_clock)
{
    char referral[KN_UUID_STR];
    const int needs[] = {KINNET__V1__NEED_CATEGORY__INCOME_POVERTY};
    s_refer (2, needs, 1, KINNET__V1__URGENCY__URGENT, referral);
    int64_t ngo_seq = 0, school_seq = 0, lead_seq = 0;
    char offer[KN_UUID_STR], escalated[KN_UUID_STR];
    cr_assert (s_await (NGO, &ngo_seq, "offer.made", offer));
    //  A day and a second later (the urgent deadline is one day): expired, the
    //  school and the district's child-protection lead are told.
    kn_test_stack_set_clock (stack, (int64_t) time (NULL) + 86401);
    cr_assert (s_await (NGO, &ngo_seq, "offer.expired", NULL), "no expiry");
    cr_assert (s_await (SCHOOL, &school_seq, "escalation", escalated));
    cr_assert_str_eq (escalated, offer);
    cr_assert (s_await (SOCIAL, &lead_seq, "escalation", NULL));
    //  Too late to accept.
    s_expect_error (s_accept (NGO, offer, "late-1"), KINNET__V1__ERROR_CODE__CONFLICT, "offer_id");
    kn_test_stack_set_clock (stack, (int64_t) time (NULL));
}

//  When offers do not arrive: where the pipeline stopped, and the routing logs.
static void
s_diagnose (void)
{
    cr_log_error ("referrals %d, routed %d, involvements %d, NGO feed offers %d,"
                  " outbox events past the cursor %d, skipped behind it %d",
                  s_count ("SELECT count (*) FROM intake.referral"),
                  s_count ("SELECT count (*) FROM routing.case_referral"),
                  s_count ("SELECT count (*) FROM routing.involvement"),
                  s_count ("SELECT count (*) FROM routing.feed WHERE agency_id = '%s'"
                           " AND topic = 'offer.made'", ids[NGO]),
                  kn_test_outbox_past_cursor (kn_test_stack_db_url (stack)),
                  kn_test_outbox_skipped (kn_test_stack_db_url (stack)));
    for (int i = 0; i < 2; i++) {
        char command[600];
        snprintf (command, sizeof command,
                  "tail -n 15 '%s'/routing%s.log 1>&2", kn_test_stack_dir (stack),
                  i ? "1" : "");
        if (system (command) != 0)
            cr_log_error ("no log at %s", command);
    }
}

//  Refer count distinct children for income support (one offer each, to the
//  NGO) and wait until the NGO's feed holds that many offers. Returns how many.
static int
s_offers_for (int first_seed, int count, int64_t *ngo_seq)
{
    const int needs[] = {KINNET__V1__NEED_CATEGORY__INCOME_POVERTY};
    char referral[KN_UUID_STR];
    for (int i = 0; i < count; i++)
        s_refer (first_seed + i, needs, 1, KINNET__V1__URGENCY__ROUTINE, referral);
    int offers = 0;
    while (offers < count && s_await (NGO, ngo_seq, "offer.made", NULL))
        offers++;
    if (offers < count)
        s_diagnose ();
    return offers;
}

Test (routing_e2e, kill_9_mid_stream_loses_and_repeats_nothing)
{
    int64_t ngo_seq = 0;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__INCOME_POVERTY};
    char referral[KN_UUID_STR];
    for (int i = 0; i < 10; i++)
        s_refer (100 + i, needs, 1, KINNET__V1__URGENCY__ROUTINE, referral);
    kn_test_stack_stop_routing (stack, 0, SIGKILL);
    for (int i = 10; i < 20; i++)
        s_refer (100 + i, needs, 1, KINNET__V1__URGENCY__ROUTINE, referral);
    kn_test_stack_start_routing (stack, 0);
    int offers = 0;
    while (offers < 20 && s_await (NGO, &ngo_seq, "offer.made", NULL))
        offers++;
    cr_assert_eq (offers, 20);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.case_referral"), 20);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement"), 20);
    cr_assert_eq (s_count ("SELECT count (*) FROM (SELECT need_id FROM routing.involvement"
                           " GROUP BY need_id HAVING count (*) > 1) d"), 0);
    cr_assert_eq (kn_test_outbox_skipped (kn_test_stack_db_url (stack)), 0);
}

Test (routing_e2e, two_routing_processes_offer_once)
{
    kn_test_stack_start_routing (stack, 1);
    int64_t ngo_seq = 0;
    cr_assert_eq (s_offers_for (200, 30, &ngo_seq), 30);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement"), 30);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.feed WHERE agency_id = '%s'"
                           " AND topic = 'offer.made'", ids[NGO]), 30);
    cr_assert_eq (kn_test_outbox_skipped (kn_test_stack_db_url (stack)), 0);
    kn_test_stack_stop_routing (stack, 1, SIGTERM);
}

//  Await count_sql's count (its one %s is xid) reaching 0 for up to 30 s; true when
//  it did.
static bool
s_await_none (const char *count_sql, const char *xid)
{
    int64_t deadline = zclock_mono () + 30000;
    char sql[2048];
    //  count_sql is one of this file's constants.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf (sql, sizeof sql, count_sql, xid);
#pragma GCC diagnostic pop
    while (kn_test_count (kn_test_stack_db_url (stack), sql) != 0) {
        if (zclock_mono () > deadline)
            return false;
        zclock_sleep (50);
    }
    return true;
}

//  An operator's forgotten BEGIN that took an xid (issue 16) and writes nothing:
//  while it stays open, a referral is still routed and the audit rows and
//  disclosures written since are still sealed.
Test (routing_e2e, an_open_transaction_stops_neither_routing_nor_sealing)
{
    PGconn *idle = PQconnectdb (kn_test_stack_db_url (stack));
    cr_assert_eq (PQstatus (idle), CONNECTION_OK);
    PGresult *began = PQexec (idle, "BEGIN; SELECT txid_current ()");
    cr_assert_eq (PQresultStatus (began), PGRES_TUPLES_OK, "%s", PQerrorMessage (idle));
    char xid[32];
    snprintf (xid, sizeof xid, "%s", PQgetvalue (began, 0, 0));
    PQclear (began);

    int64_t ngo_seq = 0;
    cr_assert_eq (s_offers_for (300, 1, &ngo_seq), 1, "not routed");
    cr_assert_gt (s_count ("SELECT count (*) FROM core.audit WHERE xid > '%s'", xid), 0);
    cr_assert (
        s_await_none ("SELECT count (*) FROM core.audit a WHERE a.xid > '%s' AND NOT"
                      " EXISTS (SELECT 1 FROM core.audit_chain c"
                      "         WHERE c.audit_id = a.id)",
                      xid),
        "audit rows not sealed");
    cr_assert (
        s_await_none ("SELECT count (*) FROM core.disclosure d WHERE d.xid > '%s' AND NOT"
                      " EXISTS (SELECT 1 FROM core.disclosure_chain c"
                      "         WHERE c.disclosure_id = d.id)",
                      xid),
        "disclosures not sealed");
    //  All along the same transaction, still open.
    PGresult *still = PQexec (idle, "SELECT txid_current ()");
    cr_assert_eq (PQresultStatus (still), PGRES_TUPLES_OK, "%s", PQerrorMessage (idle));
    cr_assert_str_eq (PQgetvalue (still, 0, 0), xid);
    PQclear (still);
    PQfinish (idle);
}

//  Run the CLI as agency (an index into certs); returns its exit code and output.
#define s_cli(agency, output, ...) kn_test_run_cli (s_env (agency), output, __VA_ARGS__)

static const char *
s_env (int agency)
{
    static char env[2048];
    snprintf (env, sizeof env,
              "KINNET_ENDPOINT='%s' KINNET_CERT='%s' KINNET_SERVER_KEY='%s'"
              " KINNET_DATABASE_URL='%s'",
              kn_test_stack_frontend (stack), certs[agency], kn_test_stack_server_key (stack),
              kn_test_stack_db_url (stack));
    return env;
}

Test (routing_e2e, cli)
{
    char referral[KN_UUID_STR];
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    s_refer (3, needs, 1, KINNET__V1__URGENCY__ROUTINE, referral);
    int64_t seq = 0;
    char offer[KN_UUID_STR];
    cr_assert (s_await (SOCIAL, &seq, "offer.made", offer));
    char *out = NULL;
    cr_assert_eq (s_cli (SOCIAL, &out, "--format json feed"), 0, "%s", out);
    cr_assert (strstr (out, "\"offer.made\"") && strstr (out, offer), "%s", out);
    cr_assert_null (strstr (out, "Child3"));   // never a name in the feed
    free (out);
    cr_assert_eq (s_cli (SOCIAL, &out, "feed --after 1"), 0, "%s", out);
    cr_assert_null (strstr (out, offer), "%s", out);
    free (out);
    cr_assert_eq (s_cli (SOCIAL, NULL, "offer decline %s --reason sleepy", offer), 3);
    cr_assert_eq (s_cli (SOCIAL, NULL, "offer accept %s --caseworker sw-1", offer), 0);
    //  The same command again is a retry, not a second acceptance.
    cr_assert_eq (s_cli (SOCIAL, &out, "offer accept %s --caseworker sw-1", offer), 0);
    cr_assert (strstr (out, "repeat"), "%s", out);
    free (out);
    cr_assert_eq (s_cli (NGO, NULL, "offer accept %s", offer), 6);
    char *case_id = kn_test_sql (kn_test_stack_db_url (stack), "SELECT id FROM routing.case");
    cr_assert_eq (s_cli (SOCIAL, &out, "case show %s", case_id), 0);
    cr_assert (strstr (out, "ACCEPTED") && strstr (out, "PARENTING_SUPPORT"), "%s", out);
    free (out);
    cr_assert_eq (s_cli (SOCIAL, NULL, "case show 6d0f5f0e-8f5c-4f57-a3d5-0f3a7c1b2e44"), 6);
    cr_assert_eq (s_cli (SOCIAL, NULL, "case lead %s --agency %s --caseworker sw-1", case_id,
                         ids[SOCIAL]), 0);
    cr_assert_eq (s_cli (SOCIAL, NULL, "case contact %s", case_id), 0);
    cr_assert_eq (s_cli (SOCIAL, NULL, "case close %s --outcome bored", case_id), 3);
    cr_assert_eq (s_cli (SOCIAL, NULL, "case close %s --outcome needs_met", case_id), 0);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.case WHERE status = 'closed'"), 1);
    free (case_id);
    //  The rules are data an administrator changes, through the admin service; an
    //  agency without the administrator role is refused.
    cr_assert_eq (s_cli (SCHOOL, NULL, "admin routing set deadline.routine '2 days'"), 4);
    char *admin = kn_test_stack_cli_env (stack, KN_TEST_ADMIN);
    cr_assert_eq (kn_test_run_cli (admin, NULL, "admin routing set deadline.routine '2 days'"), 0);
    cr_assert_eq (kn_test_run_cli (admin, NULL, "admin routing set deadline.routine 'soon'"), 3);
    cr_assert_eq (kn_test_run_cli (admin, NULL, "admin routing set rank.order language,karma"), 3);
    cr_assert_eq (kn_test_run_cli (admin, NULL, "admin routing set rank.order headroom,language"),
                  0);
    cr_assert_eq (kn_test_run_cli (admin, &out, "--format json admin routing show"), 0);
    cr_assert (strstr (out, "\"headroom,language\"") && strstr (out, "\"2 days\""), "%s", out);
    free (out);
    //  Text: each rule with when it was set.
    cr_assert_eq (kn_test_run_cli (admin, &out, "admin routing show"), 0);
    cr_assert (strstr (out, "deadline.routine                 2 days"), "%s", out);
    cr_assert (strstr (out, "(since "), "%s", out);
    free (out);
    free (admin);
    cr_assert_eq (s_cli (SCHOOL, NULL, "feed --help"), 0);
    cr_assert_eq (s_cli (SCHOOL, NULL, "case --help"), 0);
    cr_assert_eq (s_cli (SCHOOL, NULL, "offer --help"), 0);
}
