/*  kn_client: MDP client over a DEALER socket, with Lazy Pirate retries over a list
    of brokers and a socket monitor so an authentication refusal is reported instead
    of looking like silence. One socket at a time, connected to one broker: a request
    is never outstanding at two brokers at once. */
#include "kn_client.h"

#include <stdatomic.h>
#include <string.h>

#include "kinnet/v1/common.pb-c.h"
#include "kn_alloc.h"
#include "kn_endpoints.h"
#include "kn_mdp.h"

struct _kn_client_t {
    char *list;   // as given, for messages
    char *endpoints[KN_ENDPOINTS_MAX];
    int count;
    int current;    // the broker the socket is connected to
    int attempts;   // sends of the last call
    char *server_key;
    zcert_t *cert;
    zsock_t *socket;
    zsock_t *monitor;   // PAIR receiving the socket's handshake events
    int timeout_ms;
    int retries;
};

static void
s_disconnect (kn_client_t *self)
{
    if (self->socket)
        zmq_socket_monitor (zsock_resolve (self->socket), NULL, 0);
    zsock_destroy (&self->socket);
    zsock_destroy (&self->monitor);
}

static int
s_connect (kn_client_t *self, kn_error_t *err)
{
    s_disconnect (self);
    self->socket = zsock_new (ZMQ_DEALER);
    if (!self->socket)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "cannot create socket");
    zsock_set_linger (self->socket, 0);
    zsock_set_maxmsgsize (self->socket, KN_MAX_MESSAGE_BYTES);
    zcert_apply (self->cert, self->socket);
    zsock_set_curve_serverkey (self->socket, self->server_key);

    //  Each socket gets its own monitor endpoint, never reused: a closing socket's
    //  endpoint can outlive it, and its stale events must not reach a new socket.
    static atomic_uint s_monitors;
    char monitor_endpoint[64];
    snprintf (monitor_endpoint, sizeof monitor_endpoint, "inproc://kn-client-monitor-%u",
              atomic_fetch_add (&s_monitors, 1));
    if (zmq_socket_monitor (zsock_resolve (self->socket), monitor_endpoint,
                            ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                                | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        == 0) {
        self->monitor = zsock_new (ZMQ_PAIR);
        if (self->monitor && zsock_connect (self->monitor, "%s", monitor_endpoint) != 0)
            zsock_destroy (&self->monitor);
    }
    const char *endpoint = self->endpoints[self->current];
    if (zsock_connect (self->socket, "%s", endpoint) != 0)
        return kn_error_set (err, KN_E_SERVICE_UNAVAILABLE, NULL, "cannot connect to %s",
                             endpoint);
    return 0;
}

kn_client_t *
kn_client_new (const char *endpoint, zcert_t *cert, const char *server_key, kn_error_t *err)
{
    if (!endpoint || !cert || !server_key || strlen (server_key) != 40) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "server_key",
                      "endpoint, certificate and a 40-character server key are required");
        return NULL;
    }
    char *endpoints[KN_ENDPOINTS_MAX];
    int count = kn_endpoints_parse (endpoint, endpoints, err);
    if (count < 0)
        return NULL;
    kn_client_t *self = kn_calloc (1, sizeof *self);
    memcpy (self->endpoints, endpoints, sizeof endpoints);
    self->count = count;
    self->list = kn_strdup (endpoint);
    self->server_key = kn_strdup (server_key);
    self->cert = zcert_dup (cert);
    //  Longer than the broker's own wait for a worker (2500 ms by default), so a
    //  client hears the broker's SERVICE_UNAVAILABLE rather than timing out first.
    self->timeout_ms = 5000;
    self->retries = 2;
    if (s_connect (self, err))
        kn_client_destroy (&self);
    return self;
}

void
kn_client_destroy (kn_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kn_client_t *self = *self_p;
    s_disconnect (self);
    zcert_destroy (&self->cert);
    kn_endpoints_free (self->endpoints, self->count);
    free (self->list);
    free (self->server_key);
    free (self);
    *self_p = NULL;
}

void
kn_client_set_timeout (kn_client_t *self, int timeout_ms)
{
    self->timeout_ms = timeout_ms;
}

void
kn_client_set_retries (kn_client_t *self, int retries)
{
    self->retries = retries;
}

zframe_t *
kn_client_reply_frames (zmsg_t **msg_p, const char *service)
{
    zmsg_t *msg = *msg_p;
    char *empty = zmsg_popstr (msg);
    char *header = zmsg_popstr (msg);
    char *from = zmsg_popstr (msg);
    zframe_t *body = NULL;
    if (empty && header && from && !*empty && streq (header, KN_MDPC)
        && streq (from, service) && zmsg_size (msg) >= 1)
        body = zmsg_pop (msg);
    zstr_free (&empty);
    zstr_free (&header);
    zstr_free (&from);
    zmsg_destroy (msg_p);
    return body;
}

ProtobufCMessage *
kn_client_reply_decode (const ProtobufCMessageDescriptor *reply_type, const void *body,
                        size_t len, kn_error_t *err)
{
    ProtobufCMessage *reply = protobuf_c_message_unpack (reply_type, NULL, len, body);
    if (!reply) {
        kn_error_set (err, KN_E_MALFORMED, NULL, "reply could not be decoded");
        return NULL;
    }
    //  Every Kinnet reply carries its Error in field 1; a type without one has none.
    const ProtobufCFieldDescriptor *field
        = protobuf_c_message_descriptor_get_field (reply_type, 1);
    const Kinnet__V1__Error *error = NULL;
    if (field && field->type == PROTOBUF_C_TYPE_MESSAGE
        && field->label != PROTOBUF_C_LABEL_REPEATED
        && field->descriptor == &kinnet__v1__error__descriptor)
        error = *(Kinnet__V1__Error *const *) ((const char *) reply + field->offset);
    if (error) {
        kn_error_set (err, error->code ? (kn_code_t) error->code : KN_E_INTERNAL,
                      error->field, "%s", error->message);
        protobuf_c_message_free_unpacked (reply, NULL);
        return NULL;
    }
    return reply;
}

//  True when the monitor reports the broker refused our key.
static bool
s_auth_refused (kn_client_t *self)
{
    zmsg_t *event = zmsg_recv (self->monitor);
    if (!event)
        return false;
    zframe_t *head = zmsg_first (event);
    uint16_t id = 0;
    uint32_t status = 0;
    if (head && zframe_size (head) >= 6) {
        memcpy (&id, zframe_data (head), 2);
        memcpy (&status, zframe_data (head) + 2, 4);
    }
    zmsg_destroy (&event);
    //  400 is a refusal; 300 (the broker cannot check keys just now) is temporary, so
    //  the call goes on and ends as SERVICE_UNAVAILABLE if nothing else comes.
    return id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && status != 300;
}

//  Wait for one reply on the current socket. 1 = got it, 0 = timed out, -1 = refused.
static int
s_await (kn_client_t *self, const char *service, zframe_t **reply_p)
{
    int64_t deadline = zclock_mono () + self->timeout_ms;
    zpoller_t *poller = zpoller_new (self->socket, self->monitor, NULL);
    int outcome = 0;
    while (outcome == 0) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            break;
        void *which = zpoller_wait (poller, (int) left);
        if (!which) {
            if (zpoller_expired (poller) || zpoller_terminated (poller))
                break;
            continue;   // a signal (e.g. SIGCHLD) interrupted the wait: keep waiting
        }
        if (which == self->monitor) {
            if (s_auth_refused (self))
                outcome = -1;
            continue;
        }
        zmsg_t *msg = zmsg_recv (self->socket);
        if (!msg)
            break;
        //  Anything but a reply from the service called is not ours and is dropped.
        *reply_p = kn_client_reply_frames (&msg, service);
        if (*reply_p)
            outcome = 1;
    }
    zpoller_destroy (&poller);
    return outcome;
}

//  The broker after the current one that has not refused us in this call.
static void
s_next (kn_client_t *self, const bool *refused)
{
    for (int step = 1; step <= self->count; step++) {
        int candidate = (self->current + step) % self->count;
        if (!refused[candidate]) {
            self->current = candidate;
            return;
        }
    }
}

zframe_t *
kn_client_call (kn_client_t *self, const char *service, const void *body, size_t len,
                kn_error_t *err)
{
    bool refused[KN_ENDPOINTS_MAX] = {false};
    int refusals = 0, silences = 0;
    self->attempts = 0;
    //  Silences are what retries count; a refusal is answered at once, so moving on
    //  from it costs no wait, and each broker refuses at most once per call.
    while (silences <= self->retries && refusals < self->count) {
        if (self->attempts > 0 && s_connect (self, err))
            return NULL;
        self->attempts++;
        zmsg_t *request = zmsg_new ();
        zmsg_addstr (request, "");
        zmsg_addstr (request, KN_MDPC);
        zmsg_addstr (request, service);
        zmsg_addmem (request, body, len);
        int outcome = 0;
        zframe_t *reply = NULL;
        if (zmsg_send (&request, self->socket) == 0)
            outcome = s_await (self, service, &reply);
        else
            zmsg_destroy (&request);
        if (outcome == 1)
            return reply;
        if (outcome == -1) {
            refused[self->current] = true;
            refusals++;
        }
        else
            silences++;
        if (zsys_interrupted)
            break;
        s_next (self, refused);
    }
    //  A reply may still be on its way: a fresh socket makes sure it can never be
    //  taken for the answer to the next call. After a refusal it also makes a later
    //  call try the handshake again (the key may be registered by then).
    kn_error_t ignored;
    s_connect (self, &ignored);
    if (refusals == self->count)
        kn_error_set (err, KN_E_UNAUTHENTICATED, NULL,
                      self->count == 1
                          ? "the broker refused this certificate (unregistered or revoked)"
                          : "every broker refused this certificate (unregistered or "
                            "revoked)");
    else
        kn_error_set (err, KN_E_SERVICE_UNAVAILABLE, NULL,
                      "no reply from %s via %s after %d attempts%s", service, self->list,
                      self->attempts, refusals ? " (a broker refused this certificate)" : "");
    return NULL;
}

int
kn_client_attempts (kn_client_t *self)
{
    return self->attempts;
}

const char *
kn_client_endpoint (kn_client_t *self)
{
    return self->endpoints[self->current];
}
