/*  kinnet admin indexkey add|use|status|reindex: rotating the blind-index key (the
    key of the matching index and of the request fingerprints), as fieldkey rotates
    the field master.
    add PATH      appends a new index version to the key file, held back
                  (`index-current` stays): every daemon must hold it before any
                  indexes under it, or one would not find the people another made.
    use PATH N    makes version N the one new indexes and fingerprints are made under.
    status        per version, the subjects indexed and the fingerprints digested
                  under it, and which old versions the file may now lose.
    reindex       recomputes every subject's index under the current version, in
                  batches, online (kn_index.h). The database owner's login and the
                  whole key file: it opens every person's names and date of birth,
                  which no service's role may read, and it must not be a request
                  an agency could make.
    The key file is rewritten whole (cli_keyfile_rewrite). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kn_index.h"

static const char s_usage[] =
    "usage: kinnet admin indexkey add PATH\n"
    "       kinnet admin indexkey use PATH VERSION\n"
    "       kinnet admin indexkey status [--key-file PATH] [--window DAYS]\n"
    "       kinnet admin indexkey reindex [--key-file PATH] [--batch N] [--dry-run]\n"
    "Rotating the blind-index key (docs/operations.md, \"Blind-index key\"): add a\n"
    "version (held back), give every daemon the new file, use it, give every daemon\n"
    "the file again, then reindex. status and reindex use the database owner's login\n"
    "(KINNET_DATABASE_URL) and the key file (--key-file, default KINNET_FIELD_KEY).\n"
    "status says which old version no subject's index and no fingerprint of the last\n"
    "--window days (30) is under any more: its line can then leave the file.\n"
    "reindex --dry-run counts what it would change.\n";

const cli_keykind_t cli_index_keys = {
    .line = "index",
    .current_line = "index-current",
    .what = "index version",
    .still = "indexes new people",
    .makes = "indexes new people",
    .command = "indexkey",
    .then = "reindex",
    .current = kn_crypto_index_version,
    .has = kn_crypto_has_index,
};

//  A positive whole number option into *value, or the default: CLI_OK, or the exit
//  code of a bad one (reported, as fieldkey's --batch is).
static int
s_number (const cli_options_t *options, int argc, char **argv, const char *name,
          long fallback, long max, long *value)
{
    const char *text = cli_arg (argc, argv, name);
    char *end = NULL;
    *value = text ? strtol (text, &end, 10) : fallback;
    if (text && (*end || *value < 1 || *value > max)) {
        kn_error_t err;
        kn_error_set (&err, KN_E_INVALID_ARGUMENT, name, "1 to %ld", max);
        return cli_fail (options, &err);
    }
    return CLI_OK;
}

static bool
s_held (const int *held, int n, int version)
{
    for (int i = 0; i < n; i++)
        if (held[i] == version)
            return true;
    return false;
}

static int
s_status (const cli_options_t *options, int argc, char **argv)
{
    long window = 0;
    int rc = s_number (options, argc, argv, "--window", 30, 36500, &window);
    kn_crypto_t *crypto = NULL;
    kn_db_t *db = NULL;
    rc = rc ? rc : cli_keyfile_open (options, argc, argv, &crypto, &db);
    if (rc)
        return rc;
    kn_error_t err;
    kn_error_clear (&err);
    kn_index_use_t uses[KN_INDEX_MAX + 8];
    int n = kn_index_status (db, (int)window, uses, KN_INDEX_MAX + 8, &err);
    int current = kn_crypto_index_version (crypto), held[KN_INDEX_MAX];
    int n_held = kn_crypto_index_versions (crypto, held);
    kn_db_destroy (&db);
    kn_crypto_destroy (&crypto);
    if (n < 0)
        return cli_fail (options, &err);
    long behind = 0;
    for (int i = 0; i < n; i++)
        behind += uses[i].version != current ? uses[i].subjects : 0;
    //  A held version other than the current one that nothing recent is under.
    bool removable[KN_INDEX_MAX];
    for (int h = 0; h < n_held; h++) {
        removable[h] = held[h] != current;
        for (int i = 0; i < n; i++)
            if (uses[i].version == held[h] &&
                (uses[i].subjects > 0 || uses[i].recent > 0))
                removable[h] = false;
    }
    if (options->json) {
        printf ("{\"current\": %d, \"window_days\": %ld, \"versions\": [", current,
                window);
        for (int i = 0; i < n; i++)
            printf ("%s{\"version\": %d, \"in_key_file\": %s, \"subjects\": %ld,"
                    " \"erased\": %ld, \"without_inputs\": %ld, \"fingerprints\": %ld,"
                    " \"recent_fingerprints\": %ld, \"newest_fingerprint\": \"%s\"}",
                    i ? ", " : "", uses[i].version,
                    s_held (held, n_held, uses[i].version) ? "true" : "false",
                    uses[i].subjects, uses[i].erased, uses[i].without_inputs,
                    uses[i].fingerprints, uses[i].recent, uses[i].newest);
        printf ("], \"behind\": %ld, \"removable\": [", behind);
        for (int h = 0, k = 0; h < n_held; h++)
            if (removable[h])
                printf ("%s%d", k++ ? ", " : "", held[h]);
        printf ("]}\n");
        return CLI_OK;
    }
    printf ("current index version: %d\n", current);
    for (int i = 0; i < n; i++) {
        bool in_file = s_held (held, n_held, uses[i].version);
        printf (
            "version %d: %ld subjects (%ld erased, %ld with nothing to re-index from);"
            " %ld fingerprints, %ld in the last %ld days%s%s%s\n",
            uses[i].version, uses[i].subjects, uses[i].erased, uses[i].without_inputs,
            uses[i].fingerprints, uses[i].recent, window,
            uses[i].newest[0] ? ", newest " : "", uses[i].newest,
            in_file                ? ""
            : uses[i].subjects > 0 ? "; NOT IN THE KEY FILE: daemons refuse to start"
                                   : "; not in the key file");
    }
    printf ("subjects to re-index: %ld\n", behind);
    for (int h = 0; h < n_held; h++)
        if (removable[h])
            printf ("version %d is no longer in use: its line can leave the key file%s\n",
                    held[h],
                    held[h] == 1 ? " (version 1 is the root key's line, which is"
                                   " also field master version 1)"
                                 : "");
    return CLI_OK;
}

static int
s_reindex (const cli_options_t *options, int argc, char **argv)
{
    long batch = 0;
    int rc = s_number (options, argc, argv, "--batch", 500, 100000, &batch);
    kn_crypto_t *crypto = NULL;
    kn_db_t *db = NULL;
    rc = rc ? rc : cli_keyfile_open (options, argc, argv, &crypto, &db);
    if (rc)
        return rc;
    bool dry_run = cli_flag (argc, argv, "--dry-run");
    kn_error_t err;
    kn_error_clear (&err);
    kn_reindex_report_t report;
    int failed = kn_index_reindex (db, crypto, (int)batch, dry_run, &report, &err);
    int current = kn_crypto_index_version (crypto);
    kn_db_destroy (&db);
    kn_crypto_destroy (&crypto);
    if (failed)
        return cli_fail (options, &err);
    if (options->json) {
        printf ("{\"dry_run\": %s, \"current\": %d, \"reindexed\": %ld, \"erased\": %ld,"
                " \"unresolved\": %ld, \"duplicates\": %ld, \"batches\": %ld,"
                " \"left\": [",
                dry_run ? "true" : "false", current, report.reindexed, report.erased,
                report.unresolved, report.duplicates, report.batches);
        for (int i = 0; i < report.n_listed; i++)
            printf ("%s\"%s\"", i ? ", " : "", report.listed[i]);
        printf ("]}\n");
        return CLI_OK;
    }
    printf ("%s%ld indexes %s under version %d; %ld erased people %s; %ld left as they"
            " are (%ld with nothing that reproduces their index, %ld another subject's"
            " already); %ld batches\n",
            dry_run ? "dry run: " : "", report.reindexed,
            dry_run ? "would be recomputed" : "recomputed", current, report.erased,
            dry_run ? "would be unlinked" : "unlinked",
            report.unresolved + report.duplicates, report.unresolved, report.duplicates,
            report.batches);
    for (int i = 0; i < report.n_listed; i++)
        printf ("left: subject %s\n", report.listed[i]);
    return CLI_OK;
}

int
cli_indexkey (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--key-file", "--batch", "--window", NULL};
    static const char *const flags[] = {"--dry-run", NULL};
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_usage, stdout);
        return CLI_OK;
    }
    //  argv[0] is "indexkey".
    const char *action = cli_positional (argc, argv, valued, 1);
    const char *path = cli_positional (argc, argv, valued, 2);
    const char *more = cli_positional (argc, argv, valued, 3);
    action = action ? action : "";
    if (!cli_options_ok (argc, argv, valued, flags, s_usage))
        return CLI_USAGE;
    bool bare = strcmp (action, "status") == 0 || strcmp (action, "reindex") == 0;
    bool takes_path = strcmp (action, "add") == 0 || strcmp (action, "use") == 0;
    bool ok =
        (bare && !path) || (takes_path && path &&
                            (strcmp (action, "use") == 0 ? more != NULL : more == NULL) &&
                            !cli_positional (argc, argv, valued, 4));
    if (!ok) {
        fputs (s_usage, stderr);
        return CLI_USAGE;
    }
    if (strcmp (action, "add") == 0)
        return cli_keyfile_add (options, path, &cli_index_keys);
    if (strcmp (action, "use") == 0)
        return cli_keyfile_use (options, path, more, &cli_index_keys);
    if (strcmp (action, "status") == 0)
        return s_status (options, argc, argv);
    return s_reindex (options, argc, argv);
}
