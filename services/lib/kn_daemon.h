/*  kn_daemon: the wiring every service daemon shares, so a service's main.c only
    names its service and its handler: settings from the environment, the field
    key, the database session in the service's role, the MDP worker, and the loop
    that hands each request to the handler until SIGINT/SIGTERM.
    Settings: KINNET_DATABASE_URL, KINNET_DB_ROLE (default kinnet_<service>),
    KINNET_FIELD_KEY, KINNET_SERVICE_CERT, KINNET_SERVER_KEY, KINNET_BROKER_BACKEND,
    KINNET_HEARTBEAT_MS, KINNET_LOG_LEVEL. */
#ifndef KN_DAEMON_H_INCLUDED
#define KN_DAEMON_H_INCLUDED

#include <czmq.h>

#include "kn_crypto.h"
#include "kn_db.h"

typedef struct {
    const char *service;   // MDP service name, also the log's service
    kn_crypto_t *crypto;
    kn_db_t *db;
    zcert_t *cert;
    char server_key[41];
} kn_daemon_t;

//  One request in ([Caller][body]), one reply body out (owned by the caller).
typedef zmsg_t *(kn_daemon_handler_fn) (void *state, zmsg_t *request);

//  Handle --help (prints usage, returns 1 so main exits 0), bad arguments (2),
//  then set everything up (0), or log why not (-1).
int kn_daemon_start (kn_daemon_t *self, const char *service, int argc, char **argv);

//  Serve requests until interrupted. 0 on a clean stop.
int kn_daemon_serve (kn_daemon_t *self, kn_daemon_handler_fn *handler, void *state);

void kn_daemon_stop (kn_daemon_t *self);

#endif
