/*  consent_server: decode a ConsentRequest, run its operation's row of the table
    below (validate, then handle), audit what the store did not, encode. */
#include "consent_server.h"

#include "consent_validate.h"
#include "kn_clock.h"
#include "kn_dispatch.h"
#include "kn_log.h"
#include "kn_service.h"
#include "kn_validate.h"
#include "kn_alloc.h"

struct _consent_server_t {
    consent_store_t *store;
    consent_release_t *releases;
};

consent_server_t *
consent_server_new (consent_store_t *store, consent_release_t *releases)
{
    consent_server_t *self = kn_calloc (1, sizeof *self);
    self->store = store;
    self->releases = releases;
    return self;
}

void
consent_server_destroy (consent_server_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  One operation of ConsentRequest: what it is called, what it answers with, the
//  ids its audit row names (about; NULL: none), its field rules (validate; NULL:
//  none), and the store call that runs it (handle).
typedef struct {
    int op_case; //  first, as kn_dispatch_find reads it
    const char *operation;
    Kinnet__V1__ConsentReply__ResultCase result_case;
    kn_about_t (*about) (const Kinnet__V1__ConsentRequest *request);
    int (*validate) (const Kinnet__V1__ConsentRequest *request, time_t now,
                     kn_error_t *err);
    int (*handle) (consent_server_t *self, const char *agency,
                   const Kinnet__V1__ConsentRequest *request,
                   Kinnet__V1__ConsentReply *reply, kn_error_t *err);
    //  The store writes the audit row in the operation's own transaction; the
    //  others are audited here once they succeed.
    bool audits_itself;
} op_t;

static Kinnet__V1__DisclosureDecision *
s_decision_message (const kn_policy_decision_t *decision)
{
    Kinnet__V1__DisclosureDecision *out = kn_malloc (sizeof *out);
    kinnet__v1__disclosure_decision__init (out);
    out->decision = decision->decision;
    out->categories = kn_malloc ((decision->count ? decision->count : 1) *
                              sizeof (Kinnet__V1__CategoryDecision *));
    for (size_t i = 0; i < decision->count; i++) {
        const kn_policy_category_t *entry = &decision->categories[i];
        Kinnet__V1__CategoryDecision *c = kn_malloc (sizeof *c);
        kinnet__v1__category_decision__init (c);
        c->category = entry->category;
        c->permitted = entry->permitted;
        c->basis = entry->basis;
        c->ground_id = kn_strdup (entry->ground_id);
        c->reason = kn_strdup (entry->reason);
        out->categories[out->n_categories++] = c;
    }
    return out;
}

//  The operations' parts, in the order of the table below.

static kn_about_t
s_about_record (const Kinnet__V1__ConsentRequest *request)
{
    return (kn_about_t){.caseworker = request->record->caseworker_id};
}

static int
s_validate_record (const Kinnet__V1__ConsentRequest *request, time_t now, kn_error_t *err)
{
    return consent_validate_record (request->record, now, err);
}

static int
s_record (consent_server_t *self, const char *agency,
          const Kinnet__V1__ConsentRequest *request, Kinnet__V1__ConsentReply *reply,
          kn_error_t *err)
{
    return consent_store_record (self->store, agency, request->record, &reply->consent,
                                 err);
}

static kn_about_t
s_about_withdraw (const Kinnet__V1__ConsentRequest *request)
{
    return (kn_about_t){.caseworker = request->withdraw->caseworker_id,
                        .object = request->withdraw->consent_id};
}

static int
s_validate_withdraw (const Kinnet__V1__ConsentRequest *request, time_t now,
                     kn_error_t *err)
{
    return consent_validate_withdraw (request->withdraw, err);
}

static int
s_withdraw (consent_server_t *self, const char *agency,
            const Kinnet__V1__ConsentRequest *request, Kinnet__V1__ConsentReply *reply,
            kn_error_t *err)
{
    return consent_store_withdraw (self->store, agency, request->withdraw,
                                   &reply->consent, err);
}

static kn_about_t
s_about_get (const Kinnet__V1__ConsentRequest *request)
{
    return (kn_about_t){.object = request->get->consent_id};
}

static int
s_validate_get (const Kinnet__V1__ConsentRequest *request, time_t now, kn_error_t *err)
{
    return kn_validate_uuid (request->get->consent_id, "consent_id", err);
}

static int
s_get (consent_server_t *self, const char *agency,
       const Kinnet__V1__ConsentRequest *request, Kinnet__V1__ConsentReply *reply,
       kn_error_t *err)
{
    return consent_store_get (self->store, agency, request->get->consent_id,
                              &reply->consent, err);
}

static kn_about_t
s_about_list (const Kinnet__V1__ConsentRequest *request)
{
    return (kn_about_t){.subject = request->list->subject_id};
}

static int
s_validate_list (const Kinnet__V1__ConsentRequest *request, time_t now, kn_error_t *err)
{
    return kn_validate_uuid (request->list->subject_id, "subject_id", err);
}

static int
s_list (consent_server_t *self, const char *agency,
        const Kinnet__V1__ConsentRequest *request, Kinnet__V1__ConsentReply *reply,
        kn_error_t *err)
{
    return consent_store_list (self->store, agency, request->list->subject_id,
                               &reply->consents, err);
}

static kn_about_t
s_about_receipt (const Kinnet__V1__ConsentRequest *request)
{
    return (kn_about_t){.object = request->receipt->consent_id};
}

static int
s_validate_receipt (const Kinnet__V1__ConsentRequest *request, time_t now,
                    kn_error_t *err)
{
    return kn_validate_uuid (request->receipt->consent_id, "consent_id", err);
}

static int
s_receipt (consent_server_t *self, const char *agency,
           const Kinnet__V1__ConsentRequest *request, Kinnet__V1__ConsentReply *reply,
           kn_error_t *err)
{
    return consent_store_receipt (self->store, agency, request->receipt->consent_id,
                                  &reply->receipt_json, err);
}

static int
s_expiring (consent_server_t *self, const char *agency,
            const Kinnet__V1__ConsentRequest *request, Kinnet__V1__ConsentReply *reply,
            kn_error_t *err)
{
    return consent_store_expiring (self->store, agency, request->expiring->days,
                                   &reply->consents, err);
}

static kn_about_t
s_about_check (const Kinnet__V1__ConsentRequest *request)
{
    return (kn_about_t){.subject = request->check->subject_id};
}

static int
s_validate_check (const Kinnet__V1__ConsentRequest *request, time_t now, kn_error_t *err)
{
    return consent_validate_check (request->check, err);
}

static int
s_check (consent_server_t *self, const char *agency,
         const Kinnet__V1__ConsentRequest *request, Kinnet__V1__ConsentReply *reply,
         kn_error_t *err)
{
    kn_policy_decision_t decision;
    if (consent_store_check (self->store, agency, request->check, &decision, err))
        return -1;
    reply->decision = s_decision_message (&decision);
    return 0;
}

static kn_about_t
s_about_basis (const Kinnet__V1__ConsentRequest *request)
{
    return (kn_about_t){.caseworker = request->basis->caseworker_id};
}

static int
s_validate_basis (const Kinnet__V1__ConsentRequest *request, time_t now, kn_error_t *err)
{
    return consent_validate_basis (request->basis, now, err);
}

static int
s_basis (consent_server_t *self, const char *agency,
         const Kinnet__V1__ConsentRequest *request, Kinnet__V1__ConsentReply *reply,
         kn_error_t *err)
{
    return consent_store_basis (self->store, agency, request->basis, &reply->basis, err);
}

static kn_about_t
s_about_override (const Kinnet__V1__ConsentRequest *request)
{
    return (kn_about_t){.caseworker = request->override->caseworker_id};
}

static int
s_validate_override (const Kinnet__V1__ConsentRequest *request, time_t now,
                     kn_error_t *err)
{
    return consent_validate_override (request->override, now, err);
}

static int
s_override (consent_server_t *self, const char *agency,
            const Kinnet__V1__ConsentRequest *request, Kinnet__V1__ConsentReply *reply,
            kn_error_t *err)
{
    return consent_store_override (self->store, agency, request->override,
                                   &reply->override, err);
}

static kn_about_t
s_about_review (const Kinnet__V1__ConsentRequest *request)
{
    return (kn_about_t){.caseworker = request->review->caseworker_id,
                        .object = request->review->override_id};
}

static int
s_validate_review (const Kinnet__V1__ConsentRequest *request, time_t now, kn_error_t *err)
{
    return consent_validate_review (request->review, err);
}

static int
s_review (consent_server_t *self, const char *agency,
          const Kinnet__V1__ConsentRequest *request, Kinnet__V1__ConsentReply *reply,
          kn_error_t *err)
{
    return consent_store_review (self->store, agency, request->review, &reply->override,
                                 err);
}

static int
s_overrides (consent_server_t *self, const char *agency,
             const Kinnet__V1__ConsentRequest *request, Kinnet__V1__ConsentReply *reply,
             kn_error_t *err)
{
    return consent_store_overrides (self->store, agency, request->overrides->open_only,
                                    &reply->overrides, err);
}

static kn_about_t
s_about_request_release (const Kinnet__V1__ConsentRequest *request)
{
    return (kn_about_t){.caseworker = request->request_release->caseworker_id,
                        .object = request->request_release->ground_id};
}

static int
s_validate_request_release (const Kinnet__V1__ConsentRequest *request, time_t now,
                            kn_error_t *err)
{
    return consent_validate_request_release (request->request_release, err);
}

static int
s_request_release (consent_server_t *self, const char *agency,
                   const Kinnet__V1__ConsentRequest *request,
                   Kinnet__V1__ConsentReply *reply, kn_error_t *err)
{
    return consent_release_request (self->releases, agency, request->request_release,
                                    &reply->release, err);
}

static kn_about_t
s_about_decide_release (const Kinnet__V1__ConsentRequest *request)
{
    return (kn_about_t){.caseworker = request->decide_release->caseworker_id,
                        .object = request->decide_release->release_id};
}

static int
s_validate_decide_release (const Kinnet__V1__ConsentRequest *request, time_t now,
                           kn_error_t *err)
{
    return consent_validate_decide_release (request->decide_release, err);
}

static int
s_decide_release (consent_server_t *self, const char *agency,
                  const Kinnet__V1__ConsentRequest *request,
                  Kinnet__V1__ConsentReply *reply, kn_error_t *err)
{
    return consent_release_decide (self->releases, agency, request->decide_release,
                                   &reply->release, err);
}

static int
s_releases (consent_server_t *self, const char *agency,
            const Kinnet__V1__ConsentRequest *request, Kinnet__V1__ConsentReply *reply,
            kn_error_t *err)
{
    return consent_release_list (self->releases, agency, request->releases->open_only,
                                 &reply->releases, err);
}

#define OP(name)     KINNET__V1__CONSENT_REQUEST__OP_##name
#define RESULT(name) KINNET__V1__CONSENT_REPLY__RESULT_##name

//  The operations, as docs/protocol/consent.md lists them. Columns: op, audited
//  as, result, about, validate, handle, whether the store audits it.
static const op_t s_ops[] = {
    {OP (RECORD), "record", RESULT (CONSENT), s_about_record, s_validate_record, s_record,
     true},
    {OP (WITHDRAW), "withdraw", RESULT (CONSENT), s_about_withdraw, s_validate_withdraw,
     s_withdraw, true},
    {OP (GET), "get", RESULT (CONSENT), s_about_get, s_validate_get, s_get, true},
    {OP (LIST), "list", RESULT (CONSENTS), s_about_list, s_validate_list, s_list, true},
    {OP (RECEIPT), "receipt", RESULT (RECEIPT_JSON), s_about_receipt, s_validate_receipt,
     s_receipt, true},
    {OP (EXPIRING), "expiring", RESULT (CONSENTS), NULL, NULL, s_expiring, false},
    {OP (CHECK), "check", RESULT (DECISION), s_about_check, s_validate_check, s_check,
     false},
    {OP (BASIS), "basis", RESULT (BASIS), s_about_basis, s_validate_basis, s_basis, true},
    {OP (OVERRIDE), "override", RESULT (OVERRIDE), s_about_override, s_validate_override,
     s_override, true},
    {OP (REVIEW), "review", RESULT (OVERRIDE), s_about_review, s_validate_review,
     s_review, true},
    {OP (OVERRIDES), "overrides", RESULT (OVERRIDES), NULL, NULL, s_overrides, false},
    {OP (REQUEST_RELEASE), "release_request", RESULT (RELEASE), s_about_request_release,
     s_validate_request_release, s_request_release, true},
    {OP (DECIDE_RELEASE), "release_decide", RESULT (RELEASE), s_about_decide_release,
     s_validate_decide_release, s_decide_release, true},
    {OP (RELEASES), "releases", RESULT (RELEASES), NULL, NULL, s_releases, false},
};

#undef OP
#undef RESULT

//  Run op: validate, then handle. Fills reply (a malloc'd result inside it) or err.
static int
s_run (consent_server_t *self, const char *agency, const op_t *op,
       const Kinnet__V1__ConsentRequest *request, Kinnet__V1__ConsentReply *reply,
       kn_error_t *err)
{
    reply->result_case = op->result_case;
    if (op->validate && op->validate (request, kn_clock_now (), err))
        return -1;
    return op->handle (self, agency, request, reply, err);
}

zmsg_t *
consent_server_handle (consent_server_t *self, zmsg_t *request)
{
    kn_error_t err;
    kn_error_clear (&err);
    char agency[KN_UUID_STR];
    if (kn_service_caller (request, agency, &err))
        return kn_service_error_reply (&err);
    Kinnet__V1__ConsentRequest *decoded =
        (Kinnet__V1__ConsentRequest *)kn_service_decode (
            request, &kinnet__v1__consent_request__descriptor, &err);
    const op_t *op =
        decoded ? KN_DISPATCH_FIND (s_ops, decoded->op_case,
                                    "ConsentRequest must set one operation", &err)
                : NULL;
    kn_about_t about = op && op->about ? op->about (decoded) : (kn_about_t){NULL};
    about.operation = op ? op->operation : "unknown";
    Kinnet__V1__ConsentReply reply = KINNET__V1__CONSENT_REPLY__INIT;
    int rc = op ? s_run (self, agency, op, decoded, &reply, &err) : -1;
    zmsg_t *msg;
    if (rc == 0) {
        msg = kn_service_reply (&reply.base);
        kn_log (KN_INFO, "consent.handled", "operation", about.operation, "agency_id",
                agency, NULL);
        if (!op->audits_itself)
            consent_store_audit (self->store, agency, about.caseworker, about.operation,
                                 about.subject, about.object, NULL, KN_OK);
    } else {
        kn_log (KN_INFO, "request.refused", "operation", about.operation, "agency_id",
                agency, "code", kn_code_name (err.code), "field", err.field, NULL);
        const char *caseworker = about.caseworker && strlen (about.caseworker) <= 128
                                     ? about.caseworker
                                     : NULL;
        consent_store_audit (self->store, agency, caseworker, about.operation,
                             about.subject, about.object, NULL, err.code);
        msg = kn_service_error_reply (&err);
    }
    //  The result lives in malloc'd messages hung on the stack reply.
    reply.error = NULL;
    switch (reply.result_case) {
    case KINNET__V1__CONSENT_REPLY__RESULT_CONSENT:
        if (reply.consent)
            kinnet__v1__consent__free_unpacked (reply.consent, NULL);
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_CONSENTS:
        if (reply.consents)
            kinnet__v1__consent_list__free_unpacked (reply.consents, NULL);
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_RECEIPT_JSON:
        free (reply.receipt_json);
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_DECISION:
        if (reply.decision)
            kinnet__v1__disclosure_decision__free_unpacked (reply.decision, NULL);
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_BASIS:
        if (reply.basis)
            kinnet__v1__basis_recorded__free_unpacked (reply.basis, NULL);
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_OVERRIDE:
        if (reply.override)
            kinnet__v1__override__free_unpacked (reply.override, NULL);
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_OVERRIDES:
        if (reply.overrides)
            kinnet__v1__override_list__free_unpacked (reply.overrides, NULL);
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_RELEASE:
        if (reply.release)
            kinnet__v1__release__free_unpacked (reply.release, NULL);
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_RELEASES:
        if (reply.releases)
            kinnet__v1__release_list__free_unpacked (reply.releases, NULL);
        break;
    default:
        break;
    }
    if (decoded)
        kinnet__v1__consent_request__free_unpacked (decoded, NULL);
    return msg;
}
