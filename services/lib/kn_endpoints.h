/*  kn_endpoints: a list of broker endpoints, parsed and checked.
    A partnership may run several brokers (docs/operations.md, "Redundant brokers");
    clients and workers are given them as one setting, comma-separated:
    "tcp://10.0.0.1:5555,tcp://10.0.0.2:5555". A list that would connect somewhere
    unintended (an empty element, an unknown transport, a space) is refused whole,
    so a typo never silently leaves a broker out. */
#ifndef KN_ENDPOINTS_H_INCLUDED
#define KN_ENDPOINTS_H_INCLUDED

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

#endif
