/*  kn_clock: the one clock every rule reads. Validity of consents, bases and
    overrides, their expiry and review deadlines, offers, contact deadlines and
    escalation, the age of a child, the status of a consent: each compares with
    kn_clock_now (), in C or passed to SQL as a parameter (to_timestamp ($n)),
    never with the database's now (). What is written as a moment a rule will later
    compare with (valid_from, expires_at, review_due_at, deadline_at) is written from
    it too. The database stamps only when a row was written (received_at,
    recorded_at, the audit trail), which no rule compares with the clock.
    Real time, unless KINNET_CLOCK_FILE names a file holding Unix seconds: then that
    file is the clock, re-read at every call, so a test moves time for a running
    daemon (and for every rule in it at once) by rewriting it. Never set it in
    production; the daemons log a warning when it is set. */
#ifndef KN_CLOCK_H_INCLUDED
#define KN_CLOCK_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

//  Seconds since the Unix epoch, by the one clock.
int64_t kn_clock_now (void);

//  True when KINNET_CLOCK_FILE is set (a controlled clock).
bool kn_clock_controlled (void);

//  Write seconds to the clock file path (tests). 0 or -1.
int kn_clock_write (const char *path, int64_t seconds);

#endif
