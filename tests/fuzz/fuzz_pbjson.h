/*  What the targets that read a JSON file the CLI turns into a request share: the
    input parsed as JSON, then the same text decoded into each message the file can
    hold (kn_pbjson_decode), checked by that message's validator at a fixed time, and
    encoded back to JSON. Header only: ops/fuzz compiles one source a target. */
#ifndef FUZZ_PBJSON_H_INCLUDED
#define FUZZ_PBJSON_H_INCLUDED

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kn_pbjson.h"

typedef int (fuzz_pbjson_validate_fn) (const ProtobufCMessage *message, time_t now,
                                       kn_error_t *err);

typedef struct {
    const ProtobufCMessageDescriptor *descriptor;
    fuzz_pbjson_validate_fn *validate;
} fuzz_pbjson_t;

static inline void
fuzz_pbjson_try (json_t *json, const fuzz_pbjson_t *as)
{
    kn_error_t err;
    ProtobufCMessage *message = kn_pbjson_decode (as->descriptor, json, &err);
    if (!message)
        return;
    as->validate (message, (time_t) 1795348800, &err);
    json_t *back = kn_pbjson_encode (message);
    json_decref (back);
    protobuf_c_message_free_unpacked (message, NULL);
}

//  The input tried as each of count messages; always 0 (libFuzzer's "keep going").
static inline int
fuzz_pbjson_run (const uint8_t *data, size_t size, const fuzz_pbjson_t *messages,
                 size_t count)
{
    json_error_t error;
    json_t *json = json_loadb ((const char *) data, size, 0, &error);
    if (!json)
        return 0;
    for (size_t i = 0; i < count; i++)
        fuzz_pbjson_try (json, &messages[i]);
    json_decref (json);
    return 0;
}

#endif
