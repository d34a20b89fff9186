/*  kn_audit_chain_int: what sealing (kn_audit_chain.c) and verification
    (kn_audit_verify.c) share: the two chained logs, how a row is linked, and the
    form of a checkpoint. Not part of the library's interface. */
#ifndef KN_AUDIT_CHAIN_INT_H_INCLUDED
#define KN_AUDIT_CHAIN_INT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kn_audit_chain.h"
#include "kn_db.h"
#include "kn_error.h"

//  One chained log: its statements (prepared by kn_audit_chain_prepare) and its
//  rows' field count.
typedef struct {
    const char *what;     // "record", "disclosure": for people
    const char *next;     // cursor: the log's rows behind the chain's head
    const char *head;     // the chain's newest entry
    const char *insert;   // a chain entry
    const char *entries;  // verification: entries with their rows (NULL row: deleted)
    const char *inserted; // a row in the sealed past that the chain does not hold
    const char *unsealed; // rows newer than the chain
    int fields;
} kn_audit_trail_t;

extern const kn_audit_trail_t kn_audit_trail_records;     // core.audit
extern const kn_audit_trail_t kn_audit_trail_disclosures; // core.disclosure

//  A chain's newest entry (all zero, xid "0", for an empty chain).
typedef struct {
    int64_t seq;
    uint8_t link[32];
    char xid[24];
    int64_t id;
} kn_audit_head_t;

int kn_audit_head (kn_db_t *db, const kn_audit_trail_t *trail, kn_audit_head_t *head,
                   kn_error_t *err);

//  Canonical bytes of the row whose `fields` fields start at column `first`,
//  hashed after prev into link.
void kn_audit_link (const uint8_t prev[32], PGresult *result, int row, int first,
                    int fields, uint8_t link[32]);

//  bytea text result ("\x...") into out (len bytes); false when it is not that long.
bool kn_audit_bytea (PGresult *result, int row, int column, uint8_t *out, size_t len);

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
} kn_audit_checkpoint_t;

//  A row of number, seq, link, disclosure_seq, disclosure_link, previous, version,
//  signed_at (seconds), public_key, signature; false when a field is malformed.
bool kn_audit_checkpoint_read (PGresult *result, int row, kn_audit_checkpoint_t *c);

//  kn_audit_chain_checkpoint with the signing time given (seconds since 1970),
//  for tests that need checkpoints signed at known times.
int kn_audit_chain_checkpoint_at (kn_db_t *db, const kn_audit_signer_t *signer,
                                  int64_t signed_at, bool *made, kn_error_t *err);

//  The bytes a checkpoint signs (docs/privacy.md), and its hash.
#define KN_AUDIT_MESSAGE_MAX 256
size_t kn_audit_checkpoint_message (const kn_audit_checkpoint_t *c,
                                    uint8_t out[KN_AUDIT_MESSAGE_MAX]);
void kn_audit_checkpoint_hash (const kn_audit_checkpoint_t *c, uint8_t hash[32]);

//  text as exactly len bytes of hex: 0, or -1.
int kn_audit_parse_hex (const char *text, uint8_t *out, size_t len);

//  A new file at path (never an existing one, never through a symlink) holding
//  text, with mode whatever the umask, synced.
int kn_audit_write_file (const char *path, const char *text, mode_t mode,
                         kn_error_t *err);

#endif
