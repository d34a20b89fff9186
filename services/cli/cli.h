/*  The kinnet command: shared pieces of its subcommands.
    Exit codes (documented in docs/cli.md and `kinnet --help`): */
#ifndef CLI_H_INCLUDED
#define CLI_H_INCLUDED

#include <stdbool.h>
#include <stdio.h>

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>

#include "kinnet/v1/admin.pb-c.h"
#include "kinnet/v1/reporting.pb-c.h"
#include "kn_client.h"
#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"

enum {
    CLI_OK = 0,
    CLI_FAILED = 1,        // internal or unexpected failure
    CLI_USAGE = 2,         // bad command line
    CLI_INVALID = 3,       // the request was refused as invalid or malformed
    CLI_REFUSED = 4,       // unknown or revoked key, no role, unknown service;
                           // ping: no live worker. Not temporary
    CLI_CONFLICT = 5,      // idempotency key reused with other content, wrong state
    CLI_NOT_FOUND = 6,
    CLI_TAMPERED = 7,      // kinnet audit verify: the audit trail is broken
    CLI_RETRY = 8,         // temporary (service_unavailable, resource_exhausted, no
                           // answer): run the same command again later
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

//  The index-th argument (0: the command itself) that is neither an option nor an
//  option's value. valued: the command's options that take a value (NULL-ended);
//  kinnet's own (--format, --cert, ...) are known already.
const char *cli_positional (int argc, char **argv, const char *const *valued, int index);

//  True when every option in argv is one the command takes (valued or flags, both
//  NULL-ended, may be NULL) or one of kinnet's own, and each valued one has its value;
//  otherwise names the bad option and prints usage on stderr (the caller exits
//  CLI_USAGE). A mistyped --dry-run must not turn into a real import.
bool cli_options_ok (int argc, char **argv, const char *const *valued,
                     const char *const *flags, const char *usage);

//  cli_options_ok, and then the arguments: argv[0..words-1] are the command's words
//  ("consent withdraw": 2), and from min to max arguments follow them. A missing or
//  a surplus one is named, with usage, on stderr (the caller exits CLI_USAGE), before
//  anything is loaded or sent.
bool cli_command_ok (int argc, char **argv, const char *const *valued,
                     const char *const *flags, int words, int min, int max,
                     const char *usage);

//  One action of a command that has several (consent withdraw ID ...): its name, the
//  options it takes (valued and flags, NULL-ended, may be NULL) and how many arguments
//  follow it.
typedef struct {
    const char *name;
    const char *const *valued;
    const char *const *flags;
    int min, max;
} cli_action_t;

//  The action argv names (argv[1]) among actions (ended by a NULL name) when its
//  command line is right (cli_command_ok); otherwise NULL, with the reason and usage
//  on stderr (the caller exits CLI_USAGE).
const cli_action_t *cli_action (int argc, char **argv, const cli_action_t *actions,
                                const char *usage);

//  Call service through the broker with the connection options; the reply body or
//  NULL with err.
zframe_t *cli_service_call (const cli_options_t *options, const char *service,
                            const void *body, size_t len, kn_error_t *err);

//  A client of the broker(s) at endpoint (one, or a comma-separated list) with the
//  options' certificate, server key, timeout and retries; NULL with err.
kn_client_t *cli_connect_to (const cli_options_t *options, const char *endpoint,
                             kn_error_t *err);

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
//  break), then a comma, or CRLF after the last field of a record. A value starting
//  with =, +, -, @, tab or CR is written as "'value": text, not a formula, when a
//  spreadsheet opens the file.
void cli_csv_field (FILE *out, const char *value, bool last);

//  Text escaped for HTML (element content and quoted attribute values).
void cli_html_text (FILE *out, const char *text);

//  A new file for an export at path, mode 0600 whatever the umask: an existing file
//  or a symbolic link there is refused, never overwritten or followed
//  (invalid_argument, field "out", exit 3). NULL with err. Close it with
//  cli_out_close, or cli_out_abandon to remove it when the export failed.
FILE *cli_out_create (const char *path, kn_error_t *err);

//  Close the export; when a write or the close failed, remove the partial file and
//  return -1 with err (internal). Nulls *out_p.
int cli_out_close (FILE **out_p, const char *path, kn_error_t *err);

//  Close and remove an export that will not be written (a refused request).
//  Nulls *out_p; does nothing when *out_p is NULL.
void cli_out_abandon (FILE **out_p, const char *path);

//  A message as indented JSON on standard output.
void cli_print_json (const ProtobufCMessage *message);

//  Where the reporting service read its answer (ReportingReply.source), for people:
//  the server ("standby", "primary"; "unknown" without a source), and a phrase with
//  the reason and the standby's lag, in buf.
const char *cli_source_server (const Kinnet__V1__ReadSource *source);
const char *cli_source_text (const Kinnet__V1__ReadSource *source, char *buf,
                             size_t size);

//  The bootstrap and audit-database commands' session (KINNET_DATABASE_URL): admin
//  migrate, admin init, audit verify, audit seal. Everything else goes through the
//  broker.
kn_db_t *cli_admin_db (kn_error_t *err);

//  Send request to the "admin" service; the reply when it carries the expected
//  result, otherwise NULL with err (the service's Error, or MALFORMED for another
//  result). Caller frees with kinnet__v1__admin_reply__free_unpacked.
Kinnet__V1__AdminReply *cli_admin_call (const cli_options_t *options,
                                        Kinnet__V1__AdminRequest *request,
                                        Kinnet__V1__AdminReply__ResultCase expected,
                                        kn_error_t *err);

//  The idempotency key of an admin command: --key KEY when given, otherwise
//  prefix-detail, or prefix-UUID (a fresh one) when detail is NULL. A detail only
//  where the same arguments always mean the same change (register-PUBLICKEY,
//  revoke-ID): a setting set back to an earlier value must not replay the earlier
//  answer and change nothing. A retry of one invocation resends the same key.
const char *cli_admin_key (char *out, size_t size, int argc, char **argv, const char *prefix,
                           const char *detail);

int cli_admin (const cli_options_t *options, int argc, char **argv);
//  kinnet admin agency ... (argv[0] is "agency") and kinnet admin init.
int cli_agency (const cli_options_t *options, int argc, char **argv);
int cli_admin_init (const cli_options_t *options, int argc, char **argv);
int cli_logins (const cli_options_t *options, int argc, char **argv);

//  kinnet subject erase|hold|holds (argv[0] is "subject").
int cli_records (const cli_options_t *options, int argc, char **argv);
//  Send request to the records service: its reply, or NULL with *code the exit code
//  of the failure (reported).
struct Kinnet__V1__RecordsRequest;
struct Kinnet__V1__RecordsReply;
struct Kinnet__V1__RecordsReply *cli_records_call (const cli_options_t *options,
                                                   struct Kinnet__V1__RecordsRequest *request,
                                                   int *code);
//  Send request; print the reply's result (the member of its oneof that is set) as
//  JSON with --format json, else with print. CLI_OK, or the failure's exit code.
typedef void (cli_records_print_fn) (const ProtobufCMessage *result);
int cli_records_run (const cli_options_t *options, struct Kinnet__V1__RecordsRequest *request,
                     cli_records_print_fn *print);
//  kinnet retention list|set|run (argv[0] is "retention").
int cli_retention (const cli_options_t *options, int argc, char **argv);

//  kinnet admin fieldkey add|use|status|rewrap (argv[0] is "fieldkey").
int cli_fieldkey (const cli_options_t *options, int argc, char **argv);
//  kinnet admin indexkey add|use|status|reindex (argv[0] is "indexkey").
int cli_indexkey (const cli_options_t *options, int argc, char **argv);
//  Rewrite the key file at path: its lines but those whose first word is drop (the
//  `current` or `index-current` line), then extra. The new file must load (it is
//  checked before it replaces the old, by rename, mode 600).
int cli_keyfile_rewrite (const char *path, const char *drop, const char *extra,
                         kn_error_t *err);
//  A kind of versioned key in the key file: its lines, its words, its functions.
typedef struct {
    const char *line;          // "field": the line of a version ("field N HEX")
    const char *current_line;  // "current": the line naming the current version
    const char *what;          // "field master version"
    const char *still;         // what the current version still does ("wraps new keys")
    const char *makes;         // what a version in use does ("wraps new data keys")
    const char *command;       // "fieldkey": kinnet admin's command for it
    const char *then;          // "rewrap": the step after `use`
    int (*current) (kn_crypto_t *crypto);
    bool (*has) (kn_crypto_t *crypto, int version);
} cli_keykind_t;
extern const cli_keykind_t cli_field_keys, cli_index_keys;
//  `add PATH` and `use PATH VERSION` of a key kind: a new random version (the
//  current one stays), or which version is current.
int cli_keyfile_add (const cli_options_t *options, const char *path,
                     const cli_keykind_t *kind);
int cli_keyfile_use (const cli_options_t *options, const char *path, const char *number,
                     const cli_keykind_t *kind);
//  The key file (--key-file, else KINNET_FIELD_KEY) and the database owner's session
//  (KINNET_DATABASE_URL), for status, rewrap and reindex: CLI_OK, or the exit code.
int cli_keyfile_open (const cli_options_t *options, int argc, char **argv,
                      kn_crypto_t **crypto, kn_db_t **db);
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
