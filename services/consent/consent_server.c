/*  consent_server: decode, validate, dispatch, encode. */
#include "consent_server.h"

#include "consent_validate.h"
#include "kn_log.h"
#include "kn_service.h"
#include "kn_validate.h"

struct _consent_server_t {
    consent_store_t *store;
    consent_release_t *releases;
};

consent_server_t *
consent_server_new (consent_store_t *store, consent_release_t *releases)
{
    consent_server_t *self = calloc (1, sizeof *self);
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

//  What the audit row says about a request.
typedef struct {
    const char *operation;
    const char *caseworker;
    const char *subject;
    const char *object;
} about_t;

static Kinnet__V1__DisclosureDecision *
s_decision_message (const kn_policy_decision_t *decision)
{
    Kinnet__V1__DisclosureDecision *out = malloc (sizeof *out);
    kinnet__v1__disclosure_decision__init (out);
    out->decision = decision->decision;
    out->categories = malloc ((decision->count ? decision->count : 1)
                              * sizeof (Kinnet__V1__CategoryDecision *));
    for (size_t i = 0; i < decision->count; i++) {
        const kn_policy_category_t *entry = &decision->categories[i];
        Kinnet__V1__CategoryDecision *c = malloc (sizeof *c);
        kinnet__v1__category_decision__init (c);
        c->category = entry->category;
        c->permitted = entry->permitted;
        c->basis = entry->basis;
        c->ground_id = strdup (entry->ground_id);
        c->reason = strdup (entry->reason);
        out->categories[out->n_categories++] = c;
    }
    return out;
}

//  Run the operation; fills reply (a malloc'd result inside it) or err.
static int
s_dispatch (consent_server_t *self, const char *agency, Kinnet__V1__ConsentRequest *request,
            Kinnet__V1__ConsentReply *reply, about_t *about, kn_error_t *err)
{
    consent_store_t *store = self->store;
    time_t now = time (NULL);
    switch (request->op_case) {
    case KINNET__V1__CONSENT_REQUEST__OP_RECORD:
        *about = (about_t) {"record", request->record->caseworker_id, NULL, NULL};
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_CONSENT;
        return consent_validate_record (request->record, now, err)
                   ?: consent_store_record (store, agency, request->record, &reply->consent, err);
    case KINNET__V1__CONSENT_REQUEST__OP_WITHDRAW:
        *about = (about_t) {"withdraw", request->withdraw->caseworker_id, NULL,
                            request->withdraw->consent_id};
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_CONSENT;
        return consent_validate_withdraw (request->withdraw, err)
                   ?: consent_store_withdraw (store, agency, request->withdraw, &reply->consent,
                                              err);
    case KINNET__V1__CONSENT_REQUEST__OP_GET:
        *about = (about_t) {"get", NULL, NULL, request->get->consent_id};
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_CONSENT;
        return kn_validate_uuid (request->get->consent_id, "consent_id", err)
                   ?: consent_store_get (store, agency, request->get->consent_id, &reply->consent,
                                         err);
    case KINNET__V1__CONSENT_REQUEST__OP_LIST:
        *about = (about_t) {"list", NULL, request->list->subject_id, NULL};
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_CONSENTS;
        return kn_validate_uuid (request->list->subject_id, "subject_id", err)
                   ?: consent_store_list (store, agency, request->list->subject_id,
                                          &reply->consents, err);
    case KINNET__V1__CONSENT_REQUEST__OP_RECEIPT:
        *about = (about_t) {"receipt", NULL, NULL, request->receipt->consent_id};
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_RECEIPT_JSON;
        return kn_validate_uuid (request->receipt->consent_id, "consent_id", err)
                   ?: consent_store_receipt (store, agency, request->receipt->consent_id,
                                             &reply->receipt_json, err);
    case KINNET__V1__CONSENT_REQUEST__OP_EXPIRING:
        *about = (about_t) {"expiring", NULL, NULL, NULL};
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_CONSENTS;
        return consent_store_expiring (store, agency, request->expiring->days, &reply->consents,
                                       err);
    case KINNET__V1__CONSENT_REQUEST__OP_CHECK: {
        *about = (about_t) {"check", NULL, request->check->subject_id, NULL};
        kn_policy_decision_t decision;
        if (consent_validate_check (request->check, err)
            || consent_store_check (store, agency, request->check, &decision, err))
            return -1;
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_DECISION;
        reply->decision = s_decision_message (&decision);
        return 0;
    }
    case KINNET__V1__CONSENT_REQUEST__OP_BASIS:
        *about = (about_t) {"basis", request->basis->caseworker_id, NULL, NULL};
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_BASIS;
        return consent_validate_basis (request->basis, now, err)
                   ?: consent_store_basis (store, agency, request->basis, &reply->basis, err);
    case KINNET__V1__CONSENT_REQUEST__OP_OVERRIDE:
        *about = (about_t) {"override", request->override->caseworker_id, NULL, NULL};
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_OVERRIDE;
        return consent_validate_override (request->override, now, err)
                   ?: consent_store_override (store, agency, request->override,
                                              &reply->override, err);
    case KINNET__V1__CONSENT_REQUEST__OP_REVIEW:
        *about = (about_t) {"review", request->review->caseworker_id, NULL,
                            request->review->override_id};
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_OVERRIDE;
        return consent_validate_review (request->review, err)
                   ?: consent_store_review (store, agency, request->review, &reply->override,
                                            err);
    case KINNET__V1__CONSENT_REQUEST__OP_OVERRIDES:
        *about = (about_t) {"overrides", NULL, NULL, NULL};
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_OVERRIDES;
        return consent_store_overrides (store, agency, request->overrides->open_only,
                                        &reply->overrides, err);
    case KINNET__V1__CONSENT_REQUEST__OP_REQUEST_RELEASE:
        *about = (about_t) {"release_request", request->request_release->caseworker_id, NULL,
                            request->request_release->ground_id};
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_RELEASE;
        return consent_validate_request_release (request->request_release, err)
                   ?: consent_release_request (self->releases, agency, request->request_release,
                                               &reply->release, err);
    case KINNET__V1__CONSENT_REQUEST__OP_DECIDE_RELEASE:
        *about = (about_t) {"release_decide", request->decide_release->caseworker_id, NULL,
                            request->decide_release->release_id};
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_RELEASE;
        return consent_validate_decide_release (request->decide_release, err)
                   ?: consent_release_decide (self->releases, agency, request->decide_release,
                                              &reply->release, err);
    case KINNET__V1__CONSENT_REQUEST__OP_RELEASES:
        *about = (about_t) {"releases", NULL, NULL, NULL};
        reply->result_case = KINNET__V1__CONSENT_REPLY__RESULT_RELEASES;
        return consent_release_list (self->releases, agency, request->releases->open_only,
                                     &reply->releases, err);
    default:
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "op",
                             "ConsentRequest must set one operation");
    }
}

zmsg_t *
consent_server_handle (consent_server_t *self, zmsg_t *request)
{
    kn_error_t err;
    kn_error_clear (&err);
    char agency[KN_UUID_STR];
    if (kn_service_caller (request, agency, &err))
        return kn_service_error_reply (&err);
    Kinnet__V1__ConsentRequest *decoded = (Kinnet__V1__ConsentRequest *) kn_service_decode (
        request, &kinnet__v1__consent_request__descriptor, &err);
    about_t about = {"unknown", NULL, NULL, NULL};
    Kinnet__V1__ConsentReply reply = KINNET__V1__CONSENT_REPLY__INIT;
    int rc = decoded ? s_dispatch (self, agency, decoded, &reply, &about, &err) : -1;
    zmsg_t *msg;
    if (rc == 0) {
        msg = kn_service_reply (&reply.base);
        kn_log (KN_INFO, "consent.handled", "operation", about.operation, "agency_id", agency,
                NULL);
        //  Writes and consent reads audit themselves in their transaction; the other
        //  reads are audited here.
        if (strcmp (about.operation, "record") && strcmp (about.operation, "withdraw")
            && strcmp (about.operation, "get") && strcmp (about.operation, "list")
            && strcmp (about.operation, "receipt")
            && strcmp (about.operation, "basis") && strcmp (about.operation, "override")
            && strcmp (about.operation, "review") && strcmp (about.operation, "release_request")
            && strcmp (about.operation, "release_decide"))
            consent_store_audit (self->store, agency, about.caseworker, about.operation,
                                 about.subject, about.object, NULL, KN_OK);
    }
    else {
        kn_log (KN_INFO, "request.refused", "operation", about.operation, "agency_id", agency,
                "code", kn_code_name (err.code), "field", err.field, NULL);
        const char *caseworker
            = about.caseworker && strlen (about.caseworker) <= 128 ? about.caseworker : NULL;
        consent_store_audit (self->store, agency, caseworker, about.operation, about.subject,
                             about.object, NULL, err.code);
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
