/*  kn_endpoints: a list of broker endpoints, parsed and checked.
    A partnership may run several brokers (docs/operations.md, "Redundant brokers");
    clients and workers are given them as one setting, comma-separated:
    "tcp://10.0.0.1:5555,tcp://10.0.0.2:5555". A list that would connect somewhere
    unintended (an empty element, an unknown transport, a space) is refused whole,
    so a typo never silently leaves a broker out. */
#ifndef KN_ENDPOINTS_H_INCLUDED
#define KN_ENDPOINTS_H_INCLUDED

#include <stddef.h>

#include "kn_error.h"

//  Most endpoints a list may hold, and longest one (characters).
#define KN_ENDPOINTS_MAX    8
#define KN_ENDPOINT_MAX_LEN 255

//  Split list at commas into endpoints[0 .. count-1] (each allocated; free them with
//  kn_endpoints_free). Each must be tcp:// or ipc:// followed by an address without
//  whitespace or control characters. Returns the count (1 .. KN_ENDPOINTS_MAX), or -1
//  with err KN_E_INVALID_ARGUMENT, field "endpoint", naming the element at fault.
int kn_endpoints_parse (const char *list, char *endpoints[KN_ENDPOINTS_MAX],
                        kn_error_t *err);

//  Free the count endpoints kn_endpoints_parse gave, and null them.
void kn_endpoints_free (char *endpoints[KN_ENDPOINTS_MAX], int count);

//  endpoint with its host name resolved here, into out (size bytes): tcp://NAME:PORT
//  becomes tcp://ADDRESS:PORT, an IPv4 address (Kinnet's sockets are IPv4 only); an
//  address, or ipc://, comes out as it went in. Returns 0, or -1 when the name does not resolve (or out is too
//  small). libzmq resolves a name in its I/O thread, which carries every socket of
//  the process: a broker whose name has gone (a stopped container) would have each
//  reconnection of each worker slot wait on DNS there, and stall the traffic of the
//  live brokers. Answers, failures included, are kept for ttl_ms, so many slots
//  connecting together ask once.
int kn_endpoint_resolve (const char *endpoint, char *out, size_t size, int ttl_ms);

#endif
