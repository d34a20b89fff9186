/*  kn_worker: MDP worker with heartbeats and reconnection (spec 7 section "Worker"). */
#include "kn_worker.h"

#include "kn_log.h"
#include "kn_mdp.h"
#include "kn_alloc.h"

struct _kn_worker_t {
    char *endpoint;
    char *service;
    char *server_key;
    zcert_t *cert;
    zsock_t *socket;
    int heartbeat_ms;
    int64_t heartbeat_at; // when to send the next heartbeat
    int64_t expires_at;   // broker presumed gone if silent until then
};

static void
s_send_command (kn_worker_t *self, int command, zmsg_t *body)
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
        if (zframe_send (&frame, self->socket, flags) != 0) {
            zframe_destroy (&frame);
            break;
        }
    }
    zmsg_destroy (&msg);
}

static int
s_connect (kn_worker_t *self)
{
    zsock_destroy (&self->socket);
    self->socket = zsock_new (ZMQ_DEALER);
    if (!self->socket)
        return -1;
    zsock_set_linger (self->socket, 0);
    zsock_set_maxmsgsize (self->socket, KN_MAX_MESSAGE_BYTES);
    zcert_apply (self->cert, self->socket);
    zsock_set_curve_serverkey (self->socket, self->server_key);
    if (zsock_connect (self->socket, "%s", self->endpoint) != 0)
        return -1;
    zmsg_t *body = zmsg_new ();
    zmsg_addstr (body, self->service);
    s_send_command (self, KN_MDPW_READY, body);
    self->heartbeat_at = zclock_mono () + self->heartbeat_ms;
    self->expires_at =
        zclock_mono () + (int64_t)self->heartbeat_ms * KN_HEARTBEAT_LIVENESS;
    return 0;
}

kn_worker_t *
kn_worker_new (const char *endpoint, const char *service, zcert_t *cert,
               const char *server_key, kn_error_t *err)
{
    kn_worker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->endpoint = kn_strdup (endpoint);
    self->service = kn_strdup (service);
    self->server_key = kn_strdup (server_key);
    self->cert = zcert_dup (cert);
    self->heartbeat_ms = kn_mdp_heartbeat_ms ();
    if (s_connect (self)) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "cannot connect worker to %s", endpoint);
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
    if (self->socket) {
        //  The DISCONNECT must reach the broker: with it, the broker gives what it
        //  handed this worker meanwhile (never read) to another worker, uncounted;
        //  without it, it sees a dead connection, and a request passed between the
        //  slots of one stopping process runs out of re-handings. Kept for at most a
        //  second at exit, when the broker is not there to take it.
        zsock_set_linger (self->socket, 1000);
        s_send_command (self, KN_MDPW_DISCONNECT, NULL);
    }
    zsock_destroy (&self->socket);
    zcert_destroy (&self->cert);
    free (self->endpoint);
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
    bool valid = empty && header && command && !*empty && streq (header, KN_MDPW)
                 && zframe_size (command) == 1;
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

zmsg_t *
kn_worker_recv (kn_worker_t *self, zframe_t **reply_to, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : zclock_mono () + timeout_ms;
    //  The socket is looked at once even when the time is up (timeout_ms 0: poll).
    for (bool first = true; !zsys_interrupted; first = false) {
        int64_t now = zclock_mono ();
        if (now >= deadline && !first)
            return NULL;
        int64_t wait = self->heartbeat_at - now;
        if (deadline - now < wait)
            wait = deadline - now;
        if (wait < 0)
            wait = 0;
        zmq_pollitem_t item = {zsock_resolve (self->socket), 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll (&item, 1, (long)wait);
        if (rc < 0)
            return NULL; // interrupted
        if (item.revents & ZMQ_POLLIN) {
            zmsg_t *msg = zmsg_recv (self->socket);
            if (!msg)
                return NULL;
            self->expires_at =
                zclock_mono () + (int64_t)self->heartbeat_ms * KN_HEARTBEAT_LIVENESS;
            int cmd = kn_worker_frames (msg, reply_to);
            if (cmd == KN_MDPW_REQUEST)
                return msg;
            if (cmd == KN_MDPW_DISCONNECT) {
                kn_log (KN_INFO, "worker.reconnect", "reason", "broker_disconnect", NULL);
                s_connect (self);
            }
            zmsg_destroy (&msg); // heartbeat, or nothing we understand
        } else if (zclock_mono () >= self->expires_at) {
            kn_log (KN_WARN, "worker.reconnect", "reason", "broker_silent", NULL);
            s_connect (self);
        }
        if (zclock_mono () >= self->heartbeat_at) {
            s_send_command (self, KN_MDPW_HEARTBEAT, NULL);
            self->heartbeat_at = zclock_mono () + self->heartbeat_ms;
        }
    }
    return NULL;
}

zsock_t *
kn_worker_socket (kn_worker_t *self)
{
    return self->socket;
}

int
kn_worker_send (kn_worker_t *self, zmsg_t **reply_p, zframe_t *reply_to)
{
    zmsg_t *msg = *reply_p;
    *reply_p = NULL;
    zmsg_wrap (msg, zframe_dup (reply_to));
    s_send_command (self, KN_MDPW_REPLY, msg);
    //  The broker sends no heartbeats to a busy worker, so silence while we worked
    //  says nothing about the broker: judge its liveness from now on. (Reconnecting
    //  here would lose the next request the broker hands to this connection.)
    self->expires_at =
        zclock_mono () + (int64_t)self->heartbeat_ms * KN_HEARTBEAT_LIVENESS;
    return 0;
}

void
kn_worker_heartbeat (kn_worker_t *self)
{
    if (zclock_mono () >= self->heartbeat_at) {
        s_send_command (self, KN_MDPW_HEARTBEAT, NULL);
        self->heartbeat_at = zclock_mono () + self->heartbeat_ms;
    }
}
