/*  broker_socket: one of the broker's two CURVE server sockets (ROUTER), with the
    monitor that reports its connections opening and closing. Each event goes to
    the connections gauge and to the guard (broker_guard), which needs every
    connection's descriptor. */
#ifndef BROKER_SOCKET_H_INCLUDED
#define BROKER_SOCKET_H_INCLUDED

#include <czmq.h>

#include "broker_guard.h"
#include "kn_error.h"

typedef struct _broker_socket_t broker_socket_t;

//  name: "frontend" or "backend" (the gauge's label). domain: the ZAP domain, which
//  decides whose keys it admits (broker_keys). mandatory: sends to a peer that is
//  gone fail rather than vanish (the backend, so a dead worker is noticed at once;
//  replies to a client that left just drop). cert and guard are borrowed. per_key:
//  connections one key may hold open on it at once (0: any; broker_guard). ping_ms:
//  libzmq pings each peer this often (ZMTP PING, answered by the peer's libzmq
//  itself, whatever its application is doing) and closes a connection that carries
//  nothing for KN_HEARTBEAT_LIVENESS times as long: a peer whose host is gone or
//  whose process is frozen then closes like a killed one (0: no pings).
broker_socket_t *broker_socket_new (const char *name, const char *endpoint, const char *domain,
                                    bool mandatory, zcert_t *cert, broker_guard_t *guard,
                                    size_t per_key, int ping_ms, kn_error_t *err);
void broker_socket_destroy (broker_socket_t **self_p);

//  The ROUTER socket, and the monitor's socket to poll.
zsock_t *broker_socket_router (broker_socket_t *self);
zsock_t *broker_socket_events (broker_socket_t *self);

//  Every event waiting on the monitor (at most 1000 a turn): libzmq's I/O thread
//  blocks on a monitor whose queue is full, so events are never left to pile up.
//  Returns whether a connection closed.
bool broker_socket_read_events (broker_socket_t *self);

#endif
