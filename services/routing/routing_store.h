/*  routing_store: cases, offers, involvements and feeds in PostgreSQL.
    Two kinds of callers: the event consumer (routing_store_consume, which turns
    outbox events into cases and offers, and routing_store_expire, which runs the
    deadlines) and the request handlers. Every change, its feed events and its
    audit row commit in one transaction. Times come from the caller (`now`, Unix
    seconds from kn_clock), so tests drive deadlines without waiting.
    Nothing here is personal data: offers name needs, urgency, district and
    languages; the referral is read from intake through the consent policy.
    One object, one job per file: routing_store_int.h says which file does what. */
#ifndef ROUTING_STORE_H_INCLUDED
#define ROUTING_STORE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "kinnet/v1/routing.pb-c.h"
#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"

typedef struct _routing_store_t routing_store_t;

//  db and crypto stay the caller's. One store per thread (one session each).
routing_store_t *routing_store_new (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err);
void routing_store_destroy (routing_store_t **self_p);

kn_db_t *routing_store_db (routing_store_t *self);

//  Consume up to max outbox events after the durable cursor, in commit order, many
//  to a transaction (routing_events.c says how many). Another consumer holding the
//  cursor makes this a no-op. *handled: events consumed. -1 on a database failure
//  (nothing of the failed transaction is kept; its events are then taken one per
//  transaction, so the next call routes every event before a failing one).
int routing_store_consume (routing_store_t *self, int64_t now, int max, int *handled,
                           kn_error_t *err);

//  How far the consumer is behind: the newest outbox id minus the cursor's (never
//  below 0). Ids are taken in insert order and consumed in commit order, so this
//  counts events, give or take the few a racing commit reorders. One index lookup.
int routing_store_outbox_lag (routing_store_t *self, int64_t *lag, kn_error_t *err);

//  Expire up to max offers whose deadline is at or before now: escalate, offer the
//  next candidate. *handled: offers expired.
int routing_store_expire (routing_store_t *self, int64_t now, int max, int *handled,
                          kn_error_t *err);

//  Escalate, once each, up to max accepted involvements whose first-contact
//  deadline (set at acceptance from the contact.<urgency> setting) has passed
//  without a first contact. *handled: how many.
int routing_store_chase_contacts (routing_store_t *self, int64_t now, int max, int *handled,
                                  kn_error_t *err);

//  Announce, once each, up to max grounds that ended: a consent, basis or override
//  that expired (to the agencies that received data on it; offers it released wait
//  for consent again) and an override whose review is overdue (to every DPO and
//  the district's child-protection lead). *handled: how many.
int routing_store_end_grounds (routing_store_t *self, int64_t now, int max, int *handled,
                               kn_error_t *err);

//  Try the unplaced needs again (up to max), oldest first: a need some agency can
//  now take (the directory changed, capacity freed) is offered; the rest stay on the
//  list without telling anyone again. *placed: needs offered.
int routing_store_retry_unplaced (routing_store_t *self, int64_t now, int max, int *placed,
                                  kn_error_t *err);

//  Seconds until the next offer deadline after now (capped at cap), for the loop.
int64_t routing_store_next_deadline (routing_store_t *self, int64_t now, int64_t cap);

//  Requests. Results are malloc'd messages the caller frees with their
//  __free_unpacked; *replayed tells whether the idempotency key was seen before.
int routing_store_accept (routing_store_t *self, const char *agency_id, int64_t now,
                          const Kinnet__V1__AcceptOffer *request,
                          Kinnet__V1__Involvement **result, bool *replayed, kn_error_t *err);
int routing_store_decline (routing_store_t *self, const char *agency_id, int64_t now,
                           const Kinnet__V1__DeclineOffer *request,
                           Kinnet__V1__Involvement **result, bool *replayed, kn_error_t *err);
int routing_store_contact (routing_store_t *self, const char *agency_id, int64_t now,
                           const Kinnet__V1__RecordContact *request,
                           Kinnet__V1__Involvement **result, bool *replayed, kn_error_t *err);
int routing_store_transfer (routing_store_t *self, const char *agency_id, int64_t now,
                            const Kinnet__V1__TransferInvolvement *request,
                            Kinnet__V1__Involvement **result, bool *replayed, kn_error_t *err);
int routing_store_close (routing_store_t *self, const char *agency_id, int64_t now,
                         const Kinnet__V1__CloseInvolvement *request,
                         Kinnet__V1__Involvement **result, bool *replayed, kn_error_t *err);
int routing_store_lead (routing_store_t *self, const char *agency_id, int64_t now,
                        const Kinnet__V1__AppointLead *request, Kinnet__V1__Case **result,
                        bool *replayed, kn_error_t *err);
int routing_store_get_case (routing_store_t *self, const char *agency_id, const char *case_id,
                            Kinnet__V1__Case **result, kn_error_t *err);
int routing_store_unplaced (routing_store_t *self, const char *agency_id, const char *district,
                            Kinnet__V1__CaseNeedList **result, kn_error_t *err);

//  The agency's feed after seq `after`, at most max events.
int routing_store_feed_read (routing_store_t *self, const char *agency_id, int64_t after,
                             int max, Kinnet__V1__FeedBatch **result, kn_error_t *err);

//  An audit row outside any transaction (reads, refusals).
void routing_store_audit (routing_store_t *self, const char *agency_id, const char *caseworker,
                          const char *operation, const char *object_id, kn_code_t result);

#endif
