/*  kn_pbjson: protobuf-c messages to and from JSON, driven by the message descriptor.
    The one idea: decode writes straight into a message that protobuf-c can free, and
    stores a value only once it is complete and owned. So whatever fails, at whatever
    depth, protobuf_c_message_free_unpacked on the top message releases exactly what
    was built: a repeated count grows one finished element at a time, and a oneof case
    is set only after its member is stored. */
#include "kn_pbjson.h"

#include <assert.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMBER(message, offset)  ((void *)((char *)(message) + (offset)))
#define CMEMBER(message, offset) ((const void *)((const char *)(message) + (offset)))

//  Path of the field being decoded, for the error: "guardians[0].relationship".
typedef struct {
    char text[sizeof ((kn_error_t *)0)->field];
    size_t len;
} path_t;

static void s_path_append (path_t *path, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_path_append (path_t *path, const char *fmt, ...)
{
    size_t room = sizeof path->text - path->len;
    va_list args;
    va_start (args, fmt);
    int written = vsnprintf (path->text + path->len, room, fmt, args);
    va_end (args);
    if (written < 0)
        path->text[path->len] = '\0';
    else if ((size_t)written >= room)
        path->len = sizeof path->text - 1; // truncated, still a useful prefix
    else
        path->len += (size_t)written;
}

//  Each push returns the mark to hand back to s_path_pop.
static size_t
s_path_push_name (path_t *path, const char *name)
{
    size_t mark = path->len;
    s_path_append (path, "%s%s", mark ? "." : "", name);
    return mark;
}

static size_t
s_path_push_index (path_t *path, size_t index)
{
    size_t mark = path->len;
    s_path_append (path, "[%zu]", index);
    return mark;
}

static void
s_path_pop (path_t *path, size_t mark)
{
    path->len = mark;
    path->text[mark] = '\0';
}

static int
s_invalid (kn_error_t *err, const path_t *path, const char *reason)
{
    return kn_error_set (err, KN_E_INVALID_ARGUMENT, path->text, "%s", reason);
}

static int
s_out_of_memory (kn_error_t *err, const path_t *path)
{
    return kn_error_set (err, KN_E_INTERNAL, path->text, "out of memory");
}

//  Size of one element of a repeated field's array, as protobuf-c lays it out.
static size_t
s_element_size (ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof (protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof (void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof (ProtobufCBinaryData);
    }
    return 0;
}

static char
s_ascii_lower (char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

//  Does the JSON string (which may hold NULs) spell literal exactly?
static bool
s_string_is (const json_t *json, const char *literal)
{
    return json_string_length (json) == strlen (literal) &&
           memcmp (json_string_value (json), literal, strlen (literal)) == 0;
}

//  Optional '-', then digits, and nothing else: no spaces, no '+', no NUL.
static bool
s_is_decimal (const json_t *json, bool allow_minus)
{
    const char *text = json_string_value (json);
    size_t len = json_string_length (json);
    size_t start = allow_minus && len > 0 && text[0] == '-' ? 1 : 0;
    if (len == start)
        return false;
    for (size_t index = start; index < len; index++)
        if (text[index] < '0' || text[index] > '9')
            return false;
    return true;
}

// --------------------------------------------------------------------------------
//  Decoding

static int s_decode_message (ProtobufCMessage *message, const json_t *json, path_t *path,
                             kn_error_t *err);

static ProtobufCMessage *
s_message_new (const ProtobufCMessageDescriptor *descriptor)
{
    assert (descriptor && descriptor->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
    ProtobufCMessage *message = malloc (descriptor->sizeof_message);
    if (message)
        protobuf_c_message_init (descriptor, message);
    return message;
}

//  A linear scan rather than protobuf_c_message_descriptor_get_field_by_name, which
//  has no index to search when a .proto says optimize_for = CODE_SIZE.
static const ProtobufCFieldDescriptor *
s_field_by_name (const ProtobufCMessageDescriptor *descriptor, const char *name,
                 size_t name_len)
{
    if (strlen (name) != name_len)
        return NULL; // a key with a NUL in it names no field
    for (unsigned index = 0; index < descriptor->n_fields; index++)
        if (strcmp (descriptor->fields[index].name, name) == 0)
            return &descriptor->fields[index];
    return NULL;
}

//  A JSON integer (or, if allow_string, a decimal string) within [min, max].
static int
s_decode_signed (const json_t *json, int64_t min, int64_t max, bool allow_string,
                 int64_t *value, const path_t *path, kn_error_t *err)
{
    if (json_is_integer (json))
        *value = json_integer_value (json);
    else if (allow_string && json_is_string (json) && s_is_decimal (json, true)) {
        errno = 0;
        long long parsed = strtoll (json_string_value (json), NULL, 10);
        if (errno == ERANGE)
            return s_invalid (err, path, "integer out of range");
        *value = parsed;
    } else
        return s_invalid (err, path,
                          allow_string ? "expected an integer or a decimal string"
                                       : "expected an integer");
    if (*value < min || *value > max)
        return s_invalid (err, path, "integer out of range");
    return 0;
}

static int
s_decode_unsigned (const json_t *json, uint64_t max, bool allow_string, uint64_t *value,
                   const path_t *path, kn_error_t *err)
{
    if (json_is_integer (json)) {
        json_int_t number = json_integer_value (json);
        if (number < 0)
            return s_invalid (err, path, "integer out of range");
        *value = (uint64_t)number;
    } else if (allow_string && json_is_string (json) && s_is_decimal (json, false)) {
        errno = 0;
        unsigned long long parsed = strtoull (json_string_value (json), NULL, 10);
        if (errno == ERANGE)
            return s_invalid (err, path, "integer out of range");
        *value = parsed;
    } else
        return s_invalid (err, path,
                          allow_string ? "expected an integer or a decimal string"
                                       : "expected an integer");
    if (*value > max)
        return s_invalid (err, path, "integer out of range");
    return 0;
}

static int
s_decode_real (const json_t *json, double *value, const path_t *path, kn_error_t *err)
{
    if (json_is_number (json))
        *value = json_number_value (json);
    else if (json_is_string (json) && s_string_is (json, "NaN"))
        *value = NAN;
    else if (json_is_string (json) && s_string_is (json, "Infinity"))
        *value = INFINITY;
    else if (json_is_string (json) && s_string_is (json, "-Infinity"))
        *value = -INFINITY;
    else
        return s_invalid (err, path,
                          "expected a number, \"NaN\", \"Infinity\" or \"-Infinity\"");
    return 0;
}

//  Enum value names are matched ignoring ASCII case; integers are taken as they are
//  (proto3 enums are open), within int32.
static int
s_decode_enum (const ProtobufCEnumDescriptor *descriptor, const json_t *json, int *value,
               const path_t *path, kn_error_t *err)
{
    if (json_is_integer (json)) {
        int64_t number = 0;
        if (s_decode_signed (json, INT32_MIN, INT32_MAX, false, &number, path, err))
            return -1;
        *value = (int)number;
        return 0;
    }
    if (!json_is_string (json))
        return s_invalid (err, path, "expected an enum value name or an integer");
    const char *name = json_string_value (json);
    size_t name_len = json_string_length (json);
    for (unsigned index = 0; index < descriptor->n_values; index++) {
        const char *candidate = descriptor->values[index].name;
        if (strlen (candidate) != name_len)
            continue;
        size_t at = 0;
        while (at < name_len && s_ascii_lower (candidate[at]) == s_ascii_lower (name[at]))
            at++;
        if (at == name_len) {
            *value = descriptor->values[index].value;
            return 0;
        }
    }
    return kn_error_set (err, KN_E_INVALID_ARGUMENT, path->text, "unknown value for %s",
                         descriptor->name);
}

static int
s_decode_string (const json_t *json, char **value, const path_t *path, kn_error_t *err)
{
    if (!json_is_string (json))
        return s_invalid (err, path, "expected a string");
    const char *text = json_string_value (json);
    size_t len = json_string_length (json);
    if (memchr (text, '\0', len))
        return s_invalid (err, path, "string holds a NUL character");
    char *copy = malloc (len + 1);
    if (!copy)
        return s_out_of_memory (err, path);
    memcpy (copy, text, len + 1);
    *value = copy;
    return 0;
}

static int
s_decode_bytes (const json_t *json, ProtobufCBinaryData *value, const path_t *path,
                kn_error_t *err)
{
    if (!json_is_string (json))
        return s_invalid (err, path, "expected a base64 string");
    const char *text = json_string_value (json);
    size_t len = json_string_length (json);
    size_t room = len / 4 * 3 + 3; // never 0, so never malloc (0)
    uint8_t *data = malloc (room);
    if (!data)
        return s_out_of_memory (err, path);
    size_t data_len = 0;
    //  With no b64_end, libsodium fails unless the whole string is valid base64
    if (sodium_base642bin (data, room, text, len, NULL, &data_len, NULL,
                           sodium_base64_VARIANT_ORIGINAL) != 0) {
        free (data);
        return s_invalid (err, path, "not valid base64");
    }
    if (data_len == 0) {
        free (data);
        data = NULL;
    }
    value->len = data_len;
    value->data = data;
    return 0;
}

static int
s_decode_submessage (const ProtobufCMessageDescriptor *descriptor, const json_t *json,
                     ProtobufCMessage **value, path_t *path, kn_error_t *err)
{
    if (!json_is_object (json))
        return s_invalid (err, path, "expected an object");
    ProtobufCMessage *message = s_message_new (descriptor);
    if (!message)
        return s_out_of_memory (err, path);
    if (s_decode_message (message, json, path, err)) {
        protobuf_c_message_free_unpacked (message, NULL);
        return -1;
    }
    *value = message;
    return 0;
}

//  Decode one value of field's type into slot (a struct member or an array element).
//  Writes slot only on success, and then with memory it owns.
static int
s_decode_value (const ProtobufCFieldDescriptor *field, const json_t *json, void *slot,
                path_t *path, kn_error_t *err)
{
    if (json_is_null (json))
        return s_invalid (err, path, "null is not a value; leave the field out instead");

    int64_t signed_value = 0;
    uint64_t unsigned_value = 0;
    double real_value = 0;
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (s_decode_signed (json, INT32_MIN, INT32_MAX, false, &signed_value, path, err))
            return -1;
        *(int32_t *)slot = (int32_t)signed_value;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (s_decode_signed (json, INT64_MIN, INT64_MAX, true, &signed_value, path, err))
            return -1;
        *(int64_t *)slot = signed_value;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (s_decode_unsigned (json, UINT32_MAX, false, &unsigned_value, path, err))
            return -1;
        *(uint32_t *)slot = (uint32_t)unsigned_value;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (s_decode_unsigned (json, UINT64_MAX, true, &unsigned_value, path, err))
            return -1;
        *(uint64_t *)slot = unsigned_value;
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
        if (s_decode_real (json, &real_value, path, err))
            return -1;
        if (isfinite (real_value) && fabs (real_value) > FLT_MAX)
            return s_invalid (err, path, "number out of range for float");
        *(float *)slot = (float)real_value;
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (s_decode_real (json, &real_value, path, err))
            return -1;
        *(double *)slot = real_value;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean (json))
            return s_invalid (err, path, "expected true or false");
        *(protobuf_c_boolean *)slot = json_is_true (json);
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        return s_decode_enum (field->descriptor, json, (int *)slot, path, err);
    case PROTOBUF_C_TYPE_STRING:
        return s_decode_string (json, (char **)slot, path, err);
    case PROTOBUF_C_TYPE_BYTES:
        return s_decode_bytes (json, (ProtobufCBinaryData *)slot, path, err);
    case PROTOBUF_C_TYPE_MESSAGE:
        return s_decode_submessage (field->descriptor, json, (ProtobufCMessage **)slot,
                                    path, err);
    }
    return kn_error_set (err, KN_E_INTERNAL, path->text, "unsupported field type %d",
                         (int)field->type);
}

static int
s_decode_repeated (ProtobufCMessage *message, const ProtobufCFieldDescriptor *field,
                   const json_t *json, path_t *path, kn_error_t *err)
{
    if (json_is_null (json))
        return s_invalid (err, path, "null is not a value; leave the field out instead");
    if (!json_is_array (json))
        return s_invalid (err, path, "expected an array");
    size_t count = json_array_size (json);
    if (count == 0)
        return 0;
    size_t size = s_element_size (field->type);
    size_t *n_elements = MEMBER (message, field->quantifier_offset);
    void **elements = MEMBER (message, field->offset);
    *elements = calloc (count, size);
    if (!*elements)
        return s_out_of_memory (err, path);
    for (size_t index = 0; index < count; index++) {
        size_t mark = s_path_push_index (path, index);
        int rc = s_decode_value (field, json_array_get (json, index),
                                 (char *)*elements + index * size, path, err);
        s_path_pop (path, mark);
        if (rc)
            return -1;
        *n_elements = index + 1;
    }
    return 0;
}

static int
s_decode_field (ProtobufCMessage *message, const ProtobufCFieldDescriptor *field,
                const json_t *json, path_t *path, kn_error_t *err)
{
    if (field->label == PROTOBUF_C_LABEL_REPEATED)
        return s_decode_repeated (message, field, json, path, err);

    void *slot = MEMBER (message, field->offset);
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *oneof_case = MEMBER (message, field->quantifier_offset);
        if (*oneof_case != 0)
            return s_invalid (err, path,
                              "another member of the same oneof is already set");
        if (s_decode_value (field, json, slot, path, err))
            return -1;
        *oneof_case = field->id;
        return 0;
    }
    if (s_decode_value (field, json, slot, path, err))
        return -1;
    //  An optional string or message is present by its pointer; the rest by has_
    if (field->label == PROTOBUF_C_LABEL_OPTIONAL &&
        field->type != PROTOBUF_C_TYPE_STRING && field->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)MEMBER (message, field->quantifier_offset) = 1;
    return 0;
}

static int
s_decode_message (ProtobufCMessage *message, const json_t *json, path_t *path,
                  kn_error_t *err)
{
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    const char *key;
    size_t key_len;
    json_t *value;
    //  jansson's iterators take a non-const object; nothing here modifies it
    json_object_keylen_foreach ((json_t *)json, key, key_len, value)
    {
        size_t mark = s_path_push_name (path, key);
        const ProtobufCFieldDescriptor *field =
            s_field_by_name (descriptor, key, key_len);
        int rc = field ? s_decode_field (message, field, value, path, err)
                       : kn_error_set (err, KN_E_INVALID_ARGUMENT, path->text,
                                       "unknown field for %s", descriptor->name);
        s_path_pop (path, mark);
        if (rc)
            return -1;
    }
    return 0;
}

ProtobufCMessage *
kn_pbjson_decode (const ProtobufCMessageDescriptor *descriptor, const json_t *json,
                  kn_error_t *err)
{
    assert (descriptor && descriptor->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
    path_t path = {.len = 0};
    if (!json_is_object (json)) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "", "expected a JSON object for %s",
                      descriptor->name);
        return NULL;
    }
    ProtobufCMessage *message = s_message_new (descriptor);
    if (!message) {
        s_out_of_memory (err, &path);
        return NULL;
    }
    if (s_decode_message (message, json, &path, err)) {
        protobuf_c_message_free_unpacked (message, NULL);
        return NULL;
    }
    return message;
}

// --------------------------------------------------------------------------------
//  Encoding

static json_t *s_encode_message (const ProtobufCMessage *message);

//  JSON integers here are int64, so the top half of uint64 goes out as a string
static json_t *
s_encode_uint64 (uint64_t value)
{
    if (value <= INT64_MAX)
        return json_integer ((json_int_t)value);
    char text[24];
    snprintf (text, sizeof text, "%" PRIu64, value);
    return json_string (text);
}

static json_t *
s_encode_real (double value)
{
    if (isnan (value))
        return json_string ("NaN");
    if (isinf (value))
        return json_string (value > 0 ? "Infinity" : "-Infinity");
    return json_real (value);
}

static json_t *
s_encode_enum (const ProtobufCEnumDescriptor *descriptor, int value)
{
    const ProtobufCEnumValue *known =
        protobuf_c_enum_descriptor_get_value (descriptor, value);
    if (!known)
        return json_integer (value);
    size_t len = strlen (known->name);
    char *lower = malloc (len + 1);
    if (!lower)
        return NULL;
    for (size_t index = 0; index <= len; index++)
        lower[index] = s_ascii_lower (known->name[index]);
    json_t *json = json_stringn (lower, len);
    free (lower);
    return json;
}

static json_t *
s_encode_bytes (const ProtobufCBinaryData *value)
{
    if (value->len == 0)
        return json_string ("");
    size_t size = sodium_base64_ENCODED_LEN (value->len, sodium_base64_VARIANT_ORIGINAL);
    char *text = malloc (size);
    if (!text)
        return NULL;
    sodium_bin2base64 (text, size, value->data, value->len,
                       sodium_base64_VARIANT_ORIGINAL);
    json_t *json = json_string (text);
    free (text);
    return json;
}

//  Encode one value of field's type from member (a struct member or an array element).
static json_t *
s_encode_value (const ProtobufCFieldDescriptor *field, const void *member)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer (*(const int32_t *)member);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer (*(const int64_t *)member);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer (*(const uint32_t *)member);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return s_encode_uint64 (*(const uint64_t *)member);
    case PROTOBUF_C_TYPE_FLOAT:
        return s_encode_real (*(const float *)member);
    case PROTOBUF_C_TYPE_DOUBLE:
        return s_encode_real (*(const double *)member);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean (*(const protobuf_c_boolean *)member);
    case PROTOBUF_C_TYPE_ENUM:
        return s_encode_enum (field->descriptor, *(const int *)member);
    case PROTOBUF_C_TYPE_STRING: {
        const char *text = *(char *const *)member;
        return json_string (text ? text : ""); // NULL unless valid UTF-8
    }
    case PROTOBUF_C_TYPE_BYTES:
        return s_encode_bytes ((const ProtobufCBinaryData *)member);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *message = *(ProtobufCMessage *const *)member;
        return message ? s_encode_message (message) : json_object ();
    }
    }
    return NULL;
}

//  Proto3 fields without presence are there when they differ from their zero value.
static bool
s_is_zero (const ProtobufCFieldDescriptor *field, const void *member)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return *(const uint32_t *)member == 0;
    case PROTOBUF_C_TYPE_ENUM:
        return *(const int *)member == 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)member == 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)member == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)member == 0;
    case PROTOBUF_C_TYPE_BOOL:
        return !*(const protobuf_c_boolean *)member;
    case PROTOBUF_C_TYPE_STRING: {
        const char *text = *(char *const *)member;
        return !text || !*text;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)member)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)member == NULL;
    }
    return true;
}

//  Is a singular field set? Mirrors what protobuf_c_message_pack puts on the wire.
static bool
s_is_present (const ProtobufCMessage *message, const ProtobufCFieldDescriptor *field)
{
    const void *member = CMEMBER (message, field->offset);
    const void *quantifier = CMEMBER (message, field->quantifier_offset);
    bool by_pointer =
        field->type == PROTOBUF_C_TYPE_STRING || field->type == PROTOBUF_C_TYPE_MESSAGE;
    const void *pointer = by_pointer ? *(const void *const *)member : NULL;

    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        if (*(const uint32_t *)quantifier != field->id)
            return false;
        return !by_pointer || (pointer && pointer != field->default_value);
    }
    if (field->label == PROTOBUF_C_LABEL_OPTIONAL)
        return by_pointer ? pointer && pointer != field->default_value
                          : *(const protobuf_c_boolean *)quantifier;
    if (field->label == PROTOBUF_C_LABEL_REQUIRED)
        return !by_pointer || pointer;
    return !s_is_zero (field, member);
}

static json_t *
s_encode_repeated (const ProtobufCFieldDescriptor *field, const void *elements,
                   size_t count)
{
    size_t size = s_element_size (field->type);
    json_t *array = json_array ();
    for (size_t index = 0; array && index < count; index++) {
        json_t *item = s_encode_value (field, (const char *)elements + index * size);
        if (json_array_append_new (array, item) != 0) { // fails on a NULL item too
            json_decref (array);
            array = NULL;
        }
    }
    return array;
}

static json_t *
s_encode_message (const ProtobufCMessage *message)
{
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    assert (descriptor && descriptor->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
    json_t *object = json_object ();
    for (unsigned index = 0; object && index < descriptor->n_fields; index++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[index];
        const void *member = CMEMBER (message, field->offset);
        json_t *value = NULL;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = *(const size_t *)CMEMBER (message, field->quantifier_offset);
            if (count == 0)
                continue;
            value = s_encode_repeated (field, *(const void *const *)member, count);
        } else if (s_is_present (message, field))
            value = s_encode_value (field, member);
        else
            continue;
        //  json_object_set_new fails on a NULL value, and frees value when it fails
        if (json_object_set_new (object, field->name, value) != 0) {
            json_decref (object);
            object = NULL;
        }
    }
    return object;
}

json_t *
kn_pbjson_encode (const ProtobufCMessage *message)
{
    if (!message)
        return NULL;
    return s_encode_message (message);
}
