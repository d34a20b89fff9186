/*  routing_involvement: an agency's answers about its own offers and involvements:
    accept, decline, record the first contact, transfer, close. Each is one
    transaction: claim the idempotency key, lock, check, change, feed, audit,
    commit; a retry with the same key replays the first answer. */
#include "routing_store_int.h"
#include "kn_alloc.h"

static const char *s_statements[][2] = {
    {"need_accepted",
     "UPDATE routing.need SET accepted_at = coalesce (accepted_at, to_timestamp ($2))"
     " WHERE id = $1"},
    {"need_contacted",
     "UPDATE routing.need SET first_contact_at = coalesce (first_contact_at, to_timestamp ($2))"
     " WHERE id = (SELECT need_id FROM routing.involvement WHERE id = $1)"},
    {"involvement_lock", "SELECT 1 FROM routing.involvement WHERE id = $1 FOR UPDATE"},
    {"involvement_mine",
     "SELECT i.id FROM routing.involvement i JOIN routing.need n ON n.id = i.need_id"
     " WHERE i.case_id = $1 AND i.agency_id = $2 AND i.status = 'accepted'"
     " AND ($3::smallint = 0 OR n.category = $3::smallint) FOR UPDATE OF i"},
    {"involvement_contact",
     "UPDATE routing.involvement SET first_contact_at = to_timestamp ($2),"
     " caseworker_id = coalesce ($3, caseworker_id) WHERE id = $1"},
    {"involvement_end",
     "UPDATE routing.involvement SET status = $2, closed_at = to_timestamp ($3), outcome = $4,"
     " transferred_to = $5, transfer_reason = $6 WHERE id = $1"},
    {"case_lock", "SELECT status FROM routing.case WHERE id = $1 FOR UPDATE"},
    {"case_clear_lead_of",
     "UPDATE routing.case SET lead_agency_id = NULL, lead_caseworker_id = NULL,"
     " lead_since = NULL WHERE id = $1 AND lead_agency_id = $2"
     " AND NOT EXISTS (SELECT 1 FROM routing.involvement WHERE case_id = $1"
     "  AND agency_id = $2 AND status = 'accepted') RETURNING id"},
    {"involvement_contact_due",
     "UPDATE routing.involvement SET contact_due_at = to_timestamp ($2) WHERE id = $1"},
    {"replay_on_case",
     "SELECT i.id FROM routing.involvement i JOIN routing.need n ON n.id = i.need_id"
     " WHERE i.case_id = $1 AND i.agency_id = $2"
     " AND ($3::smallint = 0 OR n.category = $3::smallint)"
     " AND CASE $4 WHEN 'contact' THEN i.first_contact_at IS NOT NULL"
     "  ELSE i.status = 'closed' END"
     " ORDER BY coalesce (i.closed_at, i.first_contact_at) DESC LIMIT 1"},
    {"agency_active", "SELECT 1 FROM core.agency WHERE id = $1 AND active"},
};

int
routing_involvement_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

static const char *s_state_words[] = {
    "",        "open",      "already accepted", "already declined",
    "expired", "withdrawn", "transferred",      "closed"};

//  Lock offer_id and check it is an open offer to agency_id, before its deadline;
//  its need into need_id.
static int
s_open_offer (routing_store_t *self, const char *agency_id, const char *offer_id,
              int64_t now, char need_id[KN_UUID_STR], kn_error_t *err)
{
    const char *values[] = {offer_id};
    if (routing_exists (self, "involvement_lock", 1, values, err) < 0)
        return -1;
    Kinnet__V1__Involvement *offer = routing_load_involvement (self, offer_id, err);
    if (!offer)
        return -1;
    int rc = 0;
    if (strcmp (offer->agency_id, agency_id)) {
        //  Someone else's offer is not visible: the same answer as no offer.
        kn_error_clear (err);
        rc = kn_error_set (err, KN_E_NOT_FOUND, "offer_id",
                           "no such offer for your agency");
    } else if (offer->status != KINNET__V1__INVOLVEMENT_STATUS__OFFERED)
        rc = kn_error_set (err, KN_E_CONFLICT, "offer_id", "the offer is %s",
                           s_state_words[offer->status < 8 ? offer->status : 0]);
    else if (offer->deadline_at && offer->deadline_at->seconds <= now)
        rc = kn_error_set (err, KN_E_CONFLICT, "offer_id",
                           "the offer's deadline has passed");
    else
        snprintf (need_id, KN_UUID_STR, "%s", offer->need_id);
    kinnet__v1__involvement__free_unpacked (offer, NULL);
    return rc;
}

//  The involvement id names, as a write's answer (a replay's or a commit's).
static int
s_involvement (routing_store_t *self, const char *id, Kinnet__V1__Involvement **result,
               kn_error_t *err)
{
    *result = routing_load_involvement (self, id, err);
    return *result ? 0 : -1;
}

//  The ledger of case operations names the case; a replay answers with the
//  involvement the first request changed.
static int
s_replay_on_case (routing_store_t *self, const kn_write_t *w, int need,
                  Kinnet__V1__Involvement **result, kn_error_t *err)
{
    char category[8];
    snprintf (category, sizeof category, "%d", need);
    const char *values[] = {w->object_id, w->agency_id, category, w->operation};
    PGresult *found = routing_run (self, "replay_on_case", 4, values, err);
    if (!found)
        return -1;
    if (PQntuples (found))
        *result = routing_load_involvement (self, PQgetvalue (found, 0, 0), err);
    PQclear (found);
    return *result ? 0
                   : kn_error_set (err, KN_E_INTERNAL, NULL, "replayed change not found");
}

//  Accept or decline an open offer: one path, so both keep the same checks.
static int
s_decide (routing_store_t *self, const char *agency_id, int64_t now,
          const ProtobufCMessage *request, const char *offer_id, bool accept, int reason,
          const char *caseworker, Kinnet__V1__Involvement **result, bool *replayed,
          kn_error_t *err)
{
    *result = NULL;
    kn_write_t w = self->write;
    snprintf (w.object_id, sizeof w.object_id, "%s", offer_id);
    kn_claim_t claim =
        kn_write_begin (&w, agency_id, accept ? "accept" : "decline", request, err);
    *replayed = claim == KN_CLAIM_REPLAY;
    if (claim != KN_CLAIM_NEW)
        return *replayed ? s_involvement (self, w.object_id, result, err) : -1;
    char need_id[KN_UUID_STR], when[24], reason_text[8];
    if (s_open_offer (self, agency_id, offer_id, now, need_id, err))
        goto fail;
    routing_num (when, sizeof when, now);
    snprintf (reason_text, sizeof reason_text, "%d", reason);
    const char *decide[] = {offer_id, accept ? "accepted" : "declined", when,
                            accept ? NULL : reason_text, *caseworker ? caseworker : NULL};
    const char *placed[] = {need_id, "placed", when};
    const char *accepted[] = {need_id, when};
    if (routing_do (self, "involvement_decide", 5, decide, err) ||
        (accept && (routing_do (self, "need_set_status", 3, placed, err) ||
                    routing_do (self, "need_accepted", 2, accepted, err))))
        goto fail;
    if (accept) {
        //  From acceptance, the agency has its urgency's time to contact the family.
        need_context_t ctx;
        settings_t settings;
        if (routing_need_context (self, need_id, &ctx, err) ||
            routing_settings (self, &settings, err))
            goto fail;
        int urgency = ctx.urgency >= 1 && ctx.urgency <= 4 ? ctx.urgency : 1;
        char due[24];
        routing_num (due, sizeof due, now + settings.contact[urgency]);
        const char *values[] = {offer_id, due};
        if (routing_do (self, "involvement_contact_due", 2, values, err))
            goto fail;
    }
    //  A decline moves the need on to the next candidate.
    if (routing_announce (self, offer_id, agency_id, now, err) ||
        (!accept && routing_offer_next (self, need_id, now, err)))
        goto fail;
    kn_db_log_committed (self->db, KN_INFO, accept ? "offer.accepted" : "offer.declined",
                         "offer_id", offer_id, NULL);
    if (kn_write_commit (&w, err))
        goto fail;
    return s_involvement (self, w.object_id, result, err);

fail:
    return kn_write_abort (&w);
}

int
routing_store_accept (routing_store_t *self, const char *agency_id, int64_t now,
                      const Kinnet__V1__AcceptOffer *request,
                      Kinnet__V1__Involvement **result, bool *replayed, kn_error_t *err)
{
    return s_decide (self, agency_id, now, &request->base, request->offer_id, true, 0,
                     request->caseworker_id, result, replayed, err);
}

int
routing_store_decline (routing_store_t *self, const char *agency_id, int64_t now,
                       const Kinnet__V1__DeclineOffer *request,
                       Kinnet__V1__Involvement **result, bool *replayed, kn_error_t *err)
{
    return s_decide (self, agency_id, now, &request->base, request->offer_id, false,
                     request->reason, request->caseworker_id, result, replayed, err);
}

//  What a write needs of the caller's accepted involvement on a case.
typedef struct {
    char id[KN_UUID_STR];
    char need_id[KN_UUID_STR];
    int64_t decided_at;       // 0: not decided
    int64_t first_contact_at; // 0: no contact recorded
} mine_t;

//  Lock the caller's accepted involvement on case_id (for need when given) and
//  read it into mine. -1 with NOT_FOUND, or INVALID_ARGUMENT when need is needed
//  to choose.
static int
s_my_involvement (routing_store_t *self, const char *agency_id, const char *case_id,
                  int need, mine_t *mine, kn_error_t *err)
{
    char category[8];
    snprintf (category, sizeof category, "%d", need);
    const char *values[] = {case_id, agency_id, category};
    PGresult *result = routing_run (self, "involvement_mine", 3, values, err);
    if (!result)
        return -1;
    int rows = PQntuples (result);
    char id[KN_UUID_STR] = "";
    if (rows == 1)
        snprintf (id, sizeof id, "%s", PQgetvalue (result, 0, 0));
    PQclear (result);
    if (rows == 0)
        return kn_error_set (
            err, KN_E_NOT_FOUND, need ? "need" : "case_id",
            need ? "your agency has no accepted involvement for that need on this case"
                 : "your agency has no accepted involvement on this case");
    if (rows > 1)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "need",
                             "your agency holds several needs on this case: say which");
    Kinnet__V1__Involvement *involvement = routing_load_involvement (self, id, err);
    if (!involvement)
        return -1;
    snprintf (mine->id, sizeof mine->id, "%s", involvement->involvement_id);
    snprintf (mine->need_id, sizeof mine->need_id, "%s", involvement->need_id);
    mine->decided_at = involvement->decided_at ? involvement->decided_at->seconds : 0;
    mine->first_contact_at =
        involvement->first_contact_at ? involvement->first_contact_at->seconds : 0;
    kinnet__v1__involvement__free_unpacked (involvement, NULL);
    return 0;
}

//  After agency_id's involvement ended: clear the lead if it was theirs and they
//  hold no other, and close the case when nothing is left open on it.
static int
s_after_end (routing_store_t *self, const char *case_id, const char *agency_id,
             int64_t now, kn_error_t *err)
{
    const char *values[] = {case_id, agency_id};
    int cleared = routing_exists (self, "case_clear_lead_of", 2, values, err);
    if (cleared < 0)
        return -1;
    if (cleared) {
        Kinnet__V1__LeadChanged lead = KINNET__V1__LEAD_CHANGED__INIT;
        lead.case_id = (char *)case_id;
        lead.lead_agency_id = "";
        lead.lead_caseworker_id = "";
        lead.changed_by_agency_id = (char *)agency_id;
        Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
        feed.body_case = KINNET__V1__FEED_EVENT__BODY_LEAD;
        feed.lead = &lead;
        if (routing_feed_watchers (self, case_id, NULL, NULL, "lead.changed", &feed, now,
                                   err))
            return -1;
    }
    return routing_close_case_if_done (self, case_id, now, err);
}

int
routing_store_contact (routing_store_t *self, const char *agency_id, int64_t now,
                       const Kinnet__V1__RecordContact *request,
                       Kinnet__V1__Involvement **result, bool *replayed, kn_error_t *err)
{
    *result = NULL;
    kn_write_t w = self->write;
    snprintf (w.object_id, sizeof w.object_id, "%s", request->case_id);
    kn_claim_t claim = kn_write_begin (&w, agency_id, "contact", &request->base, err);
    *replayed = claim == KN_CLAIM_REPLAY;
    if (claim != KN_CLAIM_NEW)
        return *replayed ? s_replay_on_case (self, &w, request->need, result, err) : -1;
    mine_t mine;
    if (s_my_involvement (self, agency_id, request->case_id, request->need, &mine, err))
        goto fail;
    int64_t at = request->contacted_at ? request->contacted_at->seconds : now;
    if (mine.first_contact_at) {
        kn_error_set (err, KN_E_CONFLICT, "case_id", "first contact is already recorded");
        goto fail;
    }
    if (at > now + 300 || (mine.decided_at && at < mine.decided_at)) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "contacted_at",
                      "first contact must lie between the acceptance and now");
        goto fail;
    }
    char when[24];
    routing_num (when, sizeof when, at);
    const char *values[] = {mine.id, when,
                            *request->caseworker_id ? request->caseworker_id : NULL};
    const char *facts[] = {mine.id, when};
    snprintf (w.object_id, sizeof w.object_id, "%s", mine.id);
    if (routing_do (self, "involvement_contact", 3, values, err) ||
        routing_do (self, "need_contacted", 2, facts, err) ||
        routing_announce (self, mine.id, agency_id, now, err) ||
        kn_write_commit (&w, err))
        goto fail;
    return s_involvement (self, w.object_id, result, err);

fail:
    return kn_write_abort (&w);
}

//  A transfer's checks: to another agency, an active one.
static int
s_transfer_target (routing_store_t *self, const char *agency_id, const char *to,
                   kn_error_t *err)
{
    if (strcasecmp (to, agency_id) == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "to_agency_id",
                             "transfer to another agency");
    const char *target[] = {to};
    int active = routing_exists (self, "agency_active", 1, target, err);
    if (active == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "to_agency_id",
                             "no such active agency");
    return active < 0 ? -1 : 0;
}

int
routing_store_transfer (routing_store_t *self, const char *agency_id, int64_t now,
                        const Kinnet__V1__TransferInvolvement *request,
                        Kinnet__V1__Involvement **result, bool *replayed, kn_error_t *err)
{
    *result = NULL;
    kn_write_t w = self->write;
    //  The ledger names the offer the transfer makes, so a retry answers with it.
    kn_uuid_generate_ordered (w.object_id);
    kn_claim_t claim = kn_write_begin (&w, agency_id, "transfer", &request->base, err);
    *replayed = claim == KN_CLAIM_REPLAY;
    if (claim != KN_CLAIM_NEW)
        return *replayed ? s_involvement (self, w.object_id, result, err) : -1;
    mine_t mine;
    const char *lock[] = {request->case_id};
    if (s_transfer_target (self, agency_id, request->to_agency_id, err) ||
        routing_exists (self, "case_lock", 1, lock, err) < 0 ||
        s_my_involvement (self, agency_id, request->case_id, request->need, &mine, err))
        goto fail;
    char when[24], reason[8];
    routing_num (when, sizeof when, now);
    snprintf (reason, sizeof reason, "%d", request->reason);
    const char *end[] = {mine.id, "transferred",         when,
                         NULL,    request->to_agency_id, reason};
    need_context_t ctx;
    settings_t settings;
    if (routing_do (self, "involvement_end", 6, end, err) ||
        routing_need_context (self, mine.need_id, &ctx, err) ||
        routing_settings (self, &settings, err) ||
        routing_announce (self, mine.id, agency_id, now, err))
        goto fail;
    Kinnet__V1__Ranking *ranking = kn_malloc (sizeof *ranking);
    kinnet__v1__ranking__init (ranking);
    ranking->rank = 1;
    ranking->candidates = 1;
    char detail[96];
    snprintf (detail, sizeof detail, "transferred by agency %s", agency_id);
    routing_ranking_add (ranking, routing_factor ("transfer", 1, detail));
    if (routing_make_offer (self, mine.need_id, &ctx, request->to_agency_id, 0, ranking,
                            &settings, mine.id, request->reason, now, w.object_id, err) ||
        s_after_end (self, request->case_id, agency_id, now, err) ||
        kn_write_commit (&w, err))
        goto fail;
    return s_involvement (self, w.object_id, result, err);

fail:
    return kn_write_abort (&w);
}

int
routing_store_close (routing_store_t *self, const char *agency_id, int64_t now,
                     const Kinnet__V1__CloseInvolvement *request,
                     Kinnet__V1__Involvement **result, bool *replayed, kn_error_t *err)
{
    *result = NULL;
    kn_write_t w = self->write;
    snprintf (w.object_id, sizeof w.object_id, "%s", request->case_id);
    kn_claim_t claim = kn_write_begin (&w, agency_id, "close", &request->base, err);
    *replayed = claim == KN_CLAIM_REPLAY;
    if (claim != KN_CLAIM_NEW)
        return *replayed ? s_replay_on_case (self, &w, request->need, result, err) : -1;
    mine_t mine;
    const char *lock[] = {request->case_id};
    if (routing_exists (self, "case_lock", 1, lock, err) < 0 ||
        s_my_involvement (self, agency_id, request->case_id, request->need, &mine, err))
        goto fail;
    char when[24], outcome[8];
    routing_num (when, sizeof when, now);
    snprintf (outcome, sizeof outcome, "%d", request->outcome);
    const char *end[] = {mine.id, "closed", when, outcome, NULL, NULL};
    const char *status[] = {mine.need_id, "closed", when};
    snprintf (w.object_id, sizeof w.object_id, "%s", mine.id);
    if (routing_do (self, "involvement_end", 6, end, err) ||
        routing_do (self, "need_set_status", 3, status, err) ||
        routing_announce (self, mine.id, agency_id, now, err) ||
        s_after_end (self, request->case_id, agency_id, now, err))
        goto fail;
    kn_db_log_committed (self->db, KN_INFO, "involvement.closed", "involvement_id",
                         w.object_id, NULL);
    if (kn_write_commit (&w, err))
        goto fail;
    return s_involvement (self, w.object_id, result, err);

fail:
    return kn_write_abort (&w);
}
