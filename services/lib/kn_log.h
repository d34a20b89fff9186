/*  kn_log: one JSON object per line on stderr.
    {"ts":"2026-11-22T21:40:00.123Z","level":"info","service":"intake","event":"...",...}
    Extra fields are NULL-terminated key/value string pairs. Never pass personal data
    (names, dates of birth, narratives): ids and codes only. */
#ifndef KN_LOG_H_INCLUDED
#define KN_LOG_H_INCLUDED

#include <stdarg.h>

typedef enum { KN_DEBUG, KN_INFO, KN_WARN, KN_ERROR } kn_level_t;

//  Name the service for every later line; reads KINNET_LOG_LEVEL (debug|info|warn|error).
void kn_log_init (const char *service);

//  kn_log (KN_INFO, "referral.stored", "referral_id", id, NULL);
void kn_log (kn_level_t level, const char *event, ...) __attribute__ ((sentinel));

//  The line kn_log would write, to be written later with kn_log_write (an effect
//  logged once its transaction committed, kn_db_log_committed): NULL when level is
//  below the threshold or memory ran out. Caller frees.
char *kn_log_vline (kn_level_t level, const char *event, va_list args);
void kn_log_write (const char *line);

#endif
