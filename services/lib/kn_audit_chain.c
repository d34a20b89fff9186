/*  kn_audit_chain: seal the audit trail into a hash chain, sign checkpoints, verify. */
#include "kn_audit_chain.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kn_cursor.h"
#include "kn_log.h"

#define FIELDS 11
#define BATCH 2000
#define CHECKPOINT_DOMAIN "kinnet.audit.checkpoint.v1"

//  The record's fields in canonical order, as text (NULL stays NULL).
#define RECORD_COLUMNS                                                                        \
    "a.id::text, (extract (epoch FROM a.at) * 1000000)::bigint::text, a.agency_id::text,"    \
    " a.caseworker_id, a.role, a.service, a.operation, a.subject_ref::text,"                 \
    " a.object_id::text, a.basis, a.result"

static const char *s_statements[][2] = {
    {"kn_chain_lock", "SELECT pg_advisory_xact_lock (hashtext ('kinnet.audit.chain'))"},
    {"kn_chain_head",
     "SELECT seq, link, audit_xid::text, audit_id FROM core.audit_chain"
     " ORDER BY seq DESC LIMIT 1"},
    {"kn_chain_insert",
     "INSERT INTO core.audit_chain (seq, audit_id, audit_xid, link)"
     " VALUES ($1, $2, $3::xid8, $4::bytea)"},
    {"kn_checkpoint_last", "SELECT coalesce (max (seq), 0) FROM core.audit_checkpoint"},
    {"kn_checkpoint_insert",
     "INSERT INTO core.audit_checkpoint (seq, link, signed_at, public_key, signature)"
     " VALUES ($1, $2::bytea, to_timestamp ($3::bigint), $4::bytea, $5::bytea)"},
    //  Verification: the chain with its records (NULL record: deleted).
    {"kn_verify_chain",
     "SELECT c.seq, c.link, c.audit_id, a.id IS NOT NULL, " RECORD_COLUMNS
     " FROM core.audit_chain c LEFT JOIN core.audit a ON a.id = c.audit_id"
     " WHERE c.seq > $1 ORDER BY c.seq LIMIT $2"},
    {"kn_verify_checkpoints",
     "SELECT seq, link, floor (extract (epoch FROM signed_at))::bigint, public_key, signature"
     " FROM core.audit_checkpoint ORDER BY seq"},
    //  A record in the sealed past that the chain does not hold was put there since.
    {"kn_verify_inserted",
     "SELECT a.id FROM core.audit a WHERE (a.xid, a.id) <= ($1::xid8, $2::bigint)"
     " AND NOT EXISTS (SELECT 1 FROM core.audit_chain c WHERE c.audit_id = a.id)"
     " ORDER BY a.id LIMIT 1"},
    {"kn_verify_unsealed",
     "SELECT count (*) FROM core.audit a WHERE (a.xid, a.id) > ($1::xid8, $2::bigint)"},
};

int
kn_audit_chain_prepare (kn_db_t *db, kn_error_t *err)
{
    //  The records in commit order behind the chain's head (kn_cursor says why).
    if (kn_cursor_prepare (db, "kn_chain_next", "core.audit a", "a", RECORD_COLUMNS, err))
        return -1;
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  -------------------------------------------------------------------------
//  Keys

static int
s_read_hex (const char *path, uint8_t *out, size_t len, kn_error_t *err)
{
    FILE *file = fopen (path, "r");
    char text[256] = "";
    bool read = file && fgets (text, sizeof text, file);
    if (file)
        fclose (file);
    text[strcspn (text, "\r\n")] = 0;
    size_t got = 0;
    if (!read || sodium_hex2bin (out, len, text, strlen (text), NULL, &got, NULL) || got != len)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "key",
                             "%s does not hold %zu hex characters", path, 2 * len);
    return 0;
}

static int
s_write_file (const char *path, const char *text, mode_t mode, kn_error_t *err)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "path",
                             "cannot create %s (it may exist already)", path);
    size_t len = strlen (text);
    bool ok = write (fd, text, len) == (ssize_t) len;
    ok = close (fd) == 0 && ok;
    return ok ? 0 : kn_error_set (err, KN_E_INTERNAL, "path", "cannot write %s", path);
}

int
kn_audit_signer_create (const char *path, char public_hex[2 * KN_AUDIT_KEY_BYTES + 1],
                        kn_error_t *err)
{
    if (sodium_init () < 0)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "libsodium did not start");
    uint8_t seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES],
        sk[crypto_sign_SECRETKEYBYTES];
    randombytes_buf (seed, sizeof seed);
    crypto_sign_seed_keypair (pk, sk, seed);
    char seed_hex[2 * sizeof seed + 2];
    sodium_bin2hex (seed_hex, sizeof seed_hex, seed, sizeof seed);
    strcat (seed_hex, "\n");
    sodium_bin2hex (public_hex, 2 * KN_AUDIT_KEY_BYTES + 1, pk, sizeof pk);
    char pub_path[4096], pub_text[2 * KN_AUDIT_KEY_BYTES + 2];
    snprintf (pub_path, sizeof pub_path, "%s.pub", path);
    snprintf (pub_text, sizeof pub_text, "%s\n", public_hex);
    int rc = s_write_file (path, seed_hex, 0600, err)
             ?: s_write_file (pub_path, pub_text, 0644, err);
    sodium_memzero (seed, sizeof seed);
    sodium_memzero (sk, sizeof sk);
    sodium_memzero (seed_hex, sizeof seed_hex);
    return rc;
}

int
kn_audit_signer_load (const char *path, kn_audit_signer_t *signer, kn_error_t *err)
{
    if (sodium_init () < 0)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "libsodium did not start");
    uint8_t seed[crypto_sign_SEEDBYTES];
    if (s_read_hex (path, seed, sizeof seed, err))
        return -1;
    crypto_sign_seed_keypair (signer->public_key, signer->secret_key, seed);
    sodium_memzero (seed, sizeof seed);
    return 0;
}

int
kn_audit_public_key_parse (const char *text_or_path, uint8_t key[KN_AUDIT_KEY_BYTES],
                           kn_error_t *err)
{
    size_t got = 0;
    if (text_or_path && strlen (text_or_path) == 2 * KN_AUDIT_KEY_BYTES
        && sodium_hex2bin (key, KN_AUDIT_KEY_BYTES, text_or_path, strlen (text_or_path), NULL,
                           &got, NULL)
               == 0
        && got == KN_AUDIT_KEY_BYTES)
        return 0;
    return s_read_hex (text_or_path ? text_or_path : "", key, KN_AUDIT_KEY_BYTES, err);
}

//  -------------------------------------------------------------------------
//  Links

//  Canonical bytes of the record whose fields start at column `first`, hashed after
//  prev into link.
static void
s_link (const uint8_t prev[32], PGresult *result, int row, int first, uint8_t link[32])
{
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    crypto_hash_sha256_update (&state, prev, 32);
    for (int f = 0; f < FIELDS; f++) {
        uint8_t length[4];
        bool null = PQgetisnull (result, row, first + f);
        uint32_t len = null ? 0xFFFFFFFFu : (uint32_t) PQgetlength (result, row, first + f);
        length[0] = (uint8_t) (len >> 24), length[1] = (uint8_t) (len >> 16);
        length[2] = (uint8_t) (len >> 8), length[3] = (uint8_t) len;
        crypto_hash_sha256_update (&state, length, 4);
        if (!null)
            crypto_hash_sha256_update (&state, (const uint8_t *) PQgetvalue (result, row, first + f),
                                       len);
    }
    crypto_hash_sha256_final (&state, link);
}

//  bytea text result ("\x...") into out (len bytes); false when it is not that long.
static bool
s_bytea (PGresult *result, int row, int column, uint8_t *out, size_t len)
{
    size_t got = 0;
    unsigned char *bytes
        = PQunescapeBytea ((const unsigned char *) PQgetvalue (result, row, column), &got);
    bool ok = bytes && got == len;
    if (ok)
        memcpy (out, bytes, len);
    PQfreemem (bytes);
    return ok;
}

static void
s_bytea_text (char *out, size_t size, const uint8_t *bytes, size_t len)
{
    snprintf (out, size, "\\x");
    sodium_bin2hex (out + 2, size - 2, bytes, len);
}

typedef struct {
    int64_t seq;
    uint8_t link[32];
    char xid[24];
    int64_t audit_id;
} head_t;

static int
s_head (kn_db_t *db, head_t *head, kn_error_t *err)
{
    memset (head, 0, sizeof *head);
    snprintf (head->xid, sizeof head->xid, "0");
    PGresult *result = kn_db_run (db, "kn_chain_head", 0, NULL, NULL, NULL, err);
    if (!result)
        return -1;
    if (PQntuples (result)) {
        head->seq = atoll (PQgetvalue (result, 0, 0));
        s_bytea (result, 0, 1, head->link, 32);
        snprintf (head->xid, sizeof head->xid, "%s", PQgetvalue (result, 0, 2));
        head->audit_id = atoll (PQgetvalue (result, 0, 3));
    }
    PQclear (result);
    return 0;
}

int
kn_audit_chain_seal (kn_db_t *db, int max, int *sealed, kn_error_t *err)
{
    *sealed = 0;
    if (kn_db_ensure (db, err) || kn_db_exec (db, "BEGIN", err))
        return -1;
    head_t head;
    PGresult *lock = kn_db_run (db, "kn_chain_lock", 0, NULL, NULL, NULL, err);
    PQclear (lock);
    if (!lock || s_head (db, &head, err))
        goto fail;
    char after[24];
    snprintf (after, sizeof after, "%lld", (long long) head.audit_id);
    PGresult *rows = kn_cursor_next (db, "kn_chain_next", head.xid, after, max, err);
    if (!rows)
        goto fail;
    int rc = 0;
    for (int row = 0; row < PQntuples (rows) && rc == 0; row++) {
        uint8_t link[32];
        s_link (head.link, rows, row, 1, link);
        char seq[24], link_text[70];
        snprintf (seq, sizeof seq, "%lld", (long long) (head.seq + 1));
        s_bytea_text (link_text, sizeof link_text, link, 32);
        const char *insert[] = {seq, PQgetvalue (rows, row, 1), PQgetvalue (rows, row, 0),
                                link_text};
        PGresult *done = kn_db_run (db, "kn_chain_insert", 4, insert, NULL, NULL, err);
        PQclear (done);
        if (!done)
            rc = -1;
        head.seq++;
        memcpy (head.link, link, 32);
    }
    int count = PQntuples (rows);
    PQclear (rows);
    if (rc || kn_db_exec (db, "COMMIT", err))
        goto fail;
    *sealed = count;
    return 0;
fail:;
    kn_error_t ignored;
    kn_db_exec (db, "ROLLBACK", &ignored);
    return -1;
}

//  The bytes a checkpoint signs.
static void
s_checkpoint_message (int64_t seq, const uint8_t link[32], int64_t signed_at, uint8_t *out,
                      size_t *len)
{
    size_t pos = strlen (CHECKPOINT_DOMAIN);
    memcpy (out, CHECKPOINT_DOMAIN, pos);
    for (int i = 7; i >= 0; i--)
        out[pos++] = (uint8_t) ((uint64_t) seq >> (i * 8));
    memcpy (out + pos, link, 32);
    pos += 32;
    for (int i = 7; i >= 0; i--)
        out[pos++] = (uint8_t) ((uint64_t) signed_at >> (i * 8));
    *len = pos;
}

int
kn_audit_chain_checkpoint (kn_db_t *db, const kn_audit_signer_t *signer, bool *made,
                           kn_error_t *err)
{
    *made = false;
    if (kn_db_ensure (db, err) || kn_db_exec (db, "BEGIN", err))
        return -1;
    head_t head;
    PGresult *lock = kn_db_run (db, "kn_chain_lock", 0, NULL, NULL, NULL, err);
    PQclear (lock);
    PGresult *last = lock && s_head (db, &head, err) == 0
                         ? kn_db_run (db, "kn_checkpoint_last", 0, NULL, NULL, NULL, err)
                         : NULL;
    if (!last)
        goto fail;
    int64_t sealed_upto = atoll (PQgetvalue (last, 0, 0));
    PQclear (last);
    if (head.seq > sealed_upto) {
        //  When it was signed: a stamp, not a rule's clock (kn_clock.h), so real time.
        int64_t now = (int64_t) time (NULL);
        uint8_t message[128], signature[crypto_sign_BYTES];
        size_t len;
        s_checkpoint_message (head.seq, head.link, now, message, &len);
        crypto_sign_detached (signature, NULL, message, len, signer->secret_key);
        char seq[24], at[24], link_text[70], key_text[70], signature_text[134];
        snprintf (seq, sizeof seq, "%lld", (long long) head.seq);
        snprintf (at, sizeof at, "%lld", (long long) now);
        s_bytea_text (link_text, sizeof link_text, head.link, 32);
        s_bytea_text (key_text, sizeof key_text, signer->public_key, 32);
        s_bytea_text (signature_text, sizeof signature_text, signature, sizeof signature);
        const char *values[] = {seq, link_text, at, key_text, signature_text};
        PGresult *done = kn_db_run (db, "kn_checkpoint_insert", 5, values, NULL, NULL, err);
        PQclear (done);
        if (!done)
            goto fail;
        *made = true;
    }
    if (kn_db_exec (db, "COMMIT", err))
        goto fail;
    return 0;
fail:;
    kn_error_t ignored;
    kn_db_exec (db, "ROLLBACK", &ignored);
    return -1;
}

//  -------------------------------------------------------------------------
//  Verification

static void
s_broken (kn_audit_verdict_t *verdict, int64_t seq, int64_t audit_id, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_broken (kn_audit_verdict_t *verdict, int64_t seq, int64_t audit_id, const char *fmt, ...)
{
    if (!verdict->intact)
        return;   // the first break is the one reported
    verdict->intact = false;
    verdict->broken_seq = seq;
    verdict->broken_audit_id = audit_id;
    va_list args;
    va_start (args, fmt);
    vsnprintf (verdict->problem, sizeof verdict->problem, fmt, args);
    va_end (args);
}

//  Links of the whole chain, kept to check checkpoints against (32 bytes each).
typedef struct {
    uint8_t *links;
    int64_t count;
    int64_t capacity;
} links_t;

static void
s_keep (links_t *links, const uint8_t link[32])
{
    if (links->count == links->capacity) {
        links->capacity = links->capacity ? links->capacity * 2 : 4096;
        links->links = realloc (links->links, (size_t) links->capacity * 32);
    }
    memcpy (links->links + links->count * 32, link, 32);
    links->count++;
}

int
kn_audit_chain_verify (kn_db_t *db, const uint8_t (*trusted)[KN_AUDIT_KEY_BYTES],
                       size_t n_trusted, kn_audit_verdict_t *verdict, kn_error_t *err)
{
    memset (verdict, 0, sizeof *verdict);
    verdict->intact = true;
    verdict->signer_trusted = n_trusted > 0;
    if (sodium_init () < 0)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "libsodium did not start");
    if (kn_db_ensure (db, err))
        return -1;
    //  One snapshot for the whole check, so a sealer running meanwhile changes nothing.
    if (kn_db_exec (db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
        return -1;
    links_t links = {0};
    uint8_t prev[32] = {0};
    int64_t expected = 1;
    int rc = 0;
    while (rc == 0) {
        char after[24], limit[16];
        snprintf (after, sizeof after, "%lld", (long long) (expected - 1));
        snprintf (limit, sizeof limit, "%d", BATCH);
        const char *values[] = {after, limit};
        PGresult *rows = kn_db_run (db, "kn_verify_chain", 2, values, NULL, NULL, err);
        if (!rows) {
            rc = -1;
            break;
        }
        int n = PQntuples (rows);
        for (int row = 0; row < n; row++) {
            int64_t seq = atoll (PQgetvalue (rows, row, 0));
            int64_t audit_id = atoll (PQgetvalue (rows, row, 2));
            uint8_t stored[32];
            if (seq != expected)
                s_broken (verdict, expected, 0, "chain entry %lld is missing (the next is %lld)",
                          (long long) expected, (long long) seq);
            else if (PQgetvalue (rows, row, 3)[0] != 't')
                s_broken (verdict, seq, audit_id, "record %lld (chain entry %lld) was deleted",
                          (long long) audit_id, (long long) seq);
            else if (!s_bytea (rows, row, 1, stored, 32))
                s_broken (verdict, seq, audit_id, "chain entry %lld has a malformed link",
                          (long long) seq);
            else {
                uint8_t link[32];
                s_link (prev, rows, row, 4, link);
                if (sodium_memcmp (link, stored, 32) != 0)
                    s_broken (verdict, seq, audit_id,
                              "record %lld (chain entry %lld) was changed, or the entries "
                              "before it were reordered",
                              (long long) audit_id, (long long) seq);
            }
            //  Carry on from the stored link, so one break is reported once.
            if (s_bytea (rows, row, 1, stored, 32))
                memcpy (prev, stored, 32);
            s_keep (&links, prev);
            expected = seq + 1;
            verdict->records++;
        }
        PQclear (rows);
        if (n < BATCH)
            break;
    }
    verdict->head_seq = expected - 1;

    //  The chain's head record bounds the sealed past: every record at or before it
    //  (in sealing order) must be in the chain; the ones after it are not sealed yet.
    PGresult *head = rc ? NULL : kn_db_run (db, "kn_chain_head", 0, NULL, NULL, NULL, err);
    if (!rc && !head)
        rc = -1;
    if (head) {
        bool any = PQntuples (head) > 0;
        const char *values[] = {any ? PQgetvalue (head, 0, 2) : "0",
                                any ? PQgetvalue (head, 0, 3) : "0"};
        PGresult *inserted
            = any ? kn_db_run (db, "kn_verify_inserted", 2, values, NULL, NULL, err) : NULL;
        if (any && !inserted)
            rc = -1;
        else if (inserted && PQntuples (inserted))
            s_broken (verdict, 0, atoll (PQgetvalue (inserted, 0, 0)),
                      "record %s is in the sealed past but not in the chain: it was "
                      "inserted afterwards",
                      PQgetvalue (inserted, 0, 0));
        PQclear (inserted);
        PGresult *unsealed
            = rc ? NULL : kn_db_run (db, "kn_verify_unsealed", 2, values, NULL, NULL, err);
        if (!rc && !unsealed)
            rc = -1;
        if (unsealed)
            verdict->unsealed = atoll (PQgetvalue (unsealed, 0, 0));
        PQclear (unsealed);
        PQclear (head);
    }

    //  Checkpoints: a valid signature by a trusted key over (position, link, time),
    //  and the chain still holds that link at that position.
    PGresult *checkpoints
        = rc ? NULL : kn_db_run (db, "kn_verify_checkpoints", 0, NULL, NULL, NULL, err);
    if (!rc && !checkpoints)
        rc = -1;
    for (int row = 0; checkpoints && row < PQntuples (checkpoints); row++) {
        int64_t seq = atoll (PQgetvalue (checkpoints, row, 0));
        int64_t signed_at = atoll (PQgetvalue (checkpoints, row, 2));
        uint8_t link[32], key[32], signature[64], message[128];
        size_t len;
        verdict->checkpoints++;
        verdict->last_checkpoint = seq;
        if (!s_bytea (checkpoints, row, 1, link, 32) || !s_bytea (checkpoints, row, 3, key, 32)
            || !s_bytea (checkpoints, row, 4, signature, 64)) {
            s_broken (verdict, seq, 0, "checkpoint at %lld is malformed", (long long) seq);
            continue;
        }
        s_checkpoint_message (seq, link, signed_at, message, &len);
        bool known = n_trusted == 0;
        for (size_t k = 0; k < n_trusted; k++)
            known |= sodium_memcmp (key, trusted[k], 32) == 0;
        if (!known)
            s_broken (verdict, seq, 0,
                      "checkpoint at %lld is signed by a key that is not a trusted one",
                      (long long) seq);
        else if (crypto_sign_verify_detached (signature, message, len, key) != 0)
            s_broken (verdict, seq, 0, "checkpoint at %lld has an invalid signature",
                      (long long) seq);
        else if (seq > links.count)
            s_broken (verdict, links.count + 1, 0,
                      "the chain ends at %lld but a checkpoint sealed it up to %lld: its tail "
                      "was truncated",
                      (long long) links.count, (long long) seq);
        else if (sodium_memcmp (links.links + (seq - 1) * 32, link, 32) != 0)
            s_broken (verdict, seq, 0,
                      "the chain at %lld no longer matches the checkpoint signed for it",
                      (long long) seq);
    }
    PQclear (checkpoints);
    free (links.links);
    kn_error_t ignored;
    kn_db_exec (db, "ROLLBACK", &ignored);
    return rc;
}
