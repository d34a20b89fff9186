/*  routing_deadlines: what happens when time passes. Offers that expire (escalate,
    offer the next agency), unplaced needs tried again, first contacts overdue,
    grounds that end (consent, basis or override expired; override review overdue).
    Each item is its own transaction; `now` comes from the caller, so tests drive
    time without waiting. */
#include "routing_store_int.h"

static const char *s_statements[][2] = {
    //  Who hears of escalations in a district: its lead, whatever it was offered.
    {"district_lead_any",
     "SELECT d.child_protection_lead FROM core.district d"
     " JOIN core.agency a ON a.id = d.child_protection_lead WHERE d.code = $1 AND a.active"},
    {"contact_overdue",
     "SELECT id FROM routing.involvement WHERE status = 'accepted' AND first_contact_at IS NULL"
     " AND contact_escalated_at IS NULL AND contact_due_at <= to_timestamp ($1)"
     " ORDER BY contact_due_at LIMIT 1 FOR UPDATE SKIP LOCKED"},
    {"contact_escalated",
     "UPDATE routing.involvement SET contact_escalated_at = to_timestamp ($2) WHERE id = $1"},
    {"case_lead_of",
     "SELECT coalesce (lead_agency_id::text, '') FROM routing.case WHERE id = $1"},
    {"due_offer",
     "SELECT id FROM routing.involvement WHERE status = 'offered'"
     " AND deadline_at <= to_timestamp ($1) ORDER BY deadline_at LIMIT 1 FOR UPDATE SKIP LOCKED"},
    //  The unplaced list in (unplaced_at, id) order, after a position.
    {"unplaced_next",
     "SELECT id, " EPOCH (
         "unplaced_at") " FROM routing.need WHERE status = 'unplaced'"
                        " AND (" EPOCH (
                            "unplaced_at") ", id) > ($1::bigint, $2::uuid)"
                                           " ORDER BY 2, 1 LIMIT 1 FOR UPDATE SKIP LOCKED"},
    {"next_deadline",
     "SELECT coalesce (" EPOCH ("min (deadline_at)") ", 0) FROM routing.involvement"
                                                     " WHERE status = 'offered'"},
    //  Grounds that ran out and were not announced yet, the earliest first.
    {"ground_expired",
     "SELECT g.id, g.kind, g.subject_id, floor (extract (epoch FROM g.ended))::bigint FROM ("
     " SELECT id, 1 AS kind, subject_id, valid_until AS ended FROM consent.record"
     "  WHERE valid_until <= to_timestamp ($1)"
     " UNION ALL SELECT id, 2, subject_id, valid_until FROM consent.basis"
     "  WHERE valid_until <= to_timestamp ($1)"
     " UNION ALL SELECT id, 3, subject_id, expires_at FROM consent.override"
     "  WHERE expires_at <= to_timestamp ($1)) g"
     " WHERE NOT EXISTS (SELECT 1 FROM routing.ground_event e WHERE e.ground_id = g.id"
     "  AND e.kind = 'expired') ORDER BY g.ended LIMIT 1"},
    {"review_overdue",
     "SELECT o.id, o.subject_id, o.requested_by, floor (extract (epoch FROM o.review_due_at))::bigint,"
     " coalesce ((SELECT d.child_protection_lead::text FROM core.district d"
     "  JOIN core.agency a ON a.district = d.code WHERE a.id = o.requested_by), '')"
     " FROM consent.override o WHERE o.review_due_at <= to_timestamp ($1) AND o.reviewed_at IS NULL"
     " AND NOT EXISTS (SELECT 1 FROM routing.ground_event e WHERE e.ground_id = o.id"
     "  AND e.kind = 'review_overdue') ORDER BY o.review_due_at LIMIT 1"},
    //  Claim one announcement: two routing processes make it once.
    {"ground_claim", "INSERT INTO routing.ground_event (ground_id, kind) VALUES ($1, $2)"
                     " ON CONFLICT DO NOTHING RETURNING 1"},
    {"ground_recipients",
     "SELECT DISTINCT recipient_id FROM core.disclosure WHERE ground_id = $1 ORDER BY 1"},
};

int
routing_deadlines_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

static int
s_expire_one (routing_store_t *self, const char *offer_id, int64_t now, kn_error_t *err)
{
    char when[24];
    routing_num (when, sizeof when, now);
    const char *values[] = {offer_id, "expired", when, NULL, NULL};
    if (routing_do (self, "involvement_decide", 5, values, err))
        return -1;
    Kinnet__V1__Involvement *involvement = routing_load_involvement (self, offer_id, err);
    if (!involvement)
        return -1;
    need_context_t ctx;
    settings_t settings;
    int rc = routing_need_context (self, involvement->need_id, &ctx, err)
             ?: routing_settings (self, &settings, err)
             ?: routing_feed_involvement (self, involvement->agency_id, "offer.expired", involvement,
                                    now, err);
    if (rc == 0) {
        //  Escalation: the referrer always; the district's child-protection lead too
        //  from the configured urgency up.
        Kinnet__V1__Escalation escalation = KINNET__V1__ESCALATION__INIT;
        escalation.involvement = involvement;
        escalation.reason = "offer_expired";
        escalation.urgency = (Kinnet__V1__Urgency)ctx.urgency;
        Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
        feed.body_case = KINNET__V1__FEED_EVENT__BODY_ESCALATION;
        feed.escalation = &escalation;
        rc =
            routing_feed (self, ctx.referrer, "escalation", ctx.case_id, &feed, now, err);
        if (rc == 0 && ctx.urgency >= settings.escalate_to_lead_from) {
            const char *lead_q[] = {ctx.district};
            PGresult *lead = routing_run (self, "district_lead_any", 1, lead_q, err);
            if (!lead)
                rc = -1;
            else {
                if (PQntuples (lead) && strcmp (PQgetvalue (lead, 0, 0), ctx.referrer))
                    rc = routing_feed (self, PQgetvalue (lead, 0, 0), "escalation",
                                       ctx.case_id, &feed, now, err);
                PQclear (lead);
            }
        }
    }
    if (rc == 0)
        rc = routing_feed_watchers_involvement (self, involvement, involvement->agency_id,
                                                now, err);
    if (rc == 0)
        rc = routing_offer_next (self, involvement->need_id, now, err);
    kn_db_log_committed (self->db, KN_INFO, "offer.expired", "offer_id", offer_id, NULL);
    kinnet__v1__involvement__free_unpacked (involvement, NULL);
    return rc ?: routing_audit (self, NULL, NULL, "expire", NULL, offer_id, KN_OK, err);
}

typedef int (*due_fn) (routing_store_t *self, PGresult *row, int64_t now, kn_error_t *err);

//  Take what statement finds due at when (NULL: a statement without parameters),
//  one item a transaction, until nothing is left or *handled reaches max. Each item
//  is handled and committed, or the step stops at the first failure with that
//  item's transaction rolled back (the item stays due for the next pass).
static int
s_each_due (routing_store_t *self, const char *statement, const char *when, int64_t now,
            due_fn handle, int max, int *handled, kn_error_t *err)
{
    while (*handled < max) {
        if (kn_db_begin_write (self->db, NULL, err))
            return -1;
        const char *values[] = {when};
        PGresult *due = routing_run (self, statement, when ? 1 : 0, values, err);
        if (!due || PQntuples (due) == 0) {
            PQclear (due);
            routing_rollback (self);
            return due ? 0 : -1;
        }
        int rc = handle (self, due, now, err);
        PQclear (due);
        if (rc || kn_db_exec (self->db, "COMMIT", err)) {
            routing_rollback (self);
            return -1;
        }
        (*handled)++;
    }
    return 0;
}

static int
s_expire_due (routing_store_t *self, PGresult *row, int64_t now, kn_error_t *err)
{
    return s_expire_one (self, PQgetvalue (row, 0, 0), now, err);
}

int
routing_store_expire (routing_store_t *self, int64_t now, int max, int *handled,
                      kn_error_t *err)
{
    *handled = 0;
    if (kn_db_ensure (self->db, err))
        return -1;
    char when[24];
    routing_num (when, sizeof when, now);
    return s_each_due (self, "due_offer", when, now, s_expire_due, max, handled, err);
}

int
routing_store_retry_unplaced (routing_store_t *self, int64_t now, int max, int *placed,
                              kn_error_t *err)
{
    *placed = 0;
    if (kn_db_ensure (self->db, err))
        return -1;
    //  One pass over the list, oldest first; each need in its own transaction.
    char last[KN_UUID_STR] = "00000000-0000-0000-0000-000000000000";
    char since[24] = "0";
    for (int tried = 0; tried < max; tried++) {
        if (kn_db_begin_write (self->db, NULL, err))
            return -1;
        const char *values[] = {since, last};
        PGresult *next = routing_run (self, "unplaced_next", 2, values, err);
        if (!next || PQntuples (next) == 0) {
            PQclear (next);
            routing_rollback (self);
            return next ? 0 : -1;
        }
        char need_id[KN_UUID_STR];
        snprintf (need_id, sizeof need_id, "%s", PQgetvalue (next, 0, 0));
        snprintf (since, sizeof since, "%s", PQgetvalue (next, 0, 1));
        snprintf (last, sizeof last, "%s", need_id);
        PQclear (next);
        bool offered = false;
        if (routing_offer (self, need_id, now, true, &offered, err) ||
            kn_db_exec (self->db, "COMMIT", err)) {
            routing_rollback (self);
            return -1;
        }
        if (offered) {
            kn_log (KN_INFO, "need.placed_again", "need_id", need_id, NULL);
            (*placed)++;
        }
    }
    return 0;
}

//  One accepted involvement past its first-contact deadline: escalate once, to the
//  agency itself, the referrer, the case's lead and (from the configured urgency
//  up) the district's child-protection lead.
static int
s_chase_one (routing_store_t *self, const char *id, int64_t now, kn_error_t *err)
{
    char when[24];
    routing_num (when, sizeof when, now);
    const char *mark[] = {id, when};
    if (routing_do (self, "contact_escalated", 2, mark, err))
        return -1;
    Kinnet__V1__Involvement *involvement = routing_load_involvement (self, id, err);
    if (!involvement)
        return -1;
    need_context_t ctx;
    settings_t settings;
    int rc = routing_need_context (self, involvement->need_id, &ctx, err)
                 ?: routing_settings (self, &settings, err);
    char recipients[4][KN_UUID_STR] = {"", "", "", ""};
    if (rc == 0) {
        snprintf (recipients[0], KN_UUID_STR, "%s", involvement->agency_id);
        snprintf (recipients[1], KN_UUID_STR, "%s", ctx.referrer);
        const char *case_id[] = {ctx.case_id};
        PGresult *lead = routing_run (self, "case_lead_of", 1, case_id, err);
        if (!lead)
            rc = -1;
        else if (PQntuples (lead))
            snprintf (recipients[2], KN_UUID_STR, "%s", PQgetvalue (lead, 0, 0));
        PQclear (lead);
        if (rc == 0 && ctx.urgency >= settings.escalate_to_lead_from) {
            const char *district[] = {ctx.district};
            PGresult *district_lead =
                routing_run (self, "district_lead_any", 1, district, err);
            if (!district_lead)
                rc = -1;
            else if (PQntuples (district_lead))
                snprintf (recipients[3], KN_UUID_STR, "%s",
                          PQgetvalue (district_lead, 0, 0));
            PQclear (district_lead);
        }
    }
    Kinnet__V1__Escalation escalation = KINNET__V1__ESCALATION__INIT;
    escalation.involvement = involvement;
    escalation.reason = "first_contact_overdue";
    escalation.urgency = (Kinnet__V1__Urgency)ctx.urgency;
    Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
    feed.body_case = KINNET__V1__FEED_EVENT__BODY_ESCALATION;
    feed.escalation = &escalation;
    for (int r = 0; r < 4 && rc == 0; r++) {
        bool repeat = false;
        for (int q = 0; q < r; q++)
            repeat |= strcmp (recipients[q], recipients[r]) == 0;
        if (*recipients[r] && !repeat)
            rc = routing_feed (self, recipients[r], "escalation", ctx.case_id, &feed, now,
                               err);
    }
    kn_db_log_committed (self->db, KN_INFO, "contact.overdue", "involvement_id", id,
                         NULL);
    kinnet__v1__involvement__free_unpacked (involvement, NULL);
    return rc
               ?: routing_audit (self, NULL, NULL, "contact_overdue", NULL, id, KN_OK,
                                 err);
}

static int
s_chase_due (routing_store_t *self, PGresult *row, int64_t now, kn_error_t *err)
{
    return s_chase_one (self, PQgetvalue (row, 0, 0), now, err);
}

int
routing_store_chase_contacts (routing_store_t *self, int64_t now, int max, int *handled,
                              kn_error_t *err)
{
    *handled = 0;
    if (kn_db_ensure (self->db, err))
        return -1;
    char when[24];
    routing_num (when, sizeof when, now);
    return s_each_due (self, "contact_overdue", when, now, s_chase_due, max, handled, err);
}

//  One ground that ran out: tell the agencies that received data on it, and put the
//  offers it released back to waiting. Inside the caller's transaction.
static int
s_end_ground (routing_store_t *self, PGresult *row, int64_t now, kn_error_t *err)
{
    const char *ground[] = {PQgetvalue (row, 0, 0)};
    PGresult *recipients = routing_run (self, "ground_recipients", 1, ground, err);
    if (!recipients)
        return -1;
    Kinnet__V1__GroundEnded ended = KINNET__V1__GROUND_ENDED__INIT;
    ended.ground_id = PQgetvalue (row, 0, 0);
    ended.ground_kind = atoi (PQgetvalue (row, 0, 1));
    ended.subject_id = PQgetvalue (row, 0, 2);
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = routing_int (row, 0, 3);
    ended.ended_at = &at;
    int rc = 0;
    for (int r = 0; r < PQntuples (recipients) && rc == 0; r++) {
        ended.recipient_agency_id = PQgetvalue (recipients, r, 0);
        Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
        feed.body_case = KINNET__V1__FEED_EVENT__BODY_GROUND_ENDED;
        feed.ground_ended = &ended;
        rc = routing_feed (self, ended.recipient_agency_id, "ground.expired", NULL, &feed,
                           now, err);
    }
    PQclear (recipients);
    return rc ?: routing_recheck_subject (self, ended.subject_id, false, now, err);
}

//  One override whose review is overdue: every DPO and the requester's district
//  lead are told. Inside the caller's transaction.
static int
s_escalate_review (routing_store_t *self, PGresult *row, int64_t now, kn_error_t *err)
{
    Kinnet__V1__OverrideRequested overdue = KINNET__V1__OVERRIDE_REQUESTED__INIT;
    overdue.override_id = PQgetvalue (row, 0, 0);
    overdue.subject_id = PQgetvalue (row, 0, 1);
    overdue.requested_by_agency_id = PQgetvalue (row, 0, 2);
    Kinnet__V1__Timestamp due = KINNET__V1__TIMESTAMP__INIT;
    due.seconds = routing_int (row, 0, 3);
    overdue.review_due_at = &due;
    Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
    feed.body_case = KINNET__V1__FEED_EVENT__BODY_OVERRIDE_REQUESTED;
    feed.override_requested = &overdue;
    return routing_feed_dpos (self, "override.review_overdue", &feed, PQgetvalue (row, 0, 4),
                              now, err);
}

//  Each ground's end is announced once (routing.ground_event), whoever runs it.
static int
s_claim (routing_store_t *self, PGresult *row, const char *kind, kn_error_t *err)
{
    const char *claim[] = {PQgetvalue (row, 0, 0), kind};
    return routing_exists (self, "ground_claim", 2, claim, err);
}

static int
s_ground_expired (routing_store_t *self, PGresult *row, int64_t now, kn_error_t *err)
{
    int fresh = s_claim (self, row, "expired", err);
    return fresh <= 0 ? fresh : s_end_ground (self, row, now, err);
}

static int
s_review_overdue (routing_store_t *self, PGresult *row, int64_t now, kn_error_t *err)
{
    int fresh = s_claim (self, row, "review_overdue", err);
    return fresh <= 0 ? fresh : s_escalate_review (self, row, now, err);
}

int
routing_store_end_grounds (routing_store_t *self, int64_t now, int max, int *handled,
                           kn_error_t *err)
{
    *handled = 0;
    if (kn_db_ensure (self->db, err))
        return -1;
    char when[24];
    routing_num (when, sizeof when, now);
    return s_each_due (self, "ground_expired", when, now, s_ground_expired, max, handled, err)
               ?: s_each_due (self, "review_overdue", when, now, s_review_overdue, max,
                              handled, err);
}

int64_t
routing_store_next_deadline (routing_store_t *self, int64_t now, int64_t cap)
{
    kn_error_t err;
    PGresult *result = routing_run (self, "next_deadline", 0, NULL, &err);
    if (!result)
        return cap;
    int64_t next = routing_int (result, 0, 0);
    PQclear (result);
    if (next == 0 || next - now > cap)
        return cap;
    return next > now ? next - now : 0;
}
