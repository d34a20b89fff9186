/*  kn_uuid: random (version 4) UUIDs in canonical text form, and their validation. */
#ifndef KN_UUID_H_INCLUDED
#define KN_UUID_H_INCLUDED

#include <stdbool.h>

#define KN_UUID_STR 37   // 36 characters and the terminator

void kn_uuid_generate (char out[KN_UUID_STR]);

//  True for 8-4-4-4-12 hexadecimal digits (either case).
bool kn_uuid_valid (const char *text);

#endif
