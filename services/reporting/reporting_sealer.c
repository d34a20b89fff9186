/*  reporting_sealer: the audit sealer. See the header. */
#include "reporting_sealer.h"

#include <czmq.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>

#include "kn_config.h"
#include "kn_log.h"

struct _reporting_sealer_t {
    kn_db_t *db;
    kn_audit_signer_t signer;
    bool sign;
    int64_t checkpoint_every_ms;
    int64_t checkpoint_at; // zclock_mono () of the next checkpoint; 0: at once
    int batch;
};

reporting_sealer_t *
reporting_sealer_new (kn_db_t *db, const kn_audit_signer_t *signer,
                      int64_t checkpoint_every_ms, int batch, kn_error_t *err)
{
    if (kn_audit_chain_prepare (db, err))
        return NULL;
    reporting_sealer_t *self = calloc (1, sizeof *self);
    self->db = db;
    self->sign = signer != NULL;
    if (signer)
        self->signer = *signer;
    self->checkpoint_every_ms = checkpoint_every_ms;
    self->batch = batch > 0 ? batch : 5000;
    return self;
}

void
reporting_sealer_destroy (reporting_sealer_t **self_p)
{
    if (self_p && *self_p) {
        sodium_memzero (&(*self_p)->signer, sizeof (*self_p)->signer);
        free (*self_p);
        *self_p = NULL;
    }
}

int
reporting_sealer_run_once (reporting_sealer_t *self, kn_error_t *err)
{
    int sealed = 0;
    if (kn_audit_chain_seal (self->db, self->batch, &sealed, err))
        return -1;
    if (self->sign && zclock_mono () >= self->checkpoint_at) {
        bool made = false;
        if (kn_audit_chain_checkpoint (self->db, &self->signer, &made, err))
            return -1;
        self->checkpoint_at = zclock_mono () + self->checkpoint_every_ms;
    }
    return sealed == self->batch ? 0 : 1;
}

//  -------------------------------------------------------------------------
//  The thread

struct _reporting_sealer_thread_t {
    kn_audit_signer_t signer;
    bool sign;
    int64_t seal_every_ms;
    int64_t checkpoint_every_ms;
    pthread_t thread;
    bool started;
};

static void *
s_run (void *arg)
{
    reporting_sealer_thread_t *self = arg;
    kn_error_t err;
    kn_db_t *db =
        kn_db_new (kn_config_str ("KINNET_DATABASE_URL", ""),
                   kn_config_str ("KINNET_AUDIT_DB_ROLE", "kinnet_audit"), &err);
    reporting_sealer_t *sealer =
        db ? reporting_sealer_new (db, self->sign ? &self->signer : NULL,
                                   self->checkpoint_every_ms, 5000, &err)
           : NULL;
    if (!sealer) {
        kn_log (KN_ERROR, "sealer.start_failed", "problem", err.message, NULL);
        kn_db_destroy (&db);
        zsys_interrupted = 1;
        return NULL;
    }
    kn_log (KN_INFO, "sealer.started", "signing", self->sign ? "yes" : "no", NULL);
    while (!zsys_interrupted) {
        int rc = reporting_sealer_run_once (sealer, &err);
        if (rc < 0)
            kn_log (KN_ERROR, "sealer.failed", "problem", err.message, NULL);
        if (rc == 0)
            continue; // more waiting
        for (int64_t slept = 0; slept < self->seal_every_ms && !zsys_interrupted;
             slept += 100)
            zclock_sleep (100);
    }
    reporting_sealer_destroy (&sealer);
    kn_db_destroy (&db);
    return NULL;
}

reporting_sealer_thread_t *
reporting_sealer_start (const kn_audit_signer_t *signer, int64_t seal_every_ms,
                        int64_t checkpoint_every_ms)
{
    reporting_sealer_thread_t *self = calloc (1, sizeof *self);
    self->sign = signer != NULL;
    if (signer)
        self->signer = *signer;
    self->seal_every_ms = seal_every_ms;
    self->checkpoint_every_ms = checkpoint_every_ms;
    self->started = pthread_create (&self->thread, NULL, s_run, self) == 0;
    if (!self->started)
        reporting_sealer_stop (&self);
    return self;
}

void
reporting_sealer_stop (reporting_sealer_thread_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    reporting_sealer_thread_t *self = *self_p;
    zsys_interrupted = 1;
    if (self->started)
        pthread_join (self->thread, NULL);
    sodium_memzero (&self->signer, sizeof self->signer);
    free (self);
    *self_p = NULL;
}
