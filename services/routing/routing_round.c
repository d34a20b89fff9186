/*  routing_round: the needs of new cases gathered from a run of referrals (the
    batch's referrals of different families, read ahead together) and offered in
    one round by routing_offer_new_needs: two round trips for the run, not two a
    need. Each gathered need keeps its own copy of what it is written with. The
    run's rows (its cases, their referrals, its needs, offers, feed events and
    audit rows) are gathered with it and written when it is offered, one statement
    per table (routing_gather). */
#include "kn_alloc.h"
#include "routing_store_int.h"

#define NEED_VALUES 8

typedef struct {
    need_context_t ctx;
    char need_id[KN_UUID_STR];
    char *values[NEED_VALUES];
} gathered_t;

struct _routing_round_t {
    gathered_t *needs;
    size_t count, size;
    routing_gather_t rows; // the run's rows, written when the round is offered
};

routing_round_t *
routing_round_new (void)
{
    routing_round_t *self = kn_calloc (1, sizeof (routing_round_t));
    routing_gather_init (&self->rows);
    return self;
}

routing_gather_t *
routing_round_rows (routing_round_t *self)
{
    return &self->rows;
}

void
routing_round_clear (routing_round_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        for (size_t k = 0; k < NEED_VALUES; k++)
            free (self->needs[i].values[k]);
    self->count = 0;
}

void
routing_round_destroy (routing_round_t **self_p)
{
    if (self_p && *self_p) {
        routing_round_clear (*self_p);
        routing_gather_drop (&(*self_p)->rows); // a failed batch's
        free ((*self_p)->needs);
        free (*self_p);
        *self_p = NULL;
    }
}

size_t
routing_round_size (const routing_round_t *self)
{
    return self->count;
}

void
routing_round_add (routing_round_t *self, const char *need_id, const need_context_t *ctx)
{
    if (self->count == self->size) {
        self->size = self->size ? 2 * self->size : 8;
        self->needs = kn_realloc (self->needs, self->size * sizeof *self->needs);
    }
    gathered_t *need = &self->needs[self->count++];
    need->ctx = *ctx;
    need->ctx.new_need = NULL; // pointed at need->values when offered
    snprintf (need->need_id, sizeof need->need_id, "%s", need_id);
    for (size_t k = 0; k < NEED_VALUES; k++)
        need->values[k] = ctx->new_need[k] ? kn_strdup (ctx->new_need[k]) : NULL;
}

int
routing_round_offer (routing_store_t *store, routing_round_t *self, int64_t now,
                     kn_error_t *err)
{
    size_t n = self->count;
    int rc = 0;
    if (n > 0) {
        need_context_t *ctxs = kn_calloc (n, sizeof *ctxs);
        char(*need_ids)[KN_UUID_STR] = kn_calloc (n, sizeof *need_ids);
        for (size_t i = 0; i < n; i++) {
            ctxs[i] = self->needs[i].ctx;
            ctxs[i].new_need = (const char *const *)self->needs[i].values;
            memcpy (need_ids[i], self->needs[i].need_id, KN_UUID_STR);
        }
        rc = routing_offer_new_needs (store, ctxs, need_ids, n, &self->rows, now, err);
        free (need_ids);
        free (ctxs);
        routing_round_clear (self);
    }
    //  The run's rows, with its offers' (a run of joining referrals may have none).
    return rc ?: routing_gather_write (store, &self->rows, err);
}
