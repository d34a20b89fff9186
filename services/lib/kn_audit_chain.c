/*  kn_audit_chain: keys; seal the audit trail and the disclosure log into hash
    chains; sign chained checkpoints. Verification: kn_audit_verify.c. */
#include "kn_audit_chain.h"
#include "kn_audit_chain_int.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kn_cursor.h"
#include "kn_log.h"

#define CHECKPOINT_DOMAIN_V1 "kinnet.audit.checkpoint.v1"
#define CHECKPOINT_DOMAIN_V2 "kinnet.audit.checkpoint.v2"

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

//  A chained log's statements are named alike: the disclosure log's with a "d"
//  where the audit trail's have none (kn_chain_head, kn_dchain_head).
#define TRAIL(what_, d, fields_)                                                   \
    {.what = what_, .next = "kn_" d "chain_next", .head = "kn_" d "chain_head",    \
     .insert = "kn_" d "chain_insert", .entries = "kn_verify_" d "chain",          \
     .inserted = "kn_verify_" d "inserted", .unsealed = "kn_verify_" d "unsealed", \
     .fields = fields_}
const kn_audit_trail_t kn_audit_trail_records = TRAIL ("record", "", 11);
const kn_audit_trail_t kn_audit_trail_disclosures = TRAIL ("disclosure", "d", 10);
#undef TRAIL

static const char *s_statements[][2] = {
    {"kn_chain_lock", "SELECT pg_advisory_xact_lock (hashtext ('kinnet.audit.chain'))"},
    //  A chain's head: its newest entry, or, when a prune removed every entry, the
    //  last one pruned (migration 0036), so sealing goes on from there.
    {"kn_chain_head",
     "SELECT seq, link, xid::text, id FROM (SELECT seq, link, audit_xid AS xid,"
     " audit_id AS id FROM core.audit_chain UNION ALL SELECT seq, link, xid, last_id"
     " FROM core.audit_prune WHERE chain = 'audit') h ORDER BY seq DESC LIMIT 1"},
    {"kn_chain_insert", "INSERT INTO core.audit_chain (seq, audit_id, audit_xid, link)"
                        " VALUES ($1, $2, $3::xid8, $4::bytea)"},
    {"kn_dchain_head",
     "SELECT seq, link, xid::text, id FROM (SELECT seq, link, disclosure_xid AS xid,"
     " disclosure_id AS id FROM core.disclosure_chain UNION ALL SELECT seq, link, xid,"
     " last_id FROM core.audit_prune WHERE chain = 'disclosure') h"
     " ORDER BY seq DESC LIMIT 1"},
    {"kn_dchain_insert",
     "INSERT INTO core.disclosure_chain (seq, disclosure_id, disclosure_xid, link)"
     " VALUES ($1, $2, $3::xid8, $4::bytea)"},
    {"kn_checkpoint_last", "SELECT " CHECKPOINT_COLUMNS
                           " FROM core.audit_checkpoint ORDER BY number DESC LIMIT 1"},
    //  Who signed which checkpoints: a rotation's periods are written from it.
    {"kn_checkpoint_signers",
     "SELECT public_key, count (*), min (number), max (number),"
     " floor (extract (epoch FROM min (signed_at)))::bigint,"
     " floor (extract (epoch FROM max (signed_at)))::bigint"
     " FROM core.audit_checkpoint GROUP BY public_key ORDER BY min (number) LIMIT $1"},
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
    //  Every prune step with the checkpoint it names (NULL columns: none such).
    {"kn_verify_prunes",
     "SELECT p.chain = 'disclosure', p.checkpoint, p.seq, p.removed,"
     " floor (extract (epoch FROM p.moment))::bigint,"
     " floor (extract (epoch FROM p.at))::bigint, c.version,"
     " CASE p.chain WHEN 'audit' THEN c.seq ELSE c.disclosure_seq END,"
     " CASE p.chain WHEN 'audit' THEN c.link ELSE c.disclosure_link END,"
     " floor (extract (epoch FROM c.signed_at))::bigint, p.id"
     " FROM core.audit_prune p LEFT JOIN core.audit_checkpoint c ON c.number = p.checkpoint"
     " WHERE p.id > $1 ORDER BY p.id LIMIT $2"},
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
    if (kn_cursor_prepare (db, kn_audit_trail_records.next, "core.audit a", "a",
                           RECORD_COLUMNS, err) ||
        kn_cursor_prepare (db, kn_audit_trail_disclosures.next, "core.disclosure d", "d",
                           DISCLOSURE_COLUMNS, err))
        return -1;
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  -------------------------------------------------------------------------
//  Keys

int
kn_audit_parse_hex (const char *text, uint8_t *out, size_t len)
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
    bool ok = read && kn_audit_parse_hex (text, out, len) == 0;
    sodium_memzero (text, sizeof text);
    if (!ok)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "key",
                             "%s does not hold %zu hex characters", path, 2 * len);
    return 0;
}

int
kn_audit_write_file (const char *path, const char *text, mode_t mode, kn_error_t *err)
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
    int rc = kn_audit_write_file (path, seed_hex, 0600, err)
                 ?: kn_audit_write_file (pub_path, pub_text, 0644, err);
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

//  -------------------------------------------------------------------------
//  Links

//  Canonical bytes of the row whose `fields` fields start at column `first`,
//  hashed after prev into link.
void
kn_audit_link (const uint8_t prev[32], PGresult *result, int row, int first, int fields,
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
bool
kn_audit_bytea (PGresult *result, int row, int column, uint8_t *out, size_t len)
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

int
kn_audit_head (kn_db_t *db, const kn_audit_trail_t *trail, kn_audit_head_t *head,
               kn_error_t *err)
{
    memset (head, 0, sizeof *head);
    snprintf (head->xid, sizeof head->xid, "0");
    PGresult *result = kn_db_run (db, trail->head, 0, NULL, NULL, NULL, err);
    if (!result)
        return -1;
    if (PQntuples (result)) {
        head->seq = atoll (PQgetvalue (result, 0, 0));
        kn_audit_bytea (result, 0, 1, head->link, 32);
        snprintf (head->xid, sizeof head->xid, "%s", PQgetvalue (result, 0, 2));
        head->id = atoll (PQgetvalue (result, 0, 3));
    }
    PQclear (result);
    return 0;
}

//  Link up to max rows of trail behind its head; *sealed: how many.
static int
s_seal_trail (kn_db_t *db, const kn_audit_trail_t *trail, int max, int *sealed,
              kn_error_t *err)
{
    *sealed = 0;
    kn_audit_head_t head;
    if (max <= 0)
        return 0;
    if (kn_audit_head (db, trail, &head, err))
        return -1;
    char after[24];
    snprintf (after, sizeof after, "%lld", (long long)head.id);
    PGresult *rows = kn_cursor_next (db, trail->next, head.xid, after, max, err);
    if (!rows)
        return -1;
    int rc = 0;
    for (int row = 0; row < PQntuples (rows) && rc == 0; row++) {
        uint8_t link[32];
        kn_audit_link (head.link, rows, row, 1, trail->fields, link);
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
    if (!lock || s_seal_trail (db, &kn_audit_trail_records, max, &records, err) ||
        s_seal_trail (db, &kn_audit_trail_disclosures, max - records, &disclosures,
                      err) ||
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

//  A row of CHECKPOINT_COLUMNS; false when a field is malformed.
bool
kn_audit_checkpoint_read (PGresult *result, int row, kn_audit_checkpoint_t *c)
{
    memset (c, 0, sizeof *c);
    c->number = atoll (PQgetvalue (result, row, 0));
    c->seq = atoll (PQgetvalue (result, row, 1));
    c->version = atoi (PQgetvalue (result, row, 6));
    c->signed_at = atoll (PQgetvalue (result, row, 7));
    bool ok = kn_audit_bytea (result, row, 2, c->link, 32) &&
              kn_audit_bytea (result, row, 8, c->public_key, 32) &&
              kn_audit_bytea (result, row, 9, c->signature, 64);
    if (c->version == 2) {
        c->disclosure_seq = atoll (PQgetvalue (result, row, 3));
        ok = ok && kn_audit_bytea (result, row, 4, c->disclosure_link, 32) &&
             kn_audit_bytea (result, row, 5, c->previous, 32);
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
size_t
kn_audit_checkpoint_message (const kn_audit_checkpoint_t *c,
                             uint8_t out[KN_AUDIT_MESSAGE_MAX])
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
void
kn_audit_checkpoint_hash (const kn_audit_checkpoint_t *c, uint8_t hash[32])
{
    uint8_t message[KN_AUDIT_MESSAGE_MAX];
    size_t len = kn_audit_checkpoint_message (c, message);
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    crypto_hash_sha256_update (&state, message, len);
    crypto_hash_sha256_update (&state, c->public_key, 32);
    crypto_hash_sha256_update (&state, c->signature, 64);
    crypto_hash_sha256_final (&state, hash);
}

//  Fill in and sign checkpoint c (its number, heads and previous set) and insert it.
static int
s_checkpoint_insert (kn_db_t *db, kn_audit_checkpoint_t *c,
                     const kn_audit_signer_t *signer, kn_error_t *err)
{
    uint8_t message[KN_AUDIT_MESSAGE_MAX];
    size_t len = kn_audit_checkpoint_message (c, message);
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
    //  When it was signed: a stamp, not a rule's clock (kn_clock.h), so real time.
    //  Verification trusts a key only for checkpoints stamped inside its period.
    return kn_audit_chain_checkpoint_at (db, signer, (int64_t)time (NULL), made, err);
}

int
kn_audit_chain_checkpoint_at (kn_db_t *db, const kn_audit_signer_t *signer,
                              int64_t signed_at, bool *made, kn_error_t *err)
{
    *made = false;
    if (kn_db_ensure (db, err) || kn_db_exec (db, "BEGIN", err))
        return -1;
    kn_audit_head_t head, dhead;
    PGresult *lock = kn_db_run (db, "kn_chain_lock", 0, NULL, NULL, NULL, err);
    PQclear (lock);
    PGresult *last =
        lock && kn_audit_head (db, &kn_audit_trail_records, &head, err) == 0 &&
                kn_audit_head (db, &kn_audit_trail_disclosures, &dhead, err) == 0
            ? kn_db_run (db, "kn_checkpoint_last", 0, NULL, NULL, NULL, err)
            : NULL;
    if (!last)
        goto fail;
    kn_audit_checkpoint_t before = {0}, next = {0};
    bool any = PQntuples (last) > 0;
    bool readable = !any || kn_audit_checkpoint_read (last, 0, &before);
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
            kn_audit_checkpoint_hash (&before, next.previous);
        next.signed_at = signed_at;
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

int
kn_audit_chain_signers (kn_db_t *db, kn_audit_signer_use_t *signers, size_t max,
                        size_t *count, kn_error_t *err)
{
    *count = 0;
    char limit[24];
    snprintf (limit, sizeof limit, "%zu", max);
    const char *values[] = {limit};
    PGresult *result = kn_db_ensure (db, err) ? NULL
                                               : kn_db_run (db, "kn_checkpoint_signers", 1,
                                                            values, NULL, NULL, err);
    if (!result)
        return -1;
    for (int row = 0; row < PQntuples (result) && *count < max; row++) {
        kn_audit_signer_use_t *use = &signers[*count];
        if (!kn_audit_bytea (result, row, 0, use->public_key, KN_AUDIT_KEY_BYTES))
            continue; // a malformed key: verify names it
        use->checkpoints = atoll (PQgetvalue (result, row, 1));
        use->first_number = atoll (PQgetvalue (result, row, 2));
        use->last_number = atoll (PQgetvalue (result, row, 3));
        use->first_signed_at = atoll (PQgetvalue (result, row, 4));
        use->last_signed_at = atoll (PQgetvalue (result, row, 5));
        (*count)++;
    }
    PQclear (result);
    return 0;
}
