/*  Consent end to end through the broker with CURVE: a consent recorded by one
    agency lets a referral rest on it and another agency read what it covers; an
    agency outside its scope gets nothing personal and the reason; a withdrawal
    stops it at once and tells the agency that received data. */
#include <criterion/criterion.h>
#include <string.h>

#include "kinnet/v1/consent.pb-c.h"
#include "kn_test.h"

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

TestSuite (consent_e2e, .init = s_setup, .fini = s_teardown, .timeout = 120);

static ProtobufCMessage *
s_call (int agency, const char *service, const ProtobufCMessage *request,
        const ProtobufCMessageDescriptor *reply_type)
{
    size_t len = protobuf_c_message_get_packed_size (request);
    uint8_t *buf = malloc (len + 1);
    protobuf_c_message_pack (request, buf);
    kn_client_t *client = kn_test_stack_client (stack, agency, 5000, 0);
    kn_error_t err;
    zframe_t *frame = kn_client_call (client, service, buf, len, &err);
    free (buf);
    kn_client_destroy (&client);
    cr_assert (frame, "no reply: %s", err.message);
    ProtobufCMessage *reply
        = protobuf_c_message_unpack (reply_type, NULL, zframe_size (frame), zframe_data (frame));
    zframe_destroy (&frame);
    cr_assert (reply);
    return reply;
}

static Kinnet__V1__ConsentReply *
s_consent (int agency, Kinnet__V1__ConsentRequest *request)
{
    return (Kinnet__V1__ConsentReply *) s_call (agency, "consent", &request->base,
                                                &kinnet__v1__consent_reply__descriptor);
}

static Kinnet__V1__IntakeReply *
s_intake (int agency, Kinnet__V1__IntakeRequest *request)
{
    return (Kinnet__V1__IntakeReply *) s_call (agency, "intake", &request->base,
                                               &kinnet__v1__intake_reply__descriptor);
}

static Kinnet__V1__Person child = KINNET__V1__PERSON__INIT;

static char *
s_record_consent (int agency, const char *key, char *recipient)
{
    child.given_name = "Selin";
    child.family_name = "Demir";
    child.date_of_birth = "2018-05-20";
    Kinnet__V1__SubjectRef subject = KINNET__V1__SUBJECT_REF__INIT;
    subject.person = &child;
    Kinnet__V1__Guardian guardian = KINNET__V1__GUARDIAN__INIT;
    guardian.given_name = "Elif";
    guardian.family_name = "Demir";
    guardian.relationship = KINNET__V1__RELATIONSHIP__MOTHER;
    guardian.parental_responsibility = true;
    char *agencies[] = {(char *) kn_test_stack_agency_id (stack, 0), recipient};
    Kinnet__V1__DataCategory categories[] = {KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT,
                                             KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE};
    Kinnet__V1__Purpose purposes[] = {KINNET__V1__PURPOSE__REFERRAL_AND_ASSESSMENT};
    Kinnet__V1__Scope scope = KINNET__V1__SCOPE__INIT;
    scope.agencies = agencies;
    scope.n_agencies = recipient ? 2 : 1;
    scope.categories = categories;
    scope.n_categories = 2;
    scope.purposes = purposes;
    scope.n_purposes = 1;
    Kinnet__V1__RecordConsent record = KINNET__V1__RECORD_CONSENT__INIT;
    record.idempotency_key = (char *) key;
    record.subject = &subject;
    record.given_by = KINNET__V1__CONSENT_GIVER__GUARDIAN;
    record.guardian = &guardian;
    record.scope = &scope;
    record.method = KINNET__V1__COLLECTION_METHOD__WRITTEN;
    record.evidence_reference = "scan-881";
    record.privacy_notice_version = "2026-09";
    record.privacy_notice_language = "tr";
    record.interpreter_used = true;
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_RECORD;
    request.record = &record;
    Kinnet__V1__ConsentReply *reply = s_consent (agency, &request);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    char *id = strdup (reply->consent->consent_id);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    return id;
}

static Kinnet__V1__IntakeReply *
s_refer (int agency, const char *key, const char *consent_id)
{
    Kinnet__V1__Guardian guardian = KINNET__V1__GUARDIAN__INIT;
    guardian.given_name = "Elif";
    guardian.family_name = "Demir";
    guardian.relationship = KINNET__V1__RELATIONSHIP__MOTHER;
    Kinnet__V1__Guardian *guardians[] = {&guardian};
    Kinnet__V1__Need need = KINNET__V1__NEED__INIT;
    need.category = KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT;
    need.description = "Selin speaks Turkish at home and needs support in reception class.";
    Kinnet__V1__Need *needs[] = {&need};
    Kinnet__V1__LawfulGround ground = KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = KINNET__V1__LAWFUL_BASIS__CONSENT;
    ground.consent_reference = (char *) consent_id;
    Kinnet__V1__SubmitReferral submit = KINNET__V1__SUBMIT_REFERRAL__INIT;
    submit.idempotency_key = (char *) key;
    submit.child = &child;
    submit.guardians = guardians;
    submit.n_guardians = 1;
    submit.needs = needs;
    submit.n_needs = 1;
    submit.urgency = KINNET__V1__URGENCY__ROUTINE;
    submit.district = "north";
    submit.lawful_ground = &ground;
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_SUBMIT;
    request.submit = &submit;
    return s_intake (agency, &request);
}

static Kinnet__V1__IntakeReply *
s_get (int agency, const char *referral_id)
{
    Kinnet__V1__GetReferral get = KINNET__V1__GET_REFERRAL__INIT;
    get.referral_id = (char *) referral_id;
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_GET;
    request.get = &get;
    return s_intake (agency, &request);
}

Test (consent_e2e, consent_carries_referral_and_disclosure_until_withdrawn)
{
    //  Without a consent, a consent-based referral is refused, naming the field.
    child.given_name = "Selin";
    child.family_name = "Demir";
    child.date_of_birth = "2018-05-20";
    Kinnet__V1__IntakeReply *refused = s_refer (0, "R-0", "6f1c3a52-1b7e-4c1e-9d8a-0e5b2f3c4d5e");
    cr_assert_not_null (refused->error);
    cr_assert_eq (refused->error->code, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT);
    cr_assert_str_eq (refused->error->field, "lawful_ground.consent_reference");
    kinnet__v1__intake_reply__free_unpacked (refused, NULL);

    char *consent_id = s_record_consent (0, "C-1", (char *) kn_test_stack_agency_id (stack, 1));
    Kinnet__V1__IntakeReply *stored = s_refer (0, "R-1", consent_id);
    cr_assert_null (stored->error, "%s", stored->error ? stored->error->message : "");
    char referral_id[40];
    snprintf (referral_id, sizeof referral_id, "%s", stored->submitted->referral_id);
    //  Its own consent gives the referrer no standing with the family: recording one
    //  takes only a name and a date of birth.
    cr_assert_eq (stored->submitted->n_subject_ids, 0);
    cr_assert_not (stored->submitted->family_matched);
    kinnet__v1__intake_reply__free_unpacked (stored, NULL);

    //  Agency 1 is a named recipient: identity and narrative, not family
    //  circumstances (the guardian), which the consent does not cover.
    Kinnet__V1__IntakeReply *seen = s_get (1, referral_id);
    cr_assert_null (seen->error, "%s", seen->error ? seen->error->message : "");
    Kinnet__V1__Referral *referral = seen->referral;
    cr_assert_str_eq (referral->submitted->child->given_name, "Selin");
    cr_assert_str_neq (referral->submitted->needs[0]->description, "");
    cr_assert_eq (referral->submitted->n_guardians, 0);
    cr_assert_eq (referral->n_withheld, 1);
    cr_assert_eq (referral->withheld[0], KINNET__V1__DATA_CATEGORY__FAMILY_CIRCUMSTANCES);
    cr_assert_eq (referral->disclosure_basis, KINNET__V1__LAWFUL_BASIS__CONSENT);
    cr_assert_str_eq (referral->disclosure_ground_id, consent_id);
    kinnet__v1__intake_reply__free_unpacked (seen, NULL);
    char sql[300];
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.disclosure WHERE ground_id = '%s' AND recipient_id = '%s'",
              consent_id, kn_test_stack_agency_id (stack, 1));
    char *count = kn_test_sql (kn_test_stack_db_url (stack), sql);
    cr_assert_str_eq (count, "1");
    free (count);

    //  The family withdraws (through agency 0): agency 1 is told, and refused.
    Kinnet__V1__WithdrawConsent withdraw = KINNET__V1__WITHDRAW_CONSENT__INIT;
    withdraw.idempotency_key = "W-1";
    withdraw.consent_id = consent_id;
    withdraw.channel = KINNET__V1__COLLECTION_METHOD__VERBAL_WITNESSED;
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_WITHDRAW;
    request.withdraw = &withdraw;
    Kinnet__V1__ConsentReply *after = s_consent (0, &request);
    cr_assert_null (after->error);
    cr_assert_eq (after->consent->status, KINNET__V1__CONSENT_STATUS__FULLY_WITHDRAWN);
    kinnet__v1__consent_reply__free_unpacked (after, NULL);
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.outbox WHERE topic = 'consent.withdrawn'"
              " AND aggregate_id = '%s'",
              consent_id);
    count = kn_test_sql (kn_test_stack_db_url (stack), sql);
    cr_assert_str_eq (count, "2");   // the withdrawal, and one addressed to agency 1
    free (count);
    Kinnet__V1__IntakeReply *denied = s_get (1, referral_id);
    cr_assert_not_null (denied->error);
    cr_assert_eq (denied->error->code, KINNET__V1__ERROR_CODE__PERMISSION_DENIED);
    cr_assert (strstr (denied->error->message, "withdrawn"), "%s", denied->error->message);
    cr_assert_null (denied->referral);
    kinnet__v1__intake_reply__free_unpacked (denied, NULL);
    //  The referring agency still reads its own record.
    Kinnet__V1__IntakeReply *own = s_get (0, referral_id);
    cr_assert_null (own->error);
    cr_assert_eq (own->referral->submitted->n_guardians, 1);
    kinnet__v1__intake_reply__free_unpacked (own, NULL);
    free (consent_id);
}

Test (consent_e2e, outside_the_scope_gets_nothing_and_the_reason)
{
    //  A consent for agency 0 only; agency 1 asks.
    char *consent_id = s_record_consent (0, "C-2", NULL);
    Kinnet__V1__IntakeReply *stored = s_refer (0, "R-2", consent_id);
    cr_assert_null (stored->error);
    Kinnet__V1__IntakeReply *denied = s_get (1, stored->submitted->referral_id);
    cr_assert_not_null (denied->error);
    cr_assert_eq (denied->error->code, KINNET__V1__ERROR_CODE__PERMISSION_DENIED);
    cr_assert (strstr (denied->error->message, "no consent"), "%s", denied->error->message);
    kinnet__v1__intake_reply__free_unpacked (denied, NULL);
    kinnet__v1__intake_reply__free_unpacked (stored, NULL);

    //  The check says the same, category by category.
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    Kinnet__V1__GetConsent get = KINNET__V1__GET_CONSENT__INIT;
    get.consent_id = consent_id;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_GET;
    request.get = &get;
    Kinnet__V1__ConsentReply *shown = s_consent (0, &request);
    cr_assert_null (shown->error);
    Kinnet__V1__DataCategory categories[] = {KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT};
    Kinnet__V1__CheckDisclosure check = KINNET__V1__CHECK_DISCLOSURE__INIT;
    check.subject_id = shown->consent->subject_id;
    check.agency_id = (char *) kn_test_stack_agency_id (stack, 1);
    check.categories = categories;
    check.n_categories = 1;
    check.purpose = KINNET__V1__PURPOSE__REFERRAL_AND_ASSESSMENT;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_CHECK;
    request.check = &check;
    Kinnet__V1__ConsentReply *decision = s_consent (0, &request);
    cr_assert_null (decision->error);
    cr_assert_eq (decision->decision->decision, KINNET__V1__DECISION__DENIED);
    kinnet__v1__consent_reply__free_unpacked (decision, NULL);
    //  Agency 1 has no standing on this subject: it may not even ask.
    decision = s_consent (1, &request);
    cr_assert_not_null (decision->error);
    cr_assert_eq (decision->error->code, KINNET__V1__ERROR_CODE__PERMISSION_DENIED);
    kinnet__v1__consent_reply__free_unpacked (decision, NULL);
    kinnet__v1__consent_reply__free_unpacked (shown, NULL);

    //  The receipt is Kantara-shaped JSON with the events.
    Kinnet__V1__GetReceipt receipt = KINNET__V1__GET_RECEIPT__INIT;
    receipt.consent_id = consent_id;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_RECEIPT;
    request.receipt = &receipt;
    Kinnet__V1__ConsentReply *json = s_consent (0, &request);
    cr_assert_null (json->error);
    cr_assert (strstr (json->receipt_json, "\"consentReceiptID\""));
    cr_assert (strstr (json->receipt_json, "\"piiPrincipalId\""));
    cr_assert (strstr (json->receipt_json, "\"event\": \"given\""), "%s", json->receipt_json);
    cr_assert_null (strstr (json->receipt_json, "Selin"), "receipt must not carry names");
    kinnet__v1__consent_reply__free_unpacked (json, NULL);
    free (consent_id);
}

Test (consent_e2e, bad_consent_requests_are_answered_and_write_nothing)
{
    Kinnet__V1__RecordConsent record = KINNET__V1__RECORD_CONSENT__INIT;
    record.idempotency_key = "bad";
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_RECORD;
    request.record = &record;
    Kinnet__V1__ConsentReply *reply = s_consent (0, &request);
    cr_assert_not_null (reply->error);
    cr_assert_str_eq (reply->error->field, "subject");
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);

    //  Each read names the field that is wrong, whichever operation it is.
    static const struct {
        int op;
        const char *field;
    } reads[] = {{KINNET__V1__CONSENT_REQUEST__OP_GET, "consent_id"},
                 {KINNET__V1__CONSENT_REQUEST__OP_LIST, "subject_id"},
                 {KINNET__V1__CONSENT_REQUEST__OP_RECEIPT, "consent_id"}};
    Kinnet__V1__GetConsent bad_get = KINNET__V1__GET_CONSENT__INIT;
    bad_get.consent_id = "not-a-uuid";
    Kinnet__V1__ListConsents bad_list = KINNET__V1__LIST_CONSENTS__INIT;
    bad_list.subject_id = "not-a-uuid";
    Kinnet__V1__GetReceipt bad_receipt = KINNET__V1__GET_RECEIPT__INIT;
    bad_receipt.consent_id = "not-a-uuid";
    for (size_t i = 0; i < 3; i++) {
        Kinnet__V1__ConsentRequest read = KINNET__V1__CONSENT_REQUEST__INIT;
        read.op_case = reads[i].op;
        read.get = &bad_get; // the oneof's one pointer: set as the operation needs
        if (reads[i].op == KINNET__V1__CONSENT_REQUEST__OP_LIST)
            read.list = &bad_list;
        if (reads[i].op == KINNET__V1__CONSENT_REQUEST__OP_RECEIPT)
            read.receipt = &bad_receipt;
        reply = s_consent (0, &read);
        cr_assert_not_null (reply->error);
        cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT);
        cr_assert_str_eq (reply->error->field, reads[i].field);
        kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    }

    //  Empty scope.
    child.given_name = "Deniz";
    child.family_name = "Kaya";
    child.date_of_birth = "2016-01-01";
    Kinnet__V1__SubjectRef subject = KINNET__V1__SUBJECT_REF__INIT;
    subject.person = &child;
    record.subject = &subject;
    record.given_by = KINNET__V1__CONSENT_GIVER__CHILD;
    reply = s_consent (0, &request);
    cr_assert_not_null (reply->error);
    cr_assert_str_eq (reply->error->field, "scope.agencies");
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);

    //  Until before from.
    Kinnet__V1__Purpose purposes[] = {KINNET__V1__PURPOSE__COORDINATION_OF_SUPPORT};
    Kinnet__V1__DataCategory categories[] = {KINNET__V1__DATA_CATEGORY__EDUCATION};
    Kinnet__V1__AgencySector sectors[] = {KINNET__V1__AGENCY_SECTOR__SCHOOL};
    Kinnet__V1__Scope scope = KINNET__V1__SCOPE__INIT;
    scope.sectors = sectors;
    scope.n_sectors = 1;
    scope.categories = categories;
    scope.n_categories = 1;
    scope.purposes = purposes;
    scope.n_purposes = 1;
    record.scope = &scope;
    Kinnet__V1__Timestamp from = KINNET__V1__TIMESTAMP__INIT, until = KINNET__V1__TIMESTAMP__INIT;
    from.seconds = time (NULL) + 10 * 86400;
    until.seconds = time (NULL) + 5 * 86400;
    record.valid_from = &from;
    record.valid_until = &until;
    record.method = KINNET__V1__COLLECTION_METHOD__DIGITAL;
    record.evidence_reference = "app-1";
    record.privacy_notice_version = "3";
    record.privacy_notice_language = "en";
    reply = s_consent (0, &request);
    cr_assert_not_null (reply->error);
    cr_assert_str_eq (reply->error->field, "valid_until");
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);

    //  Unknown subject id.
    Kinnet__V1__ListConsents list = KINNET__V1__LIST_CONSENTS__INIT;
    list.subject_id = "6f1c3a52-1b7e-4c1e-9d8a-0e5b2f3c4d5e";
    request.op_case = KINNET__V1__CONSENT_REQUEST__OP_LIST;
    request.list = &list;
    reply = s_consent (0, &request);
    cr_assert_not_null (reply->error);
    cr_assert_eq (reply->error->code, KINNET__V1__ERROR_CODE__NOT_FOUND);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);

    char *count = kn_test_sql (kn_test_stack_db_url (stack),
                               "SELECT (SELECT count (*) FROM consent.record)"
                               " + (SELECT count (*) FROM core.subject)");
    cr_assert_str_eq (count, "0");
    free (count);
    //  Each refusal is on the audit trail.
    count = kn_test_sql (kn_test_stack_db_url (stack),
                         "SELECT count (*) FROM core.audit WHERE service = 'consent'"
                         " AND result = 'invalid_argument'");
    cr_assert_str_eq (count, "6"); // the three refusals above, and the three reads
    free (count);
}
