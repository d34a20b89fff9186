/*  Fuzz target: a RoutingRequest and a FeedRequest body as they arrive off the
    network (the same bytes tried as both): decoding, the unknown-field walk,
    validation of every operation and re-encoding. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kn_pb.h"
#include "routing_validate.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char path[128];
    uint32_t number;
    kn_error_t err;
    Kinnet__V1__RoutingRequest *request = kinnet__v1__routing_request__unpack (NULL, size, data);
    if (request) {
        kn_pb_find_unknown (&request->base, path, sizeof path, &number);
        routing_validate_request (request, &err);
        size_t len = kinnet__v1__routing_request__get_packed_size (request);
        uint8_t *buffer = malloc (len + 1);
        kinnet__v1__routing_request__pack (request, buffer);
        free (buffer);
        kinnet__v1__routing_request__free_unpacked (request, NULL);
    }
    Kinnet__V1__FeedRequest *feed = kinnet__v1__feed_request__unpack (NULL, size, data);
    if (feed) {
        kn_pb_find_unknown (&feed->base, path, sizeof path, &number);
        routing_validate_feed (feed, &err);
        kinnet__v1__feed_request__free_unpacked (feed, NULL);
    }
    return 0;
}
