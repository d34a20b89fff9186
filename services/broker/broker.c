/*  broker: MDP/0.1 routing between agency clients and service workers.
    Frames, as spec 7 defines them (ROUTER adds the peer address in front):
      client  -> broker  [addr]["" ]["MDPC01"][service][body...]
      broker  -> worker  [addr][""]["MDPW01"][0x02][client][""][Caller][body...]
      worker  -> broker  [addr][""]["MDPW01"][0x03][client][""][body...]
      broker  -> client  [addr][""]["MDPC01"][service][body...]  */
#include "broker.h"

#include "kinnet/v1/common.pb-c.h"
#include "kn_log.h"
#include "kn_mdp.h"
#include "kn_metrics.h"

#define MAX_SERVICE_NAME 64

typedef struct _service_t service_t;

typedef struct {
    char *identity;       // hex of the worker's routing address
    zframe_t *address;
    service_t *service;   // NULL until READY
    int64_t expiry;
    bool busy;
    zframe_t *client;     // whose request it is working on, while busy
} worker_t;

struct _service_t {
    char *name;
    zlist_t *requests;   // pending_t *, oldest first
    zlist_t *waiting;    // worker_t * ready for work
    size_t workers;      // how many workers serve it
};

typedef struct {
    zmsg_t *msg;         // [client][""][Caller][body...], ready to hand a worker
    int64_t deadline;
} pending_t;

struct _broker_t {
    broker_config_t config;
    broker_keys_t *keys;
    kn_db_t *db;
    zsock_t *frontend;
    zsock_t *backend;
    zsock_t *frontend_events;   // connection events of each socket (zmq_socket_monitor)
    zsock_t *backend_events;
    long frontend_open;         // connections open now
    long backend_open;
    zhashx_t *services;   // name -> service_t
    zhashx_t *served;     // names a worker has served since start: the metrics labels
    zhashx_t *workers;    // identity -> worker_t
    int64_t heartbeat_at;
    int64_t reload_at;
    int64_t purge_at;
    int64_t denied_logged_at;   // auth.denied is logged at most once a second
    long denied_since;          // refusals not logged since then
};

//  -------------------------------------------------------------------------
//  Replies and errors

static void
s_reply_to_client (broker_t *self, zframe_t *client, const char *service, zmsg_t **body_p)
{
    zmsg_t *msg = *body_p ? *body_p : zmsg_new ();
    *body_p = NULL;
    zmsg_pushstr (msg, service);
    zmsg_pushstr (msg, KN_MDPC);
    zmsg_pushstr (msg, "");
    zmsg_prepend (msg, &(zframe_t *) {zframe_dup (client)});
    zmsg_send (&msg, self->frontend);
}

//  Answer a client with a kinnet.v1.ErrorReply the broker makes itself.
static void s_count (broker_t *self, const char *service, const char *result);

static void
s_error_to_client (broker_t *self, zframe_t *client, const char *service, kn_code_t code,
                   const char *message)
{
    s_count (self, service, code == KN_E_SERVICE_UNAVAILABLE ? "unavailable" : "refused");
    Kinnet__V1__Error error = KINNET__V1__ERROR__INIT;
    error.code = (Kinnet__V1__ErrorCode) code;
    error.message = (char *) message;
    error.field = "service";
    Kinnet__V1__ErrorReply reply = KINNET__V1__ERROR_REPLY__INIT;
    reply.error = &error;
    size_t len = kinnet__v1__error_reply__get_packed_size (&reply);
    uint8_t *buf = malloc (len ? len : 1);
    kinnet__v1__error_reply__pack (&reply, buf);
    zmsg_t *body = zmsg_new ();
    zmsg_addmem (body, buf, len);
    free (buf);
    s_reply_to_client (self, client, service, &body);
}

//  -------------------------------------------------------------------------
//  Services and workers

static void
s_service_destroy (void **item)
{
    service_t *service = (service_t *) *item;
    if (!service)
        return;
    pending_t *pending;
    while ((pending = zlist_pop (service->requests))) {
        zmsg_destroy (&pending->msg);
        free (pending);
    }
    zlist_destroy (&service->requests);
    zlist_destroy (&service->waiting);
    free (service->name);
    free (service);
    *item = NULL;
}

static service_t *
s_service_require (broker_t *self, const char *name)
{
    service_t *service = zhashx_lookup (self->services, name);
    if (!service) {
        service = calloc (1, sizeof *service);
        service->name = strdup (name);
        service->requests = zlist_new ();
        service->waiting = zlist_new ();
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
    zframe_destroy (&worker->client);
    free (worker->identity);
    free (worker);
    *item = NULL;
}

static void
s_worker_send (broker_t *self, worker_t *worker, int command, zmsg_t *body)
{
    zmsg_t *msg = body ? body : zmsg_new ();
    uint8_t cmd = (uint8_t) command;
    zmsg_pushmem (msg, &cmd, 1);
    zmsg_pushstr (msg, KN_MDPW);
    zmsg_pushstr (msg, "");
    zmsg_prepend (msg, &(zframe_t *) {zframe_dup (worker->address)});
    zmsg_send (&msg, self->backend);
}

static const char *s_service_label (const char *service);

static void
s_worker_delete (broker_t *self, worker_t *worker, bool disconnect)
{
    //  A client whose request this worker held would otherwise wait for ever: say
    //  so. Whether the request was committed is unknown; a retry with the same key
    //  finds out.
    if (worker->busy && worker->client && worker->service)
        s_error_to_client (self, worker->client, worker->service->name,
                           KN_E_SERVICE_UNAVAILABLE,
                           "the worker handling this request stopped; retry with the same "
                           "idempotency key");
    if (disconnect)
        s_worker_send (self, worker, KN_MDPW_DISCONNECT, NULL);
    if (worker->service) {
        zlist_remove (worker->service->waiting, worker);
        worker->service->workers--;
        kn_metrics_gauge_set ("kinnet_broker_workers", (double) worker->service->workers,
                              s_service_label (worker->service->name), NULL);
    }
    zhashx_delete (self->workers, worker->identity);   // frees the worker
}

//  Hand queued requests to waiting workers, oldest first.
static void
s_service_dispatch (broker_t *self, service_t *service)
{
    while (zlist_size (service->waiting) && zlist_size (service->requests)) {
        worker_t *worker = zlist_pop (service->waiting);
        pending_t *pending = zlist_pop (service->requests);
        worker->busy = true;
        zframe_destroy (&worker->client);
        worker->client = zframe_dup (zmsg_first (pending->msg));
        s_worker_send (self, worker, KN_MDPW_REQUEST, pending->msg);
        free (pending);
    }
}

static void
s_worker_waiting (broker_t *self, worker_t *worker)
{
    worker->busy = false;
    zframe_destroy (&worker->client);
    worker->expiry = zclock_mono () + (int64_t) self->config.heartbeat_ms * KN_HEARTBEAT_LIVENESS;
    zlist_append (worker->service->waiting, worker);
    s_service_dispatch (self, worker->service);
}

//  -------------------------------------------------------------------------
//  Authentication of each message: the CURVE key zauth approved, as User-Id.

static const char *
s_peer_key (zmsg_t *msg)
{
    //  Frame 0 is the address ROUTER made up; metadata rides on the peer's frames.
    zframe_t *frame = zmsg_first (msg);
    frame = frame ? zmsg_next (msg) : NULL;
    return frame ? zframe_meta (frame, "User-Id") : NULL;
}

//  Service names come off the network: only a plain identifier is written to the
//  log, so nothing a client puts in that frame (a name, say) ever reaches it.
static const char *
s_service_label (const char *service)
{
    if (!service || !*service)
        return "";
    for (const char *c = service; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '-'
              || *c == '_'))
            return "(not an identifier)";
    return service;
}

//  Metrics: a service is labelled by its name once a worker has served it since the
//  broker started (only admitted service keys can do that, so the names are few),
//  and as "unregistered" otherwise: names clients make up never become series.
static const char *
s_metrics_label (broker_t *self, const char *service)
{
    return service && zhashx_lookup (self->served, service) ? s_service_label (service)
                                                            : "unregistered";
}

//  One client request answered: result is ok, unavailable or refused.
static void
s_count (broker_t *self, const char *service, const char *result)
{
    kn_metrics_counter_add ("kinnet_broker_requests_total", 1, s_metrics_label (self, service),
                            result, NULL);
}

//  A refused key may send as fast as it likes; the log says so once a second with
//  a count, rather than once per message.
static void
s_log_denied (broker_t *self, const char *socket)
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
//  Client side

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
    s_reply_to_client (self, client, service_name, &reply);
}

static void
s_client_message (broker_t *self, zmsg_t *msg)
{
    //  The key string belongs to a frame about to be freed: keep a copy.
    char key[41] = "";
    const char *peer = s_peer_key (msg);
    if (peer)
        snprintf (key, sizeof key, "%s", peer);
    const char *agency = broker_keys_agency (self->keys, key);
    if (!agency) {
        //  Not (or no longer) an active agency key: no answer of any kind.
        s_log_denied (self, "frontend");
        zmsg_destroy (&msg);
        return;
    }
    zframe_t *client = zmsg_pop (msg);
    char *empty = zmsg_popstr (msg);
    char *header = zmsg_popstr (msg);
    char *service_name = zmsg_popstr (msg);
    if (!empty || *empty || !header || !streq (header, KN_MDPC) || !service_name) {
        kn_log (KN_WARN, "request.malformed", "socket", "frontend", NULL);
        //  A reply needs the service frame; without a valid envelope there is no
        //  MDP way to answer, so the message is dropped.
        if (empty && !*empty && header && streq (header, KN_MDPC))
            s_error_to_client (self, client, "", KN_E_MALFORMED, "missing service frame");
    }
    else if (strlen (service_name) == 0 || strlen (service_name) > MAX_SERVICE_NAME)
        s_error_to_client (self, client, service_name, KN_E_UNKNOWN_SERVICE,
                           "service name must be 1 to 64 characters");
    else if (zmsg_size (msg) == 0)
        s_error_to_client (self, client, service_name, KN_E_MALFORMED, "empty request body");
    else if (strncmp (service_name, "mmi.", 4) == 0)
        s_mmi (self, client, service_name, msg);
    else {
        service_t *service = s_service_require (self, service_name);
        if (zlist_size (service->requests) >= (size_t) self->config.max_queued)
            s_error_to_client (self, client, service_name, KN_E_SERVICE_UNAVAILABLE,
                               "service queue is full; retry later");
        else {
            Kinnet__V1__Caller caller = KINNET__V1__CALLER__INIT;
            caller.agency_id = (char *) agency;
            caller.key_fingerprint = key;
            size_t len = kinnet__v1__caller__get_packed_size (&caller);
            uint8_t buf[256];
            kinnet__v1__caller__pack (&caller, buf);
            zmsg_pushmem (msg, buf, len);
            zmsg_pushstr (msg, "");
            zmsg_prepend (msg, &(zframe_t *) {zframe_dup (client)});
            pending_t *pending = calloc (1, sizeof *pending);
            pending->msg = msg;
            msg = NULL;
            pending->deadline = zclock_mono () + self->config.request_timeout_ms;
            zlist_append (service->requests, pending);
            s_service_dispatch (self, service);
        }
    }
    zframe_destroy (&client);
    zstr_free (&empty);
    zstr_free (&header);
    zstr_free (&service_name);
    zmsg_destroy (&msg);
}

//  -------------------------------------------------------------------------
//  Worker side


//  A service certificate's "service" metadata: "*", one name, or a comma list
//  ("routing,feed": one daemon serving two services).
static bool
s_may_serve (const char *allowed, const char *service)
{
    if (streq (allowed, "*"))
        return true;
    size_t len = strlen (service);
    for (const char *at = allowed; *at;) {
        size_t item = strcspn (at, ",");
        if (item == len && strncmp (at, service, len) == 0)
            return true;
        at += item + (at[item] == ',');
    }
    return false;
}

static void
s_worker_message (broker_t *self, zmsg_t *msg)
{
    char key[41] = "";
    const char *peer = s_peer_key (msg);
    if (peer)
        snprintf (key, sizeof key, "%s", peer);
    const char *allowed = broker_keys_service (self->keys, key);

    zframe_t *address = zmsg_pop (msg);
    char *identity = zframe_strhex (address);
    char *empty = zmsg_popstr (msg);
    char *header = zmsg_popstr (msg);
    zframe_t *command = zmsg_pop (msg);
    worker_t *worker = zhashx_lookup (self->workers, identity);
    int cmd = (command && zframe_size (command) == 1) ? zframe_data (command)[0] : -1;

    if (!allowed) {
        //  A client (agency) key on the worker socket, or a retired service key.
        s_log_denied (self, "backend");
        if (worker)
            s_worker_delete (self, worker, false);
    }
    else if (!empty || *empty || !header || !streq (header, KN_MDPW) || cmd < 0)
        kn_log (KN_WARN, "worker.malformed", NULL);
    else if (cmd == KN_MDPW_READY) {
        char *service_name = zmsg_popstr (msg);
        bool permitted = service_name && *service_name
                         && strlen (service_name) <= MAX_SERVICE_NAME
                         && strncmp (service_name, "mmi.", 4) != 0
                         && s_may_serve (allowed, service_name);
        if (worker || !permitted) {
            //  READY twice, or for a service this key may not serve: protocol error.
            kn_log (KN_WARN, "worker.refused", "service", s_service_label (service_name),
                    NULL);
            if (worker)
                s_worker_delete (self, worker, true);
            else {
                worker_t temp = {.address = address};
                s_worker_send (self, &temp, KN_MDPW_DISCONNECT, NULL);
            }
        }
        else {
            worker = calloc (1, sizeof *worker);
            worker->identity = strdup (identity);
            worker->address = zframe_dup (address);
            worker->service = s_service_require (self, service_name);
            worker->service->workers++;
            zhashx_insert (self->served, service_name, (void *) "");
            kn_metrics_gauge_set ("kinnet_broker_workers", (double) worker->service->workers,
                                  s_service_label (service_name), NULL);
            zhashx_insert (self->workers, identity, worker);
            kn_log (KN_INFO, "worker.ready", "service", s_service_label (service_name), NULL);
            s_worker_waiting (self, worker);
        }
        zstr_free (&service_name);
    }
    else if (!worker) {
        //  Unknown worker (e.g. the broker restarted): tell it to start over.
        worker_t temp = {.address = address};
        s_worker_send (self, &temp, KN_MDPW_DISCONNECT, NULL);
    }
    else if (cmd == KN_MDPW_REPLY) {
        zframe_t *client = zmsg_unwrap (msg);
        if (client && zmsg_size (msg) >= 1) {
            s_count (self, worker->service->name, "ok");
            s_reply_to_client (self, client, worker->service->name, &msg);
        }
        zframe_destroy (&client);
        s_worker_waiting (self, worker);
    }
    else if (cmd == KN_MDPW_HEARTBEAT) {
        worker->expiry
            = zclock_mono () + (int64_t) self->config.heartbeat_ms * KN_HEARTBEAT_LIVENESS;
    }
    else if (cmd == KN_MDPW_DISCONNECT)
        s_worker_delete (self, worker, false);
    else
        kn_log (KN_WARN, "worker.malformed", NULL);

    zframe_destroy (&address);
    zstr_free (&identity);
    zstr_free (&empty);
    zstr_free (&header);
    zframe_destroy (&command);
    zmsg_destroy (&msg);
}

//  -------------------------------------------------------------------------
//  Timers: heartbeats, dead workers, requests nobody took in time.

static void
s_purge (broker_t *self)
{
    int64_t now = zclock_mono ();
    //  A busy worker sends no heartbeats while it works; give it ten intervals.
    int64_t busy_grace = (int64_t) self->config.heartbeat_ms * 10;
    zlist_t *dead = zlist_new ();
    for (worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers))
        if (worker->expiry + (worker->busy ? busy_grace : 0) < now)
            zlist_append (dead, worker);
    for (worker_t *worker = zlist_first (dead); worker; worker = zlist_next (dead)) {
        kn_log (KN_INFO, "worker.expired", "service",
                s_service_label (worker->service ? worker->service->name : NULL), NULL);

        s_worker_delete (self, worker, false);
    }
    zlist_destroy (&dead);

    zlist_t *idle = zlist_new ();
    zlist_autofree (idle);   // copies: a service's own name dies with it
    for (service_t *service = zhashx_first (self->services); service;
         service = zhashx_next (self->services)) {
        //  A name nobody serves and nobody waits for is forgotten, so clients
        //  cannot grow the broker's memory by asking for made-up services.
        if (service->workers == 0 && zlist_size (service->requests) == 0) {
            zlist_append (idle, service->name);
            continue;
        }
        pending_t *pending = zlist_first (service->requests);
        while (pending && pending->deadline <= now) {
            zlist_pop (service->requests);
            zframe_t *client = zmsg_pop (pending->msg);
            s_error_to_client (self, client, service->name, KN_E_SERVICE_UNAVAILABLE,
                               "no worker for this service answered in time; retry later");
            //  The name may be one a client made up: logged as metrics label it.
            kn_log (KN_WARN, "request.expired", "service", s_metrics_label (self, service->name),
                    NULL);
            zframe_destroy (&client);
            zmsg_destroy (&pending->msg);
            free (pending);
            pending = zlist_first (service->requests);
        }
    }
    for (char *name = zlist_first (idle); name; name = zlist_next (idle))
        zhashx_delete (self->services, name);
    zlist_destroy (&idle);
}

static void
s_heartbeat (broker_t *self)
{
    for (service_t *service = zhashx_first (self->services); service;
         service = zhashx_next (self->services))
        for (worker_t *worker = zlist_first (service->waiting); worker;
             worker = zlist_next (service->waiting))
            s_worker_send (self, worker, KN_MDPW_HEARTBEAT, NULL);
}

//  -------------------------------------------------------------------------

static zsock_t *
s_server_socket (broker_t *self, const char *endpoint, kn_error_t *err)
{
    zsock_t *socket = zsock_new (ZMQ_ROUTER);
    if (!socket)
        return NULL;
    zsock_set_linger (socket, 0);
    zsock_set_maxmsgsize (socket, KN_MAX_MESSAGE_BYTES);
    zsock_set_router_mandatory (socket, 0);
    zsock_set_zap_domain (socket, "kinnet");
    zcert_apply (self->config.cert, socket);
    zsock_set_curve_server (socket, 1);
    if (zsock_bind (socket, "%s", endpoint) < 0) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "cannot bind %s", endpoint);
        zsock_destroy (&socket);
    }
    return socket;
}

//  A PAIR socket on which socket's connection events arrive: accepted and
//  disconnected, which is all the connection gauge needs.
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

//  One monitor event: [event (uint16) value (uint32)][endpoint].
static void
s_monitor_event (zsock_t *events, long *open, const char *name)
{
    zmsg_t *msg = zmsg_recv (events);
    zframe_t *frame = msg ? zmsg_first (msg) : NULL;
    if (frame && zframe_size (frame) >= 2) {
        uint16_t event;
        memcpy (&event, zframe_data (frame), sizeof event);
        if (event == ZMQ_EVENT_ACCEPTED)
            (*open)++;
        else if (event == ZMQ_EVENT_DISCONNECTED && *open > 0)
            (*open)--;
        kn_metrics_gauge_set ("kinnet_broker_connections", (double) *open, name, NULL);
    }
    zmsg_destroy (&msg);
}

broker_t *
broker_new (const broker_config_t *config, broker_keys_t *keys, kn_db_t *db,
            kn_error_t *err)
{
    broker_t *self = calloc (1, sizeof *self);
    self->config = *config;
    self->keys = keys;
    self->db = db;
    self->services = zhashx_new ();
    zhashx_set_destructor (self->services, s_service_destroy);
    self->workers = zhashx_new ();
    zhashx_set_destructor (self->workers, s_worker_free);
    self->served = zhashx_new ();
    self->frontend = s_server_socket (self, config->frontend, err);
    self->backend = self->frontend ? s_server_socket (self, config->backend, err) : NULL;
    //  Watched before any peer can connect, so the counts start right.
    self->frontend_events = self->backend ? s_monitor (self->frontend, "frontend", err) : NULL;
    self->backend_events
        = self->frontend_events ? s_monitor (self->backend, "backend", err) : NULL;
    if (!self->backend_events) {
        broker_destroy (&self);
        return NULL;
    }
    kn_metrics_gauge_set ("kinnet_broker_connections", 0, "frontend", NULL);
    kn_metrics_gauge_set ("kinnet_broker_connections", 0, "backend", NULL);
    if (db && kn_db_listen (db, "kinnet_agency_keys", err)) {
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
    if (self->frontend_events)
        zmq_socket_monitor (zsock_resolve (self->frontend), NULL, 0);
    if (self->backend_events)
        zmq_socket_monitor (zsock_resolve (self->backend), NULL, 0);
    zsock_destroy (&self->frontend_events);
    zsock_destroy (&self->backend_events);
    zsock_destroy (&self->frontend);
    zsock_destroy (&self->backend);
    zhashx_destroy (&self->workers);
    zhashx_destroy (&self->services);
    zhashx_destroy (&self->served);
    free (self);
    *self_p = NULL;
}

int
broker_run (broker_t *self)
{
    kn_log (KN_INFO, "broker.started", "frontend", self->config.frontend, "backend",
            self->config.backend, NULL);
    //  Short ticks keep request deadlines (SERVICE_UNAVAILABLE replies) prompt.
    int tick = self->config.heartbeat_ms < 250 ? self->config.heartbeat_ms : 250;
    while (!zsys_interrupted) {
        zmq_pollitem_t items[5] = {
            {zsock_resolve (self->frontend), 0, ZMQ_POLLIN, 0},
            {zsock_resolve (self->backend), 0, ZMQ_POLLIN, 0},
            {zsock_resolve (self->frontend_events), 0, ZMQ_POLLIN, 0},
            {zsock_resolve (self->backend_events), 0, ZMQ_POLLIN, 0},
            {NULL, self->db ? kn_db_socket (self->db) : -1, ZMQ_POLLIN, 0},
        };
        int count = items[4].fd >= 0 ? 5 : 4;
        if (zmq_poll (items, count, tick) < 0)
            break;   // interrupted
        if (items[2].revents & ZMQ_POLLIN)
            s_monitor_event (self->frontend_events, &self->frontend_open, "frontend");
        if (items[3].revents & ZMQ_POLLIN)
            s_monitor_event (self->backend_events, &self->backend_open, "backend");
        //  Workers first: replies free workers for queued requests.
        if (items[1].revents & ZMQ_POLLIN) {
            zmsg_t *msg = zmsg_recv (self->backend);
            if (msg)
                s_worker_message (self, msg);
        }
        if (items[0].revents & ZMQ_POLLIN) {
            zmsg_t *msg = zmsg_recv (self->frontend);
            if (msg)
                s_client_message (self, msg);
        }
        bool reload = false;
        if (count == 5 && (items[4].revents & ZMQ_POLLIN))
            reload = kn_db_drain_notifies (self->db) != 0;   // -1: connection lost
        int64_t now = zclock_mono ();
        if (reload || now >= self->reload_at) {
            //  A NOTIFY that arrives while the reload's queries run is read into
            //  libpq's queue, where polling the socket never sees it: look there after
            //  each reload, or a key registered meanwhile waits for the periodic one.
            kn_error_t err;
            do
                broker_keys_reload (self->keys, &err);
            while (count == 5 && kn_db_drain_notifies (self->db) > 0);
            self->reload_at = now + self->config.key_reload_ms;
        }
        if (now >= self->heartbeat_at) {
            s_heartbeat (self);
            self->heartbeat_at = now + self->config.heartbeat_ms;
        }
        if (now >= self->purge_at) {
            s_purge (self);
            self->purge_at = now + tick;
        }
    }
    kn_log (KN_INFO, "broker.stopped", NULL);
    return 0;
}
