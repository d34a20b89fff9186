/*  kn_uuid: UUIDs in canonical text form, and their validation. */
#ifndef KN_UUID_H_INCLUDED
#define KN_UUID_H_INCLUDED

#include <stdbool.h>

#define KN_UUID_STR 37   // 36 characters and the terminator

//  Random (version 4): nothing about it but that it is unique. For the pseudonyms
//  of people (subjects, families) and anything else whose creation time is nobody's
//  business.
void kn_uuid_generate (char out[KN_UUID_STR]);

//  Version 7 (RFC 9562): the Unix time in milliseconds, then 74 random bits. Ids
//  made one after another sort together, so a primary key's B-tree takes each new
//  row at its right edge instead of on a random page: what keeps inserts cheap when
//  a table holds millions of rows (docs/performance.md). For records whose creation
//  time is stored next to them anyway: referrals, cases, needs, offers, consents.
void kn_uuid_generate_ordered (char out[KN_UUID_STR]);

//  True for 8-4-4-4-12 hexadecimal digits (either case).
bool kn_uuid_valid (const char *text);

#endif
