/*  kn_worker: MDP worker with heartbeats and reconnection (spec 7 section "Worker"),
    registered with every broker of its list. Each broker has its own DEALER, READY,
    heartbeats and liveness, as if it were the only one: MDP's commands are per
    connection, and one socket connected to several brokers would spread a READY or
    a heartbeat over them round robin. A broker that goes silent is reconnected on
    its own; the others keep serving. */
#include "kn_worker.h"

#include "kn_alloc.h"
#include "kn_endpoints.h"
#include "kn_log.h"
#include "kn_mdp.h"

typedef struct {
    char *endpoint;
    zsock_t *socket;
    int64_t heartbeat_at; // when to send the next heartbeat
    int64_t expires_at;   // broker presumed gone if silent until then
    bool away;            // left while the worker is busy elsewhere (no socket)
} s_broker_t;

struct _kn_worker_t {
    char *service;
    char *server_key;
    zcert_t *cert;
    int heartbeat_ms;
    s_broker_t brokers[KN_ENDPOINTS_MAX];
    int count;
    int next;     // the broker looked at first by the next receive (fairness)
    int replying; // the broker the last request came from
    bool busy;    // between a request returned and its reply sent
};

static void
s_send_command (zsock_t *socket, int command, zmsg_t *body)
{
    zmsg_t *msg = body ? body : zmsg_new ();
    uint8_t cmd = (uint8_t)command;
    zmsg_pushmem (msg, &cmd, 1);
    zmsg_pushstr (msg, KN_MDPW);
    zmsg_pushstr (msg, "");
    //  Never wait: with no connection (the broker refused this key, or is away) a
    //  DEALER would block the send, and with it the worker's stop. What cannot go
    //  now is dropped: a reply's client retries, a heartbeat's absence is noticed.
    zframe_t *frame;
    while ((frame = zmsg_pop (msg))) {
        int flags = ZFRAME_DONTWAIT | (zmsg_size (msg) ? ZFRAME_MORE : 0);
        if (zframe_send (&frame, socket, flags) != 0) {
            zframe_destroy (&frame);
            break;
        }
    }
    zmsg_destroy (&msg);
}

static void
s_alive (kn_worker_t *self, s_broker_t *broker)
{
    broker->expires_at =
        zclock_mono () + (int64_t)self->heartbeat_ms * KN_HEARTBEAT_LIVENESS;
}

static int
s_connect (kn_worker_t *self, s_broker_t *broker)
{
    zsock_destroy (&broker->socket);
    broker->socket = zsock_new (ZMQ_DEALER);
    if (!broker->socket)
        return -1;
    zsock_set_linger (broker->socket, 0);
    zsock_set_maxmsgsize (broker->socket, KN_MAX_MESSAGE_BYTES);
    zcert_apply (self->cert, broker->socket);
    zsock_set_curve_serverkey (broker->socket, self->server_key);
    //  Resolved here, never by libzmq (kn_endpoint_resolve says why). A name that does
    //  not resolve leaves the socket unconnected, and silent: the next liveness check
    //  tries again.
    char address[KN_ENDPOINT_MAX_LEN + 1];
    s_alive (self, broker);
    broker->heartbeat_at = zclock_mono () + self->heartbeat_ms;
    if (kn_endpoint_resolve (broker->endpoint, address, sizeof address, self->heartbeat_ms)) {
        kn_log (KN_WARN, "worker.unresolved", "broker", broker->endpoint, NULL);
        return 0;   // not an error: that broker may come back
    }
    if (zsock_connect (broker->socket, "%s", address) != 0)
        return -1;
    zmsg_t *body = zmsg_new ();
    zmsg_addstr (body, self->service);
    s_send_command (broker->socket, KN_MDPW_READY, body);
    return 0;
}

//  Brokers left while busy are joined again (a new connection and READY).
static void
s_rejoin (kn_worker_t *self)
{
    for (int i = 0; i < self->count; i++)
        if (self->brokers[i].away) {
            self->brokers[i].away = false;
            s_connect (self, &self->brokers[i]);
        }
}

kn_worker_t *
kn_worker_new (const char *endpoint, const char *service, zcert_t *cert,
               const char *server_key, kn_error_t *err)
{
    char *endpoints[KN_ENDPOINTS_MAX];
    int count = kn_endpoints_parse (endpoint, endpoints, err);
    if (count < 0)
        return NULL;
    kn_worker_t *self = kn_calloc (1, sizeof *self);
    self->service = kn_strdup (service);
    self->server_key = kn_strdup (server_key);
    self->cert = zcert_dup (cert);
    self->heartbeat_ms = kn_mdp_heartbeat_ms ();
    self->count = count;
    for (int i = 0; i < count; i++)
        self->brokers[i].endpoint = endpoints[i];
    for (int i = 0; i < count && self; i++)
        if (s_connect (self, &self->brokers[i])) {
            kn_error_set (err, KN_E_INTERNAL, "endpoint", "cannot connect worker to %s",
                          self->brokers[i].endpoint);
            kn_worker_destroy (&self);
        }
    return self;
}

void
kn_worker_destroy (kn_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kn_worker_t *self = *self_p;
    for (int i = 0; i < self->count; i++) {
        s_broker_t *broker = &self->brokers[i];
        if (broker->socket) {
            //  The DISCONNECT must reach the broker: with it, the broker gives what
            //  it handed this worker meanwhile (never read) to another worker,
            //  uncounted; without it, it sees a dead connection, and a request passed
            //  between the slots of one stopping process runs out of re-handings.
            //  Kept for at most a second at exit, when the broker is not there to
            //  take it (the brokers' seconds run side by side: linger is per socket).
            zsock_set_linger (broker->socket, 1000);
            s_send_command (broker->socket, KN_MDPW_DISCONNECT, NULL);
        }
    }
    for (int i = 0; i < self->count; i++) {
        zsock_destroy (&self->brokers[i].socket);
        free (self->brokers[i].endpoint);
    }
    zcert_destroy (&self->cert);
    free (self->service);
    free (self->server_key);
    free (self);
    *self_p = NULL;
}

int
kn_worker_frames (zmsg_t *msg, zframe_t **reply_to)
{
    char *empty = zmsg_popstr (msg);
    char *header = zmsg_popstr (msg);
    zframe_t *command = zmsg_pop (msg);
    bool valid = empty && header && command && !*empty && streq (header, KN_MDPW) &&
                 zframe_size (command) == 1;
    int cmd = valid ? zframe_data (command)[0] : -1;
    zstr_free (&empty);
    zstr_free (&header);
    zframe_destroy (&command);
    if (cmd != KN_MDPW_REQUEST)
        return cmd;
    if (zmsg_size (msg) < 2)
        return -1;
    *reply_to = zmsg_unwrap (msg); // client address and empty frame
    return cmd;
}

//  One message off broker's socket: the request's body frames, or NULL after a
//  heartbeat or a command that was handled here.
static zmsg_t *
s_take (kn_worker_t *self, s_broker_t *broker, zframe_t **reply_to)
{
    zmsg_t *msg = zmsg_recv (broker->socket);
    if (!msg)
        return NULL;
    s_alive (self, broker);
    int cmd = kn_worker_frames (msg, reply_to);
    if (cmd == KN_MDPW_REQUEST)
        return msg;
    if (cmd == KN_MDPW_DISCONNECT) {
        kn_log (KN_INFO, "worker.reconnect", "reason", "broker_disconnect", "broker",
                broker->endpoint, NULL);
        s_connect (self, broker);
    }
    zmsg_destroy (&msg); // heartbeat, or nothing we understand
    return NULL;
}

//  Heartbeats that are due, and reconnection of brokers silent too long. A broker
//  with input waiting is not silent: its messages are read before it is judged.
static void
s_keep_alive (kn_worker_t *self, const zmq_pollitem_t *items)
{
    for (int i = 0; i < self->count; i++) {
        s_broker_t *broker = &self->brokers[i];
        if (!(items[i].revents & ZMQ_POLLIN) && zclock_mono () >= broker->expires_at) {
            kn_log (KN_WARN, "worker.reconnect", "reason", "broker_silent", "broker",
                    broker->endpoint, NULL);
            s_connect (self, broker);
        }
        if (zclock_mono () >= broker->heartbeat_at) {
            s_send_command (broker->socket, KN_MDPW_HEARTBEAT, NULL);
            broker->heartbeat_at = zclock_mono () + self->heartbeat_ms;
        }
    }
}

zmsg_t *
kn_worker_recv (kn_worker_t *self, zframe_t **reply_to, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : zclock_mono () + timeout_ms;
    self->busy = false; // whatever was returned before is the caller's now
    s_rejoin (self);
    //  The sockets are looked at once even when the time is up (timeout_ms 0: poll).
    for (bool first = true; !zsys_interrupted; first = false) {
        int64_t now = zclock_mono ();
        if (now >= deadline && !first)
            return NULL;
        int64_t wait = deadline - now;
        for (int i = 0; i < self->count; i++)
            if (self->brokers[i].heartbeat_at - now < wait)
                wait = self->brokers[i].heartbeat_at - now;
        if (wait < 0)
            wait = 0;
        zmq_pollitem_t items[KN_ENDPOINTS_MAX];
        kn_worker_pollitems (self, items);
        if (zmq_poll (items, self->count, (long)wait) < 0)
            return NULL; // interrupted
        //  Brokers take turns being read first, so a busy one cannot starve another.
        for (int k = 0; k < self->count; k++) {
            int i = (self->next + k) % self->count;
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            zmsg_t *request = s_take (self, &self->brokers[i], reply_to);
            if (request) {
                self->busy = true;
                self->replying = i;
                self->next = (i + 1) % self->count;
                s_keep_alive (self, items);
                return request;
            }
        }
        s_keep_alive (self, items);
    }
    return NULL;
}

int
kn_worker_pollitems (kn_worker_t *self, zmq_pollitem_t *items)
{
    s_rejoin (self);
    for (int i = 0; i < self->count; i++)
        items[i] =
            (zmq_pollitem_t){zsock_resolve (self->brokers[i].socket), 0, ZMQ_POLLIN, 0};
    return self->count;
}

int
kn_worker_send (kn_worker_t *self, zmsg_t **reply_p, zframe_t *reply_to)
{
    zmsg_t *msg = *reply_p;
    *reply_p = NULL;
    s_broker_t *broker = &self->brokers[self->replying];
    zmsg_wrap (msg, zframe_dup (reply_to));
    s_send_command (broker->socket, KN_MDPW_REPLY, msg);
    self->busy = false;
    s_rejoin (self);
    //  The broker sends no heartbeats to a busy worker, so silence while we worked
    //  says nothing about the broker: judge its liveness from now on. (Reconnecting
    //  here would lose the next request the broker hands to this connection.)
    s_alive (self, broker);
    return 0;
}

//  While busy, another broker that hands this worker a request would see it wait
//  until the one in hand is done (a feed long poll: many seconds). The worker says
//  DISCONNECT to that broker instead, which gives the request to another worker at
//  once, and joins it again when it is free. What else came is read and dropped.
static void
s_give_back (kn_worker_t *self, s_broker_t *broker)
{
    while (!broker->away) {
        //  Asked again each time: a DISCONNECT from the broker replaces the socket.
        zmq_pollitem_t item = {zsock_resolve (broker->socket), 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, 0) <= 0 || !(item.revents & ZMQ_POLLIN))
            break;
        zframe_t *reply_to = NULL;
        zmsg_t *request = s_take (self, broker, &reply_to);
        if (!request)
            continue; // a heartbeat, or a DISCONNECT already answered by reconnecting
        kn_log (KN_INFO, "worker.give_back", "broker", broker->endpoint, NULL);
        zmsg_destroy (&request);
        zframe_destroy (&reply_to);
        zsock_set_linger (broker->socket, 1000); // the DISCONNECT must reach it
        s_send_command (broker->socket, KN_MDPW_DISCONNECT, NULL);
        zsock_destroy (&broker->socket);
        broker->away = true;
    }
}

void
kn_worker_heartbeat (kn_worker_t *self)
{
    for (int i = 0; i < self->count; i++) {
        s_broker_t *broker = &self->brokers[i];
        if (self->busy && i != self->replying)
            s_give_back (self, broker);
        if (broker->away)
            continue;
        if (zclock_mono () >= broker->heartbeat_at) {
            s_send_command (broker->socket, KN_MDPW_HEARTBEAT, NULL);
            broker->heartbeat_at = zclock_mono () + self->heartbeat_ms;
        }
    }
}
