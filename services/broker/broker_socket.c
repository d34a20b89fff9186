/*  broker_socket: a CURVE ROUTER and its connection monitor. */
#include "broker_socket.h"

#include "kn_alloc.h"
#include "kn_mdp.h"
#include "kn_metrics.h"

struct _broker_socket_t {
    const char *name;
    zsock_t *router;
    zsock_t *events;          // PAIR end of zmq_socket_monitor
    broker_guard_t *guard;
    size_t per_key;           // connections one key may hold open (0: any)
    int ping_ms;              // libzmq pings each peer this often (0: never)
    long open;                // connections open now
};

static zsock_t *
s_router (const char *endpoint, const char *domain, bool mandatory, zcert_t *cert,
          int ping_ms, kn_error_t *err)
{
    zsock_t *socket = zsock_new (ZMQ_ROUTER);
    if (!socket)
        return NULL;
    zsock_set_linger (socket, 0);
    if (ping_ms > 0) {
        zsock_set_heartbeat_ivl (socket, ping_ms);
        zsock_set_heartbeat_timeout (socket, ping_ms * KN_HEARTBEAT_LIVENESS);
    }
    zsock_set_maxmsgsize (socket, KN_MAX_MESSAGE_BYTES);
    zsock_set_router_mandatory (socket, mandatory ? 1 : 0);
    zsock_set_zap_domain (socket, domain);
    zcert_apply (cert, socket);
    zsock_set_curve_server (socket, 1);
    if (zsock_bind (socket, "%s", endpoint) < 0) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "cannot bind %s", endpoint);
        zsock_destroy (&socket);
    }
    return socket;
}

//  A PAIR socket on which the router's connection events arrive: accepted and
//  disconnected, which is all the gauge and the guard need. Watched before any
//  peer can connect, so the counts start right.
static zsock_t *
s_monitor (zsock_t *socket, const char *name, kn_error_t *err)
{
    char endpoint[80];
    snprintf (endpoint, sizeof endpoint, "inproc://kn-broker-%s-events-%p", name,
              (void *) socket);
    if (zmq_socket_monitor (zsock_resolve (socket), endpoint,
                            ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED)) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "cannot monitor the %s socket", name);
        return NULL;
    }
    char connect[90];
    snprintf (connect, sizeof connect, ">%s", endpoint);
    zsock_t *events = zsock_new_pair (connect);
    if (!events)
        kn_error_set (err, KN_E_INTERNAL, NULL, "cannot monitor the %s socket", name);
    return events;
}

broker_socket_t *
broker_socket_new (const char *name, const char *endpoint, const char *domain, bool mandatory,
                   zcert_t *cert, broker_guard_t *guard, size_t per_key, int ping_ms,
                   kn_error_t *err)
{
    broker_socket_t *self = kn_calloc (1, sizeof *self);
    self->name = name;
    self->guard = guard;
    self->per_key = per_key;
    self->ping_ms = ping_ms;
    self->router = s_router (endpoint, domain, mandatory, cert, ping_ms, err);
    self->events = self->router ? s_monitor (self->router, name, err) : NULL;
    if (!self->events) {
        broker_socket_destroy (&self);
        return NULL;
    }
    kn_metrics_gauge_set ("kinnet_broker_connections", 0, name, NULL);
    return self;
}

void
broker_socket_destroy (broker_socket_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_socket_t *self = *self_p;
    if (self->events) {
        //  Empty the monitor's queue first: an I/O thread blocked on a full one
        //  would never take the stop.
        while (zsock_events (self->events) & ZMQ_POLLIN) {
            zmsg_t *msg = zmsg_recv (self->events);
            zmsg_destroy (&msg);
        }
        zmq_socket_monitor (zsock_resolve (self->router), NULL, 0);
    }
    zsock_destroy (&self->events);
    zsock_destroy (&self->router);
    free (self);
    *self_p = NULL;
}

zsock_t *
broker_socket_router (broker_socket_t *self)
{
    return self->router;
}

zsock_t *
broker_socket_events (broker_socket_t *self)
{
    return self->events;
}

//  One monitor event: [event (uint16) value (uint32)][endpoint]. The value of both
//  events is the connection's descriptor. Returns the event, or 0.
static int
s_event (broker_socket_t *self)
{
    zmsg_t *msg = zmsg_recv (self->events);
    zframe_t *frame = msg ? zmsg_first (msg) : NULL;
    uint16_t event = 0;
    if (frame && zframe_size (frame) >= 6) {
        uint32_t fd;
        memcpy (&event, zframe_data (frame), sizeof event);
        memcpy (&fd, zframe_data (frame) + 2, sizeof fd);
        if (event == ZMQ_EVENT_ACCEPTED) {
            self->open++;
            broker_guard_opened (self->guard, (int) fd, self->per_key, self->ping_ms);
        }
        else if (event == ZMQ_EVENT_DISCONNECTED) {
            if (self->open > 0)
                self->open--;
            broker_guard_closed (self->guard, (int) fd);
        }
        kn_metrics_gauge_set ("kinnet_broker_connections", (double) self->open, self->name,
                              NULL);
    }
    zmsg_destroy (&msg);
    return event;
}

bool
broker_socket_read_events (broker_socket_t *self)
{
    bool closed = false;
    for (int i = 0; i < 1000 && (zsock_events (self->events) & ZMQ_POLLIN); i++)
        closed |= s_event (self) == ZMQ_EVENT_DISCONNECTED;
    return closed;
}
