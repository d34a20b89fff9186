/*  broker_agencies: what each agency has in the broker now (bytes of its requests
    waiting or held by workers) and its request-rate allowance, a token bucket of
    `burst` tokens refilled at `rate` a second. An agency with nothing in the broker
    and a full bucket is forgotten, so the table holds only agencies at work. */
#ifndef BROKER_AGENCIES_H_INCLUDED
#define BROKER_AGENCIES_H_INCLUDED

#include <czmq.h>

typedef struct _broker_agencies_t broker_agencies_t;

//  rate 0: no rate limit.
broker_agencies_t *broker_agencies_new (double rate, double burst);
void broker_agencies_destroy (broker_agencies_t **self_p);

//  New rate and burst from now on (brokers up changed); a bucket holding more than
//  the new burst is cut to it.
void broker_agencies_set_limits (broker_agencies_t *self, double rate, double burst);

//  0 when the agency may send one more request now (a token is taken); else how
//  many milliseconds until it may.
uint32_t broker_agencies_rate_wait (broker_agencies_t *self, const char *agency);

//  Bytes the agency has in the broker; add or take back a request's.
size_t broker_agencies_bytes (broker_agencies_t *self, const char *agency);
void broker_agencies_hold (broker_agencies_t *self, const char *agency, size_t bytes);
void broker_agencies_release (broker_agencies_t *self, const char *agency, size_t bytes);

#endif
