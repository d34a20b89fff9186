/*  kinnet admin agency add | revoke | role | key, and kinnet admin init: agencies
    and their keys. The key pair is always made here and its secret half never leaves this
    machine: agency add sends only the public key to the admin service; init, the
    bootstrap, writes the first administrator straight into the database, since no
    agency can yet call the service. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <czmq.h>
#include <jansson.h>

#include "cli.h"
#include "kn_agency.h"

static const char *s_usage =
    "usage: kinnet admin agency add --name N --sector S --district D --cert-out DIR\n"
    "              [--key KEY]\n"
    "       kinnet admin agency revoke ID [--key KEY]\n"
    "       kinnet admin agency role add|remove ID ROLE [--key KEY]\n"
    "       kinnet admin agency key add ID [--cert-out DIR] [--key KEY]\n"
    "       kinnet admin agency key revoke ID PUBLIC_KEY [--key KEY]\n"
    "       kinnet admin agency key list ID\n"
    "add makes the agency's key pair here, registers the public key with the admin\n"
    "service and writes DIR/agency-ID.cert and its _secret (give that to the agency).\n"
    "D is a registered district (kinnet admin directory district set CODE --name\n"
    "NAME registers one); another code is refused (exit 3) and nothing is written.\n"
    "Sectors are AgencySector names (school, early_years, social_services, health,\n"
    "mental_health, housing, ngo_community, police_youth_justice,\n"
    "disability_services, migration_services, income_support, local_authority).\n"
    "Roles: referrer, coordinator, auditor, data_protection_officer, administrator.\n"
    "key add makes a new key pair for an existing agency here (as add does), registers\n"
    "its public key and writes DIR/agency-ID-key-XXXXXXXX.cert and its _secret (DIR:\n"
    "the current directory by default); the agency keeps its id, roles and records\n"
    "and may connect with either key. key revoke revokes one key (Z85, as key list\n"
    "shows it); the agency's last live key is refused: revoke the agency instead.\n"
    "Each command is one request: its retries reuse its idempotency key (--key KEY\n"
    "sets it), and repeating a command is safe. These need an administrator agency's\n"
    "certificate (KINNET_CERT, KINNET_SERVER_KEY, KINNET_ENDPOINT).\n";

static const char *s_init_usage =
    "usage: kinnet admin init --cert-out DIR [--name N] [--sector S] [--district D]\n"
    "                         [--replace]\n"
    "Bootstrap, on the database (KINNET_DATABASE_URL): registers the first agency with\n"
    "the administrator role and writes its certificate to DIR/agency-ID.cert (and\n"
    "_secret), for KINNET_CERT. Refused (exit 5) while an active administrator exists:\n"
    "from then on administrators are made through the admin service (agency add,\n"
    "agency role add). Defaults: --name 'Partnership administration', --sector\n"
    "local_authority, --district partnership (registered with it, with no name, when\n"
    "it is not yet: no administrator exists to register it).\n"
    "--replace is the recovery when no administrator's certificate is left: it\n"
    "deactivates every administrator agency, revokes its keys (on the audit trail) and\n"
    "makes a new one, in one transaction.\n";

static int
s_usage_error (const char *usage)
{
    fputs (usage, stderr);
    return CLI_USAGE;
}

//  The sector name checked against AgencySector, any case; 0 with err when unknown.
static int
s_sector (const char *sector, kn_error_t *err)
{
    int value = cli_enum (&kinnet__v1__agency_sector__descriptor, sector);
    if (value > 0)
        return value;
    kn_error_set (err, KN_E_INVALID_ARGUMENT, "sector",
                  "unknown sector '%s' (see docs/protocol.md, AgencySector)", sector);
    return 0;
}

//  Write cert (with its agency_id) as DIR/agency-NAME.cert and _secret into path;
//  NAME is the id, or the id and the key's first bytes (key: an agency's second
//  pair, which must not replace its first).
static int
s_save_cert (zcert_t *cert, const char *cert_out, const char *id, bool key, char *path,
             size_t size, kn_error_t *err)
{
    zcert_set_meta (cert, "agency_id", "%s", id);
    const byte *raw = zcert_public_key (cert);
    if (key)
        snprintf (path, size, "%s/agency-%s-key-%02x%02x%02x%02x.cert", cert_out, id,
                  raw[0], raw[1], raw[2], raw[3]);
    else
        snprintf (path, size, "%s/agency-%s.cert", cert_out, id);
    //  zcert_save writes PATH (public) and PATH_secret; the secret stays private.
    mode_t old = umask (077);
    int rc = zcert_save (cert, path);
    umask (old);
    if (rc != 0)
        return kn_error_set (err, KN_E_INTERNAL, "cert-out", "cannot write %s", path);
    chmod (path, 0644); // the public half is meant to be shared
    return 0;
}

//  The key pair on disk before anyone registers it, as DIR/agency-pending-HEX.cert
//  (and _secret): if the final save after the registration fails, the secret key of
//  a registered agency is still here, never lost. path receives the pending name.
static int
s_save_pending (zcert_t *cert, const char *cert_out, char *path, size_t size,
                kn_error_t *err)
{
    const byte *raw = zcert_public_key (cert);
    char id[32];
    snprintf (id, sizeof id, "pending-%02x%02x%02x%02x%02x%02x", raw[0], raw[1], raw[2],
              raw[3], raw[4], raw[5]);
    //  A copy: the pair's metadata is set once, to its real agency id, when saved
    //  after the registration (zcert_set_meta does not replace a value).
    zcert_t *copy = zcert_dup (cert);
    int rc = s_save_cert (copy, cert_out, id, false, path, size, err);
    zcert_destroy (&copy);
    return rc;
}

//  Remove the pending pair once the registered one is saved.
static void
s_drop_pending (const char *path)
{
    char secret[4200];
    snprintf (secret, sizeof secret, "%s_secret", path);
    zsys_file_delete (secret);
    zsys_file_delete (path);
}

//  err, registered but not saved, also names where the key pair is.
static void
s_name_pending (kn_error_t *err, const char *pending)
{
    char problem[sizeof err->message];
    snprintf (problem, sizeof problem, "%s", err->message);
    kn_error_set (err, err->code, "cert-out",
                  "%s; the registered key pair is in %s_secret", problem, pending);
}

static void
s_print_registered (const cli_options_t *options, const char *what, const char *id,
                    zcert_t *cert, const char *path)
{
    if (options->json) {
        json_t *out = json_pack ("{s:s,s:s,s:s,s:s+}", "agency_id", id, "public_key",
                                 zcert_public_txt (cert), "certificate", path,
                                 "secret_certificate", path, "_secret");
        json_dumpf (out, stdout, JSON_INDENT (2));
        printf ("\n");
        json_decref (out);
        return;
    }
    printf ("%s\n", what);
    printf ("%-20s %s\n", "agency_id", id);
    printf ("%-20s %s\n", "public_key", zcert_public_txt (cert));
    printf ("%-20s %s_secret (give this to the agency; keep it private)\n", "certificate",
            path);
}

//  A new key pair, already on disk as pending (s_save_pending) in cert_out, which is
//  made when missing; NULL with err.
static zcert_t *
s_new_pair (const char *cert_out, char *pending, size_t size, kn_error_t *err)
{
    if (zsys_dir_create ("%s", cert_out) != 0) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "cert-out", "cannot create %s", cert_out);
        return NULL;
    }
    zcert_t *cert = zcert_new ();
    if (s_save_pending (cert, cert_out, pending, size, err))
        zcert_destroy (&cert);
    return cert;
}

//  After a registration (id, or NULL when it failed with err): save the pair under
//  the agency's id and drop the pending one, or, registered but not saved, keep it
//  and say where it is; print; destroy the pair. The command's exit code.
static int
s_finish (const cli_options_t *options, const char *what, zcert_t **cert_p,
          const char *cert_out, const char *pending, const char *id, bool key,
          kn_error_t *err)
{
    char path[4096] = "";
    int rc = id ? s_save_cert (*cert_p, cert_out, id, key, path, sizeof path, err) : -1;
    if (rc == 0 || !id)
        s_drop_pending (pending);
    else
        s_name_pending (err, pending);
    if (rc == 0)
        s_print_registered (options, what, id, *cert_p, path);
    zcert_destroy (cert_p);
    return rc ? cli_fail (options, err) : CLI_OK;
}

static int
s_add (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--name",     "--sector", "--district",
                                         "--cert-out", "--key",    NULL};
    const char *name = cli_arg (argc, argv, "--name");
    const char *sector = cli_arg (argc, argv, "--sector");
    const char *district = cli_arg (argc, argv, "--district");
    const char *cert_out = cli_arg (argc, argv, "--cert-out");
    if (!cli_options_ok (argc, argv, valued, NULL, s_usage))
        return CLI_USAGE;
    if (!name || !sector || !district || !cert_out ||
        cli_positional (argc, argv, valued, 2))
        return s_usage_error (s_usage);
    kn_error_t err;
    kn_error_clear (&err);
    int sector_value = s_sector (sector, &err);
    if (!sector_value)
        return cli_fail (options, &err);
    char pending[4096];
    zcert_t *cert = s_new_pair (cert_out, pending, sizeof pending, &err);
    if (!cert)
        return cli_fail (options, &err);
    char key[200];
    Kinnet__V1__RegisterAgency op = KINNET__V1__REGISTER_AGENCY__INIT;
    op.idempotency_key = (char *)cli_admin_key (key, sizeof key, argc, argv, "register",
                                                zcert_public_txt (cert));
    op.name = (char *)name;
    op.sector = sector_value;
    op.district = (char *)district;
    op.public_key = (char *)zcert_public_txt (cert);
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_REGISTER_AGENCY;
    request.register_agency = &op;
    Kinnet__V1__AdminReply *reply = cli_admin_call (
        options, &request, KINNET__V1__ADMIN_REPLY__RESULT_REGISTERED, &err);
    int rc = s_finish (options, "agency registered", &cert, cert_out, pending,
                       reply ? reply->registered->agency_id : NULL, false, &err);
    if (reply)
        kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return rc;
}

static int
s_revoke (const cli_options_t *options, const char *id, int argc, char **argv)
{
    kn_error_t err;
    kn_error_clear (&err);
    char key[200];
    Kinnet__V1__RevokeAgency op = KINNET__V1__REVOKE_AGENCY__INIT;
    op.idempotency_key =
        (char *)cli_admin_key (key, sizeof key, argc, argv, "revoke", id);
    op.agency_id = (char *)id;
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_REVOKE_AGENCY;
    request.revoke_agency = &op;
    Kinnet__V1__AdminReply *reply =
        cli_admin_call (options, &request, KINNET__V1__ADMIN_REPLY__RESULT_REVOKED, &err);
    if (!reply)
        return cli_fail (options, &err);
    const Kinnet__V1__AgencyRevoked *revoked = reply->revoked;
    if (options->json) {
        json_t *out =
            json_pack ("{s:s,s:b}", "agency_id", revoked->agency_id, "revoked", 1);
        if (*revoked->directory_id)
            json_object_update_new (
                out, json_pack ("{s:s,s:b,s:s}", "directory_id", revoked->directory_id,
                                "directory_released", revoked->directory_released,
                                "directory_note", revoked->directory_note));
        json_dumpf (out, stdout, JSON_INDENT (2));
        printf ("\n");
        json_decref (out);
    } else {
        printf ("agency %s deactivated; its keys are revoked\n", revoked->agency_id);
        if (*revoked->directory_id)
            printf ("%s\n", revoked->directory_note);
    }
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

static int
s_role (const cli_options_t *options, const char *change, const char *id,
        const char *role, int argc, char **argv)
{
    bool add = strcmp (change, "add") == 0;
    if (!add && strcmp (change, "remove") != 0)
        return s_usage_error (s_usage);
    kn_error_t err;
    kn_error_clear (&err);
    char key[200];
    Kinnet__V1__SetRole op = KINNET__V1__SET_ROLE__INIT;
    op.idempotency_key = (char *)cli_admin_key (key, sizeof key, argc, argv,
                                                add ? "role-add" : "role-remove", NULL);
    op.agency_id = (char *)id;
    op.role = (char *)role;
    op.grant = add;
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_SET_ROLE;
    request.set_role = &op;
    Kinnet__V1__AdminReply *reply =
        cli_admin_call (options, &request, KINNET__V1__ADMIN_REPLY__RESULT_ROLE, &err);
    if (!reply)
        return cli_fail (options, &err);
    if (options->json)
        cli_print_json (&reply->role->base);
    else
        printf ("role %s %s agency %s%s\n", role, add ? "granted to" : "removed from", id,
                reply->role->changed ? "" : " (it already was so)");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

//  key add ID: a new pair made here, its public key registered for agency id.
static int
s_key_add (const cli_options_t *options, const char *id, int argc, char **argv)
{
    kn_error_t err;
    kn_error_clear (&err);
    const char *cert_out = cli_arg (argc, argv, "--cert-out");
    cert_out = cert_out ? cert_out : ".";
    char pending[4096];
    zcert_t *cert = s_new_pair (cert_out, pending, sizeof pending, &err);
    if (!cert)
        return cli_fail (options, &err);
    char key[200];
    Kinnet__V1__AddAgencyKey op = KINNET__V1__ADD_AGENCY_KEY__INIT;
    op.idempotency_key = (char *)cli_admin_key (key, sizeof key, argc, argv, "key-add",
                                                zcert_public_txt (cert));
    op.agency_id = (char *)id;
    op.public_key = (char *)zcert_public_txt (cert);
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_ADD_AGENCY_KEY;
    request.add_agency_key = &op;
    Kinnet__V1__AdminReply *reply = cli_admin_call (
        options, &request, KINNET__V1__ADMIN_REPLY__RESULT_KEY_CHANGED, &err);
    int rc = s_finish (options, "key added", &cert, cert_out, pending,
                       reply ? reply->key_changed->agency_id : NULL, true, &err);
    if (reply)
        kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return rc;
}

static int
s_key_revoke (const cli_options_t *options, const char *id, const char *public_key,
              int argc, char **argv)
{
    kn_error_t err;
    kn_error_clear (&err);
    char key[200];
    Kinnet__V1__RevokeAgencyKey op = KINNET__V1__REVOKE_AGENCY_KEY__INIT;
    op.idempotency_key =
        (char *)cli_admin_key (key, sizeof key, argc, argv, "key-revoke", public_key);
    op.agency_id = (char *)id;
    op.public_key = (char *)public_key;
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_REVOKE_AGENCY_KEY;
    request.revoke_agency_key = &op;
    Kinnet__V1__AdminReply *reply = cli_admin_call (
        options, &request, KINNET__V1__ADMIN_REPLY__RESULT_KEY_CHANGED, &err);
    if (!reply)
        return cli_fail (options, &err);
    if (options->json)
        cli_print_json (&reply->key_changed->base);
    else
        printf ("key %s of agency %s revoked%s; %d live key(s) left\n", public_key, id,
                reply->key_changed->changed ? "" : " (it already was)",
                (int)reply->key_changed->live_keys);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

static void
s_time (const Kinnet__V1__Timestamp *at, char *out, size_t size)
{
    time_t t = at ? (time_t)at->seconds : 0;
    struct tm tm;
    if (!at || !gmtime_r (&t, &tm) || !strftime (out, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf (out, size, "-");
}

static int
s_key_list (const cli_options_t *options, const char *id)
{
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__ListAgencyKeys op = KINNET__V1__LIST_AGENCY_KEYS__INIT;
    op.agency_id = (char *)id;
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_LIST_AGENCY_KEYS;
    request.list_agency_keys = &op;
    Kinnet__V1__AdminReply *reply =
        cli_admin_call (options, &request, KINNET__V1__ADMIN_REPLY__RESULT_KEYS, &err);
    if (!reply)
        return cli_fail (options, &err);
    if (options->json)
        cli_print_json (&reply->keys->base);
    else {
        printf ("agency %s (%s)\n%-40s  %-20s  %s\n", id,
                reply->keys->active ? "active" : "deactivated", "public_key", "created",
                "revoked");
        for (size_t k = 0; k < reply->keys->n_keys; k++) {
            char created[32], revoked[32];
            s_time (reply->keys->keys[k]->created_at, created, sizeof created);
            s_time (reply->keys->keys[k]->revoked_at, revoked, sizeof revoked);
            printf ("%-40s  %-20s  %s\n", reply->keys->keys[k]->public_key, created,
                    revoked);
        }
    }
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

//  kinnet admin agency key add|revoke|list ...
static int
s_key (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--key", "--cert-out", NULL};
    if (!cli_options_ok (argc, argv, valued, NULL, s_usage))
        return CLI_USAGE;
    const char *action = cli_positional (argc, argv, valued, 2);
    const char *id = cli_positional (argc, argv, valued, 3);
    const char *public_key = cli_positional (argc, argv, valued, 4);
    const char *extra = cli_positional (argc, argv, valued, 5);
    action = action ? action : "";
    bool has_cert_out = cli_arg (argc, argv, "--cert-out") != NULL;
    if (strcmp (action, "add") == 0 && id && !public_key)
        return s_key_add (options, id, argc, argv);
    if (strcmp (action, "revoke") == 0 && public_key && !extra && !has_cert_out)
        return s_key_revoke (options, id, public_key, argc, argv);
    if (strcmp (action, "list") == 0 && id && !public_key && !has_cert_out &&
        !cli_arg (argc, argv, "--key"))
        return s_key_list (options, id);
    return s_usage_error (s_usage);
}

int
cli_agency (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--key", NULL};
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_usage, stdout);
        return CLI_OK;
    }
    const char *action = cli_positional (argc, argv, valued, 1);
    action = action ? action : "";
    if (strcmp (action, "add") == 0)
        return s_add (options, argc, argv);
    if (strcmp (action, "key") == 0)
        return s_key (options, argc, argv);
    if (!cli_options_ok (argc, argv, valued, NULL, s_usage))
        return CLI_USAGE;
    const char *first = cli_positional (argc, argv, valued, 2);
    const char *second = cli_positional (argc, argv, valued, 3);
    const char *third = cli_positional (argc, argv, valued, 4);
    const char *extra = cli_positional (argc, argv, valued, 5);
    if (strcmp (action, "revoke") == 0 && first && !second)
        return s_revoke (options, first, argc, argv);
    if (strcmp (action, "role") == 0 && third && !extra)
        return s_role (options, first, second, third, argc, argv);
    return s_usage_error (s_usage);
}

int
cli_admin_init (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--name", "--sector", "--district", "--cert-out",
                                         NULL};
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_init_usage, stdout);
        return CLI_OK;
    }
    const char *name = cli_arg (argc, argv, "--name");
    const char *sector = cli_arg (argc, argv, "--sector");
    const char *district = cli_arg (argc, argv, "--district");
    const char *cert_out = cli_arg (argc, argv, "--cert-out");
    static const char *const flags[] = {"--replace", NULL};
    if (!cli_options_ok (argc, argv, valued, flags, s_init_usage))
        return CLI_USAGE;
    if (!cert_out || cli_positional (argc, argv, valued, 1))
        return s_usage_error (s_init_usage);
    name = name ? name : "Partnership administration";
    sector = sector ? sector : "local_authority";
    district = district ? district : "partnership";
    kn_error_t err;
    kn_error_clear (&err);
    if (!s_sector (sector, &err))
        return cli_fail (options, &err);
    char pending[4096];
    zcert_t *cert = s_new_pair (cert_out, pending, sizeof pending, &err);
    if (!cert)
        return cli_fail (options, &err);
    bool replace = cli_flag (argc, argv, "--replace");
    kn_db_t *db = cli_admin_db (&err);
    char id[KN_UUID_STR] = "";
    int rc = !db        ? -1
             : replace ? kn_agency_replace_administrators (db, name, sector, district,
                                                           zcert_public_txt (cert), id, &err)
                       : kn_agency_init_administrator (db, name, sector, district,
                                                       zcert_public_txt (cert), id, &err);
    kn_db_destroy (&db);
    return s_finish (options, "administrator agency registered", &cert, cert_out, pending,
                     rc == 0 ? id : NULL, false, &err);
}
