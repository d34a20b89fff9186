/*  routing_offer: offering one need. Reads what the need asks for (category,
    urgency, district, languages, the family's history), ranks the agencies that
    could take it (routing_rank, a pure function), and offers it to the best one
    with a deadline, or marks it unplaced and tells the district. What the offered
    agency may read is decided by the consent policy at the offer. */
#include "routing_store_int.h"
#include "kn_alloc.h"

static const char *s_statements[][2] = {
    {"referral_child",
     "SELECT rs.subject_id, r.referring_agency_id FROM intake.referral_subject rs"
     " JOIN intake.referral r ON r.id = rs.referral_id WHERE rs.referral_id = $1"
     " ORDER BY rs.position LIMIT 1"},
    {"need_context",
     "SELECT n.case_id, n.referral_id, n.category, n.urgency, c.district, c.family_id,"
     " array_to_string (c.languages, ','), cr.referring_agency_id, r.children"
     " FROM routing.need n JOIN routing.case c ON c.id = n.case_id"
     " JOIN routing.case_referral cr ON cr.referral_id = n.referral_id"
     " JOIN intake.referral r ON r.id = n.referral_id WHERE n.id = $1"},
    //  Offered, with the need's facts for reports (0008), kept where they happen.
    {"need_offered",
     "UPDATE routing.need SET status = 'offered',"
     " first_offered_at = coalesce (first_offered_at, to_timestamp ($2)),"
     " first_deadline_at = coalesce (first_deadline_at, to_timestamp ($3)) WHERE id = $1"},
    //  A new need, written once with what became of it: offered ($9, with its first
    //  offer's time and deadline) or unplaced (with the time).
    {"need_insert",
     "INSERT INTO routing.need (id, case_id, referral_id, category, urgency, status, created_at,"
     " district, referring_agency_id, first_offered_at, first_deadline_at, unplaced_at)"
     " VALUES ($1, $2, $3, $4, $5, $9, to_timestamp ($6), $7, $8, to_timestamp ($10),"
     " to_timestamp ($11), to_timestamp ($12))"},
    {"need_set_status",
     "UPDATE routing.need SET status = $2, unplaced_at = CASE WHEN $2 = 'unplaced'"
     " THEN to_timestamp ($3) ELSE unplaced_at END WHERE id = $1"},
    //  The family's history with each agency ($4) and the agencies already asked
    //  for this need ($3) are read first, from the family's cases and the need's
    //  offers (materialised, so the planner cannot start from the agency's side,
    //  where a busy agency has thousands of rows; each case's involvements looked up
    //  by case, OFFSET 0 keeping the lookup apart, so statistics that lag a fast
    //  growing table cannot turn it into a scan of every involvement).
    {"candidates",
     "WITH family AS MATERIALIZED (SELECT i.agency_id,"
     "   bool_or (i.status = 'accepted') AS working,"
     "   bool_or (i.status IN ('closed', 'transferred')) AS worked"
     "   FROM routing.case c CROSS JOIN LATERAL (SELECT agency_id, status"
     "    FROM routing.involvement WHERE case_id = c.id OFFSET 0) i"
     "   WHERE c.family_id = $4 GROUP BY i.agency_id),"
     " asked AS MATERIALIZED (SELECT agency_id FROM routing.involvement WHERE need_id = $3)"
     " SELECT a.id,"
     " CASE WHEN f.working THEN 2 WHEN f.worked THEN 1 ELSE 0 END,"
     " coalesce ((SELECT l.language FROM core.agency_language l WHERE l.agency_id = a.id"
     "   AND l.language = ANY ($5::text[]) ORDER BY array_position ($5::text[], l.language)"
     "   LIMIT 1), ''),"
     " a.interpreters, coalesce (a.capacity, -1),"
     //  The load counts up to the capacity and no further, and not at all without
     //  one: ranking needs no more (routing_rank.h), and an uncapped count costs
     //  every offer a scan of the agency's open offers, thousands for a busy one.
     " CASE WHEN a.capacity IS NULL THEN 0 ELSE (SELECT count (*) FROM"
     "   (SELECT FROM routing.involvement i WHERE i.agency_id = a.id"
     "   AND i.status IN ('offered', 'accepted') LIMIT a.capacity) open) END,"
     " coalesce ((SELECT " EPOCH ("max (i.offered_at)") " FROM routing.involvement i"
     "   WHERE i.agency_id = a.id), 0), a.sector"
     " FROM core.agency a LEFT JOIN family f ON f.agency_id = a.id"
     " WHERE a.active AND a.accepting AND a.id <> $6"
     "  AND EXISTS (SELECT 1 FROM core.agency_key k WHERE k.agency_id = a.id"
     "   AND k.revoked_at IS NULL)"
     "  AND EXISTS (SELECT 1 FROM core.agency_need an WHERE an.agency_id = a.id"
     "   AND an.need = $1)"
     "  AND (a.district = $2 OR EXISTS (SELECT 1 FROM core.agency_district d"
     "   WHERE d.agency_id = a.id AND d.district = $2))"
     "  AND NOT EXISTS (SELECT 1 FROM asked WHERE asked.agency_id = a.id)"},
    //  The district's child-protection lead, when it can take an offer for need $2
    //  (active, reachable, not yet offered it, not the referrer $3).
    {"district_lead",
     "SELECT d.child_protection_lead FROM core.district d"
     " JOIN core.agency a ON a.id = d.child_protection_lead"
     " WHERE d.code = $1 AND a.active AND a.id IS DISTINCT FROM $3::uuid"
     " AND EXISTS (SELECT 1 FROM core.agency_key k WHERE k.agency_id = a.id"
     "  AND k.revoked_at IS NULL)"
     " AND NOT EXISTS (SELECT 1 FROM routing.involvement i"
     "  WHERE i.need_id = $2 AND i.agency_id = a.id)"},
    {"involvement_insert",
     "INSERT INTO routing.involvement (id, case_id, need_id, agency_id, status, rank,"
     " ranked_by, waiting_for_consent, offered_at, deadline_at, transferred_from,"
     " transfer_reason) VALUES ($1, $2, $3, $4, 'offered', $5, $6::bytea, $7,"
     " to_timestamp ($8), to_timestamp ($9), $10, $11)"},
    {"case_needs", NEED_SELECT " WHERE n.case_id = $1 ORDER BY n.created_at, n.category"},
    {"unplaced", NEED_SELECT
     " WHERE n.status = 'unplaced' AND ($1 = '' OR c.district = $1)"
     " AND ($2::boolean OR EXISTS (SELECT 1 FROM routing.case_referral cr"
     "  WHERE cr.referral_id = n.referral_id AND cr.referring_agency_id = $3))"
     " ORDER BY n.unplaced_at LIMIT 500"},
};

int
routing_offer_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

int
routing_need_context (routing_store_t *self, const char *need_id, need_context_t *ctx,
                      kn_error_t *err)
{
    const char *values[] = {need_id};
    PGresult *result = routing_run (self, "need_context", 1, values, err);
    if (!result)
        return -1;
    if (PQntuples (result) == 0) {
        PQclear (result);
        return kn_error_set (err, KN_E_INTERNAL, NULL, "need without context");
    }
    memset (ctx, 0, sizeof *ctx);
    snprintf (ctx->case_id, sizeof ctx->case_id, "%s", PQgetvalue (result, 0, 0));
    snprintf (ctx->referral_id, sizeof ctx->referral_id, "%s", PQgetvalue (result, 0, 1));
    ctx->category = (int)routing_int (result, 0, 2);
    ctx->urgency = (int)routing_int (result, 0, 3);
    snprintf (ctx->district, sizeof ctx->district, "%s", PQgetvalue (result, 0, 4));
    snprintf (ctx->family_id, sizeof ctx->family_id, "%s", PQgetvalue (result, 0, 5));
    snprintf (ctx->languages, sizeof ctx->languages, "%s", PQgetvalue (result, 0, 6));
    snprintf (ctx->referrer, sizeof ctx->referrer, "%s", PQgetvalue (result, 0, 7));
    ctx->children = (int)routing_int (result, 0, 8);
    PQclear (result);
    return 0;
}

//  The data category need implies (with the settings: once a consumer batch);
//  *category is left as it is for a need the mapping does not know.
static int
s_need_data (routing_store_t *self, int need, int *category, kn_error_t *err)
{
    settings_t settings;
    if (routing_settings (self, &settings, err))
        return -1;
    if (need >= 0 && need < (int)(sizeof settings.need_data / sizeof settings.need_data[0]))
        *category = settings.need_data[need];
    return 0;
}

//  Whether the consent policy lets agency read the referral's child's identity or
//  what it was offered: the data category need (a kinnet.v1.NeedCategory) implies
//  (a check only: nothing is disclosed here). subject is the child, controller the
//  referral's referrer. known (may be NULL): the child locked and read ahead in this
//  transaction, and sector the agency's (0: unknown), so only the grounds are read.
static int
s_details (routing_store_t *self, const char *subject, const char *controller,
           const char *agency_id, int need, const need_context_t *known, int sector,
           bool *available, kn_error_t *err)
{
    *available = false;
    if (!*subject)
        return 0;
    int categories[] = {KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT,
                        KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE};
    if (s_need_data (self, need, &categories[1], err))
        return -1;
    kn_policy_decision_t decision;
    int rc = known && known->child_locked && sector > 0
                 ? kn_consent_policy_decide_known (
                       self->db, &self->policy, subject, known->child_age, agency_id, sector,
                       controller, categories, 2,
                       KINNET__V1__PURPOSE__REFERRAL_AND_ASSESSMENT, known->child_at,
                       &decision, err)
                 : kn_consent_policy_decide (self->db, self->crypto, &self->policy, subject,
                                             agency_id, controller, categories, 2,
                                             KINNET__V1__PURPOSE__REFERRAL_AND_ASSESSMENT,
                                             &decision, err);
    if (rc)
        return -1;
    *available = decision.decision == KINNET__V1__DECISION__PERMITTED ||
                 decision.decision == KINNET__V1__DECISION__PARTLY_PERMITTED;
    return 0;
}

int
routing_details_available (routing_store_t *self, const char *referral_id,
                           const char *agency_id, int need, bool *available,
                           kn_error_t *err)
{
    *available = false;
    const char *values[] = {referral_id};
    PGresult *result = routing_run (self, "referral_child", 1, values, err);
    if (!result)
        return -1;
    char subject[KN_UUID_STR] = "", controller[KN_UUID_STR] = "";
    if (PQntuples (result)) {
        snprintf (subject, sizeof subject, "%s", PQgetvalue (result, 0, 0));
        snprintf (controller, sizeof controller, "%s", PQgetvalue (result, 0, 1));
    }
    PQclear (result);
    return s_details (self, subject, controller, agency_id, need, NULL, 0, available, err);
}

int
routing_details_for (routing_store_t *self, const need_context_t *ctx,
                     const char *agency_id, int sector, bool *available, kn_error_t *err)
{
    //  The referral's controller is its referring agency (ctx->referrer).
    if (*ctx->child)
        return s_details (self, ctx->child, ctx->referrer, agency_id, ctx->category, ctx, sector,
                          available, err);
    return routing_details_available (self, ctx->referral_id, agency_id, ctx->category,
                                      available, err);
}

Kinnet__V1__RankFactor *
routing_factor (const char *rule, int64_t score, const char *detail)
{
    Kinnet__V1__RankFactor *factor = kn_malloc (sizeof *factor);
    kinnet__v1__rank_factor__init (factor);
    factor->rule = kn_pb_string (rule);
    factor->score = score;
    factor->detail = kn_pb_string (detail);
    return factor;
}

void
routing_ranking_add (Kinnet__V1__Ranking *ranking, Kinnet__V1__RankFactor *factor)
{
    ranking->factors = kn_realloc (ranking->factors, (ranking->n_factors + 1) *
                                                      sizeof (Kinnet__V1__RankFactor *));
    ranking->factors[ranking->n_factors++] = factor;
}

//  Tell the offered agency about its offer (topic offer.made or
//  offer.details_available): the whole Offer, never personal data.
int
routing_feed_offer (routing_store_t *self, const char *topic, const need_context_t *ctx,
                    Kinnet__V1__Involvement *involvement, bool details, int64_t now,
                    kn_error_t *err)
{
    Kinnet__V1__Offer offer = KINNET__V1__OFFER__INIT;
    offer.involvement = involvement;
    offer.referral_id = (char *)ctx->referral_id;
    offer.referring_agency_id = (char *)ctx->referrer;
    offer.urgency = (Kinnet__V1__Urgency)ctx->urgency;
    offer.district = (char *)ctx->district;
    offer.languages = routing_split (ctx->languages, &offer.n_languages);
    offer.children = ctx->children;
    offer.details_available = details;
    Kinnet__V1__FeedEvent event = KINNET__V1__FEED_EVENT__INIT;
    event.body_case = KINNET__V1__FEED_EVENT__BODY_OFFER;
    event.offer = &offer;
    int rc = routing_feed (self, involvement->agency_id, topic, ctx->case_id, &event, now,
                           err);
    for (size_t i = 0; i < offer.n_languages; i++)
        free (offer.languages[i]);
    free (offer.languages);
    return rc;
}

//  Write ctx's new need (ctx->new_need) as status, with its first offer's time and
//  deadline or the time it became unplaced (NULL where they do not apply).
static int
s_need_insert (routing_store_t *self, const need_context_t *ctx, const char *status,
               const char *offered, const char *deadline, const char *unplaced,
               kn_error_t *err)
{
    const char *const *v = ctx->new_need;
    const char *values[] = {v[0], v[1], v[2], v[3],  v[4],     v[5],
                            v[6], v[7], status, offered, deadline, unplaced};
    if (self->gather) {
        routing_gather_row (self->gather->needs, values, GATHER_NEED_COLUMNS);
        return 0;
    }
    return routing_do (self, "need_insert", 12, values, err);
}

//  Insert the offer row, details decided, and tell the agency. ranking is consumed.
static int
s_offer_write (routing_store_t *self, const char *need_id, const need_context_t *ctx,
               const char *agency_id, bool details, Kinnet__V1__Ranking *ranking,
               const settings_t *settings, const char *transferred_from,
               int transfer_reason, int64_t now, char offer_id[KN_UUID_STR],
               kn_error_t *err)
{
    char *ranked_by = routing_bytea_param (&ranking->base);
    if (!*offer_id)
        kn_uuid_generate_ordered (offer_id);
    char rank[16], offered[24], deadline[24], reason[8];
    snprintf (rank, sizeof rank, "%d", 0);
    routing_num (offered, sizeof offered, now);
    int urgency = ctx->urgency >= 1 && ctx->urgency <= 4 ? ctx->urgency : 1;
    routing_num (deadline, sizeof deadline, now + settings->deadline[urgency]);
    snprintf (reason, sizeof reason, "%d", transfer_reason);
    const char *values[] = {offer_id,
                            ctx->case_id,
                            need_id,
                            agency_id,
                            rank,
                            ranked_by,
                            details ? "false" : "true",
                            offered,
                            deadline,
                            transferred_from,
                            transfer_reason ? reason : NULL};
    //  A new need is written offered, before its offer (which refers to it); a need
    //  offered before is updated.
    const char *facts[] = {need_id, offered, deadline};
    int rc = ctx->new_need ? s_need_insert (self, ctx, "offered", offered, deadline, NULL, err)
                           : 0;
    if (rc == 0 && self->gather)
        routing_gather_row (self->gather->offers, values, GATHER_OFFER_COLUMNS);
    else
        rc = rc ?: routing_do (self, "involvement_insert", 11, values, err);
    free (ranked_by);
    if (rc || (!ctx->new_need && routing_do (self, "need_offered", 3, facts, err))) {
        kinnet__v1__ranking__free_unpacked (ranking, NULL);
        return -1;
    }
    //  The offer as involvement_get would read it back, made from what was just
    //  written (a fresh offer: no decision, contact, outcome or lead yet), so the
    //  feed costs no round trip to read it.
    Kinnet__V1__Involvement *involvement = kn_malloc (sizeof *involvement);
    kinnet__v1__involvement__init (involvement);
    involvement->involvement_id = kn_pb_string (offer_id);
    involvement->case_id = kn_pb_string (ctx->case_id);
    involvement->need_id = kn_pb_string (need_id);
    involvement->need = (Kinnet__V1__NeedCategory)ctx->category;
    involvement->agency_id = kn_pb_string (agency_id);
    involvement->status = KINNET__V1__INVOLVEMENT_STATUS__OFFERED;
    involvement->ranking = ranking;
    involvement->waiting_for_consent = !details;
    involvement->offered_at = kn_pb_timestamp (now);
    involvement->deadline_at = kn_pb_timestamp (now + settings->deadline[urgency]);
    involvement->caseworker_id = kn_pb_string ("");
    involvement->transferred_from_id = kn_pb_string (transferred_from ? transferred_from : "");
    involvement->transfer_reason = (Kinnet__V1__TransferReason)transfer_reason;
    involvement->transferred_to_agency_id = kn_pb_string ("");
    rc = routing_feed_offer (self, "offer.made", ctx, involvement, details, now, err);
    kinnet__v1__involvement__free_unpacked (involvement, NULL);
    kn_db_log_committed (self->db, KN_INFO, "offer.made", "offer_id", offer_id, "case_id",
                         ctx->case_id, "agency_id", agency_id, NULL);
    return rc;
}

//  Insert the offer row and tell the agency. ranking is consumed.
int
routing_make_offer (routing_store_t *self, const char *need_id, const need_context_t *ctx,
                    const char *agency_id, int sector, Kinnet__V1__Ranking *ranking,
                    const settings_t *settings, const char *transferred_from,
                    int transfer_reason, int64_t now, char offer_id[KN_UUID_STR],
                    kn_error_t *err)
{
    bool details = false;
    if (routing_details_for (self, ctx, agency_id, sector, &details, err)) {
        kinnet__v1__ranking__free_unpacked (ranking, NULL);
        return -1;
    }
    return s_offer_write (self, need_id, ctx, agency_id, details, ranking, settings,
                          transferred_from, transfer_reason, now, offer_id, err);
}

//  The candidates read for ctx's need (need_id): its six values, kept in v.
typedef struct {
    char category[8];
    char languages[420];
    const char *values[6];
} candidates_query_t;

static void
s_candidates_query (candidates_query_t *v, const char *need_id, const need_context_t *ctx)
{
    snprintf (v->category, sizeof v->category, "%d", ctx->category);
    snprintf (v->languages, sizeof v->languages, "{%s}", ctx->languages);
    const char *values[] = {v->category,   ctx->district, need_id,
                            ctx->family_id, v->languages, ctx->referrer};
    memcpy (v->values, values, sizeof values);
}

//  An offer made earlier in the same decision round (routing_offer_new_needs), which
//  the candidates read before it was made cannot count.
typedef struct {
    const char *agency_id;
    int64_t at;
} made_t;

//  Rank the candidates read (result) for ctx's need, counting the offers made[0..
//  n_made) into each agency's load and its last offer; the best into agency (""
//  when none is eligible), its sector and the ranking's factors.
static void
s_choose (PGresult *result, const need_context_t *ctx, const settings_t *settings,
          const made_t *made, size_t n_made, char agency[KN_UUID_STR], int *sector,
          Kinnet__V1__Ranking *ranking)
{
    size_t count = (size_t)PQntuples (result);
    routing_candidate_t *candidates = kn_calloc (count ? count : 1, sizeof *candidates);
    for (size_t i = 0; i < count; i++) {
        routing_candidate_t *c = &candidates[i];
        snprintf (c->agency_id, sizeof c->agency_id, "%s", PQgetvalue (result, (int)i, 0));
        c->continuity = (int)routing_int (result, (int)i, 1);
        snprintf (c->language_match, sizeof c->language_match, "%s",
                  PQgetvalue (result, (int)i, 2));
        c->language =
            *c->language_match ? 2 : routing_bool (result, (int)i, 3) && *ctx->languages;
        c->capacity = (int)routing_int (result, (int)i, 4);
        c->load = (int)routing_int (result, (int)i, 5);
        c->last_offered = routing_int (result, (int)i, 6);
        //  What the read would have said after the offers made since: the load
        //  counts up to the capacity (none without one), the last offer is the latest.
        for (size_t k = 0; k < n_made; k++) {
            if (strcmp (made[k].agency_id, c->agency_id) != 0)
                continue;
            if (c->capacity >= 0 && c->load < c->capacity)
                c->load++;
            if (made[k].at > c->last_offered)
                c->last_offered = made[k].at;
        }
    }
    size_t eligible = routing_rank (candidates, count, &settings->order);
    if (eligible > 0) {
        snprintf (agency, KN_UUID_STR, "%s", candidates[0].agency_id);
        //  Its sector, for the consent policy (ranking does not use it).
        for (int row = 0; row < (int)count && !*sector; row++)
            if (strcmp (PQgetvalue (result, row, 0), agency) == 0)
                *sector = kn_consent_policy_sector (PQgetvalue (result, row, 7));
        ranking->rank = 1;
        ranking->candidates = (int32_t)eligible;
        for (size_t r = 0; r < settings->order.count; r++) {
            char detail[96];
            int64_t score = routing_rank_score (&candidates[0], settings->order.rules[r],
                                                detail, sizeof detail);
            routing_ranking_add (ranking,
                                 routing_factor (routing_rule_name (settings->order.rules[r]),
                                                 score, detail));
        }
    }
    free (candidates);
}

//  Tell the referrer of ctx's need that it is unplaced (need: as the case reads it).
static int
s_unplaced_notice (routing_store_t *self, const need_context_t *ctx,
                   Kinnet__V1__CaseNeed *need, int64_t now, kn_error_t *err)
{
    Kinnet__V1__FeedEvent event = KINNET__V1__FEED_EVENT__INIT;
    event.body_case = KINNET__V1__FEED_EVENT__BODY_NEED;
    event.need = need;
    kn_log (KN_WARN, "need.unplaced", "need_id", need->need_id, "case_id", ctx->case_id,
            NULL);
    return routing_feed (self, ctx->referrer, "need.unplaced", ctx->case_id, &event, now, err);
}

//  Put need_id on the unplaced list and tell the referrer. A new need is told as
//  written (its values in hand); one offered before is read back.
static int
s_unplaced (routing_store_t *self, const char *need_id, const need_context_t *ctx,
            int64_t now, kn_error_t *err)
{
    char when[24];
    routing_num (when, sizeof when, now);
    const char *status[] = {need_id, "unplaced", when};
    if (ctx->new_need) {
        if (s_need_insert (self, ctx, "unplaced", NULL, NULL, when, err))
            return -1;
        //  What the case_needs read would say of the row just written.
        Kinnet__V1__CaseNeed need = KINNET__V1__CASE_NEED__INIT;
        need.need_id = (char *)need_id;
        need.category = (Kinnet__V1__NeedCategory)ctx->category;
        need.urgency = (Kinnet__V1__Urgency)atoi (ctx->new_need[4]);
        need.status = KINNET__V1__NEED_STATUS__NEED_UNPLACED;
        need.referral_id = (char *)ctx->referral_id;
        Kinnet__V1__Timestamp created = KINNET__V1__TIMESTAMP__INIT;
        created.seconds = strtoll (ctx->new_need[5], NULL, 10);
        need.created_at = &created;
        need.case_id = (char *)ctx->case_id;
        need.district = (char *)ctx->district;
        return s_unplaced_notice (self, ctx, &need, now, err);
    }
    if (routing_do (self, "need_set_status", 3, status, err))
        return -1;
    const char *case_id[] = {ctx->case_id};
    PGresult *result = routing_run (self, "case_needs", 1, case_id, err);
    if (!result)
        return -1;
    int rc = 0;
    for (int row = 0; row < PQntuples (result) && rc == 0; row++) {
        if (strcmp (PQgetvalue (result, row, 0), need_id))
            continue;
        Kinnet__V1__CaseNeed *need = routing_need_from_row (result, row);
        rc = s_unplaced_notice (self, ctx, need, now, err);
        kinnet__v1__case_need__free_unpacked (need, NULL);
    }
    PQclear (result);
    return rc;
}

//  Offer need_id to its best remaining candidate, or put it on the unplaced list
//  and tell the referrer. Called inside the caller's transaction. With quiet, a
//  need nobody can take is left as it is (a retry of the unplaced list).
static int
s_offer (routing_store_t *self, const char *need_id, const need_context_t *known,
         int64_t now, bool quiet, bool *offered, kn_error_t *err)
{
    *offered = false;
    need_context_t ctx;
    settings_t settings;
    if (known)
        ctx = *known;
    else if (routing_need_context (self, need_id, &ctx, err))
        return -1;
    if (routing_settings (self, &settings, err))
        return -1;
    if (ctx.urgency < 1 || ctx.urgency > 4)
        ctx.urgency = KINNET__V1__URGENCY__ROUTINE;
    Kinnet__V1__Ranking *ranking = kn_malloc (sizeof *ranking);
    kinnet__v1__ranking__init (ranking);
    char agency[KN_UUID_STR] = "";
    int sector = 0; // the offered agency's, when the candidates read gave it

    //  Emergencies go to the district's child-protection lead first.
    if (ctx.urgency == KINNET__V1__URGENCY__EMERGENCY_SAFEGUARDING &&
        settings.emergency_to_lead) {
        const char *values[] = {ctx.district, need_id, ctx.referrer};
        PGresult *result = routing_run (self, "district_lead", 3, values, err);
        if (!result) {
            kinnet__v1__ranking__free_unpacked (ranking, NULL);
            return -1;
        }
        if (PQntuples (result) && !PQgetisnull (result, 0, 0)) {
            snprintf (agency, sizeof agency, "%s", PQgetvalue (result, 0, 0));
            ranking->rank = 1;
            ranking->candidates = 1;
            routing_ranking_add (
                ranking,
                routing_factor ("district_lead", 1,
                                "emergency: the district's child-protection lead"));
        }
        PQclear (result);
    }
    if (!*agency) {
        candidates_query_t query;
        s_candidates_query (&query, need_id, &ctx);
        PGresult *result = routing_run (self, "candidates", 6, query.values, err);
        if (!result) {
            kinnet__v1__ranking__free_unpacked (ranking, NULL);
            return -1;
        }
        s_choose (result, &ctx, &settings, NULL, 0, agency, &sector, ranking);
        PQclear (result);
    }
    if (*agency) {
        char offer_id[KN_UUID_STR] = "";
        *offered = true;
        return routing_make_offer (self, need_id, &ctx, agency, sector, ranking, &settings, NULL,
                                   0, now, offer_id, err);
    }
    kinnet__v1__ranking__free_unpacked (ranking, NULL);
    if (quiet)
        return 0;
    return s_unplaced (self, need_id, &ctx, now, err);
}

//  One need of a round (routing_offer_new_needs): whom it goes to, and what the
//  consent policy lets that agency read.
typedef struct {
    need_context_t ctx;
    char agency[KN_UUID_STR]; // "" : unplaced
    int sector;
    Kinnet__V1__Ranking *ranking;
    bool details;
    bool asked; // its consent grounds are among the round's reads
    int categories[2];
    kn_policy_query_t query;
} round_t;

int
routing_offer_new_needs (routing_store_t *self, const need_context_t *ctxs,
                         char (*need_ids)[KN_UUID_STR], size_t n, routing_gather_t *gather,
                         int64_t now, kn_error_t *err)
{
    settings_t settings;
    if (n == 0 || routing_settings (self, &settings, err))
        return n == 0 ? 0 : -1;
    round_t *round = kn_calloc (n, sizeof *round);
    candidates_query_t *queries = kn_calloc (n, sizeof *queries);
    kn_db_read_t *reads = kn_calloc (3 * n, sizeof *reads);
    PGresult **results = kn_calloc (3 * n, sizeof *results);
    made_t *made = kn_calloc (n, sizeof *made);
    size_t n_made = 0, n_asked = 0;
    for (size_t i = 0; i < n; i++) {
        round[i].ctx = ctxs[i];
        if (round[i].ctx.urgency < 1 || round[i].ctx.urgency > 4)
            round[i].ctx.urgency = KINNET__V1__URGENCY__ROUTINE;
        s_candidates_query (&queries[i], need_ids[i], &round[i].ctx);
        reads[i] = (kn_db_read_t){"candidates", 6, queries[i].values};
    }
    //  Every need's candidates in one round trip (after the writes before them),
    //  ranked in order: each counts the offers made before it in this round.
    int rc = kn_db_run_each (self->db, n, reads, results, err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        round[i].ranking = kn_malloc (sizeof *round[i].ranking);
        kinnet__v1__ranking__init (round[i].ranking);
        s_choose (results[i], &round[i].ctx, &settings, made, n_made, round[i].agency,
                  &round[i].sector, round[i].ranking);
        PQclear (results[i]);
        results[i] = NULL;
        if (*round[i].agency)
            made[n_made++] = (made_t){round[i].agency, now};
    }
    //  Every offer's consent grounds in one round trip, where the child was locked
    //  and read ahead (routing_details_for's way otherwise, one at a time).
    for (size_t i = 0; i < n && rc == 0; i++) {
        round_t *r = &round[i];
        if (!*r->agency || !*r->ctx.child || !r->ctx.child_locked || r->sector <= 0)
            continue;
        r->categories[0] = KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT;
        r->categories[1] = KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE;
        rc = s_need_data (self, r->ctx.category, &r->categories[1], err) ?:
             kn_consent_policy_known_reads (&r->query, r->ctx.child, r->ctx.child_age,
                                            r->agency, r->sector, r->ctx.referrer,
                                            r->categories, 2,
                                            KINNET__V1__PURPOSE__REFERRAL_AND_ASSESSMENT,
                                            r->ctx.child_at, err);
        if (rc == 0) {
            memcpy (reads + 3 * n_asked, r->query.reads, sizeof r->query.reads);
            r->asked = true;
            n_asked++;
        }
    }
    if (rc == 0 && n_asked > 0)
        rc = kn_db_run_each (self->db, 3 * n_asked, reads, results, err);
    for (size_t i = 0, k = 0; i < n && rc == 0; i++) {
        round_t *r = &round[i];
        if (r->asked) {
            kn_policy_decision_t decision;
            kn_consent_policy_known_rules (&self->policy, &r->query, results + 3 * k,
                                           r->categories, 2, &decision);
            r->details = decision.decision == KINNET__V1__DECISION__PERMITTED ||
                         decision.decision == KINNET__V1__DECISION__PARTLY_PERMITTED;
            k++;
        } else if (*r->agency)
            rc = routing_details_for (self, &r->ctx, r->agency, r->sector, &r->details, err);
    }
    for (size_t i = 0; i < 3 * n; i++)
        PQclear (results[i]);
    //  The writes, in order: each need offered or put on the unplaced list,
    //  gathered (written with the round's other rows by routing_round_offer).
    self->gather = gather;
    for (size_t i = 0; i < n; i++) {
        round_t *r = &round[i];
        if (rc == 0 && *r->agency) {
            char offer_id[KN_UUID_STR] = "";
            rc = s_offer_write (self, need_ids[i], &r->ctx, r->agency, r->details,
                                r->ranking, &settings, NULL, 0, now, offer_id, err);
            r->ranking = NULL; // consumed
        } else if (rc == 0)
            rc = s_unplaced (self, need_ids[i], &r->ctx, now, err);
        if (r->ranking)
            kinnet__v1__ranking__free_unpacked (r->ranking, NULL);
    }
    self->gather = NULL;
    free (made);
    free (results);
    free (reads);
    free (queries);
    free (round);
    return rc;
}

int
routing_offer (routing_store_t *self, const char *need_id, int64_t now, bool quiet,
               bool *offered, kn_error_t *err)
{
    return s_offer (self, need_id, NULL, now, quiet, offered, err);
}

int
routing_offer_next (routing_store_t *self, const char *need_id, int64_t now,
                    kn_error_t *err)
{
    bool offered;
    return routing_offer (self, need_id, now, false, &offered, err);
}

int
routing_offer_new_need (routing_store_t *self, const char *need_id,
                        const need_context_t *ctx, int64_t now, kn_error_t *err)
{
    bool offered;
    return s_offer (self, need_id, ctx, now, false, &offered, err);
}
