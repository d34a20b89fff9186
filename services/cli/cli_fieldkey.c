/*  kinnet admin fieldkey add|use|status|rewrap: rotating the field master key.
    add PATH      appends a new field master version to the key file, held back
                  (`current` stays): every daemon must hold it before it wraps.
    use PATH N    makes version N the one new data keys are wrapped under.
    status        per master version, the live data keys wrapped under it; the
                  values still sealed under the root key; the erased keys.
    rewrap        wraps every data key again under the current version and moves
                  every value still under the root key to its person's data key, in
                  batches, online (kn_keys_rotate.h). Owner's login, whole key file.
    The key file is rewritten whole (a new file renamed over it, mode 600). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "kn_config.h"
#include "kn_keys_rotate.h"

static const char s_usage[] =
    "usage: kinnet admin fieldkey create PATH\n"
    "       kinnet admin fieldkey add PATH\n"
    "       kinnet admin fieldkey use PATH VERSION\n"
    "       kinnet admin fieldkey status [--key-file PATH]\n"
    "       kinnet admin fieldkey rewrap [--key-file PATH] [--batch N] [--dry-run]\n"
    "Rotating the field master key (docs/operations.md, \"Field master key\"):\n"
    "add a version (held back), give every daemon the new file, use it, give every\n"
    "daemon the file again, then rewrap. status and rewrap use the database owner's\n"
    "login (KINNET_DATABASE_URL) and the key file (--key-file, default\n"
    "KINNET_FIELD_KEY). rewrap also moves values sealed before per-person keys under\n"
    "their person's key; --dry-run counts what it would change.\n";

//  The highest field master version in crypto.
int
cli_keyfile_rewrite (const char *path, const char *drop, const char *extra,
                     kn_error_t *err)
{
    FILE *in = fopen (path, "r");
    if (!in)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "PATH", "cannot read %s: %s",
                             path, strerror (errno));
    char tmp[4200];
    snprintf (tmp, sizeof tmp, "%s.new", path);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        fclose (in);
        return kn_error_set (err, KN_E_CONFLICT, "PATH", "cannot create %s: %s", tmp,
                             strerror (errno));
    }
    char line[512];
    bool ok = true;
    while (ok && fgets (line, sizeof line, in)) {
        char word[16] = "";
        if (sscanf (line, "%15s", word) == 1 && strcmp (word, drop) == 0)
            continue;
        size_t len = strlen (line);
        ok = write (fd, line, len) == (ssize_t)len;
        if (ok && len && line[len - 1] != '\n')
            ok = write (fd, "\n", 1) == 1;
    }
    sodium_memzero (line, sizeof line);
    fclose (in);
    size_t len = strlen (extra);
    ok = ok && write (fd, extra, len) == (ssize_t)len && fsync (fd) == 0;
    ok = close (fd) == 0 && ok;
    kn_crypto_t *check = ok ? kn_crypto_new_from_file (tmp, err) : NULL;
    if (!ok && err->code == KN_OK)
        kn_error_set (err, KN_E_INTERNAL, "PATH", "cannot write %s", tmp);
    if (!check || rename (tmp, path) != 0) {
        if (check)
            kn_error_set (err, KN_E_INTERNAL, "PATH", "cannot replace %s: %s", path,
                          strerror (errno));
        kn_crypto_destroy (&check);
        unlink (tmp);
        return -1;
    }
    kn_crypto_destroy (&check);
    return 0;
}

//  The highest version of kind in crypto.
static int
s_highest (kn_crypto_t *crypto, const cli_keykind_t *kind)
{
    int highest = 1;
    for (int v = 2; v < 1000; v++)
        if (kind->has (crypto, v))
            highest = v;
    return highest;
}

int
cli_keyfile_add (const cli_options_t *options, const char *path, const cli_keykind_t *kind)
{
    kn_error_t err;
    kn_error_clear (&err);
    kn_crypto_t *crypto = kn_crypto_new_from_file (path, &err);
    if (!crypto)
        return cli_fail (options, &err);
    int version = s_highest (crypto, kind) + 1, current = kind->current (crypto);
    kn_crypto_destroy (&crypto);
    uint8_t key[32];
    char hex[65], extra[200];
    randombytes_buf (key, sizeof key);
    sodium_bin2hex (hex, sizeof hex, key, sizeof key);
    snprintf (extra, sizeof extra, "%s %d %s\n%s %d\n", kind->line, version, hex,
              kind->current_line, current);
    int rc = cli_keyfile_rewrite (path, kind->current_line, extra, &err);
    sodium_memzero (key, sizeof key);
    sodium_memzero (hex, sizeof hex);
    sodium_memzero (extra, sizeof extra);
    if (rc)
        return cli_fail (options, &err);
    if (options->json)
        printf ("{\"added\": %d, \"current\": %d}\n", version, current);
    else
        printf ("%s %d added to %s; version %d still %s.\n"
                "Give every daemon this file, then: kinnet admin %s use %s %d\n",
                kind->what, version, path, current, kind->still, kind->command, path,
                version);
    return CLI_OK;
}

int
cli_keyfile_use (const cli_options_t *options, const char *path, const char *number,
                 const cli_keykind_t *kind)
{
    kn_error_t err;
    kn_error_clear (&err);
    char *end = NULL;
    long version = number ? strtol (number, &end, 10) : 0;
    if (!number || *end || version < 1 || version > 1000) {
        kn_error_set (&err, KN_E_INVALID_ARGUMENT, "VERSION", "a version number is needed");
        return cli_fail (options, &err);
    }
    kn_crypto_t *crypto = kn_crypto_new_from_file (path, &err);
    if (!crypto)
        return cli_fail (options, &err);
    bool held = kind->has (crypto, (int)version);
    kn_crypto_destroy (&crypto);
    if (!held) {
        kn_error_set (&err, KN_E_INVALID_ARGUMENT, "VERSION", "%s holds no %s %ld", path,
                      kind->what, version);
        return cli_fail (options, &err);
    }
    char extra[48];
    snprintf (extra, sizeof extra, "%s %ld\n", kind->current_line, version);
    if (cli_keyfile_rewrite (path, kind->current_line, extra, &err))
        return cli_fail (options, &err);
    if (options->json)
        printf ("{\"current\": %ld}\n", version);
    else
        printf ("version %ld %s once the daemons have %s; then: kinnet admin %s %s\n",
                version, kind->makes, path, kind->command, kind->then);
    return CLI_OK;
}

const cli_keykind_t cli_field_keys = {
    .line = "field",
    .current_line = "current",
    .what = "field master version",
    .still = "wraps new keys",
    .makes = "wraps new data keys",
    .command = "fieldkey",
    .then = "rewrap",
    .current = kn_crypto_master_version,
    .has = kn_crypto_has_master,
};

int
cli_keyfile_open (const cli_options_t *options, int argc, char **argv, kn_crypto_t **crypto,
                  kn_db_t **db)
{
    kn_error_t err;
    kn_error_clear (&err);
    const char *path = cli_arg (argc, argv, "--key-file");
    path = path ? path : kn_config_str ("KINNET_FIELD_KEY", NULL);
    if (!path) {
        kn_error_set (&err, KN_E_INVALID_ARGUMENT, "--key-file",
                      "the key file is needed: --key-file PATH or KINNET_FIELD_KEY");
        return cli_fail (options, &err);
    }
    *crypto = kn_crypto_new_from_file (path, &err);
    *db = *crypto ? cli_admin_db (&err) : NULL;
    if (!*db) {
        kn_crypto_destroy (crypto);
        return cli_fail (options, &err);
    }
    return CLI_OK;
}

static int
s_status (const cli_options_t *options, int argc, char **argv)
{
    kn_crypto_t *crypto = NULL;
    kn_db_t *db = NULL;
    int rc = cli_keyfile_open (options, argc, argv, &crypto, &db);
    if (rc)
        return rc;
    kn_error_t err;
    kn_error_clear (&err);
    int versions[64];
    long counts[64], legacy = 0, erased = 0;
    int n = kn_keys_status (db, versions, counts, 64, &legacy, &erased, &err);
    int current = kn_crypto_master_version (crypto);
    kn_db_destroy (&db);
    kn_crypto_destroy (&crypto);
    if (n < 0)
        return cli_fail (options, &err);
    long behind = 0;
    for (int i = 0; i < n; i++)
        behind += versions[i] != current ? counts[i] : 0;
    if (options->json) {
        printf ("{\"current\": %d, \"keys\": {", current);
        for (int i = 0; i < n; i++)
            printf ("%s\"%d\": %ld", i ? ", " : "", versions[i], counts[i]);
        printf ("}, \"behind\": %ld, \"root_sealed_values\": %ld, \"erased_keys\": %ld}\n",
                behind, legacy, erased);
        return CLI_OK;
    }
    printf ("current field master version: %d\n", current);
    for (int i = 0; i < n; i++)
        printf ("data keys wrapped under version %d: %ld\n", versions[i], counts[i]);
    printf ("data keys to rewrap: %ld\nvalues still sealed under the root key: %ld\n"
            "erased (destroyed) keys: %ld\n",
            behind, legacy, erased);
    return CLI_OK;
}

static int
s_rewrap (const cli_options_t *options, int argc, char **argv)
{
    const char *batch_text = cli_arg (argc, argv, "--batch");
    char *end = NULL;
    long batch = batch_text ? strtol (batch_text, &end, 10) : 500;
    if (batch_text && (*end || batch < 1 || batch > 100000)) {
        kn_error_t err;
        kn_error_set (&err, KN_E_INVALID_ARGUMENT, "--batch", "1 to 100000 rows");
        return cli_fail (options, &err);
    }
    kn_crypto_t *crypto = NULL;
    kn_db_t *db = NULL;
    int rc = cli_keyfile_open (options, argc, argv, &crypto, &db);
    if (rc)
        return rc;
    bool dry_run = cli_flag (argc, argv, "--dry-run");
    kn_error_t err;
    kn_error_clear (&err);
    kn_rewrap_report_t report;
    int failed = kn_keys_rewrap (db, crypto, (int)batch, dry_run, &report, &err);
    int current = kn_crypto_master_version (crypto);
    kn_db_destroy (&db);
    kn_crypto_destroy (&crypto);
    if (failed)
        return cli_fail (options, &err);
    if (options->json)
        printf ("{\"dry_run\": %s, \"current\": %d, \"keys_rewrapped\": %ld,"
                " \"values_forwarded\": %ld, \"values_of_erased_people\": %ld,"
                " \"batches\": %ld}\n",
                dry_run ? "true" : "false", current, report.keys_rewrapped,
                report.values_forwarded, report.values_erased, report.batches);
    else
        printf ("%s%ld data keys %s under version %d; %ld values %s under their person's"
                " key; %ld values of erased people left as they are; %ld batches\n",
                dry_run ? "dry run: " : "", report.keys_rewrapped,
                dry_run ? "would be rewrapped" : "rewrapped", current,
                report.values_forwarded, dry_run ? "would be sealed" : "sealed",
                report.values_erased, report.batches);
    return CLI_OK;
}

int
cli_fieldkey (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--key-file", "--batch", NULL};
    static const char *const flags[] = {"--dry-run", NULL};
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_usage, stdout);
        return CLI_OK;
    }
    //  argv[0] is "fieldkey".
    const char *action = cli_positional (argc, argv, valued, 1);
    const char *path = cli_positional (argc, argv, valued, 2);
    const char *more = cli_positional (argc, argv, valued, 3);
    action = action ? action : "";
    if (!cli_options_ok (argc, argv, valued, flags, s_usage))
        return CLI_USAGE;
    bool bare = strcmp (action, "status") == 0 || strcmp (action, "rewrap") == 0;
    bool takes_path = strcmp (action, "add") == 0 || strcmp (action, "use") == 0;
    bool ok = (bare && !path) || (takes_path && path &&
                                  (strcmp (action, "use") == 0 ? more != NULL
                                                               : more == NULL) &&
                                  !cli_positional (argc, argv, valued, 4));
    if (!ok) {
        fputs (s_usage, stderr);
        return CLI_USAGE;
    }
    if (strcmp (action, "add") == 0)
        return cli_keyfile_add (options, path, &cli_field_keys);
    if (strcmp (action, "use") == 0)
        return cli_keyfile_use (options, path, more, &cli_field_keys);
    if (strcmp (action, "status") == 0)
        return s_status (options, argc, argv);
    return s_rewrap (options, argc, argv);
}
