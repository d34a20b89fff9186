/*  kn_audit_trust: which checkpoint signers an auditor trusts, and when. A trusted
    key is an Ed25519 public key with an optional validity period; a checkpoint
    counts only when a trusted key whose period holds the checkpoint's own signing
    time (signed_at, covered by its signature) signed it. So a signing key can be
    rotated (the old key trusted until the switch, the new one from it) and a chain
    signed by both still verifies, while a retired key cannot vouch for anything
    signed after its period.

    The syntax, one item per key (docs/cli.md, "Trusted audit keys"):
        HEX                   64 hex characters: trusted at any time (as before)
        HEX@FROM..UNTIL       trusted for checkpoints signed at FROM or later and
                              before UNTIL; FROM and UNTIL are RFC 3339 UTC times
                              (2026-12-03T12:00:00Z); either end may be left out
        FILE                  a key file: one item per line (HEX or HEX@PERIOD),
                              blank lines and lines starting with # skipped; a
                              .pub file written by `kinnet admin auditkey create`
                              is such a file
        FILE@FROM..UNTIL      a key file whose keys carry no period of their own
    A list separates items with commas or white space. The period is what follows
    the last '@'. */
#ifndef KN_AUDIT_TRUST_H_INCLUDED
#define KN_AUDIT_TRUST_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "kn_error.h"

#define KN_AUDIT_KEY_BYTES  32
#define KN_AUDIT_TRUST_MAX  16 // trusted keys at most (lines of files included)
#define KN_AUDIT_OPEN_FROM  INT64_MIN
#define KN_AUDIT_OPEN_UNTIL INT64_MAX

typedef struct {
    uint8_t key[KN_AUDIT_KEY_BYTES];
    int64_t from;  // first second (Unix time) it may sign at; KN_AUDIT_OPEN_FROM: any
    int64_t until; // first second it may no longer sign at; KN_AUDIT_OPEN_UNTIL: none
} kn_audit_trusted_t;

//  Append the key(s) one item names to keys[*count..max). 0, or -1 with
//  KN_E_INVALID_ARGUMENT on field "public_key" naming the item and what is wrong;
//  *count is then unchanged.
int kn_audit_trust_add (const char *item, kn_audit_trusted_t *keys, size_t max,
                        size_t *count, kn_error_t *err);

//  A list of items separated by commas or white space, as kn_audit_trust_add
//  takes each. *count: how many keys. All of the list, or (-1) none of it.
int kn_audit_trust_parse (const char *list, kn_audit_trusted_t *keys, size_t max,
                          size_t *count, kn_error_t *err);

//  Whether key may sign at the time at: 1 trusted then; 0 trusted, but not at that
//  time (*outside: the first of its entries, for the message); -1 not trusted at all.
int kn_audit_trust_check (const kn_audit_trusted_t *keys, size_t count,
                          const uint8_t key[KN_AUDIT_KEY_BYTES], int64_t at,
                          const kn_audit_trusted_t **outside);

//  The time as RFC 3339 UTC ("2026-12-03T12:00:00Z"); out holds 21 bytes or more.
void kn_audit_time_text (int64_t at, char *out, size_t size);
//  The period as written ("2026-01-01T00:00:00Z..", "..", ...); 48 bytes or more.
void kn_audit_period_text (const kn_audit_trusted_t *trusted, char *out, size_t size);

#endif
