/*  kn_pb: checks on decoded protobuf-c messages that the generated code does not do. */
#ifndef KN_PB_H_INCLUDED
#define KN_PB_H_INCLUDED

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

//  True when message, or any message inside it, carries fields its schema does not
//  know. path receives where ("" for the top level, "child", "needs[2]") and
//  *number the first unknown field number. Kinnet refuses such requests rather than
//  store or drop data it cannot interpret.
bool kn_pb_find_unknown (const ProtobufCMessage *message, char *path, size_t size,
                         uint32_t *number);

#endif
