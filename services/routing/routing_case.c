/*  routing_case: the case as each agency may see it (the team, a referrer's own
    part, an offered agency's own offer), appointing its lead professional, and the
    district's unplaced needs. */
#include "routing_store_int.h"
#include "kn_alloc.h"

static const char *s_statements[][2] = {
    {"case_get",
     "SELECT id, family_id, status, district, array_to_string (languages, ','), urgency,"
     " coalesce (lead_agency_id::text, ''), coalesce (lead_caseworker_id, ''),"
     " coalesce (" EPOCH ("lead_since") ", 0), " EPOCH (
         "opened_at") ","
                      " coalesce (" EPOCH (
                          "closed_at") ", 0) FROM routing.case WHERE id = $1"},
    //  $2: only this agency's involvements; $3: only those on this referrer's needs.
    {"case_involvements", INVOLVEMENT_SELECT
     " WHERE i.case_id = $1 AND ($2::uuid IS NULL OR i.agency_id = $2)"
     " AND ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM routing.need pn"
     "  JOIN routing.case_referral pr ON pr.referral_id = pn.referral_id"
     "  WHERE pn.id = i.need_id AND pr.referring_agency_id = $3))"
     " ORDER BY i.offered_at, i.id"},
    {"case_referrals",
     "SELECT referral_id FROM routing.case_referral WHERE case_id = $1"
     " AND ($2::uuid IS NULL OR referring_agency_id = $2) ORDER BY routed_at"},
    //  team: the whole case; part: a referrer that joined a case it had no part in
    //  (its own referrals, their needs and offers); offer: its offers only.
    {"case_access",
     "SELECT CASE WHEN " CASE_TEAM " THEN 'team' WHEN EXISTS (SELECT 1 FROM"
     " routing.case_referral WHERE case_id = $1 AND referring_agency_id = $2) THEN 'part'"
     " WHEN EXISTS (SELECT 1 FROM"
     " routing.involvement WHERE case_id = $1 AND agency_id = $2) THEN 'offer' ELSE '' END"},
    //  Everyone who had a part in the case: its referrers and every agency that
    //  accepted one of its needs.
    {"case_people",
     "SELECT referring_agency_id FROM routing.case_referral WHERE case_id = $1"
     " UNION SELECT agency_id FROM routing.involvement WHERE case_id = $1"
     " AND status IN ('accepted', 'closed', 'transferred') ORDER BY 1"},
    {"case_set_lead",
     "UPDATE routing.case SET lead_agency_id = $2, lead_caseworker_id = $3,"
     " lead_since = to_timestamp ($4) WHERE id = $1"},
    {"case_close_if_done",
     "UPDATE routing.case SET status = 'closed', closed_at = to_timestamp ($2) WHERE id = $1"
     " AND status = 'open' AND NOT EXISTS (SELECT 1 FROM routing.need WHERE case_id = $1"
     "  AND status IN ('offered', 'placed', 'unplaced')) RETURNING id"},
    {"accepted_on_case",
     "SELECT 1 FROM routing.involvement WHERE case_id = $1 AND agency_id = $2"
     " AND status = 'accepted'"},
    {"is_coordinator",
     "SELECT 1 FROM core.agency_role WHERE agency_id = $1 AND role = 'coordinator'"},
};

int
routing_case_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  Close the case when nothing is left open on it, and tell everyone who had a part.
int
routing_close_case_if_done (routing_store_t *self, const char *case_id, int64_t now,
                            kn_error_t *err)
{
    char when[24];
    snprintf (when, sizeof when, "%lld", (long long)now);
    const char *close[] = {case_id, when};
    int closed = routing_exists (self, "case_close_if_done", 2, close, err);
    if (closed <= 0)
        return closed;
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = now;
    Kinnet__V1__CaseClosed body = KINNET__V1__CASE_CLOSED__INIT;
    body.case_id = (char *)case_id;
    body.closed_at = &at;
    Kinnet__V1__FeedEvent event = KINNET__V1__FEED_EVENT__INIT;
    event.body_case = KINNET__V1__FEED_EVENT__BODY_CASE_CLOSED;
    event.case_closed = &body;
    const char *values[] = {case_id};
    PGresult *people = routing_run (self, "case_people", 1, values, err);
    if (!people)
        return -1;
    int rc = 0;
    for (int row = 0; row < PQntuples (people) && rc == 0; row++)
        rc = routing_feed (self, PQgetvalue (people, row, 0), "case.closed", case_id,
                           &event, now, err);
    PQclear (people);
    kn_db_log_committed (self->db, KN_INFO, "case.closed", "case_id", case_id, NULL);
    return rc;
}

//  'team', 'offer' or '' (no access) for agency on case_id.
static int
s_case_access (routing_store_t *self, const char *case_id, const char *agency_id,
               char out[8], kn_error_t *err)
{
    const char *values[] = {case_id, agency_id};
    PGresult *result = routing_run (self, "case_access", 2, values, err);
    if (!result)
        return -1;
    snprintf (out, 8, "%s", PQgetvalue (result, 0, 0));
    PQclear (result);
    return 0;
}

//  The case as one agency may see it. only_agency: an agency with offers only (its
//  involvements and their needs); part_of: a referrer with only its part (its
//  referrals, their needs and every involvement on them). Neither sees the lead.
static int
s_load_case (routing_store_t *self, const char *case_id, const char *only_agency,
             const char *part_of, Kinnet__V1__Case **result, kn_error_t *err)
{
    *result = NULL;
    const char *values[] = {case_id};
    PGresult *row = routing_run (self, "case_get", 1, values, err);
    if (!row)
        return -1;
    if (PQntuples (row) == 0) {
        PQclear (row);
        return kn_error_set (err, KN_E_NOT_FOUND, "case_id",
                             "no such case visible to you");
    }
    Kinnet__V1__Case *out = kn_malloc (sizeof *out);
    kinnet__v1__case__init (out);
    out->case_id = kn_pb_string (PQgetvalue (row, 0, 0));
    out->family_id = kn_pb_string (PQgetvalue (row, 0, 1));
    out->status = strcmp (PQgetvalue (row, 0, 2), "open") == 0
                      ? KINNET__V1__CASE_STATUS__CASE_OPEN
                      : KINNET__V1__CASE_STATUS__CASE_CLOSED;
    out->district = kn_pb_string (PQgetvalue (row, 0, 3));
    out->languages = routing_split (PQgetvalue (row, 0, 4), &out->n_languages);
    out->urgency = (Kinnet__V1__Urgency)routing_int (row, 0, 5);
    if (!only_agency && !part_of) {
        out->lead_agency_id = kn_pb_string (PQgetvalue (row, 0, 6));
        out->lead_caseworker_id = kn_pb_string (PQgetvalue (row, 0, 7));
        out->lead_since = kn_pb_timestamp (routing_int (row, 0, 8));
    }
    out->opened_at = kn_pb_timestamp (routing_int (row, 0, 9));
    out->closed_at = kn_pb_timestamp (routing_int (row, 0, 10));
    PQclear (row);

    const char *inv_values[] = {case_id, only_agency, part_of};
    const char *ref_values[] = {case_id, part_of};
    PGresult *involvements = routing_run (self, "case_involvements", 3, inv_values, err);
    PGresult *needs =
        involvements ? routing_run (self, "case_needs", 1, values, err) : NULL;
    PGresult *referrals = needs && !only_agency
                              ? routing_run (self, "case_referrals", 2, ref_values, err)
                              : NULL;
    if (!involvements || !needs || (!only_agency && !referrals)) {
        PQclear (involvements);
        PQclear (needs);
        kinnet__v1__case__free_unpacked (out, NULL);
        return -1;
    }
    int n = PQntuples (involvements);
    out->involvements = kn_calloc ((size_t)n + 1, sizeof (Kinnet__V1__Involvement *));
    for (int i = 0; i < n; i++)
        out->involvements[out->n_involvements++] =
            routing_involvement_from_row (involvements, i);
    n = PQntuples (needs);
    out->needs = kn_calloc ((size_t)n + 1, sizeof (Kinnet__V1__CaseNeed *));
    for (int i = 0; i < n; i++) {
        //  An agency that only holds an offer sees only the needs it was offered; a
        //  referrer with its part, the needs of its own referrals.
        Kinnet__V1__CaseNeed *need = routing_need_from_row (needs, i);
        bool visible = !only_agency && !part_of;
        for (size_t j = 0; only_agency && j < out->n_involvements && !visible; j++)
            visible = strcmp (out->involvements[j]->need_id, need->need_id) == 0;
        for (int j = 0; part_of && referrals && j < PQntuples (referrals) && !visible;
             j++)
            visible = strcmp (PQgetvalue (referrals, j, 0), need->referral_id) == 0;
        if (visible)
            out->needs[out->n_needs++] = need;
        else
            kinnet__v1__case_need__free_unpacked (need, NULL);
    }
    if (referrals) {
        n = PQntuples (referrals);
        out->referral_ids = kn_calloc ((size_t)n + 1, sizeof (char *));
        for (int i = 0; i < n; i++)
            out->referral_ids[out->n_referral_ids++] =
                kn_pb_string (PQgetvalue (referrals, i, 0));
    }
    PQclear (involvements);
    PQclear (needs);
    PQclear (referrals);
    *result = out;
    return 0;
}

int
routing_store_get_case (routing_store_t *self, const char *agency_id, const char *case_id,
                        Kinnet__V1__Case **result, kn_error_t *err)
{
    *result = NULL;
    char access[8];
    if (kn_db_ensure (self->db, err) ||
        s_case_access (self, case_id, agency_id, access, err))
        return -1;
    if (!*access)
        return kn_error_set (err, KN_E_NOT_FOUND, "case_id",
                             "no such case visible to you");
    return s_load_case (self, case_id, strcmp (access, "offer") == 0 ? agency_id : NULL,
                        strcmp (access, "part") == 0 ? agency_id : NULL, result, err);
}

int
routing_store_lead (routing_store_t *self, const char *agency_id, int64_t now,
                    const Kinnet__V1__AppointLead *request, Kinnet__V1__Case **result,
                    bool *replayed, kn_error_t *err)
{
    *result = NULL;
    kn_write_t w = self->write;
    snprintf (w.object_id, sizeof w.object_id, "%s", request->case_id);
    kn_claim_t claim = kn_write_begin (&w, agency_id, "lead", &request->base, err);
    *replayed = claim == KN_CLAIM_REPLAY;
    if (claim != KN_CLAIM_NEW)
        return *replayed
                   ? routing_store_get_case (self, agency_id, w.object_id, result, err)
                   : -1;
    char access[8] = "";
    const char *lock[] = {request->case_id};
    PGresult *status = s_case_access (self, request->case_id, agency_id, access, err)
                           ? NULL
                           : routing_run (self, "case_lock", 1, lock, err);
    int rc = status ? 0 : -1;
    if (rc == 0 && (!*access || PQntuples (status) == 0))
        rc = kn_error_set (err, KN_E_NOT_FOUND, "case_id", "no such case visible to you");
    else if (rc == 0 && strcmp (access, "team"))
        rc = kn_error_set (
            err, KN_E_PERMISSION_DENIED, "case_id",
            "only the case's referrers, its team and coordinators appoint a lead");
    else if (rc == 0 && strcmp (PQgetvalue (status, 0, 0), "open"))
        rc = kn_error_set (err, KN_E_CONFLICT, "case_id", "the case is closed");
    PQclear (status);
    if (rc)
        goto fail;
    const char *on_case[] = {request->case_id, request->agency_id};
    int accepted = routing_exists (self, "accepted_on_case", 2, on_case, err);
    if (accepted == 0)
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "agency_id",
                      "the lead must be an agency that has accepted a need on this case");
    if (accepted <= 0)
        goto fail;
    char when[24];
    routing_num (when, sizeof when, now);
    const char *values[] = {
        request->case_id, request->agency_id,
        *request->lead_caseworker_id ? request->lead_caseworker_id : NULL, when};
    Kinnet__V1__LeadChanged lead = KINNET__V1__LEAD_CHANGED__INIT;
    lead.case_id = request->case_id;
    lead.lead_agency_id = request->agency_id;
    lead.lead_caseworker_id = request->lead_caseworker_id;
    lead.changed_by_agency_id = (char *)agency_id;
    Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
    feed.body_case = KINNET__V1__FEED_EVENT__BODY_LEAD;
    feed.lead = &lead;
    if (routing_do (self, "case_set_lead", 4, values, err) ||
        routing_feed_watchers (self, request->case_id, NULL, NULL, "lead.changed", &feed,
                               now, err) ||
        kn_write_commit (&w, err))
        goto fail;
    kn_log (KN_INFO, "case.lead", "case_id", request->case_id, "agency_id",
            request->agency_id, NULL);
    return s_load_case (self, request->case_id, NULL, NULL, result, err);

fail:
    return kn_write_abort (&w);
}

int
routing_store_unplaced (routing_store_t *self, const char *agency_id,
                        const char *district, Kinnet__V1__CaseNeedList **result,
                        kn_error_t *err)
{
    *result = NULL;
    if (kn_db_ensure (self->db, err))
        return -1;
    const char *role[] = {agency_id};
    int coordinator = routing_exists (self, "is_coordinator", 1, role, err);
    if (coordinator < 0)
        return -1;
    const char *values[] = {district ? district : "", coordinator ? "true" : "false",
                            agency_id};
    PGresult *rows = routing_run (self, "unplaced", 3, values, err);
    if (!rows)
        return -1;
    Kinnet__V1__CaseNeedList *out = kn_malloc (sizeof *out);
    kinnet__v1__case_need_list__init (out);
    int n = PQntuples (rows);
    out->needs = kn_calloc ((size_t)n + 1, sizeof (Kinnet__V1__CaseNeed *));
    for (int i = 0; i < n; i++)
        out->needs[out->n_needs++] = routing_need_from_row (rows, i);
    PQclear (rows);
    *result = out;
    return 0;
}
