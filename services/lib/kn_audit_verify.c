/*  kn_audit_verify: recompute the audit trail's and the disclosure log's chains and
    every checkpoint against trusted keys and an auditor's anchor; read and write
    anchors. The contract is in kn_audit_chain.h. */
#include "kn_audit_chain.h"
#include "kn_audit_chain_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH         2000
//  How far a checkpoint's signing time may lie before the previous one's (two
//  sealers' clocks differ a little) before it counts as set back.
#define CLOCK_SLACK_S 300
#define ANCHOR_HEADER "kinnet audit anchor v1"

//  Each chain is read forward in batches, and each checkpoint (in
//  number order, so in chain order) is checked against the link the reading has
//  reached, so memory stays a batch whatever the trail's length.

static void s_broken (kn_audit_verdict_t *verdict, int64_t seq, int64_t audit_id,
                      const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

static void
s_broken (kn_audit_verdict_t *verdict, int64_t seq, int64_t audit_id, const char *fmt,
          ...)
{
    if (!verdict->intact)
        return; // the first break is the one reported
    verdict->intact = false;
    verdict->broken_seq = seq;
    verdict->broken_audit_id = audit_id;
    va_list args;
    va_start (args, fmt);
    vsnprintf (verdict->problem, sizeof verdict->problem, fmt, args);
    va_end (args);
}

//  One chain, read forward. pos: the last entry checked; link: the link stored there.
typedef struct {
    const kn_audit_trail_t *trail;
    kn_db_t *db;
    kn_audit_verdict_t *verdict;
    PGresult *rows;
    int row, n;
    bool last_batch;
    int64_t pos;
    uint8_t link[32];
    int64_t entries; // entries read
} reader_t;

//  A break in the disclosure chain has no audit position: it is named in problem.
static void
s_entry_broken (reader_t *r, int64_t seq, int64_t id, const char *what)
{
    bool audit = r->trail == &kn_audit_trail_records;
    if (strcmp (what, "missing") == 0)
        s_broken (r->verdict, audit ? seq : 0, 0, "%s chain entry %lld is missing",
                  audit ? "audit" : "disclosure", (long long)seq);
    else
        s_broken (r->verdict, audit ? seq : 0, audit ? id : 0,
                  "%s %lld (%s chain entry %lld) %s", r->trail->what, (long long)id,
                  audit ? "audit" : "disclosure", (long long)seq, what);
}

//  Check the next entry. 1: one was checked, 0: the chain ends, -1: failure.
static int
s_reader_step (reader_t *r, kn_error_t *err)
{
    if (r->row == r->n) {
        if (r->last_batch)
            return 0;
        PQclear (r->rows);
        char after[24], limit[16];
        snprintf (after, sizeof after, "%lld", (long long)r->pos);
        snprintf (limit, sizeof limit, "%d", BATCH);
        const char *values[] = {after, limit};
        r->rows = kn_db_run (r->db, r->trail->entries, 2, values, NULL, NULL, err);
        if (!r->rows)
            return -1;
        r->n = PQntuples (r->rows);
        r->row = 0;
        r->last_batch = r->n < BATCH;
        if (r->n == 0)
            return 0;
    }
    PGresult *rows = r->rows;
    int row = r->row++;
    int64_t seq = atoll (PQgetvalue (rows, row, 0));
    int64_t id = atoll (PQgetvalue (rows, row, 2));
    uint8_t stored[32];
    if (seq != r->pos + 1)
        s_entry_broken (r, r->pos + 1, 0, "missing");
    else if (PQgetvalue (rows, row, 3)[0] != 't')
        s_entry_broken (r, seq, id, "was deleted");
    else if (!kn_audit_bytea (rows, row, 1, stored, 32))
        s_entry_broken (r, seq, id, "has a malformed link");
    else {
        uint8_t link[32];
        kn_audit_link (r->link, rows, row, 4, r->trail->fields, link);
        if (sodium_memcmp (link, stored, 32) != 0)
            s_entry_broken (r, seq, id,
                            "was changed, or the entries before it were reordered");
    }
    //  Carry on from the stored link, so one break is reported once.
    if (kn_audit_bytea (rows, row, 1, stored, 32))
        memcpy (r->link, stored, 32);
    r->pos = seq;
    r->entries++;
    return 1;
}

//  Read up to position seq. 1: reached it; 0: the chain ends before; -1: failure.
static int
s_reader_reach (reader_t *r, int64_t seq, kn_error_t *err)
{
    while (r->pos < seq) {
        int rc = s_reader_step (r, err);
        if (rc <= 0)
            return rc;
    }
    return 1;
}

//  The sealed past (rows up to the chain's head in sealing order) holds only what
//  the chain holds; *unsealed: rows after it.
static int
s_check_past (kn_db_t *db, const kn_audit_trail_t *trail, kn_audit_verdict_t *verdict,
              int64_t *unsealed, kn_error_t *err)
{
    kn_audit_head_t head;
    if (kn_audit_head (db, trail, &head, err))
        return -1;
    char id[24];
    snprintf (id, sizeof id, "%lld", (long long)head.id);
    const char *values[] = {head.xid, id};
    if (head.seq > 0) {
        PGresult *inserted = kn_db_run (db, trail->inserted, 2, values, NULL, NULL, err);
        if (!inserted)
            return -1;
        if (PQntuples (inserted))
            s_broken (verdict, 0,
                      trail == &kn_audit_trail_records
                          ? atoll (PQgetvalue (inserted, 0, 0))
                          : 0,
                      "%s %s is in the sealed past but not in the chain: it was inserted "
                      "afterwards",
                      trail->what, PQgetvalue (inserted, 0, 0));
        PQclear (inserted);
    }
    PGresult *count = kn_db_run (db, trail->unsealed, 2, values, NULL, NULL, err);
    if (!count)
        return -1;
    *unsealed = atoll (PQgetvalue (count, 0, 0));
    PQclear (count);
    return 0;
}

//  Checks one checkpoint c, in number order after the one whose hash is previous.
static int
s_check_checkpoint (const kn_audit_checkpoint_t *c, const kn_audit_checkpoint_t *before,
                    const uint8_t previous[32], const kn_audit_trusted_t *trusted,
                    size_t n_trusted, reader_t *audit, reader_t *disclosures,
                    kn_error_t *err)
{
    kn_audit_verdict_t *verdict = audit->verdict;
    int64_t number_before = before->number, signed_before = before->signed_at;
    int version_before = before->version;
    long long n = (long long)c->number;
    uint8_t message[KN_AUDIT_MESSAGE_MAX];
    size_t len = kn_audit_checkpoint_message (c, message);
    //  A key is trusted only for what it signed inside its period, by the time the
    //  checkpoint itself states (signed with it, so not changed since).
    const kn_audit_trusted_t *outside = NULL;
    int trust = kn_audit_trust_check (trusted, n_trusted, c->public_key, c->signed_at,
                                      &outside);
    char key[2 * KN_AUDIT_KEY_BYTES + 1], at[32], period[64] = "";
    sodium_bin2hex (key, sizeof key, c->public_key, KN_AUDIT_KEY_BYTES);
    kn_audit_time_text (c->signed_at, at, sizeof at);
    if (outside)
        kn_audit_period_text (outside, period, sizeof period);
    if (c->number != number_before + 1)
        s_broken (verdict, 0, 0,
                  "checkpoint %lld is missing (the next is %lld): checkpoints "
                  "were removed",
                  (long long)number_before + 1, n);
    else if (trust < 0)
        s_broken (verdict, c->seq, 0,
                  "checkpoint %lld (at %lld) is signed by key %s, a key that is not "
                  "a trusted one",
                  n, (long long)c->seq, key);
    else if (trust == 0)
        s_broken (verdict, c->seq, 0,
                  "checkpoint %lld (at %lld) was signed at %s by key %s, outside "
                  "the period that key is trusted for (%s)",
                  n, (long long)c->seq, at, key, period);
    else if (crypto_sign_verify_detached (c->signature, message, len, c->public_key) != 0)
        s_broken (verdict, c->seq, 0,
                  "checkpoint %lld (at %lld) has an invalid signature", n,
                  (long long)c->seq);
    //  Signing times only move forward: a retired key that leaked cannot append a
    //  checkpoint dated back into its period after one a newer key signed.
    else if (number_before > 0 && c->signed_at < signed_before - CLOCK_SLACK_S)
        s_broken (verdict, c->seq, 0,
                  "checkpoint %lld was signed at %s by key %s, before checkpoint %lld: "
                  "its signing time was set back",
                  n, at, key, (long long)number_before);
    else if (c->version == 1 && version_before == 2)
        s_broken (verdict, c->seq, 0,
                  "checkpoint %lld is of the old, unchained form but "
                  "follows a chained one",
                  n);
    else if (c->version == 2 && sodium_memcmp (c->previous, previous, 32) != 0)
        s_broken (verdict, c->seq, 0,
                  "checkpoint %lld does not chain to checkpoint %lld "
                  "before it: checkpoints were removed or replaced",
                  n, (long long)number_before);
    else if (c->seq < before->seq)
        s_broken (verdict, c->seq, 0,
                  "checkpoint %lld seals position %lld, before the "
                  "previous checkpoint's",
                  n, (long long)c->seq);
    //  Each chain still holds the signed link at the signed position.
    int reached = s_reader_reach (audit, c->seq, err);
    if (reached < 0)
        return -1;
    if (reached == 0)
        s_broken (verdict, audit->pos + 1, 0,
                  "the audit chain ends at %lld but checkpoint "
                  "%lld sealed it up to %lld: its tail was truncated",
                  (long long)audit->pos, n, (long long)c->seq);
    else if (c->seq > 0 && audit->pos == c->seq &&
             sodium_memcmp (audit->link, c->link, 32))
        s_broken (verdict, c->seq, 0,
                  "the chain at %lld no longer matches the checkpoint "
                  "signed for it",
                  (long long)c->seq);
    if (c->version == 1)
        return 0;
    reached = s_reader_reach (disclosures, c->disclosure_seq, err);
    if (reached < 0)
        return -1;
    if (reached == 0)
        s_broken (verdict, 0, 0,
                  "the disclosure chain ends at %lld but checkpoint %lld "
                  "sealed it up to %lld: its tail was truncated",
                  (long long)disclosures->pos, n, (long long)c->disclosure_seq);
    else if (c->disclosure_seq > 0 && disclosures->pos == c->disclosure_seq &&
             sodium_memcmp (disclosures->link, c->disclosure_link, 32))
        s_broken (verdict, 0, 0,
                  "the disclosure chain at %lld no longer matches checkpoint "
                  "%lld",
                  (long long)c->disclosure_seq, n);
    return 0;
}

//  -------------------------------------------------------------------------
//  Prunes

//  How far a prune's claimed moment may lie after the database's time when it ran
//  before it is counted as ahead (the one clock and the database's differ a little).
#define AHEAD_S (24 * 3600)

//  Prune p, in record order: it must go up to a position the version 2
//  checkpoint it names signs for its chain, past the chain's start so far. The
//  reader then starts there, with the link that checkpoint signed (checked with
//  every other checkpoint's signature afterwards).
static void
s_check_prune (PGresult *rows, int row, reader_t *chain, kn_audit_verdict_t *verdict)
{
    kn_audit_prune_t p = {.disclosures = PQgetvalue (rows, row, 0)[0] == 't',
                          .checkpoint = atoll (PQgetvalue (rows, row, 1)),
                          .seq = atoll (PQgetvalue (rows, row, 2)),
                          .removed = atoll (PQgetvalue (rows, row, 3)),
                          .moment = atoll (PQgetvalue (rows, row, 4)),
                          .at = atoll (PQgetvalue (rows, row, 5)),
                          .signed_at = atoll (PQgetvalue (rows, row, 9))};
    const char *name = p.disclosures ? "disclosure" : "audit";
    int64_t where = p.disclosures ? 0 : p.seq;
    bool exists = !PQgetisnull (rows, row, 6);
    int64_t signs = exists && !PQgetisnull (rows, row, 7) ? atoll (PQgetvalue (rows, row, 7))
                                                          : -1;
    uint8_t link[32];
    if (!exists)
        s_broken (verdict, where, 0,
                  "the %s chain was pruned up to %lld at checkpoint %lld, which does "
                  "not exist",
                  name, (long long)p.seq, (long long)p.checkpoint);
    else if (atoi (PQgetvalue (rows, row, 6)) != 2 || signs != p.seq ||
             !kn_audit_bytea (rows, row, 8, link, 32))
        s_broken (verdict, where, 0,
                  "the %s chain was pruned up to %lld, a position checkpoint %lld does "
                  "not sign: rows were removed where no checkpoint allows it",
                  name, (long long)p.seq, (long long)p.checkpoint);
    else if (p.seq <= chain->pos)
        s_broken (verdict, where, 0,
                  "the %s chain was pruned up to %lld after a prune up to %lld: prunes "
                  "only move forward",
                  name, (long long)p.seq, (long long)chain->pos);
    else {
        chain->pos = p.seq;
        memcpy (chain->link, link, 32);
    }
    if (p.moment > p.at + AHEAD_S)
        verdict->prunes_ahead++;
    //  The newest ones, in a ring ordered at the end.
    verdict->shown[verdict->prunes % KN_AUDIT_PRUNES_SHOWN] = p;
    verdict->prunes++;
}

//  Every prune, in batches: where each chain starts, and how it got there.
static int
s_read_prunes (kn_db_t *db, reader_t *audit, reader_t *disclosures, kn_error_t *err)
{
    kn_audit_verdict_t *verdict = audit->verdict;
    bool more = true;
    char after[24] = "0", limit[16];
    snprintf (limit, sizeof limit, "%d", BATCH);
    while (more) {
        const char *values[] = {after, limit};
        PGresult *rows = kn_db_run (db, "kn_verify_prunes", 2, values, NULL, NULL, err);
        if (!rows)
            return -1;
        int n = PQntuples (rows);
        more = n == BATCH;
        for (int row = 0; row < n; row++)
            s_check_prune (rows, row, PQgetvalue (rows, row, 0)[0] == 't' ? disclosures
                                                                          : audit,
                           verdict);
        if (n)
            snprintf (after, sizeof after, "%s", PQgetvalue (rows, n - 1, 10));
        PQclear (rows);
    }
    verdict->audit_start = audit->pos;
    verdict->disclosure_start = disclosures->pos;
    //  The ring in order, oldest first.
    size_t n = verdict->prunes < KN_AUDIT_PRUNES_SHOWN ? (size_t)verdict->prunes
                                                       : KN_AUDIT_PRUNES_SHOWN;
    size_t first = verdict->prunes < KN_AUDIT_PRUNES_SHOWN
                       ? 0
                       : (size_t)(verdict->prunes % KN_AUDIT_PRUNES_SHOWN);
    kn_audit_prune_t ordered[KN_AUDIT_PRUNES_SHOWN];
    for (size_t i = 0; i < n; i++)
        ordered[i] = verdict->shown[(first + i) % KN_AUDIT_PRUNES_SHOWN];
    memcpy (verdict->shown, ordered, n * sizeof ordered[0]);
    verdict->n_shown = n;
    return 0;
}

//  Every checkpoint, in batches; the anchor's must be among them, unchanged.
static int
s_check_checkpoints (kn_db_t *db, const kn_audit_trusted_t *trusted, size_t n_trusted, const kn_audit_anchor_t *anchor, reader_t *audit,
                     reader_t *disclosures, kn_error_t *err)
{
    kn_audit_verdict_t *verdict = audit->verdict;
    kn_audit_checkpoint_t c = {0}, before = {0};
    uint8_t previous[32] = {0};
    int64_t number = 0;
    bool anchor_seen = false, more = true;
    while (more) {
        char after[24], limit[16];
        snprintf (after, sizeof after, "%lld", (long long)number);
        snprintf (limit, sizeof limit, "%d", BATCH);
        const char *values[] = {after, limit};
        PGresult *rows =
            kn_db_run (db, "kn_verify_checkpoints", 2, values, NULL, NULL, err);
        if (!rows)
            return -1;
        more = PQntuples (rows) == BATCH;
        for (int row = 0; row < PQntuples (rows); row++) {
            verdict->checkpoints++;
            if (!kn_audit_checkpoint_read (rows, row, &c)) {
                s_broken (verdict, c.seq, 0, "checkpoint %lld is malformed",
                          (long long)c.number);
                number = c.number;
                continue;
            }
            before.number = number;
            if (s_check_checkpoint (&c, &before, previous, trusted, n_trusted, audit,
                                    disclosures, err)) {
                PQclear (rows);
                return -1;
            }
            kn_audit_checkpoint_hash (&c, previous);
            number = c.number;
            before = c;
            verdict->last_checkpoint = c.seq;
            verdict->anchor = (kn_audit_anchor_t){c.number, c.seq, c.disclosure_seq, {0}};
            memcpy (verdict->anchor.hash, previous, 32);
            if (anchor && c.number == anchor->number) {
                anchor_seen = true;
                if (sodium_memcmp (previous, anchor->hash, 32) || c.seq != anchor->seq ||
                    c.disclosure_seq != anchor->disclosure_seq)
                    s_broken (verdict, c.seq, 0,
                              "checkpoint %lld is not the one the anchor "
                              "holds: the history up to it was rewritten",
                              (long long)c.number);
            }
        }
        PQclear (rows);
    }
    verdict->has_anchor = number > 0;
    if (anchor && !anchor_seen)
        s_broken (verdict, anchor->seq, 0,
                  "the anchor holds checkpoint %lld (sealing %lld "
                  "records) but the trail's checkpoints end at %lld: its tail was cut",
                  (long long)anchor->number, (long long)anchor->seq, (long long)number);
    return 0;
}

int
kn_audit_chain_verify (kn_db_t *db, const kn_audit_trusted_t *trusted,
                       size_t n_trusted, const kn_audit_anchor_t *anchor,
                       kn_audit_verdict_t *verdict, kn_error_t *err)
{
    memset (verdict, 0, sizeof *verdict);
    verdict->intact = true;
    if (n_trusted == 0)
        return kn_error_set (
            err, KN_E_INVALID_ARGUMENT, "public_key",
            "no trusted public key: the audit trail is verified only "
            "against a checkpoint signer's key held apart from the database");
    verdict->signer_trusted = true;
    if (sodium_init () < 0)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "libsodium did not start");
    if (kn_db_ensure (db, err))
        return -1;
    //  One snapshot for the whole check, so a sealer running meanwhile changes nothing.
    if (kn_db_exec (db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
        return -1;
    reader_t audit = {.trail = &kn_audit_trail_records, .db = db, .verdict = verdict};
    reader_t disclosures = {
        .trail = &kn_audit_trail_disclosures, .db = db, .verdict = verdict};
    //  Each chain is read from where its prunes left it.
    int rc = s_read_prunes (db, &audit, &disclosures, err)
                 ?: s_check_checkpoints (db, trusted, n_trusted, anchor, &audit,
                                         &disclosures, err);
    //  The entries after the last checkpoint, then the rows after the chains.
    if (rc == 0 && s_reader_reach (&audit, INT64_MAX, err) < 0)
        rc = -1;
    if (rc == 0 && s_reader_reach (&disclosures, INT64_MAX, err) < 0)
        rc = -1;
    rc = rc
             ?: s_check_past (db, &kn_audit_trail_records, verdict, &verdict->unsealed,
                              err);
    rc = rc
             ?: s_check_past (db, &kn_audit_trail_disclosures, verdict,
                              &verdict->disclosures_unsealed, err);
    verdict->records = audit.entries;
    verdict->head_seq = audit.pos;
    verdict->disclosures = disclosures.entries;
    PQclear (audit.rows);
    PQclear (disclosures.rows);
    kn_error_t ignored;
    kn_db_exec (db, "ROLLBACK", &ignored);
    return rc;
}

//  -------------------------------------------------------------------------
//  Anchors

int
kn_audit_anchor_read (const char *path, kn_audit_anchor_t *anchor, bool *found,
                      kn_error_t *err)
{
    memset (anchor, 0, sizeof *anchor);
    *found = false;
    FILE *file = fopen (path, "r");
    if (!file) {
        if (errno == ENOENT)
            return 0;
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "anchor", "cannot read %s",
                             path);
    }
    char header[64] = "", hash[80] = "";
    long long number = -1, seq = -1, dseq = -1;
    int fields = fscanf (file,
                         "%63[^\n]\ncheckpoint %lld\nrecords %lld\ndisclosures %lld\n"
                         "hash %79s",
                         header, &number, &seq, &dseq, hash);
    fclose (file);
    if (fields != 5 || strcmp (header, ANCHOR_HEADER) || number < 1 || seq < 0 ||
        dseq < 0 || strlen (hash) != 64 || kn_audit_parse_hex (hash, anchor->hash, 32))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "anchor",
                             "%s is not an audit anchor (written by kinnet audit verify "
                             "--anchor)",
                             path);
    anchor->number = number, anchor->seq = seq, anchor->disclosure_seq = dseq;
    *found = true;
    return 0;
}

int
kn_audit_anchor_write (const char *path, const kn_audit_anchor_t *anchor, kn_error_t *err)
{
    char hash[65], text[256], next[4096];
    sodium_bin2hex (hash, sizeof hash, anchor->hash, 32);
    snprintf (text, sizeof text,
              "%s\ncheckpoint %lld\nrecords %lld\ndisclosures %lld\nhash %s\n",
              ANCHOR_HEADER, (long long)anchor->number, (long long)anchor->seq,
              (long long)anchor->disclosure_seq, hash);
    //  Written beside it and renamed over it, so a crash leaves the old or the new.
    if ((size_t)snprintf (next, sizeof next, "%s.new", path) >= sizeof next)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "anchor", "path too long");
    unlink (next);
    if (kn_audit_write_file (next, text, 0644, err))
        return -1;
    if (rename (next, path)) {
        unlink (next);
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "anchor", "cannot replace %s",
                             path);
    }
    return 0;
}
