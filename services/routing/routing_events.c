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
    about as many events as the last one got through. Its referrals are routed in
    runs (routing_referral, routing_round). A batch that fails keeps nothing; the
    events it held are then taken one per transaction, so one event that cannot be
    routed holds back only itself, as before, and every event before it is routed.
    routing_consumer schedules it. */
#include <czmq.h>

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
    //  The referral's child (the consent policy's subject) locked as the policy
    //  locks a person it decides about, then read (date of birth and data key, as
    //  kn_subject_get reads them), in the round trip that reads the referral: its
    //  offers' decisions then need only their grounds (kn_consent_policy_decide_known).
    //  The family's open case, locked, with its languages and the needs it has in
    //  hand (a joining referral does not add them again).
    //  routing.case.needs_count is routing's to keep (migration 0047): a case is
    //  inserted with the needs its first referral brings, and a referral that
    //  joins it adds its own (case_needs_added), one statement, not one a need.
    //  A referral joins the case: its languages as merged (s_languages_merged), its
    //  urgency if higher.
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
    //  in the round trip that locks the cursor (routing_store_consume). Whether each
    //  event was handled is looked up by its key, one probe a row: as an EXISTS the
    //  planner may hash the whole ledger (every event ever routed) on every read.
    if (kn_cursor_prepare_at (db, "outbox_next", "core.outbox o", "o",
                              "o.id, o.topic, o.payload,"
                              " (SELECT true FROM routing.consumed c"
                              "  WHERE c.outbox_id = o.id LIMIT 1) IS NOT NULL",
                              "SELECT last_xid, last_id FROM routing.cursor"
                              " WHERE consumer = 'routing'",
                              err))
        return -1;
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
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
                routing_ahead_t *ahead, routing_round_t *round, int64_t now, bool *mark,
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
        rc = routing_route_referral (self, (Kinnet__V1__ReferralReceived *)message,
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
        routing_ahead_t ahead = {0};
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
                (rc = routing_read_ahead (self, rows, done, count, &ahead, err)) != 0)
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
        routing_ahead_clear (&ahead); // read ahead for events the batch had no time for
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
