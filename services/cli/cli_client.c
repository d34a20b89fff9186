/*  Client commands of `kinnet`: refer, referral show|withdraw. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <czmq.h>
#include <jansson.h>

#include "cli.h"
#include "kinnet/v1/intake.pb-c.h"
#include "kn_client.h"
#include "kn_mdp.h"
#include "kn_pbjson.h"
#include "kn_alloc.h"

kn_client_t *
cli_connect_to (const cli_options_t *options, const char *endpoint, kn_error_t *err)
{
    if (!options->cert || !options->server_key) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, options->cert ? "server_key" : "cert",
                      "set --cert and --server-key (or KINNET_CERT, KINNET_SERVER_KEY)");
        return NULL;
    }
    zcert_t *cert = zcert_load (options->cert);
    if (!cert) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "cert", "cannot read certificate %s",
                      options->cert);
        return NULL;
    }
    char server_key[41];
    kn_mdp_server_key (options->server_key, server_key);
    kn_client_t *client = NULL;
    if (!server_key[0])
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "server_key",
                      "server key must be 40 Z85 characters or a certificate file");
    else
        client = kn_client_new (endpoint, cert, server_key, err);
    zcert_destroy (&cert);
    if (client) {
        kn_client_set_timeout (client, options->timeout_ms);
        kn_client_set_retries (client, options->retries);
    }
    return client;
}

static kn_client_t *
s_connect (const cli_options_t *options, kn_error_t *err)
{
    return cli_connect_to (options, options->endpoint, err);
}

//  Send an IntakeRequest, decode the IntakeReply; NULL with err on any failure,
//  including an Error the service returned.
zframe_t *
cli_service_call (const cli_options_t *options, const char *service, const void *body,
                  size_t len, kn_error_t *err)
{
    kn_client_t *client = s_connect (options, err);
    if (!client)
        return NULL;
    zframe_t *frame = kn_client_call (client, service, body, len, err);
    kn_client_destroy (&client);
    return frame;
}

ProtobufCMessage *
cli_request (const cli_options_t *options, const char *service, const ProtobufCMessage *request,
             const ProtobufCMessageDescriptor *reply_type, kn_error_t *err)
{
    size_t len = protobuf_c_message_get_packed_size (request);
    uint8_t *buf = kn_malloc (len ? len : 1);
    protobuf_c_message_pack (request, buf);
    zframe_t *frame = cli_service_call (options, service, buf, len, err);
    free (buf);
    if (!frame)
        return NULL;
    //  The same decoding every client of the library does (and the fuzzer covers).
    ProtobufCMessage *reply
        = kn_client_reply_decode (reply_type, zframe_data (frame), zframe_size (frame), err);
    zframe_destroy (&frame);
    return reply;
}

static Kinnet__V1__IntakeReply *
s_intake_call (const cli_options_t *options, Kinnet__V1__IntakeRequest *request,
               kn_error_t *err)
{
    return (Kinnet__V1__IntakeReply *) cli_request (options, "intake", &request->base,
                                                    &kinnet__v1__intake_reply__descriptor, err);
}

void
cli_print_json (const ProtobufCMessage *message)
{
    json_t *json = kn_pbjson_encode (message);
    json_dumpf (json, stdout, JSON_INDENT (2));
    printf ("\n");
    json_decref (json);
}

static void
s_print_time (const char *label, const Kinnet__V1__Timestamp *ts)
{
    if (!ts)
        return;
    time_t seconds = (time_t) ts->seconds;
    struct tm tm;
    gmtime_r (&seconds, &tm);
    char text[40];
    strftime (text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf ("%-16s %s\n", label, text);
}

static const char *s_refer_usage =
    "usage: kinnet refer --file REFERRAL.json [--format json]\n"
    "Submits a referral (JSON form of kinnet.v1.SubmitReferral, docs/cli.md).\n"
    "Retrying with the same idempotency_key is safe: it returns the first answer.\n";

static const char *s_referral_usage =
    "usage: kinnet referral show ID [--purpose P] [--caseworker ID] [--format json]\n"
    "       kinnet referral withdraw ID --reason TEXT [--key KEY] [--caseworker ID]\n"
    "show prints a referral your agency made; withdraw withdraws it. The\n"
    "withdraw idempotency key defaults to withdraw-ID, so a repeat is safe.\n";

//  The actions of kinnet referral and the options each takes.
static const cli_action_t s_referral_actions[] = {
    {"show", (const char *const[]){"--purpose", "--caseworker", NULL}, NULL, 1, 1},
    {"withdraw", (const char *const[]){"--reason", "--key", "--caseworker", NULL}, NULL,
     1, 1},
    {NULL}};

static int
s_usage_error (const char *usage)
{
    fputs (usage, stderr);
    return CLI_USAGE;
}

int
cli_refer (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--file", NULL};
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_refer_usage, stdout);
        return CLI_OK;
    }
    if (!cli_command_ok (argc, argv, valued, NULL, 1, 0, 0, s_refer_usage))
        return CLI_USAGE;
    const char *path = cli_arg (argc, argv, "--file");
    if (!path)
        return s_usage_error (s_refer_usage);
    kn_error_t err;
    kn_error_clear (&err);
    json_error_t json_error;
    json_t *json = strcmp (path, "-") == 0 ? json_loadf (stdin, 0, &json_error)
                                           : json_load_file (path, 0, &json_error);
    if (!json) {
        kn_error_set (&err, KN_E_MALFORMED, NULL, "%s: line %d: %s", path, json_error.line,
                      json_error.text);
        return cli_fail (options, &err);
    }
    Kinnet__V1__SubmitReferral *submit = (Kinnet__V1__SubmitReferral *) kn_pbjson_decode (
        &kinnet__v1__submit_referral__descriptor, json, &err);
    json_decref (json);
    if (!submit)
        return cli_fail (options, &err);
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_SUBMIT;
    request.submit = submit;
    Kinnet__V1__IntakeReply *reply = s_intake_call (options, &request, &err);
    protobuf_c_message_free_unpacked (&submit->base, NULL);
    if (!reply)
        return cli_fail (options, &err);
    int rc = CLI_OK;
    if (reply->result_case != KINNET__V1__INTAKE_REPLY__RESULT_SUBMITTED) {
        kn_error_set (&err, KN_E_MALFORMED, NULL, "unexpected reply");
        rc = cli_fail (options, &err);
    }
    else if (options->json)
        cli_print_json (&reply->submitted->base);
    else {
        Kinnet__V1__SubmitReferralResult *result = reply->submitted;
        printf ("%s\n", result->replayed ? "Referral already received (same idempotency key)."
                                         : "Referral received and stored.");
        printf ("%-16s %s\n", "referral_id", result->referral_id);
        printf ("%-16s %s\n", "family_id", result->family_id);
        printf ("%-16s %s\n", "family_matched", result->family_matched ? "yes" : "no");
        s_print_time ("received_at", result->received_at);
    }
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    return rc;
}

int
cli_referral (const cli_options_t *options, int argc, char **argv)
{
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_referral_usage, stdout);
        return CLI_OK;
    }
    const cli_action_t *action =
        cli_action (argc, argv, s_referral_actions, s_referral_usage);
    if (!action)
        return CLI_USAGE;
    bool show = action == &s_referral_actions[0];
    bool withdraw = !show;
    const char *id = cli_positional (argc, argv, action->valued, 2);
    const char *reason = cli_arg (argc, argv, "--reason");
    if (withdraw && !reason)
        return s_usage_error (s_referral_usage);
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    Kinnet__V1__GetReferral get = KINNET__V1__GET_REFERRAL__INIT;
    Kinnet__V1__WithdrawReferral out = KINNET__V1__WITHDRAW_REFERRAL__INIT;
    const char *caseworker = cli_arg (argc, argv, "--caseworker");
    char key[160];
    if (show) {
        get.referral_id = (char *) id;
        get.caseworker_id = (char *) (caseworker ? caseworker : "");
        const char *purpose = cli_arg (argc, argv, "--purpose");
        if (purpose) {
            char upper[64] = "";
            for (size_t i = 0; purpose[i] && i + 1 < sizeof upper; i++)
                upper[i] = (char) toupper ((unsigned char) purpose[i]);
            const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value_by_name (
                &kinnet__v1__purpose__descriptor, upper);
            if (!value) {
                kn_error_set (&err, KN_E_INVALID_ARGUMENT, "purpose", "unknown purpose '%s'",
                              purpose);
                return cli_fail (options, &err);
            }
            get.purpose = value->value;
        }
        request.op_case = KINNET__V1__INTAKE_REQUEST__OP_GET;
        request.get = &get;
    }
    else {
        const char *given = cli_arg (argc, argv, "--key");
        snprintf (key, sizeof key, "%s%s", given ? "" : "withdraw-", given ? given : id);
        out.idempotency_key = key;
        out.referral_id = (char *) id;
        out.reason = (char *) reason;
        out.caseworker_id = (char *) (caseworker ? caseworker : "");
        request.op_case = KINNET__V1__INTAKE_REQUEST__OP_WITHDRAW;
        request.withdraw = &out;
    }
    Kinnet__V1__IntakeReply *reply = s_intake_call (options, &request, &err);
    if (!reply)
        return cli_fail (options, &err);
    if (show && reply->referral) {
        if (options->json)
            cli_print_json (&reply->referral->base);
        else {
            Kinnet__V1__Referral *referral = reply->referral;
            printf ("%-16s %s\n", "referral_id", referral->referral_id);
            printf ("%-16s %s\n", "family_id", referral->family_id);
            printf ("%-16s %s\n", "status",
                    referral->status == KINNET__V1__REFERRAL_STATUS__WITHDRAWN ? "withdrawn"
                                                                             : "received");
            s_print_time ("received_at", referral->received_at);
            s_print_time ("withdrawn_at", referral->withdrawn_at);
            if (referral->withdraw_reason && *referral->withdraw_reason)
                printf ("%-16s %s\n", "withdraw_reason", referral->withdraw_reason);
            if (referral->disclosure_basis) {
                const ProtobufCEnumValue *basis = protobuf_c_enum_descriptor_get_value (
                    &kinnet__v1__lawful_basis__descriptor, referral->disclosure_basis);
                printf ("%-16s %s %s\n", "disclosed_on", basis ? basis->name : "?",
                        referral->disclosure_ground_id);
            }
            for (size_t i = 0; i < referral->n_withheld; i++) {
                const ProtobufCEnumValue *category = protobuf_c_enum_descriptor_get_value (
                    &kinnet__v1__data_category__descriptor, referral->withheld[i]);
                printf ("%-16s %s (not covered for your agency)\n", "withheld",
                        category ? category->name : "?");
            }
            printf ("submitted:\n");
            cli_print_json (&referral->submitted->base);
        }
    }
    else if (withdraw && reply->withdrawn) {
        if (options->json)
            cli_print_json (&reply->withdrawn->base);
        else {
            printf ("%s\n", reply->withdrawn->replayed ? "Referral was already withdrawn "
                                                         "with this key."
                                                       : "Referral withdrawn.");
            printf ("%-16s %s\n", "referral_id", reply->withdrawn->referral_id);
            s_print_time ("withdrawn_at", reply->withdrawn->withdrawn_at);
        }
    }
    else {
        kn_error_set (&err, KN_E_MALFORMED, NULL, "unexpected reply from intake");
        kinnet__v1__intake_reply__free_unpacked (reply, NULL);
        return cli_fail (options, &err);
    }
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

int
cli_enum (const ProtobufCEnumDescriptor *descriptor, const char *name)
{
    char upper[64] = "";
    for (size_t i = 0; name && name[i] && i + 1 < sizeof upper; i++)
        upper[i] = (char) toupper ((unsigned char) name[i]);
    const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value_by_name (descriptor, upper);
    return value && value->value ? value->value : -1;
}

void
cli_csv_field (FILE *out, const char *value, bool last)
{
    //  A cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is
    //  written as text, behind a quote mark: an agency chooses some of these values
    //  (a caseworker id in the audit trail) and an auditor opens the file.
    bool formula = *value && strchr ("=+-@\t\r", *value);
    if (formula || strpbrk (value, ",\"\r\n")) {
        fputc ('"', out);
        if (formula)
            fputc ('\'', out);
        for (const char *p = value; *p; p++) {
            if (*p == '"')
                fputc ('"', out);
            fputc (*p, out);
        }
        fputc ('"', out);
    }
    else
        fputs (value, out);
    fputs (last ? "\r\n" : ",", out);
}

void
cli_html_text (FILE *out, const char *text)
{
    for (const char *p = text ? text : ""; *p; p++)
        switch (*p) {
        case '<': fputs ("&lt;", out); break;
        case '>': fputs ("&gt;", out); break;
        case '&': fputs ("&amp;", out); break;
        case '"': fputs ("&quot;", out); break;
        default: fputc (*p, out);
        }
}
