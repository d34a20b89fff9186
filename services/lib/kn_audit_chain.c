/*  kn_audit_chain: seal the audit trail and the disclosure log into hash chains,
    sign chained checkpoints, verify them against trusted keys and an anchor. */
#include "kn_audit_chain.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#define BATCH 2000
#define CHECKPOINT_DOMAIN_V1 "kinnet.audit.checkpoint.v1"
#define CHECKPOINT_DOMAIN_V2 "kinnet.audit.checkpoint.v2"
#define ANCHOR_HEADER        "kinnet audit anchor v1"

//  An audit record's fields in canonical order, as text (NULL stays NULL).
#define RECORD_COLUMNS                                                                        \
    "a.id::text, (extract (epoch FROM a.at) * 1000000)::bigint::text, a.agency_id::text,"    \
    " a.caseworker_id, a.role, a.service, a.operation, a.subject_ref::text,"                 \
    " a.object_id::text, a.basis, a.result"
//  A disclosure's, likewise.
#define DISCLOSURE_COLUMNS                                                                 \
    "d.id::text, (extract (epoch FROM d.at) * 1000000)::bigint::text, d.subject_id::text," \
    " d.recipient_id::text, d.categories::text, d.purpose::text, d.basis,"                 \
    " d.ground_id::text, d.service, d.object_id::text"
#define CHECKPOINT_COLUMNS                                                               \
    "number, seq, link, disclosure_seq, disclosure_link, previous, version,"             \
    " floor (extract (epoch FROM signed_at))::bigint, public_key, signature"

//  One chained log: its statements (prepared below) and its records' field count.
typedef struct {
    const char *what;     // "record", "disclosure": for people
    const char *next;     // cursor: the log's rows behind the chain's head
    const char *head;     // the chain's newest entry
    const char *insert;   // a chain entry
    const char *entries;  // verification: entries with their rows (NULL row: deleted)
    const char *inserted; // a row in the sealed past that the chain does not hold
    const char *unsealed; // rows newer than the chain
    int fields;
} trail_t;

static const trail_t s_audit = {.what = "record",
                                .next = "kn_chain_next",
                                .head = "kn_chain_head",
                                .insert = "kn_chain_insert",
                                .entries = "kn_verify_chain",
                                .inserted = "kn_verify_inserted",
                                .unsealed = "kn_verify_unsealed",
                                .fields = 11};
static const trail_t s_disclosures = {.what = "disclosure",
                                      .next = "kn_dchain_next",
                                      .head = "kn_dchain_head",
                                      .insert = "kn_dchain_insert",
                                      .entries = "kn_verify_dchain",
                                      .inserted = "kn_verify_dinserted",
                                      .unsealed = "kn_verify_dunsealed",
                                      .fields = 10};

static const char *s_statements[][2] = {
    {"kn_chain_lock", "SELECT pg_advisory_xact_lock (hashtext ('kinnet.audit.chain'))"},
    {"kn_chain_head", "SELECT seq, link, audit_xid::text, audit_id FROM core.audit_chain"
                      " ORDER BY seq DESC LIMIT 1"},
    {"kn_chain_insert", "INSERT INTO core.audit_chain (seq, audit_id, audit_xid, link)"
                        " VALUES ($1, $2, $3::xid8, $4::bytea)"},
    {"kn_dchain_head",
     "SELECT seq, link, disclosure_xid::text, disclosure_id FROM core.disclosure_chain"
     " ORDER BY seq DESC LIMIT 1"},
    {"kn_dchain_insert",
     "INSERT INTO core.disclosure_chain (seq, disclosure_id, disclosure_xid, link)"
     " VALUES ($1, $2, $3::xid8, $4::bytea)"},
    {"kn_checkpoint_last", "SELECT " CHECKPOINT_COLUMNS
                           " FROM core.audit_checkpoint ORDER BY number DESC LIMIT 1"},
    {"kn_checkpoint_insert",
     "INSERT INTO core.audit_checkpoint (number, version, seq, link, disclosure_seq,"
     " disclosure_link, previous, signed_at, public_key, signature)"
     " VALUES ($1, 2, $2, $3::bytea, $4, $5::bytea, $6::bytea, to_timestamp ($7::bigint),"
     " $8::bytea, $9::bytea)"},
    //  Verification, in batches: the chains with their rows (NULL row: deleted).
    {"kn_verify_chain",
     "SELECT c.seq, c.link, c.audit_id, a.id IS NOT NULL, " RECORD_COLUMNS
     " FROM core.audit_chain c LEFT JOIN core.audit a ON a.id = c.audit_id"
     " WHERE c.seq > $1 ORDER BY c.seq LIMIT $2"},
    {"kn_verify_dchain",
     "SELECT c.seq, c.link, c.disclosure_id, d.id IS NOT NULL, " DISCLOSURE_COLUMNS
     " FROM core.disclosure_chain c LEFT JOIN core.disclosure d ON d.id = c.disclosure_id"
     " WHERE c.seq > $1 ORDER BY c.seq LIMIT $2"},
    {"kn_verify_checkpoints",
     "SELECT " CHECKPOINT_COLUMNS " FROM core.audit_checkpoint WHERE number > $1"
     " ORDER BY number LIMIT $2"},
    //  A row in the sealed past that the chain does not hold was put there since.
    {"kn_verify_inserted",
     "SELECT a.id FROM core.audit a WHERE (a.xid, a.id) <= ($1::xid8, $2::bigint)"
     " AND NOT EXISTS (SELECT 1 FROM core.audit_chain c WHERE c.audit_id = a.id)"
     " ORDER BY a.id LIMIT 1"},
    {"kn_verify_unsealed",
     "SELECT count (*) FROM core.audit a WHERE (a.xid, a.id) > ($1::xid8, $2::bigint)"},
    {"kn_verify_dinserted",
     "SELECT d.id FROM core.disclosure d WHERE (d.xid, d.id) <= ($1::xid8, $2::bigint)"
     " AND NOT EXISTS (SELECT 1 FROM core.disclosure_chain c WHERE c.disclosure_id = d.id)"
     " ORDER BY d.id LIMIT 1"},
    {"kn_verify_dunsealed",
     "SELECT count (*) FROM core.disclosure d WHERE (d.xid, d.id) > ($1::xid8, $2::bigint)"},
};

int
kn_audit_chain_prepare (kn_db_t *db, kn_error_t *err)
{
    //  The rows in commit order behind each chain's head (kn_cursor says why).
    if (kn_cursor_prepare (db, s_audit.next, "core.audit a", "a", RECORD_COLUMNS, err) ||
        kn_cursor_prepare (db, s_disclosures.next, "core.disclosure d", "d",
                           DISCLOSURE_COLUMNS, err))
        return -1;
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  -------------------------------------------------------------------------
//  Keys

static int
s_parse_hex (const char *text, uint8_t *out, size_t len)
{
    size_t got = 0;
    return sodium_hex2bin (out, len, text, strlen (text), NULL, &got, NULL) == 0 &&
                   got == len
               ? 0
               : -1;
}

//  The first line of the file at path as hex of len bytes. secret: refuse a file
//  that group or others may read (as ssh does), so a key that leaked is not used.
static int
s_read_hex (const char *path, uint8_t *out, size_t len, bool secret, kn_error_t *err)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && secret && fstat (fd, &st) == 0 && (st.st_mode & 077)) {
        close (fd);
        return kn_error_set (
            err, KN_E_INVALID_ARGUMENT, "key",
            "%s may be read by group or others (mode %03o): a signing key "
            "must be private to its owner (chmod 600 it)",
            path, (unsigned)(st.st_mode & 0777));
    }
    FILE *file = fd >= 0 ? fdopen (fd, "r") : NULL;
    if (fd >= 0 && !file)
        close (fd);
    char text[256] = "";
    bool read = file && fgets (text, sizeof text, file);
    if (file)
        fclose (file);
    text[strcspn (text, "\r\n")] = 0;
    bool ok = read && s_parse_hex (text, out, len) == 0;
    sodium_memzero (text, sizeof text);
    if (!ok)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "key",
                             "%s does not hold %zu hex characters", path, 2 * len);
    return 0;
}

static int
s_write_file (const char *path, const char *text, mode_t mode, kn_error_t *err)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "path",
                             "cannot create %s (it may exist already)", path);
    size_t len = strlen (text);
    bool ok = write (fd, text, len) == (ssize_t) len;
    ok = fchmod (fd, mode) == 0 && ok; // whatever the umask
    ok = fsync (fd) == 0 && ok;
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
    if (s_read_hex (path, seed, sizeof seed, true, err))
        return -1;
    crypto_sign_seed_keypair (signer->public_key, signer->secret_key, seed);
    sodium_memzero (seed, sizeof seed);
    return 0;
}

int
kn_audit_public_key_parse (const char *text_or_path, uint8_t key[KN_AUDIT_KEY_BYTES],
                           kn_error_t *err)
{
    if (text_or_path && strlen (text_or_path) == 2 * KN_AUDIT_KEY_BYTES &&
        s_parse_hex (text_or_path, key, KN_AUDIT_KEY_BYTES) == 0)
        return 0;
    return s_read_hex (text_or_path ? text_or_path : "", key, KN_AUDIT_KEY_BYTES, false,
                       err);
}

int
kn_audit_public_keys_parse (const char *list, uint8_t (*keys)[KN_AUDIT_KEY_BYTES],
                            size_t max, size_t *count, kn_error_t *err)
{
    *count = 0;
    char copy[4096];
    if (!list || strlen (list) >= sizeof copy)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                             "no list of trusted public keys, or one too long");
    snprintf (copy, sizeof copy, "%s", list);
    char *save = NULL;
    for (char *item = strtok_r (copy, ", \t\n", &save); item;
         item = strtok_r (NULL, ", \t\n", &save)) {
        if (*count == max)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, "public_key",
                                 "more than %zu trusted public keys", max);
        if (kn_audit_public_key_parse (item, keys[*count], err))
            return -1;
        (*count)++;
    }
    return 0;
}

//  -------------------------------------------------------------------------
//  Links

//  Canonical bytes of the row whose `fields` fields start at column `first`,
//  hashed after prev into link.
static void
s_link (const uint8_t prev[32], PGresult *result, int row, int first, int fields,
        uint8_t link[32])
{
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    crypto_hash_sha256_update (&state, prev, 32);
    for (int f = 0; f < fields; f++) {
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
    int64_t id;
} head_t;

static int
s_head (kn_db_t *db, const trail_t *trail, head_t *head, kn_error_t *err)
{
    memset (head, 0, sizeof *head);
    snprintf (head->xid, sizeof head->xid, "0");
    PGresult *result = kn_db_run (db, trail->head, 0, NULL, NULL, NULL, err);
    if (!result)
        return -1;
    if (PQntuples (result)) {
        head->seq = atoll (PQgetvalue (result, 0, 0));
        s_bytea (result, 0, 1, head->link, 32);
        snprintf (head->xid, sizeof head->xid, "%s", PQgetvalue (result, 0, 2));
        head->id = atoll (PQgetvalue (result, 0, 3));
    }
    PQclear (result);
    return 0;
}

//  Link up to max rows of trail behind its head; *sealed: how many.
static int
s_seal_trail (kn_db_t *db, const trail_t *trail, int max, int *sealed, kn_error_t *err)
{
    *sealed = 0;
    head_t head;
    if (max <= 0)
        return 0;
    if (s_head (db, trail, &head, err))
        return -1;
    char after[24];
    snprintf (after, sizeof after, "%lld", (long long)head.id);
    PGresult *rows = kn_cursor_next (db, trail->next, head.xid, after, max, err);
    if (!rows)
        return -1;
    int rc = 0;
    for (int row = 0; row < PQntuples (rows) && rc == 0; row++) {
        uint8_t link[32];
        s_link (head.link, rows, row, 1, trail->fields, link);
        char seq[24], link_text[70];
        snprintf (seq, sizeof seq, "%lld", (long long) (head.seq + 1));
        s_bytea_text (link_text, sizeof link_text, link, 32);
        const char *insert[] = {seq, PQgetvalue (rows, row, 1), PQgetvalue (rows, row, 0),
                                link_text};
        PGresult *done = kn_db_run (db, trail->insert, 4, insert, NULL, NULL, err);
        PQclear (done);
        if (!done)
            rc = -1;
        head.seq++;
        memcpy (head.link, link, 32);
    }
    *sealed = PQntuples (rows);
    PQclear (rows);
    return rc;
}

int
kn_audit_chain_seal (kn_db_t *db, int max, int *sealed, kn_error_t *err)
{
    *sealed = 0;
    if (kn_db_ensure (db, err) || kn_db_exec (db, "BEGIN", err))
        return -1;
    PGresult *lock = kn_db_run (db, "kn_chain_lock", 0, NULL, NULL, NULL, err);
    PQclear (lock);
    //  One budget for both logs: the audit trail first, the disclosures with the rest.
    int records = 0, disclosures = 0;
    if (!lock || s_seal_trail (db, &s_audit, max, &records, err) ||
        s_seal_trail (db, &s_disclosures, max - records, &disclosures, err) ||
        kn_db_exec (db, "COMMIT", err))
        goto fail;
    *sealed = records + disclosures;
    return 0;
fail:;
    kn_error_t ignored;
    kn_db_exec (db, "ROLLBACK", &ignored);
    return -1;
}

//  -------------------------------------------------------------------------
//  Checkpoints

typedef struct {
    int64_t number;
    int version;
    int64_t seq;
    uint8_t link[32];
    int64_t disclosure_seq; // version 2 only
    uint8_t disclosure_link[32];
    uint8_t previous[32]; // SHA-256 of the checkpoint before (zeros: none)
    int64_t signed_at;
    uint8_t public_key[32];
    uint8_t signature[64];
} checkpoint_t;

//  A row of CHECKPOINT_COLUMNS; false when a field is malformed.
static bool
s_checkpoint_read (PGresult *result, int row, checkpoint_t *c)
{
    memset (c, 0, sizeof *c);
    c->number = atoll (PQgetvalue (result, row, 0));
    c->seq = atoll (PQgetvalue (result, row, 1));
    c->version = atoi (PQgetvalue (result, row, 6));
    c->signed_at = atoll (PQgetvalue (result, row, 7));
    bool ok = s_bytea (result, row, 2, c->link, 32) &&
              s_bytea (result, row, 8, c->public_key, 32) &&
              s_bytea (result, row, 9, c->signature, 64);
    if (c->version == 2) {
        c->disclosure_seq = atoll (PQgetvalue (result, row, 3));
        ok = ok && s_bytea (result, row, 4, c->disclosure_link, 32) &&
             s_bytea (result, row, 5, c->previous, 32);
    }
    return ok && (c->version == 1 || c->version == 2);
}

static size_t
s_put64 (uint8_t *out, size_t pos, int64_t value)
{
    for (int i = 7; i >= 0; i--)
        out[pos++] = (uint8_t)((uint64_t)value >> (i * 8));
    return pos;
}

static size_t
s_put (uint8_t *out, size_t pos, const void *bytes, size_t len)
{
    memcpy (out + pos, bytes, len);
    return pos + len;
}

//  The bytes a checkpoint signs (docs/privacy.md). Version 1: domain, position,
//  link, time. Version 2 adds its number, the disclosure chain's head and the
//  hash of the checkpoint before it.
#define MESSAGE_MAX 256
static size_t
s_checkpoint_message (const checkpoint_t *c, uint8_t out[MESSAGE_MAX])
{
    size_t pos = 0;
    if (c->version == 1) {
        pos = s_put (out, pos, CHECKPOINT_DOMAIN_V1, strlen (CHECKPOINT_DOMAIN_V1));
        pos = s_put64 (out, pos, c->seq);
        pos = s_put (out, pos, c->link, 32);
        return s_put64 (out, pos, c->signed_at);
    }
    pos = s_put (out, pos, CHECKPOINT_DOMAIN_V2, strlen (CHECKPOINT_DOMAIN_V2));
    pos = s_put64 (out, pos, c->number);
    pos = s_put64 (out, pos, c->seq);
    pos = s_put (out, pos, c->link, 32);
    pos = s_put64 (out, pos, c->disclosure_seq);
    pos = s_put (out, pos, c->disclosure_link, 32);
    pos = s_put (out, pos, c->previous, 32);
    return s_put64 (out, pos, c->signed_at);
}

//  What the next checkpoint chains to, and an anchor names: SHA-256 over the
//  signed bytes, the key and the signature.
static void
s_checkpoint_hash (const checkpoint_t *c, uint8_t hash[32])
{
    uint8_t message[MESSAGE_MAX];
    size_t len = s_checkpoint_message (c, message);
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    crypto_hash_sha256_update (&state, message, len);
    crypto_hash_sha256_update (&state, c->public_key, 32);
    crypto_hash_sha256_update (&state, c->signature, 64);
    crypto_hash_sha256_final (&state, hash);
}

//  Fill in and sign checkpoint c (its number, heads and previous set) and insert it.
static int
s_checkpoint_insert (kn_db_t *db, checkpoint_t *c, const kn_audit_signer_t *signer,
                     kn_error_t *err)
{
    uint8_t message[MESSAGE_MAX];
    size_t len = s_checkpoint_message (c, message);
    crypto_sign_detached (c->signature, NULL, message, len, signer->secret_key);
    memcpy (c->public_key, signer->public_key, 32);
    char number[24], seq[24], dseq[24], at[24], link[70], dlink[70], previous[70],
        key[70], signature[134];
    snprintf (number, sizeof number, "%lld", (long long)c->number);
    snprintf (seq, sizeof seq, "%lld", (long long)c->seq);
    snprintf (dseq, sizeof dseq, "%lld", (long long)c->disclosure_seq);
    snprintf (at, sizeof at, "%lld", (long long)c->signed_at);
    s_bytea_text (link, sizeof link, c->link, 32);
    s_bytea_text (dlink, sizeof dlink, c->disclosure_link, 32);
    s_bytea_text (previous, sizeof previous, c->previous, 32);
    s_bytea_text (key, sizeof key, c->public_key, 32);
    s_bytea_text (signature, sizeof signature, c->signature, 64);
    const char *values[] = {number, seq, link, dseq, dlink, previous, at, key, signature};
    PGresult *done = kn_db_run (db, "kn_checkpoint_insert", 9, values, NULL, NULL, err);
    PQclear (done);
    return done ? 0 : -1;
}

int
kn_audit_chain_checkpoint (kn_db_t *db, const kn_audit_signer_t *signer, bool *made,
                           kn_error_t *err)
{
    *made = false;
    if (kn_db_ensure (db, err) || kn_db_exec (db, "BEGIN", err))
        return -1;
    head_t head, dhead;
    PGresult *lock = kn_db_run (db, "kn_chain_lock", 0, NULL, NULL, NULL, err);
    PQclear (lock);
    PGresult *last = lock && s_head (db, &s_audit, &head, err) == 0 &&
                             s_head (db, &s_disclosures, &dhead, err) == 0
                         ? kn_db_run (db, "kn_checkpoint_last", 0, NULL, NULL, NULL, err)
                         : NULL;
    if (!last)
        goto fail;
    checkpoint_t before = {0}, next = {0};
    bool any = PQntuples (last) > 0;
    bool readable = !any || s_checkpoint_read (last, 0, &before);
    PQclear (last);
    if (!readable) {
        kn_error_set (err, KN_E_INTERNAL, NULL,
                      "the last checkpoint is malformed: run kinnet audit verify");
        goto fail;
    }
    if (head.seq > before.seq || dhead.seq > before.disclosure_seq) {
        next.version = 2;
        next.number = before.number + 1;
        next.seq = head.seq;
        memcpy (next.link, head.link, 32);
        next.disclosure_seq = dhead.seq;
        memcpy (next.disclosure_link, dhead.link, 32);
        if (any)
            s_checkpoint_hash (&before, next.previous);
        //  When it was signed: a stamp, not a rule's clock (kn_clock.h), so real time.
        next.signed_at = (int64_t)time (NULL);
        if (s_checkpoint_insert (db, &next, signer, err))
            goto fail;
        *made = true;
    }
    sodium_memzero (&next, sizeof next);
    if (kn_db_exec (db, "COMMIT", err))
        goto fail;
    return 0;
fail:;
    kn_error_t ignored;
    kn_db_exec (db, "ROLLBACK", &ignored);
    return -1;
}

//  -------------------------------------------------------------------------
//  Verification: each chain is read forward in batches, and each checkpoint (in
//  number order, so in chain order) is checked against the link the reading has
//  reached, so memory stays a batch whatever the trail's length.

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

//  One chain, read forward. pos: the last entry checked; link: the link stored there.
typedef struct {
    const trail_t *trail;
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
    bool audit = r->trail == &s_audit;
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
    else if (!s_bytea (rows, row, 1, stored, 32))
        s_entry_broken (r, seq, id, "has a malformed link");
    else {
        uint8_t link[32];
        s_link (r->link, rows, row, 4, r->trail->fields, link);
        if (sodium_memcmp (link, stored, 32) != 0)
            s_entry_broken (r, seq, id,
                            "was changed, or the entries before it were reordered");
    }
    //  Carry on from the stored link, so one break is reported once.
    if (s_bytea (rows, row, 1, stored, 32))
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
s_check_past (kn_db_t *db, const trail_t *trail, kn_audit_verdict_t *verdict,
              int64_t *unsealed, kn_error_t *err)
{
    head_t head;
    if (s_head (db, trail, &head, err))
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
                      trail == &s_audit ? atoll (PQgetvalue (inserted, 0, 0)) : 0,
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
s_check_checkpoint (const checkpoint_t *c, int64_t number_before, int version_before,
                    const uint8_t previous[32],
                    const uint8_t (*trusted)[KN_AUDIT_KEY_BYTES], size_t n_trusted,
                    reader_t *audit, reader_t *disclosures, kn_error_t *err)
{
    kn_audit_verdict_t *verdict = audit->verdict;
    long long n = (long long)c->number;
    uint8_t message[MESSAGE_MAX];
    size_t len = s_checkpoint_message (c, message);
    bool known = false;
    for (size_t k = 0; k < n_trusted; k++)
        known |= sodium_memcmp (c->public_key, trusted[k], 32) == 0;
    if (c->number != number_before + 1)
        s_broken (verdict, 0, 0,
                  "checkpoint %lld is missing (the next is %lld): checkpoints "
                  "were removed",
                  (long long)number_before + 1, n);
    else if (!known)
        s_broken (verdict, c->seq, 0,
                  "checkpoint %lld (at %lld) is signed by a key that is not "
                  "a trusted one",
                  n, (long long)c->seq);
    else if (crypto_sign_verify_detached (c->signature, message, len, c->public_key) != 0)
        s_broken (verdict, c->seq, 0,
                  "checkpoint %lld (at %lld) has an invalid signature", n,
                  (long long)c->seq);
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
    else if (c->seq < audit->pos)
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

//  Every checkpoint, in batches; the anchor's must be among them, unchanged.
static int
s_check_checkpoints (kn_db_t *db, const uint8_t (*trusted)[KN_AUDIT_KEY_BYTES],
                     size_t n_trusted, const kn_audit_anchor_t *anchor, reader_t *audit,
                     reader_t *disclosures, kn_error_t *err)
{
    kn_audit_verdict_t *verdict = audit->verdict;
    checkpoint_t c = {0};
    uint8_t previous[32] = {0};
    int version = 0;
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
            if (!s_checkpoint_read (rows, row, &c)) {
                s_broken (verdict, c.seq, 0, "checkpoint %lld is malformed",
                          (long long)c.number);
                number = c.number;
                continue;
            }
            if (s_check_checkpoint (&c, number, version, previous, trusted, n_trusted,
                                    audit, disclosures, err)) {
                PQclear (rows);
                return -1;
            }
            s_checkpoint_hash (&c, previous);
            number = c.number;
            version = c.version;
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
kn_audit_chain_verify (kn_db_t *db, const uint8_t (*trusted)[KN_AUDIT_KEY_BYTES],
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
    reader_t audit = {.trail = &s_audit, .db = db, .verdict = verdict};
    reader_t disclosures = {.trail = &s_disclosures, .db = db, .verdict = verdict};
    int rc =
        s_check_checkpoints (db, trusted, n_trusted, anchor, &audit, &disclosures, err);
    //  The entries after the last checkpoint, then the rows after the chains.
    if (rc == 0 && s_reader_reach (&audit, INT64_MAX, err) < 0)
        rc = -1;
    if (rc == 0 && s_reader_reach (&disclosures, INT64_MAX, err) < 0)
        rc = -1;
    rc = rc ?: s_check_past (db, &s_audit, verdict, &verdict->unsealed, err);
    rc = rc
             ?: s_check_past (db, &s_disclosures, verdict, &verdict->disclosures_unsealed,
                              err);
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
        dseq < 0 || strlen (hash) != 64 || s_parse_hex (hash, anchor->hash, 32))
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
    if (s_write_file (next, text, 0644, err))
        return -1;
    if (rename (next, path)) {
        unlink (next);
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "anchor", "cannot replace %s",
                             path);
    }
    return 0;
}
