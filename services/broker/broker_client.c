/*  broker_client: agencies' requests in. Each message's key is looked up again (a
    revocation stops an open connection at once); a health check's reaches MMI only;
    a request is admitted to its service's queue within the agency's limits and the
    broker's, or answered with why not. */
#include "broker_frames.h"
#include "broker_int.h"
#include "broker_keys.h"
#include "kinnet/v1/common.pb-c.h"
#include "kn_log.h"
#include "kn_mdp.h"

static void
s_mmi (broker_t *self, zframe_t *client, const char *service_name, zmsg_t *msg)
{
    zmsg_t *reply = zmsg_new ();
    if (streq (service_name, "mmi.service")) {
        char *asked = zmsg_popstr (msg);
        service_t *service = asked ? zhashx_lookup (self->services, asked) : NULL;
        zmsg_addstr (reply, (service && service->workers) ? "200" : "404");
        zstr_free (&asked);
    }
    else
        zmsg_addstr (reply, "501");
    broker_reply_to_client (self, client, service_name, &reply);
}

//  Admit a request to its service's queue, within the agency's limits and the
//  broker's; msg is the body frames, taken.
static void
s_enqueue (broker_t *self, zframe_t *client, const char *service_name, const char *agency,
           const char *key, zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    size_t bytes = zmsg_content_size (msg);
    service_t *service = broker_service_require (self, service_name);
    uint32_t wait_ms = broker_agencies_rate_wait (self->agencies, agency);
    //  A retry hint: about how long the queue ahead takes to clear, at least a second.
    uint32_t backoff = 1000;
    if (!service)
        broker_error_to_client (self, client, service_name, KN_E_SERVICE_UNAVAILABLE, backoff,
                           "the broker is out of memory; retry later");
    else if (wait_ms)
        broker_error_to_client (self, client, service_name, KN_E_RESOURCE_EXHAUSTED, wait_ms,
                           "this agency is over its request rate; retry later");
    else if (broker_queue_agency_size (service->queue, agency)
             >= (size_t) broker_peers_split (self->brokers_up, self->config.max_queued_per_agency,
                                             1))
        broker_error_to_client (self, client, service_name, KN_E_RESOURCE_EXHAUSTED, backoff,
                           "this agency has too many requests waiting for this service; "
                           "retry later");
    else if (broker_agencies_bytes (self->agencies, agency) + bytes
             > self->config.max_agency_bytes)
        broker_error_to_client (self, client, service_name, KN_E_RESOURCE_EXHAUSTED, backoff,
                           "this agency has too many bytes waiting; retry later");
    else if (broker_queue_size (service->queue) >= (size_t) self->config.max_queued
             || self->bytes + bytes > self->config.max_queued_bytes)
        broker_error_to_client (self, client, service_name, KN_E_SERVICE_UNAVAILABLE, backoff,
                           "service queue is full; retry later");
    else {
        Kinnet__V1__Caller caller = KINNET__V1__CALLER__INIT;
        caller.agency_id = (char *) agency;
        caller.key_fingerprint = (char *) key;
        uint8_t buf[256];
        size_t len = kinnet__v1__caller__pack (&caller, buf);
        zmsg_pushmem (msg, buf, len);
        zmsg_pushstr (msg, "");
        zmsg_prepend (msg, &(zframe_t *) {zframe_dup (client)});
        broker_request_t *request = calloc (1, sizeof *request);
        if (!request) {
            broker_error_to_client (self, client, service_name, KN_E_SERVICE_UNAVAILABLE, backoff,
                               "the broker is out of memory; retry later");
            zmsg_destroy (&msg);
            return;
        }
        request->msg = msg;
        request->bytes = bytes;
        request->deadline = zclock_mono () + self->config.request_timeout_ms;
        snprintf (request->agency, sizeof request->agency, "%s", agency);
        broker_agencies_hold (self->agencies, agency, bytes);
        self->bytes += bytes;
        broker_queue_push (service->queue, request);
        broker_service_dispatch (self, service);
        return;
    }
    zmsg_destroy (&msg);
}

//  A health check's request: the broker's MMI answers it whatever the state of the
//  key table; anything else is refused, so its certificate (which every container
//  holds for its health check) opens no service.
static void
s_health_message (broker_t *self, zmsg_t *msg)
{
    zframe_t *client = zmsg_pop (msg);
    broker_client_frames_t frames;
    broker_frames_client (msg, &frames);
    if (frames.verdict == BROKER_CLIENT_MMI)
        s_mmi (self, client, frames.service, msg);
    else if (frames.verdict != BROKER_CLIENT_DROP)
        broker_error_to_client (self, client, frames.service ? frames.service : "",
                           KN_E_PERMISSION_DENIED, 0,
                           "a health-check identity may use the broker's mmi.* services only");
    zframe_destroy (&client);
    broker_frames_client_free (&frames);
    zmsg_destroy (&msg);
}

void
broker_client_message (broker_t *self, zmsg_t *msg)
{
    char key[41];
    broker_frames_key (msg, key);
    const char *agency = broker_keys_agency (self->keys, key);
    if (!agency && broker_keys_health (self->keys, key)) {
        s_health_message (self, msg);
        return;
    }
    if (!agency) {
        //  Not (or no longer) an active agency key: no answer of any kind.
        broker_log_denied (self, "frontend");
        zmsg_destroy (&msg);
        return;
    }
    zframe_t *client = zmsg_pop (msg);
    if (broker_keys_stale (self->keys)) {
        //  The key table could not be read for too long (the database is down): a
        //  key revoked meanwhile must not keep working, so nobody is served. The
        //  caller's key was valid when last read, so saying so discloses nothing.
        char *name = broker_frames_client_service (msg);
        broker_error_to_client (self, client, name ? name : "", KN_E_SERVICE_UNAVAILABLE, 1000,
                           "the broker cannot check keys (database unreachable); retry later");
        free (name);
        zframe_destroy (&client);
        zmsg_destroy (&msg);
        return;
    }
    broker_client_frames_t frames;
    broker_frames_client (msg, &frames);
    const char *service_name = frames.service;
    switch (frames.verdict) {
    case BROKER_CLIENT_DROP:
    case BROKER_CLIENT_NO_SERVICE:
        kn_log (KN_WARN, "request.malformed", "socket", "frontend", NULL);
        //  A reply needs the service frame; without a valid envelope there is no
        //  MDP way to answer, so the message is dropped.
        if (frames.verdict == BROKER_CLIENT_NO_SERVICE)
            broker_error_to_client (self, client, "", KN_E_MALFORMED, 0, "missing service frame");
        break;
    case BROKER_CLIENT_BAD_SERVICE:
        broker_error_to_client (self, client, service_name, KN_E_UNKNOWN_SERVICE, 0,
                           "service name must be 1 to 64 characters");
        break;
    case BROKER_CLIENT_NO_BODY:
        broker_error_to_client (self, client, service_name, KN_E_MALFORMED, 0, "empty request body");
        break;
    case BROKER_CLIENT_MMI:
        s_mmi (self, client, service_name, msg);
        break;
    case BROKER_CLIENT_REQUEST:
        s_enqueue (self, client, service_name, agency, key, &msg);
        break;
    }
    zframe_destroy (&client);
    broker_frames_client_free (&frames);
    zmsg_destroy (&msg);
}

