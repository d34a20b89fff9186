/*  routing_store_int: what the routing store's files share, and nobody else sees.
    The store is one object (routing_store_t: a session, the field key, the consent
    policy's settings) whose work is split by job, one file each:
      routing_store.c        the object, small query helpers, messages from rows
      routing_settings.c     routing.setting, read at each decision
      routing_feed.c         per-agency feeds: who hears of what, and reading them
      routing_offer.c        a need's candidates, ranked; the offer or "unplaced"
      routing_events.c       outbox events in, cases and needs out (commit order)
      routing_referral.c     routing one referral: its case joined or opened
      routing_round.c        a run's new needs, offered together
      routing_gather.c       a run's rows, one statement per table
      routing_deadlines.c    offers that expire, contacts overdue, grounds that end
      routing_involvement.c  an agency's answers: accept, decline, contact,
                             transfer, close (one idempotent transaction each)
      routing_case.c         the case: who sees what of it, its lead, unplaced needs
    Each file prepares the statements it runs; a statement another file also runs
    is prepared by the first that needs it (the session has them all). */
#ifndef ROUTING_STORE_INT_H_INCLUDED
#define ROUTING_STORE_INT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kinnet/v1/consent.pb-c.h"
#include "kinnet/v1/events.pb-c.h"
#include "kn_audit.h"
#include "kn_clock.h"
#include "kn_consent_policy.h"
#include "kn_language.h"
#include "kn_log.h"
#include "kn_outbox.h"
#include "kn_pb.h"
#include "kn_pgarray.h"
#include "kn_subject.h"
#include "kn_write.h"
#include "routing_rank.h"
#include "routing_store.h"
#include "routing_validate.h"

#define IDEM           "routing.idempotency"
#define EPOCH(c)       "floor (extract (epoch FROM " c "))::bigint"
#define MAX_CANDIDATES 256

#define INVOLVEMENT_SELECT                                                                                             \
    "SELECT i.id, i.case_id, i.need_id, n.category, i.agency_id, i.status,"                                            \
    " coalesce (c.lead_agency_id = i.agency_id AND i.status = 'accepted', false),"                                     \
    " i.ranked_by, i.waiting_for_consent, " EPOCH ("i.offered_at") ", " EPOCH ("i.deadline_at") ", coalesce (" EPOCH ( \
        "i.decided_at") ", 0),"                                                                                        \
                        " coalesce (i.decline_reason, 0), coalesce (i.caseworker_id, ''),"                             \
                        " coalesce (" EPOCH ("i.first_contact_at") ", 0), coalesce (" EPOCH (                          \
                            "i.closed_at") ", 0), coalesce (i.outcome, 0), coalesce (i.transferred_from::text, ''),"   \
                                           " coalesce (i.transfer_reason, 0), coalesce (i.transferred_to::text, '')"   \
                                           " FROM routing.involvement i JOIN routing.need n ON n.id = i.need_id"       \
                                           " JOIN routing.case c ON c.id = i.case_id"

#define NEED_SELECT                                                                      \
    "SELECT n.id, n.category, n.urgency, n.status, n.referral_id, " EPOCH (              \
        "n.created_at") ", n.case_id, c.district FROM routing.need n JOIN routing.case c ON c.id = n.case_id"

//  Who may see a whole case: its referrers, agencies that are or were on its team,
//  and coordinators. An agency with only an offer sees its own offer.
#define CASE_TEAM                                                                         \
    "EXISTS (SELECT 1 FROM routing.case_referral WHERE case_id = $1"                      \
    "  AND referring_agency_id = $2 AND full_view)"                                       \
    " OR EXISTS (SELECT 1 FROM routing.involvement WHERE case_id = $1 AND agency_id = $2" \
    "  AND status IN ('accepted', 'closed', 'transferred'))"                              \
    " OR EXISTS (SELECT 1 FROM core.agency_role WHERE agency_id = $2 AND role = 'coordinator')"

typedef struct {
    routing_order_t order;
    int64_t deadline[5]; // seconds to answer an offer, by Urgency value
    int64_t contact[5];  // seconds from acceptance to first contact
    bool emergency_to_lead;
    int escalate_to_lead_from; // lowest Urgency whose escalations go to the lead
    //  The data category (kinnet.v1.DataCategory) each need category implies
    //  (core.need_data_category, which a data-protection officer may change), read
    //  with the settings: what an offer's consent decision asks about.
    int need_data[32];
} settings_t;

//  A run's writes (routing_gather.c), one column of rows per parameter: its new
//  cases and their referrals, its new needs, its offers, its feed events and its
//  audit rows, each table's rows sent as one INSERT ... SELECT FROM unnest by
//  routing_gather_write, in that order (a need refers to its case, an offer to its
//  need). Nothing gathered is read back before it is written: a run's referrals
//  are of different families, and its round reads before it writes.
#define GATHER_CASE_COLUMNS  7
#define GATHER_LINK_COLUMNS  5
#define GATHER_NEED_COLUMNS  12
#define GATHER_OFFER_COLUMNS 11
#define GATHER_FEED_COLUMNS  5
typedef struct {
    kn_pgarray_t *cases[GATHER_CASE_COLUMNS];
    kn_pgarray_t *links[GATHER_LINK_COLUMNS];
    kn_pgarray_t *needs[GATHER_NEED_COLUMNS];
    kn_pgarray_t *offers[GATHER_OFFER_COLUMNS];
    kn_pgarray_t *feed[GATHER_FEED_COLUMNS];
    kn_pgarray_t *audit[KN_AUDIT_COLUMNS];
} routing_gather_t;

struct _routing_store_t {
    kn_db_t *db;
    kn_crypto_t *crypto;
    kn_policy_config_t policy;
    kn_write_t write; // what each of its writes starts from: IDEM, audited as routing
    int solo;         // outbox events to consume one per transaction (after a failed batch)
    int batch_read;   // events the next batch reads (0: as many as asked); see consume
    int64_t batch_ms; // a batch takes no new event after this much work (KINNET_ROUTING_BATCH_MS)
    //  A batch of outbox events decides with the settings read with its events
    //  (routing_settings_hold_read): one read a batch, not one an offer.
    bool settings_held;
    settings_t settings;
    //  While a round's offers are written (routing_offer_new_needs), where the
    //  needs, offers and feed events go (routing_gather_t). NULL: each write goes
    //  out on its own.
    routing_gather_t *gather;
};

typedef struct {
    char case_id[KN_UUID_STR];
    char referral_id[KN_UUID_STR];
    int category;
    int urgency;
    char district[80];
    char family_id[KN_UUID_STR];
    char languages[400]; // comma-separated primary subtags
    char referrer[KN_UUID_STR];
    int children;
    //  The referral's child (the consent policy's subject), when already read: ""
    //  has routing_details_available read it. child_locked: its row is locked in
    //  this transaction and child_age (-1: no date of birth) was read after, at
    //  child_at, so a decision needs only its grounds.
    char child[KN_UUID_STR];
    bool child_locked;
    int child_age;
    int64_t child_at;
    //  A need not written yet: need_insert's first eight values (id, case, referral,
    //  category, urgency, created, district, referrer). routing_make_offer or the
    //  unplaced path writes it with what became of it, in one INSERT rather than an
    //  INSERT and an UPDATE. NULL: the need is in routing.need.
    const char *const *new_need;
} need_context_t;

//  Each file prepares its own statements; routing_store_new calls them all.
int routing_store_prepare (kn_db_t *db, kn_error_t *err);
int routing_settings_prepare (kn_db_t *db, kn_error_t *err);
int routing_feed_prepare (kn_db_t *db, kn_error_t *err);
int routing_offer_prepare (kn_db_t *db, kn_error_t *err);
int routing_events_prepare (kn_db_t *db, kn_error_t *err);
int routing_referral_prepare (kn_db_t *db, kn_error_t *err);
int routing_deadlines_prepare (kn_db_t *db, kn_error_t *err);
int routing_involvement_prepare (kn_db_t *db, kn_error_t *err);
int routing_case_prepare (kn_db_t *db, kn_error_t *err);

//  routing_settings.c: a batch of the consumer decides with one reading of the
//  settings. Its caller sends routing_settings' two reads (routing.setting, then
//  the need categories' data categories) with its own in one round trip
//  (kn_db_run_each) and holds what they gave: until release, routing_settings hands
//  out that copy.
extern const kn_db_read_t routing_settings_reads[2];
void routing_settings_hold_read (routing_store_t *self, PGresult *rows, PGresult *needs);
void routing_settings_release (routing_store_t *self);

//  routing_store.c

int routing_audit (routing_store_t *self, const char *agency_id, const char *caseworker,
                   const char *operation, const char *subject, const char *object,
                   kn_code_t code, kn_error_t *err);
//  The routing daemon's own successful row (no agency), gathered into rows.
void routing_audit_gather (routing_gather_t *rows, const char *operation,
                           const char *subject, const char *object);

bool routing_bool (PGresult *result, int row, int column);

//  bytea parameter text (hex form) of a packed message; caller frees.
char *routing_bytea_param (const ProtobufCMessage *message);

//  Run a statement for its effect only.
int routing_do (routing_store_t *self, const char *name, int n, const char *const *values,
                kn_error_t *err);

//  Whether a statement returns a row; -1 on failure.
int routing_exists (routing_store_t *self, const char *name, int n,
                    const char *const *values, kn_error_t *err);

int64_t routing_int (PGresult *result, int row, int column);

Kinnet__V1__Involvement *routing_involvement_from_row (PGresult *result, int row);

Kinnet__V1__Involvement *routing_load_involvement (routing_store_t *self, const char *id,
                                                   kn_error_t *err);

Kinnet__V1__CaseNeed *routing_need_from_row (PGresult *result, int row);

void routing_num (char *out, size_t size, int64_t value);

void routing_rollback (routing_store_t *self);

PGresult *routing_run (routing_store_t *self, const char *name, int n,
                       const char *const *values, kn_error_t *err);

//  Split "a,b,c" into a malloc'd string array.
char **routing_split (const char *text, size_t *count);

//  A bytea column (text result, hex form) unpacked as descriptor's message.
ProtobufCMessage *routing_unpack_column (PGresult *result, int row, int column,
                                         const ProtobufCMessageDescriptor *descriptor);

const char *routing_urgency_key (int urgency);

//  routing_settings.c

int routing_settings (routing_store_t *self, settings_t *settings, kn_error_t *err);

//  routing_feed.c

//  Append event to the feed of every active data-protection officer, and of also
//  (may be NULL or "") when it is not one of them: each hears of it once.
int routing_feed_dpos (routing_store_t *self, const char *topic, Kinnet__V1__FeedEvent *event,
                       const char *also, int64_t now, kn_error_t *err);

int routing_announce (routing_store_t *self, const char *involvement_id,
                      const char *except, int64_t now, kn_error_t *err);

//  Append event (body set by the caller) to agency's feed; numbers it. The
//  feed_head row stays locked until commit, so numbers appear in order. While a
//  round gathers its writes (self->gather), the event is gathered.
int routing_feed (routing_store_t *self, const char *agency_id, const char *topic,
                  const char *case_id, Kinnet__V1__FeedEvent *event, int64_t now,
                  kn_error_t *err);

int routing_feed_involvement (routing_store_t *self, const char *agency_id,
                              const char *topic, Kinnet__V1__Involvement *involvement,
                              int64_t now, kn_error_t *err);

//  Tell everyone watching the case (its referrers and its team), except `except`.
//  need_id: the need the event is about, NULL for the case as a whole.
int routing_feed_watchers (routing_store_t *self, const char *case_id,
                           const char *need_id, const char *except, const char *topic,
                           Kinnet__V1__FeedEvent *event, int64_t now, kn_error_t *err);

int routing_feed_watchers_involvement (routing_store_t *self,
                                       Kinnet__V1__Involvement *involvement,
                                       const char *except, int64_t now, kn_error_t *err);

//  routing_offer.c

//  Whether the consent policy lets agency read the referral's child's identity or
//  what it was offered: the data category need (a kinnet.v1.NeedCategory) implies
//  (a check only: nothing is disclosed here).
int routing_details_available (routing_store_t *self, const char *referral_id,
                               const char *agency_id, int need, bool *available,
                               kn_error_t *err);

//  The same for a need whose context is known (its child read once per referral).
//  sector: the agency's (a kinnet.v1.AgencySector value) when the caller knows it
//  is active, from the candidates read; 0 has the policy read the agency.
int routing_details_for (routing_store_t *self, const need_context_t *ctx,
                         const char *agency_id, int sector, bool *available,
                         kn_error_t *err);

Kinnet__V1__RankFactor *routing_factor (const char *rule, int64_t score,
                                        const char *detail);

//  Tell the offered agency about its offer (topic offer.made or
//  offer.details_available): the whole Offer, never personal data.
int routing_feed_offer (routing_store_t *self, const char *topic,
                        const need_context_t *ctx, Kinnet__V1__Involvement *involvement,
                        bool details, int64_t now, kn_error_t *err);

//  Insert the offer row and tell the agency. ranking is consumed.
int routing_make_offer (routing_store_t *self, const char *need_id,
                        const need_context_t *ctx, const char *agency_id, int sector,
                        Kinnet__V1__Ranking *ranking, const settings_t *settings,
                        const char *transferred_from, int transfer_reason, int64_t now,
                        char offer_id[KN_UUID_STR], kn_error_t *err);

int routing_need_context (routing_store_t *self, const char *need_id, need_context_t *ctx,
                          kn_error_t *err);

//  Offer need_id to its best remaining candidate, or put it on the unplaced list
//  and tell the referrer. Called inside the caller's transaction. With quiet, a
//  need nobody can take is left as it is (a retry of the unplaced list).
int routing_offer (routing_store_t *self, const char *need_id, int64_t now, bool quiet,
                   bool *offered, kn_error_t *err);

//  The same for a need just made whose context the caller holds (it is not read
//  back): not quiet.
int routing_offer_new_need (routing_store_t *self, const char *need_id,
                            const need_context_t *ctx, int64_t now, kn_error_t *err);

//  New needs (ctxs[i] with need_ids[i], each ctx's new_need set: a referral's, or a
//  run's gathered by routing_round), offered
//  in one round: every need's candidates in one round trip, ranked in order, each
//  counting the offers made before it in the round into an agency's load and last
//  offer (what a read after them would say); every offer's consent grounds in one
//  round trip; then the writes, in order, gathered into gather (written by its
//  routing_gather_write). Not for an emergency that goes to the
//  district's lead first (routing_offer_new_need does that).
int routing_offer_new_needs (routing_store_t *self, const need_context_t *ctxs,
                             char (*need_ids)[KN_UUID_STR], size_t n,
                             routing_gather_t *gather, int64_t now, kn_error_t *err);

//  routing_gather.c

//  Empty columns; every row gathered dropped (a failed batch's).
void routing_gather_init (routing_gather_t *gather);
void routing_gather_drop (routing_gather_t *gather);
//  Every row gathered, one statement per table that has any, in the order above;
//  the gather is left empty.
int routing_gather_write (routing_store_t *self, routing_gather_t *gather, kn_error_t *err);
//  values as a row of columns (n of them).
void routing_gather_row (kn_pgarray_t **columns, const char *const *values, size_t n);
int routing_gather_prepare (kn_db_t *db, kn_error_t *err);

typedef struct _routing_round_t routing_round_t;

//  routing_referral.c: routing one referral (referral.received).

//  The first reads of routing a referral (whether it is routed, its family's open
//  case locked, its child locked and read), for rows [first, first + count) of a
//  batch's events: read ahead together, each taken by its event.
#define AHEAD 32
#define REFERRAL_READS 4
typedef struct {
    int first, count;
    PGresult *read[AHEAD][REFERRAL_READS];
} routing_ahead_t;

//  Read ahead, in one round trip, for the run of events from row on (of count)
//  that are referrals to route, not handled before, of different families (and
//  ids). A run of fewer than two is left to read for itself (ahead->count 0).
int routing_read_ahead (routing_store_t *self, PGresult *rows, int row, int count,
                        routing_ahead_t *ahead, kn_error_t *err);
//  Drop what was read ahead and not taken.
void routing_ahead_clear (routing_ahead_t *ahead);

//  Route one referral. ahead: its reads, read ahead (taken: the pointers are
//  cleared), or NULL to read them now. round: the run's round, which gathers its
//  needs to be offered with the run's (NULL: offered before this returns).
int routing_route_referral (routing_store_t *self, const Kinnet__V1__ReferralReceived *event,
                            PGresult **ahead, routing_round_t *round, int64_t now,
                            kn_error_t *err);

//  routing_round.c: new cases' needs gathered from a run of referrals (of different
//  families, so that nothing one writes changes what another reads but the
//  agencies' loads, which the round counts), offered together by
//  routing_round_offer. add copies the need (ctx->new_need set) and its values.
routing_round_t *routing_round_new (void);
void routing_round_destroy (routing_round_t **self_p);
void routing_round_add (routing_round_t *self, const char *need_id, const need_context_t *ctx);
size_t routing_round_size (const routing_round_t *self);
//  Where the run's rows are gathered (its cases, their referrals, its audit rows;
//  its needs, offers and feed events as it is offered).
routing_gather_t *routing_round_rows (routing_round_t *self);
//  Offer every need gathered, in the order gathered, write every row gathered, and
//  empty the round.
int routing_round_offer (routing_store_t *store, routing_round_t *self, int64_t now,
                         kn_error_t *err);
//  Empty it without offering (the batch failed).
void routing_round_clear (routing_round_t *self);

int routing_offer_next (routing_store_t *self, const char *need_id, int64_t now,
                        kn_error_t *err);

void routing_ranking_add (Kinnet__V1__Ranking *ranking, Kinnet__V1__RankFactor *factor);

//  routing_events.c

//  A consent recorded may let waiting agencies read the referral; one withdrawn may
//  stop agencies that could. Re-decide for the subject's open offers and
//  involvements in the given state, and tell each agency whose answer changed.
int routing_recheck_subject (routing_store_t *self, const char *subject_id, bool waiting,
                             int64_t now, kn_error_t *err);

//  routing_case.c

//  Close the case when nothing is left open on it, and tell everyone who had a part.
int routing_close_case_if_done (routing_store_t *self, const char *case_id, int64_t now,
                                kn_error_t *err);

#endif
