/*  What the targets that read multipart messages share: the input as the frames of a
    message, each a length byte then that many bytes (a last frame cut short keeps
    what there is), at most FUZZ_MAX_FRAMES of them; and a frame read as the peers
    read text, up to its first NUL byte. Header only: ops/fuzz compiles one source a
    target. */
#ifndef FUZZ_FRAMES_H_INCLUDED
#define FUZZ_FRAMES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <czmq.h>

#define FUZZ_MAX_FRAMES 64

static inline zmsg_t *
fuzz_frames_message (const uint8_t *data, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    size_t at = 0;
    while (at < size && zmsg_size (msg) < FUZZ_MAX_FRAMES) {
        size_t len = data[at++];
        if (len > size - at)
            len = size - at;
        zmsg_addmem (msg, data + at, len);
        at += len;
    }
    return msg;
}

//  Frame index of msg, or NULL.
static inline zframe_t *
fuzz_frames_at (zmsg_t *msg, size_t index)
{
    zframe_t *frame = zmsg_first (msg);
    for (size_t i = 0; frame && i < index; i++)
        frame = zmsg_next (msg);
    return frame;
}

//  Frame index of msg, up to its first NUL byte, is text.
static inline bool
fuzz_frames_is (zmsg_t *msg, size_t index, const char *text)
{
    zframe_t *frame = fuzz_frames_at (msg, index);
    if (!frame)
        return false;
    size_t len = strnlen ((const char *) zframe_data (frame), zframe_size (frame));
    return len == strlen (text) && memcmp (zframe_data (frame), text, len) == 0;
}

#endif
