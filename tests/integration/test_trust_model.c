/*  The trust model end to end, through the broker with CURVE, tried as a rogue
    agency would: agency 0 is a school that refers a child (the controller of the
    referral), agency 1 an agency account that wants the school's data, agency 2 a
    data-protection officer. A ground an agency records for itself releases nothing
    of another agency's data; a release the controller approves does, with each
    step in both feeds and each read in the disclosure log. Ids are one form
    whatever their case; a NUL inside a string is refused, not cut. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>

#include "kinnet/v1/consent.pb-c.h"
#include "kinnet/v1/intake.pb-c.h"
#include "kinnet/v1/reporting.pb-c.h"
#include "kinnet/v1/routing.pb-c.h"
#include "kn_agency.h"
#include "kn_test.h"

#define SCHOOL 0
#define ROGUE  1
#define DPO    2

static kn_test_stack_t *stack;
static Kinnet__V1__Person child = KINNET__V1__PERSON__INIT;
static char dpo_id[KN_UUID_STR];

static void
s_setup (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    stack = kn_test_stack_new ();
    child.given_name = "Mira";
    child.family_name = "Haddad";
    child.date_of_birth = "2016-03-04";
    //  Agency 2's certificate exists but is not registered: register it as a DPO.
    kn_error_t err;
    kn_db_t *admin = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    cr_assert (admin, "%s", err.message);
    zcert_t *cert = kn_test_stack_agency_cert (stack, DPO);
    cr_assert_eq (kn_agency_add (admin, "Partnership DPO", "local_authority", "north",
                                 zcert_public_txt (cert), dpo_id, &err),
                  0, "%s", err.message);
    zcert_destroy (&cert);
    cr_assert_eq (
        kn_agency_set_role (admin, dpo_id, "data_protection_officer", true, &err), 0);
    kn_db_destroy (&admin);
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (trust_model, .init = s_setup, .fini = s_teardown, .timeout = 180);

static const char *
s_id (int agency)
{
    return agency == DPO ? dpo_id : kn_test_stack_agency_id (stack, agency);
}

//  One request, packed as given (bytes may be hand-made), and its decoded reply.
static ProtobufCMessage *
s_call_bytes (int agency, const char *service, const uint8_t *buf, size_t len,
              const ProtobufCMessageDescriptor *reply_type)
{
    kn_client_t *client = kn_test_stack_client (stack, agency, 10000, 0);
    kn_error_t err;
    zframe_t *frame = kn_client_call (client, service, buf, len, &err);
    kn_client_destroy (&client);
    cr_assert (frame, "no reply: %s", err.message);
    ProtobufCMessage *reply = protobuf_c_message_unpack (
        reply_type, NULL, zframe_size (frame), zframe_data (frame));
    zframe_destroy (&frame);
    cr_assert (reply);
    return reply;
}

static ProtobufCMessage *
s_call (int agency, const char *service, const ProtobufCMessage *request,
        const ProtobufCMessageDescriptor *reply_type)
{
    size_t len = protobuf_c_message_get_packed_size (request);
    uint8_t *buf = malloc (len + 1);
    protobuf_c_message_pack (request, buf);
    ProtobufCMessage *reply = s_call_bytes (agency, service, buf, len, reply_type);
    free (buf);
    return reply;
}

static Kinnet__V1__ConsentReply *
s_consent (int agency, Kinnet__V1__ConsentRequest *request)
{
    return (Kinnet__V1__ConsentReply *)s_call (agency, "consent", &request->base,
                                               &kinnet__v1__consent_reply__descriptor);
}

static Kinnet__V1__IntakeReply *
s_intake (int agency, Kinnet__V1__IntakeRequest *request)
{
    return (Kinnet__V1__IntakeReply *)s_call (agency, "intake", &request->base,
                                              &kinnet__v1__intake_reply__descriptor);
}

#define IDENTITY   KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT
#define NARRATIVE  KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE
#define ASSESSMENT KINNET__V1__PURPOSE__REFERRAL_AND_ASSESSMENT

//  A guardian's consent recorded by agency, naming itself and recipient (may be
//  NULL: the recorder only), for identity and narrative. Returns its id (caller
//  frees).
static char *
s_record_consent (int agency, const char *key, const char *recipient)
{
    Kinnet__V1__SubjectRef subject = KINNET__V1__SUBJECT_REF__INIT;
    subject.person = &child;
    Kinnet__V1__Guardian guardian = KINNET__V1__GUARDIAN__INIT;
    guardian.given_name = "Rana";
    guardian.family_name = "Haddad";
    guardian.relationship = KINNET__V1__RELATIONSHIP__MOTHER;
    guardian.parental_responsibility = true;
    char *agencies[] = {(char *)s_id (agency), (char *)recipient};
    Kinnet__V1__DataCategory categories[] = {IDENTITY, NARRATIVE};
    Kinnet__V1__Purpose purposes[] = {ASSESSMENT};
    Kinnet__V1__Scope scope = KINNET__V1__SCOPE__INIT;
    scope.agencies = agencies;
    scope.n_agencies = recipient ? 2 : 1;
    scope.categories = categories;
    scope.n_categories = 2;
    scope.purposes = purposes;
    scope.n_purposes = 1;
    Kinnet__V1__RecordConsent record = KINNET__V1__RECORD_CONSENT__INIT;
    record.idempotency_key = (char *)key;
    record.subject = &subject;
    record.given_by = KINNET__V1__CONSENT_GIVER__GUARDIAN;
    record.guardian = &guardian;
    record.scope = &scope;
    record.method = KINNET__V1__COLLECTION_METHOD__WRITTEN;
    record.evidence_reference = "form-17";
    record.privacy_notice_version = "2026-09";
    record.privacy_notice_language = "ar";
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_RECORD;
    request.record = &record;
    Kinnet__V1__ConsentReply *reply = s_consent (agency, &request);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    char *id = strdup (reply->consent->consent_id);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    return id;
}

//  agency refers the child for language support: on consent_id, or on a public task
//  when it is NULL; with siblings, in district. The reply (caller frees).
static Kinnet__V1__IntakeReply *
s_submit (int agency, const char *key, const char *consent_id, Kinnet__V1__Person **siblings,
          size_t n_siblings, const char *district)
{
    Kinnet__V1__Need need = KINNET__V1__NEED__INIT;
    need.category = KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT;
    need.description = "Mira arrived this term and is learning English.";
    Kinnet__V1__Need *needs[] = {&need};
    Kinnet__V1__LawfulGround ground = KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = consent_id ? KINNET__V1__LAWFUL_BASIS__CONSENT
                              : KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    ground.consent_reference = (char *)(consent_id ? consent_id : "");
    ground.justification = consent_id ? "" : "Education duty to support the child's learning.";
    Kinnet__V1__SubmitReferral submit = KINNET__V1__SUBMIT_REFERRAL__INIT;
    submit.idempotency_key = (char *)key;
    submit.child = &child;
    submit.siblings = siblings;
    submit.n_siblings = n_siblings;
    submit.needs = needs;
    submit.n_needs = 1;
    submit.urgency = KINNET__V1__URGENCY__ROUTINE;
    submit.district = (char *)district;
    submit.lawful_ground = &ground;
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_SUBMIT;
    request.submit = &submit;
    return s_intake (agency, &request);
}

//  A public-task referral by agency with one thing changed.
static Kinnet__V1__IntakeReply *
s_refer_with (int agency, const char *key, Kinnet__V1__Person **siblings, size_t n_siblings,
              const char *district)
{
    return s_submit (agency, key, NULL, siblings, n_siblings, district);
}

//  The school refers the child on a consent; returns the referral id.
static char *
s_school_refers (const char *key, const char *consent_id)
{
    Kinnet__V1__IntakeReply *reply = s_submit (SCHOOL, key, consent_id, NULL, 0, "north");
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    char *id = strdup (reply->submitted->referral_id);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    return id;
}

static Kinnet__V1__IntakeReply *
s_get (int agency, const char *referral_id)
{
    Kinnet__V1__GetReferral get = KINNET__V1__GET_REFERRAL__INIT;
    get.referral_id = (char *)referral_id;
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_GET;
    request.get = &get;
    return s_intake (agency, &request);
}

//  agency's read of the referral is refused, saying why; nothing is logged for it.
static void
s_assert_refused (int agency, const char *referral_id, const char *why)
{
    Kinnet__V1__IntakeReply *reply = s_get (agency, referral_id);
    cr_assert_not_null (reply->error, "agency %d read the school's referral", agency);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__PERMISSION_DENIED);
    cr_assert (strstr (reply->error->message, why), "%s", reply->error->message);
    cr_assert_null (reply->referral);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    char sql[200];
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.disclosure WHERE recipient_id = '%s'",
              s_id (agency));
    cr_assert_eq (kn_test_count (kn_test_stack_db_url (stack), sql), 0);
}

static char *
s_subject_of (const char *consent_id)
{
    char sql[200];
    snprintf (sql, sizeof sql, "SELECT subject_id FROM consent.record WHERE id = '%s'",
              consent_id);
    return kn_test_sql (kn_test_stack_db_url (stack), sql);
}

//  A safeguarding override requested by agency about subject_id, releasing identity
//  and narrative to recipient; its id into id.
static void
s_override (int agency, const char *key, const char *subject_id, const char *recipient,
            char id[KN_UUID_STR])
{
    char *agencies[] = {(char *)recipient};
    Kinnet__V1__DataCategory categories[] = {IDENTITY, NARRATIVE};
    Kinnet__V1__Scope scope = KINNET__V1__SCOPE__INIT;
    scope.agencies = agencies;
    scope.n_agencies = 1;
    scope.categories = categories;
    scope.n_categories = 2;
    Kinnet__V1__SubjectRef ref = KINNET__V1__SUBJECT_REF__INIT;
    ref.subject_id = (char *)subject_id;
    Kinnet__V1__RequestOverride override = KINNET__V1__REQUEST_OVERRIDE__INIT;
    override.idempotency_key = (char *)key;
    override.subject = &ref;
    override.reason = KINNET__V1__OVERRIDE_REASON__IMMEDIATE_DANGER;
    override.details = "Mira said she is afraid to go home tonight.";
    override.approver_role = KINNET__V1__APPROVER_ROLE__DESIGNATED_SAFEGUARDING_LEAD;
    override.approver_id = "dsl-2";
    override.scope = &scope;
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_OVERRIDE;
    request.override = &override;
    Kinnet__V1__ConsentReply *reply = s_consent (agency, &request);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    snprintf (id, KN_UUID_STR, "%s", reply->override->override_id);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
}

Test (trust_model, a_ground_an_agency_records_for_itself_opens_nothing_of_anothers)
{
    char *school_consent = s_record_consent (SCHOOL, "school-c", NULL);
    char *referral = s_school_refers ("school-r", school_consent);
    char *subject = s_subject_of (school_consent);

    //  1. A consent the rogue agency records, naming itself.
    char *own = s_record_consent (ROGUE, "rogue-c", NULL);
    s_assert_refused (ROGUE, referral, "controller did not decide");

    //  2. A statutory basis it records, naming itself, with a plausible justification.
    char *agencies[] = {(char *)s_id (ROGUE)};
    Kinnet__V1__DataCategory categories[] = {IDENTITY, NARRATIVE};
    Kinnet__V1__Purpose purposes[] = {ASSESSMENT};
    Kinnet__V1__Scope scope = KINNET__V1__SCOPE__INIT;
    scope.agencies = agencies;
    scope.n_agencies = 1;
    scope.categories = categories;
    scope.n_categories = 2;
    scope.purposes = purposes;
    scope.n_purposes = 1;
    Kinnet__V1__SubjectRef ref = KINNET__V1__SUBJECT_REF__INIT;
    ref.subject_id = subject;
    Kinnet__V1__RecordBasis basis = KINNET__V1__RECORD_BASIS__INIT;
    basis.idempotency_key = "rogue-b";
    basis.subject = &ref;
    basis.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    basis.scope = &scope;
    basis.justification = "We have a statutory duty to assess this child.";
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_BASIS;
    request.basis = &basis;
    Kinnet__V1__ConsentReply *reply = s_consent (ROGUE, &request);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    s_assert_refused (ROGUE, referral, "controller did not decide");

    //  3. A safeguarding override it requests, naming itself.
    char override_id[KN_UUID_STR];
    s_override (ROGUE, "rogue-o", subject, s_id (ROGUE), override_id);
    s_assert_refused (ROGUE, referral, "controller did not decide");

    //  The check, asked about the school's data, says the same.
    Kinnet__V1__CheckDisclosure check = KINNET__V1__CHECK_DISCLOSURE__INIT;
    check.subject_id = subject;
    check.agency_id = (char *)s_id (ROGUE);
    check.categories = categories;
    check.n_categories = 2;
    check.purpose = ASSESSMENT;
    check.controller_agency_id = (char *)s_id (SCHOOL);
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_CHECK;
    request.check = &check;
    reply = s_consent (ROGUE, &request);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    cr_assert_eq (reply->decision->decision, KINNET__V1__DECISION__DENIED);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    //  The school, asking about its own data going to the rogue agency, is not told
    //  which grounds the rogue agency recorded for itself.
    reply = s_consent (SCHOOL, &request);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    cr_assert_eq (reply->decision->decision, KINNET__V1__DECISION__DENIED);
    for (size_t i = 0; i < reply->decision->n_categories; i++) {
        const char *reason = reply->decision->categories[i]->reason;
        cr_assert_str_eq (reply->decision->categories[i]->ground_id, "");
        cr_assert_null (strstr (reason, override_id), "%s", reason);
        cr_assert_null (strstr (reason, "did not decide"), "%s", reason);
    }
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    //  Neither recipient nor controller: the rogue agency may not ask what the
    //  school's data may do for the DPO.
    check.agency_id = dpo_id;
    reply = s_consent (ROGUE, &request);
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__PERMISSION_DENIED);
    cr_assert_str_eq (reply->error->field, "agency_id");
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);

    //  The school's own consent still works for a recipient it names.
    char *named = s_record_consent (SCHOOL, "school-c2", s_id (DPO));
    Kinnet__V1__IntakeReply *seen = s_get (DPO, referral);
    cr_assert_null (seen->error, "%s", seen->error ? seen->error->message : "");
    kinnet__v1__intake_reply__free_unpacked (seen, NULL);
    free (named);
    free (own);
    free (subject);
    free (referral);
    free (school_consent);
}

//  Long-poll agency's feed after *after until an event of topic arrives; returns it,
//  with the reply that holds it in *holder (the caller frees that). Fails the test
//  after 30 s.
static Kinnet__V1__FeedEvent *
s_await_topic (int agency, int64_t *after, const char *topic, Kinnet__V1__FeedReply **holder)
{
    int64_t deadline = zclock_mono () + 30000;
    while (zclock_mono () < deadline) {
        Kinnet__V1__FeedRead read = KINNET__V1__FEED_READ__INIT;
        read.after = *after;
        read.wait_ms = 3000;
        Kinnet__V1__FeedRequest request = KINNET__V1__FEED_REQUEST__INIT;
        request.op_case = KINNET__V1__FEED_REQUEST__OP_READ;
        request.read = &read;
        Kinnet__V1__FeedReply *reply = (Kinnet__V1__FeedReply *)s_call (
            agency, "feed", &request.base, &kinnet__v1__feed_reply__descriptor);
        cr_assert_null (reply->error, "feed: %s", reply->error ? reply->error->message : "");
        for (size_t i = 0; i < reply->batch->n_events; i++) {
            *after = reply->batch->events[i]->seq;
            if (strcmp (reply->batch->events[i]->topic, topic) == 0) {
                *holder = reply;
                return reply->batch->events[i];
            }
        }
        kinnet__v1__feed_reply__free_unpacked (reply, NULL);
    }
    cr_assert_fail ("no %s in agency %d's feed", topic, agency);
    return NULL;
}

//  The same for a release event: its release id into id.
static void
s_await_release (int agency, int64_t *after, const char *topic, char id[KN_UUID_STR])
{
    Kinnet__V1__FeedReply *holder = NULL;
    Kinnet__V1__FeedEvent *event = s_await_topic (agency, after, topic, &holder);
    cr_assert_eq (event->body_case, KINNET__V1__FEED_EVENT__BODY_RELEASE);
    cr_assert_str_eq (event->release->recipient_agency_id, s_id (agency));
    snprintf (id, KN_UUID_STR, "%s", event->release->release_id);
    kinnet__v1__feed_reply__free_unpacked (holder, NULL);
}

static Kinnet__V1__ConsentReply *
s_request_release (int agency, const char *key, const char *ground,
                   const char *controller)
{
    Kinnet__V1__RequestRelease ask = KINNET__V1__REQUEST_RELEASE__INIT;
    ask.idempotency_key = (char *)key;
    ask.ground_id = (char *)ground;
    ask.controller_agency_id = (char *)controller;
    ask.reason = "The family asked us to support Mira; consent form attached.";
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_REQUEST_RELEASE;
    request.request_release = &ask;
    return s_consent (agency, &request);
}

static Kinnet__V1__ConsentReply *
s_decide_release (int agency, const char *key, const char *release_id, bool approve)
{
    Kinnet__V1__DecideRelease decide = KINNET__V1__DECIDE_RELEASE__INIT;
    decide.idempotency_key = (char *)key;
    decide.release_id = (char *)release_id;
    decide.approve = approve;
    decide.reason =
        approve ? "Checked the consent form with the mother." : "Not our case.";
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_DECIDE_RELEASE;
    request.decide_release = &decide;
    return s_consent (agency, &request);
}

Test (trust_model, the_controller_approves_a_release_and_every_step_is_on_record)
{
    const char *url = kn_test_stack_db_url (stack);
    char *school_consent = s_record_consent (SCHOOL, "school-c", NULL);
    char *referral = s_school_refers ("school-r", school_consent);
    //  The family tells the other agency it may have the school's referral.
    char *evidence = s_record_consent (ROGUE, "family-c", NULL);
    s_assert_refused (ROGUE, referral, "ask the controller");

    //  Asking about a ground that does not name the asker: as if it did not exist.
    Kinnet__V1__ConsentReply *reply =
        s_request_release (ROGUE, "ask-0", school_consent, s_id (SCHOOL));
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__NOT_FOUND);
    cr_assert_str_eq (reply->error->field, "ground_id");
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);

    //  The request: in the school's feed.
    int64_t school_after = 0, rogue_after = 0;
    reply = s_request_release (ROGUE, "ask-1", evidence, s_id (SCHOOL));
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    cr_assert_eq (reply->release->status, KINNET__V1__RELEASE_STATUS__RELEASE_REQUESTED);
    char release_id[KN_UUID_STR], fed[KN_UUID_STR];
    snprintf (release_id, sizeof release_id, "%s", reply->release->release_id);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    s_await_release (SCHOOL, &school_after, "release.requested", fed);
    cr_assert_str_eq (fed, release_id);
    //  Asking again while it is open answers the same request.
    reply = s_request_release (ROGUE, "ask-2", evidence, s_id (SCHOOL));
    cr_assert_null (reply->error);
    cr_assert_str_eq (reply->release->release_id, release_id);
    cr_assert (reply->release->replayed);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);

    //  The asker cannot decide its own request; it is still refused.
    reply = s_decide_release (ROGUE, "self-approve", release_id, true);
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__PERMISSION_DENIED);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    s_assert_refused (ROGUE, referral, "ask the controller");

    //  The school approves: the asker hears of it and reads, on its evidence.
    reply = s_decide_release (SCHOOL, "approve-1", release_id, true);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    cr_assert_eq (reply->release->status, KINNET__V1__RELEASE_STATUS__RELEASE_APPROVED);
    cr_assert_str_eq (reply->release->decided_by_agency_id, s_id (SCHOOL));
    cr_assert_str_eq (reply->release->request_reason,
                      "The family asked us to support Mira; consent form attached.");
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    s_await_release (ROGUE, &rogue_after, "release.decided", fed);
    cr_assert_str_eq (fed, release_id);
    reply = s_decide_release (SCHOOL, "approve-again", release_id, false);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__CONFLICT);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);

    Kinnet__V1__IntakeReply *seen = s_get (ROGUE, referral);
    cr_assert_null (seen->error, "%s", seen->error ? seen->error->message : "");
    cr_assert_str_eq (seen->referral->submitted->child->given_name, "Mira");
    cr_assert_str_eq (seen->referral->disclosure_ground_id, evidence);
    kinnet__v1__intake_reply__free_unpacked (seen, NULL);

    //  The disclosure log, row by row: one row, the asker, the evidence as ground.
    char sql[400];
    snprintf (sql, sizeof sql,
              "SELECT string_agg (recipient_id || ' ' || basis || ' ' || ground_id || ' '"
              " || object_id, ';') FROM core.disclosure WHERE service = 'intake'");
    char *rows = kn_test_sql (url, sql);
    char expected[300];
    snprintf (expected, sizeof expected, "%s consent %s %s", s_id (ROGUE), evidence,
              referral);
    cr_assert_str_eq (rows, expected);
    free (rows);
    //  The audit trail: the request, the refused self-approval, the approval.
    snprintf (
        sql, sizeof sql,
        "SELECT string_agg (operation || ':' || result, ',' ORDER BY id) FROM core.audit"
        " WHERE object_id = '%s'",
        release_id);
    rows = kn_test_sql (url, sql);
    cr_assert_str_eq (rows, "release_request:ok,release_decide:permission_denied,"
                            "release_approve:ok,release_decide:conflict");
    free (rows);

    //  A declined request releases nothing.
    char *second = s_record_consent (ROGUE, "family-c2", NULL);
    reply = s_request_release (ROGUE, "ask-3", second, s_id (SCHOOL));
    cr_assert_null (reply->error);
    snprintf (release_id, sizeof release_id, "%s", reply->release->release_id);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    reply = s_decide_release (SCHOOL, "decline-1", release_id, false);
    cr_assert_null (reply->error);
    cr_assert_eq (reply->release->status, KINNET__V1__RELEASE_STATUS__RELEASE_DECLINED);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    snprintf (
        sql, sizeof sql,
        "SELECT count (*) FROM consent.release WHERE ground_id = '%s' AND status = 2",
        second);
    cr_assert_eq (kn_test_count (url, sql), 0);

    //  Both sides list what concerns them.
    Kinnet__V1__ListReleases list = KINNET__V1__LIST_RELEASES__INIT;
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_RELEASES;
    request.releases = &list;
    for (int agency = SCHOOL; agency <= ROGUE; agency++) {
        reply = s_consent (agency, &request);
        cr_assert_null (reply->error);
        cr_assert_eq (reply->releases->n_releases, 2);
        kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    }
    free (second);
    free (evidence);
    free (referral);
    free (school_consent);
}

Test (trust_model, ids_are_one_form_whatever_their_case)
{
    char *consent = s_record_consent (SCHOOL, "school-c", NULL);
    char *referral = s_school_refers ("school-r", consent);
    char upper[KN_UUID_STR];
    for (size_t i = 0; i < KN_UUID_STR; i++)
        upper[i] = (char)toupper ((unsigned char)referral[i]);
    Kinnet__V1__IntakeReply *seen = s_get (SCHOOL, upper);
    cr_assert_null (seen->error, "%s", seen->error ? seen->error->message : "");
    cr_assert_str_eq (seen->referral->referral_id, referral);
    kinnet__v1__intake_reply__free_unpacked (seen, NULL);

    //  A withdrawal with an upper-case id: its reason reads back.
    Kinnet__V1__WithdrawReferral withdraw = KINNET__V1__WITHDRAW_REFERRAL__INIT;
    withdraw.idempotency_key = "w-1";
    withdraw.referral_id = upper;
    withdraw.reason = "The family moved out of the area.";
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_WITHDRAW;
    request.withdraw = &withdraw;
    Kinnet__V1__IntakeReply *reply = s_intake (SCHOOL, &request);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    seen = s_get (SCHOOL, upper);
    cr_assert_null (seen->error, "%s", seen->error ? seen->error->message : "");
    cr_assert_str_eq (seen->referral->withdraw_reason,
                      "The family moved out of the area.");
    kinnet__v1__intake_reply__free_unpacked (seen, NULL);
    free (referral);
    free (consent);
}

//  Pack request, then replace the first occurrence of marker (same length) with
//  bytes that hold a NUL: protobuf-c would hand the string over cut at it.
static uint8_t *
s_pack_with_nul (const ProtobufCMessage *request, const char *marker, const char *with,
                 size_t *len)
{
    *len = protobuf_c_message_get_packed_size (request);
    uint8_t *buf = malloc (*len);
    protobuf_c_message_pack (request, buf);
    size_t n = strlen (marker);
    for (size_t i = 0; i + n <= *len; i++)
        if (memcmp (buf + i, marker, n) == 0) {
            memcpy (buf + i, with, n);
            return buf;
        }
    cr_assert_fail ("marker not found");
    return buf;
}

Test (trust_model, a_nul_inside_a_string_is_refused_not_cut)
{
    //  A name: "Ana\0Evil" would be stored as "Ana".
    Kinnet__V1__Person person = child;
    person.given_name = "AnaXEvil";
    Kinnet__V1__SubmitReferral submit = KINNET__V1__SUBMIT_REFERRAL__INIT;
    Kinnet__V1__Need need = KINNET__V1__NEED__INIT;
    need.category = KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT;
    need.description = "Needs support.";
    Kinnet__V1__Need *needs[] = {&need};
    Kinnet__V1__LawfulGround ground = KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    ground.justification = "Education duty to support the child's learning.";
    submit.idempotency_key = "nul-key-AAAA";
    submit.child = &person;
    submit.needs = needs;
    submit.n_needs = 1;
    submit.urgency = KINNET__V1__URGENCY__ROUTINE;
    submit.district = "north";
    submit.lawful_ground = &ground;
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_SUBMIT;
    request.submit = &submit;
    size_t len;
    uint8_t *buf = s_pack_with_nul (&request.base, "AnaXEvil", "Ana\0Evil", &len);
    Kinnet__V1__IntakeReply *reply = (Kinnet__V1__IntakeReply *)s_call_bytes (
        SCHOOL, "intake", buf, len, &kinnet__v1__intake_reply__descriptor);
    free (buf);
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT);
    cr_assert_str_eq (reply->error->field, "child.given_name");
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);

    //  An idempotency key: two keys differing after a NUL would collide.
    person.given_name = "Ana";
    buf = s_pack_with_nul (&request.base, "nul-key-AAAA", "nul-key\0AAAA", &len);
    reply = (Kinnet__V1__IntakeReply *)s_call_bytes (
        SCHOOL, "intake", buf, len, &kinnet__v1__intake_reply__descriptor);
    free (buf);
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT);
    cr_assert_str_eq (reply->error->field, "idempotency_key");
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    cr_assert_eq (kn_test_count (kn_test_stack_db_url (stack),
                                 "SELECT count (*) FROM intake.referral"),
                  0);
}

Test (trust_model, the_same_person_twice_is_refused)
{
    //  The child again as a sibling (another spelling of the same name), then two
    //  siblings who are one person: either would shift which subject each ground is
    //  decided for.
    Kinnet__V1__Person again = child;
    again.given_name = "MIRA";
    Kinnet__V1__Person other = KINNET__V1__PERSON__INIT;
    other.given_name = "Sami";
    other.family_name = "Haddad";
    other.date_of_birth = "2014-01-09";
    Kinnet__V1__Person *twice[] = {&again};
    Kinnet__V1__Person *pair[] = {&other, &other};
    Kinnet__V1__Person **lists[] = {twice, pair};
    size_t counts[] = {1, 2};
    for (int i = 0; i < 2; i++) {
        char key[16];
        snprintf (key, sizeof key, "twice-%d", i);
        Kinnet__V1__IntakeReply *reply = s_refer_with (SCHOOL, key, lists[i], counts[i], "north");
        cr_assert_not_null (reply->error);
        cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT);
        cr_assert_str_eq (reply->error->field, "siblings");
        cr_assert (strstr (reply->error->message, "same person"), "%s", reply->error->message);
        kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    }
    cr_assert_eq (kn_test_count (kn_test_stack_db_url (stack),
                                 "SELECT count (*) FROM intake.referral"),
                  0);
}

Test (trust_model, a_district_nobody_knows_is_refused_by_name)
{
    Kinnet__V1__IntakeReply *reply = s_refer_with (SCHOOL, "nowhere", NULL, 0, "Narnia");
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT);
    cr_assert_str_eq (reply->error->field, "district");
    cr_assert (strstr (reply->error->message, "Narnia"), "%s", reply->error->message);
    cr_assert (strstr (reply->error->message, "north"), "%s", reply->error->message);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    //  Any case: stored as the directory spells it.
    reply = s_refer_with (SCHOOL, "north-upper", NULL, 0, "NORTH");
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    cr_assert_eq (kn_test_count (kn_test_stack_db_url (stack),
                                 "SELECT count (*) FROM intake.referral WHERE district = 'north'"),
                  1);
}

Test (trust_model, referring_needs_the_referrer_role)
{
    //  Every agency has it when added; an administrator can take it away, and each
    //  change is on the audit trail.
    const char *url = kn_test_stack_db_url (stack);
    char sql[300];
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.audit WHERE service = 'admin'"
              " AND operation = 'role_grant' AND object_id = '%s' AND role = 'referrer'",
              s_id (ROGUE));
    cr_assert_eq (kn_test_count (url, sql), 1);
    Kinnet__V1__IntakeReply *reply = s_refer_with (ROGUE, "before", NULL, 0, "north");
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    kn_error_t err;
    kn_db_t *admin = kn_db_new (url, NULL, &err);
    cr_assert_eq (kn_agency_set_role (admin, s_id (ROGUE), "referrer", false, &err), 0);
    kn_db_destroy (&admin);
    //  A retry of what was acknowledged before still gets its first answer.
    reply = s_refer_with (ROGUE, "before", NULL, 0, "north");
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    cr_assert (reply->submitted->replayed);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    reply = s_refer_with (ROGUE, "no-role", NULL, 0, "north");
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__PERMISSION_DENIED);
    cr_assert (strstr (reply->error->message, "referrer"), "%s", reply->error->message);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.audit WHERE operation = 'role_revoke'"
              " AND object_id = '%s'",
              s_id (ROGUE));
    cr_assert_eq (kn_test_count (url, sql), 1);
    cr_assert_eq (kn_test_count (url, "SELECT count (*) FROM intake.referral"), 1);
}

static Kinnet__V1__IntakeReply *
s_refer_public (int agency, const char *key, Kinnet__V1__Person *person)
{
    Kinnet__V1__Person saved = child;
    child = *person;
    Kinnet__V1__IntakeReply *reply = s_refer_with (agency, key, NULL, 0, "north");
    child = saved;
    return reply;
}

Test (trust_model, a_name_and_date_of_birth_open_nothing)
{
    const char *url = kn_test_stack_db_url (stack);
    //  The school knows the family: its consent, then its referral. Neither is
    //  something Kinnet could tell from a stranger's, so neither shows the family.
    char *consent = s_record_consent (SCHOOL, "school-c", NULL);
    char *referral = s_school_refers ("school-r", consent);
    Kinnet__V1__IntakeReply *own = s_get (SCHOOL, referral);
    cr_assert_null (own->error);
    cr_assert_str_eq (own->referral->family_id, "");
    kinnet__v1__intake_reply__free_unpacked (own, NULL);

    //  The rogue agency records a consent of its own about the child by name and
    //  date of birth, then refers the child twice and a child nobody knows: the
    //  replies look alike, none names a family or subject.
    free (s_record_consent (ROGUE, "rogue-c", NULL));
    Kinnet__V1__Person stranger = KINNET__V1__PERSON__INIT;
    stranger.given_name = "Zed";
    stranger.family_name = "Nobody";
    stranger.date_of_birth = "2017-07-07";
    Kinnet__V1__Person *people[] = {&child, &child, &stranger};
    char rogue_referral[KN_UUID_STR] = "";
    for (int i = 0; i < 3; i++) {
        char key[16];
        snprintf (key, sizeof key, "probe-%d", i);
        Kinnet__V1__IntakeReply *reply = s_refer_public (ROGUE, key, people[i]);
        cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
        cr_assert_not (reply->submitted->family_matched, "the reply says the family is known");
        cr_assert_str_eq (reply->submitted->family_id, "");
        cr_assert_eq (reply->submitted->n_subject_ids, 0);
        if (i == 1)
            snprintf (rogue_referral, sizeof rogue_referral, "%s",
                      reply->submitted->referral_id);
        kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    }
    //  Matching still happened: the referral joined the known family.
    char sql[300];
    snprintf (sql, sizeof sql,
              "SELECT count (DISTINCT family_id) FROM intake.referral WHERE id IN ('%s', '%s')",
              referral, rogue_referral);
    cr_assert_eq (kn_test_count (url, sql), 1);
    //  Its own read of its referral does not name the family either, and routing is
    //  told it does not know the family (its case view is its own part).
    own = s_get (ROGUE, rogue_referral);
    cr_assert_null (own->error);
    cr_assert_str_eq (own->referral->family_id, "");
    kinnet__v1__intake_reply__free_unpacked (own, NULL);
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM intake.referral WHERE referring_agency_id = '%s'"
              " AND family_disclosed",
              s_id (ROGUE));
    cr_assert_eq (kn_test_count (url, sql), 0, "a name and a date of birth opened the family");

    //  The partnership's DPO, which has standing with every family, is shown it.
    kn_error_t err;
    kn_db_t *admin = kn_db_new (url, NULL, &err);
    cr_assert (admin, "%s", err.message);
    cr_assert_eq (kn_agency_set_role (admin, dpo_id, "referrer", true, &err), 0);
    kn_db_destroy (&admin);
    Kinnet__V1__IntakeReply *shown = s_refer_public (DPO, "dpo-r", &child);
    cr_assert_null (shown->error, "%s", shown->error ? shown->error->message : "");
    cr_assert (shown->submitted->family_matched);
    cr_assert_str_neq (shown->submitted->family_id, "");
    cr_assert_eq (shown->submitted->n_subject_ids, 1);
    kinnet__v1__intake_reply__free_unpacked (shown, NULL);

    //  It cannot read or withdraw the school's consent about the child.
    char *subject = s_subject_of (consent);
    Kinnet__V1__ListConsents list = KINNET__V1__LIST_CONSENTS__INIT;
    list.subject_id = subject;
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_LIST;
    request.list = &list;
    Kinnet__V1__ConsentReply *reply = s_consent (ROGUE, &request);
    if (!reply->error)
        for (size_t i = 0; i < reply->consents->n_consents; i++)
            cr_assert_str_neq (reply->consents->consents[i]->consent_id, consent,
                               "a referrer read another agency's consent");
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    Kinnet__V1__GetConsent get = KINNET__V1__GET_CONSENT__INIT;
    get.consent_id = consent;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_GET;
    request.get = &get;
    reply = s_consent (ROGUE, &request);
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__NOT_FOUND);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    Kinnet__V1__WithdrawConsent withdraw = KINNET__V1__WITHDRAW_CONSENT__INIT;
    withdraw.idempotency_key = "rogue-w";
    withdraw.consent_id = consent;
    withdraw.channel = KINNET__V1__COLLECTION_METHOD__VERBAL_WITNESSED;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_WITHDRAW;
    request.withdraw = &withdraw;
    reply = s_consent (ROGUE, &request);
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__NOT_FOUND);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    cr_assert_eq (kn_test_count (url, "SELECT count (*) FROM consent.withdrawal"), 0);
    free (subject);
    free (referral);
    free (consent);
}

Test (trust_model, a_need_goes_out_under_the_category_it_implies)
{
    //  The family agreed to share identity and the referral narrative with agency 1,
    //  not mental-health data: the mental-health need stays with the school.
    char *consent = s_record_consent (SCHOOL, "school-c", s_id (ROGUE));
    Kinnet__V1__Need language = KINNET__V1__NEED__INIT;
    language.category = KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT;
    language.description = "Mira arrived this term and is learning English.";
    Kinnet__V1__Need mind = KINNET__V1__NEED__INIT;
    mind.category = KINNET__V1__NEED_CATEGORY__MENTAL_HEALTH_NEED;
    mind.description = "Panic attacks since the journey; sees the school nurse weekly.";
    Kinnet__V1__Need *needs[] = {&language, &mind};
    Kinnet__V1__LawfulGround ground = KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = KINNET__V1__LAWFUL_BASIS__CONSENT;
    ground.consent_reference = consent;
    Kinnet__V1__SubmitReferral submit = KINNET__V1__SUBMIT_REFERRAL__INIT;
    submit.idempotency_key = "two-needs";
    submit.child = &child;
    submit.needs = needs;
    submit.n_needs = 2;
    submit.urgency = KINNET__V1__URGENCY__ROUTINE;
    submit.district = "north";
    submit.lawful_ground = &ground;
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_SUBMIT;
    request.submit = &submit;
    Kinnet__V1__IntakeReply *stored = s_intake (SCHOOL, &request);
    cr_assert_null (stored->error, "%s", stored->error ? stored->error->message : "");
    char referral[KN_UUID_STR];
    snprintf (referral, sizeof referral, "%s", stored->submitted->referral_id);
    kinnet__v1__intake_reply__free_unpacked (stored, NULL);

    Kinnet__V1__IntakeReply *seen = s_get (ROGUE, referral);
    cr_assert_null (seen->error, "%s", seen->error ? seen->error->message : "");
    Kinnet__V1__SubmitReferral *shown = seen->referral->submitted;
    cr_assert_eq (shown->n_needs, 2);
    cr_assert_eq (shown->needs[0]->category, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT);
    cr_assert_str_eq (shown->needs[0]->description, language.description);
    cr_assert_eq (shown->needs[1]->category, KINNET__V1__NEED_CATEGORY__NEED_CATEGORY_UNSPECIFIED,
                  "what the need is went out under referral narrative");
    cr_assert_str_eq (shown->needs[1]->description, "");
    bool withheld = false;
    for (size_t i = 0; i < seen->referral->n_withheld; i++)
        withheld |= seen->referral->withheld[i] == KINNET__V1__DATA_CATEGORY__MENTAL_HEALTH_DATA;
    cr_assert (withheld, "MENTAL_HEALTH_DATA is not named as withheld");
    kinnet__v1__intake_reply__free_unpacked (seen, NULL);
    //  What was disclosed is what the log says: no mental-health data.
    cr_assert_eq (kn_test_count (kn_test_stack_db_url (stack),
                                 "SELECT count (*) FROM core.disclosure WHERE 4 = ANY (categories)"),
                  0);
    free (consent);
}

static Kinnet__V1__ConsentReply *
s_get_consent (int agency, const char *consent_id)
{
    Kinnet__V1__GetConsent get = KINNET__V1__GET_CONSENT__INIT;
    get.consent_id = (char *)consent_id;
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_GET;
    request.get = &get;
    return s_consent (agency, &request);
}

static Kinnet__V1__ReportingReply *
s_export (int agency, const char *subject_id)
{
    Kinnet__V1__ExportSubject op = KINNET__V1__EXPORT_SUBJECT__INIT;
    op.subject_id = (char *)subject_id;
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_EXPORT_SUBJECT;
    request.export_subject = &op;
    return (Kinnet__V1__ReportingReply *)s_call (agency, "reporting", &request.base,
                                                 &kinnet__v1__reporting_reply__descriptor);
}

Test (trust_model, every_read_of_a_consent_or_an_export_is_decided_and_logged)
{
    const char *url = kn_test_stack_db_url (stack);
    //  A consent naming agency 1 for identity and narrative, not family
    //  circumstances: agency 1 sees the consent but not the guardian.
    char *consent = s_record_consent (SCHOOL, "school-c", s_id (ROGUE));
    Kinnet__V1__ConsentReply *reply = s_get_consent (SCHOOL, consent);
    cr_assert_null (reply->error);
    cr_assert_not_null (reply->consent->guardian);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    reply = s_get_consent (ROGUE, consent);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    cr_assert_null (reply->consent->guardian, "the guardian went out without a ground");
    cr_assert_str_eq (reply->consent->evidence_reference, "");
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    //  The DPO reads it in full; the read is logged as oversight.
    reply = s_get_consent (DPO, consent);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    cr_assert_str_eq (reply->consent->guardian->given_name, "Rana");
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    char sql[300];
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.disclosure WHERE service = 'consent'"
              " AND recipient_id = '%s' AND basis = 'data_protection_officer'"
              " AND object_id = '%s'",
              s_id (DPO), consent);
    cr_assert_eq (kn_test_count (url, sql), 1);

    //  With the audit trail unwritable, nothing is read: not the consent, not an export.
    free (kn_test_sql (url, "CREATE FUNCTION public.refuse_audit () RETURNS trigger"
                            " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit unwritable';"
                            " END $$"));
    free (kn_test_sql (url, "CREATE TRIGGER refuse BEFORE INSERT ON core.audit"
                            " FOR EACH ROW EXECUTE FUNCTION public.refuse_audit ()"));
    int disclosed = kn_test_count (url, "SELECT count (*) FROM core.disclosure");
    reply = s_get_consent (DPO, consent);
    cr_assert_not_null (reply->error, "a consent was read with no audit record");
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__INTERNAL);
    cr_assert_null (reply->consent);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    char *subject = s_subject_of (consent);
    Kinnet__V1__ReportingReply *exported = s_export (DPO, subject);
    cr_assert_not_null (exported->error, "an export left with no audit record");
    cr_assert_eq (exported->error->code, KINNET__V1__ERROR_CODE__INTERNAL);
    cr_assert_null (exported->subject_access);
    kinnet__v1__reporting_reply__free_unpacked (exported, NULL);
    cr_assert_eq (kn_test_count (url, "SELECT count (*) FROM core.disclosure"), disclosed);
    free (kn_test_sql (url, "DROP TRIGGER refuse ON core.audit"));

    //  Writable again: the export goes, with its disclosure on record.
    exported = s_export (DPO, subject);
    cr_assert_null (exported->error, "%s", exported->error ? exported->error->message : "");
    kinnet__v1__reporting_reply__free_unpacked (exported, NULL);
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.disclosure WHERE service = 'reporting'"
              " AND basis = 'subject_access' AND subject_id = '%s' AND recipient_id = '%s'",
              subject, s_id (DPO));
    cr_assert_eq (kn_test_count (url, sql), 1);
    free (subject);
    free (consent);
}

Test (trust_model, a_referral_resting_on_anothers_consent_relies_on_it)
{
    //  The family talked to agency 1, which recorded their consent to share with the
    //  school and itself; the school refers resting on it. By doing so the school
    //  decided to rely on it: agency 1 reads the school's referral on that consent.
    char *consent = s_record_consent (ROGUE, "family-c", s_id (SCHOOL));
    char *referral = s_school_refers ("school-r", consent);
    Kinnet__V1__IntakeReply *seen = s_get (ROGUE, referral);
    cr_assert_null (seen->error, "%s", seen->error ? seen->error->message : "");
    cr_assert_str_eq (seen->referral->disclosure_ground_id, consent);
    kinnet__v1__intake_reply__free_unpacked (seen, NULL);
    free (referral);
    free (consent);
}

Test (trust_model, the_controller_overrides_at_once_and_the_dpo_is_told)
{
    //  The school releases its own referral to agency 1 in an emergency: at once,
    //  and every data-protection officer hears of it in its feed to review it.
    char *consent = s_record_consent (SCHOOL, "school-c", NULL);
    char *referral = s_school_refers ("school-r", consent);
    char *subject = s_subject_of (consent);
    s_assert_refused (ROGUE, referral, "no consent");
    char override_id[KN_UUID_STR];
    s_override (SCHOOL, "school-o", subject, s_id (ROGUE), override_id);
    Kinnet__V1__IntakeReply *seen = s_get (ROGUE, referral);
    cr_assert_null (seen->error, "%s", seen->error ? seen->error->message : "");
    cr_assert_eq (seen->referral->disclosure_basis, KINNET__V1__LAWFUL_BASIS__SAFEGUARDING_OVERRIDE);
    kinnet__v1__intake_reply__free_unpacked (seen, NULL);
    Kinnet__V1__FeedReply *holder = NULL;
    int64_t after = 0;
    Kinnet__V1__FeedEvent *event = s_await_topic (DPO, &after, "override.requested", &holder);
    cr_assert_eq (event->body_case, KINNET__V1__FEED_EVENT__BODY_OVERRIDE_REQUESTED);
    cr_assert_str_eq (event->override_requested->override_id, override_id);
    cr_assert_str_eq (event->override_requested->requested_by_agency_id, s_id (SCHOOL));
    kinnet__v1__feed_reply__free_unpacked (holder, NULL);
    free (subject);
    free (referral);
    free (consent);
}

Test (trust_model, auditors_pull_the_governance_log)
{
    //  A role granted and a DPO's read are on it; an agency without the auditor
    //  role is refused.
    char *consent = s_record_consent (SCHOOL, "school-c", NULL);
    Kinnet__V1__ConsentReply *read = s_get_consent (DPO, consent);
    cr_assert_null (read->error);
    kinnet__v1__consent_reply__free_unpacked (read, NULL);
    Kinnet__V1__ListGovernance op = KINNET__V1__LIST_GOVERNANCE__INIT;
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_GOVERNANCE;
    request.governance = &op;
    Kinnet__V1__ReportingReply *reply = (Kinnet__V1__ReportingReply *)s_call (
        SCHOOL, "reporting", &request.base, &kinnet__v1__reporting_reply__descriptor);
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__PERMISSION_DENIED);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    kn_error_t err;
    kn_db_t *admin = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    cr_assert_eq (kn_agency_set_role (admin, s_id (SCHOOL), "auditor", true, &err), 0);
    kn_db_destroy (&admin);
    reply = (Kinnet__V1__ReportingReply *)s_call (SCHOOL, "reporting", &request.base,
                                                 &kinnet__v1__reporting_reply__descriptor);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    bool granted = false, dpo_read = false;
    for (size_t i = 0; i < reply->governance->n_actions; i++) {
        Kinnet__V1__GovernanceAction *a = reply->governance->actions[i];
        granted |= strcmp (a->operation, "role_grant") == 0 && strcmp (a->role, "auditor") == 0
                   && strcmp (a->object_id, s_id (SCHOOL)) == 0 && *a->database_user;
        dpo_read |= strcmp (a->operation, "get") == 0 && strcmp (a->agency_id, dpo_id) == 0
                    && strcmp (a->object_id, consent) == 0;
    }
    cr_assert (granted, "the auditor role's grant is not on the log");
    cr_assert (dpo_read, "the DPO's read of a consent is not on the log");
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    free (consent);
}
