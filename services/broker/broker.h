/*  broker: Kinnet's Majordomo (MDP/0.1, rfc.zeromq.org spec 7) broker with the MMI
    service-discovery extension (spec 8).
    Two CURVE server sockets: the frontend faces agencies (clients), the backend
    faces service workers. The broker's ZAP handler (see broker_keys) admits agency
    keys on the frontend only and service keys on the backend only; on every
    message the broker looks the connection's key up again, so a client key can
    never act as a worker and a revoked key stops at once.
    No peer can make it hold unbounded memory: broker_guard cuts a connection that
    makes libzmq buffer too much, and each agency's waiting requests are bounded in
    number and bytes, rate limited, and served in turn with the others'
    (broker_queue). A worker that leaves (DISCONNECT) holding a request never read
    it, so the request goes to another worker at once, uncounted. A worker that dies
    holding a request is noticed from its connection closing (a killed process's
    closes at once; the broker closes one whose peer stops answering libzmq's
    pings: a host gone, a process frozen), never from its handler's silence, which
    a long statement makes legitimately; the request is handed to another worker
    once; with
    poison_deaths set, a request that a second worker dies holding is answered
    INTERNAL and handed to no third (broker_suspects), so a poison request cannot
    take down a service.
    Kinnet's one extension: every request forwarded to a worker carries, as its
    first body frame, a kinnet.v1.Caller the broker builds from the authenticated
    key. Clients cannot forge it: whatever they send comes after it.
    The broker keeps no durable state: requests waiting for a worker are answered
    with SERVICE_UNAVAILABLE after request_timeout_ms, and so is a request whose
    worker holds it busy_max_ms without a word (stuck, though connected); none is
    left unanswered while the broker runs. */
#ifndef BROKER_H_INCLUDED
#define BROKER_H_INCLUDED

#include <czmq.h>

#include "broker_keys.h"
#include "kn_db.h"
#include "kn_error.h"

typedef struct {
    const char *frontend;       // e.g. tcp://127.0.0.1:5555
    const char *backend;        // e.g. tcp://127.0.0.1:5556
    zcert_t *cert;              // broker certificate (secret included), borrowed
    int heartbeat_ms;           // MDP heartbeats, and libzmq's pings on the backend
    int busy_max_ms;            // longest a worker may hold a request unheard while
                                // its connection lives, before it is taken for stuck
    int request_timeout_ms;     // longest wait for a worker before an error reply
    int key_reload_ms;          // periodic key reload besides LISTEN/NOTIFY
    int max_queued;             // per-service queue limit
    int max_queued_per_agency;  // one agency's requests waiting for one service
    size_t max_agency_bytes;    // one agency's requests in the broker, in bytes
    size_t max_queued_bytes;    // every request in the broker, in bytes
    double agency_rate;         // requests per second an agency may send (0: no limit)
    double agency_burst;        // and in a burst
    int agency_share;           // percent of a service's workers one agency may hold
    int poison_deaths;          // workers a request may kill before it is refused
                                // (INTERNAL, never handed on); 0: not watched
                                // while other agencies wait
    const char *strict_services;   // comma list: there the share holds at all times
    size_t max_connection_bytes;   // what libzmq may buffer for one connection
    size_t max_buffered_bytes;     // and for all of them together
    size_t max_key_connections;    // frontend connections one key may hold (0: any)
    //  Brokers side by side split the per-agency limits (rate, burst, queue, share)
    //  among those up (broker_peers): this broker's row and how often it is stamped.
    const char *presence_name;     // NULL: not counted, limits apply whole
    int presence_ms;
} broker_config_t;

typedef struct _broker_t broker_t;

//  keys is borrowed; *db_p (may be NULL) is taken (and nulled), success or not: the
//  broker's database thread reads the agency keys from it (LISTENing for changes)
//  and stamps its presence.
broker_t *broker_new (const broker_config_t *config, broker_keys_t *keys, kn_db_t **db_p,
                      kn_error_t *err);
void broker_destroy (broker_t **self_p);

//  Serve until interrupted (SIGINT/SIGTERM). Returns 0.
int broker_run (broker_t *self);

#endif
