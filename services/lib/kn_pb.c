/*  kn_pb: recursive walks over messages using the descriptors, on decoded
    messages and (for what decoding hides) on the wire bytes. */
#include "kn_pb.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_uuid.h"
#include "kn_alloc.h"

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

//  -------------------------------------------------------------------------
//  NULs on the wire

#define KN_PB_MAX_DEPTH 32
#define KN_PB_MAX_COUNTED 64   // fields whose repetitions are numbered in paths

static bool
s_varint (const uint8_t **p, const uint8_t *end, uint64_t *value)
{
    *value = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t byte = *(*p)++;
        *value |= (uint64_t) (byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return true;
    }
    return false;
}

static bool
s_wire_nul (const ProtobufCMessageDescriptor *descriptor, const uint8_t *p, const uint8_t *end,
            char *path, size_t size, int depth)
{
    size_t base = strlen (path);
    size_t seen[KN_PB_MAX_COUNTED] = {0};
    while (p < end) {
        uint64_t tag, n;
        if (!s_varint (&p, end, &tag))
            return false;   // not ours to judge: the decoder already accepted it
        switch (tag & 7) {
        case 0:
            if (!s_varint (&p, end, &n))
                return false;
            break;
        case 1:
            p += (size_t) (end - p) < 8 ? (size_t) (end - p) : 8;
            break;
        case 5:
            p += (size_t) (end - p) < 4 ? (size_t) (end - p) : 4;
            break;
        case 2: {
            if (!s_varint (&p, end, &n) || n > (uint64_t) (end - p))
                return false;
            const ProtobufCFieldDescriptor *field
                = protobuf_c_message_descriptor_get_field (descriptor, (unsigned) (tag >> 3));
            bool string = field && field->type == PROTOBUF_C_TYPE_STRING;
            bool message = field && field->type == PROTOBUF_C_TYPE_MESSAGE
                           && depth < KN_PB_MAX_DEPTH;
            if (string || message) {
                size_t index = (size_t) (field - descriptor->fields);
                size_t k = index < KN_PB_MAX_COUNTED ? seen[index]++ : 0;
                if (field->label == PROTOBUF_C_LABEL_REPEATED)
                    snprintf (path + base, size - base, "%s%s[%zu]", base ? "." : "",
                              field->name, k);
                else
                    snprintf (path + base, size - base, "%s%s", base ? "." : "", field->name);
                if (string && memchr (p, 0, (size_t) n))
                    return true;
                if (message
                    && s_wire_nul (field->descriptor, p, p + n, path, size, depth + 1))
                    return true;
                path[base] = '\0';
            }
            p += n;
            break;
        }
        default:
            return false;   // groups: never in Kinnet's schema
        }
    }
    return false;
}

bool
kn_pb_find_nul (const ProtobufCMessageDescriptor *descriptor, const uint8_t *data, size_t len,
                char *path, size_t size)
{
    path[0] = '\0';
    bool found = s_wire_nul (descriptor, data, data + len, path, size, 0);
    if (!found)
        path[0] = '\0';
    return found;
}

//  -------------------------------------------------------------------------
//  Canonical ids

static bool
s_id_field (const char *name)
{
    size_t len = strlen (name);
    return strcmp (name, "agencies") == 0 || strcmp (name, "consent_reference") == 0
           || (len > 3 && strcmp (name + len - 3, "_id") == 0)
           || (len > 4 && strcmp (name + len - 4, "_ids") == 0);
}

static void
s_lower_uuid (char *text)
{
    if (text && kn_uuid_valid (text))
        for (char *c = text; *c; c++)
            *c = (char) tolower ((unsigned char) *c);
}

void
kn_pb_canonical_ids (ProtobufCMessage *message)
{
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        char *member = (char *) message + field->offset;
        if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF
            && *(const uint32_t *) ((const char *) message + field->quantifier_offset)
                   != field->id)
            continue;   // a oneof member is only live when its case says so
        size_t count = 1;
        void **items = (void **) member;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            count = *(const size_t *) ((const char *) message + field->quantifier_offset);
            items = *(void ***) member;
        }
        for (size_t k = 0; k < count && items; k++) {
            if (field->type == PROTOBUF_C_TYPE_STRING && s_id_field (field->name))
                s_lower_uuid ((char *) items[k]);
            else if (field->type == PROTOBUF_C_TYPE_MESSAGE && items[k])
                kn_pb_canonical_ids ((ProtobufCMessage *) items[k]);
        }
    }
}

Kinnet__V1__Timestamp *
kn_pb_timestamp (int64_t seconds)
{
    if (seconds <= 0)
        return NULL;
    Kinnet__V1__Timestamp *ts = kn_malloc (sizeof *ts);
    kinnet__v1__timestamp__init (ts);
    ts->seconds = seconds;
    return ts;
}

char *
kn_pb_string (const char *text)
{
    return kn_strdup (text ? text : "");
}
