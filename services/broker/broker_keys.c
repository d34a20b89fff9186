/*  broker_keys: agency and service key tables, and the ZAP handler that reads them. */
#include "broker_keys.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kn_agency.h"
#include "kn_alloc.h"
#include "kn_log.h"
#include "kn_metrics.h"

struct _broker_keys_t {
    char *service_dir;
    char *health_dir;
    kn_db_t *db;
    zsock_t *zap;         // REP on inproc://zeromq.zap.01
    zhashx_t *agencies;   // Z85 key -> agency id
    zhashx_t *services;   // Z85 key -> service names ("*" or a comma list)
    zhashx_t *health;     // Z85 key -> certificate file name
    bool has_db;          // agencies come from the database (else: none, never stale)
    int64_t loaded_at;    // zclock_mono of the last successful agency reload
    int max_stale_ms;     // 0: the agency table never goes stale
};

static zhashx_t *
s_string_table (void)
{
    zhashx_t *table = zhashx_new ();
    zhashx_set_destructor (table, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (table, (zhashx_duplicator_fn *) strdup);
    return table;
}

//  Every readable public certificate in dir. Service certificates (services) must
//  name what they serve: one without "service" metadata (a broker's or an agency's
//  public certificate copied there by mistake) admits nothing, rather than
//  everything. Health-check certificates map to their file's name.
static zhashx_t *
s_load_certs (const char *dir, bool services)
{
    zhashx_t *table = s_string_table ();
    DIR *handle = dir ? opendir (dir) : NULL;
    if (!handle)
        return table;
    struct dirent *entry;
    while ((entry = readdir (handle)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, entry->d_name);
        zcert_t *cert = zcert_load (path);
        if (!cert)
            continue;
        const char *service = zcert_meta (cert, "service");
        if (!services)
            zhashx_update (table, zcert_public_txt (cert), entry->d_name);
        else if (service && *service)
            zhashx_update (table, zcert_public_txt (cert), (void *) service);
        else
            kn_log (KN_WARN, "keys.service_unnamed", "file", entry->d_name, NULL);
        zcert_destroy (&cert);
    }
    closedir (handle);
    return table;
}

//  An agency key that is also a service's or a health check's is not an agency's:
//  whoever holds that service's secret (a compromised service, a container with the
//  health check's certificate) must not act as an agency because an administrator
//  registered the wrong public key. Such a key is dropped from the agency table,
//  loudly; the service or health check keeps its own socket.
static void
s_drop_shared_keys (broker_keys_t *self)
{
    zlistx_t *keys = zhashx_keys (self->agencies);
    for (const char *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
        bool service = zhashx_lookup (self->services, key) != NULL;
        if (!service && !zhashx_lookup (self->health, key))
            continue;
        kn_log (KN_ERROR, "keys.agency_key_refused", "agency",
                (const char *) zhashx_lookup (self->agencies, key), "problem",
                service ? "the key is a service's" : "the key is a health check's", NULL);
        kn_metrics_counter_add ("kinnet_broker_agency_keys_refused_total", 1, NULL);
        zhashx_delete (self->agencies, key);
    }
    zlistx_destroy (&keys);
}

//  -------------------------------------------------------------------------
//  ZAP (rfc.zeromq.org spec 27): the broker's own handler, so each socket has its
//  own allow list. The frontend's domain admits active agency keys only, the
//  backend's service keys only: an agency key never completes a handshake on the
//  worker socket, nor a service key on the client socket.

static const char *
s_zap_decide (broker_keys_t *self, const char *domain, const char *mechanism,
              zframe_t *credential, char *z85)
{
    if (!streq (mechanism, "CURVE") || !credential || zframe_size (credential) != 32)
        return NULL;
    zmq_z85_encode (z85, zframe_data (credential), 32);
    if (streq (domain, BROKER_ZAP_FRONTEND)) {
        //  A health check needs no database: it is admitted while the keys are stale.
        if (zhashx_lookup (self->health, z85))
            return "200";
        if (!zhashx_lookup (self->agencies, z85))
            return NULL;
        //  A key valid when last read, but the table is too old to trust: a
        //  temporary failure (spec 27's 300), which clients treat as "try again".
        return broker_keys_stale (self) ? "300" : "200";
    }
    if (streq (domain, BROKER_ZAP_BACKEND))
        return zhashx_lookup (self->services, z85) ? "200" : NULL;
    return NULL;
}

void
broker_keys_zap_serve (broker_keys_t *self)
{
    //  [version][request id][domain][address][routing id][mechanism][credentials...]
    zmsg_t *request = zmsg_recv (self->zap);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    char *sequence = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *routing_id = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credential = zmsg_pop (request);
    char z85[41] = "";
    const char *status = (version && streq (version, "1.0") && domain && mechanism)
                             ? s_zap_decide (self, domain, mechanism, credential, z85)
                             : NULL;
    bool admitted = status && streq (status, "200");
    if (!admitted) {
        kn_metrics_counter_add ("kinnet_broker_handshakes_refused_total", 1,
                                domain && streq (domain, BROKER_ZAP_BACKEND) ? "backend"
                                                                             : "frontend",
                                NULL);
    }
    //  The user id is the key itself: the broker reads it back as each message's
    //  User-Id and looks it up again, so a revocation applies to open connections.
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence ? sequence : "");
    zmsg_addstr (reply, status ? status : "400");
    zmsg_addstr (reply, admitted ? "OK" : status ? "keys cannot be checked now"
                                                 : "no such key for this socket");
    zmsg_addstr (reply, admitted ? z85 : "");
    zmsg_addmem (reply, "", 0);
    zmsg_send (&reply, self->zap);
    zstr_free (&version);
    zstr_free (&sequence);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&routing_id);
    zstr_free (&mechanism);
    zframe_destroy (&credential);
    zmsg_destroy (&request);
}

zsock_t *
broker_keys_zap_socket (broker_keys_t *self)
{
    return self->zap;
}

broker_keys_t *
broker_keys_new (const char *service_dir, const char *health_dir, kn_db_t *db,
                 kn_error_t *err)
{
    broker_keys_t *self = kn_calloc (1, sizeof *self);
    self->service_dir = service_dir ? kn_strdup (service_dir) : NULL;
    self->health_dir = health_dir ? kn_strdup (health_dir) : NULL;
    self->db = db;
    self->has_db = db != NULL;
    self->agencies = s_string_table ();
    self->services = s_string_table ();
    self->health = s_string_table ();
    //  One ZAP handler per process (libzmq asks whoever binds this endpoint).
    self->zap = zsock_new_rep ("@inproc://zeromq.zap.01");
    if (!self->zap) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "cannot bind the ZAP handler");
        broker_keys_destroy (&self);
        return NULL;
    }
    if (broker_keys_reload (self, err))
        broker_keys_destroy (&self);
    else if (self)
        self->db = NULL;   // from now on the agency table comes by broker_keys_adopt
    return self;
}

void
broker_keys_destroy (broker_keys_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_keys_t *self = *self_p;
    zsock_destroy (&self->zap);
    zhashx_destroy (&self->agencies);
    zhashx_destroy (&self->services);
    zhashx_destroy (&self->health);
    free (self->service_dir);
    free (self->health_dir);
    free (self);
    *self_p = NULL;
}

//  Service and health-check certificates read again, keys shared with an agency
//  dropped, and what is admitted now logged and counted.
static void
s_reload_files (broker_keys_t *self)
{
    zhashx_destroy (&self->services);
    self->services = s_load_certs (self->service_dir, true);
    zhashx_destroy (&self->health);
    self->health = s_load_certs (self->health_dir, false);
    s_drop_shared_keys (self);
    char agencies_count[16], services_count[16], health_count[16];
    snprintf (agencies_count, sizeof agencies_count, "%zu", zhashx_size (self->agencies));
    snprintf (services_count, sizeof services_count, "%zu", zhashx_size (self->services));
    snprintf (health_count, sizeof health_count, "%zu", zhashx_size (self->health));
    kn_log (KN_INFO, "keys.reloaded", "agency_keys", agencies_count, "service_keys",
            services_count, "health_keys", health_count, NULL);
    //  What is admitted now: a rotation's step is done once these show it.
    kn_metrics_gauge_set ("kinnet_broker_keys", (double)zhashx_size (self->agencies), "agency",
                          NULL);
    kn_metrics_gauge_set ("kinnet_broker_keys", (double)zhashx_size (self->services), "service",
                          NULL);
}

int
broker_keys_reload (broker_keys_t *self, kn_error_t *err)
{
    zhashx_t *agencies = NULL;
    if (self->has_db && self->db && kn_db_ensure (self->db, err) == 0)
        agencies = kn_agency_active_keys (self->db, err);
    if (self->has_db && !agencies) {
        kn_log (KN_WARN, "keys.reload_failed", "kept", "previous_agency_keys", NULL);
        s_reload_files (self);
        return -1;
    }
    if (agencies)
        broker_keys_adopt (self, agencies);
    else {
        self->loaded_at = zclock_mono ();
        s_reload_files (self);
    }
    return 0;
}

void
broker_keys_adopt (broker_keys_t *self, zhashx_t *agencies)
{
    zhashx_destroy (&self->agencies);
    self->agencies = agencies;
    self->loaded_at = zclock_mono ();
    s_reload_files (self);
}

void
broker_keys_reload_files (broker_keys_t *self)
{
    s_reload_files (self);
}

void
broker_keys_set_max_stale (broker_keys_t *self, int max_stale_ms)
{
    self->max_stale_ms = max_stale_ms;
}

bool
broker_keys_stale (broker_keys_t *self)
{
    return self->has_db && self->max_stale_ms > 0
           && zclock_mono () - self->loaded_at > self->max_stale_ms;
}

const char *
broker_keys_agency (broker_keys_t *self, const char *public_key)
{
    return public_key ? (const char *) zhashx_lookup (self->agencies, public_key) : NULL;
}

const char *
broker_keys_service (broker_keys_t *self, const char *public_key)
{
    return public_key ? (const char *) zhashx_lookup (self->services, public_key) : NULL;
}

bool
broker_keys_health (broker_keys_t *self, const char *public_key)
{
    return public_key && zhashx_lookup (self->health, public_key) != NULL;
}
