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

//  True when a string field anywhere in the encoded message (data, len) holds a NUL
//  byte; path receives where, as kn_pb_find_unknown's. protobuf-c hands such a
//  string over cut at the NUL ("Ana\0Evil" reads as "Ana"), so it can only be seen
//  on the wire: Kinnet refuses it rather than store or compare a shortened value.
bool kn_pb_find_nul (const ProtobufCMessageDescriptor *descriptor, const uint8_t *data,
                     size_t len, char *path, size_t size);

//  Lower-case, in place, every UUID-shaped value of a string field whose name ends in
//  "_id" or "_ids" or is "agencies" or "consent_reference", anywhere in message: ids are compared, used as
//  keys and bound into sealed data in one canonical form whatever case the client
//  sent.
void kn_pb_canonical_ids (ProtobufCMessage *message);

//  Helpers for building replies whose parts the caller frees with the message's
//  __free_unpacked (protobuf-c's default allocator is malloc/free).

//  A malloc'd Timestamp for Unix seconds; NULL (unset) when seconds <= 0.
Kinnet__V1__Timestamp *kn_pb_timestamp (int64_t seconds);

//  A malloc'd copy of text ("" for NULL).
char *kn_pb_string (const char *text);

#endif
