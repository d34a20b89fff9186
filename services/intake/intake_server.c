/*  intake_server: decode an IntakeRequest, run its operation's row of the table
    below (validate, then handle), encode. A valid submit is not stored on its own:
    it waits for the batch it arrived with, and is answered after it. */
#include "intake_server.h"

#include "intake_validate.h"
#include "kinnet/v1/common.pb-c.h"
#include "kn_clock.h"
#include "kn_dispatch.h"
#include "kn_log.h"
#include "kn_service.h"
#include "kn_validate.h"
#include "kn_alloc.h"

struct _intake_server_t {
    intake_store_t *store;
};

typedef struct _op_t op_t;

//  One request of a batch.
typedef struct {
    char agency_id[KN_UUID_STR];
    Kinnet__V1__IntakeRequest *decoded;
    const op_t *op;   //  NULL until its operation is known
    kn_about_t about; //  what its audit row names
    kn_error_t err;
    zmsg_t *reply;
    intake_submission_t *submission; // a valid submit, waiting for the batch
} request_t;

//  One operation of IntakeRequest: what it is called, what it answers with, the ids
//  its audit row names, its field rules, and what runs it (handle: answers
//  request->reply now, or, for a submit, fills submission for the batch).
struct _op_t {
    int op_case; //  first, as kn_dispatch_find reads it
    const char *operation;
    Kinnet__V1__IntakeReply__ResultCase result_case;
    kn_about_t (*about) (const Kinnet__V1__IntakeRequest *request);
    int (*validate) (const Kinnet__V1__IntakeRequest *request, time_t now,
                     kn_error_t *err);
    int (*handle) (intake_server_t *self, request_t *request,
                   intake_submission_t *submission);
};

intake_server_t *
intake_server_new (intake_store_t *store)
{
    intake_server_t *self = kn_calloc (1, sizeof *self);
    self->store = store;
    return self;
}

void
intake_server_destroy (intake_server_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

static zmsg_t *
s_pack_reply (Kinnet__V1__IntakeReply *reply)
{
    return kn_service_reply (&reply->base);
}

static void
s_timestamp (Kinnet__V1__Timestamp *ts, int64_t us)
{
    ts->seconds = us / 1000000;
    ts->nanos = (int32_t)(us % 1000000) * 1000;
}

//  The operations' parts, in the order of the table below.

static kn_about_t
s_about_submit (const Kinnet__V1__IntakeRequest *request)
{
    return (kn_about_t){.caseworker = request->submit->caseworker_id};
}

static int
s_validate_submit (const Kinnet__V1__IntakeRequest *request, time_t now, kn_error_t *err)
{
    return intake_validate_submit (request->submit, now, err);
}

static int
s_submit (intake_server_t *self, request_t *request, intake_submission_t *submission)
{
    *submission = (intake_submission_t){.agency_id = request->agency_id,
                                        .referral = request->decoded->submit};
    request->submission = submission;
    return 0;
}

//  The reply to a submit, once its batch is stored.
static zmsg_t *
s_submitted (const request_t *request)
{
    const char *agency_id = request->agency_id;
    const intake_submit_result_t *stored = &request->submission->result;
    kn_log (KN_INFO, stored->replayed ? "referral.replayed" : "referral.stored",
            "referral_id", stored->referral_id, "family_id", stored->family_id,
            "agency_id", agency_id, "family_matched",
            stored->family_matched ? "true" : "false", NULL);
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    s_timestamp (&at, stored->received_at_us);
    Kinnet__V1__SubmitReferralResult result = KINNET__V1__SUBMIT_REFERRAL_RESULT__INIT;
    result.referral_id = (char *)stored->referral_id;
    //  The family and its subjects only to an agency that had standing with the
    //  family: to anyone else a match must look exactly like a new family.
    result.family_id = stored->family_known ? (char *)stored->family_id : "";
    result.family_matched = stored->family_known && stored->family_matched;
    result.replayed = stored->replayed;
    result.received_at = &at;
    char *subject_ids[16];
    for (size_t i = 0; i < stored->subject_count; i++)
        subject_ids[i] = (char *)stored->subject_ids[i];
    result.subject_ids = subject_ids;
    result.n_subject_ids = stored->family_known ? stored->subject_count : 0;
    Kinnet__V1__IntakeReply reply = KINNET__V1__INTAKE_REPLY__INIT;
    reply.result_case = request->op->result_case;
    reply.submitted = &result;
    return s_pack_reply (&reply);
}

static kn_about_t
s_about_get (const Kinnet__V1__IntakeRequest *request)
{
    return (kn_about_t){.caseworker = request->get->caseworker_id,
                        .object = request->get->referral_id};
}

static int
s_validate_get (const Kinnet__V1__IntakeRequest *request, time_t now, kn_error_t *err)
{
    const Kinnet__V1__GetReferral *get = request->get;
    if (intake_validate_get (get, err))
        return -1;
    return get->purpose ? kn_validate_enum (&kinnet__v1__purpose__descriptor,
                                            get->purpose, "purpose", err)
                        : 0;
}

static int
s_get (intake_server_t *self, request_t *request, intake_submission_t *submission)
{
    const char *agency_id = request->agency_id;
    const Kinnet__V1__GetReferral *get = request->decoded->get;
    intake_referral_t stored;
    int purpose =
        get->purpose ? (int)get->purpose : KINNET__V1__PURPOSE__REFERRAL_AND_ASSESSMENT;
    if (intake_store_get (self->store, agency_id, get->referral_id, get->caseworker_id,
                          purpose, &stored, &request->err))
        return -1;
    Kinnet__V1__Timestamp received = KINNET__V1__TIMESTAMP__INIT;
    Kinnet__V1__Timestamp withdrawn = KINNET__V1__TIMESTAMP__INIT;
    s_timestamp (&received, stored.received_at_us);
    s_timestamp (&withdrawn, stored.withdrawn_at_us);
    Kinnet__V1__Referral referral = KINNET__V1__REFERRAL__INIT;
    referral.referral_id = stored.referral_id;
    //  The referrer sees the family only if its submit reply showed it.
    bool own = strcmp (stored.agency_id, agency_id) == 0;
    referral.family_id = own && !stored.family_known ? "" : stored.family_id;
    referral.referring_agency_id = stored.agency_id;
    referral.status = (Kinnet__V1__ReferralStatus)stored.status;
    referral.received_at = &received;
    referral.withdrawn_at = stored.withdrawn_at_us ? &withdrawn : NULL;
    referral.withdraw_reason = stored.withdraw_reason ? stored.withdraw_reason : "";
    referral.submitted = stored.submitted;
    referral.withheld = (Kinnet__V1__DataCategory *)stored.withheld;
    referral.n_withheld = stored.n_withheld;
    referral.disclosure_basis = (Kinnet__V1__LawfulBasis)stored.disclosure_basis;
    referral.disclosure_ground_id = stored.ground_id;
    Kinnet__V1__IntakeReply reply = KINNET__V1__INTAKE_REPLY__INIT;
    reply.result_case = request->op->result_case;
    reply.referral = &referral;
    request->reply = s_pack_reply (&reply);
    kn_log (KN_INFO, "referral.disclosed", "referral_id", stored.referral_id, "agency_id",
            agency_id, "ground_id", stored.ground_id, NULL);
    intake_referral_free (&stored);
    return 0;
}

static kn_about_t
s_about_withdraw (const Kinnet__V1__IntakeRequest *request)
{
    return (kn_about_t){.caseworker = request->withdraw->caseworker_id,
                        .object = request->withdraw->referral_id};
}

static int
s_validate_withdraw (const Kinnet__V1__IntakeRequest *request, time_t now,
                     kn_error_t *err)
{
    return intake_validate_withdraw (request->withdraw, err);
}

static int
s_withdraw (intake_server_t *self, request_t *request, intake_submission_t *submission)
{
    const char *agency_id = request->agency_id;
    intake_withdraw_result_t stored;
    if (intake_store_withdraw (self->store, agency_id, request->decoded->withdraw,
                               &stored, &request->err))
        return -1;
    kn_log (KN_INFO,
            stored.replayed ? "referral.withdraw_replayed" : "referral.withdrawn",
            "referral_id", stored.referral_id, "agency_id", agency_id, NULL);
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    s_timestamp (&at, stored.withdrawn_at_us);
    Kinnet__V1__WithdrawReferralResult result =
        KINNET__V1__WITHDRAW_REFERRAL_RESULT__INIT;
    result.referral_id = stored.referral_id;
    result.status = (Kinnet__V1__ReferralStatus)stored.status;
    result.withdrawn_at = &at;
    result.replayed = stored.replayed;
    Kinnet__V1__IntakeReply reply = KINNET__V1__INTAKE_REPLY__INIT;
    reply.result_case = request->op->result_case;
    reply.withdrawn = &result;
    request->reply = s_pack_reply (&reply);
    return 0;
}

#define OP(name)     KINNET__V1__INTAKE_REQUEST__OP_##name
#define RESULT(name) KINNET__V1__INTAKE_REPLY__RESULT_##name

//  The operations, as docs/protocol/intake.md lists them. Columns: op, audited as,
//  result, about, validate, handle. The store audits what succeeds; refusals are
//  audited here (s_end).
static const op_t s_ops[] = {
    {OP (SUBMIT), "submit", RESULT (SUBMITTED), s_about_submit, s_validate_submit,
     s_submit},
    {OP (GET), "get", RESULT (REFERRAL), s_about_get, s_validate_get, s_get},
    {OP (WITHDRAW), "withdraw", RESULT (WITHDRAWN), s_about_withdraw, s_validate_withdraw,
     s_withdraw},
};

#undef OP
#undef RESULT

//  Decode and check one request; answer it now unless it is a submit for the batch.
static void
s_begin (intake_server_t *self, zmsg_t *message, request_t *request,
         intake_submission_t *submission)
{
    kn_error_clear (&request->err);
    request->about.operation = "unknown";
    if (kn_service_caller (message, request->agency_id, &request->err)) {
        request->reply = kn_service_error_reply (&request->err); // no agency to audit
        return;
    }
    request->decoded = (Kinnet__V1__IntakeRequest *)kn_service_decode (
        message, &kinnet__v1__intake_request__descriptor, &request->err);
    Kinnet__V1__IntakeRequest *decoded = request->decoded;
    if (!decoded)
        return;
    const op_t *op = KN_DISPATCH_FIND (
        s_ops, decoded->op_case, "IntakeRequest must set one of submit, get, withdraw",
        &request->err);
    if (!op)
        return;
    request->op = op;
    request->about = op->about (decoded);
    request->about.operation = op->operation;
    if (op->validate (decoded, kn_clock_now (), &request->err) == 0)
        op->handle (self, request, submission);
}

//  Reply to one request, as an error when nothing else answered it.
static zmsg_t *
s_end (intake_server_t *self, request_t *request)
{
    if (request->submission) {
        if (request->submission->rc == 0)
            request->reply = s_submitted (request);
        else
            request->err = request->submission->err;
    }
    if (!request->reply) {
        kn_error_t *err = &request->err;
        kn_log (KN_INFO, "request.refused", "operation", request->about.operation,
                "agency_id", request->agency_id, "code", kn_code_name (err->code),
                "field", err->field, NULL);
        const char *caseworker = request->about.caseworker;
        if (caseworker && strlen (caseworker) > INTAKE_MAX_REFERENCE)
            caseworker = NULL;
        intake_store_audit_failure (self->store, request->agency_id, caseworker,
                                    request->about.operation, request->about.object,
                                    err->code);
        request->reply = kn_service_error_reply (err);
    }
    if (request->decoded)
        kinnet__v1__intake_request__free_unpacked (request->decoded, NULL);
    return request->reply;
}

void
intake_server_handle_many (intake_server_t *self, zmsg_t **requests, zmsg_t **replies,
                           const char **operations, size_t n)
{
    request_t *batch = kn_calloc (n ? n : 1, sizeof *batch);
    intake_submission_t *submissions = kn_calloc (n ? n : 1, sizeof *submissions);
    size_t n_submissions = 0;
    for (size_t i = 0; i < n; i++) {
        s_begin (self, requests[i], &batch[i], &submissions[n_submissions]);
        if (batch[i].submission)
            n_submissions++;
    }
    if (n_submissions > 0)
        intake_store_submit_many (self->store, submissions, n_submissions);
    for (size_t i = 0; i < n; i++) {
        replies[i] = s_end (self, &batch[i]);
        operations[i] = batch[i].about.operation;
    }
    free (submissions);
    free (batch);
}

zmsg_t *
intake_server_handle (intake_server_t *self, zmsg_t *request)
{
    zmsg_t *reply = NULL;
    const char *operation = NULL;
    intake_server_handle_many (self, &request, &reply, &operation, 1);
    return reply;
}
