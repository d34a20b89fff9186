/*  broker_keys: agency and service key tables, mirrored into zauth's allow list. */
#include "broker_keys.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kn_agency.h"
#include "kn_log.h"

struct _broker_keys_t {
    char *zap_dir;
    char *service_dir;
    kn_db_t *db;
    zactor_t *auth;
    zhashx_t *agencies;   // Z85 key -> agency id
    zhashx_t *services;   // Z85 key -> service name or "*"
};

static zhashx_t *
s_string_table (void)
{
    zhashx_t *table = zhashx_new ();
    zhashx_set_destructor (table, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (table, (zhashx_duplicator_fn *) strdup);
    return table;
}

//  Service certificates: every readable public certificate in service_dir.
static zhashx_t *
s_load_services (const char *dir)
{
    zhashx_t *services = s_string_table ();
    DIR *handle = dir ? opendir (dir) : NULL;
    if (!handle)
        return services;
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
        zhashx_update (services, zcert_public_txt (cert), (void *) (service ? service : "*"));
        zcert_destroy (&cert);
    }
    closedir (handle);
    return services;
}

//  File name for a key: hex of its 32 bytes (Z85 has characters unfit for names).
static void
s_key_file (const char *dir, const char *z85, char *path, size_t size)
{
    uint8_t raw[32];
    char hex[65];
    zmq_z85_decode (raw, z85);
    for (int i = 0; i < 32; i++)
        snprintf (hex + 2 * i, 3, "%02x", raw[i]);
    snprintf (path, size, "%s/%s.key", dir, hex);
}

static void
s_write_allow_list (broker_keys_t *self)
{
    //  Remove certificates no longer allowed.
    DIR *handle = opendir (self->zap_dir);
    if (handle) {
        struct dirent *entry;
        while ((entry = readdir (handle)) != NULL) {
            if (entry->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf (path, sizeof path, "%s/%s", self->zap_dir, entry->d_name);
            zcert_t *cert = zcert_load (path);
            bool keep = cert
                        && (zhashx_lookup (self->agencies, zcert_public_txt (cert))
                            || zhashx_lookup (self->services, zcert_public_txt (cert)));
            zcert_destroy (&cert);
            if (!keep)
                unlink (path);
        }
        closedir (handle);
    }
    //  Add the missing ones.
    zhashx_t *tables[] = {self->agencies, self->services};
    for (int t = 0; t < 2; t++) {
        for (void *value = zhashx_first (tables[t]); value; value = zhashx_next (tables[t])) {
            const char *z85 = (const char *) zhashx_cursor (tables[t]);
            char path[4096];
            s_key_file (self->zap_dir, z85, path, sizeof path);
            if (access (path, F_OK) == 0)
                continue;
            uint8_t public_key[32], secret_key[32] = {0};
            zmq_z85_decode (public_key, z85);
            zcert_t *cert = zcert_new_from (public_key, secret_key);
            if (cert && zcert_save_public (cert, path) != 0)
                kn_log (KN_ERROR, "keys.write_failed", NULL);
            zcert_destroy (&cert);
        }
    }
    //  zauth re-reads the directory on this command, synchronously.
    zstr_sendx (self->auth, "CURVE", self->zap_dir, NULL);
    zsock_wait (self->auth);
}

broker_keys_t *
broker_keys_new (const char *zap_dir, const char *service_dir, kn_db_t *db, kn_error_t *err)
{
    if (zsys_dir_create ("%s", zap_dir) != 0) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "cannot create %s", zap_dir);
        return NULL;
    }
    chmod (zap_dir, 0700);
    broker_keys_t *self = calloc (1, sizeof *self);
    self->zap_dir = strdup (zap_dir);
    self->service_dir = service_dir ? strdup (service_dir) : NULL;
    self->db = db;
    self->agencies = s_string_table ();
    self->services = s_string_table ();
    self->auth = zactor_new (zauth, NULL);
    if (!self->auth) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "cannot start zauth");
        broker_keys_destroy (&self);
        return NULL;
    }
    if (broker_keys_reload (self, err))
        broker_keys_destroy (&self);
    return self;
}

void
broker_keys_destroy (broker_keys_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_keys_t *self = *self_p;
    zactor_destroy (&self->auth);
    zhashx_destroy (&self->agencies);
    zhashx_destroy (&self->services);
    free (self->zap_dir);
    free (self->service_dir);
    free (self);
    *self_p = NULL;
}

int
broker_keys_reload (broker_keys_t *self, kn_error_t *err)
{
    int rc = 0;
    zhashx_t *agencies = NULL;
    if (self->db && kn_db_ensure (self->db, err) == 0)
        agencies = kn_agency_active_keys (self->db, err);
    if (agencies) {
        zhashx_destroy (&self->agencies);
        self->agencies = agencies;
    }
    else if (self->db) {
        kn_log (KN_WARN, "keys.reload_failed", "kept", "previous_agency_keys", NULL);
        rc = -1;
    }
    zhashx_destroy (&self->services);
    self->services = s_load_services (self->service_dir);
    s_write_allow_list (self);
    char agencies_count[16], services_count[16];
    snprintf (agencies_count, sizeof agencies_count, "%zu", zhashx_size (self->agencies));
    snprintf (services_count, sizeof services_count, "%zu", zhashx_size (self->services));
    kn_log (KN_INFO, "keys.reloaded", "agency_keys", agencies_count, "service_keys",
            services_count, NULL);
    return rc;
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
