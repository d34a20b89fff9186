/*  kn_uuid: UUIDs from libsodium's CSPRNG, random (version 4) or led by the time
    (version 7). */
#include "kn_uuid.h"

#include <ctype.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void
s_format (uint8_t b[16], uint8_t version, char out[KN_UUID_STR])
{
    b[6] = (uint8_t) ((b[6] & 0x0F) | (version << 4));
    b[8] = (uint8_t) ((b[8] & 0x3F) | 0x80);
    snprintf (out, KN_UUID_STR,
              "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
              b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
              b[13], b[14], b[15]);
}

void
kn_uuid_generate (char out[KN_UUID_STR])
{
    uint8_t b[16];
    randombytes_buf (b, sizeof b);
    s_format (b, 4, out);
}

void
kn_uuid_generate_ordered (char out[KN_UUID_STR])
{
    uint8_t b[16];
    randombytes_buf (b, sizeof b);
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    uint64_t ms = (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t) (ms >> (40 - 8 * i));
    s_format (b, 7, out);
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
