/*  The kinnet command: shared pieces of its subcommands.
    Exit codes (documented in docs/cli.md and `kinnet --help`): */
#ifndef CLI_H_INCLUDED
#define CLI_H_INCLUDED

#include <stdbool.h>
#include <stdio.h>

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>

#include "kn_db.h"
#include "kn_error.h"

enum {
    CLI_OK = 0,
    CLI_FAILED = 1,        // internal or unexpected failure
    CLI_USAGE = 2,         // bad command line
    CLI_INVALID = 3,       // the request was refused as invalid or malformed
    CLI_UNREACHABLE = 4,   // refused key, unauthenticated, or no answer in time
    CLI_CONFLICT = 5,      // idempotency key reused with other content, wrong state
    CLI_NOT_FOUND = 6,
    CLI_TAMPERED = 7,      // kinnet audit verify: the audit trail is broken
};

typedef struct {
    bool json;             // --format json
    const char *endpoint;  // --endpoint / KINNET_ENDPOINT
    const char *cert;      // --cert / KINNET_CERT (agency certificate, secret)
    const char *server_key;   // --server-key / KINNET_SERVER_KEY (Z85 or cert file)
    int timeout_ms;        // --timeout
    int retries;           // --retries
} cli_options_t;

//  Exit code for an error code.
int cli_exit_code (kn_code_t code);

//  Print err (JSON on stdout with --format json, text on stderr otherwise) and
//  return its exit code.
int cli_fail (const cli_options_t *options, const kn_error_t *err);

//  Value of --name VALUE in argv (NULL when absent); `present` for flags.
const char *cli_arg (int argc, char **argv, const char *name);
bool cli_flag (int argc, char **argv, const char *name);

//  Call service through the broker with the connection options; the reply body or
//  NULL with err.
zframe_t *cli_service_call (const cli_options_t *options, const char *service,
                            const void *body, size_t len, kn_error_t *err);

//  Send request (a kinnet.v1 message) to service and decode the reply as reply_type;
//  an Error in the reply becomes err and NULL. Caller frees the reply with
//  protobuf_c_message_free_unpacked.
ProtobufCMessage *cli_request (const cli_options_t *options, const char *service,
                               const ProtobufCMessage *request,
                               const ProtobufCMessageDescriptor *reply_type, kn_error_t *err);

//  The value of an enum name, case-insensitive ("no_capacity"); -1 when unknown or
//  the zero value.
int cli_enum (const ProtobufCEnumDescriptor *descriptor, const char *name);

//  One CSV field per RFC 4180 (quoted when it holds a comma, a quote or a line
//  break), then a comma, or CRLF after the last field of a record.
void cli_csv_field (FILE *out, const char *value, bool last);

//  Text escaped for HTML (element content and quoted attribute values).
void cli_html_text (FILE *out, const char *text);

//  A message as indented JSON on standard output.
void cli_print_json (const ProtobufCMessage *message);

//  Administrator commands' database session (KINNET_DATABASE_URL, login role).
kn_db_t *cli_admin_db (kn_error_t *err);

int cli_admin (const cli_options_t *options, int argc, char **argv);
int cli_consent (const cli_options_t *options, int argc, char **argv);
int cli_override (const cli_options_t *options, int argc, char **argv);
int cli_release (const cli_options_t *options, int argc, char **argv);
int cli_refer (const cli_options_t *options, int argc, char **argv);
int cli_referral (const cli_options_t *options, int argc, char **argv);
int cli_ping (const cli_options_t *options, int argc, char **argv);
//  kinnet admin directory ... (argv[0] is "directory").
int cli_directory (const cli_options_t *options, int argc, char **argv);
//  kinnet admin routing ... (argv[0] is "routing").
int cli_routing_admin (const cli_options_t *options, int argc, char **argv);
int cli_feed (const cli_options_t *options, int argc, char **argv);
int cli_offer (const cli_options_t *options, int argc, char **argv);
int cli_case (const cli_options_t *options, int argc, char **argv);
int cli_audit (const cli_options_t *options, int argc, char **argv);
int cli_report (const cli_options_t *options, int argc, char **argv);
int cli_subject (const cli_options_t *options, int argc, char **argv);
//  kinnet admin population ... (argv[0] is "population").
int cli_population (const cli_options_t *options, int argc, char **argv);

#endif
