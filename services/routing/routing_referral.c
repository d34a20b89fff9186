/*  routing_referral: routing one referral (a referral.received event). Its family's
    open case is joined or a case opened, and its needs are gathered into a round
    (routing_round) and offered. The batch's referrals of different families are
    read ahead together (routing_read_ahead), since nothing one of them writes
    changes what another reads. routing_events calls it for each such event. */
#include "kn_alloc.h"
#include "routing_store_int.h"

static const char *s_statements[][2] = {
    {"referral_info",
     "SELECT r.status, r.children,"
     " EXISTS (SELECT 1 FROM routing.case_referral WHERE referral_id = $1),"
     " coalesce ((SELECT rs.subject_id::text FROM intake.referral_subject rs"
     "  WHERE rs.referral_id = $1 ORDER BY rs.position LIMIT 1), '')"
     " FROM intake.referral r WHERE r.id = $1"},
    {"referral_child_lock",
     "SELECT 1 FROM core.subject WHERE id = (SELECT subject_id FROM intake.referral_subject"
     " WHERE referral_id = $1 ORDER BY position LIMIT 1) FOR SHARE"},
    {"referral_child_get",
     KN_SUBJECT_ROW " WHERE s.id = (SELECT subject_id FROM intake.referral_subject"
     " WHERE referral_id = $1 ORDER BY position LIMIT 1)"},
    {"case_open_for_family",
     "SELECT c.id, c.district, array_to_string (c.languages, ','),"
     " coalesce ((SELECT string_agg (DISTINCT n.category::text, ',') FROM routing.need n"
     "  WHERE n.case_id = c.id AND n.status IN ('offered', 'placed', 'unplaced')), '')"
     " FROM routing.case c WHERE c.family_id = $1 AND c.status = 'open' FOR UPDATE OF c"},
    {"case_insert",
     "INSERT INTO routing.case (id, family_id, district, languages, urgency, opened_at,"
     " needs_count) VALUES ($1, $2, $3, $4::text[], $5, to_timestamp ($6), $7)"},
    //  A referral joins the case: its languages as merged (s_languages_merged), its
    //  urgency if higher, the needs it adds (routing.case.needs_count is routing's
    //  to keep, migration 0047; a new case is inserted with its count).
    {"case_join",
     "UPDATE routing.case SET languages = $2::text[], urgency = greatest (urgency, $3::smallint),"
     " needs_count = needs_count + $4 WHERE id = $1"},
    {"case_referral_insert",
     "INSERT INTO routing.case_referral (referral_id, case_id, referring_agency_id, routed_at,"
     " full_view)"
     " VALUES ($1, $2, $3, to_timestamp ($4), $5)"},
};

int
routing_referral_prepare (kn_db_t *db, kn_error_t *err)
{
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
static void
s_referral_reads (kn_db_read_t *reads, const char *const *referral,
                  const char *const *family)
{
    reads[0] = (kn_db_read_t){"referral_info", 1, referral};
    reads[1] = (kn_db_read_t){"case_open_for_family", 1, family};
    reads[2] = (kn_db_read_t){"referral_child_lock", 1, referral};
    reads[3] = (kn_db_read_t){"referral_child_get", 1, referral};
}


void
routing_ahead_clear (routing_ahead_t *ahead)
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
int
routing_read_ahead (routing_store_t *self, PGresult *rows, int row, int count,
                    routing_ahead_t *ahead, kn_error_t *err)
{
    routing_ahead_clear (ahead);
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

//  Route one referral. ahead: its s_referral_reads, read ahead (taken: the pointers
//  are cleared), or NULL to read them now. round: the run's round, which gathers
//  the referral's rows and its new needs, written and offered with the run's (NULL:
//  written now, its needs offered in a round of their own).
int
routing_route_referral (routing_store_t *self, const Kinnet__V1__ReferralReceived *event,
                        PGresult **ahead, routing_round_t *round, int64_t now,
                        kn_error_t *err)
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
    //  In a run, its rows are gathered with the run's (written as its round is).
    routing_gather_t *rows = round ? routing_round_rows (round) : NULL;
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
    if (joined)
        snprintf (in_hand, sizeof in_hand, "%s", PQgetvalue (open_case, 0, 3));
    //  The needs it puts on the case: each category once, none the case has in hand.
    bool *adds = kn_calloc (event->n_needs ? event->n_needs : 1, sizeof *adds);
    int added = 0;
    for (size_t i = 0; i < event->n_needs; i++) {
        char category[8];
        snprintf (category, sizeof category, "%d", event->needs[i]);
        adds[i] = !s_list_has (in_hand, category);
        for (size_t k = 0; k < i; k++)
            adds[i] = adds[i] && event->needs[k] != event->needs[i];
        added += adds[i];
    }
    char count[16];
    snprintf (count, sizeof count, "%d", added);
    if (joined) {
        snprintf (case_id, sizeof case_id, "%s", PQgetvalue (open_case, 0, 0));
        snprintf (ctx.district, sizeof ctx.district, "%s", PQgetvalue (open_case, 0, 1));
        s_languages_merged (PQgetvalue (open_case, 0, 2), languages, ctx.languages,
                            sizeof ctx.languages);
        char merged[sizeof ctx.languages + 2];
        snprintf (merged, sizeof merged, "{%s}", ctx.languages);
        const char *join[] = {case_id, merged, urgency, count};
        if (routing_do (self, "case_join", 4, join, err)) {
            free (adds);
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
        const char *values[] = {case_id,   event->family_id, event->district,
                                languages, urgency,          when, count};
        if (rows)
            routing_gather_row (rows->cases, values, GATHER_CASE_COLUMNS);
        else if (routing_do (self, "case_insert", 7, values, err)) {
            free (adds);
            return -1;
        }
    }
    //  Joining a case it had no part in shows a referrer only its own part.
    bool full_view = !joined || event->referrer_knows_family;
    const char *link[] = {event->referral_id, case_id, event->referring_agency_id, when,
                          full_view ? "true" : "false"};
    if (rows)
        routing_gather_row (rows->links, link, GATHER_LINK_COLUMNS);
    else if (routing_do (self, "case_referral_insert", 5, link, err)) {
        free (adds);
        return -1;
    }
    //  The needs are offered in a round (routing_offer_new_needs: their candidates
    //  in one round trip, their consent grounds in another), the run's or the
    //  referral's own; an emergency's one by one when emergencies go to the
    //  district's lead first.
    settings_t settings;
    int rc = routing_settings (self, &settings, err);
    bool one_by_one = ctx.urgency == KINNET__V1__URGENCY__EMERGENCY_SAFEGUARDING &&
                      settings.emergency_to_lead;
    //  Offered one by one, after every need gathered before it: the order holds.
    if (rc == 0 && one_by_one && round)
        rc = routing_round_offer (self, round, now, err);
    routing_round_t *own = round ? NULL : routing_round_new ();
    snprintf (ctx.case_id, sizeof ctx.case_id, "%s", case_id);
    snprintf (ctx.referral_id, sizeof ctx.referral_id, "%s", event->referral_id);
    snprintf (ctx.family_id, sizeof ctx.family_id, "%s", event->family_id);
    snprintf (ctx.referrer, sizeof ctx.referrer, "%s", event->referring_agency_id);
    for (size_t i = 0; i < event->n_needs && rc == 0; i++) {
        if (!adds[i])
            continue;
        char category[8];
        snprintf (category, sizeof category, "%d", event->needs[i]);
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
    }
    free (adds);
    if (own) {
        rc = rc ?: routing_round_offer (self, own, now, err);
        routing_round_destroy (&own);
    }
    if (rc)
        return -1;
    kn_db_log_committed (self->db, KN_INFO, "referral.routed", "referral_id",
                         event->referral_id, "case_id", case_id, NULL);
    if (rows) {
        routing_audit_gather (rows, "route", event->family_id, event->referral_id);
        return 0;
    }
    return routing_audit (self, NULL, NULL, "route", event->family_id, event->referral_id,
                          KN_OK, err);
}
