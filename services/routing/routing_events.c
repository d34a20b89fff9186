/*  routing_events: the outbox events routing acts on. Turns intake's and consent's
    events into cases, needs and offers, in commit order (xid, id) behind a durable
    cursor that only moves past transactions older than every running one, so no
    event is skipped and none is routed twice (routing.consumed). A crash loses
    nothing: the cursor and the work commit together.

    Events are taken in batches, many to a transaction, one after another in that
    order: one horizon read, one cursor write and one COMMIT (one WAL flush) serve
    them all, which is what lets routing keep pace with intake. A batch ends after
    KINNET_ROUTING_BATCH_MS (50) of work, so the rows it locks (a case, an agency's
    feed head) are not held from that agency's own requests for long, and reads
    about as many events as the last one got through. A batch that fails keeps nothing;
    the events it held are then taken one per transaction, so one event that cannot
    be routed holds back only itself, as before, and every event before it is
    routed. routing_consumer schedules it. */
#include <czmq.h>

#include "kn_alloc.h"
#include "kn_cursor.h"
#include "kn_pgarray.h"
#include "routing_store_int.h"

static const char *s_statements[][2] = {
    {"cursor_lock",
     "SELECT last_xid::text, last_id FROM routing.cursor WHERE consumer = 'routing'"
     " FOR UPDATE SKIP LOCKED"},
    //  The events a batch handled, marked in one statement sent with its COMMIT.
    //  Whether each was handled before comes with the batch's read (outbox_next);
    //  only the consumer holding the cursor marks, so a conflict here is a fault
    //  and fails the batch rather than route an event twice.
    {"consumed_mark",
     "INSERT INTO routing.consumed (outbox_id) SELECT unnest ($1::bigint[])"},
    {"cursor_set",
     "UPDATE routing.cursor SET last_xid = $1::xid8, last_id = $2 WHERE consumer = 'routing'"},
    {"outbox_lag",
     "SELECT greatest (coalesce ((SELECT max (id) FROM core.outbox), 0) - last_id, 0)"
     " FROM routing.cursor WHERE consumer = 'routing'"},
    //  Whether the referral is routed already, and what routing it needs: its
    //  status, its children and its child (the consent policy's subject), in one
    //  round trip.
    {"referral_info",
     "SELECT r.status, r.children,"
     " EXISTS (SELECT 1 FROM routing.case_referral WHERE referral_id = $1),"
     " coalesce ((SELECT rs.subject_id::text FROM intake.referral_subject rs"
     "  WHERE rs.referral_id = $1 ORDER BY rs.position LIMIT 1), '')"
     " FROM intake.referral r WHERE r.id = $1"},
    //  The referral's child (the consent policy's subject) locked as the policy
    //  locks a person it decides about, then read (date of birth and data key, as
    //  kn_subject_get reads them), in the round trip that reads the referral: its
    //  offers' decisions then need only their grounds (kn_consent_policy_decide_known).
    {"referral_child_lock",
     "SELECT 1 FROM core.subject WHERE id = (SELECT subject_id FROM intake.referral_subject"
     " WHERE referral_id = $1 ORDER BY position LIMIT 1) FOR SHARE"},
    {"referral_child_get",
     KN_SUBJECT_ROW " WHERE s.id = (SELECT subject_id FROM intake.referral_subject"
     " WHERE referral_id = $1 ORDER BY position LIMIT 1)"},
    //  The family's open case, locked, with its languages and the needs it has in
    //  hand (a joining referral does not add them again).
    {"case_open_for_family",
     "SELECT c.id, c.district, array_to_string (c.languages, ','),"
     " coalesce ((SELECT string_agg (DISTINCT n.category::text, ',') FROM routing.need n"
     "  WHERE n.case_id = c.id AND n.status IN ('offered', 'placed', 'unplaced')), '')"
     " FROM routing.case c WHERE c.family_id = $1 AND c.status = 'open' FOR UPDATE OF c"},
    //  routing.case.needs_count is routing's to keep (migration 0047): a case is
    //  inserted with the needs its first referral brings, and a referral that
    //  joins it adds its own (case_needs_added), one statement, not one a need.
    {"case_insert",
     "INSERT INTO routing.case (id, family_id, district, languages, urgency, opened_at,"
     " needs_count) VALUES ($1, $2, $3, $4::text[], $5, to_timestamp ($6), $7)"},
    {"case_needs_added",
     "UPDATE routing.case SET needs_count = needs_count + $2 WHERE id = $1"},
    //  A referral joins the case: its languages as merged (s_languages_merged), its
    //  urgency if higher.
    {"case_join",
     "UPDATE routing.case SET languages = $2::text[], urgency = greatest (urgency, $3::smallint)"
     " WHERE id = $1"},
    {"case_referral_insert",
     "INSERT INTO routing.case_referral (referral_id, case_id, referring_agency_id, routed_at,"
     " full_view)"
     " VALUES ($1, $2, $3, to_timestamp ($4), $5)"},
    {"involvement_decide",
     "UPDATE routing.involvement SET status = $2, decided_at = to_timestamp ($3),"
     " decline_reason = $4, caseworker_id = coalesce ($5, caseworker_id) WHERE id = $1"},
    {"involvement_release",
     "UPDATE routing.involvement SET waiting_for_consent = $2 WHERE id = $1"},
    {"waiting_for_subject",
     "SELECT i.id, i.agency_id, n.referral_id, i.case_id, n.category FROM routing.involvement i"
     " JOIN routing.need n ON n.id = i.need_id"
     " JOIN intake.referral_subject rs ON rs.referral_id = n.referral_id AND rs.position = 0"
     " WHERE rs.subject_id = $1 AND i.waiting_for_consent = $2::boolean"
     " AND i.status IN ('offered', 'accepted') ORDER BY i.offered_at FOR UPDATE OF i"},
    {"needs_of_referral",
     "SELECT id FROM routing.need WHERE referral_id = $1 AND status IN ('offered', 'unplaced')"
     " ORDER BY created_at FOR UPDATE"},
    {"open_offer_of_need",
     "SELECT id FROM routing.involvement WHERE need_id = $1 AND status = 'offered' FOR UPDATE"},
    {"case_of_referral",
     "SELECT case_id FROM routing.case_referral WHERE referral_id = $1"},
};

int
routing_events_prepare (kn_db_t *db, kn_error_t *err)
{
    //  The outbox in commit order behind routing.cursor (kn_cursor says why).
    //  After the position in routing.cursor, read by the statement itself, so it goes
    //  in the round trip that locks the cursor (routing_store_consume).
    if (kn_cursor_prepare_at (db, "outbox_next", "core.outbox o", "o",
                              "o.id, o.topic, o.payload,"
                              " EXISTS (SELECT 1 FROM routing.consumed c"
                              "  WHERE c.outbox_id = o.id)",
                              "SELECT last_xid, last_id FROM routing.cursor"
                              " WHERE consumer = 'routing'",
                              err))
        return -1;
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  Whether the comma-separated list holds item.
static bool
s_list_has (const char *list, const char *item)
{
    size_t len = strlen (item);
    for (const char *at = list; *at;) {
        size_t here = strcspn (at, ",}");
        if (here == len && strncmp (at, item, len) == 0)
            return true;
        at += here;
        if (*at != ',')
            break;
        at++;
    }
    return false;
}

//  The first round trip of routing a referral, as four reads run in this order:
//  whether it is routed already and what it asks (referral_info), its family's open
//  case locked, its child locked and read. The locks are taken even for an event
//  found to need nothing, and kept to COMMIT.
#define REFERRAL_READS 4
static void
s_referral_reads (kn_db_read_t *reads, const char *const *referral,
                  const char *const *family)
{
    reads[0] = (kn_db_read_t){"referral_info", 1, referral};
    reads[1] = (kn_db_read_t){"case_open_for_family", 1, family};
    reads[2] = (kn_db_read_t){"referral_child_lock", 1, referral};
    reads[3] = (kn_db_read_t){"referral_child_get", 1, referral};
}

//  The batch's referrals read ahead (s_read_ahead): for rows [first, first + count)
//  of its events, the results of s_referral_reads, each taken by its event.
#define AHEAD 32
typedef struct {
    int first, count;
    PGresult *read[AHEAD][REFERRAL_READS];
} ahead_t;

static void
s_ahead_clear (ahead_t *ahead)
{
    for (int i = 0; i < ahead->count; i++)
        for (int k = 0; k < REFERRAL_READS; k++)
            PQclear (ahead->read[i][k]);
    ahead->count = 0;
}

//  Read ahead, in one round trip, for the run of events from row on that are
//  referrals to route (not handled before) of different families: what each event
//  would read first for itself. Nothing one of them writes changes what another
//  reads (the referral, its family's case, its child), and the events before row
//  wrote first (the reads go out after their writes, in order). A run of fewer
//  than two is left to read for itself.
static int
s_read_ahead (routing_store_t *self, PGresult *rows, int row, int count, ahead_t *ahead,
              kn_error_t *err)
{
    s_ahead_clear (ahead);
    ahead->first = row;
    char ids[AHEAD][2][KN_UUID_STR];
    int n = 0;
    for (int r = row; r < count && n < AHEAD; r++) {
        if (strcmp (PQgetvalue (rows, r, 2), "referral.received") != 0 ||
            routing_bool (rows, r, 4))
            break;
        Kinnet__V1__ReferralReceived *event = (Kinnet__V1__ReferralReceived *)
            routing_unpack_column (rows, r, 3, &kinnet__v1__referral_received__descriptor);
        bool ok = event && kn_uuid_valid (event->referral_id) && kn_uuid_valid (event->family_id);
        for (int k = 0; ok && k < n; k++)
            ok = strcmp (ids[k][0], event->referral_id) != 0 &&
                 strcmp (ids[k][1], event->family_id) != 0;
        if (ok) {
            snprintf (ids[n][0], KN_UUID_STR, "%s", event->referral_id);
            snprintf (ids[n][1], KN_UUID_STR, "%s", event->family_id);
        }
        if (event)
            kinnet__v1__referral_received__free_unpacked (event, NULL);
        if (!ok)
            break;
        n++;
    }
    if (n < 2)
        return 0;
    const char *params[AHEAD][2];
    kn_db_read_t reads[AHEAD * REFERRAL_READS];
    for (int i = 0; i < n; i++) {
        params[i][0] = ids[i][0];
        params[i][1] = ids[i][1];
        s_referral_reads (reads + i * REFERRAL_READS, &params[i][0], &params[i][1]);
    }
    if (kn_db_run_each (self->db, (size_t)n * REFERRAL_READS, reads, &ahead->read[0][0], err))
        return -1;
    ahead->count = n;
    return 0;
}

//  Route one referral. ahead: its s_referral_reads, read ahead (taken: the pointers
//  are cleared), or NULL to read them now. round: the run's round, which gathers a
//  new case's needs to be offered with the run's (NULL: offered now).
static int
s_tag_order (const void *a, const void *b)
{
    return strcmp (*(const char *const *)a, *(const char *const *)b);
}

//  The languages of a case (held, comma-separated) with a joining referral's
//  (added, "{a,b}"), each once, in byte order, as a comma-separated list (size
//  bytes at list). Computed here and written as computed (case_join), so what the
//  case holds and what its offers say are the same list.
static void
s_languages_merged (const char *held, const char *added, char *list, size_t size)
{
    char *text = kn_malloc (strlen (held) + strlen (added) + 2);
    sprintf (text, "%s,%s", held, added + 1); // the referral's without its braces
    size_t n = 1;
    for (const char *at = text; *at; at++)
        n += *at == ',';
    char **tags = kn_calloc (n, sizeof *tags);
    size_t count = 0;
    for (char *save = NULL, *tag = strtok_r (text, ",}", &save); tag;
         tag = strtok_r (NULL, ",}", &save)) {
        bool seen = false;
        for (size_t k = 0; k < count && !seen; k++)
            seen = strcmp (tags[k], tag) == 0;
        if (!seen)
            tags[count++] = tag;
    }
    qsort (tags, count, sizeof *tags, s_tag_order);
    size_t pos = 0;
    *list = '\0';
    for (size_t k = 0; k < count && pos < size; k++)
        pos += (size_t)snprintf (list + pos, size - pos, "%s%s", k ? "," : "", tags[k]);
    free (tags);
    free (text);
}

static int
s_route_referral (routing_store_t *self, const Kinnet__V1__ReferralReceived *event,
                  PGresult **ahead, routing_round_t *round, int64_t now, kn_error_t *err)
{
    const char *referral[] = {event->referral_id};
    const char *family[] = {kn_uuid_valid (event->family_id) ? event->family_id : NULL};
    PGresult *read[REFERRAL_READS];
    if (ahead) {
        memcpy (read, ahead, sizeof read);
        memset (ahead, 0, sizeof read);
    } else {
        kn_db_read_t reads[REFERRAL_READS];
        s_referral_reads (reads, referral, family);
        if (kn_db_run_each (self->db, REFERRAL_READS, reads, read, err))
            return -1;
    }
    PGresult *result = read[0], *open_case = read[1];
    bool live = PQntuples (result) && strcmp (PQgetvalue (result, 0, 0), "received") == 0;
    //  Already routed (at-least-once delivery) or withdrawn before it was routed:
    //  nothing to do.
    live = live && !routing_bool (result, 0, 2);
    //  What each of its needs is offered with, known here rather than read back
    //  once per need (routing_offer reads it for a need offered again later).
    need_context_t ctx = {.urgency = event->urgency, .child_age = -1};
    if (live) {
        ctx.children = (int)routing_int (result, 0, 1);
        snprintf (ctx.child, sizeof ctx.child, "%s", PQgetvalue (result, 0, 3));
        //  Locked and read: its age, at the clock the decisions will use.
        ctx.child_locked = *ctx.child && PQntuples (read[2]) == 1 && PQntuples (read[3]) == 1;
        ctx.child_at = kn_clock_now ();
        if (ctx.child_locked)
            ctx.child_age = kn_subject_age_of (self->db, self->crypto, read[3], ctx.child,
                                               ctx.child_at);
    }
    PQclear (read[2]);
    PQclear (read[3]);
    PQclear (result);
    if (!live) {
        PQclear (open_case);
        return 0;
    }

    //  Languages as primary subtags, the directory's form (kn_language): intake sends
    //  them so, and an event written before it did is read the same way.
    char languages[400] = "{";
    size_t pos = 1;
    for (size_t i = 0; i < event->n_languages && pos < sizeof languages - 12; i++) {
        char tag[9] = "";
        if (kn_language_primary (event->languages[i], tag))
            continue;
        //  Once each ("pt" and "pt-BR" are one language for matching).
        bool seen = s_list_has (languages + 1, tag);
        if (!seen)
            pos += (size_t)snprintf (languages + pos, sizeof languages - pos, "%s%s",
                                     pos > 1 ? "," : "", tag);
    }
    snprintf (languages + pos, sizeof languages - pos, "}");

    char case_id[KN_UUID_STR] = "";
    char when[24], urgency[8];
    char in_hand[200] = ""; // the joined case's needs in hand: "3,8"
    routing_num (when, sizeof when, now);
    snprintf (urgency, sizeof urgency, "%d", event->urgency);
    bool joined = PQntuples (open_case) > 0;
    if (joined) {
        snprintf (case_id, sizeof case_id, "%s", PQgetvalue (open_case, 0, 0));
        snprintf (ctx.district, sizeof ctx.district, "%s", PQgetvalue (open_case, 0, 1));
        s_languages_merged (PQgetvalue (open_case, 0, 2), languages, ctx.languages,
                            sizeof ctx.languages);
        snprintf (in_hand, sizeof in_hand, "%s", PQgetvalue (open_case, 0, 3));
        char merged[sizeof ctx.languages + 2];
        snprintf (merged, sizeof merged, "{%s}", ctx.languages);
        const char *join[] = {case_id, merged, urgency};
        if (routing_do (self, "case_join", 3, join, err)) {
            PQclear (open_case);
            return -1;
        }
    }
    PQclear (open_case);
    if (!joined) {
        snprintf (ctx.district, sizeof ctx.district, "%s", event->district);
        //  The list without its braces: the case's languages as array_to_string says.
        snprintf (ctx.languages, sizeof ctx.languages, "%.*s", (int)(pos - 1), languages + 1);
        kn_uuid_generate_ordered (case_id);
        //  Its needs: the referral's categories, each once (the loop below).
        int distinct = 0;
        for (size_t i = 0; i < event->n_needs; i++) {
            bool again = false;
            for (size_t k = 0; k < i; k++)
                again |= event->needs[k] == event->needs[i];
            distinct += !again;
        }
        char needs[16];
        snprintf (needs, sizeof needs, "%d", distinct);
        const char *values[] = {case_id,   event->family_id, event->district,
                                languages, urgency,          when, needs};
        if (routing_do (self, "case_insert", 7, values, err))
            return -1;
    }
    //  Joining a case it had no part in shows a referrer only its own part.
    bool full_view = !joined || event->referrer_knows_family;
    const char *link[] = {event->referral_id, case_id, event->referring_agency_id, when,
                          full_view ? "true" : "false"};
    if (routing_do (self, "case_referral_insert", 5, link, err))
        return -1;
    //  The needs are offered in a round (routing_offer_new_needs: their candidates
    //  in one round trip, their consent grounds in another), the run's or the
    //  referral's own; an emergency's one by one when emergencies go to the
    //  district's lead first.
    settings_t settings;
    if (routing_settings (self, &settings, err))
        return -1;
    bool one_by_one = ctx.urgency == KINNET__V1__URGENCY__EMERGENCY_SAFEGUARDING &&
                      settings.emergency_to_lead;
    //  Offered one by one, after every need gathered before it: the order holds.
    if (one_by_one && round && routing_round_offer (self, round, now, err))
        return -1;
    routing_round_t *own = round ? NULL : routing_round_new ();
    int added = 0, rc = 0; // needs put on the case
    snprintf (ctx.case_id, sizeof ctx.case_id, "%s", case_id);
    snprintf (ctx.referral_id, sizeof ctx.referral_id, "%s", event->referral_id);
    snprintf (ctx.family_id, sizeof ctx.family_id, "%s", event->family_id);
    snprintf (ctx.referrer, sizeof ctx.referrer, "%s", event->referring_agency_id);
    for (size_t i = 0; i < event->n_needs && rc == 0; i++) {
        char category[8];
        snprintf (category, sizeof category, "%d", event->needs[i]);
        //  Not a need the case has in hand, nor one this referral named before (a
        //  referral may name one category twice).
        bool busy = s_list_has (in_hand, category);
        for (size_t k = 0; k < i; k++)
            busy |= event->needs[k] == event->needs[i];
        if (busy)
            continue;
        char need_id[KN_UUID_STR];
        kn_uuid_generate_ordered (need_id);
        const char *values[] = {
            need_id, case_id, event->referral_id, category,
            urgency, when,    event->district,    event->referring_agency_id};
        need_context_t need = ctx;
        need.category = event->needs[i];
        need.new_need = values; // written by the offer, with what became of it
        if (one_by_one)
            rc = routing_offer_new_need (self, need_id, &need, now, err);
        else
            routing_round_add (round ? round : own, need_id, &need);
        added++;
    }
    if (own) {
        rc = rc ?: routing_round_offer (self, own, now, err);
        routing_round_destroy (&own);
    }
    if (rc)
        return -1;
    if (joined && added > 0) {
        char count[16];
        snprintf (count, sizeof count, "%d", added);
        const char *counted[] = {case_id, count};
        if (routing_do (self, "case_needs_added", 2, counted, err))
            return -1;
    }
    kn_db_log_committed (self->db, KN_INFO, "referral.routed", "referral_id",
                         event->referral_id, "case_id", case_id, NULL);
    return routing_audit (self, NULL, NULL, "route", event->family_id, event->referral_id,
                          KN_OK, err);
}

static int
s_withdraw_referral (routing_store_t *self, const Kinnet__V1__ReferralWithdrawn *event,
                     int64_t now, kn_error_t *err)
{
    const char *referral[] = {event->referral_id};
    PGresult *needs = routing_run (self, "needs_of_referral", 1, referral, err);
    if (!needs)
        return -1;
    char when[24];
    routing_num (when, sizeof when, now);
    int rc = 0;
    for (int row = 0; row < PQntuples (needs) && rc == 0; row++) {
        const char *need[] = {PQgetvalue (needs, row, 0)};
        PGresult *offers = routing_run (self, "open_offer_of_need", 1, need, err);
        if (!offers) {
            rc = -1;
            break;
        }
        for (int o = 0; o < PQntuples (offers) && rc == 0; o++) {
            const char *values[] = {PQgetvalue (offers, o, 0), "withdrawn", when, NULL,
                                    NULL};
            Kinnet__V1__Involvement *involvement = NULL;
            rc = routing_do (self, "involvement_decide", 5, values, err);
            if (rc == 0 &&
                !(involvement = routing_load_involvement (self, values[0], err)))
                rc = -1;
            if (rc == 0)
                rc = routing_feed_involvement (self, involvement->agency_id,
                                               "offer.withdrawn", involvement, now, err);
            if (involvement)
                kinnet__v1__involvement__free_unpacked (involvement, NULL);
        }
        PQclear (offers);
        const char *status[] = {need[0], "withdrawn", when};
        if (rc == 0)
            rc = routing_do (self, "need_set_status", 3, status, err);
    }
    PQclear (needs);
    if (rc)
        return -1;
    //  The team and the referrers hear of the withdrawal; the case closes if
    //  nothing is left open on it.
    PGresult *result = routing_run (self, "case_of_referral", 1, referral, err);
    if (!result)
        return -1;
    if (PQntuples (result)) {
        char case_id[KN_UUID_STR];
        snprintf (case_id, sizeof case_id, "%s", PQgetvalue (result, 0, 0));
        Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
        feed.body_case = KINNET__V1__FEED_EVENT__BODY_REFERRAL_WITHDRAWN;
        feed.referral_withdrawn = (Kinnet__V1__ReferralWithdrawn *)event;
        rc = routing_feed_watchers (self, case_id, NULL, event->referring_agency_id,
                                    "referral.withdrawn", &feed, now, err);
        if (rc == 0)
            rc = routing_close_case_if_done (self, case_id, now, err);
    }
    PQclear (result);
    return rc;
}

//  A consent recorded may let waiting agencies read the referral; one withdrawn may
//  stop agencies that could. Re-decide for the subject's open offers and
//  involvements in the given state, and tell each agency whose answer changed.
int
routing_recheck_subject (routing_store_t *self, const char *subject_id, bool waiting,
                         int64_t now, kn_error_t *err)
{
    const char *values[] = {subject_id, waiting ? "true" : "false"};
    PGresult *rows = routing_run (self, "waiting_for_subject", 2, values, err);
    if (!rows)
        return -1;
    int rc = 0;
    for (int row = 0; row < PQntuples (rows) && rc == 0; row++) {
        const char *id = PQgetvalue (rows, row, 0);
        bool available = false;
        rc = routing_details_available (
            self, PQgetvalue (rows, row, 2), PQgetvalue (rows, row, 1),
            atoi (PQgetvalue (rows, row, 4)), &available, err);
        if (rc || available != waiting)
            continue; // unchanged
        const char *update[] = {id, waiting ? "false" : "true"};
        Kinnet__V1__Involvement *involvement = NULL;
        need_context_t ctx;
        rc = routing_do (self, "involvement_release", 2, update, err);
        if (rc == 0 && !(involvement = routing_load_involvement (self, id, err)))
            rc = -1;
        if (rc == 0)
            rc = routing_need_context (self, involvement->need_id, &ctx, err)
                     ?: routing_feed_offer (self,
                                            available ? "offer.details_available"
                                                      : "offer.details_withdrawn",
                                            &ctx, involvement, available, now, err);
        if (involvement)
            kinnet__v1__involvement__free_unpacked (involvement, NULL);
    }
    PQclear (rows);
    return rc;
}

//  One outbox event: decode it and act. An event that cannot be decoded is logged
//  and skipped (it can never succeed); a database failure is returned. *mark: the
//  event is routing's and was not handled before, so it is to be marked consumed.
static int
s_handle_event (routing_store_t *self, const char *topic, PGresult *rows, int row,
                ahead_t *ahead, routing_round_t *round, int64_t now, bool *mark,
                kn_error_t *err)
{
    *mark = false;
    const ProtobufCMessageDescriptor *descriptor =
        strcmp (topic, "referral.received") == 0
            ? &kinnet__v1__referral_received__descriptor
        : strcmp (topic, "referral.withdrawn") == 0
            ? &kinnet__v1__referral_withdrawn__descriptor
        : strcmp (topic, "consent.recorded") == 0
            ? &kinnet__v1__consent_recorded__descriptor
        : strcmp (topic, "consent.withdrawn") == 0
            ? &kinnet__v1__consent_withdrawn__descriptor
        : strcmp (topic, "release.requested") == 0 ||
                strcmp (topic, "release.decided") == 0
            ? &kinnet__v1__release_changed__descriptor
        : strcmp (topic, "override.requested") == 0
            ? &kinnet__v1__override_requested__descriptor
        : strcmp (topic, "subject.erased") == 0
            ? &kinnet__v1__subject_erased__descriptor
        : strcmp (topic, "subject.rectified") == 0
            ? &kinnet__v1__subject_rectified__descriptor
        : strcmp (topic, "subject.merged") == 0 || strcmp (topic, "subject.unmerged") == 0 ||
                strcmp (topic, "subject.split") == 0
            ? &kinnet__v1__subject_merged__descriptor
        : strcmp (topic, "retention.shortening") == 0 ||
                strcmp (topic, "retention.shortening_cancelled") == 0
            ? &kinnet__v1__retention_changing__descriptor
            : NULL;
    if (!descriptor)
        return 0; // not for routing
    //  An event handled before (delivered again) only moves the cursor.
    if (routing_bool (rows, row, 4))
        return 0;
    *mark = true;
    ProtobufCMessage *message = routing_unpack_column (rows, row, 3, descriptor);
    if (!message) {
        kn_log (KN_ERROR, "outbox.undecodable", "topic", topic, "outbox_id",
                PQgetvalue (rows, row, 1), NULL);
        return 0;
    }
    int rc = 0;
    if (descriptor == &kinnet__v1__referral_received__descriptor) {
        bool read = row >= ahead->first && row < ahead->first + ahead->count;
        rc = s_route_referral (self, (Kinnet__V1__ReferralReceived *)message,
                               read ? ahead->read[row - ahead->first] : NULL,
                               read ? round : NULL, now, err);
    }
    else if (descriptor == &kinnet__v1__referral_withdrawn__descriptor)
        rc = s_withdraw_referral (self, (Kinnet__V1__ReferralWithdrawn *)message, now,
                                  err);
    else if (descriptor == &kinnet__v1__consent_recorded__descriptor)
        rc = routing_recheck_subject (
            self, ((Kinnet__V1__ConsentRecorded *)message)->subject_id, true, now, err);
    else if (descriptor == &kinnet__v1__override_requested__descriptor) {
        //  A safeguarding override shares without or against consent: every
        //  data-protection officer hears of it at once, to review it.
        Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
        feed.body_case = KINNET__V1__FEED_EVENT__BODY_OVERRIDE_REQUESTED;
        feed.override_requested = (Kinnet__V1__OverrideRequested *)message;
        rc = routing_feed_dpos (self, topic, &feed, NULL, now, err);
    } else if (descriptor == &kinnet__v1__retention_changing__descriptor) {
        //  A shorter retention period erases people once it applies: every DPO
        //  hears of it (and of its cancelling), so any of them can stop it in time.
        Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
        feed.body_case = KINNET__V1__FEED_EVENT__BODY_RETENTION_CHANGING;
        feed.retention_changing = (Kinnet__V1__RetentionChanging *)message;
        rc = routing_feed_dpos (self, topic, &feed, NULL, now, err);
    } else if (descriptor == &kinnet__v1__subject_erased__descriptor) {
        //  Each copy is addressed to one agency that received data about the person.
        Kinnet__V1__SubjectErased *erased = (Kinnet__V1__SubjectErased *)message;
        Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
        feed.body_case = KINNET__V1__FEED_EVENT__BODY_SUBJECT_ERASED;
        feed.subject_erased = erased;
        //  The copy to nobody (a DPO's erasure): to every data-protection officer.
        rc = kn_uuid_valid (erased->recipient_agency_id)
                 ? routing_feed (self, erased->recipient_agency_id, topic, NULL, &feed, now,
                                 err)
                 : routing_feed_dpos (self, topic, &feed, NULL, now, err);
    } else if (descriptor == &kinnet__v1__subject_rectified__descriptor) {
        Kinnet__V1__SubjectRectified *rectified = (Kinnet__V1__SubjectRectified *)message;
        if (kn_uuid_valid (rectified->recipient_agency_id)) {
            Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
            feed.body_case = KINNET__V1__FEED_EVENT__BODY_SUBJECT_RECTIFIED;
            feed.subject_rectified = rectified;
            rc = routing_feed (self, rectified->recipient_agency_id, topic, NULL, &feed, now,
                               err);
        }
    } else if (descriptor == &kinnet__v1__subject_merged__descriptor) {
        //  A copy to each recipient of data about either person; routing's own copy
        //  (no recipient) re-decides both people's offers: their consents moved.
        Kinnet__V1__SubjectMerged *merged = (Kinnet__V1__SubjectMerged *)message;
        if (kn_uuid_valid (merged->recipient_agency_id)) {
            Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
            feed.body_case = KINNET__V1__FEED_EVENT__BODY_SUBJECT_MERGED;
            feed.subject_merged = merged;
            rc = routing_feed (self, merged->recipient_agency_id, topic, NULL, &feed, now,
                               err);
        } else {
            for (int k = 0; k < 4 && rc == 0; k++)
                rc = routing_recheck_subject (
                    self, k < 2 ? merged->subject_id : merged->merged_subject_id, k % 2,
                    now, err);
            //  One DPO decides a merge or a split, and it changes whose consents
            //  apply: every data-protection officer hears of it, to review it.
            Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
            feed.body_case = KINNET__V1__FEED_EVENT__BODY_SUBJECT_MERGED;
            feed.subject_merged = merged;
            if (rc == 0)
                rc = routing_feed_dpos (self, topic, &feed, NULL, now, err);
        }
    } else if (descriptor == &kinnet__v1__release_changed__descriptor) {
        //  Each copy is addressed to one party. An approval may let offers waiting
        //  for consent go ahead: re-decide once, on the requester's copy.
        Kinnet__V1__ReleaseChanged *release = (Kinnet__V1__ReleaseChanged *)message;
        if (release->status == KINNET__V1__RELEASE_STATUS__RELEASE_APPROVED &&
            strcmp (release->recipient_agency_id, release->requested_by_agency_id) == 0)
            rc = routing_recheck_subject (self, release->subject_id, true, now, err);
        if (rc == 0 && kn_uuid_valid (release->recipient_agency_id)) {
            Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
            feed.body_case = KINNET__V1__FEED_EVENT__BODY_RELEASE;
            feed.release = release;
            rc = routing_feed (self, release->recipient_agency_id, topic, NULL, &feed,
                               now, err);
        }
    } else {
        //  A withdrawal addressed to an agency goes to that agency's feed.
        Kinnet__V1__ConsentWithdrawn *withdrawn = (Kinnet__V1__ConsentWithdrawn *)message;
        //  One withdrawal is announced once per recipient and once to nobody: re-decide
        //  the subject's offers once, on the latter.
        if (!withdrawn->recipient_agency_id || !*withdrawn->recipient_agency_id)
            rc = routing_recheck_subject (self, withdrawn->subject_id, false, now, err);
        if (withdrawn->recipient_agency_id &&
            kn_uuid_valid (withdrawn->recipient_agency_id)) {
            Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
            feed.body_case = KINNET__V1__FEED_EVENT__BODY_CONSENT_WITHDRAWN;
            feed.consent_withdrawn = withdrawn;
            rc = routing_feed (self, withdrawn->recipient_agency_id, "consent.withdrawn",
                               NULL, &feed, now, err);
        }
    }
    protobuf_c_message_free_unpacked (message, NULL);
    return rc;
}

int
routing_store_consume (routing_store_t *self, int64_t now, int max, int *handled,
                       kn_error_t *err)
{
    *handled = 0;
    if (kn_db_ensure (self->db, err))
        return -1;
    while (*handled < max) {
        int want = self->solo > 0 ? 1 : max - *handled;
        if (self->batch_read > 0 && want > self->batch_read)
            want = self->batch_read;
        if (kn_db_begin_write (self->db, NULL, err))
            return -1;
        //  One round trip, run in this order: the cursor locked, the events after
        //  it (read after the lock, so at the position the lock now guards), and
        //  the settings the batch decides with.
        char limit[16];
        snprintf (limit, sizeof limit, "%d", want);
        const char *limit_values[] = {limit};
        const kn_db_read_t reads[] = {{"cursor_lock", 0, NULL},
                                      {"outbox_next", 1, limit_values},
                                      routing_settings_reads[0],
                                      routing_settings_reads[1]};
        PGresult *read[4];
        if (kn_db_run_each (self->db, 4, reads, read, err)) {
            routing_rollback (self);
            return -1;
        }
        PGresult *rows = read[1];
        //  Another consumer holds the cursor (the events were read at a position
        //  it may be moving past): leave them to it.
        int count = PQntuples (read[0]) ? PQntuples (rows) : 0;
        PQclear (read[0]);
        if (count == 0) {
            PQclear (rows);
            PQclear (read[2]);
            PQclear (read[3]);
            routing_rollback (self);
            return 0;
        }
        int64_t until = zclock_mono () + self->batch_ms;
        int done = 0, rc = 0;
        //  The batch's writes go out with its next read or its COMMIT (kn_db_do).
        if (kn_db_defer_begin (self->db, err)) {
            PQclear (rows);
            routing_rollback (self);
            return -1;
        }
        routing_settings_hold_read (self, read[2], read[3]);
        PQclear (read[2]);
        PQclear (read[3]);
        //  The ids of the events handled, for one $1::bigint[].
        kn_pgarray_t *marks = kn_pgarray_new ();
        ahead_t ahead = {0};
        //  The run's new cases' needs, offered together when the run ends.
        routing_round_t *round = routing_round_new ();
        while (rc == 0 && done < count && (done == 0 || zclock_mono () < until)) {
            char topic[64];
            snprintf (topic, sizeof topic, "%s", PQgetvalue (rows, done, 2));
            bool mark = false;
            //  Leaving the run: its needs are offered before anything after it reads.
            if (done >= ahead.first + ahead.count &&
                (rc = routing_round_offer (self, round, now, err)) != 0)
                break;
            //  A referral not read ahead reads ahead for itself and those after it.
            if (strcmp (topic, "referral.received") == 0 &&
                (done < ahead.first || done >= ahead.first + ahead.count) &&
                (rc = s_read_ahead (self, rows, done, count, &ahead, err)) != 0)
                break;
            if ((rc = s_handle_event (self, topic, rows, done, &ahead, round, now, &mark,
                                      err)) != 0)
                break;
            if (mark)
                kn_pgarray_add (marks, PQgetvalue (rows, done, 1));
            done++;
        }
        if (rc == 0)
            rc = routing_round_offer (self, round, now, err);
        routing_round_destroy (&round); // after a failure, what it held is dropped
        s_ahead_clear (&ahead); // read ahead for events the batch had no time for
        routing_settings_release (self);
        if (rc == 0 && kn_pgarray_size (marks) > 0) {
            const char *ids[] = {kn_pgarray_text (marks)};
            rc = routing_do (self, "consumed_mark", 1, ids, err);
        }
        kn_pgarray_destroy (&marks);
        if (rc == 0) {
            const char *next[] = {PQgetvalue (rows, done - 1, 0),
                                  PQgetvalue (rows, done - 1, 1)};
            rc = routing_do (self, "cursor_set", 2, next, err);
        }
        PQclear (rows);
        if (rc || kn_db_defer_commit (self->db, err)) {
            routing_rollback (self);
            //  Which of them failed is not known after a rollback: each alone now.
            if (want > 1)
                self->solo = count;
            return -1;
        }
        *handled += done;
        self->solo = self->solo > done ? self->solo - done : 0;
        //  Read about what a batch gets through: a batch that ran out of time read
        //  events (their payloads, their consumed marks) it then left for the next
        //  one to read again; one that finished what it read may read twice as many.
        if (want > 1)
            self->batch_read = done < count ? done + done / 2 + 1
                               : count == want ? 2 * want
                                               : self->batch_read;
    }
    return 0;
}

int
routing_store_outbox_lag (routing_store_t *self, int64_t *lag, kn_error_t *err)
{
    *lag = 0;
    if (kn_db_ensure (self->db, err))
        return -1;
    PGresult *result = routing_run (self, "outbox_lag", 0, NULL, err);
    if (!result)
        return -1;
    if (PQntuples (result) > 0)
        *lag = atoll (PQgetvalue (result, 0, 0));
    PQclear (result);
    return 0;
}
