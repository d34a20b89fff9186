/*  broker_keys: who may connect to the broker, and as whom.
    Two tables: active agency keys (from PostgreSQL, core.agency_key) and service
    keys (public certificates in a directory, each naming the one service it may
    serve in its "service" metadata). Both are written as public certificates into
    a private directory that CZMQ's zauth actor uses as its CURVE allow list; after
    every change zauth is told to reload, so registering or revoking a key works
    without a restart. The tables also answer, per message, which agency or
    service a connection's key belongs to, so a revoked key stops at once even on a
    connection opened before the revocation. */
#ifndef BROKER_KEYS_H_INCLUDED
#define BROKER_KEYS_H_INCLUDED

#include <czmq.h>

#include "kn_db.h"
#include "kn_error.h"

typedef struct _broker_keys_t broker_keys_t;

//  zap_dir: private directory for the allow list (created, emptied of stale certs).
//  service_dir: directory of service public certificates. db is borrowed.
broker_keys_t *broker_keys_new (const char *zap_dir, const char *service_dir, kn_db_t *db,
                                kn_error_t *err);
void broker_keys_destroy (broker_keys_t **self_p);

//  Re-read agencies and service certificates, rewrite the allow list, reload zauth.
//  On a database error the previous agency table stays in force.
int broker_keys_reload (broker_keys_t *self, kn_error_t *err);

//  Agency id of an active agency key (Z85), or NULL.
const char *broker_keys_agency (broker_keys_t *self, const char *public_key);

//  Service a service key may serve ("*" for any), or NULL when not a service key.
const char *broker_keys_service (broker_keys_t *self, const char *public_key);

#endif
