/*  kn_log: one JSON object per line on stderr.
    {"ts":"2026-11-22T21:40:00.123Z","level":"info","service":"intake","event":"...",...}
    Extra fields are NULL-terminated key/value string pairs. Never pass personal data
    (names, dates of birth, narratives): ids and codes only. */
#ifndef KN_LOG_H_INCLUDED
#define KN_LOG_H_INCLUDED

typedef enum { KN_DEBUG, KN_INFO, KN_WARN, KN_ERROR } kn_level_t;

//  Name the service for every later line; reads KINNET_LOG_LEVEL (debug|info|warn|error).
void kn_log_init (const char *service);

//  kn_log (KN_INFO, "referral.stored", "referral_id", id, NULL);
void kn_log (kn_level_t level, const char *event, ...) __attribute__ ((sentinel));

#endif
