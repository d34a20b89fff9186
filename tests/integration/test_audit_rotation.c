/*  Rotating the audit signing key, against a real PostgreSQL: a trail whose
    checkpoints two keys signed, one after the other, verifies when each key is
    trusted for its period; a checkpoint signed outside its key's period is
    refused, naming the checkpoint and the key; a malformed period is refused with
    a clear error before anything is checked; `kinnet audit signers` gives the
    periods that cover the trail. Checkpoints are signed at chosen times
    (kn_audit_chain_checkpoint_at), so periods are exact. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kn_audit.h"
#include "kn_audit_chain.h"
#include "kn_audit_chain_int.h"
#include "kn_test.h"
#include "kn_test_audit.h"

static char *url;
static kn_db_t *service_db; // as kinnet_intake
static kn_db_t *sealer_db;  // as kinnet_audit
static kn_audit_signer_t old_key, new_key;
static char old_hex[2 * KN_AUDIT_KEY_BYTES + 1], new_hex[2 * KN_AUDIT_KEY_BYTES + 1];
static char old_path[64], new_path[64];

//  2026-01-01T00:00:00Z: the old key signs in the first half hour, the new after.
#define T0     INT64_C (1767225600)
#define SWITCH "2026-01-01T00:30:00Z"

static void
s_setup (void)
{
    kn_test_audit_open (&url, &service_db, &sealer_db);
    kn_test_audit_key (old_path, &old_key, old_hex);
    kn_test_audit_key (new_path, &new_key, new_hex);
}

static void
s_teardown (void)
{
    kn_test_audit_key_remove (old_path);
    kn_test_audit_key_remove (new_path);
    kn_db_destroy (&sealer_db);
    kn_db_destroy (&service_db);
    free (url);
    kn_test_no_leaks ();
}

TestSuite (audit_rotation, .init = s_setup, .fini = s_teardown, .timeout = 120);

static void
s_append (int i)
{
    char object[40];
    snprintf (object, sizeof object, "00000000-0000-4000-8000-%012d", i);
    kn_audit_entry_t entry = {.caseworker_id = "cw",
                              .service = "intake",
                              .operation = "submit",
                              .object_id = object,
                              .result = "ok"};
    kn_error_t err;
    cr_assert_eq (kn_audit_append (service_db, &entry, &err), 0, "%s", err.message);
}

static void
s_seal_all (void)
{
    kn_test_audit_seal_all (url, sealer_db, 50);
}

//  Three more records, sealed, and a checkpoint signed by signer at time at.
static void
s_grow_signed (const kn_audit_signer_t *signer, int64_t at)
{
    static int next = 1;
    for (int i = 0; i < 3; i++)
        s_append (next++);
    s_seal_all ();
    bool made = false;
    kn_error_t err;
    cr_assert_eq (kn_audit_chain_checkpoint_at (sealer_db, signer, at, &made, &err), 0,
                  "%s", err.message);
    cr_assert (made);
}

//  The rotated trail: checkpoints 1 and 2 by the old key (T0 + 1 min, + 20 min),
//  3 and 4 by the new one (T0 + 40 min, + 2 h).
static void
s_rotated_trail (void)
{
    s_grow_signed (&old_key, T0 + 60);
    s_grow_signed (&old_key, T0 + 1200);
    s_grow_signed (&new_key, T0 + 2400);
    s_grow_signed (&new_key, T0 + 7200);
}

//  The verdict against the trusted keys given as text (as an operator writes them).
static kn_audit_verdict_t
s_verify (const char *trust_list)
{
    kn_audit_trusted_t trusted[KN_AUDIT_TRUST_MAX];
    size_t n = 0;
    kn_error_t err;
    cr_assert_eq (
        kn_audit_trust_parse (trust_list, trusted, KN_AUDIT_TRUST_MAX, &n, &err), 0,
        "%s: %s", trust_list, err.message);
    kn_audit_verdict_t verdict;
    cr_assert_eq (kn_audit_chain_verify (sealer_db, trusted, n, NULL, &verdict, &err), 0,
                  "%s", err.message);
    return verdict;
}

static const char *
s_env (void)
{
    static char env[600];
    snprintf (env, sizeof env, "KINNET_DATABASE_URL='%s'", url);
    return env;
}

Test (audit_rotation, a_chain_signed_by_two_keys_verifies)
{
    s_rotated_trail ();
    char list[400];
    snprintf (list, sizeof list, "%s@.." SWITCH ", %s@" SWITCH "..", old_hex, new_hex);
    kn_audit_verdict_t v = s_verify (list);
    cr_assert (v.intact, "%s", v.problem);
    cr_assert_eq (v.checkpoints, 4);
    cr_assert_eq (v.records, 12);
    //  Closed periods on both sides, and overlapping ones, verify as well.
    snprintf (list, sizeof list,
              "%s@2025-12-31T00:00:00Z..2026-01-01T00:40:00Z %s@2026-01-01T00:20:00Z..",
              old_hex, new_hex);
    v = s_verify (list);
    cr_assert (v.intact, "%s", v.problem);
    //  A key without a period is trusted at any time, as before rotation existed.
    snprintf (list, sizeof list, "%s,%s", old_hex, new_hex);
    v = s_verify (list);
    cr_assert (v.intact, "%s", v.problem);
    //  Only the new key: the old one's checkpoints are not trusted.
    v = s_verify (new_hex);
    cr_assert_not (v.intact);
    cr_assert (strstr (v.problem, "checkpoint 1 ") && strstr (v.problem, old_hex) &&
                   strstr (v.problem, "not a trusted one"),
               "%s", v.problem);

    //  The CLI: two --public-key arguments, and one key file with both lines.
    char *out = NULL;
    cr_assert_eq (kn_test_run_cli (s_env (), &out,
                                   "audit verify --public-key '%s@.." SWITCH
                                   "' --public-key '%s@" SWITCH "..'",
                                   old_hex, new_hex),
                  0, "%s", out);
    cr_assert (strstr (out, "intact: 12 records") && strstr (out, "4 checkpoint(s)"),
               "%s", out);
    free (out);
    char trust_path[80];
    snprintf (trust_path, sizeof trust_path, "%s-trusted", old_path);
    FILE *file = fopen (trust_path, "w");
    fprintf (file,
             "# the audit signing keys, rotated at " SWITCH "\n%s@.." SWITCH
             "\n\n%s@" SWITCH "..\n",
             old_hex, new_hex);
    fclose (file);
    cr_assert_eq (
        kn_test_run_cli (s_env (), &out, "audit verify --public-key '%s'", trust_path), 0,
        "%s", out);
    free (out);
    //  The key files written by auditkey create, each given its period.
    cr_assert_eq (kn_test_run_cli (s_env (), &out,
                                   "audit verify --public-key '%s.pub@.." SWITCH
                                   "' --public-key '%s.pub@" SWITCH "..'",
                                   old_path, new_path),
                  0, "%s", out);
    free (out);

    //  audit signers: each key's checkpoints, and the trust list that covers them.
    cr_assert_eq (kn_test_run_cli (s_env (), &out, "--format json audit signers"), 0,
                  "%s", out);
    char expected[300];
    snprintf (expected, sizeof expected,
              "\"trusted_keys\": \"%s@..2026-01-01T00:20:01Z,%s@2026-01-01T00:40:00Z..\"",
              old_hex, new_hex);
    cr_assert (strstr (out, expected), "%s", out);
    cr_assert (strstr (out, "\"first_checkpoint\": 3") &&
                   strstr (out, "\"last_signed_at\": \"2026-01-01T02:00:00Z\""),
               "%s", out);
    free (out);
    snprintf (list, sizeof list, "%s@..2026-01-01T00:20:01Z,%s@2026-01-01T00:40:00Z..",
              old_hex, new_hex);
    v = s_verify (list);
    cr_assert (v.intact, "%s", v.problem);
    unlink (trust_path);
}

Test (audit_rotation, a_checkpoint_outside_its_keys_period_fails)
{
    s_rotated_trail ();
    //  The new key trusted only from 01:00: checkpoint 3 (00:40) is outside.
    char list[400];
    snprintf (list, sizeof list, "%s@.." SWITCH ",%s@2026-01-01T01:00:00Z..", old_hex,
              new_hex);
    kn_audit_verdict_t v = s_verify (list);
    cr_assert_not (v.intact);
    cr_assert_eq (v.broken_seq, 9, "%s", v.problem);
    cr_assert (strstr (v.problem, "checkpoint 3 ") && strstr (v.problem, new_hex) &&
                   strstr (v.problem, "signed at 2026-01-01T00:40:00Z") &&
                   strstr (v.problem, "outside the period that key is trusted for "
                                      "(2026-01-01T01:00:00Z..)"),
               "%s", v.problem);
    //  The old key retired at 00:10: checkpoint 2 (00:20), signed after, fails.
    snprintf (list, sizeof list, "%s@..2026-01-01T00:10:00Z,%s@" SWITCH "..", old_hex,
              new_hex);
    v = s_verify (list);
    cr_assert_not (v.intact);
    cr_assert (strstr (v.problem, "checkpoint 2 ") && strstr (v.problem, old_hex) &&
                   strstr (v.problem, "outside the period"),
               "%s", v.problem);
    //  UNTIL is the first second a key is no longer trusted: a checkpoint signed
    //  at exactly that second is outside (checkpoint 1 at 00:01:00).
    snprintf (list, sizeof list, "%s@..2026-01-01T00:01:00Z,%s", old_hex, new_hex);
    v = s_verify (list);
    cr_assert (!v.intact && strstr (v.problem, "checkpoint 1 "), "%s", v.problem);
    snprintf (list, sizeof list, "%s@..2026-01-01T00:20:01Z,%s", old_hex, new_hex);
    v = s_verify (list);
    cr_assert (v.intact, "%s", v.problem);
    //  A key signing again after its period (a retired key that leaked) is found.
    s_grow_signed (&old_key, T0 + 9000);
    snprintf (list, sizeof list, "%s@.." SWITCH ",%s@" SWITCH "..", old_hex, new_hex);
    v = s_verify (list);
    cr_assert (!v.intact && strstr (v.problem, "checkpoint 5 ") &&
                   strstr (v.problem, old_hex),
               "%s", v.problem);
    //  The CLI: exit 7, and the message names the checkpoint and the key.
    char *out = NULL;
    cr_assert_eq (kn_test_run_cli (s_env (), &out,
                                   "audit verify --public-key '%s@.." SWITCH
                                   "' --public-key '%s@" SWITCH "..'",
                                   old_hex, new_hex),
                  7, "%s", out);
    cr_assert (strstr (out, "BROKEN") && strstr (out, "checkpoint 5 ") &&
                   strstr (out, old_hex) && strstr (out, "outside the period"),
               "%s", out);
    free (out);
}

Test (audit_rotation, a_malformed_period_is_refused)
{
    s_rotated_trail ();
    static const char *const periods[] = {
        "2026-01-01..",                                 // a date without a time
        "2026-01-01T00:00:00..",                        // no Z: not UTC
        "2026-01-01T00:00:00+01:00..",                  // an offset: UTC only
        "2026-13-01T00:00:00Z..",                       // no such month
        "2026-02-30T00:00:00Z..",                       // no such day
        "2026-01-01T00:00:00Z",                         // no ..
        "2026-01-01T00:00:00Z..2026-01-02T00:00:00Z..", // two of them
        "",                                             // nothing after @
        "yesterday..tomorrow",
    };
    for (size_t i = 0; i < sizeof periods / sizeof periods[0]; i++) {
        char item[200];
        snprintf (item, sizeof item, "%s@%s", new_hex, periods[i]);
        kn_audit_trusted_t trusted[KN_AUDIT_TRUST_MAX];
        size_t n = 7;
        kn_error_t err;
        kn_error_clear (&err);
        cr_assert_eq (kn_audit_trust_parse (item, trusted, KN_AUDIT_TRUST_MAX, &n, &err),
                      -1, "accepted: %s", item);
        cr_assert_str_eq (err.field, "public_key");
        cr_assert (strstr (err.message, "malformed period") &&
                       strstr (err.message, "RFC 3339 UTC"),
                   "%s: %s", item, err.message);
        cr_assert_eq (n, 0, "a list is trusted whole or not at all");
    }
    //  A period that ends before it starts.
    char item[200];
    snprintf (item, sizeof item, "%s@2026-02-01T00:00:00Z..2026-01-01T00:00:00Z",
              new_hex);
    kn_audit_trusted_t trusted[KN_AUDIT_TRUST_MAX];
    size_t n = 0;
    kn_error_t err;
    cr_assert_eq (kn_audit_trust_parse (item, trusted, KN_AUDIT_TRUST_MAX, &n, &err), -1);
    cr_assert (strstr (err.message, "ends before it starts"), "%s", err.message);
    //  A good key first does not make a list with a bad one half-trusted.
    char list[400];
    snprintf (list, sizeof list, "%s,%s@tomorrow..", old_hex, new_hex);
    cr_assert_eq (kn_audit_trust_parse (list, trusted, KN_AUDIT_TRUST_MAX, &n, &err), -1);
    cr_assert_eq (n, 0);
    //  A key file's bad line is named by its number.
    char trust_path[80];
    snprintf (trust_path, sizeof trust_path, "%s-bad", old_path);
    FILE *file = fopen (trust_path, "w");
    fprintf (file, "%s\n%s@2026-01-01T00:30:00..\n", old_hex, new_hex);
    fclose (file);
    cr_assert_eq (
        kn_audit_trust_parse (trust_path, trusted, KN_AUDIT_TRUST_MAX, &n, &err), -1);
    cr_assert (strstr (err.message, "line 2") && strstr (err.message, "malformed period"),
               "%s", err.message);
    //  The CLI refuses (exit 3) before reading the trail, and says why.
    char *out = NULL;
    cr_assert_eq (
        kn_test_run_cli (s_env (), &out, "audit verify --public-key '%s'", trust_path), 3,
        "%s", out);
    cr_assert (strstr (out, "line 2") && strstr (out, "malformed period"), "%s", out);
    free (out);
    cr_assert_eq (kn_test_run_cli (s_env (), &out,
                                   "audit verify --public-key '%s@2026-01-01T00:30:00Z'",
                                   new_hex),
                  3, "%s", out);
    cr_assert (strstr (out, "malformed period"), "%s", out);
    free (out);
    unlink (trust_path);
}

Test (audit_rotation, a_retired_key_cannot_date_a_checkpoint_back_into_its_period)
{
    s_rotated_trail ();
    char list[400];
    snprintf (list, sizeof list, "%s@.." SWITCH ",%s@" SWITCH "..", old_hex, new_hex);
    //  Two sealers' clocks differ a little: a checkpoint signed 100 s before the one
    //  before it still verifies.
    s_grow_signed (&new_key, T0 + 7100);
    kn_audit_verdict_t v = s_verify (list);
    cr_assert (v.intact, "%s", v.problem);
    //  The retired key, leaked, signs the next checkpoint dated inside its period:
    //  its period holds that time, but the trail's times went back by hours.
    s_grow_signed (&old_key, T0 + 600);
    v = s_verify (list);
    cr_assert_not (v.intact);
    cr_assert (strstr (v.problem, "checkpoint 6 ") && strstr (v.problem, old_hex) &&
                   strstr (v.problem, "set back"),
               "%s", v.problem);
}
