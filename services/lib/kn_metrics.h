/*  kn_metrics: the process's Prometheus metrics, and the HTTP endpoint that serves
    them as text exposition format 0.0.4.
    One registry per process, safe to record into from any thread: a record takes
    one mutex for a hash lookup and a few additions, so request paths can afford it.
    The metric families (name, type, help, label names) are a fixed table in
    kn_metrics.c, so every metric Kinnet exports is listed in one place (and in
    docs/metrics.md). Label values are ours (service and operation names, result
    codes, socket names), never request input; even so each family keeps at most
    KN_METRICS_MAX_SERIES label sets, and anything past that is counted in one
    series whose label values are all "other".
    The HTTP server (libmicrohttpd) runs in a thread of its own; daemons start it
    from KINNET_METRICS_LISTEN (kn_daemon, the broker's main). Without it the
    registry still counts, it is just not served. */
#ifndef KN_METRICS_H_INCLUDED
#define KN_METRICS_H_INCLUDED

#include "kn_error.h"

#define KN_METRICS_MAX_SERIES 512

//  The histogram's upper bounds in seconds (the +Inf bucket comes on top).
#define KN_METRICS_BUCKETS 14

//  One handled request: kinnet_requests_total{service,operation,result} goes up by
//  one and kinnet_request_duration_seconds{service,operation} observes seconds.
void kn_metrics_request (const char *service, const char *operation, const char *result,
                         double seconds);

//  Set a gauge or add to a counter of the table. The family's label values follow
//  value in the family's label order, then NULL:
//      kn_metrics_gauge_set ("kinnet_broker_workers", 2, "intake", NULL);
//  An unknown family, a family of another type, or the wrong number of label
//  values is a mistake in our code (assert). A NULL value among the labels
//  cannot be told from the terminator, so pass "" for an empty one.
void kn_metrics_gauge_set (const char *family, double value, ...)
    __attribute__ ((sentinel));
void kn_metrics_counter_add (const char *family, double amount, ...)
    __attribute__ ((sentinel));

//  The registry as text exposition format 0.0.4: HELP and TYPE for every family
//  that has a series, then its samples; kinnet_up and the process_* gauges are
//  always there. The caller frees the string.
char *kn_metrics_render (void);

//  Forget every series (for tests; the server keeps running).
void kn_metrics_reset (void);

//  Serve GET /metrics (and HEAD) on listen, "host:port" ("[::1]:port" for IPv6,
//  ":port" or "*:port" for every interface; port 0 picks a free one) from a
//  thread of its own; other paths answer 404, other methods 405. A NULL or empty
//  listen means no server and returns 0. Logs metrics.listening with the address
//  it bound. Returns 0, or -1 (malformed address, cannot bind, already serving).
//  Call from the main thread, as with _stop.
int kn_metrics_serve_start (const char *listen, kn_error_t *err);

//  The port the server is bound to, 0 when it is not running.
int kn_metrics_serve_port (void);

//  Stop the server (waits for its thread). Safe when it is not running.
void kn_metrics_serve_stop (void);

#endif
