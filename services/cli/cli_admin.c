/*  Administrator commands of `kinnet`: migrate, agencies, certificates, keys.
    They talk to PostgreSQL directly (KINNET_DATABASE_URL), not through the broker. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <czmq.h>
#include <jansson.h>

#include "cli.h"
#include "kn_agency.h"
#include "kn_audit_chain.h"
#include "kn_config.h"
#include "kn_crypto.h"
#include "kn_migrate.h"

static const char *s_admin_usage =
    "usage: kinnet admin migrate\n"
    "       kinnet admin agency add --name N --sector S --district D --cert-out DIR\n"
    "       kinnet admin agency revoke ID\n"
    "       kinnet admin agency role add|remove ID ROLE\n"
    "       kinnet admin cert create PATH [--service NAME]\n"
    "       kinnet admin fieldkey create PATH\n"
    "       kinnet admin auditkey create PATH\n"
    "       kinnet admin directory import FILE.json [--mapping FILE.json]\n"
    "       kinnet admin directory ...   (kinnet admin directory --help)\n"
    "       kinnet admin routing show|set KEY VALUE\n"
    "       kinnet admin population import FILE.csv | show\n"
    "Database commands use KINNET_DATABASE_URL. Sectors are AgencySector names\n"
    "(school, early_years, social_services, health, mental_health, housing,\n"
    "ngo_community, police_youth_justice, ...; see docs/protocol.md).\n";

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
s_agency_add (const cli_options_t *options, int argc, char **argv)
{
    const char *name = cli_arg (argc, argv, "--name");
    const char *sector = cli_arg (argc, argv, "--sector");
    const char *district = cli_arg (argc, argv, "--district");
    const char *cert_out = cli_arg (argc, argv, "--cert-out");
    if (!name || !sector || !district || !cert_out) {
        fputs (s_admin_usage, stderr);
        return CLI_USAGE;
    }
    kn_error_t err;
    kn_error_clear (&err);
    if (zsys_dir_create ("%s", cert_out) != 0) {
        kn_error_set (&err, KN_E_INVALID_ARGUMENT, "cert-out", "cannot create %s", cert_out);
        return cli_fail (options, &err);
    }
    zcert_t *cert = zcert_new ();
    kn_db_t *db = cli_admin_db (&err);
    char id[KN_UUID_STR] = "";
    int rc = db ? kn_agency_add (db, name, sector, district, zcert_public_txt (cert), id, &err)
                : -1;
    kn_db_destroy (&db);
    char path[4096] = "";
    if (rc == 0) {
        zcert_set_meta (cert, "agency_id", "%s", id);
        snprintf (path, sizeof path, "%s/agency-%s.cert", cert_out, id);
        //  zcert_save writes PATH (public) and PATH_secret; the secret stays private.
        mode_t old = umask (077);
        if (zcert_save (cert, path) != 0) {
            kn_error_set (&err, KN_E_INTERNAL, "cert-out", "cannot write %s", path);
            rc = -1;
        }
        umask (old);
        chmod (path, 0644);   // the public half is meant to be shared
    }
    if (rc) {
        zcert_destroy (&cert);
        return cli_fail (options, &err);
    }
    if (options->json) {
        json_t *out = json_pack ("{s:s,s:s,s:s,s:s+}", "agency_id", id, "public_key",
                                 zcert_public_txt (cert), "certificate", path,
                                 "secret_certificate", path, "_secret");
        json_dumpf (out, stdout, JSON_INDENT (2));
        printf ("\n");
        json_decref (out);
    }
    else {
        printf ("agency registered\n");
        printf ("%-20s %s\n", "agency_id", id);
        printf ("%-20s %s\n", "public_key", zcert_public_txt (cert));
        printf ("%-20s %s_secret (give this to the agency; keep it private)\n",
                "certificate", path);
    }
    zcert_destroy (&cert);
    return CLI_OK;
}

static int
s_agency_revoke (const cli_options_t *options, const char *id)
{
    kn_error_t err;
    kn_error_clear (&err);
    kn_db_t *db = cli_admin_db (&err);
    int rc = db ? kn_agency_revoke (db, id, &err) : -1;
    kn_db_destroy (&db);
    if (rc)
        return cli_fail (options, &err);
    if (options->json)
        printf ("{\"agency_id\": \"%s\", \"revoked\": true}\n", id);   // id is a UUID
    else
        printf ("agency %s deactivated; its keys are revoked\n", id);
    return CLI_OK;
}

static int
s_agency_role (const cli_options_t *options, const char *change, const char *id,
               const char *role)
{
    kn_error_t err;
    kn_error_clear (&err);
    bool add = strcmp (change, "add") == 0;
    if (!add && strcmp (change, "remove") != 0) {
        fputs (s_admin_usage, stderr);
        return CLI_USAGE;
    }
    kn_db_t *db = cli_admin_db (&err);
    int rc = db ? kn_agency_set_role (db, id, role, add, &err) : -1;
    kn_db_destroy (&db);
    if (rc)
        return cli_fail (options, &err);
    printf ("role %s %s agency %s\n", role, add ? "granted to" : "removed from", id);
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

int
cli_admin (const cli_options_t *options, int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    const char *action = argc > 2 ? argv[2] : "";
    if (cli_flag (argc, argv, "--help") && strcmp (what, "directory") && strcmp (what, "routing")
        && strcmp (what, "population")) {
        fputs (s_admin_usage, stdout);
        return CLI_OK;
    }
    if (strcmp (what, "migrate") == 0)
        return s_migrate (options);
    if (strcmp (what, "directory") == 0)
        return cli_directory (options, argc - 1, argv + 1);
    if (strcmp (what, "routing") == 0)
        return cli_routing_admin (options, argc - 1, argv + 1);
    if (strcmp (what, "population") == 0)
        return cli_population (options, argc - 1, argv + 1);
    if (strcmp (what, "agency") == 0 && strcmp (action, "add") == 0)
        return s_agency_add (options, argc, argv);
    if (strcmp (what, "agency") == 0 && strcmp (action, "role") == 0 && argc > 5)
        return s_agency_role (options, argv[3], argv[4], argv[5]);
    if (strcmp (what, "agency") == 0 && strcmp (action, "revoke") == 0 && argc > 3)
        return s_agency_revoke (options, argv[3]);
    if (strcmp (what, "cert") == 0 && strcmp (action, "create") == 0 && argc > 3)
        return s_cert_create (options, argv[3], cli_arg (argc, argv, "--service"));
    if (strcmp (what, "auditkey") == 0 && strcmp (action, "create") == 0 && argc > 3) {
        kn_error_t err;
        kn_error_clear (&err);
        char public_hex[2 * KN_AUDIT_KEY_BYTES + 1];
        if (kn_audit_signer_create (argv[3], public_hex, &err))
            return cli_fail (options, &err);
        printf ("audit signing key written to %s (mode 600); public key %s (in %s.pub):\n"
                "give it to auditors for kinnet audit verify --public-key\n",
                argv[3], public_hex, argv[3]);
        return CLI_OK;
    }
    if (strcmp (what, "fieldkey") == 0 && strcmp (action, "create") == 0 && argc > 3) {
        kn_error_t err;
        kn_error_clear (&err);
        if (kn_crypto_generate_key_file (argv[3], &err))
            return cli_fail (options, &err);
        printf ("field-encryption key written to %s (mode 600)\n", argv[3]);
        return CLI_OK;
    }
    fputs (s_admin_usage, stderr);
    return CLI_USAGE;
}
