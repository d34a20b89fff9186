/*  kinnet: the command line client for caseworkers' scripts, administrators and
    auditors. Built on the same client library agency integrations link. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>
#include <jansson.h>

#include "cli.h"
#include "kn_config.h"
#include "kn_log.h"

static const char *s_usage =
    "usage: kinnet [options] COMMAND ...\n"
    "\n"
    "Commands:\n"
    "  refer --file REFERRAL.json         submit a referral (docs/cli.md for the format)\n"
    "  referral show ID                   show a referral your agency made\n"
    "  referral withdraw ID --reason TEXT [--key KEY]\n"
    "                                     withdraw it (KEY: idempotency key, default\n"
    "                                     withdraw-ID)\n"
    "  ping SERVICE                       ask the broker (MMI) whether SERVICE has workers;\n"
    "                                     with several endpoints, each broker in turn\n"
    "  consent record|withdraw|show|list|check|receipt|expiring|basis ...\n"
    "                                     consents, withdrawals, statutory bases, and the\n"
    "                                     disclosure check (kinnet consent --help)\n"
    "  override request|review|list ...   safeguarding overrides and their reviews\n"
    "  release request|approve|decline|list ...\n"
    "                                     ask a controller for its data; decide\n"
    "  feed [--after N] [--follow]        your agency's feed of offers and case events\n"
    "  offer accept|decline ID ...        answer an offer (kinnet offer --help)\n"
    "  case show|contact|transfer|lead|close|unplaced ...\n"
    "                                     the cases you are on (kinnet case --help)\n"
    "  report NAME --from D --to D [--by DIM,DIM] [--format csv|json|html]\n"
    "                                     auditors' reports, small counts withheld\n"
    "  subject export ID --out FILE       everything held about a person (DPO role)\n"
    "  subject erase ID --reference REF [--dry-run]\n"
    "                                     erase a person: destroy their data key (DPO)\n"
    "  subject rectify ID --reference REF [--given-name N] [--family-name N]\n"
    "          [--date-of-birth D]        correct a person's name or date of birth (DPO)\n"
    "  subject hold place|lift ID --reason TEXT | subject holds [ID]\n"
    "  subject hold place --case CASE_ID --reason TEXT | subject holds --case CASE_ID\n"
    "                                     legal holds, which stop erasure (DPO)\n"
    "  retention list | set TYPE DAYS | run [--dry-run]\n"
    "                                     how long records are kept; apply it now\n"
    "  audit verify|signers|seal|export ...\n"
    "                                     the tamper-evident audit trail (kinnet audit --help)\n"
    "  admin agency add --name N --sector S --district D --cert-out DIR\n"
    "                                     register an agency (its key pair is made\n"
    "                                     here; only the public key is sent)\n"
    "  admin agency revoke ID             deactivate an agency and revoke its keys\n"
    "  admin agency role add|remove ID ROLE\n"
    "                                     roles: referrer, coordinator, auditor,\n"
    "                                     data_protection_officer, administrator\n"
    "  admin agency key add|revoke|list ID ...\n"
    "                                     an agency's keys (rotating its certificate)\n"
    "  admin directory import PATH...     import agencies from Open Referral HSDS 3.0\n"
    "                                     (files, or folders of an export's pages)\n"
    "  admin directory ...                the agency directory (--help)\n"
    "  admin routing show|set KEY VALUE   the routing rules\n"
    "  admin population import FILE.csv | show\n"
    "                                     children per district and year\n"
    "  admin migrate                      apply database migrations (bootstrap)\n"
    "  admin logins DIR [--generate]      service logins' passwords (bootstrap)\n"
    "  admin init --cert-out DIR          register the first administrator agency\n"
    "                                     (bootstrap; kinnet admin init --help)\n"
    "  admin cert create PATH [--service NAME]\n"
    "                                     write a CURVE certificate pair (PATH, PATH_secret)\n"
    "  admin fieldkey create PATH         write a new field-encryption key file\n"
    "  admin fieldkey add|use|status|rewrap  rotate the field master key\n"
    "  admin indexkey add|use|status|reindex rotate the blind-index key\n"
    "  admin auditkey create PATH         write an audit signing key (PATH) and its\n"
    "                                     public key (PATH.pub)\n"
    "\n"
    "Options (also from the environment):\n"
    "  --endpoint LIST     broker frontend, or several comma-separated, tried in turn\n"
    "                      when one is silent (KINNET_ENDPOINT, tcp://127.0.0.1:5555)\n"
    "  --cert FILE         agency certificate, secret part (KINNET_CERT)\n"
    "  --server-key KEY    broker public key, Z85 or certificate file (KINNET_SERVER_KEY)\n"
    "  --timeout MS        wait per attempt (5000); --retries N extra attempts (2)\n"
    "  --format text|json  output format (text)\n"
    "\n"
    "Every command goes through the broker with an agency's certificate; admin\n"
    "commands need an agency with the administrator role, audit export the auditor\n"
    "role. Only admin migrate, admin logins, admin init, audit verify, audit signers\n"
    "and audit seal use the database (KINNET_DATABASE_URL); the key files need\n"
    "neither.\n"
    "\n"
    "Exit codes: 0 ok, 1 failure, 2 usage, 3 invalid request, 4 refused (key or\n"
    "role), unauthenticated or unreachable, 5 conflict, 6 not found, 7 audit trail\n"
    "broken (audit verify). Exit 4 with service_unavailable is temporary: run the\n"
    "same command again later (the same idempotency key; nothing is stored twice).\n";

int
cli_exit_code (kn_code_t code)
{
    switch (code) {
    case KN_OK:
        return CLI_OK;
    case KN_E_INVALID_ARGUMENT:
    case KN_E_MALFORMED:
    case KN_E_TOO_LARGE:
        return CLI_INVALID;
    case KN_E_UNAUTHENTICATED:
    case KN_E_PERMISSION_DENIED:
    case KN_E_UNKNOWN_SERVICE:
        return CLI_REFUSED;
    //  Apart from the refusals, so a script can retry on the exit code alone: the
    //  same command carries the same idempotency key, so a retry never stores twice.
    case KN_E_SERVICE_UNAVAILABLE:
    case KN_E_RESOURCE_EXHAUSTED:
        return CLI_RETRY;
    case KN_E_CONFLICT:
        return CLI_CONFLICT;
    case KN_E_NOT_FOUND:
        return CLI_NOT_FOUND;
    default:
        return CLI_FAILED;
    }
}

int
cli_fail (const cli_options_t *options, const kn_error_t *err)
{
    if (options->json) {
        json_t *out = json_pack ("{s:{s:s,s:s,s:s}}", "error", "code", kn_code_name (err->code),
                                 "message", err->message, "field", err->field);
        json_dumpf (out, stdout, JSON_INDENT (2));
        printf ("\n");
        json_decref (out);
    }
    else if (err->field[0])
        fprintf (stderr, "kinnet: %s: %s (field %s)\n", kn_code_name (err->code),
                 err->message, err->field);
    else
        fprintf (stderr, "kinnet: %s: %s\n", kn_code_name (err->code), err->message);
    return cli_exit_code (err->code);
}

const char *
cli_arg (int argc, char **argv, const char *name)
{
    //  A bare "--" ends the options: what follows is positional, whatever it looks like
    //  (a Z85 key may start with "--").
    for (int i = 0; i + 1 < argc && strcmp (argv[i], "--") != 0; i++)
        if (strcmp (argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

bool
cli_flag (int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc && strcmp (argv[i], "--") != 0; i++)
        if (strcmp (argv[i], name) == 0)
            return true;
    return false;
}

//  Options kinnet itself reads (kinnet.c main), which may stand anywhere.
static const char *const s_global_valued[] = {"--format",  "--endpoint", "--cert",
                                              "--server-key", "--timeout", "--retries",
                                              NULL};

static bool
s_in (const char *name, const char *const *names)
{
    for (int i = 0; names && names[i]; i++)
        if (strcmp (name, names[i]) == 0)
            return true;
    return false;
}

static bool
s_takes_value (const char *name, const char *const *valued)
{
    return s_in (name, valued) || s_in (name, s_global_valued);
}

const char *
cli_positional (int argc, char **argv, const char *const *valued, int index)
{
    bool options = true;
    for (int i = 0; i < argc; i++) {
        if (options && strcmp (argv[i], "--") == 0) {
            options = false;
            continue;
        }
        if (options && strncmp (argv[i], "--", 2) == 0) {
            i += s_takes_value (argv[i], valued) ? 1 : 0;
            continue;
        }
        if (index-- == 0)
            return argv[i];
    }
    return NULL;
}

bool
cli_options_ok (int argc, char **argv, const char *const *valued, const char *const *flags,
                const char *usage)
{
    for (int i = 0; i < argc && strcmp (argv[i], "--") != 0; i++) {
        if (strncmp (argv[i], "--", 2) != 0)
            continue;
        bool known = s_takes_value (argv[i], valued) || s_in (argv[i], flags)
                     || strcmp (argv[i], "--help") == 0;
        if (!known) {
            fprintf (stderr, "kinnet: unknown option %s\n\n%s", argv[i], usage);
            return false;
        }
        if (s_takes_value (argv[i], valued) && i + 1 >= argc) {
            fprintf (stderr, "kinnet: %s needs a value\n\n%s", argv[i], usage);
            return false;
        }
        i += s_takes_value (argv[i], valued) ? 1 : 0;
    }
    return true;
}

bool
cli_command_ok (int argc, char **argv, const char *const *valued,
                const char *const *flags, int words, int min, int max, const char *usage)
{
    if (!cli_options_ok (argc, argv, valued, flags, usage))
        return false;
    const char *missing = NULL, *extra = cli_positional (argc, argv, valued, words + max);
    for (int i = 0; i < words + min && !missing; i++)
        if (!cli_positional (argc, argv, valued, i))
            missing = i < words ? "a command" : "an argument";
    if (missing)
        fprintf (stderr, "kinnet: missing %s\n\n%s", missing, usage);
    else if (extra)
        fprintf (stderr, "kinnet: unexpected argument '%s'\n\n%s", extra, usage);
    return !missing && !extra;
}

const cli_action_t *
cli_action (int argc, char **argv, const cli_action_t *actions, const char *usage)
{
    const char *name = cli_positional (argc, argv, NULL, 1);
    for (const cli_action_t *action = actions; name && action->name; action++)
        if (strcmp (name, action->name) == 0)
            return cli_command_ok (argc, argv, action->valued, action->flags, 2,
                                   action->min, action->max, usage)
                       ? action
                       : NULL;
    if (name)
        fprintf (stderr, "kinnet: unknown command '%s %s'\n\n%s", argv[0], name, usage);
    else if (argc > 1) // options only: say which, or a mistyped command looks ignored
        fprintf (stderr, "kinnet: missing a command after '%s' (before its option '%s')\n\n%s",
                 argv[0], argv[1], usage);
    else
        fprintf (stderr, "kinnet: missing a command after '%s'\n\n%s", argv[0], usage);
    return NULL;
}

int
main (int argc, char *argv[])
{
    kn_log_init ("cli");
    //  Options that take a value, so they can be skipped to find the command.
    static const char *valued[] = {"--endpoint", "--cert", "--server-key", "--timeout",
                                   "--retries", "--format", NULL};
    int first = 1;
    while (first < argc && strncmp (argv[first], "--", 2) == 0) {
        if (strcmp (argv[first], "--help") == 0 || strcmp (argv[first], "-h") == 0) {
            fputs (s_usage, stdout);
            return CLI_OK;
        }
        bool takes_value = false;
        for (int k = 0; valued[k]; k++)
            takes_value |= strcmp (argv[first], valued[k]) == 0;
        //  Before the command only kinnet's own options stand: a mistyped one there
        //  would otherwise be skipped, and the command run without it.
        if (!takes_value || first + 1 >= argc) {
            if (takes_value)
                fprintf (stderr, "kinnet: %s needs a value\n\n%s", argv[first], s_usage);
            else
                fprintf (stderr, "kinnet: unknown option %s\n\n%s", argv[first], s_usage);
            return CLI_USAGE;
        }
        first += 2;
    }
    if (first >= argc) {
        fputs (s_usage, stderr);
        return CLI_USAGE;
    }
    //  Reports and audit exports also come as CSV, and reports as HTML.
    const char *format = cli_arg (argc, argv, "--format");
    bool files = strcmp (argv[first], "report") == 0 || strcmp (argv[first], "audit") == 0
                 || strcmp (argv[first], "subject") == 0;
    if (format && strcmp (format, "json") != 0 && strcmp (format, "text") != 0
        && !(files && (strcmp (format, "csv") == 0 || strcmp (format, "html") == 0))) {
        fprintf (stderr, "kinnet: --format takes text or json (report: csv, json or html)\n");
        return CLI_USAGE;
    }
    const char *timeout = cli_arg (argc, argv, "--timeout");
    const char *retries = cli_arg (argc, argv, "--retries");
    cli_options_t options = {
        .json = format && strcmp (format, "json") == 0,
        .endpoint = cli_arg (argc, argv, "--endpoint")
                        ?: kn_config_str ("KINNET_ENDPOINT", "tcp://127.0.0.1:5555"),
        .cert = cli_arg (argc, argv, "--cert") ?: kn_config_str ("KINNET_CERT", NULL),
        .server_key = cli_arg (argc, argv, "--server-key")
                          ?: kn_config_str ("KINNET_SERVER_KEY", NULL),
        .timeout_ms = timeout ? atoi (timeout) : 5000,
        .retries = retries ? atoi (retries) : 2,
    };
    if (options.timeout_ms <= 0 || options.retries < 0) {
        fprintf (stderr, "kinnet: --timeout must be positive and --retries not negative\n");
        return CLI_USAGE;
    }
    const char *command = argv[first];
    int sub_argc = argc - first;
    char **sub_argv = argv + first;
    if (strcmp (command, "refer") == 0)
        return cli_refer (&options, sub_argc, sub_argv);
    if (strcmp (command, "referral") == 0)
        return cli_referral (&options, sub_argc, sub_argv);
    if (strcmp (command, "ping") == 0)
        return cli_ping (&options, sub_argc, sub_argv);
    if (strcmp (command, "admin") == 0)
        return cli_admin (&options, sub_argc, sub_argv);
    if (strcmp (command, "consent") == 0)
        return cli_consent (&options, sub_argc, sub_argv);
    if (strcmp (command, "override") == 0)
        return cli_override (&options, sub_argc, sub_argv);
    if (strcmp (command, "release") == 0)
        return cli_release (&options, sub_argc, sub_argv);
    if (strcmp (command, "feed") == 0)
        return cli_feed (&options, sub_argc, sub_argv);
    if (strcmp (command, "offer") == 0)
        return cli_offer (&options, sub_argc, sub_argv);
    if (strcmp (command, "case") == 0)
        return cli_case (&options, sub_argc, sub_argv);
    if (strcmp (command, "audit") == 0)
        return cli_audit (&options, sub_argc, sub_argv);
    if (strcmp (command, "report") == 0)
        return cli_report (&options, sub_argc, sub_argv);
    if (strcmp (command, "subject") == 0)
        return cli_subject (&options, sub_argc, sub_argv);
    if (strcmp (command, "retention") == 0)
        return cli_retention (&options, sub_argc, sub_argv);
    fprintf (stderr, "kinnet: unknown command '%s'\n\n%s", command, s_usage);
    return CLI_USAGE;
}
