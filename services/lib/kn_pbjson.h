/*  kn_pbjson: protobuf-c messages to and from JSON, driven by the message descriptor.
    One codec for every generated type, so the CLI, agency integrations and tests can
    speak JSON without hand-written mapping per message. The JSON uses proto field
    names (snake_case), enum value names and proto3 "zero means absent" semantics.
    Decoding is strict: anything it does not understand is an error naming the field
    path, never silently dropped. */
#ifndef KN_PBJSON_H_INCLUDED
#define KN_PBJSON_H_INCLUDED

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "kn_error.h"

//  Build a message of type `descriptor` from a JSON object. Field names are the proto
//  field names (snake_case). Enums accept the proto value name in any case ("priority",
//  "PRIORITY") or an integer. Repeated fields are JSON arrays, sub-messages objects,
//  bool JSON true/false, int32/int64/uint32/... JSON integers (64-bit types also
//  accept a decimal string), float/double JSON numbers or "NaN", "Infinity",
//  "-Infinity", bytes base64 strings (original alphabet, padded), strings strings
//  without NUL characters. Unknown keys, wrong JSON types, out-of-range numbers,
//  unknown enum names, null and two members of one oneof are errors:
//  KN_E_INVALID_ARGUMENT with err->field set to the path, e.g.
//  "siblings[1].date_of_birth" or "needs[0].category" ("" for the top level).
//  A oneof member sets the oneof case; an optional scalar sets its has_ flag.
//  Returns a message the caller owns and frees with
//  protobuf_c_message_free_unpacked (msg, NULL); NULL on error, with nothing leaked.
ProtobufCMessage *kn_pbjson_decode (const ProtobufCMessageDescriptor *descriptor,
                                    const json_t *json, kn_error_t *err);

//  Encode a message as a JSON object; the caller owns the new reference. Proto3
//  semantics: scalar fields equal to their zero value ("" strings, 0 numbers, false,
//  enum 0) and unset sub-messages are omitted; non-empty repeated fields are always
//  included; optional fields appear when their has_ flag is set; of a oneof only the
//  member that is set appears. Enums are lower-case value names (unknown numeric
//  values as integers); int64/uint64 are JSON integers (a uint64 above INT64_MAX,
//  which JSON integers here cannot hold, as a decimal string); float/double NaN and
//  infinities as "NaN", "Infinity", "-Infinity"; bytes base64. Returns NULL if
//  memory runs out or a string is not valid UTF-8.
json_t *kn_pbjson_encode (const ProtobufCMessage *message);

#endif
