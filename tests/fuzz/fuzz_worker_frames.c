/*  Fuzz target: what every service's worker reads from the broker: a message off the
    backend (kn_worker_frames), then, for a request, the broker's Caller frame
    (kn_service_caller). The input is the frames (fuzz_frames.h). The command is
    checked against the frames read independently here; a request hands back the
    client's address and exactly the frames after it (and after its empty frame); a
    Caller accepted names a canonical agency id. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_frames.h"
#include "kn_mdp.h"
#include "kn_service.h"
#include "kn_worker.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  The command the frames carry, or -1: [empty][MDPW01][one byte].
static int
s_command (zmsg_t *msg)
{
    zframe_t *command = fuzz_frames_at (msg, 2);
    if (!fuzz_frames_is (msg, 0, "") || !fuzz_frames_is (msg, 1, KN_MDPW) || !command
        || zframe_size (command) != 1)
        return -1;
    return zframe_data (command)[0];
}

static void
s_request (zmsg_t *msg)
{
    char agency_id[KN_UUID_STR];
    kn_error_t err;
    if (kn_service_caller (msg, agency_id, &err) == 0) {
        if (!kn_uuid_valid (agency_id))
            __builtin_trap ();
    }
    else if (err.code != KN_E_UNAUTHENTICATED)
        __builtin_trap ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zmsg_t *msg = fuzz_frames_message (data, size);
    size_t frames_in = zmsg_size (msg);
    int expected = s_command (msg);
    zframe_t *address = frames_in > 3 ? zframe_dup (fuzz_frames_at (msg, 3)) : NULL;
    zframe_t *after = fuzz_frames_at (msg, 4);
    size_t body_frames = frames_in < 5 ? 0 : frames_in - 4 - (zframe_size (after) == 0);
    if (expected == KN_MDPW_REQUEST && frames_in < 5)
        expected = -1;

    zframe_t *reply_to = NULL;
    int command = kn_worker_frames (msg, &reply_to);
    if (command != expected || !reply_to != (command != KN_MDPW_REQUEST))
        __builtin_trap ();
    if (command == KN_MDPW_REQUEST) {
        if (!zframe_eq (reply_to, address) || zmsg_size (msg) != body_frames)
            __builtin_trap ();
        s_request (msg);
    }
    zframe_destroy (&reply_to);
    zframe_destroy (&address);
    zmsg_destroy (&msg);
    return 0;
}
