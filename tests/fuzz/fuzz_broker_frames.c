/*  Fuzz target: a multipart message as the broker receives it from a client and from
    a worker (the peer address already taken off), read by broker_frames_client,
    broker_frames_client_service and broker_frames_worker. The input is the frames
    (fuzz_frames.h: each a length byte then its bytes, at most 64); the same frames go
    to all three readers. Every verdict is checked against what the frames say, read
    independently here. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "broker_frames.h"
#include "fuzz_frames.h"
#include "kn_mdp.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
s_client (const uint8_t *data, size_t size)
{
    zmsg_t *msg = fuzz_frames_message (data, size);
    size_t frames_in = zmsg_size (msg);
    bool envelope = fuzz_frames_is (msg, 0, "") && fuzz_frames_is (msg, 1, KN_MDPC);
    char *named = broker_frames_client_service (msg);
    if (!named || zmsg_size (msg) != frames_in)
        __builtin_trap ();   //  peeking takes nothing off
    broker_client_frames_t frames;
    broker_frames_client (msg, &frames);
    if ((frames.verdict != BROKER_CLIENT_DROP) != envelope)
        __builtin_trap ();
    if (frames.body_frames != zmsg_size (msg))
        __builtin_trap ();
    if (frames.verdict == BROKER_CLIENT_REQUEST || frames.verdict == BROKER_CLIENT_MMI) {
        size_t len = strlen (frames.service);
        if (len == 0 || len > BROKER_MAX_SERVICE_NAME || frames.body_frames == 0
            || (strncmp (frames.service, "mmi.", 4) == 0)
                   != (frames.verdict == BROKER_CLIENT_MMI)
            || strcmp (named, frames.service) != 0)
            __builtin_trap ();
    }
    if (frames.verdict == BROKER_CLIENT_NO_SERVICE && (frames.service || frames_in != 2))
        __builtin_trap ();
    broker_frames_client_free (&frames);
    free (named);
    zmsg_destroy (&msg);
}

static void
s_worker (const uint8_t *data, size_t size)
{
    zmsg_t *msg = fuzz_frames_message (data, size);
    bool envelope = fuzz_frames_is (msg, 0, "") && fuzz_frames_is (msg, 1, KN_MDPW);
    broker_worker_frames_t frames;
    broker_frames_worker (msg, &frames);
    if (frames.valid && (!envelope || frames.command < 0 || frames.command > 255))
        __builtin_trap ();
    if (frames.service_ok
        && (frames.command != KN_MDPW_READY || !*frames.service
            || strlen (frames.service) > BROKER_MAX_SERVICE_NAME))
        __builtin_trap ();
    if (frames.deliverable
        && (frames.command != KN_MDPW_REPLY || !frames.client || zmsg_size (msg) == 0))
        __builtin_trap ();
    broker_frames_worker_free (&frames);
    zmsg_destroy (&msg);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_client (data, size);
    s_worker (data, size);
    return 0;
}
