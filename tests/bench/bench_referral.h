/*  bench_referral: realistic referrals for the load generator.
    A referral names one family's children (1 to 3: the child and 0 to 2 siblings),
    1 or 2 guardians and 1 to 4 needs whose narratives run from 50 to 2000 bytes
    (log-uniform, so most are short and a few are long, as caseworkers write them).
    A share of referrals (20% by default) is about a family referred earlier in the
    same run, so intake's family matching finds it. A family is derived from its
    number and the run's salt alone, so any thread can refer any earlier family
    again without sharing its data, and a new run never re-matches an old run's
    families. */
#ifndef BENCH_REFERRAL_H_INCLUDED
#define BENCH_REFERRAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The families of one run, shared by all its threads (the counter is atomic).
typedef struct _bench_families_t bench_families_t;

//  repeat_share: 0..1, the share of referrals about an already referred family.
bench_families_t *bench_families_new (uint64_t salt, double repeat_share);
void bench_families_destroy (bench_families_t **self_p);

//  One generator per thread.
typedef struct _bench_referral_t bench_referral_t;

//  key_prefix names this generator's idempotency keys: "<key_prefix>-<n>", so two
//  generators with distinct prefixes never make the same key.
bench_referral_t *bench_referral_new (bench_families_t *families, uint64_t seed,
                                      const char *key_prefix);
void bench_referral_destroy (bench_referral_t **self_p);

//  The next referral as a packed kinnet.v1.IntakeRequest (submit) with a fresh
//  idempotency key. The bytes belong to the generator and stay valid until the
//  next call. *repeat says whether its family was referred before.
const uint8_t *bench_referral_next (bench_referral_t *self, size_t *len, bool *repeat);

//  Counts of the last referral made: children, needs and narrative bytes.
void bench_referral_shape (const bench_referral_t *self, int *children, int *needs,
                           size_t *narrative_bytes);

#endif
