/*  broker_suspects: a small ring of request digests with the deaths seen for each.
    Worker deaths are rare, so a linear search is enough. */
#include "broker_suspects.h"

#include <sodium.h>

#include "kn_alloc.h"

#define DIGEST_BYTES 16

typedef struct {
    uint8_t digest[DIGEST_BYTES];
    int deaths;      // 0: an empty slot
    int64_t died_at; // the last death
} suspect_t;

struct _broker_suspects_t {
    suspect_t *slots;
    size_t capacity;
    size_t next; // the slot a new request takes (the oldest one's)
    int64_t window_ms;
    int64_t last_death; // of any: nothing to forget after the window
};

broker_suspects_t *
broker_suspects_new (size_t capacity, int64_t window_ms)
{
    if (sodium_init () < 0)
        return NULL;
    broker_suspects_t *self = kn_calloc (1, sizeof *self);
    self->capacity = capacity ? capacity : 1;
    self->slots = kn_calloc (self->capacity, sizeof *self->slots);
    self->window_ms = window_ms;
    self->last_death = INT64_MIN / 2;
    return self;
}

void
broker_suspects_destroy (broker_suspects_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->slots);
    free (*self_p);
    *self_p = NULL;
}

//  The request's identity across retries: agency (in the Caller frame), service
//  and body; not the client's routing address, which a new connection changes.
static void
s_digest (const char *service, zmsg_t *msg, uint8_t digest[DIGEST_BYTES])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, DIGEST_BYTES);
    crypto_generichash_update (&state, (const uint8_t *)service, strlen (service) + 1);
    size_t index = 0;
    for (zframe_t *frame = zmsg_first (msg); frame; frame = zmsg_next (msg), index++) {
        if (index < 2)
            continue; // [client][""]
        uint8_t length[8];
        uint64_t size = zframe_size (frame);
        for (int i = 0; i < 8; i++)
            length[i] = (uint8_t)(size >> (8 * i));
        crypto_generichash_update (&state, length, sizeof length);
        crypto_generichash_update (&state, zframe_data (frame), zframe_size (frame));
    }
    crypto_generichash_final (&state, digest, DIGEST_BYTES);
}

static suspect_t *
s_find (broker_suspects_t *self, const uint8_t digest[DIGEST_BYTES], int64_t now)
{
    for (size_t i = 0; i < self->capacity; i++) {
        suspect_t *suspect = &self->slots[i];
        if (suspect->deaths && now - suspect->died_at <= self->window_ms &&
            memcmp (suspect->digest, digest, DIGEST_BYTES) == 0)
            return suspect;
    }
    return NULL;
}

int
broker_suspects_died (broker_suspects_t *self, const char *service, zmsg_t *msg,
                      int64_t now)
{
    uint8_t digest[DIGEST_BYTES];
    s_digest (service, msg, digest);
    self->last_death = now;
    suspect_t *suspect = s_find (self, digest, now);
    if (!suspect) {
        suspect = &self->slots[self->next];
        self->next = (self->next + 1) % self->capacity;
        memcpy (suspect->digest, digest, DIGEST_BYTES);
        suspect->deaths = 0;
    }
    suspect->died_at = now;
    return ++suspect->deaths;
}

void
broker_suspects_answered (broker_suspects_t *self, const char *service, zmsg_t *msg,
                          int64_t now)
{
    if (now - self->last_death > self->window_ms)
        return;
    uint8_t digest[DIGEST_BYTES];
    s_digest (service, msg, digest);
    suspect_t *suspect = s_find (self, digest, now);
    if (suspect)
        suspect->deaths = 0;
}
