/*  broker_agencies: per-agency bytes and token buckets. */
#include "broker_agencies.h"

#include "kn_alloc.h"

typedef struct {
    double tokens;
    int64_t refilled_at;
    size_t bytes;
} state_t;

struct _broker_agencies_t {
    double rate;
    double burst;
    zhashx_t *states;   // agency id -> state_t
};

static void
s_state_free (void **item)
{
    free (*item);
    *item = NULL;
}

broker_agencies_t *
broker_agencies_new (double rate, double burst)
{
    broker_agencies_t *self = kn_calloc (1, sizeof *self);
    self->rate = rate;
    self->burst = burst;
    self->states = zhashx_new ();
    zhashx_set_destructor (self->states, s_state_free);
    return self;
}

void
broker_agencies_destroy (broker_agencies_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->states);
    free (*self_p);
    *self_p = NULL;
}

void
broker_agencies_set_limits (broker_agencies_t *self, double rate, double burst)
{
    self->rate = rate;
    self->burst = burst;
    for (state_t *state = zhashx_first (self->states); state;
         state = zhashx_next (self->states))
        if (state->tokens > burst)
            state->tokens = burst;
}

static state_t *
s_state (broker_agencies_t *self, const char *agency)
{
    state_t *state = zhashx_lookup (self->states, agency);
    if (!state) {
        state = kn_calloc (1, sizeof *state);
        state->tokens = self->burst;
        state->refilled_at = zclock_mono ();
        zhashx_insert (self->states, agency, state);
    }
    return state;
}

//  Nothing in the broker and a full allowance: nothing worth keeping. Full means
//  full now, with what has refilled since: an agency whose request was just answered
//  has not (a bucket forgotten with a token short would be full again at the next
//  request, and an agency sending one request at a time would never be limited).
static void
s_tidy (broker_agencies_t *self, const char *agency, state_t *state)
{
    double tokens =
        state->tokens + (double) (zclock_mono () - state->refilled_at) * self->rate / 1000.0;
    if (state->bytes == 0 && (self->rate <= 0 || tokens >= self->burst))
        zhashx_delete (self->states, agency);
}

uint32_t
broker_agencies_rate_wait (broker_agencies_t *self, const char *agency)
{
    if (self->rate <= 0)
        return 0;
    state_t *state = s_state (self, agency);
    int64_t now = zclock_mono ();
    state->tokens += (double) (now - state->refilled_at) * self->rate / 1000.0;
    if (state->tokens > self->burst)
        state->tokens = self->burst;
    state->refilled_at = now;
    if (state->tokens >= 1.0) {
        state->tokens -= 1.0;
        return 0;
    }
    return (uint32_t) ((1.0 - state->tokens) * 1000.0 / self->rate) + 1;
}

size_t
broker_agencies_bytes (broker_agencies_t *self, const char *agency)
{
    state_t *state = zhashx_lookup (self->states, agency);
    return state ? state->bytes : 0;
}

void
broker_agencies_hold (broker_agencies_t *self, const char *agency, size_t bytes)
{
    s_state (self, agency)->bytes += bytes;
}

void
broker_agencies_release (broker_agencies_t *self, const char *agency, size_t bytes)
{
    state_t *state = zhashx_lookup (self->states, agency);
    if (!state)
        return;
    state->bytes -= bytes < state->bytes ? bytes : state->bytes;
    s_tidy (self, agency, state);
}
