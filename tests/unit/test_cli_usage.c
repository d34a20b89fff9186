/*  kinnet's command lines: an unknown option, an option without its value, a missing
    or a surplus argument are usage errors (exit 2, named on stderr) in every command,
    before anything is loaded or sent (#20). No server: the broker endpoint is a port
    nobody listens on and the database URL one nobody answers, so a command that went
    ahead would exit 8 (or 3 on its input), never 2. The table holds every command
    line kinnet has, written as it is valid; the control test proves that. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kn_test.h"

//  Valid command lines, one per command and action (files are relative to the
//  scratch folder the binary runs in).
static const char *s_lines[] = {
    "refer --file r.json",
    "referral show R1 --purpose referral_and_assessment",
    "referral withdraw R1 --reason duplicate",
    "ping intake",
    "consent record --file r.json",
    "consent withdraw C1 --channel written --category education",
    "consent show C1",
    "consent list --subject S1",
    "consent check --subject S1 --agency A1 --category education"
    " --purpose referral_and_assessment",
    "consent receipt C1",
    "consent expiring --days 30",
    "consent basis --file r.json",
    "override request --file r.json",
    "override review O1 --decision upheld --notes checked",
    "override list --open",
    "release request --ground G1 --controller A1 --reason needed",
    "release approve L1 --reason fine",
    "release decline L1 --reason no",
    "release list",
    "feed --after 3 --max 2",
    "offer accept F1",
    "offer decline F1 --reason other",
    "case show K1",
    "case contact K1 --at 1700000000",
    "case transfer K1 --to A1 --reason other",
    "case lead K1 --agency A1",
    "case close K1 --outcome needs_met",
    "case unplaced --district d1",
    "report referrals --from 2026-01-01 --to 2026-02-01 --by month --out report.csv",
    "report governance --from 2026-01-01",
    "subject export S1 --out export.json",
    "subject erase S1 --reference R-1",
    "subject rectify S1 --reference R-1 --given-name Ann",
    "subject merge S1 S2 --reference R-1",
    "subject unmerge M1 --reference R-1",
    "subject split S1 D1 --reference R-1",
    "subject hold place S1 --reason inquiry",
    "subject hold lift H1 --reason over",
    "subject holds S1",
    "retention list",
    "retention set referral 365",
    "retention cancel referral",
    "retention run --dry-run",
    "audit verify --public-key "
    "0000000000000000000000000000000000000000000000000000000000000000",
    "audit signers",
    "audit seal",
    "audit export --from 2026-01-01 --to 2026-02-01 --out audit.csv",
    "admin agency add --name N --sector school --district d1 --cert-out .",
    "admin agency revoke A1",
    "admin agency role add A1 referrer",
    "admin agency key add A1",
    "admin agency key revoke A1 KEY",
    "admin agency key list A1",
    "admin directory import r.json --dry-run",
    "admin directory show",
    "admin directory set A1 --accepting yes",
    "admin directory district set d1 --name North",
    "admin directory district list",
    "admin directory export",
    "admin routing show",
    "admin routing set offer_hours 24",
    "admin population import p.csv",
    "admin population show",
    "admin migrate",
    "admin logins logins",
    "admin init --cert-out .",
    "admin cert create made",
    "admin fieldkey create field.key",
    "admin fieldkey add field.key",
    "admin fieldkey use field.key 1",
    "admin fieldkey status --key-file field.key",
    "admin fieldkey rewrap --key-file field.key --dry-run",
    "admin indexkey add field.key",
    "admin indexkey use field.key 1",
    "admin indexkey status --key-file field.key",
    "admin indexkey reindex --key-file field.key --dry-run",
    "admin auditkey create audit.key",
};

static char s_dir[] = "/tmp/kn-cli-usage-XXXXXX";

//  Run kinnet with args in the scratch folder, stdout discarded; its exit code, and
//  what it wrote on stderr in *err (caller frees).
static int
s_kinnet (const char *args, char **err)
{
    char command[4096];
    snprintf (command, sizeof command,
              "cd %s && KINNET_ENDPOINT=tcp://127.0.0.1:1 KINNET_CERT=%s/agency_secret"
              " KINNET_SERVER_KEY=%s/broker KINNET_AUDIT_KEY= KINNET_FIELD_KEY="
              " KINNET_DATABASE_URL='postgresql://127.0.0.1:1/none?connect_timeout=1'"
              " '%s' --timeout 100 --retries 0 %s >/dev/null 2>stderr.txt",
              s_dir, s_dir, s_dir, kn_test_cli_bin (), args);
    int status = system (command);
    char path[128];
    snprintf (path, sizeof path, "%s/stderr.txt", s_dir);
    *err = kn_test_read_file (path);
    cr_assert (*err);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
s_setup (void)
{
    cr_assert (mkdtemp (s_dir));
    char *err = NULL;
    //  A real agency certificate and broker key: a command that went ahead would
    //  connect and wait for the broker, not stop at a missing file.
    cr_assert_eq (s_kinnet ("admin cert create agency", &err), 0, "%s", err);
    free (err);
    cr_assert_eq (s_kinnet ("admin cert create broker", &err), 0, "%s", err);
    free (err);
    char path[128];
    snprintf (path, sizeof path, "%s/r.json", s_dir);
    FILE *file = fopen (path, "w");
    cr_assert (file);
    fputs ("{}\n", file);
    fclose (file);
}

static void
s_teardown (void)
{
    char command[128];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    cr_assert_eq (system (command), 0);
}

TestSuite (cli_usage, .init = s_setup, .fini = s_teardown, .timeout = 300);

//  The table is right: each line without a fault is not a usage error.
Test (cli_usage, every_line_is_valid)
{
    for (size_t i = 0; i < sizeof s_lines / sizeof *s_lines; i++) {
        char *err = NULL;
        int rc = s_kinnet (s_lines[i], &err);
        cr_expect_neq (rc, 2, "'%s' is a usage error: %s", s_lines[i], err);
        cr_expect_null (strstr (err, "usage:"), "'%s': %s", s_lines[i], err);
        free (err);
    }
}

//  The issue: --bogus-flag appended to every command line is refused and named.
Test (cli_usage, unknown_option_everywhere)
{
    for (size_t i = 0; i < sizeof s_lines / sizeof *s_lines; i++) {
        char args[512], *err = NULL;
        snprintf (args, sizeof args, "%s --bogus-flag", s_lines[i]);
        int rc = s_kinnet (args, &err);
        cr_expect_eq (rc, 2, "'%s' exits %d: %s", args, rc, err);
        cr_expect (strstr (err, "unknown option --bogus-flag"), "'%s': %s", args, err);
        free (err);
    }
}

typedef struct {
    const char *args;
    const char *says; // on stderr
} usage_case_t;

//  Missing values and arguments, surplus arguments, options of another action.
static const usage_case_t s_cases[] = {
    {"--bogus-flag ping intake", "unknown option --bogus-flag"},
    {"ping intake --timeout", "--timeout needs a value"},
    {"referral withdraw R1 --reason", "--reason needs a value"},
    {"case transfer K1 --to A1 --reason", "--reason needs a value"},
    {"feed --after", "--after needs a value"},
    {"report referrals --from 2026-01-01 --to", "--to needs a value"},
    {"ping", "missing an argument"},
    {"referral show", "missing an argument"},
    {"consent show", "missing an argument"},
    {"offer accept", "missing an argument"},
    {"case close --outcome needs_met", "missing an argument"},
    {"release approve --reason fine", "missing an argument"},
    {"subject export --out export.json", "missing an argument"},
    {"consent", "missing a command"},
    {"consent --bogus-flag", "missing a command after 'consent' (before its option '--bogus-flag')"},
    {"report --from 2026-01-01 --to 2026-02-01", "missing an argument"},
    {"case reopen K1", "unknown command 'case reopen'"},
    {"ping intake routing", "unexpected argument 'routing'"},
    {"refer --file r.json r.json", "unexpected argument 'r.json'"},
    {"referral show R1 R2", "unexpected argument 'R2'"},
    {"consent list --subject S1 S2", "unexpected argument 'S2'"},
    {"feed 3", "unexpected argument '3'"},
    {"case unplaced d1", "unexpected argument 'd1'"},
    {"report referrals --from 2026-01-01 --to 2026-02-01 month", "unexpected argument"},
    {"subject export S1 S2 --out export.json", "unexpected argument 'S2'"},
    {"audit seal now", "unexpected argument 'now'"},
    {"referral show R1 --reason duplicate", "unknown option --reason"},
    {"override list --decision upheld", "unknown option --decision"},
    {"case show K1 --outcome needs_met", "unknown option --outcome"},
    {"report governance --from 2026-01-01 --by month", "unknown option --by"},
    //  Required options: the usage.
    {"refer", "usage: kinnet refer"},
    {"referral withdraw R1", "usage: kinnet referral"},
    {"offer decline F1", "usage: kinnet offer"},
    {"release request --ground G1 --controller A1", "usage: kinnet release"},
    {"consent withdraw C1", "usage: kinnet consent"},
};

Test (cli_usage, bad_command_lines)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof *s_cases; i++) {
        char *err = NULL;
        int rc = s_kinnet (s_cases[i].args, &err);
        cr_expect_eq (rc, 2, "'%s' exits %d: %s", s_cases[i].args, rc, err);
        cr_expect (strstr (err, s_cases[i].says), "'%s' does not say '%s': %s",
                   s_cases[i].args, s_cases[i].says, err);
        free (err);
    }
    //  Nothing was written for the refused export.
    char path[128];
    struct stat st;
    snprintf (path, sizeof path, "%s/export.json", s_dir);
    cr_expect_neq (stat (path, &st), 0, "a refused export left %s", path);
}
