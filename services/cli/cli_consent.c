/*  Consent commands of `kinnet`: consent record|withdraw|show|list|check|receipt|
    expiring|basis, override request|review|list, and release request|approve|
    decline|list (a controller's decision on another agency's ground). Requests go
    to the "consent"
    service through the broker; --file inputs are the JSON form of the request
    message (docs/cli.md). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <czmq.h>
#include <jansson.h>

#include "cli.h"
#include "kinnet/v1/consent.pb-c.h"
#include "kn_pbjson.h"

static const char *s_consent_usage =
    "usage: kinnet consent record --file CONSENT.json\n"
    "       kinnet consent withdraw ID --channel written|verbal_witnessed|digital\n"
    "              [--recipient AGENCY_ID]... [--sector S]... [--category C]...\n"
    "              [--purpose P]... [--key KEY] [--caseworker ID]\n"
    "       kinnet consent show ID\n"
    "       kinnet consent list --subject SUBJECT_ID\n"
    "       kinnet consent check --subject S --agency A --category C [--category C]...\n"
    "              --purpose P [--controller AGENCY_ID]   (whose data; default yours)\n"
    "       kinnet consent receipt ID\n"
    "       kinnet consent expiring --days N\n"
    "       kinnet consent basis --file BASIS.json      (a statutory basis)\n"
    "A withdrawal without --recipient/--sector/--category/--purpose withdraws all of it.\n"
    "Names of categories, purposes and sectors are as in docs/protocol.md, any case.\n";

static const char *s_override_usage =
    "usage: kinnet override request --file OVERRIDE.json\n"
    "       kinnet override review ID --decision upheld|not_justified --notes TEXT\n"
    "              [--key KEY] [--caseworker ID]\n"
    "       kinnet override list [--open]\n"
    "Reviews need the data_protection_officer role.\n";

static const char *s_release_usage =
    "usage: kinnet release request --ground GROUND_ID --controller AGENCY_ID --reason TEXT\n"
    "              [--key KEY] [--caseworker ID]\n"
    "       kinnet release approve|decline ID --reason TEXT [--key KEY] [--caseworker ID]\n"
    "       kinnet release list [--open]\n"
    "A ground (consent, basis, override) your agency holds releases another agency's\n"
    "data only once that agency (the controller) or a data-protection officer approves.\n";

//  The actions of each command, the options each takes and its arguments (an ID).
static const char *const s_file_option[] = {"--file", NULL};
static const char *const s_open_flag[] = {"--open", NULL};

static const cli_action_t s_consent_actions[] = {
    {"record", s_file_option, NULL, 0, 0},
    {"basis", s_file_option, NULL, 0, 0},
    {"withdraw",
     (const char *const[]){"--channel", "--recipient", "--sector", "--category",
                           "--purpose", "--key", "--caseworker", NULL},
     NULL, 1, 1},
    {"show", NULL, NULL, 1, 1},
    {"receipt", NULL, NULL, 1, 1},
    {"list", (const char *const[]){"--subject", NULL}, NULL, 0, 0},
    {"expiring", (const char *const[]){"--days", NULL}, NULL, 0, 0},
    {"check",
     (const char *const[]){"--subject", "--agency", "--category", "--purpose",
                           "--controller", NULL},
     NULL, 0, 0},
    {NULL}};

static const cli_action_t s_override_actions[] = {
    {"request", s_file_option, NULL, 0, 0},
    {"review",
     (const char *const[]){"--decision", "--notes", "--key", "--caseworker", NULL}, NULL,
     1, 1},
    {"list", NULL, s_open_flag, 0, 0},
    {NULL}};

static const char *const s_decide_options[] = {"--reason", "--key", "--caseworker", NULL};
static const cli_action_t s_release_actions[] = {
    {"request",
     (const char *const[]){"--ground", "--controller", "--reason", "--key",
                           "--caseworker", NULL},
     NULL, 0, 0},
    {"approve", s_decide_options, NULL, 1, 1},
    {"decline", s_decide_options, NULL, 1, 1},
    {"list", NULL, s_open_flag, 0, 0},
    {NULL}};

//  Send a ConsentRequest, return the decoded reply or NULL with err.
static Kinnet__V1__ConsentReply *
s_call (const cli_options_t *options, Kinnet__V1__ConsentRequest *request, kn_error_t *err)
{
    return (Kinnet__V1__ConsentReply *) cli_request (options, "consent", &request->base,
                                                     &kinnet__v1__consent_reply__descriptor, err);
}

//  Value of an enum flag by name (any case), or -1.
//  All values of a repeated flag (--category a --category b).
static size_t
s_values (int argc, char **argv, const char *flag, const char **out, size_t max)
{
    size_t n = 0;
    for (int i = 0; i + 1 < argc && n < max; i++)
        if (strcmp (argv[i], flag) == 0)
            out[n++] = argv[++i];
    return n;
}

//  Repeated enum flag into values; -1 (and err) on an unknown name.
static int
s_enum_list (int argc, char **argv, const char *flag, const ProtobufCEnumDescriptor *descriptor,
             int *values, size_t *n, kn_error_t *err)
{
    const char *names[32];
    *n = s_values (argc, argv, flag, names, 32);
    for (size_t i = 0; i < *n; i++) {
        values[i] = cli_enum (descriptor, names[i]);
        if (values[i] < 0)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, flag + 2, "unknown %s '%s'",
                                 flag + 2, names[i]);
    }
    return 0;
}

//  Decode --file as message type descriptor.
static ProtobufCMessage *
s_file (const cli_options_t *options, int argc, char **argv,
        const ProtobufCMessageDescriptor *descriptor, kn_error_t *err)
{
    const char *path = cli_arg (argc, argv, "--file");
    if (!path) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "file", "--file is required");
        return NULL;
    }
    json_error_t json_error;
    json_t *json = strcmp (path, "-") == 0 ? json_loadf (stdin, 0, &json_error)
                                           : json_load_file (path, 0, &json_error);
    if (!json) {
        kn_error_set (err, KN_E_MALFORMED, NULL, "%s: line %d: %s", path, json_error.line,
                      json_error.text);
        return NULL;
    }
    ProtobufCMessage *message = kn_pbjson_decode (descriptor, json, err);
    json_decref (json);
    (void) options;
    return message;
}

//  Run request, print the result message; frees what the request owns? No: the
//  caller does. Returns the exit code.
static int
s_run (const cli_options_t *options, Kinnet__V1__ConsentRequest *request, const char *summary)
{
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__ConsentReply *reply = s_call (options, request, &err);
    if (!reply)
        return cli_fail (options, &err);
    const ProtobufCMessage *result = NULL;
    switch (reply->result_case) {
    case KINNET__V1__CONSENT_REPLY__RESULT_CONSENT:
        result = &reply->consent->base;
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_CONSENTS:
        result = &reply->consents->base;
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_DECISION:
        result = &reply->decision->base;
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_BASIS:
        result = &reply->basis->base;
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_OVERRIDE:
        result = &reply->override->base;
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_OVERRIDES:
        result = &reply->overrides->base;
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_RELEASE:
        result = &reply->release->base;
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_RELEASES:
        result = &reply->releases->base;
        break;
    case KINNET__V1__CONSENT_REPLY__RESULT_RECEIPT_JSON:
        printf ("%s\n", reply->receipt_json);
        kinnet__v1__consent_reply__free_unpacked (reply, NULL);
        return CLI_OK;
    default:
        kinnet__v1__consent_reply__free_unpacked (reply, NULL);
        kn_error_set (&err, KN_E_MALFORMED, NULL, "unexpected reply from consent");
        return cli_fail (options, &err);
    }
    if (!options->json && summary)
        printf ("%s\n", summary);
    if (!options->json && reply->result_case == KINNET__V1__CONSENT_REPLY__RESULT_DECISION) {
        Kinnet__V1__DisclosureDecision *decision = reply->decision;
        static const char *names[] = {"?", "PERMITTED", "PARTLY PERMITTED", "DENIED"};
        printf ("decision: %s\n", names[decision->decision <= 3 ? decision->decision : 0]);
        for (size_t i = 0; i < decision->n_categories; i++) {
            const ProtobufCEnumValue *category = protobuf_c_enum_descriptor_get_value (
                &kinnet__v1__data_category__descriptor, decision->categories[i]->category);
            printf ("  %-22s %-9s %s\n", category ? category->name : "?",
                    decision->categories[i]->permitted ? "permitted" : "denied",
                    decision->categories[i]->reason);
        }
    }
    else
        cli_print_json (result);
    kinnet__v1__consent_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

int
cli_consent (const cli_options_t *options, int argc, char **argv)
{
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_consent_usage, stdout);
        return CLI_OK;
    }
    const cli_action_t *shape =
        cli_action (argc, argv, s_consent_actions, s_consent_usage);
    if (!shape)
        return CLI_USAGE;
    const char *action = shape->name;
    const char *id = cli_positional (argc, argv, shape->valued, 2);
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    int rc;
    if (strcmp (action, "record") == 0 || strcmp (action, "basis") == 0) {
        bool record = strcmp (action, "record") == 0;
        ProtobufCMessage *message
            = s_file (options, argc, argv,
                      record ? &kinnet__v1__record_consent__descriptor
                             : &kinnet__v1__record_basis__descriptor,
                      &err);
        if (!message)
            return err.code == KN_E_INVALID_ARGUMENT && strcmp (err.field, "file") == 0
                       ? (fputs (s_consent_usage, stderr), CLI_USAGE)
                       : cli_fail (options, &err);
        if (record) {
            request.op_case = KINNET__V1__CONSENT_REQUEST__OP_RECORD;
            request.record = (Kinnet__V1__RecordConsent *) message;
        }
        else {
            request.op_case = KINNET__V1__CONSENT_REQUEST__OP_BASIS;
            request.basis = (Kinnet__V1__RecordBasis *) message;
        }
        rc = s_run (options, &request, record ? "consent recorded:" : "statutory basis recorded:");
        protobuf_c_message_free_unpacked (message, NULL);
        return rc;
    }
    if (strcmp (action, "withdraw") == 0 && id) {
        int channel = cli_enum (&kinnet__v1__collection_method__descriptor,
                              cli_arg (argc, argv, "--channel"));
        if (channel < 0) {
            fputs (s_consent_usage, stderr);
            return CLI_USAGE;
        }
        Kinnet__V1__Scope scope = KINNET__V1__SCOPE__INIT;
        const char *agencies[32];
        int sectors[32], categories[32], purposes[32];
        scope.n_agencies = s_values (argc, argv, "--recipient", agencies, 32);
        scope.agencies = (char **) agencies;
        if (s_enum_list (argc, argv, "--sector", &kinnet__v1__agency_sector__descriptor, sectors,
                         &scope.n_sectors, &err)
            || s_enum_list (argc, argv, "--category", &kinnet__v1__data_category__descriptor,
                            categories, &scope.n_categories, &err)
            || s_enum_list (argc, argv, "--purpose", &kinnet__v1__purpose__descriptor, purposes,
                            &scope.n_purposes, &err))
            return cli_fail (options, &err);
        scope.sectors = (Kinnet__V1__AgencySector *) sectors;
        scope.categories = (Kinnet__V1__DataCategory *) categories;
        scope.purposes = (Kinnet__V1__Purpose *) purposes;
        //  The default key makes the same command safe to repeat.
        char key[160];
        const char *given = cli_arg (argc, argv, "--key");
        if (given)
            snprintf (key, sizeof key, "%s", given);
        else {
            //  FNV-1a over the arguments: the same command gives the same key.
            uint32_t hash = 2166136261u;
            for (int i = 3; i < argc; i++) {
                for (const char *c = argv[i]; *c; c++)
                    hash = (hash ^ (uint8_t) *c) * 16777619u;
                hash = (hash ^ 0xff) * 16777619u;   // argument boundary
            }
            snprintf (key, sizeof key, "withdraw-%s-%08x", id, hash);
        }
        Kinnet__V1__WithdrawConsent withdraw = KINNET__V1__WITHDRAW_CONSENT__INIT;
        withdraw.idempotency_key = key;
        withdraw.consent_id = (char *) id;
        withdraw.scope = &scope;
        withdraw.channel = channel;
        const char *caseworker = cli_arg (argc, argv, "--caseworker");
        withdraw.caseworker_id = (char *) (caseworker ? caseworker : "");
        request.op_case = KINNET__V1__CONSENT_REQUEST__OP_WITHDRAW;
        request.withdraw = &withdraw;
        return s_run (options, &request, "withdrawal recorded; the consent now reads:");
    }
    if ((strcmp (action, "show") == 0 || strcmp (action, "receipt") == 0) && id) {
        Kinnet__V1__GetConsent get = KINNET__V1__GET_CONSENT__INIT;
        Kinnet__V1__GetReceipt receipt = KINNET__V1__GET_RECEIPT__INIT;
        if (strcmp (action, "show") == 0) {
            get.consent_id = (char *) id;
            request.op_case = KINNET__V1__CONSENT_REQUEST__OP_GET;
            request.get = &get;
        }
        else {
            receipt.consent_id = (char *) id;
            request.op_case = KINNET__V1__CONSENT_REQUEST__OP_RECEIPT;
            request.receipt = &receipt;
        }
        return s_run (options, &request, NULL);
    }
    if (strcmp (action, "list") == 0 && cli_arg (argc, argv, "--subject")) {
        Kinnet__V1__ListConsents list = KINNET__V1__LIST_CONSENTS__INIT;
        list.subject_id = (char *) cli_arg (argc, argv, "--subject");
        request.op_case = KINNET__V1__CONSENT_REQUEST__OP_LIST;
        request.list = &list;
        return s_run (options, &request, NULL);
    }
    if (strcmp (action, "expiring") == 0 && cli_arg (argc, argv, "--days")) {
        Kinnet__V1__ListExpiring expiring = KINNET__V1__LIST_EXPIRING__INIT;
        expiring.days = atoi (cli_arg (argc, argv, "--days"));
        request.op_case = KINNET__V1__CONSENT_REQUEST__OP_EXPIRING;
        request.expiring = &expiring;
        return s_run (options, &request, NULL);
    }
    if (strcmp (action, "check") == 0 && cli_arg (argc, argv, "--subject")
        && cli_arg (argc, argv, "--agency") && cli_arg (argc, argv, "--purpose")) {
        Kinnet__V1__CheckDisclosure check = KINNET__V1__CHECK_DISCLOSURE__INIT;
        int categories[32];
        check.subject_id = (char *) cli_arg (argc, argv, "--subject");
        check.agency_id = (char *) cli_arg (argc, argv, "--agency");
        const char *controller = cli_arg (argc, argv, "--controller");
        check.controller_agency_id = (char *) (controller ? controller : "");
        check.purpose = cli_enum (&kinnet__v1__purpose__descriptor, cli_arg (argc, argv, "--purpose"));
        if ((int) check.purpose < 0) {
            kn_error_set (&err, KN_E_INVALID_ARGUMENT, "purpose", "unknown purpose");
            return cli_fail (options, &err);
        }
        if (s_enum_list (argc, argv, "--category", &kinnet__v1__data_category__descriptor,
                         categories, &check.n_categories, &err))
            return cli_fail (options, &err);
        check.categories = (Kinnet__V1__DataCategory *) categories;
        request.op_case = KINNET__V1__CONSENT_REQUEST__OP_CHECK;
        request.check = &check;
        return s_run (options, &request, NULL);
    }
    fputs (s_consent_usage, stderr);
    return CLI_USAGE;
}

int
cli_override (const cli_options_t *options, int argc, char **argv)
{
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_override_usage, stdout);
        return CLI_OK;
    }
    const cli_action_t *shape =
        cli_action (argc, argv, s_override_actions, s_override_usage);
    if (!shape)
        return CLI_USAGE;
    const char *action = shape->name;
    const char *id = cli_positional (argc, argv, shape->valued, 2);
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    if (strcmp (action, "request") == 0 && cli_arg (argc, argv, "--file")) {
        ProtobufCMessage *message
            = s_file (options, argc, argv, &kinnet__v1__request_override__descriptor, &err);
        if (!message)
            return cli_fail (options, &err);
        request.op_case = KINNET__V1__CONSENT_REQUEST__OP_OVERRIDE;
        request.override = (Kinnet__V1__RequestOverride *) message;
        int rc = s_run (options, &request, "safeguarding override recorded; review item open:");
        protobuf_c_message_free_unpacked (message, NULL);
        return rc;
    }
    if (strcmp (action, "review") == 0 && id && cli_arg (argc, argv, "--notes")) {
        int decision = cli_enum (&kinnet__v1__review_decision__descriptor,
                               cli_arg (argc, argv, "--decision"));
        if (decision < 0) {
            fputs (s_override_usage, stderr);
            return CLI_USAGE;
        }
        char key[160];
        const char *given = cli_arg (argc, argv, "--key");
        snprintf (key, sizeof key, "%s%s", given ? "" : "review-", given ? given : id);
        Kinnet__V1__ReviewOverride review = KINNET__V1__REVIEW_OVERRIDE__INIT;
        review.idempotency_key = key;
        review.override_id = (char *) id;
        review.decision = decision;
        review.notes = (char *) cli_arg (argc, argv, "--notes");
        const char *caseworker = cli_arg (argc, argv, "--caseworker");
        review.caseworker_id = (char *) (caseworker ? caseworker : "");
        request.op_case = KINNET__V1__CONSENT_REQUEST__OP_REVIEW;
        request.review = &review;
        return s_run (options, &request, "review recorded:");
    }
    if (strcmp (action, "list") == 0) {
        Kinnet__V1__ListOverrides list = KINNET__V1__LIST_OVERRIDES__INIT;
        list.open_only = cli_flag (argc, argv, "--open");
        request.op_case = KINNET__V1__CONSENT_REQUEST__OP_OVERRIDES;
        request.overrides = &list;
        return s_run (options, &request, NULL);
    }
    fputs (s_override_usage, stderr);
    return CLI_USAGE;
}

int
cli_release (const cli_options_t *options, int argc, char **argv)
{
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_release_usage, stdout);
        return CLI_OK;
    }
    const cli_action_t *shape =
        cli_action (argc, argv, s_release_actions, s_release_usage);
    if (!shape)
        return CLI_USAGE;
    const char *action = shape->name;
    const char *id = cli_positional (argc, argv, shape->valued, 2);
    Kinnet__V1__ConsentRequest request = KINNET__V1__CONSENT_REQUEST__INIT;
    const char *given = cli_arg (argc, argv, "--key");
    const char *caseworker = cli_arg (argc, argv, "--caseworker");
    const char *reason = cli_arg (argc, argv, "--reason");
    char key[160];
    if (strcmp (action, "request") == 0 && cli_arg (argc, argv, "--ground")
        && cli_arg (argc, argv, "--controller") && reason) {
        Kinnet__V1__RequestRelease ask = KINNET__V1__REQUEST_RELEASE__INIT;
        ask.ground_id = (char *) cli_arg (argc, argv, "--ground");
        ask.controller_agency_id = (char *) cli_arg (argc, argv, "--controller");
        //  One request per ground and controller by default: a retry is a replay.
        snprintf (key, sizeof key, "%s%s%s%s", given ? "" : "release-", given ? given : ask.ground_id,
                  given ? "" : "-", given ? "" : ask.controller_agency_id);
        ask.idempotency_key = key;
        ask.reason = (char *) reason;
        ask.caseworker_id = (char *) (caseworker ? caseworker : "");
        request.op_case = KINNET__V1__CONSENT_REQUEST__OP_REQUEST_RELEASE;
        request.request_release = &ask;
        return s_run (options, &request, "release requested; the controller decides:");
    }
    bool approve = strcmp (action, "approve") == 0;
    if ((approve || strcmp (action, "decline") == 0) && id && reason) {
        Kinnet__V1__DecideRelease decide = KINNET__V1__DECIDE_RELEASE__INIT;
        snprintf (key, sizeof key, "%s%s", given ? "" : "decide-", given ? given : id);
        decide.idempotency_key = key;
        decide.release_id = (char *) id;
        decide.approve = approve;
        decide.reason = (char *) reason;
        decide.caseworker_id = (char *) (caseworker ? caseworker : "");
        request.op_case = KINNET__V1__CONSENT_REQUEST__OP_DECIDE_RELEASE;
        request.decide_release = &decide;
        return s_run (options, &request, approve ? "release approved:" : "release declined:");
    }
    if (strcmp (action, "list") == 0) {
        Kinnet__V1__ListReleases list = KINNET__V1__LIST_RELEASES__INIT;
        list.open_only = cli_flag (argc, argv, "--open");
        request.op_case = KINNET__V1__CONSENT_REQUEST__OP_RELEASES;
        request.releases = &list;
        return s_run (options, &request, NULL);
    }
    fputs (s_release_usage, stderr);
    return CLI_USAGE;
}
