/*  kn_uuid: UUIDs from libsodium's CSPRNG. */
#include "kn_uuid.h"

#include <ctype.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void
kn_uuid_generate (char out[KN_UUID_STR])
{
    uint8_t b[16];
    randombytes_buf (b, sizeof b);
    b[6] = (uint8_t) ((b[6] & 0x0F) | 0x40);
    b[8] = (uint8_t) ((b[8] & 0x3F) | 0x80);
    snprintf (out, KN_UUID_STR,
              "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
              b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
              b[13], b[14], b[15]);
}

bool
kn_uuid_valid (const char *text)
{
    if (!text || strlen (text) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return false;
        }
        else if (!isxdigit ((unsigned char) text[i]))
            return false;
    }
    return true;
}
