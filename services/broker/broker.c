/*  broker: MDP/0.1 routing between agency clients and service workers.
    Frames, as spec 7 defines them (ROUTER adds the peer address in front):
      client  -> broker  [addr]["" ]["MDPC01"][service][body...]
      broker  -> worker  [addr][""]["MDPW01"][0x02][client][""][Caller][body...]
      worker  -> broker  [addr][""]["MDPW01"][0x03][client][""][body...]
      broker  -> client  [addr][""]["MDPC01"][service][body...]
    This file runs the loop, the worker side and the timers; agencies' requests come
    in through broker_client.c; broker_int.h holds the state both share. */
#include "broker.h"

#include <errno.h>

#include "broker_frames.h"
#include "broker_int.h"
#include "kinnet/v1/common.pb-c.h"
#include "kn_alloc.h"
#include "kn_log.h"
#include "kn_mdp.h"
#include "kn_metrics.h"

//  The guard measures connections this often, and the broker probes its workers'
//  connections this often for a second after any backend connection closed.
#define GUARD_MS 50
#define PROBE_FOR_MS 1000
//  Requests in flight when their worker died, remembered this long and this many
//  (broker_suspects): long enough to catch a sender's retries, 32 KiB at most.
#define SUSPECTS_MS  600000
#define SUSPECTS_MAX 1024

//  -------------------------------------------------------------------------
//  Replies and errors

void
broker_reply_to_client (broker_t *self, zframe_t *client, const char *service, zmsg_t **body_p)
{
    zmsg_t *msg = *body_p ? *body_p : zmsg_new ();
    *body_p = NULL;
    zmsg_pushstr (msg, service);
    zmsg_pushstr (msg, KN_MDPC);
    zmsg_pushstr (msg, "");
    zmsg_prepend (msg, &(zframe_t *) {zframe_dup (client)});
    zmsg_send (&msg, self->frontend);
}

void
broker_error_to_client (broker_t *self, zframe_t *client, const char *service, kn_code_t code,
                   uint32_t retry_after_ms, const char *message)
{
    broker_count (self, service,
             code == KN_E_SERVICE_UNAVAILABLE    ? "unavailable"
             : code == KN_E_RESOURCE_EXHAUSTED ? "limited"
                                                 : "refused");
    Kinnet__V1__Error error = KINNET__V1__ERROR__INIT;
    error.code = (Kinnet__V1__ErrorCode) code;
    error.message = (char *) message;
    error.field = "service";
    error.retry_after_ms = retry_after_ms;
    Kinnet__V1__ErrorReply reply = KINNET__V1__ERROR_REPLY__INIT;
    reply.error = &error;
    uint8_t buf[512];   // a code, a short message, "service" and a number
    size_t len = kinnet__v1__error_reply__pack (&reply, buf);
    zmsg_t *body = zmsg_new ();
    zmsg_addmem (body, buf, len);
    broker_reply_to_client (self, client, service, &body);
}

//  -------------------------------------------------------------------------
//  Requests

//  A request leaves the broker (answered, expired or refused after queueing).
static void
s_request_finish (broker_t *self, service_t *service, broker_request_t **request_p,
                  bool held)
{
    broker_request_t *request = *request_p;
    if (!request)
        return;
    self->bytes -= request->bytes;
    broker_agencies_release (self->agencies, request->agency, request->bytes);
    if (held && service)
        broker_queue_done (service->queue, request->agency);
    broker_request_destroy (request_p);
}

//  -------------------------------------------------------------------------
//  Services and workers

static void
s_service_destroy (void **item)
{
    service_t *service = (service_t *) *item;
    if (!service)
        return;
    broker_queue_destroy (&service->queue);
    zlist_destroy (&service->waiting);
    free (service->name);
    free (service);
    *item = NULL;
}

service_t *
broker_service_require (broker_t *self, const char *name)
{
    service_t *service = zhashx_lookup (self->services, name);
    if (!service) {
        service = calloc (1, sizeof *service);
        if (!service)
            return NULL;
        service->name = strdup (name);
        service->queue = broker_queue_new ();
        service->waiting = zlist_new ();
        service->strict = broker_frames_listed (self->config.strict_services, name);
        if (!service->name || !service->queue || !service->waiting) {
            s_service_destroy ((void **) &service);
            return NULL;
        }
        zhashx_insert (self->services, name, service);
    }
    return service;
}

static void
s_worker_free (void **item)
{
    worker_t *worker = (worker_t *) *item;
    if (!worker)
        return;
    zframe_destroy (&worker->address);
    broker_request_destroy (&worker->request);
    free (worker->identity);
    free (worker);
    *item = NULL;
}

//  Sends never wait: the backend is ROUTER_MANDATORY, so a message for a worker whose
//  connection is gone fails at once (EHOSTUNREACH) instead of vanishing, and one for
//  a worker that stopped reading finds its queue full (EAGAIN). -1 then, with errno.
static int
s_worker_send (broker_t *self, worker_t *worker, int command, zmsg_t *body)
{
    zmsg_t *msg = body ? body : zmsg_new ();
    uint8_t cmd = (uint8_t) command;
    zmsg_pushmem (msg, &cmd, 1);
    zmsg_pushstr (msg, KN_MDPW);
    zmsg_pushstr (msg, "");
    zmsg_prepend (msg, &(zframe_t *) {zframe_dup (worker->address)});
    int rc = 0, error = 0;
    zframe_t *frame;
    while ((frame = zmsg_pop (msg))) {
        int flags = ZFRAME_DONTWAIT | (zmsg_size (msg) ? ZFRAME_MORE : 0);
        if (zframe_send (&frame, zsock_resolve (self->backend), flags) != 0) {
            error = zmq_errno ();
            zframe_destroy (&frame);
            rc = -1;
            break;
        }
    }
    zmsg_destroy (&msg);
    errno = error;
    return rc;
}

//  A heartbeat; false only when the worker's connection is gone. A worker too busy
//  to read (its queue full) is alive: its own heartbeats decide.
static bool
s_worker_beat (broker_t *self, worker_t *worker)
{
    return s_worker_send (self, worker, KN_MDPW_HEARTBEAT, NULL) == 0 || errno != EHOSTUNREACH;
}


//  How many times a request goes back to the queue from workers that left cleanly.
#define LEFT_MAX 8

//  Why a worker is forgotten, which decides what happens to the request it held.
typedef enum {
    WORKER_LEFT,       // it said DISCONNECT: it answers what it read before it leaves, so
                       // a request it holds was never read; it goes to another worker,
                       // uncounted (up to LEFT_MAX times)
    WORKER_GONE,       // its connection closed: the request goes to another worker once
    WORKER_EXPIRED,    // silent too long (busy: busy_max_ms): the request may be what
                       // stalls it; answered
    WORKER_REFUSED,    // a protocol error or a key no longer allowed: told to go
} worker_end_t;

static void
s_worker_delete (broker_t *self, worker_t *worker, worker_end_t end)
{
    service_t *service = worker->service;
    broker_request_t *request = worker->request;
    worker->request = NULL;
    if (request && service) {
        //  Counted across the sender's retries: the same bytes are the same request.
        //  Off unless configured: a killed process takes all its worker connections
        //  at once, and a request handed again to one of them (its close not seen
        //  yet) would count as killing two workers (docs/operations.md).
        bool watch = end == WORKER_GONE && self->config.poison_deaths > 0;
        int deaths = watch ? broker_suspects_died (self->suspects, service->name,
                                                   request->msg, zclock_mono ())
                           : 0;
        bool poison = watch && deaths >= self->config.poison_deaths;
        if (end == WORKER_LEFT && request->left < LEFT_MAX) {
            //  Not a death: the slots of a process that stops cleanly leave one after
            //  another, and a request passed between them must not use up its one
            //  re-handing (a certificate rotation, a scale-down: docs/operations.md).
            request->left++;
            request->handed--;
            broker_queue_done (service->queue, request->agency);
            broker_queue_push_front (service->queue, request);
            kn_log (KN_INFO, "request.handed_again", "service",
                    broker_frames_label (service->name), "reason", "worker_left", NULL);
        }
        else if (end != WORKER_EXPIRED && end != WORKER_REFUSED && !poison &&
                 request->handed < 2) {
            //  Every write carries an idempotency key: if the dead worker committed
            //  it, the next worker answers from the record. It keeps its place.
            broker_queue_done (service->queue, request->agency);
            broker_queue_push_front (service->queue, request);
            kn_log (KN_WARN, "request.handed_again", "service", broker_frames_label (service->name),
                    NULL);
        }
        else if (poison) {
            //  The second worker to die holding it: the request may be what kills
            //  them, so no third one gets it, and the answer is not one that invites
            //  a retry. A worker may have committed it before dying.
            kn_log (KN_WARN, "request.poison", "service", broker_frames_label (service->name),
                    "agency_id", request->agency, NULL);
            broker_error_to_client (self, zmsg_first (request->msg), service->name, KN_E_INTERNAL, 0,
                               "two workers stopped while handling this request, so it is "
                               "not handed to another: it may be what stops them. Whether "
                               "it took effect is unknown: report it; once the fault is "
                               "fixed, the same request with the same idempotency key "
                               "finds out");
            s_request_finish (self, service, &request, true);
        }
        else {
            //  Whether the request was committed is unknown; a retry with the same
            //  key finds out.
            static const char *why[] = {"left", "gone", "expired", "refused"};
            char handed[16];
            snprintf (handed, sizeof handed, "%d", request->handed);
            kn_log (KN_WARN, "request.abandoned", "service", broker_frames_label (service->name),
                    "worker", why[end], "handed", handed, NULL);
            broker_error_to_client (self, zmsg_first (request->msg), service->name,
                               KN_E_SERVICE_UNAVAILABLE, 0,
                               end == WORKER_EXPIRED
                                   ? "the worker handling this request has said nothing "
                                     "for too long and was given up; retry with the "
                                     "same idempotency key"
                                   : "the worker handling this request stopped; retry "
                                     "with the same idempotency key");
            s_request_finish (self, service, &request, true);
        }
    }
    if (end == WORKER_REFUSED)
        s_worker_send (self, worker, KN_MDPW_DISCONNECT, NULL);
    if (service) {
        zlist_remove (service->waiting, worker);
        service->workers--;
        kn_metrics_gauge_set ("kinnet_broker_workers", (double) service->workers,
                              broker_frames_label (service->name), NULL);
    }
    zhashx_delete (self->workers, worker->identity);   // frees the worker
}

//  While other agencies wait, one agency holds at most this many of its workers.
static size_t
s_agency_cap (broker_t *self, service_t *service)
{
    //  Each broker sees every worker: with N brokers up, an agency may hold 1/N of
    //  the share at each, so no more than the share in all.
    size_t brokers = (size_t) self->brokers_up;
    size_t cap = (service->workers * (size_t) self->config.agency_share + 100 * brokers - 1)
                 / (100 * brokers);
    return cap ? cap : 1;
}

//  Hand waiting requests to idle workers, each agency in turn.
void
broker_service_dispatch (broker_t *self, service_t *service)
{
    size_t cap = s_agency_cap (self, service);
    while (zlist_size (service->waiting) && broker_queue_size (service->queue)) {
        broker_request_t *request = broker_queue_next (service->queue, cap, service->strict);
        if (!request)
            break;   // strict: every waiting agency holds its share already
        worker_t *worker = zlist_pop (service->waiting);
        zmsg_t *copy = zmsg_dup (request->msg);
        if (copy && s_worker_send (self, worker, KN_MDPW_REQUEST, copy) == 0) {
            request->handed++;
            worker->request = request;
            worker->busy_until = zclock_mono () + self->config.busy_max_ms;
            continue;
        }
        //  Its connection is gone: the request keeps its place for the next worker.
        broker_queue_done (service->queue, request->agency);
        broker_queue_push_front (service->queue, request);
        kn_log (KN_INFO, "worker.gone", "service", broker_frames_label (service->name), NULL);
        s_worker_delete (self, worker, WORKER_GONE);
    }
}

static void
s_worker_waiting (broker_t *self, worker_t *worker)
{
    worker->expiry = zclock_mono () + (int64_t) self->config.heartbeat_ms * KN_HEARTBEAT_LIVENESS;
    zlist_append (worker->service->waiting, worker);
    broker_service_dispatch (self, worker->service);
}

//  Heartbeats to workers (busy_only: those holding a request, after a backend
//  connection closed), forgetting those whose connection is gone. Only a busy worker
//  needs finding out at once, for its request; a waiting one that is gone fails its
//  next request's send, which then goes to the next worker. MDP allows heartbeats at
//  any time.
static void
s_probe_workers (broker_t *self, bool busy_only)
{
    zlist_t *gone = zlist_new ();
    for (worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers))
        if ((worker->request || !busy_only) && !s_worker_beat (self, worker))
            zlist_append (gone, worker);
    zlist_t *services = zlist_new ();
    for (worker_t *worker = zlist_first (gone); worker; worker = zlist_next (gone)) {
        kn_log (KN_INFO, "worker.gone", "service",
                broker_frames_label (worker->service ? worker->service->name : NULL), NULL);
        if (worker->service && !zlist_exists (services, worker->service))
            zlist_append (services, worker->service);
        s_worker_delete (self, worker, WORKER_GONE);
    }
    for (service_t *service = zlist_first (services); service; service = zlist_next (services))
        broker_service_dispatch (self, service);
    zlist_destroy (&services);
    zlist_destroy (&gone);
}

//  -------------------------------------------------------------------------
//  Metrics and logs

//  Metrics: a service is labelled by its name once a worker has served it since the
//  broker started (only admitted service keys can do that, so the names are few),
//  and as "unregistered" otherwise: names clients make up never become series.
static const char *
s_metrics_label (broker_t *self, const char *service)
{
    return service && zhashx_lookup (self->served, service) ? broker_frames_label (service)
                                                            : "unregistered";
}

//  One client request answered: result is ok, unavailable or refused.
void
broker_count (broker_t *self, const char *service, const char *result)
{
    kn_metrics_counter_add ("kinnet_broker_requests_total", 1, s_metrics_label (self, service),
                            result, NULL);
}

//  A refused key may send as fast as it likes; the log says so once a second with
//  a count, rather than once per message.
void
broker_log_denied (broker_t *self, const char *socket)
{
    kn_metrics_counter_add ("kinnet_broker_auth_denied_total", 1, socket, NULL);
    self->denied_since++;
    int64_t now = zclock_mono ();
    if (now - self->denied_logged_at < 1000)
        return;
    char count[24];
    snprintf (count, sizeof count, "%ld", self->denied_since);
    kn_log (KN_WARN, "auth.denied", "socket", socket, "messages", count, NULL);
    self->denied_logged_at = now;
    self->denied_since = 0;
}

//  -------------------------------------------------------------------------
//  Worker side


static void
s_worker_message (broker_t *self, zmsg_t *msg)
{
    char key[41];
    broker_frames_key (msg, key);
    const char *allowed = broker_keys_service (self->keys, key);

    zframe_t *address = zmsg_pop (msg);
    char *identity = zframe_strhex (address);
    broker_worker_frames_t frames;
    broker_frames_worker (msg, &frames);
    worker_t *worker = zhashx_lookup (self->workers, identity);
    int cmd = frames.command;

    if (!allowed) {
        //  A client (agency) key on the worker socket, or a retired service key.
        broker_log_denied (self, "backend");
        if (worker)
            s_worker_delete (self, worker, WORKER_REFUSED);
    }
    else if (!frames.valid)
        kn_log (KN_WARN, "worker.malformed", NULL);
    else if (cmd == KN_MDPW_READY) {
        const char *service_name = frames.service;
        bool permitted = frames.service_ok && broker_frames_listed (allowed, service_name);
        if (worker || !permitted) {
            //  READY twice, or for a service this key may not serve: protocol error.
            kn_log (KN_WARN, "worker.refused", "service", broker_frames_label (service_name),
                    NULL);
            if (worker)
                s_worker_delete (self, worker, WORKER_REFUSED);
            else {
                worker_t temp = {.address = address};
                s_worker_send (self, &temp, KN_MDPW_DISCONNECT, NULL);
            }
        }
        else if ((worker = calloc (1, sizeof *worker))
                 && (worker->service = broker_service_require (self, service_name))) {
            worker->identity = kn_strdup (identity);
            worker->address = zframe_dup (address);
            worker->service->workers++;
            zhashx_insert (self->served, service_name, (void *) "");
            kn_metrics_gauge_set ("kinnet_broker_workers", (double) worker->service->workers,
                                  broker_frames_label (service_name), NULL);
            zhashx_insert (self->workers, identity, worker);
            kn_log (KN_INFO, "worker.ready", "service", broker_frames_label (service_name), NULL);
            s_worker_waiting (self, worker);
        }
        else
            free (worker);   // out of memory: the worker's next heartbeat finds it unknown
    }
    else if (!worker) {
        //  Unknown worker (e.g. the broker restarted): tell it to start over.
        worker_t temp = {.address = address};
        s_worker_send (self, &temp, KN_MDPW_DISCONNECT, NULL);
    }
    else if (cmd == KN_MDPW_REPLY) {
        if (worker->request)
            broker_suspects_answered (self->suspects, worker->service->name,
                                      worker->request->msg, zclock_mono ());
        if (frames.deliverable) {
            broker_count (self, worker->service->name, "ok");
            broker_reply_to_client (self, frames.client, worker->service->name, &msg);
        }
        s_request_finish (self, worker->service, &worker->request, true);
        s_worker_waiting (self, worker);
    }
    else if (cmd == KN_MDPW_HEARTBEAT) {
        worker->expiry
            = zclock_mono () + (int64_t) self->config.heartbeat_ms * KN_HEARTBEAT_LIVENESS;
    }
    else if (cmd == KN_MDPW_DISCONNECT) {
        //  What it held goes back to the queue: to a waiting worker at once.
        service_t *service = worker->service;
        s_worker_delete (self, worker, WORKER_LEFT);
        if (service)
            broker_service_dispatch (self, service);
    }
    else
        kn_log (KN_WARN, "worker.malformed", NULL);

    zframe_destroy (&address);
    zstr_free (&identity);
    broker_frames_worker_free (&frames);
    zmsg_destroy (&msg);
}

//  -------------------------------------------------------------------------
//  Timers: heartbeats, dead workers, requests nobody took in time.

static void
s_purge (broker_t *self)
{
    int64_t now = zclock_mono ();
    //  A busy worker's handler may be silent for as long as its request takes (one
    //  long report statement: minutes), so its silence is no sign of death: its
    //  connection is, and that is watched apart (s_probe_workers, broker_socket's
    //  pings). Only past busy_max_ms unheard is it taken for stuck.
    zlist_t *dead = zlist_new ();
    for (worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers)) {
        int64_t until = worker->request && worker->busy_until > worker->expiry
                            ? worker->busy_until
                            : worker->expiry;
        if (until < now)
            zlist_append (dead, worker);
    }
    for (worker_t *worker = zlist_first (dead); worker; worker = zlist_next (dead)) {
        kn_log (KN_INFO, "worker.expired", "service",
                broker_frames_label (worker->service ? worker->service->name : NULL), NULL);
        s_worker_delete (self, worker, WORKER_EXPIRED);
    }
    zlist_destroy (&dead);

    zlist_t *idle = zlist_new ();
    zlist_autofree (idle);   // copies: a service's own name dies with it
    for (service_t *service = zhashx_first (self->services); service;
         service = zhashx_next (self->services)) {
        //  A name nobody serves and nobody waits for is forgotten, so clients
        //  cannot grow the broker's memory by asking for made-up services.
        if (service->workers == 0 && broker_queue_size (service->queue) == 0) {
            zlist_append (idle, service->name);
            continue;
        }
        broker_request_t *request;
        while ((request = broker_queue_expired (service->queue, now))) {
            broker_error_to_client (self, zmsg_first (request->msg), service->name,
                               KN_E_SERVICE_UNAVAILABLE, 1000,
                               "no worker for this service answered in time; retry later");
            //  The name may be one a client made up: logged as metrics label it.
            kn_log (KN_WARN, "request.expired", "service", s_metrics_label (self, service->name),
                    NULL);
            s_request_finish (self, service, &request, false);
        }
    }
    for (char *name = zlist_first (idle); name; name = zlist_next (idle))
        zhashx_delete (self->services, name);
    zlist_destroy (&idle);
}


broker_t *
broker_new (const broker_config_t *config, broker_keys_t *keys, kn_db_t **db_p,
            kn_error_t *err)
{
    broker_t *self = kn_calloc (1, sizeof *self);
    self->config = *config;
    self->keys = keys;
    kn_db_t *db = db_p ? *db_p : NULL;
    if (db_p)
        *db_p = NULL;
    //  The database work runs on its own thread from now on; it owns the session.
    self->dbthread = db ? broker_dbthread_new (&(broker_dbthread_args_t){
                              .db = db,
                              .key_reload_ms = config->key_reload_ms,
                              .presence_name = config->presence_name,
                              .presence_ms = config->presence_ms})
                        : NULL;
    self->brokers_up = 1;
    self->services = zhashx_new ();
    zhashx_set_destructor (self->services, s_service_destroy);
    self->workers = zhashx_new ();
    zhashx_set_destructor (self->workers, s_worker_free);
    self->served = zhashx_new ();
    self->agencies = broker_agencies_new (config->agency_rate, config->agency_burst);
    self->suspects = broker_suspects_new (SUSPECTS_MAX, SUSPECTS_MS);
    if (!self->suspects)
        kn_error_set (err, KN_E_INTERNAL, NULL, "libsodium did not start");
    self->guard = broker_guard_new (config->max_connection_bytes, config->max_buffered_bytes);
    self->frontend_socket
        = self->guard && self->suspects
              ? broker_socket_new ("frontend", config->frontend, BROKER_ZAP_FRONTEND, false,
                                   config->cert, self->guard, config->max_key_connections,
                                   0, err)
              : NULL;
    //  Workers are pinged: a busy worker's connection is what says it is alive.
    self->backend_socket
        = self->frontend_socket ? broker_socket_new ("backend", config->backend,
                                                     BROKER_ZAP_BACKEND, true, config->cert,
                                                     self->guard, 0, config->heartbeat_ms, err)
                                : NULL;
    if (!self->backend_socket) {
        broker_destroy (&self);
        return NULL;
    }
    self->frontend = broker_socket_router (self->frontend_socket);
    self->backend = broker_socket_router (self->backend_socket);
    if (db && !self->dbthread) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "cannot start the database thread");
        broker_destroy (&self);
        return NULL;
    }
    self->heartbeat_at = zclock_mono () + config->heartbeat_ms;
    self->reload_at = zclock_mono () + config->key_reload_ms;
    return self;
}

void
broker_destroy (broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_t *self = *self_p;
    broker_socket_destroy (&self->frontend_socket);
    broker_socket_destroy (&self->backend_socket);
    zhashx_destroy (&self->workers);
    zhashx_destroy (&self->services);
    zhashx_destroy (&self->served);
    broker_agencies_destroy (&self->agencies);
    broker_dbthread_destroy (&self->dbthread);
    broker_suspects_destroy (&self->suspects);
    broker_guard_destroy (&self->guard);
    free (self);
    *self_p = NULL;
}

//  One message from a socket, counted against its connection by the guard.
static zmsg_t *
s_recv (broker_t *self, zsock_t *socket)
{
    zmsg_t *msg = zmsg_recv (socket);
    if (msg && broker_guard_read (self->guard, msg) == BROKER_GUARD_REFUSED)
        zmsg_destroy (&msg); // from a connection past its key's count, now shut
    return msg;
}

int
broker_run (broker_t *self)
{
    kn_log (KN_INFO, "broker.started", "frontend", self->config.frontend, "backend",
            self->config.backend, NULL);
    //  Short ticks keep request deadlines (SERVICE_UNAVAILABLE replies) prompt and
    //  the guard's measurements frequent.
    int tick = self->config.heartbeat_ms < GUARD_MS ? self->config.heartbeat_ms : GUARD_MS;
    int purge_ms = self->config.heartbeat_ms < 250 ? self->config.heartbeat_ms : 250;
    while (!zsys_interrupted) {
        zmq_pollitem_t items[6] = {
            {zsock_resolve (self->frontend), 0, ZMQ_POLLIN, 0},
            {zsock_resolve (self->backend), 0, ZMQ_POLLIN, 0},
            {zsock_resolve (broker_socket_events (self->frontend_socket)), 0, ZMQ_POLLIN, 0},
            {zsock_resolve (broker_socket_events (self->backend_socket)), 0, ZMQ_POLLIN, 0},
            {zsock_resolve (broker_keys_zap_socket (self->keys)), 0, ZMQ_POLLIN, 0},
            {self->dbthread ? zsock_resolve (broker_dbthread_socket (self->dbthread)) : NULL,
             -1, ZMQ_POLLIN, 0},
        };
        int count = self->dbthread ? 6 : 5;
        if (zmq_poll (items, count, tick) < 0)
            break;   // interrupted
        int64_t now = zclock_mono ();
        if (items[4].revents & ZMQ_POLLIN)
            broker_keys_zap_serve (self->keys);
        if (items[2].revents & ZMQ_POLLIN)
            broker_socket_read_events (self->frontend_socket);
        if ((items[3].revents & ZMQ_POLLIN) && broker_socket_read_events (self->backend_socket)) {
            //  Some worker's connection closed; libzmq drops its route a moment later.
            self->probe_until = now + PROBE_FOR_MS;
            s_probe_workers (self, true);
        }
        //  Workers first: replies free workers for queued requests.
        if (items[1].revents & ZMQ_POLLIN) {
            zmsg_t *msg = s_recv (self, self->backend);
            if (msg)
                s_worker_message (self, msg);
        }
        if (items[0].revents & ZMQ_POLLIN) {
            zmsg_t *msg = s_recv (self, self->frontend);
            if (msg)
                broker_client_message (self, msg);
        }
        //  What the database thread read: a new agency table, the brokers up.
        if (count == 6 && (items[5].revents & ZMQ_POLLIN)) {
            zhashx_t *agencies;
            int brokers;
            broker_dbthread_take (self->dbthread, &agencies, &brokers);
            if (agencies)
                broker_keys_adopt (self->keys, agencies);
            if (brokers && brokers != self->brokers_up) {
                //  Each agency's rate and burst, split anew (its queue and worker
                //  share are split where they are checked).
                self->brokers_up = brokers;
                broker_agencies_set_limits (
                    self->agencies, broker_peers_split (brokers, self->config.agency_rate, 0),
                    broker_peers_split (brokers, self->config.agency_burst, 1));
            }
        }
        //  Certificates are files: read here, on the same cadence.
        if (now >= self->reload_at) {
            broker_keys_reload_files (self->keys);
            self->reload_at = now + self->config.key_reload_ms;
        }
        if (now >= self->guard_at) {
            broker_guard_check (self->guard);
            if (now < self->probe_until)
                s_probe_workers (self, true);
            self->guard_at = now + GUARD_MS;
        }
        if (now >= self->heartbeat_at) {
            s_probe_workers (self, false);   // every worker's heartbeat, busy ones too
            self->heartbeat_at = now + self->config.heartbeat_ms;
        }
        if (now >= self->purge_at) {
            s_purge (self);
            self->purge_at = now + purge_ms;
        }
    }
    kn_log (KN_INFO, "broker.stopped", NULL);
    return 0;
}
