/*  broker_int: what the broker's own files share and nobody else sees: its state
    (services, workers, the sockets) and the steps both sides of it take. broker.c
    runs the loop, the worker side and the timers; broker_client.c takes agencies'
    requests in. */
#ifndef BROKER_INT_H_INCLUDED
#define BROKER_INT_H_INCLUDED

#include "broker.h"
#include "broker_agencies.h"
#include "broker_dbthread.h"
#include "broker_guard.h"
#include "broker_peers.h"
#include "broker_queue.h"
#include "broker_socket.h"
#include "broker_suspects.h"
#include "kn_error.h"

typedef struct _service_t service_t;

typedef struct {
    char *identity;       // hex of the worker's routing address
    zframe_t *address;
    service_t *service;   // NULL until READY
    int64_t expiry;       // silent past this, it is forgotten (its heartbeats move it)
    broker_request_t *request;   // the request it is working on, while busy
    int64_t busy_until;   // while busy, kept at least until then: its handler may
                          // work in silence (broker.c, s_purge)
} worker_t;

struct _service_t {
    char *name;
    broker_queue_t *queue;   // requests waiting for a worker, fair between agencies
    zlist_t *waiting;        // worker_t * ready for work
    size_t workers;          // how many workers serve it
    bool strict;             // its requests hold workers while they wait: the
                             // agency share applies even when nobody else waits
};

struct _broker_t {
    broker_config_t config;
    broker_keys_t *keys;
    broker_dbthread_t *dbthread;   // the database work (keys, presence); NULL: none
    broker_socket_t *frontend_socket;   // agencies
    broker_socket_t *backend_socket;    // workers
    zsock_t *frontend;          // their ROUTERs
    zsock_t *backend;
    broker_guard_t *guard;      // what each connection makes libzmq hold
    zhashx_t *services;   // name -> service_t
    zhashx_t *served;     // names a worker has served since start: the metrics labels
    zhashx_t *workers;    // identity -> worker_t
    broker_agencies_t *agencies;   // each agency's bytes here and rate allowance
    int brokers_up;                // brokers up, which split the per-agency limits
    broker_suspects_t *suspects;   // requests in flight when their worker died
    size_t bytes;         // every request in the broker
    int64_t heartbeat_at;
    int64_t reload_at;
    int64_t purge_at;
    int64_t guard_at;
    int64_t probe_until;        // probe workers' connections until then
    int64_t denied_logged_at;   // auth.denied is logged at most once a second
    long denied_since;          // refusals not logged since then
};

//  Send body (taken; NULL: an empty one) to a client as service's reply.
void broker_reply_to_client (broker_t *self, zframe_t *client, const char *service,
                             zmsg_t **body_p);

//  Answer a client with a kinnet.v1.ErrorReply the broker makes itself (counted).
void broker_error_to_client (broker_t *self, zframe_t *client, const char *service,
                             kn_code_t code, uint32_t retry_after_ms, const char *message);

//  One client request answered: result is ok, unavailable, limited or refused.
void broker_count (broker_t *self, const char *service, const char *result);

//  A message from a key not (or no longer) admitted, logged at most once a second.
void broker_log_denied (broker_t *self, const char *socket);

//  The service of that name, made on first use; NULL out of memory.
service_t *broker_service_require (broker_t *self, const char *name);

//  Hand waiting requests to idle workers, each agency in turn.
void broker_service_dispatch (broker_t *self, service_t *service);

//  One message from the frontend (broker_client.c).
void broker_client_message (broker_t *self, zmsg_t *msg);

#endif
