/*  bench_histogram: log-linear latency buckets. */
#include "bench_histogram.h"

#include <math.h>
#include <stdlib.h>

#define SUB_BITS 7
#define SUB      (1u << SUB_BITS)                 // buckets per power of two
#define EXACT    (2u * SUB)                       // values below this are exact
#define BUCKETS  (EXACT + (64 - SUB_BITS) * SUB)  // enough for any uint64_t

struct _bench_histogram_t {
    uint64_t counts[BUCKETS];
    uint64_t count;
    uint64_t max;
    double sum;
};

static unsigned
s_index (uint64_t value)
{
    if (value < EXACT)
        return (unsigned) value;
    unsigned magnitude = 63u - (unsigned) __builtin_clzll (value);   // >= SUB_BITS + 1
    unsigned shift = magnitude - SUB_BITS;
    unsigned top = (unsigned) (value >> shift);                       // SUB .. 2 * SUB - 1
    return EXACT + (shift - 1) * SUB + (top - SUB);
}

//  The middle of a bucket's range, as the value it stands for.
static uint64_t
s_value (unsigned index)
{
    if (index < EXACT)
        return index;
    unsigned k = index - EXACT;
    unsigned shift = k / SUB + 1;
    uint64_t low = (uint64_t) (k % SUB + SUB) << shift;
    return low + ((1ull << shift) - 1) / 2;
}

bench_histogram_t *
bench_histogram_new (void)
{
    return calloc (1, sizeof (bench_histogram_t));
}

void
bench_histogram_destroy (bench_histogram_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

void
bench_histogram_record (bench_histogram_t *self, uint64_t value_us)
{
    self->counts[s_index (value_us)]++;
    self->count++;
    self->sum += (double) value_us;
    if (value_us > self->max)
        self->max = value_us;
}

void
bench_histogram_merge (bench_histogram_t *self, const bench_histogram_t *other)
{
    for (unsigned i = 0; i < BUCKETS; i++)
        self->counts[i] += other->counts[i];
    self->count += other->count;
    self->sum += other->sum;
    if (other->max > self->max)
        self->max = other->max;
}

uint64_t
bench_histogram_count (const bench_histogram_t *self)
{
    return self->count;
}

uint64_t
bench_histogram_max (const bench_histogram_t *self)
{
    return self->max;
}

double
bench_histogram_mean (const bench_histogram_t *self)
{
    return self->count ? self->sum / (double) self->count : 0.0;
}

uint64_t
bench_histogram_quantile (const bench_histogram_t *self, double q)
{
    if (self->count == 0)
        return 0;
    if (q >= 1.0)
        return self->max;
    uint64_t rank = (uint64_t) ceil (q * (double) self->count);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BUCKETS; i++) {
        seen += self->counts[i];
        if (seen >= rank) {
            uint64_t value = s_value (i);
            return value < self->max ? value : self->max;
        }
    }
    return self->max;
}
