/*  Fuzz target: what a client (kn_client, the CLI, an agency's integration) reads back
    from the broker: a message off the frontend (kn_client_reply_frames, for a call to
    "intake"), then its body decoded as each Kinnet reply (kn_client_reply_decode).
    The input is the frames (fuzz_frames.h). A body is taken exactly when the frames
    say it is a reply from the service called; a decoded reply carries no Error, a
    refused one leaves a code and a terminated message and field. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_frames.h"
#include "kinnet/v1/admin.pb-c.h"
#include "kinnet/v1/consent.pb-c.h"
#include "kinnet/v1/intake.pb-c.h"
#include "kinnet/v1/reporting.pb-c.h"
#include "kinnet/v1/routing.pb-c.h"
#include "kn_client.h"
#include "kn_mdp.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *s_replies[] = {
    &kinnet__v1__error_reply__descriptor,   &kinnet__v1__intake_reply__descriptor,
    &kinnet__v1__consent_reply__descriptor, &kinnet__v1__routing_reply__descriptor,
    &kinnet__v1__feed_reply__descriptor,    &kinnet__v1__admin_reply__descriptor,
    &kinnet__v1__reporting_reply__descriptor,
};

static void
s_decode (const ProtobufCMessageDescriptor *reply_type, zframe_t *body)
{
    kn_error_t err;
    kn_error_clear (&err);
    ProtobufCMessage *reply = kn_client_reply_decode (reply_type, zframe_data (body),
                                                      zframe_size (body), &err);
    if (!reply) {
        if (err.code == KN_OK
            || strnlen (err.message, sizeof err.message) == sizeof err.message
            || strnlen (err.field, sizeof err.field) == sizeof err.field)
            __builtin_trap ();
        kn_code_name (err.code);
        return;
    }
    //  Field 1 of every reply is its Error: a reply handed back has none.
    const ProtobufCFieldDescriptor *field
        = protobuf_c_message_descriptor_get_field (reply_type, 1);
    if (!field || *(void *const *) ((const char *) reply + field->offset))
        __builtin_trap ();
    uint8_t *packed = malloc (protobuf_c_message_get_packed_size (reply) + 1);
    protobuf_c_message_pack (reply, packed);
    free (packed);
    protobuf_c_message_free_unpacked (reply, NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zmsg_t *msg = fuzz_frames_message (data, size);
    bool reply = fuzz_frames_is (msg, 0, "") && fuzz_frames_is (msg, 1, KN_MDPC)
                 && fuzz_frames_is (msg, 2, "intake") && zmsg_size (msg) >= 4;
    zframe_t *expected = reply ? zframe_dup (fuzz_frames_at (msg, 3)) : NULL;
    zframe_t *body = kn_client_reply_frames (&msg, "intake");
    if (msg || !body != !reply || (body && !zframe_eq (body, expected)))
        __builtin_trap ();
    if (body)
        for (size_t i = 0; i < sizeof s_replies / sizeof s_replies[0]; i++)
            s_decode (s_replies[i], body);
    zframe_destroy (&body);
    zframe_destroy (&expected);
    return 0;
}
