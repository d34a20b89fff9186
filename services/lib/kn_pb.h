/*  kn_pb: checks on decoded protobuf-c messages that the generated code does not do. */
#ifndef KN_PB_H_INCLUDED
#define KN_PB_H_INCLUDED

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kinnet/v1/common.pb-c.h"

//  True when message, or any message inside it, carries fields its schema does not
//  know. path receives where ("" for the top level, "child", "needs[2]") and
//  *number the first unknown field number. Kinnet refuses such requests rather than
//  store or drop data it cannot interpret.
bool kn_pb_find_unknown (const ProtobufCMessage *message, char *path, size_t size,
                         uint32_t *number);

//  Helpers for building replies whose parts the caller frees with the message's
//  __free_unpacked (protobuf-c's default allocator is malloc/free).

//  A malloc'd Timestamp for Unix seconds; NULL (unset) when seconds <= 0.
Kinnet__V1__Timestamp *kn_pb_timestamp (int64_t seconds);

//  A malloc'd copy of text ("" for NULL).
char *kn_pb_string (const char *text);

#endif
