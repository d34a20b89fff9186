/*  routing_validate: the field rules of "routing" and "feed" requests, checked
    before anything touches the database. Each failure names the field path and
    the rule through kn_error (INVALID_ARGUMENT, or TOO_LARGE for a length). */
#ifndef ROUTING_VALIDATE_H_INCLUDED
#define ROUTING_VALIDATE_H_INCLUDED

#include "kinnet/v1/routing.pb-c.h"
#include <stdint.h>

#include "kn_error.h"

#define ROUTING_FEED_MAX_WAIT_MS 20000
#define ROUTING_FEED_MAX_EVENTS 500

//  The operation set in request, field by field. 0 or -1 with err.
int routing_validate_request (const Kinnet__V1__RoutingRequest *request, kn_error_t *err);

//  A FeedRequest: read set, after >= 0, max 0..500 (0: 100), wait_ms 0..20000.
int routing_validate_feed (const Kinnet__V1__FeedRequest *request, kn_error_t *err);

//  A deadline such as "10 days", "4 hours", "1 day 12 hours", "90 minutes": one or
//  more "<whole number> <unit>" with units second(s), minute(s), hour(s), day(s),
//  week(s) (or s, min, h, d, w). Above zero and at most 90 days. 0 with *seconds,
//  or -1 with err on field.
int routing_validate_interval (const char *text, const char *field, int64_t *seconds,
                               kn_error_t *err);

#endif
