/*  kn_clock: the one time source of the routing clock (offers, deadlines,
    escalation). Real time, unless KINNET_CLOCK_FILE names a file holding Unix
    seconds: then that file is the clock, re-read at every call, so a test moves
    time for a running daemon by rewriting it. Never set it in production; the
    daemons log a warning when it is set. */
#ifndef KN_CLOCK_H_INCLUDED
#define KN_CLOCK_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

//  Seconds since the Unix epoch.
int64_t kn_clock_now (void);

//  True when KINNET_CLOCK_FILE is set (a controlled clock).
bool kn_clock_controlled (void);

//  Write seconds to the clock file path (tests). 0 or -1.
int kn_clock_write (const char *path, int64_t seconds);

#endif
