/*  broker_keys: who may connect to the broker, and as whom.
    Three tables: active agency keys (from PostgreSQL, core.agency_key), service
    keys (public certificates in a directory, each naming the services it may serve
    in its "service" metadata; a certificate without it is ignored) and health-check
    keys (public certificates in another directory: identities that may ask the
    broker's MMI and nothing else, so the certificate every container's health check
    holds opens nothing). An agency key that is also a service's or a health check's
    is dropped from the agency table. The broker's own ZAP handler (spec 27) answers
    CURVE handshakes from them, one allow list per socket: the frontend's ZAP domain
    admits agency and health-check keys only, the backend's service keys only. Registering or revoking a key works without a restart. The
    tables also answer, per message, which agency or service a connection's key
    belongs to, so a revoked key stops at once even on a connection opened before
    the revocation. */
#ifndef BROKER_KEYS_H_INCLUDED
#define BROKER_KEYS_H_INCLUDED

#include <czmq.h>

#include "kn_db.h"
#include "kn_error.h"

typedef struct _broker_keys_t broker_keys_t;

#define BROKER_ZAP_FRONTEND "kinnet-frontend"
#define BROKER_ZAP_BACKEND  "kinnet-backend"

//  service_dir: directory of service public certificates; health_dir (may be NULL):
//  directory of health-check public certificates. db is borrowed. Binds the
//  process's ZAP endpoint: create it before any CURVE server socket.
broker_keys_t *broker_keys_new (const char *service_dir, const char *health_dir,
                                kn_db_t *db, kn_error_t *err);
void broker_keys_destroy (broker_keys_t **self_p);

//  db (borrowed) is read once, here, for the first agency table; afterwards the
//  broker's database thread reads it (broker_dbthread) and hands each new table to
//  broker_keys_adopt.
//  Re-read agencies (from db, at start) and the certificates. On a database error
//  the previous agency table stays in force (see loaded_at).
int broker_keys_reload (broker_keys_t *self, kn_error_t *err);

//  A new agency table (taken), read elsewhere; the certificates are read again too.
void broker_keys_adopt (broker_keys_t *self, zhashx_t *agencies);

//  The service and health-check certificates read again (the agency table kept).
void broker_keys_reload_files (broker_keys_t *self);

//  The agency table is stale when no reload has read it for max_stale_ms (the
//  database is unreachable): a key revoked meanwhile would still be in it, so the
//  broker then serves no agency (0, the default: never stale; without a database
//  the table is never stale either).
void broker_keys_set_max_stale (broker_keys_t *self, int max_stale_ms);
bool broker_keys_stale (broker_keys_t *self);

//  The ZAP socket to poll, and one request answered from it when readable.
zsock_t *broker_keys_zap_socket (broker_keys_t *self);
void broker_keys_zap_serve (broker_keys_t *self);

//  Agency id of an active agency key (Z85), or NULL.
const char *broker_keys_agency (broker_keys_t *self, const char *public_key);

//  Whether public_key (Z85) is a health check's: MMI only.
bool broker_keys_health (broker_keys_t *self, const char *public_key);

//  Services a service key may serve ("*" for any, or a comma list), or NULL when
//  it is not a service key.
const char *broker_keys_service (broker_keys_t *self, const char *public_key);

#endif
