/*  kn_pb: a recursive walk over sub-messages using the descriptors. */
#include "kn_pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
s_walk (const ProtobufCMessage *message, char *path, size_t size, uint32_t *number)
{
    if (message->n_unknown_fields > 0) {
        *number = message->unknown_fields[0].tag;
        return true;
    }
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    size_t base = strlen (path);
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        if (field->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *member = (const char *) message + field->offset;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(const size_t *) ((const char *) message + field->quantifier_offset);
            ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *) member;
            for (size_t k = 0; k < count; k++) {
                snprintf (path + base, size - base, "%s%s[%zu]", base ? "." : "",
                          field->name, k);
                if (items[k] && s_walk (items[k], path, size, number))
                    return true;
            }
        }
        else {
            const ProtobufCMessage *child = *(ProtobufCMessage *const *) member;
            //  A oneof member is only live when its case says so.
            if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                uint32_t which
                    = *(const uint32_t *) ((const char *) message + field->quantifier_offset);
                if (which != field->id)
                    continue;
            }
            snprintf (path + base, size - base, "%s%s", base ? "." : "", field->name);
            if (child && s_walk (child, path, size, number))
                return true;
        }
        path[base] = '\0';
    }
    return false;
}

bool
kn_pb_find_unknown (const ProtobufCMessage *message, char *path, size_t size,
                    uint32_t *number)
{
    path[0] = '\0';
    return s_walk (message, path, size, number);
}

Kinnet__V1__Timestamp *
kn_pb_timestamp (int64_t seconds)
{
    if (seconds <= 0)
        return NULL;
    Kinnet__V1__Timestamp *ts = malloc (sizeof *ts);
    kinnet__v1__timestamp__init (ts);
    ts->seconds = seconds;
    return ts;
}

char *
kn_pb_string (const char *text)
{
    return strdup (text ? text : "");
}
