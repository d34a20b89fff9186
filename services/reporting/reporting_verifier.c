/*  reporting_verifier: one verification at a time on a thread of its own. A job
    goes idle -> running (asked) -> done (verified) -> idle (collected, or nobody
    came for it within KEEP_MS). */
#include "reporting_verifier.h"

#include <pthread.h>
#include <string.h>

#include <czmq.h>

#include "kn_alloc.h"
#include "kn_config.h"
#include "kn_log.h"

#define KEEP_MS     60000 // an uncollected verdict blocks other anchors this long

typedef enum { JOB_IDLE, JOB_RUNNING, JOB_DONE } job_state_t;

struct _reporting_verifier_t {
    kn_db_t *db;      //  the primary
    kn_db_t *standby; //  NULL: none
    int max_lag_ms;
    kn_audit_trusted_t trusted[KN_AUDIT_TRUST_MAX];
    size_t n_trusted;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock; // guards everything below
    pthread_cond_t changed;
    bool stop;
    job_state_t state;
    bool picked;   // the thread has taken the running job
    bool anchored; // the job's anchor
    kn_audit_anchor_t anchor;
    char lsn[REPORTING_LSN_SIZE]; // the primary's position the job must see
    reporting_route_t route;      // where the done job read
    int64_t started_at, done_at;
    int rc; // the done job's result
    kn_audit_verdict_t verdict;
    kn_error_t err;
};

static bool
s_same_anchor (const reporting_verifier_t *self, const kn_audit_anchor_t *anchor)
{
    if (!anchor || !self->anchored)
        return !anchor && !self->anchored;
    return anchor->number == self->anchor.number && anchor->seq == self->anchor.seq &&
           anchor->disclosure_seq == self->anchor.disclosure_seq &&
           memcmp (anchor->hash, self->anchor.hash, sizeof anchor->hash) == 0;
}

//  Tests only, never in a release build: hold each verification hold_ms, once it
//  has chosen its server, so a test can send other requests while one runs (or take
//  the server it chose away). The hold first runs a marked statement on the chosen
//  server, so a test can see in pg_stat_activity which server was chosen, and that
//  the choice is made (a probe of the standby alone may still be waiting for it to
//  catch up).
static void
s_test_hold (reporting_verifier_t *self, kn_db_t *chosen)
{
#ifdef KN_TEST_HOOKS
    int hold_ms = kn_config_int ("KINNET_TEST_VERIFY_HOLD_MS", 0);
    if (hold_ms <= 0)
        return;
    kn_error_t ignored;
    (void)kn_db_exec (chosen, "SELECT 'kinnet_verify_hold'", &ignored);
    int64_t until = zclock_mono () + hold_ms;
    bool stop = false;
    while (zclock_mono () < until && !stop) {
        zclock_sleep (20);
        pthread_mutex_lock (&self->lock);
        stop = self->stop;
        pthread_mutex_unlock (&self->lock);
    }
#else
    (void)self;
    (void)chosen;
#endif
}

static void *
s_run (void *arg)
{
    reporting_verifier_t *self = arg;
    pthread_mutex_lock (&self->lock);
    while (true) {
        while (!self->stop && !(self->state == JOB_RUNNING && !self->picked))
            pthread_cond_wait (&self->changed, &self->lock);
        if (self->stop)
            break;
        self->picked = true;
        kn_audit_anchor_t anchor = self->anchor;
        bool anchored = self->anchored;
        char lsn[REPORTING_LSN_SIZE];
        memcpy (lsn, self->lsn, sizeof lsn);
        pthread_mutex_unlock (&self->lock);

        reporting_route_t route;
        reporting_replica_route (self->standby, lsn, self->max_lag_ms, &route);
        s_test_hold (self, route.standby ? self->standby : self->db);
        kn_audit_verdict_t verdict;
        kn_error_t err;
        kn_error_clear (&err);
        int rc = kn_audit_chain_verify (route.standby ? self->standby : self->db,
                                        self->trusted, self->n_trusted,
                                        anchored ? &anchor : NULL, &verdict, &err);
        //  A standby lost, or a recovery conflict that cancelled the long read: the
        //  primary verifies instead.
        if (rc && route.standby && err.code == KN_E_SERVICE_UNAVAILABLE) {
            route.standby = false;
            route.reason = "standby_failed";
            kn_error_clear (&err);
            rc = kn_audit_chain_verify (self->db, self->trusted, self->n_trusted,
                                        anchored ? &anchor : NULL, &verdict, &err);
        }
        if (rc)
            kn_log (KN_ERROR, "verify_audit.failed", "problem", err.message, NULL);
        reporting_replica_record (&route);

        pthread_mutex_lock (&self->lock);
        self->route = route;
        self->rc = rc;
        self->verdict = verdict;
        self->err = err;
        self->state = JOB_DONE;
        self->done_at = zclock_mono ();
        pthread_cond_broadcast (&self->changed);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

reporting_verifier_t *
reporting_verifier_new (kn_db_t **db_p, kn_db_t **standby_p,
                        const kn_audit_trusted_t *trusted, size_t n_trusted,
                        int max_lag_ms, kn_error_t *err)
{
    kn_db_t *db = *db_p, *standby = standby_p ? *standby_p : NULL;
    *db_p = NULL;
    if (standby_p)
        *standby_p = NULL;
    if (kn_audit_chain_prepare (db, err) ||
        (standby && (kn_audit_chain_prepare (standby, err) ||
                     reporting_replica_prepare (standby, err)))) {
        kn_db_destroy (&db);
        kn_db_destroy (&standby);
        return NULL;
    }
    reporting_verifier_t *self = kn_calloc (1, sizeof *self);
    self->db = db;
    self->standby = standby;
    self->max_lag_ms = max_lag_ms;
    self->n_trusted = n_trusted < KN_AUDIT_TRUST_MAX ? n_trusted : KN_AUDIT_TRUST_MAX;
    memcpy (self->trusted, trusted, self->n_trusted * sizeof *trusted);
    pthread_mutex_init (&self->lock, NULL);
    //  Waits are timed on the monotonic clock, as zclock_mono is.
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->changed, &attr);
    pthread_condattr_destroy (&attr);
    self->started = pthread_create (&self->thread, NULL, s_run, self) == 0;
    if (!self->started) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "the verification thread did not start");
        reporting_verifier_destroy (&self);
    }
    return self;
}

void
reporting_verifier_destroy (reporting_verifier_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    reporting_verifier_t *self = *self_p;
    pthread_mutex_lock (&self->lock);
    self->stop = true;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
    if (self->started)
        pthread_join (self->thread, NULL);
    pthread_cond_destroy (&self->changed);
    pthread_mutex_destroy (&self->lock);
    kn_db_destroy (&self->db);
    kn_db_destroy (&self->standby);
    free (self);
    *self_p = NULL;
}

//  Until the job is no longer running or wait_ms has passed; the lock held.
static void
s_wait (reporting_verifier_t *self, int wait_ms)
{
    struct timespec until;
    clock_gettime (CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (self->state == JOB_RUNNING &&
           pthread_cond_timedwait (&self->changed, &self->lock, &until) == 0)
        ;
}

int
reporting_verifier_ask (reporting_verifier_t *self, const kn_audit_anchor_t *anchor,
                        const char *lsn, int wait_ms, kn_audit_verdict_t *verdict,
                        reporting_route_t *route, kn_error_t *err)
{
    pthread_mutex_lock (&self->lock);
    int64_t now = zclock_mono ();
    if (self->state == JOB_DONE && now - self->done_at > KEEP_MS)
        self->state = JOB_IDLE; // nobody came for it
    if (self->state == JOB_IDLE) {
        self->state = JOB_RUNNING;
        self->picked = false;
        self->anchored = anchor != NULL;
        memset (&self->anchor, 0, sizeof self->anchor);
        if (anchor)
            self->anchor = *anchor;
        snprintf (self->lsn, sizeof self->lsn, "%s", lsn ? lsn : "");
        self->started_at = now;
        pthread_cond_broadcast (&self->changed);
    }
    bool ours = s_same_anchor (self, anchor);
    if (ours && wait_ms > 0)
        s_wait (self, wait_ms);
    int rc = -1;
    if (ours && self->state == JOB_DONE) {
        rc = self->rc;
        *verdict = self->verdict;
        *route = self->route;
        *err = self->err;
        self->state = JOB_IDLE; // collected
    } else if (ours)
        kn_error_set (
            err, KN_E_SERVICE_UNAVAILABLE, NULL,
            "the audit trail is being verified (for %lld s now); ask again with "
            "the same request in a moment",
            (long long)((zclock_mono () - self->started_at) / 1000));
    else
        kn_error_set (err, KN_E_SERVICE_UNAVAILABLE, NULL,
                      "a verification of the audit trail against another anchor is "
                      "running or waiting to be collected; ask again in a moment");
    pthread_mutex_unlock (&self->lock);
    return rc;
}
