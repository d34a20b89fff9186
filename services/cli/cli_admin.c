/*  kinnet admin: the administrator's commands. Administration is an MDP service
    ("admin") like every other: agencies, the directory, routing rules and population
    figures go through the broker as an agency that holds the `administrator` role.
    Only the bootstrap stays on the database (KINNET_DATABASE_URL): `admin migrate`,
    `admin init` (the first administrator, cli_agency.c), and the key files, which
    need no database at all. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <czmq.h>
#include <jansson.h>

#include "cli.h"
#include "kn_audit_chain.h"
#include "kn_config.h"
#include "kn_crypto.h"
#include "kn_migrate.h"
#include "kn_uuid.h"

static const char *s_admin_usage =
    "usage: kinnet admin agency add --name N --sector S --district D --cert-out DIR\n"
    "              [--key KEY]\n"
    "       kinnet admin agency revoke ID [--key KEY]\n"
    "       kinnet admin agency role add|remove ID ROLE [--key KEY]\n"
    "       kinnet admin agency key add ID [--cert-out DIR] | revoke ID PUBLIC_KEY | list ID\n"
    "       kinnet admin directory import PATH... [--mapping FILE.json] [--dry-run]\n"
    "       kinnet admin directory ...   (kinnet admin directory --help)\n"
    "       kinnet admin routing show | set KEY VALUE\n"
    "       kinnet admin population import FILE.csv | show\n"
    "These go through the broker to the admin service, as an agency that holds the\n"
    "administrator role (--cert/KINNET_CERT, --server-key/KINNET_SERVER_KEY,\n"
    "--endpoint/KINNET_ENDPOINT). Sectors are AgencySector names (school,\n"
    "early_years, social_services, health, mental_health, housing, ngo_community,\n"
    "police_youth_justice, ...; see docs/protocol.md). Roles: referrer, coordinator,\n"
    "auditor, data_protection_officer, administrator. The secret key of agency add\n"
    "never leaves this machine: only the public key is sent.\n"
    "\n"
    "Bootstrap, on the database (KINNET_DATABASE_URL):\n"
    "       kinnet admin migrate\n"
    "       kinnet admin logins DIR [--generate]   (each service's password)\n"
    "       kinnet admin init --cert-out DIR [--name N] [--sector S] [--district D]\n"
    "init registers the first administrator agency (refused, exit 5, once one is\n"
    "active) and writes its certificate; defaults: --name 'Partnership\n"
    "administration', --sector local_authority, --district partnership.\n"
    "\n"
    "Key files, no database and no broker:\n"
    "       kinnet admin cert create PATH [--service NAME]\n"
    "       kinnet admin fieldkey create PATH\n"
    "       kinnet admin fieldkey add|use|status|rewrap ... (kinnet admin fieldkey --help)\n"
    "       kinnet admin indexkey add|use|status|reindex ... (kinnet admin indexkey --help)\n"
    "       kinnet admin auditkey create PATH\n"
    "(audit key rotation: docs/operations.md; kinnet audit signers)\n";

kn_db_t *
cli_admin_db (kn_error_t *err)
{
    const char *url = kn_config_str ("KINNET_DATABASE_URL", NULL);
    if (!url) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "KINNET_DATABASE_URL",
                      "set KINNET_DATABASE_URL to the Kinnet database");
        return NULL;
    }
    return kn_db_new (url, NULL, err);
}

Kinnet__V1__AdminReply *
cli_admin_call (const cli_options_t *options, Kinnet__V1__AdminRequest *request,
                Kinnet__V1__AdminReply__ResultCase expected, kn_error_t *err)
{
    Kinnet__V1__AdminReply *reply = (Kinnet__V1__AdminReply *) cli_request (
        options, "admin", &request->base, &kinnet__v1__admin_reply__descriptor, err);
    if (reply && reply->result_case != expected) {
        kn_error_set (err, KN_E_MALFORMED, NULL, "unexpected reply from admin");
        kinnet__v1__admin_reply__free_unpacked (reply, NULL);
        reply = NULL;
    }
    return reply;
}

const char *
cli_admin_key (char *out, size_t size, int argc, char **argv, const char *prefix,
               const char *detail)
{
    const char *given = cli_arg (argc, argv, "--key");
    if (given)
        return given;
    char fresh[KN_UUID_STR];
    if (!detail)
        kn_uuid_generate (fresh);
    snprintf (out, size, "%s-%s", prefix, detail ? detail : fresh);
    return out;
}

static int
s_usage_error (void)
{
    fputs (s_admin_usage, stderr);
    return CLI_USAGE;
}

static int
s_migrate (const cli_options_t *options)
{
    kn_error_t err;
    kn_error_clear (&err);
    kn_db_t *db = cli_admin_db (&err);
    int applied = 0;
    int rc = db ? kn_migrate_apply (db, &applied, &err) : -1;
    int version = rc == 0 ? kn_migrate_current (db, &err) : -1;
    kn_db_destroy (&db);
    if (rc)
        return cli_fail (options, &err);
    if (options->json)
        printf ("{\"applied\": %d, \"version\": %d}\n", applied, version);
    else
        printf ("migrations applied: %d; schema version %d\n", applied, version);
    return CLI_OK;
}

static int
s_cert_create (const cli_options_t *options, const char *path, const char *service)
{
    kn_error_t err;
    kn_error_clear (&err);
    if (zsys_file_exists (path)) {
        kn_error_set (&err, KN_E_CONFLICT, "path", "%s exists; not overwritten", path);
        return cli_fail (options, &err);
    }
    zcert_t *cert = zcert_new ();
    if (service)
        zcert_set_meta (cert, "service", "%s", service);
    mode_t old = umask (077);
    int rc = zcert_save (cert, path);
    umask (old);
    if (rc == 0) {
        //  The public half is meant to be shared.
        chmod (path, 0644);
        printf ("%s\n", zcert_public_txt (cert));
    }
    zcert_destroy (&cert);
    if (rc) {
        kn_error_set (&err, KN_E_INTERNAL, "path", "cannot write %s", path);
        return cli_fail (options, &err);
    }
    return CLI_OK;
}

static int
s_auditkey_create (const cli_options_t *options, const char *path)
{
    kn_error_t err;
    kn_error_clear (&err);
    char public_hex[2 * KN_AUDIT_KEY_BYTES + 1];
    if (kn_audit_signer_create (path, public_hex, &err))
        return cli_fail (options, &err);
    printf ("audit signing key written to %s (mode 600); public key %s (in %s.pub):\n"
            "give it to auditors for kinnet audit verify --public-key\n",
            path, public_hex, path);
    return CLI_OK;
}

static int
s_fieldkey_create (const cli_options_t *options, const char *path)
{
    kn_error_t err;
    kn_error_clear (&err);
    if (kn_crypto_generate_key_file (path, &err))
        return cli_fail (options, &err);
    printf ("field-encryption key written to %s (mode 600)\n", path);
    return CLI_OK;
}

int
cli_admin (const cli_options_t *options, int argc, char **argv)
{
    static const char *const cert_valued[] = {"--service", NULL};
    const char *what = cli_positional (argc, argv, NULL, 1);
    what = what ? what : "";
    //  The subcommands with their own usage text answer --help themselves.
    bool own_help = strcmp (what, "directory") == 0 || strcmp (what, "routing") == 0
                    || strcmp (what, "population") == 0 || strcmp (what, "agency") == 0
                    || strcmp (what, "init") == 0 || strcmp (what, "logins") == 0
                    || strcmp (what, "fieldkey") == 0 || strcmp (what, "indexkey") == 0;
    if (cli_flag (argc, argv, "--help") && !own_help) {
        fputs (s_admin_usage, stdout);
        return CLI_OK;
    }
    if (strcmp (what, "directory") == 0)
        return cli_directory (options, argc - 1, argv + 1);
    if (strcmp (what, "routing") == 0)
        return cli_routing_admin (options, argc - 1, argv + 1);
    if (strcmp (what, "population") == 0)
        return cli_population (options, argc - 1, argv + 1);
    if (strcmp (what, "agency") == 0)
        return cli_agency (options, argc - 1, argv + 1);
    if (strcmp (what, "init") == 0)
        return cli_admin_init (options, argc - 1, argv + 1);
    if (strcmp (what, "logins") == 0)
        return cli_logins (options, argc, argv);
    if (strcmp (what, "indexkey") == 0)
        return cli_indexkey (options, argc - 1, argv + 1);
    const char *fieldkey_action = cli_positional (argc, argv, NULL, 2);
    if (strcmp (what, "fieldkey") == 0 &&
        (cli_flag (argc, argv, "--help") || !fieldkey_action ||
         strcmp (fieldkey_action, "create") != 0))
        return cli_fieldkey (options, argc - 1, argv + 1);

    //  The bootstrap commands: a path at most, and --service for cert create.
    const char *action = cli_positional (argc, argv, cert_valued, 2);
    const char *path = cli_positional (argc, argv, cert_valued, 3);
    bool cert = strcmp (what, "cert") == 0;
    if (!cli_options_ok (argc, argv, cert ? cert_valued : NULL, NULL, s_admin_usage))
        return CLI_USAGE;
    if (strcmp (what, "migrate") == 0 && !action)
        return s_migrate (options);
    if (!action || strcmp (action, "create") != 0 || !path
        || cli_positional (argc, argv, cert_valued, 4))
        return s_usage_error ();
    if (cert)
        return s_cert_create (options, path, cli_arg (argc, argv, "--service"));
    if (strcmp (what, "auditkey") == 0)
        return s_auditkey_create (options, path);
    if (strcmp (what, "fieldkey") == 0)
        return s_fieldkey_create (options, path);
    return s_usage_error ();
}
