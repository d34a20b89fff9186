/*  routing_consumer: one pass of routing's background work. See the header. */
#include "routing_consumer.h"

#include <czmq.h>
#include <stdlib.h>

#include "kn_log.h"
#include "kn_metrics.h"
#include "kn_alloc.h"

struct _routing_consumer_t {
    routing_store_t *store;
    int64_t retry_every_ms;
    int64_t retry_at; // zclock_mono () of the next unplaced retry; 0: at once
    int batch;
};

routing_consumer_t *
routing_consumer_new (routing_store_t *store, int64_t retry_every_ms, int batch)
{
    routing_consumer_t *self = kn_calloc (1, sizeof *self);
    self->store = store;
    self->retry_every_ms = retry_every_ms;
    self->batch = batch > 0 ? batch : 100;
    return self;
}

void
routing_consumer_destroy (routing_consumer_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

int64_t
routing_consumer_run_once (routing_consumer_t *self, int64_t now, kn_error_t *err)
{
    int consumed = 0, expired = 0, placed = 0, chased = 0, ended = 0;
    if (self->retry_every_ms > 0 && zclock_mono () >= self->retry_at) {
        self->retry_at = zclock_mono () + self->retry_every_ms;
        kn_error_t retry_err;
        //  A failed retry waits for its next turn; the rest of the pass goes on.
        if (routing_store_retry_unplaced (self->store, now, 1000, &placed, &retry_err))
            kn_log (KN_ERROR, "consumer.failed", "problem", retry_err.message, NULL);
    }
    int max = self->batch;
    //  Each job runs whatever the others did: an event the consumer cannot route
    //  (or a database that refuses it) must not stop offers expiring and being
    //  passed on, contacts being chased or grounds ending. err holds the first
    //  failure.
    struct {
        const char *job;
        int (*run) (routing_store_t *, int64_t, int, int *, kn_error_t *);
        int *handled;
    } jobs[] = {
        {"consume", routing_store_consume, &consumed},
        {"expire", routing_store_expire, &expired},
        {"chase_contacts", routing_store_chase_contacts, &chased},
        {"end_grounds", routing_store_end_grounds, &ended},
    };
    bool failed = false;
    for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
        kn_error_t job_err;
        if (jobs[i].run (self->store, now, max, jobs[i].handled, &job_err) == 0)
            continue;
        if (!failed && err)
            *err = job_err;
        else
            kn_log (KN_ERROR, "consumer.failed", "job", jobs[i].job, "problem",
                    job_err.message, NULL);
        failed = true;
    }
    //  After every pass, what is still waiting (a stuck consumer's grows).
    int64_t lag;
    kn_error_t lag_err;
    if (routing_store_outbox_lag (self->store, &lag, &lag_err) == 0)
        kn_metrics_gauge_set ("kinnet_outbox_lag_events", (double)lag, "routing", NULL);
    if (failed)
        return -1;
    if (consumed == max || expired == max || chased == max || ended == max)
        return 0; // more waiting
    int64_t next = routing_store_next_deadline (self->store, now, 1);
    return next * 1000 > 0 ? next * 1000 : 1;
}
