/*  bench_histogram: latency histogram for the load generator, in microseconds.
    Log-linear buckets (HdrHistogram's idea): exact below 256 us, then 128 buckets
    per power of two, so any value is stored within 0.4% and every 64-bit value fits
    a fixed 60 KB array. One per thread, merged at the end, so recording takes no
    lock. */
#ifndef BENCH_HISTOGRAM_H_INCLUDED
#define BENCH_HISTOGRAM_H_INCLUDED

#include <stdint.h>

typedef struct _bench_histogram_t bench_histogram_t;

bench_histogram_t *bench_histogram_new (void);
void bench_histogram_destroy (bench_histogram_t **self_p);

void bench_histogram_record (bench_histogram_t *self, uint64_t value_us);

//  Add every value recorded in other to self.
void bench_histogram_merge (bench_histogram_t *self, const bench_histogram_t *other);

uint64_t bench_histogram_count (const bench_histogram_t *self);
uint64_t bench_histogram_max (const bench_histogram_t *self);
double bench_histogram_mean (const bench_histogram_t *self);

//  The value at quantile q (0..1): the smallest recorded value v such that at least
//  q of all values are <= v, within the bucket precision (the exact maximum for
//  q = 1). 0 when empty.
uint64_t bench_histogram_quantile (const bench_histogram_t *self, double q);

#endif
