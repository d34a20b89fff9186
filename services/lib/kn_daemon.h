/*  kn_daemon: the wiring every service daemon shares, so a service's main.c only
    names its service and its handler: settings from the environment, the field
    key, the database session in the service's role, the MDP worker, and the loop
    that hands each request to the handler until SIGINT/SIGTERM.
    Settings: KINNET_DATABASE_URL, KINNET_DB_ROLE (default kinnet_<service>),
    KINNET_DB_*_TIMEOUT_MS (kn_db),
    KINNET_FIELD_KEY, KINNET_SERVICE_CERT, KINNET_SERVER_KEY, KINNET_BROKER_BACKEND,
    KINNET_HEARTBEAT_MS, KINNET_LOG_LEVEL, KINNET_METRICS_LISTEN (kn_metrics: serve
    Prometheus metrics on host:port; unset, none). Every request the loop hands
    over is counted and timed in kn_metrics. */
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

//  Requests that arrived together, answered together: replies[i] answers
//  requests[i] (the loop owns both); operations[i] names what was asked, for metrics.
typedef void (kn_daemon_batch_fn) (void *state, zmsg_t **requests, zmsg_t **replies,
                                   const char **operations, size_t n);

//  Handle --help (prints usage, returns 1 so main exits 0), bad arguments (2),
//  then set everything up (0), or log why not (-1).
int kn_daemon_start (kn_daemon_t *self, const char *service, int argc, char **argv);

//  Serve requests until interrupted. 0 on a clean stop.
int kn_daemon_serve (kn_daemon_t *self, kn_daemon_handler_fn *handler, void *state);

//  Serve with KINNET_WORKER_SLOTS (default 16, 1 to 64) worker connections to the
//  broker, each holding at most one request as MDP wants: whatever requests are
//  waiting when the handler is free go to it as one batch, so the batch grows with
//  the load and a lone request is not held back. 0 on a clean stop.
int kn_daemon_serve_many (kn_daemon_t *self, kn_daemon_batch_fn *handler, void *state);

void kn_daemon_stop (kn_daemon_t *self);

//  The metrics of one request, for loops other than kn_daemon_serve (routing's
//  feed workers): _begin before the handler runs (it forgets this thread's last
//  audit row and reads the monotonic clock), _end with the handler's reply, before
//  it is sent, to record kinnet_requests_total and kinnet_request_duration_seconds.
//  The operation is the one of the last audit row the handler wrote; without one
//  (a replayed write), the request's oneof member as kn_service_decode found it;
//  failing that "unknown". The result is the reply's error code when it carries
//  one, else that row's result, else "ok".
int64_t kn_daemon_request_begin (void);
void kn_daemon_request_end (const char *service, zmsg_t *reply, int64_t begun);

#endif
