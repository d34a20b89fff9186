/*  kn_outbox: append an event to core.outbox inside the caller's transaction, so
    the event exists exactly when the state change it announces does. Consumers
    read by id with their own durable cursor; NOTIFY kinnet_outbox only wakes them. */
#ifndef KN_OUTBOX_H_INCLUDED
#define KN_OUTBOX_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "kn_db.h"

//  Register the statement on db (once, at service start).
int kn_outbox_prepare (kn_db_t *db, kn_error_t *err);

//  payload: a packed kinnet.v1 event message.
int kn_outbox_append (kn_db_t *db, const char *topic, const char *aggregate_id,
                      const uint8_t *payload, size_t len, kn_error_t *err);

//  n events of one topic in one statement, ids in the order given (a batch's).
int kn_outbox_append_many (kn_db_t *db, const char *topic, const char *const *aggregate_ids,
                           const uint8_t *const *payloads, const size_t *lens, size_t n,
                           kn_error_t *err);

#endif
