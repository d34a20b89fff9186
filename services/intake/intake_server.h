/*  intake_server: one intake request in, one reply out. Decodes the broker's Caller
    frame and the IntakeRequest, validates, calls the store, and always produces an
    IntakeReply: malformed or invalid input gets an Error with code, message and
    field, and nothing is written. Network input never reaches an assert. */
#ifndef INTAKE_SERVER_H_INCLUDED
#define INTAKE_SERVER_H_INCLUDED

#include <czmq.h>

#include "intake_store.h"

typedef struct _intake_server_t intake_server_t;

//  store is borrowed.
intake_server_t *intake_server_new (intake_store_t *store);
void intake_server_destroy (intake_server_t **self_p);

//  request: [Caller][IntakeRequest] as kn_worker_recv returns it (not consumed).
//  Returns the reply body, which the caller owns.
zmsg_t *intake_server_handle (intake_server_t *self, zmsg_t *request);

//  n requests that arrived together: the valid submits among them are stored as
//  one batch (intake_store_submit_many), everything else one by one, and each gets
//  the reply it would have got alone. replies[i] answers requests[i] (the caller
//  owns them); operations[i] is what it asked for ("submit", ..., "unknown").
void intake_server_handle_many (intake_server_t *self, zmsg_t **requests,
                                zmsg_t **replies, const char **operations, size_t n);

#endif
