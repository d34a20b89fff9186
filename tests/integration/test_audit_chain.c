/*  The tamper-evident audit trail against a real PostgreSQL: sealing in the
    background while services write, signed chained checkpoints, and every kind of
    tampering found by verify (a changed, deleted, reordered or inserted record, a
    missing chain entry, a truncated tail, a re-computed chain, a checkpoint signed
    by another key or taken out of the middle, a tail cut below an auditor's anchor,
    a changed or deleted disclosure); verify refuses without a trusted key; a
    signing key others may read is refused; old (version 1) checkpoints still
    verify; service roles cannot update or delete; the CLI. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <sodium.h>

#include "kn_audit.h"
#include "kn_audit_chain.h"
#include "kn_test.h"
#include "kn_test_audit.h"
#include "reporting_sealer.h"

static char *url;
static kn_db_t *service_db;   // as kinnet_intake: what every service does
static kn_db_t *sealer_db;    // as kinnet_audit: the sealer's role
static kn_audit_signer_t signer;
static char key_path[64];
static char public_hex[2 * KN_AUDIT_KEY_BYTES + 1];

static void
s_setup (void)
{
    kn_test_audit_open (&url, &service_db, &sealer_db);
    kn_test_audit_key (key_path, &signer, public_hex);
}

static void
s_teardown (void)
{
    kn_test_audit_key_remove (key_path);
    kn_db_destroy (&sealer_db);
    kn_db_destroy (&service_db);
    free (url);
    kn_test_no_leaks ();
}

TestSuite (audit, .init = s_setup, .fini = s_teardown, .timeout = 120);

static void
s_append (kn_db_t *db, int i)
{
    char caseworker[32], object[40];
    snprintf (caseworker, sizeof caseworker, "cw-%d", i);
    snprintf (object, sizeof object, "00000000-0000-4000-8000-%012d", i);
    kn_audit_entry_t entry = {.caseworker_id = caseworker,
                              .service = "intake",
                              .operation = "submit",
                              .object_id = object,
                              .basis = "public_task",
                              .result = i % 7 ? "ok" : "invalid_argument",
                              .role = i % 3 ? NULL : "referrer"};
    kn_error_t err;
    cr_assert_eq (kn_audit_append (db, &entry, &err), 0, "%s", err.message);
}

static int
s_seal_all (void)
{
    return kn_test_audit_seal_all (url, sealer_db, 17);
}

static void
s_checkpoint (void)
{
    bool made;
    kn_error_t err;
    cr_assert_eq (kn_audit_chain_checkpoint (sealer_db, &signer, &made, &err), 0, "%s",
                  err.message);
}

//  The verdict against our key, held against an auditor's anchor (NULL: none).
static kn_audit_verdict_t
s_verify_anchored (const kn_audit_anchor_t *anchor)
{
    kn_audit_verdict_t verdict;
    kn_error_t err;
    kn_audit_trusted_t trusted = {.from = KN_AUDIT_OPEN_FROM, .until = KN_AUDIT_OPEN_UNTIL};
    memcpy (trusted.key, signer.public_key, KN_AUDIT_KEY_BYTES);
    cr_assert_eq (kn_audit_chain_verify (sealer_db, &trusted, 1, anchor, &verdict, &err),
                  0, "%s", err.message);
    return verdict;
}

static kn_audit_verdict_t
s_verify (void)
{
    return s_verify_anchored (NULL);
}

static void
s_sql (const char *fmt, ...)
{
    char sql[2048];
    va_list args;
    va_start (args, fmt);
    vsnprintf (sql, sizeof sql, fmt, args);
    va_end (args);
    free (kn_test_sql (url, sql));
}

//  A trail of n records, sealed, with a checkpoint at its head.
static void
s_trail (int n)
{
    for (int i = 1; i <= n; i++)
        s_append (service_db, i);
    cr_assert_eq (s_seal_all (), n);
    s_checkpoint ();
}

static int64_t
s_audit_id_at (int seq)
{
    char sql[128];
    snprintf (sql, sizeof sql, "SELECT audit_id FROM core.audit_chain WHERE seq = %d", seq);
    char *value = kn_test_sql (url, sql);
    int64_t id = value ? atoll (value) : 0;
    free (value);
    return id;
}

//  What each tamper case checks: on a sealed trail of n records with a checkpoint
//  at its head, someone with the database runs the statements in sql (NULL-ended);
//  verification then finds the trail broken at chain entry seq (0: at none), saying
//  why, and a record it names at an entry is the one that entry points at.
static kn_audit_verdict_t
s_tampering_found (int n, const char *const *sql, int64_t seq, const char *why)
{
    s_trail (n);
    for (; *sql; sql++)
        s_sql ("%s", *sql);
    kn_audit_verdict_t v = s_verify ();
    cr_assert_not (v.intact, "not found: %s", why);
    cr_assert_eq (v.broken_seq, seq, "broken at %lld: %s", (long long) v.broken_seq,
                  v.problem);
    cr_assert (strstr (v.problem, why), "%s", v.problem);
    if (seq > 0 && v.broken_audit_id)
        cr_assert_eq (v.broken_audit_id, s_audit_id_at ((int) seq), "%s", v.problem);
    return v;
}

Test (audit, sealed_trail_verifies)
{
    s_trail (50);
    kn_audit_verdict_t v = s_verify ();
    cr_assert (v.intact, "%s", v.problem);
    cr_assert (v.signer_trusted);
    cr_assert_eq (v.records, 50);
    cr_assert_eq (v.checkpoints, 1);
    cr_assert_eq (v.last_checkpoint, 50);
    cr_assert_eq (v.unsealed, 0);
    //  New records are simply not sealed yet; sealing them keeps the trail intact.
    for (int i = 51; i <= 55; i++)
        s_append (service_db, i);
    v = s_verify ();
    cr_assert (v.intact, "%s", v.problem);
    cr_assert_eq (v.unsealed, 5);
    cr_assert_eq (s_seal_all (), 5);
    s_checkpoint ();
    v = s_verify ();
    cr_assert (v.intact, "%s", v.problem);
    cr_assert_eq (v.records, 55);
    cr_assert_eq (v.checkpoints, 2);
    //  Sealing again finds nothing; a checkpoint with nothing new is not made.
    cr_assert_eq (s_seal_all (), 0);
    bool made = true;
    kn_error_t err;
    cr_assert_eq (kn_audit_chain_checkpoint (sealer_db, &signer, &made, &err), 0);
    cr_assert_not (made);
}

static int
s_count (const char *sql)
{
    char *value = kn_test_sql (url, sql);
    int count = value ? atoi (value) : -1;
    free (value);
    return count;
}

//  The sealer takes only records of transactions below the write horizon (older
//  than every writer still running in this database: kn_cursor.h): await the
//  moment every record written so far may be sealed. Transactions that start later
//  cannot hold them back again.
static void
s_await_sealable (void)
{
    int64_t deadline = zclock_mono () + 20000;
    while (true) {
        char *ready = kn_test_sql (url, "SELECT core.write_horizon (pg_current_snapshot ())"
                                        " > (SELECT max (xid) FROM core.audit)");
        bool sealable = ready && ready[0] == 't';
        free (ready);
        if (sealable)
            return;
        cr_assert (zclock_mono () < deadline, "older transactions never ended");
        zclock_sleep (10);
    }
}

Test (audit, a_sealer_pass_seals_a_batch_and_signs_once_per_interval)
{
    //  Five records, two a pass: passes say "more waiting" until the chain has
    //  caught up; the first pass signs a checkpoint, later ones within the interval
    //  do not, and what they sealed verifies.
    for (int i = 1; i <= 5; i++)
        s_append (service_db, i);
    s_await_sealable ();   // the first pass has something to sign
    kn_error_t err;
    reporting_sealer_t *sealer = reporting_sealer_new (sealer_db, &signer, 3600 * 1000, 2, &err);
    cr_assert_not_null (sealer, "%s", err.message);
    int busy = 0;
    int64_t deadline = zclock_mono () + 20000;
    while (s_count ("SELECT count (*) FROM core.audit_chain") < 5) {
        int rc = reporting_sealer_run_once (sealer, &err);
        cr_assert_geq (rc, 0, "%s", err.message);
        busy += rc == 0;
        cr_assert (zclock_mono () < deadline, "records were never sealed");
        if (rc == 1)
            zclock_sleep (10); // other suites' transactions hold the cursor back
    }
    cr_assert_geq (busy, 2, "a pass that sealed a full batch did not ask to go on");
    cr_assert_eq (reporting_sealer_run_once (sealer, &err), 1, "caught up, yet more waiting");
    cr_assert_eq (s_count ("SELECT count (*) FROM core.audit_checkpoint"), 1,
                  "a checkpoint per pass, not per interval");
    reporting_sealer_destroy (&sealer);
    cr_assert_null (sealer);
    s_checkpoint ();
    kn_audit_verdict_t v = s_verify ();
    cr_assert (v.intact, "%s", v.problem);
    cr_assert_eq (v.records, 5);
}

#define AT(seq) "(SELECT audit_id FROM core.audit_chain WHERE seq = " #seq ")"

Test (audit, a_changed_record_is_found)
{
    const char *sql[] = {"UPDATE core.audit SET result = 'ok', caseworker_id = 'someone-else'"
                         " WHERE id = " AT (12),
                         NULL};
    kn_audit_verdict_t v = s_tampering_found (30, sql, 12, "changed");
    cr_assert_neq (v.broken_audit_id, 0, "the changed record is not named");
}

Test (audit, a_deleted_record_is_found)
{
    const char *sql[] = {"DELETE FROM core.audit WHERE id = " AT (7), NULL};
    s_tampering_found (30, sql, 7, "deleted");
}

Test (audit, reordered_records_are_found)
{
    //  Swap which records chain entries 20 and 21 point at (through negative ids, as
    //  the unique constraint is checked row by row).
    const char *sql[] = {"UPDATE core.audit_chain SET audit_id = -audit_id WHERE seq IN (20, 21)",
                         "UPDATE core.audit_chain c SET audit_id = (SELECT -o.audit_id FROM"
                         " core.audit_chain o WHERE o.seq = 41 - c.seq) WHERE c.seq IN (20, 21)",
                         NULL};
    s_tampering_found (30, sql, 20, "reordered");
}

Test (audit, an_inserted_record_is_found)
{
    //  A record slipped into the sealed past (with an old transaction id).
    const char *sql[] = {"INSERT INTO core.audit (service, operation, result, xid)"
                         " SELECT 'intake', 'submit', 'ok', xid FROM core.audit ORDER BY id"
                         " LIMIT 1",
                         NULL};
    s_tampering_found (30, sql, 0, "inserted");
}

Test (audit, a_missing_chain_entry_is_found)
{
    const char *sql[] = {"DELETE FROM core.audit_chain WHERE seq = 15", NULL};
    s_tampering_found (30, sql, 15, "missing");
}

Test (audit, a_truncated_tail_is_found)
{
    //  Records and chain cut back consistently after entry 24: only the signed
    //  checkpoint at 30 remembers.
    const char *sql[] = {"DELETE FROM core.audit WHERE id IN (SELECT audit_id FROM"
                         " core.audit_chain WHERE seq > 24)",
                         "DELETE FROM core.audit_chain WHERE seq > 24", NULL};
    s_tampering_found (30, sql, 25, "truncated");
}

Test (audit, a_recomputed_chain_is_found_by_its_checkpoint)
{
    s_trail (30);
    //  Someone with the database changes a record and re-links the chain from there
    //  (SHA-256 needs no key), but cannot re-sign the checkpoint with our key.
    int64_t id = s_audit_id_at (5);
    s_sql ("UPDATE core.audit SET result = 'permission_denied' WHERE id = %lld", (long long) id);
    s_sql ("DELETE FROM core.audit_chain WHERE seq >= 5");
    cr_assert_eq (s_seal_all (), 26);
    kn_audit_verdict_t v = s_verify ();
    cr_assert_not (v.intact);
    cr_assert_eq (v.broken_seq, 30);
    cr_assert (strstr (v.problem, "no longer matches"), "%s", v.problem);
    //  Re-signing with a key of their own is refused when verify is given ours.
    s_sql ("DELETE FROM core.audit_checkpoint");
    char other_path[80];
    snprintf (other_path, sizeof other_path, "%s-other", key_path);
    char other_hex[2 * KN_AUDIT_KEY_BYTES + 1];
    kn_audit_signer_t other;
    kn_error_t err;
    cr_assert_eq (kn_audit_signer_create (other_path, other_hex, &err), 0, "%s", err.message);
    cr_assert_eq (kn_audit_signer_load (other_path, &other, &err), 0);
    bool made;
    cr_assert_eq (kn_audit_chain_checkpoint (sealer_db, &other, &made, &err), 0);
    v = s_verify ();
    cr_assert_not (v.intact);
    cr_assert (strstr (v.problem, "not a trusted"), "%s", v.problem);
    //  Given the other key as well as ours, the re-signed checkpoint passes: which
    //  keys are trusted is the auditor's call, and it is the whole defence here.
    kn_audit_trusted_t both[2] = {
        {.from = KN_AUDIT_OPEN_FROM, .until = KN_AUDIT_OPEN_UNTIL},
        {.from = KN_AUDIT_OPEN_FROM, .until = KN_AUDIT_OPEN_UNTIL}};
    memcpy (both[0].key, signer.public_key, KN_AUDIT_KEY_BYTES);
    memcpy (both[1].key, other.public_key, KN_AUDIT_KEY_BYTES);
    kn_audit_verdict_t loose;
    cr_assert_eq (kn_audit_chain_verify (sealer_db, both, 2, NULL, &loose, &err), 0);
    cr_assert (loose.intact, "%s", loose.problem);
    char pub[100];
    snprintf (pub, sizeof pub, "%s.pub", other_path);
    unlink (other_path);
    unlink (pub);
}

Test (audit, a_forged_signature_is_found)
{
    const char *sql[] = {"UPDATE core.audit_checkpoint SET signature = overlay (signature"
                         " PLACING '\\x00' FROM 1 FOR 1)",
                         NULL};
    s_tampering_found (10, sql, 10, "invalid signature");
}

Test (audit, verify_refuses_without_a_trusted_key)
{
    s_trail (5);
    kn_audit_verdict_t v;
    kn_error_t err;
    kn_error_clear (&err);
    cr_assert_eq (kn_audit_chain_verify (sealer_db, NULL, 0, NULL, &v, &err), -1);
    cr_assert_str_eq (err.field, "public_key");
    cr_assert (strstr (err.message, "no trusted public key"), "%s", err.message);
}

//  More records, sealed, and a checkpoint: the trail grows by n.
static void
s_grow (int from, int n)
{
    for (int i = from; i < from + n; i++)
        s_append (service_db, i);
    cr_assert_eq (s_seal_all (), n);
    s_checkpoint ();
}

//  The trail checks without an anchor (nothing can tell: this is why auditors keep
//  one); held against anchor, it is found broken, saying why.
static void
s_only_the_anchor_finds (const kn_audit_anchor_t *anchor, const char *why)
{
    kn_audit_verdict_t v = s_verify ();
    cr_assert (v.intact, "%s", v.problem);
    v = s_verify_anchored (anchor);
    cr_assert_not (v.intact, "not found: %s", why);
    cr_assert (strstr (v.problem, why), "%s", v.problem);
}

Test (audit, a_tail_cut_below_the_anchor_is_found)
{
    s_trail (20);    // checkpoint 1 at 20
    s_grow (21, 10); // checkpoint 2 at 30
    kn_audit_verdict_t v = s_verify ();
    cr_assert (v.intact, "%s", v.problem);
    cr_assert (v.has_anchor);
    kn_audit_anchor_t anchor = v.anchor;
    cr_assert_eq (anchor.number, 2);
    cr_assert_eq (anchor.seq, 30);
    //  The newest checkpoint goes, with the records and chain entries after the one
    //  before it: a consistent, shorter trail.
    s_sql ("DELETE FROM core.audit_checkpoint WHERE number = 2");
    s_sql ("DELETE FROM core.audit WHERE id IN (SELECT audit_id FROM core.audit_chain"
           " WHERE seq > 20)");
    s_sql ("DELETE FROM core.audit_chain WHERE seq > 20");
    s_only_the_anchor_finds (&anchor, "tail was cut");
}

Test (audit, a_history_rewritten_below_the_anchor_is_found)
{
    s_trail (10);
    kn_audit_anchor_t anchor = s_verify ().anchor;
    //  Everything rebuilt from scratch (by someone who holds the signing key): the
    //  trail checks, but checkpoint 1 is not the one the auditor saw.
    s_sql ("UPDATE core.audit SET caseworker_id = 'rewritten' WHERE id = %lld",
           (long long)s_audit_id_at (3));
    s_sql ("DELETE FROM core.audit_checkpoint");
    s_sql ("DELETE FROM core.audit_chain");
    cr_assert_eq (s_seal_all (), 10);
    s_checkpoint ();
    s_only_the_anchor_finds (&anchor, "rewritten");
}

Test (audit, a_checkpoint_taken_from_the_middle_is_found)
{
    s_trail (10);
    s_grow (11, 5);
    s_grow (16, 5);
    kn_audit_verdict_t v = s_verify ();
    cr_assert (v.intact, "%s", v.problem);
    cr_assert_eq (v.checkpoints, 3);
    s_sql ("DELETE FROM core.audit_checkpoint WHERE number = 2");
    v = s_verify ();
    cr_assert_not (v.intact);
    cr_assert (strstr (v.problem, "checkpoint 2 is missing"), "%s", v.problem);
    //  Numbered again to close the gap: the number is signed.
    s_sql ("UPDATE core.audit_checkpoint SET number = 2 WHERE number = 3");
    v = s_verify ();
    cr_assert_not (v.intact);
    cr_assert (strstr (v.problem, "invalid signature"), "%s", v.problem);
}

//  n disclosures to a recipient agency made here.
static void
s_disclose (int n)
{
    s_sql ("INSERT INTO core.district (code) VALUES ('north') ON CONFLICT DO NOTHING");
    s_sql ("INSERT INTO core.agency (id, name, sector, district) VALUES"
           " ('00000000-0000-4000-8000-0000000000aa', 'Recipient', 'school', 'north')"
           " ON CONFLICT DO NOTHING");
    for (int i = 0; i < n; i++)
        s_sql (
            "INSERT INTO core.disclosure (subject_id, recipient_id, categories, purpose,"
            " basis, service) VALUES (gen_random_uuid (),"
            " '00000000-0000-4000-8000-0000000000aa', '{1,%d}', 1, 'consent', 'consent')",
            2 + i % 5);
}

static char *
s_disclosure_at (int seq)
{
    char sql[128];
    snprintf (sql, sizeof sql,
              "SELECT disclosure_id FROM core.disclosure_chain WHERE seq = %d", seq);
    return kn_test_sql (url, sql);
}

Test (audit, the_disclosure_log_is_chained)
{
    s_disclose (8);
    for (int i = 1; i <= 4; i++)
        s_append (service_db, i);
    s_seal_all (); // the recipient's registration is on the audit trail too
    cr_assert_eq (s_count ("SELECT count (*) FROM core.disclosure_chain"), 8);
    s_checkpoint (); // one checkpoint over both chains
    kn_audit_verdict_t v = s_verify ();
    cr_assert (v.intact, "%s", v.problem);
    cr_assert_eq (v.disclosures, 8);
    cr_assert_eq (v.anchor.disclosure_seq, 8);
    //  A disclosure whose ground is changed afterwards.
    char *id = s_disclosure_at (3);
    s_sql ("UPDATE core.disclosure SET basis = 'safeguarding_override' WHERE id = %s",
           id);
    v = s_verify ();
    cr_assert_not (v.intact);
    cr_assert (strstr (v.problem, "disclosure chain entry 3") &&
                   strstr (v.problem, "changed"),
               "%s", v.problem);
    s_sql ("UPDATE core.disclosure SET basis = 'consent' WHERE id = %s", id);
    cr_assert (s_verify ().intact);
    //  A disclosure removed from the log.
    s_sql ("DELETE FROM core.disclosure WHERE id = %s", id);
    free (id);
    v = s_verify ();
    cr_assert_not (v.intact);
    cr_assert (strstr (v.problem, "disclosure chain entry 3") &&
                   strstr (v.problem, "deleted"),
               "%s", v.problem);
}

Test (audit, a_cut_disclosure_tail_is_found)
{
    s_disclose (6);
    s_seal_all ();
    cr_assert_eq (s_count ("SELECT count (*) FROM core.disclosure_chain"), 6);
    s_checkpoint ();
    s_sql ("DELETE FROM core.disclosure WHERE id IN (SELECT disclosure_id FROM"
           " core.disclosure_chain WHERE seq > 4)");
    s_sql ("DELETE FROM core.disclosure_chain WHERE seq > 4");
    kn_audit_verdict_t v = s_verify ();
    cr_assert_not (v.intact);
    cr_assert (strstr (v.problem, "disclosure chain ends at 4"), "%s", v.problem);
}

Test (audit, a_signing_key_others_may_read_is_refused)
{
    cr_assert_eq (chmod (key_path, 0644), 0);
    kn_audit_signer_t loaded;
    kn_error_t err;
    kn_error_clear (&err);
    cr_assert_eq (kn_audit_signer_load (key_path, &loaded, &err), -1);
    cr_assert (strstr (err.message, "group or others") && strstr (err.message, "644"),
               "%s", err.message);
    cr_assert_eq (chmod (key_path, 0640), 0);
    cr_assert_eq (kn_audit_signer_load (key_path, &loaded, &err), -1);
    //  The CLI says so too, and signs nothing.
    char *out = NULL;
    cr_assert_eq (kn_test_run_cli (NULL, &out, "audit seal --key '%s'", key_path), 3,
                  "%s", out);
    cr_assert (strstr (out, "chmod 600"), "%s", out);
    free (out);
    cr_assert_eq (chmod (key_path, 0600), 0);
    cr_assert_eq (kn_audit_signer_load (key_path, &loaded, &err), 0, "%s", err.message);
}

//  A version 1 checkpoint as signed before migration 0025: position, link, time.
static void
s_checkpoint_v1 (int number, int seq)
{
    char sql[160];
    snprintf (sql, sizeof sql,
              "SELECT encode (link, 'hex') FROM core.audit_chain WHERE seq = %d", seq);
    char *hex = kn_test_sql (url, sql);
    uint8_t link[32], message[128], signature[64];
    size_t got = 0;
    cr_assert_eq (sodium_hex2bin (link, 32, hex, strlen (hex), NULL, &got, NULL), 0);
    free (hex);
    int64_t at = 1700000000;
    size_t len = strlen ("kinnet.audit.checkpoint.v1");
    memcpy (message, "kinnet.audit.checkpoint.v1", len);
    for (int i = 7; i >= 0; i--)
        message[len++] = (uint8_t)((uint64_t)seq >> (i * 8));
    memcpy (message + len, link, 32);
    len += 32;
    for (int i = 7; i >= 0; i--)
        message[len++] = (uint8_t)((uint64_t)at >> (i * 8));
    crypto_sign_detached (signature, NULL, message, len, signer.secret_key);
    char sig_hex[129], key_hex[65], link_hex[65];
    sodium_bin2hex (sig_hex, sizeof sig_hex, signature, 64);
    sodium_bin2hex (key_hex, sizeof key_hex, signer.public_key, 32);
    sodium_bin2hex (link_hex, sizeof link_hex, link, 32);
    s_sql (
        "INSERT INTO core.audit_checkpoint (number, version, seq, link, signed_at, public_key,"
        " signature) VALUES (%d, 1, %d, '\\x%s', to_timestamp (%lld), '\\x%s', '\\x%s')",
        number, seq, link_hex, (long long)at, key_hex, sig_hex);
}

Test (audit, old_checkpoints_verify_and_new_ones_chain_from_them)
{
    //  A trail sealed before migration 0025: two unchained checkpoints.
    for (int i = 1; i <= 10; i++)
        s_append (service_db, i);
    cr_assert_eq (s_seal_all (), 10);
    s_checkpoint_v1 (1, 5);
    s_checkpoint_v1 (2, 10);
    kn_audit_verdict_t v = s_verify ();
    cr_assert (v.intact, "%s", v.problem);
    cr_assert_eq (v.checkpoints, 2);
    //  The first new one chains to the last old one.
    s_grow (11, 5);
    v = s_verify ();
    cr_assert (v.intact, "%s", v.problem);
    cr_assert_eq (v.checkpoints, 3);
    cr_assert_eq (v.anchor.number, 3);
    char *version =
        kn_test_sql (url, "SELECT version FROM core.audit_checkpoint WHERE number = 3");
    cr_assert_str_eq (version, "2");
    free (version);
    //  The old one it chains to cannot be swapped for another.
    s_sql ("DELETE FROM core.audit_checkpoint WHERE number = 2");
    s_checkpoint_v1 (2, 9);
    v = s_verify ();
    cr_assert_not (v.intact);
    cr_assert (strstr (v.problem, "does not chain"), "%s", v.problem);
}

Test (audit, a_trail_longer_than_a_batch_verifies_and_breaks_where_changed)
{
    //  Verification reads the chain and the checkpoints a batch (2000) at a time:
    //  checkpoints in several batches of the chain, a change past the first batch.
    for (int part = 0; part < 5; part++) {
        s_sql ("INSERT INTO core.audit (service, operation, result, caseworker_id)"
               " SELECT 'intake', 'submit', 'ok', 'cw-' || g FROM generate_series (1, %d) g",
               part < 4 ? 1000 : 500);
        s_seal_all ();
        s_checkpoint ();
    }
    kn_audit_verdict_t v = s_verify ();
    cr_assert (v.intact, "%s", v.problem);
    cr_assert_eq (v.records, 4500);
    cr_assert_eq (v.checkpoints, 5);
    cr_assert_eq (v.anchor.seq, 4500);
    s_sql ("UPDATE core.audit SET result = 'conflict' WHERE id = %lld",
           (long long) s_audit_id_at (3100));
    v = s_verify ();
    cr_assert_not (v.intact);
    cr_assert_eq (v.broken_seq, 3100, "%s", v.problem);
}

Test (audit, service_roles_only_insert)
{
    s_trail (3);
    const char *denied[] = {
        "UPDATE core.audit SET result = 'ok'",
        "DELETE FROM core.audit",
        "UPDATE core.audit_chain SET link = link",
        "DELETE FROM core.audit_chain",
        "DELETE FROM core.audit_checkpoint",
        "UPDATE core.audit_checkpoint SET number = number",
        "UPDATE core.disclosure SET basis = basis",
        "DELETE FROM core.disclosure",
        "UPDATE core.disclosure_chain SET link = link",
        "DELETE FROM core.disclosure_chain",
    };
    const char *roles[] = {"kinnet_intake", "kinnet_consent", "kinnet_routing", "kinnet_audit"};
    for (size_t r = 0; r < 4; r++) {
        kn_error_t err;
        kn_db_t *db = kn_db_new (url, roles[r], &err);
        cr_assert (db, "%s", err.message);
        for (size_t d = 0; d < sizeof denied / sizeof denied[0]; d++) {
            PGresult *result = kn_db_query (db, denied[d], 0, NULL, &err);
            cr_expect_null (result, "%s may run: %s", roles[r], denied[d]);
            PQclear (result);
            cr_expect_str_eq (kn_db_sqlstate (db), "42501", "%s: %s", roles[r], denied[d]);
        }
        kn_db_destroy (&db);
    }
    cr_assert (s_verify ().intact);
}

//  Services writing while the sealer seals: every record chained once, in order.
static atomic_int writers_done;

static void *
s_writer (void *arg)
{
    int base = (int) (intptr_t) arg;
    kn_error_t err;
    kn_db_t *db = kn_db_new (url, "kinnet_intake", &err);
    kn_audit_prepare (db, &err);
    for (int i = 0; i < 150; i++)
        s_append (db, base + i);
    kn_db_destroy (&db);
    atomic_fetch_add (&writers_done, 1);
    return NULL;
}

Test (audit, sealing_alongside_writers)
{
    pthread_t threads[4];
    for (int t = 0; t < 4; t++)
        pthread_create (&threads[t], NULL, s_writer, (void *) (intptr_t) (t * 1000));
    int sealed_while_writing = 0;
    while (atomic_load (&writers_done) < 4) {
        int sealed;
        kn_error_t err;
        cr_assert_eq (kn_audit_chain_seal (sealer_db, 50, &sealed, &err), 0, "%s", err.message);
        sealed_while_writing += sealed;
    }
    for (int t = 0; t < 4; t++)
        pthread_join (threads[t], NULL);
    //  The rest: wait until older transactions (other suites' too) have ended.
    int64_t deadline = zclock_mono () + 20000;
    int total = sealed_while_writing;
    while (total < 600 && zclock_mono () < deadline) {
        total += s_seal_all ();
        if (total < 600)
            zclock_sleep (10);
    }
    cr_assert_eq (total, 600);
    s_checkpoint ();
    kn_audit_verdict_t v = s_verify ();
    cr_assert (v.intact, "%s", v.problem);
    cr_assert_eq (v.records, 600);
    char *distinct = kn_test_sql (url, "SELECT count (DISTINCT audit_id) FROM core.audit_chain");
    cr_assert_str_eq (distinct, "600");
    free (distinct);
}

#define s_cli(output, ...) kn_test_run_cli (s_env (), output, __VA_ARGS__)

static const char *
s_env (void)
{
    static char env[600];
    snprintf (env, sizeof env, "KINNET_DATABASE_URL='%s'", url);
    return env;
}

Test (audit, cli)
{
    for (int i = 1; i <= 12; i++)
        s_append (service_db, i);
    //  So that one run of the command seals all twelve.
    s_await_sealable ();
    char *out = NULL;
    cr_assert_eq (s_cli (&out, "audit seal --key '%s'", key_path), 0, "%s", out);
    cr_assert (strstr (out, "12 record(s) sealed; checkpoint signed"), "%s", out);
    free (out);
    cr_assert_eq (s_cli (&out, "audit verify --public-key %s", public_hex), 0, "%s", out);
    cr_assert (strstr (out, "intact: 12 records"), "%s", out);
    free (out);
    cr_assert_eq (s_cli (&out, "--format json audit verify --public-key '%s.pub'", key_path), 0);
    cr_assert (strstr (out, "\"intact\": true") && strstr (out, "\"signer_trusted\": true"), "%s",
               out);
    free (out);
    //  audit export goes through the admin service (as an auditor): test_cli.c.
    //  No trusted key, no verdict: exit 2, and it says why.
    cr_assert_eq (s_cli (&out, "audit verify"), 2, "%s", out);
    cr_assert (strstr (out, "no trusted public key"), "%s", out);
    free (out);
    //  The anchor: created on the first run, moved on by the next intact one.
    char anchor[96];
    snprintf (anchor, sizeof anchor, "%s-anchor", key_path);
    cr_assert_eq (
        s_cli (&out, "audit verify --public-key %s --anchor '%s'", public_hex, anchor), 0,
        "%s", out);
    cr_assert (strstr (out, "created at: checkpoint 1 (12 records"), "%s", out);
    free (out);
    for (int i = 13; i <= 15; i++)
        s_append (service_db, i);
    cr_assert_eq (s_seal_all (), 3);
    s_checkpoint ();
    cr_assert_eq (
        s_cli (&out, "audit verify --public-key %s --anchor '%s'", public_hex, anchor), 0,
        "%s", out);
    cr_assert (strstr (out, "moved to: checkpoint 2 (15 records"), "%s", out);
    free (out);
    char *kept = kn_test_read_file (anchor);
    cr_assert (kept && strstr (kept, "checkpoint 2\nrecords 15\n"), "%s", kept);
    free (kept);
    //  The tail cut back to checkpoint 1: exit 7, and the anchor stays where it was.
    s_sql ("DELETE FROM core.audit_checkpoint WHERE number = 2");
    s_sql ("DELETE FROM core.audit WHERE id IN (SELECT audit_id FROM core.audit_chain"
           " WHERE seq > 12)");
    s_sql ("DELETE FROM core.audit_chain WHERE seq > 12");
    cr_assert_eq (s_cli (&out, "audit verify --public-key %s", public_hex), 0, "%s", out);
    free (out);
    cr_assert_eq (
        s_cli (&out, "audit verify --public-key %s --anchor '%s'", public_hex, anchor), 7,
        "%s", out);
    cr_assert (strstr (out, "tail was cut"), "%s", out);
    free (out);
    kept = kn_test_read_file (anchor);
    cr_assert (kept && strstr (kept, "checkpoint 2\n"), "%s", kept);
    free (kept);
    //  A file that is not an anchor is refused, not overwritten.
    FILE *junk = fopen (anchor, "w");
    fputs ("nonsense\n", junk);
    fclose (junk);
    cr_assert_eq (
        s_cli (&out, "audit verify --public-key %s --anchor '%s'", public_hex, anchor), 3,
        "%s", out);
    cr_assert (strstr (out, "not an audit anchor"), "%s", out);
    free (out);
    unlink (anchor);
    //  Tampering is exit 7 and names the place.
    s_sql ("UPDATE core.audit SET basis = 'consent' WHERE id = %lld", (long long) s_audit_id_at (4));
    cr_assert_eq (s_cli (&out, "audit verify --public-key %s", public_hex), 7, "%s", out);
    cr_assert (strstr (out, "BROKEN at chain entry 4"), "%s", out);
    free (out);
    cr_assert_eq (s_cli (NULL, "audit --help"), 0);
}
