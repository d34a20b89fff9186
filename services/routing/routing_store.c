/*  routing_store: cases, offers, involvements and feeds. */
#include "routing_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kinnet/v1/consent.pb-c.h"
#include "kinnet/v1/events.pb-c.h"
#include "kn_audit.h"
#include "kn_consent_policy.h"
#include "kn_idempotency.h"
#include "kn_language.h"
#include "kn_log.h"
#include "kn_outbox.h"
#include "kn_pb.h"
#include "kn_subject.h"
#include "routing_rank.h"
#include "routing_validate.h"

#define IDEM "routing.idempotency"
#define EPOCH(c) "floor (extract (epoch FROM " c "))::bigint"
#define MAX_CANDIDATES 256

struct _routing_store_t {
    kn_db_t *db;
    kn_crypto_t *crypto;
    kn_policy_config_t policy;
};

#define INVOLVEMENT_SELECT                                                                    \
    "SELECT i.id, i.case_id, i.need_id, n.category, i.agency_id, i.status,"                  \
    " coalesce (c.lead_agency_id = i.agency_id AND i.status = 'accepted', false),"           \
    " i.ranked_by, i.waiting_for_consent, " EPOCH ("i.offered_at") ", "                      \
    EPOCH ("i.deadline_at") ", coalesce (" EPOCH ("i.decided_at") ", 0),"                    \
    " coalesce (i.decline_reason, 0), coalesce (i.caseworker_id, ''),"                       \
    " coalesce (" EPOCH ("i.first_contact_at") ", 0), coalesce (" EPOCH ("i.closed_at")      \
    ", 0), coalesce (i.outcome, 0), coalesce (i.transferred_from::text, ''),"                \
    " coalesce (i.transfer_reason, 0), coalesce (i.transferred_to::text, '')"                \
    " FROM routing.involvement i JOIN routing.need n ON n.id = i.need_id"                    \
    " JOIN routing.case c ON c.id = i.case_id"

#define NEED_SELECT                                                                           \
    "SELECT n.id, n.category, n.urgency, n.status, n.referral_id, " EPOCH ("n.created_at")   \
    ", n.case_id, c.district FROM routing.need n JOIN routing.case c ON c.id = n.case_id"

//  Who may see a whole case: its referrers, agencies that are or were on its team,
//  and coordinators. An agency with only an offer sees its own offer.
#define CASE_TEAM                                                                             \
    "EXISTS (SELECT 1 FROM routing.case_referral WHERE case_id = $1"                         \
    "  AND referring_agency_id = $2 AND full_view)"                                          \
    " OR EXISTS (SELECT 1 FROM routing.involvement WHERE case_id = $1 AND agency_id = $2"    \
    "  AND status IN ('accepted', 'closed', 'transferred'))"                                 \
    " OR EXISTS (SELECT 1 FROM core.agency_role WHERE agency_id = $2 AND role = 'coordinator')"

static const char *s_statements[][2] = {
    {"cursor_lock",
     "SELECT last_xid::text, last_id FROM routing.cursor WHERE consumer = 'routing'"
     " FOR UPDATE SKIP LOCKED"},
    //  Only rows of transactions older than every running one: see 0004_routing.sql.
    //  Qualified names: a bare "xid" in ORDER BY would be the output column xid::text,
    //  and in text order "1000" comes before "999" (the cursor would skip events).
    {"outbox_next",
     "SELECT o.xid::text, o.id, o.topic, o.payload FROM core.outbox o"
     " WHERE (o.xid, o.id) > ($1::xid8, $2::bigint)"
     "   AND o.xid < pg_snapshot_xmin (pg_current_snapshot ())"
     " ORDER BY o.xid, o.id LIMIT 1"},
    {"consumed_mark",
     "INSERT INTO routing.consumed (outbox_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1"},
    {"cursor_set",
     "UPDATE routing.cursor SET last_xid = $1::xid8, last_id = $2 WHERE consumer = 'routing'"},
    {"outbox_lag",
     "SELECT greatest (coalesce ((SELECT max (id) FROM core.outbox), 0) - last_id, 0)"
     " FROM routing.cursor WHERE consumer = 'routing'"},
    {"settings", "SELECT key, value FROM routing.setting"},
    {"referral_routed", "SELECT 1 FROM routing.case_referral WHERE referral_id = $1"},
    {"referral_info",
     "SELECT status, children FROM intake.referral WHERE id = $1"},
    {"referral_child",
     "SELECT rs.subject_id, r.referring_agency_id FROM intake.referral_subject rs"
     " JOIN intake.referral r ON r.id = rs.referral_id WHERE rs.referral_id = $1"
     " ORDER BY rs.position LIMIT 1"},
    {"case_open_for_family",
     "SELECT id FROM routing.case WHERE family_id = $1 AND status = 'open' FOR UPDATE"},
    {"case_insert",
     "INSERT INTO routing.case (id, family_id, district, languages, urgency, opened_at)"
     " VALUES ($1, $2, $3, $4::text[], $5, to_timestamp ($6))"},
    {"case_merge",
     "UPDATE routing.case SET languages = ARRAY (SELECT DISTINCT unnest (languages || $2::text[])"
     " ORDER BY 1), urgency = greatest (urgency, $3::smallint) WHERE id = $1"},
    {"case_referral_insert",
     "INSERT INTO routing.case_referral (referral_id, case_id, referring_agency_id, routed_at,"
     " full_view)"
     " VALUES ($1, $2, $3, to_timestamp ($4), $5)"},
    {"need_active",
     "SELECT 1 FROM routing.need WHERE case_id = $1 AND category = $2"
     " AND status IN ('offered', 'placed', 'unplaced')"},
    {"need_insert",
     "INSERT INTO routing.need (id, case_id, referral_id, category, urgency, status, created_at,"
     " district, referring_agency_id)"
     " VALUES ($1, $2, $3, $4, $5, 'offered', to_timestamp ($6), $7, $8)"},
    {"need_context",
     "SELECT n.case_id, n.referral_id, n.category, n.urgency, c.district, c.family_id,"
     " array_to_string (c.languages, ','), cr.referring_agency_id, r.children"
     " FROM routing.need n JOIN routing.case c ON c.id = n.case_id"
     " JOIN routing.case_referral cr ON cr.referral_id = n.referral_id"
     " JOIN intake.referral r ON r.id = n.referral_id WHERE n.id = $1"},
    //  The need's facts for reports (0008): kept where they happen.
    {"need_offered",
     "UPDATE routing.need SET first_offered_at = coalesce (first_offered_at, to_timestamp ($2)),"
     " first_deadline_at = coalesce (first_deadline_at, to_timestamp ($3)) WHERE id = $1"},
    {"need_accepted",
     "UPDATE routing.need SET accepted_at = coalesce (accepted_at, to_timestamp ($2))"
     " WHERE id = $1"},
    {"need_contacted",
     "UPDATE routing.need SET first_contact_at = coalesce (first_contact_at, to_timestamp ($2))"
     " WHERE id = (SELECT need_id FROM routing.involvement WHERE id = $1)"},
    {"need_set_status",
     "UPDATE routing.need SET status = $2, unplaced_at = CASE WHEN $2 = 'unplaced'"
     " THEN to_timestamp ($3) ELSE unplaced_at END WHERE id = $1"},
    {"candidates",
     "SELECT a.id,"
     " CASE WHEN EXISTS (SELECT 1 FROM routing.involvement i JOIN routing.case c"
     "   ON c.id = i.case_id WHERE c.family_id = $4 AND i.agency_id = a.id"
     "   AND i.status = 'accepted') THEN 2"
     "  WHEN EXISTS (SELECT 1 FROM routing.involvement i JOIN routing.case c"
     "   ON c.id = i.case_id WHERE c.family_id = $4 AND i.agency_id = a.id"
     "   AND i.status IN ('closed', 'transferred')) THEN 1 ELSE 0 END,"
     " coalesce ((SELECT l.language FROM core.agency_language l WHERE l.agency_id = a.id"
     "   AND l.language = ANY ($5::text[]) ORDER BY array_position ($5::text[], l.language)"
     "   LIMIT 1), ''),"
     " a.interpreters, coalesce (a.capacity, -1),"
     " (SELECT count (*) FROM routing.involvement i WHERE i.agency_id = a.id"
     "   AND i.status IN ('offered', 'accepted')),"
     " coalesce ((SELECT " EPOCH ("max (i.offered_at)") " FROM routing.involvement i"
     "   WHERE i.agency_id = a.id), 0)"
     " FROM core.agency a"
     " WHERE a.active AND a.accepting AND a.id <> $6"
     "  AND EXISTS (SELECT 1 FROM core.agency_key k WHERE k.agency_id = a.id"
     "   AND k.revoked_at IS NULL)"
     "  AND EXISTS (SELECT 1 FROM core.agency_need an WHERE an.agency_id = a.id"
     "   AND an.need = $1)"
     "  AND (a.district = $2 OR EXISTS (SELECT 1 FROM core.agency_district d"
     "   WHERE d.agency_id = a.id AND d.district = $2))"
     "  AND NOT EXISTS (SELECT 1 FROM routing.involvement i WHERE i.need_id = $3"
     "   AND i.agency_id = a.id)"},
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
    //  Who hears of escalations in a district: its lead, whatever it was offered.
    {"district_lead_any",
     "SELECT d.child_protection_lead FROM core.district d"
     " JOIN core.agency a ON a.id = d.child_protection_lead WHERE d.code = $1 AND a.active"},
    {"involvement_insert",
     "INSERT INTO routing.involvement (id, case_id, need_id, agency_id, status, rank,"
     " ranked_by, waiting_for_consent, offered_at, deadline_at, transferred_from,"
     " transfer_reason) VALUES ($1, $2, $3, $4, 'offered', $5, $6::bytea, $7,"
     " to_timestamp ($8), to_timestamp ($9), $10, $11)"},
    {"involvement_get", INVOLVEMENT_SELECT " WHERE i.id = $1"},
    {"involvement_lock", "SELECT 1 FROM routing.involvement WHERE id = $1 FOR UPDATE"},
    {"involvement_mine",
     "SELECT i.id FROM routing.involvement i JOIN routing.need n ON n.id = i.need_id"
     " WHERE i.case_id = $1 AND i.agency_id = $2 AND i.status = 'accepted'"
     " AND ($3::smallint = 0 OR n.category = $3::smallint) FOR UPDATE OF i"},
    {"involvement_decide",
     "UPDATE routing.involvement SET status = $2, decided_at = to_timestamp ($3),"
     " decline_reason = $4, caseworker_id = coalesce ($5, caseworker_id) WHERE id = $1"},
    {"involvement_contact",
     "UPDATE routing.involvement SET first_contact_at = to_timestamp ($2),"
     " caseworker_id = coalesce ($3, caseworker_id) WHERE id = $1"},
    {"involvement_end",
     "UPDATE routing.involvement SET status = $2, closed_at = to_timestamp ($3), outcome = $4,"
     " transferred_to = $5, transfer_reason = $6 WHERE id = $1"},
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
    {"case_of_referral", "SELECT case_id FROM routing.case_referral WHERE referral_id = $1"},
    {"case_lock", "SELECT status FROM routing.case WHERE id = $1 FOR UPDATE"},
    {"case_get",
     "SELECT id, family_id, status, district, array_to_string (languages, ','), urgency,"
     " coalesce (lead_agency_id::text, ''), coalesce (lead_caseworker_id, ''),"
     " coalesce (" EPOCH ("lead_since") ", 0), " EPOCH ("opened_at") ","
     " coalesce (" EPOCH ("closed_at") ", 0) FROM routing.case WHERE id = $1"},
    {"case_needs", NEED_SELECT " WHERE n.case_id = $1 ORDER BY n.created_at, n.category"},
    //  $2: only this agency's involvements; $3: only those on this referrer's needs.
    {"case_involvements",
     INVOLVEMENT_SELECT " WHERE i.case_id = $1 AND ($2::uuid IS NULL OR i.agency_id = $2)"
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
    //  A referrer with only its part of the case hears of need $2 only if it is
    //  one of its referral's needs.
    {"case_watchers",
     "SELECT referring_agency_id FROM routing.case_referral WHERE case_id = $1"
     " AND (full_view OR referral_id = (SELECT referral_id FROM routing.need WHERE id = $2))"
     " UNION SELECT agency_id FROM routing.involvement WHERE case_id = $1"
     " AND status = 'accepted' ORDER BY 1"},
    //  Everyone who had a part in the case: its referrers and every agency that
    //  accepted one of its needs.
    {"case_people",
     "SELECT referring_agency_id FROM routing.case_referral WHERE case_id = $1"
     " UNION SELECT agency_id FROM routing.involvement WHERE case_id = $1"
     " AND status IN ('accepted', 'closed', 'transferred') ORDER BY 1"},
    {"case_set_lead",
     "UPDATE routing.case SET lead_agency_id = $2, lead_caseworker_id = $3,"
     " lead_since = to_timestamp ($4) WHERE id = $1"},
    {"case_clear_lead_of",
     "UPDATE routing.case SET lead_agency_id = NULL, lead_caseworker_id = NULL,"
     " lead_since = NULL WHERE id = $1 AND lead_agency_id = $2"
     " AND NOT EXISTS (SELECT 1 FROM routing.involvement WHERE case_id = $1"
     "  AND agency_id = $2 AND status = 'accepted') RETURNING id"},
    {"case_close_if_done",
     "UPDATE routing.case SET status = 'closed', closed_at = to_timestamp ($2) WHERE id = $1"
     " AND status = 'open' AND NOT EXISTS (SELECT 1 FROM routing.need WHERE case_id = $1"
     "  AND status IN ('offered', 'placed', 'unplaced')) RETURNING id"},
    {"accepted_on_case",
     "SELECT 1 FROM routing.involvement WHERE case_id = $1 AND agency_id = $2"
     " AND status = 'accepted'"},
    {"involvement_contact_due",
     "UPDATE routing.involvement SET contact_due_at = to_timestamp ($2) WHERE id = $1"},
    {"contact_overdue",
     "SELECT id FROM routing.involvement WHERE status = 'accepted' AND first_contact_at IS NULL"
     " AND contact_escalated_at IS NULL AND contact_due_at <= to_timestamp ($1)"
     " ORDER BY contact_due_at LIMIT 1 FOR UPDATE SKIP LOCKED"},
    {"contact_escalated",
     "UPDATE routing.involvement SET contact_escalated_at = to_timestamp ($2) WHERE id = $1"},
    {"case_lead_of", "SELECT coalesce (lead_agency_id::text, '') FROM routing.case WHERE id = $1"},
    {"due_offer",
     "SELECT id FROM routing.involvement WHERE status = 'offered'"
     " AND deadline_at <= to_timestamp ($1) ORDER BY deadline_at LIMIT 1 FOR UPDATE SKIP LOCKED"},
    //  The unplaced list in (unplaced_at, id) order, after a position.
    {"unplaced_next",
     "SELECT id, " EPOCH ("unplaced_at") " FROM routing.need WHERE status = 'unplaced'"
     " AND (" EPOCH ("unplaced_at") ", id) > ($1::bigint, $2::uuid)"
     " ORDER BY 2, 1 LIMIT 1 FOR UPDATE SKIP LOCKED"},
    {"next_deadline",
     "SELECT coalesce (" EPOCH ("min (deadline_at)") ", 0) FROM routing.involvement"
     " WHERE status = 'offered'"},
    {"feed_next_seq",
     "INSERT INTO routing.feed_head AS h (agency_id, last_seq) VALUES ($1, 1)"
     " ON CONFLICT (agency_id) DO UPDATE SET last_seq = h.last_seq + 1 RETURNING last_seq"},
    {"feed_insert",
     "INSERT INTO routing.feed (agency_id, seq, topic, case_id, payload, created_at)"
     " VALUES ($1, $2, $3, $4, $5::bytea, to_timestamp ($6))"},
    {"feed_read",
     "SELECT payload FROM routing.feed WHERE agency_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"},
    {"feed_head",
     "SELECT coalesce ((SELECT last_seq FROM routing.feed_head WHERE agency_id = $1), 0)"},
    {"replay_on_case",
     "SELECT i.id FROM routing.involvement i JOIN routing.need n ON n.id = i.need_id"
     " WHERE i.case_id = $1 AND i.agency_id = $2"
     " AND ($3::smallint = 0 OR n.category = $3::smallint)"
     " AND CASE $4 WHEN 'contact' THEN i.first_contact_at IS NOT NULL"
     "  ELSE i.status = 'closed' END"
     " ORDER BY coalesce (i.closed_at, i.first_contact_at) DESC LIMIT 1"},
    {"agency_active", "SELECT 1 FROM core.agency WHERE id = $1 AND active"},
    //  Grounds that ran out and were not announced yet, the earliest first.
    {"ground_expired",
     "SELECT g.id, g.kind, g.subject_id, floor (extract (epoch FROM g.ended))::bigint FROM ("
     " SELECT id, 1 AS kind, subject_id, valid_until AS ended FROM consent.record"
     "  WHERE valid_until <= now ()"
     " UNION ALL SELECT id, 2, subject_id, valid_until FROM consent.basis"
     "  WHERE valid_until <= now ()"
     " UNION ALL SELECT id, 3, subject_id, expires_at FROM consent.override"
     "  WHERE expires_at <= now ()) g"
     " WHERE NOT EXISTS (SELECT 1 FROM routing.ground_event e WHERE e.ground_id = g.id"
     "  AND e.kind = 'expired') ORDER BY g.ended LIMIT 1"},
    {"review_overdue",
     "SELECT o.id, o.subject_id, o.requested_by, floor (extract (epoch FROM o.review_due_at))::bigint,"
     " coalesce ((SELECT d.child_protection_lead::text FROM core.district d"
     "  JOIN core.agency a ON a.district = d.code WHERE a.id = o.requested_by), '')"
     " FROM consent.override o WHERE o.review_due_at <= now () AND o.reviewed_at IS NULL"
     " AND NOT EXISTS (SELECT 1 FROM routing.ground_event e WHERE e.ground_id = o.id"
     "  AND e.kind = 'review_overdue') ORDER BY o.review_due_at LIMIT 1"},
    //  Claim one announcement: two routing processes make it once.
    {"ground_claim",
     "INSERT INTO routing.ground_event (ground_id, kind) VALUES ($1, $2)"
     " ON CONFLICT DO NOTHING RETURNING 1"},
    {"ground_recipients",
     "SELECT DISTINCT recipient_id FROM core.disclosure WHERE ground_id = $1 ORDER BY 1"},
    {"dpo_agencies",
     "SELECT r.agency_id FROM core.agency_role r JOIN core.agency a ON a.id = r.agency_id"
     " WHERE r.role = 'data_protection_officer' AND a.active ORDER BY 1"},
    {"is_coordinator",
     "SELECT 1 FROM core.agency_role WHERE agency_id = $1 AND role = 'coordinator'"},
    {"unplaced",
     NEED_SELECT " WHERE n.status = 'unplaced' AND ($1 = '' OR c.district = $1)"
     " AND ($2::boolean OR EXISTS (SELECT 1 FROM routing.case_referral cr"
     "  WHERE cr.referral_id = n.referral_id AND cr.referring_agency_id = $3))"
     " ORDER BY n.unplaced_at LIMIT 500"},
};

//  -------------------------------------------------------------------------
//  Small helpers

routing_store_t *
routing_store_new (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err)
{
    for (size_t i = 0; i < sizeof s_statements / sizeof s_statements[0]; i++)
        if (kn_db_prepare (db, s_statements[i][0], s_statements[i][1], err))
            return NULL;
    if (kn_audit_prepare (db, err) || kn_outbox_prepare (db, err)
        || kn_idempotency_prepare (db, IDEM, err) || kn_subject_prepare (db, err)
        || kn_consent_policy_prepare (db, err))
        return NULL;
    routing_store_t *self = calloc (1, sizeof *self);
    self->db = db;
    self->crypto = crypto;
    self->policy = kn_consent_policy_config ();
    return self;
}

void
routing_store_destroy (routing_store_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

kn_db_t *
routing_store_db (routing_store_t *self)
{
    return self->db;
}

static void
s_rollback (routing_store_t *self)
{
    kn_error_t ignored;
    kn_db_exec (self->db, "ROLLBACK", &ignored);
}

static PGresult *
s_run (routing_store_t *self, const char *name, int n, const char *const *values,
       kn_error_t *err)
{
    return kn_db_run (self->db, name, n, values, NULL, NULL, err);
}

//  Run a statement for its effect only.
static int
s_do (routing_store_t *self, const char *name, int n, const char *const *values,
      kn_error_t *err)
{
    PGresult *result = s_run (self, name, n, values, err);
    PQclear (result);
    return result ? 0 : -1;
}

//  Whether a statement returns a row; -1 on failure.
static int
s_exists (routing_store_t *self, const char *name, int n, const char *const *values,
          kn_error_t *err)
{
    PGresult *result = s_run (self, name, n, values, err);
    if (!result)
        return -1;
    int found = PQntuples (result) > 0;
    PQclear (result);
    return found;
}

static int64_t
s_int (PGresult *result, int row, int column)
{
    return strtoll (PQgetvalue (result, row, column), NULL, 10);
}

static bool
s_bool (PGresult *result, int row, int column)
{
    return PQgetvalue (result, row, column)[0] == 't';
}

static void
s_num (char *out, size_t size, int64_t value)
{
    snprintf (out, size, "%lld", (long long) value);
}

//  bytea parameter text (hex form) of a packed message; caller frees.
static char *
s_bytea_param (const ProtobufCMessage *message)
{
    size_t len = protobuf_c_message_get_packed_size (message);
    uint8_t *packed = malloc (len ? len : 1);
    protobuf_c_message_pack (message, packed);
    char *text = malloc (len * 2 + 3);
    strcpy (text, "\\x");
    for (size_t i = 0; i < len; i++)
        sprintf (text + 2 + i * 2, "%02x", packed[i]);
    free (packed);
    return text;
}

//  A bytea column (text result, hex form) unpacked as descriptor's message.
static ProtobufCMessage *
s_unpack_column (PGresult *result, int row, int column,
                 const ProtobufCMessageDescriptor *descriptor)
{
    size_t len = 0;
    unsigned char *bytes
        = PQunescapeBytea ((const unsigned char *) PQgetvalue (result, row, column), &len);
    if (!bytes)
        return NULL;
    ProtobufCMessage *message = protobuf_c_message_unpack (descriptor, NULL, len, bytes);
    PQfreemem (bytes);
    return message;
}

//  Status names as stored, in InvolvementStatus order.
static const char *s_involvement_status[]
    = {"", "offered", "accepted", "declined", "expired", "withdrawn", "transferred", "closed"};
static const char *s_need_status[] = {"", "offered", "placed", "unplaced", "withdrawn", "closed"};

static int
s_status_value (const char *const *names, size_t n, const char *name)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp (names[i], name) == 0)
            return (int) i;
    return 0;
}

static const char *
s_urgency_key (int urgency)
{
    switch (urgency) {
    case KINNET__V1__URGENCY__EMERGENCY_SAFEGUARDING: return "emergency_safeguarding";
    case KINNET__V1__URGENCY__URGENT: return "urgent";
    case KINNET__V1__URGENCY__PRIORITY: return "priority";
    default: return "routine";
    }
}

//  -------------------------------------------------------------------------
//  Settings (routing.setting), read at the start of each routing decision so an
//  administrator's change applies to the next offer without a restart.

typedef struct {
    routing_order_t order;
    int64_t deadline[5];           // seconds to answer an offer, by Urgency value
    int64_t contact[5];            // seconds from acceptance to first contact
    bool emergency_to_lead;
    int escalate_to_lead_from;     // lowest Urgency whose escalations go to the lead
} settings_t;

static int
s_settings (routing_store_t *self, settings_t *settings, kn_error_t *err)
{
    memset (settings, 0, sizeof *settings);
    routing_rank_parse_order ("continuity,language,headroom,rotation", &settings->order, err);
    const int64_t defaults[5] = {864000, 864000, 259200, 86400, 3600};
    memcpy (settings->deadline, defaults, sizeof defaults);
    const int64_t contact[5] = {864000, 864000, 432000, 172800, 14400};
    memcpy (settings->contact, contact, sizeof contact);
    settings->emergency_to_lead = true;
    settings->escalate_to_lead_from = KINNET__V1__URGENCY__URGENT;
    PGresult *result = s_run (self, "settings", 0, NULL, err);
    if (!result)
        return -1;
    for (int row = 0; row < PQntuples (result); row++) {
        const char *key = PQgetvalue (result, row, 0);
        const char *value = PQgetvalue (result, row, 1);
        if (strcmp (key, "rank.order") == 0) {
            kn_error_t bad;
            routing_order_t order;
            if (routing_rank_parse_order (value, &order, &bad) == 0)
                settings->order = order;
            else
                kn_log (KN_WARN, "routing.bad_setting", "key", key, NULL);
        }
        else if (strncmp (key, "deadline.", 9) == 0 || strncmp (key, "contact.", 8) == 0) {
            //  A value written past the admin command's checks keeps the default
            //  rather than stopping routing.
            bool offer = key[0] == 'd';
            const char *urgency_name = strchr (key, '.') + 1;
            kn_error_t bad;
            int64_t seconds = 0;
            for (int urgency = 1; urgency <= 4; urgency++)
                if (strcmp (urgency_name, s_urgency_key (urgency)) == 0) {
                    if (routing_validate_interval (value, key, &seconds, &bad) == 0)
                        (offer ? settings->deadline : settings->contact)[urgency] = seconds;
                    else
                        kn_log (KN_WARN, "routing.bad_setting", "key", key, NULL);
                }
        }
        else if (strcmp (key, "emergency.to_district_lead") == 0)
            settings->emergency_to_lead = strcmp (value, "false") != 0;
        else if (strcmp (key, "escalate.to_district_lead_from") == 0) {
            for (int urgency = 1; urgency <= 4; urgency++)
                if (strcmp (value, s_urgency_key (urgency)) == 0)
                    settings->escalate_to_lead_from = urgency;
            if (strcmp (value, "never") == 0)
                settings->escalate_to_lead_from = 99;
        }
    }
    PQclear (result);
    return 0;
}

//  -------------------------------------------------------------------------
//  Messages from rows

static Kinnet__V1__Involvement *
s_involvement_from_row (PGresult *result, int row)
{
    Kinnet__V1__Involvement *out = malloc (sizeof *out);
    kinnet__v1__involvement__init (out);
    out->involvement_id = kn_pb_string (PQgetvalue (result, row, 0));
    out->case_id = kn_pb_string (PQgetvalue (result, row, 1));
    out->need_id = kn_pb_string (PQgetvalue (result, row, 2));
    out->need = (Kinnet__V1__NeedCategory) s_int (result, row, 3);
    out->agency_id = kn_pb_string (PQgetvalue (result, row, 4));
    out->status = (Kinnet__V1__InvolvementStatus) s_status_value (
        s_involvement_status, 8, PQgetvalue (result, row, 5));
    out->lead = s_bool (result, row, 6);
    out->ranking = (Kinnet__V1__Ranking *) s_unpack_column (result, row, 7,
                                                            &kinnet__v1__ranking__descriptor);
    out->waiting_for_consent = s_bool (result, row, 8);
    out->offered_at = kn_pb_timestamp (s_int (result, row, 9));
    out->deadline_at = kn_pb_timestamp (s_int (result, row, 10));
    out->decided_at = kn_pb_timestamp (s_int (result, row, 11));
    out->decline_reason = (Kinnet__V1__DeclineReason) s_int (result, row, 12);
    out->caseworker_id = kn_pb_string (PQgetvalue (result, row, 13));
    out->first_contact_at = kn_pb_timestamp (s_int (result, row, 14));
    out->closed_at = kn_pb_timestamp (s_int (result, row, 15));
    out->outcome = (Kinnet__V1__Outcome) s_int (result, row, 16);
    out->transferred_from_id = kn_pb_string (PQgetvalue (result, row, 17));
    out->transfer_reason = (Kinnet__V1__TransferReason) s_int (result, row, 18);
    out->transferred_to_agency_id = kn_pb_string (PQgetvalue (result, row, 19));
    return out;
}

static Kinnet__V1__Involvement *
s_load_involvement (routing_store_t *self, const char *id, kn_error_t *err)
{
    const char *values[] = {id};
    PGresult *result = s_run (self, "involvement_get", 1, values, err);
    if (!result)
        return NULL;
    Kinnet__V1__Involvement *out = PQntuples (result) ? s_involvement_from_row (result, 0) : NULL;
    PQclear (result);
    if (!out && err->code == KN_OK)
        kn_error_set (err, KN_E_NOT_FOUND, "offer_id", "no such offer for your agency");
    return out;
}

static Kinnet__V1__CaseNeed *
s_need_from_row (PGresult *result, int row)
{
    Kinnet__V1__CaseNeed *out = malloc (sizeof *out);
    kinnet__v1__case_need__init (out);
    out->need_id = kn_pb_string (PQgetvalue (result, row, 0));
    out->category = (Kinnet__V1__NeedCategory) s_int (result, row, 1);
    out->urgency = (Kinnet__V1__Urgency) s_int (result, row, 2);
    out->status = (Kinnet__V1__NeedStatus) s_status_value (s_need_status, 6,
                                                            PQgetvalue (result, row, 3));
    out->referral_id = kn_pb_string (PQgetvalue (result, row, 4));
    out->created_at = kn_pb_timestamp (s_int (result, row, 5));
    out->case_id = kn_pb_string (PQgetvalue (result, row, 6));
    out->district = kn_pb_string (PQgetvalue (result, row, 7));
    return out;
}

//  Split "a,b,c" into a malloc'd string array.
static char **
s_split (const char *text, size_t *count)
{
    *count = 0;
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == ',';
    char **out = calloc (cap, sizeof (char *));
    const char *at = text;
    while (*at) {
        size_t len = strcspn (at, ",");
        out[(*count)++] = strndup (at, len);
        at += len + (at[len] == ',');
    }
    return out;
}

//  -------------------------------------------------------------------------
//  Feeds and audit

//  Append event (body set by the caller) to agency's feed; numbers it. The
//  feed_head row stays locked until commit, so numbers appear in order.
static int
s_feed (routing_store_t *self, const char *agency_id, const char *topic, const char *case_id,
        Kinnet__V1__FeedEvent *event, int64_t now, kn_error_t *err)
{
    const char *head[] = {agency_id};
    PGresult *result = s_run (self, "feed_next_seq", 1, head, err);
    if (!result)
        return -1;
    event->seq = s_int (result, 0, 0);
    PQclear (result);
    event->topic = (char *) topic;
    event->case_id = (char *) (case_id ? case_id : "");
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = now;
    event->at = &at;
    char *payload = s_bytea_param (&event->base);
    char seq[24], when[24];
    s_num (seq, sizeof seq, event->seq);
    s_num (when, sizeof when, now);
    const char *values[] = {agency_id, seq, topic, case_id, payload, when};
    int rc = s_do (self, "feed_insert", 6, values, err);
    free (payload);
    event->topic = NULL;
    event->case_id = NULL;
    event->at = NULL;
    return rc;
}

static int
s_feed_involvement (routing_store_t *self, const char *agency_id, const char *topic,
                    Kinnet__V1__Involvement *involvement, int64_t now, kn_error_t *err)
{
    Kinnet__V1__FeedEvent event = KINNET__V1__FEED_EVENT__INIT;
    event.body_case = KINNET__V1__FEED_EVENT__BODY_INVOLVEMENT;
    event.involvement = involvement;
    return s_feed (self, agency_id, topic, involvement->case_id, &event, now, err);
}

//  Tell the case's watchers about involvement id as it now stands in the database.
static int s_feed_watchers_involvement (routing_store_t *self,
                                        Kinnet__V1__Involvement *involvement,
                                        const char *except, int64_t now, kn_error_t *err);
static Kinnet__V1__Involvement *s_load_involvement (routing_store_t *self, const char *id,
                                                    kn_error_t *err);

static int
s_announce (routing_store_t *self, const char *involvement_id, const char *except, int64_t now,
            kn_error_t *err)
{
    Kinnet__V1__Involvement *fresh = s_load_involvement (self, involvement_id, err);
    if (!fresh)
        return -1;
    int rc = s_feed_watchers_involvement (self, fresh, except, now, err);
    kinnet__v1__involvement__free_unpacked (fresh, NULL);
    return rc;
}

//  Close the case when nothing is left open on it, and tell everyone who had a part.
static int
s_close_case_if_done (routing_store_t *self, const char *case_id, int64_t now, kn_error_t *err)
{
    char when[24];
    snprintf (when, sizeof when, "%lld", (long long) now);
    const char *close[] = {case_id, when};
    int closed = s_exists (self, "case_close_if_done", 2, close, err);
    if (closed <= 0)
        return closed;
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = now;
    Kinnet__V1__CaseClosed body = KINNET__V1__CASE_CLOSED__INIT;
    body.case_id = (char *) case_id;
    body.closed_at = &at;
    Kinnet__V1__FeedEvent event = KINNET__V1__FEED_EVENT__INIT;
    event.body_case = KINNET__V1__FEED_EVENT__BODY_CASE_CLOSED;
    event.case_closed = &body;
    const char *values[] = {case_id};
    PGresult *people = s_run (self, "case_people", 1, values, err);
    if (!people)
        return -1;
    int rc = 0;
    for (int row = 0; row < PQntuples (people) && rc == 0; row++)
        rc = s_feed (self, PQgetvalue (people, row, 0), "case.closed", case_id, &event, now, err);
    PQclear (people);
    kn_log (KN_INFO, "case.closed", "case_id", case_id, NULL);
    return rc;
}

//  Tell everyone watching the case (its referrers and its team), except `except`.
//  need_id: the need the event is about, NULL for the case as a whole.
static int
s_feed_watchers (routing_store_t *self, const char *case_id, const char *need_id,
                 const char *except, const char *topic, Kinnet__V1__FeedEvent *event,
                 int64_t now, kn_error_t *err)
{
    const char *values[] = {case_id, need_id && *need_id ? need_id : NULL};
    PGresult *result = s_run (self, "case_watchers", 2, values, err);
    if (!result)
        return -1;
    int rc = 0;
    for (int row = 0; row < PQntuples (result) && rc == 0; row++) {
        const char *agency = PQgetvalue (result, row, 0);
        if (!except || strcmp (agency, except))
            rc = s_feed (self, agency, topic, case_id, event, now, err);
    }
    PQclear (result);
    return rc;
}

static int
s_feed_watchers_involvement (routing_store_t *self, Kinnet__V1__Involvement *involvement,
                             const char *except, int64_t now, kn_error_t *err)
{
    Kinnet__V1__FeedEvent event = KINNET__V1__FEED_EVENT__INIT;
    event.body_case = KINNET__V1__FEED_EVENT__BODY_INVOLVEMENT;
    event.involvement = involvement;
    return s_feed_watchers (self, involvement->case_id, involvement->need_id, except,
                            "involvement.changed", &event, now, err);
}

static int
s_audit (routing_store_t *self, const char *agency_id, const char *caseworker,
         const char *operation, const char *subject, const char *object, kn_code_t code,
         kn_error_t *err)
{
    kn_audit_entry_t entry = {.agency_id = agency_id,
                              .caseworker_id = caseworker && *caseworker ? caseworker : NULL,
                              .service = "routing",
                              .operation = operation,
                              .subject_ref = subject,
                              .object_id = object,
                              .result = code == KN_OK ? "ok" : kn_code_name (code)};
    return kn_audit_append (self->db, &entry, err);
}

void
routing_store_audit (routing_store_t *self, const char *agency_id, const char *caseworker,
                     const char *operation, const char *object_id, kn_code_t result)
{
    kn_error_t err;
    kn_error_clear (&err);
    if (kn_db_ensure (self->db, &err) == 0
        && s_audit (self, agency_id, caseworker, operation, NULL,
                    object_id && kn_uuid_valid (object_id) ? object_id : NULL, result, &err))
        kn_log (KN_ERROR, "audit.failed", "problem", err.message, NULL);
}

//  -------------------------------------------------------------------------
//  Offering a need

typedef struct {
    char case_id[KN_UUID_STR];
    char referral_id[KN_UUID_STR];
    int category;
    int urgency;
    char district[80];
    char family_id[KN_UUID_STR];
    char languages[400];   // comma-separated primary subtags
    char referrer[KN_UUID_STR];
    int children;
} need_context_t;

static int
s_need_context (routing_store_t *self, const char *need_id, need_context_t *ctx,
                kn_error_t *err)
{
    const char *values[] = {need_id};
    PGresult *result = s_run (self, "need_context", 1, values, err);
    if (!result)
        return -1;
    if (PQntuples (result) == 0) {
        PQclear (result);
        return kn_error_set (err, KN_E_INTERNAL, NULL, "need without context");
    }
    memset (ctx, 0, sizeof *ctx);
    snprintf (ctx->case_id, sizeof ctx->case_id, "%s", PQgetvalue (result, 0, 0));
    snprintf (ctx->referral_id, sizeof ctx->referral_id, "%s", PQgetvalue (result, 0, 1));
    ctx->category = (int) s_int (result, 0, 2);
    ctx->urgency = (int) s_int (result, 0, 3);
    snprintf (ctx->district, sizeof ctx->district, "%s", PQgetvalue (result, 0, 4));
    snprintf (ctx->family_id, sizeof ctx->family_id, "%s", PQgetvalue (result, 0, 5));
    snprintf (ctx->languages, sizeof ctx->languages, "%s", PQgetvalue (result, 0, 6));
    snprintf (ctx->referrer, sizeof ctx->referrer, "%s", PQgetvalue (result, 0, 7));
    ctx->children = (int) s_int (result, 0, 8);
    PQclear (result);
    return 0;
}

//  Whether the consent policy lets agency read the referral's child's identity or
//  what it was offered: the data category need (a kinnet.v1.NeedCategory) implies
//  (a check only: nothing is disclosed here).
static int
s_details_available (routing_store_t *self, const char *referral_id, const char *agency_id,
                     int need, bool *available, kn_error_t *err)
{
    *available = false;
    const char *values[] = {referral_id};
    PGresult *result = s_run (self, "referral_child", 1, values, err);
    if (!result)
        return -1;
    char subject[KN_UUID_STR] = "", controller[KN_UUID_STR] = "";
    if (PQntuples (result)) {
        snprintf (subject, sizeof subject, "%s", PQgetvalue (result, 0, 0));
        snprintf (controller, sizeof controller, "%s", PQgetvalue (result, 0, 1));
    }
    PQclear (result);
    if (!*subject)
        return 0;
    int categories[] = {KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT,
                        KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE};
    if (kn_consent_policy_need_categories (self->db, &need, 1, &categories[1], err))
        return -1;
    kn_policy_decision_t decision;
    if (kn_consent_policy_decide (self->db, self->crypto, &self->policy, subject, agency_id,
                                  controller, categories, 2,
                                  KINNET__V1__PURPOSE__REFERRAL_AND_ASSESSMENT, &decision, err))
        return -1;
    *available = decision.decision == KINNET__V1__DECISION__PERMITTED
                 || decision.decision == KINNET__V1__DECISION__PARTLY_PERMITTED;
    return 0;
}

static Kinnet__V1__RankFactor *
s_factor (const char *rule, int64_t score, const char *detail)
{
    Kinnet__V1__RankFactor *factor = malloc (sizeof *factor);
    kinnet__v1__rank_factor__init (factor);
    factor->rule = kn_pb_string (rule);
    factor->score = score;
    factor->detail = kn_pb_string (detail);
    return factor;
}

static void
s_ranking_add (Kinnet__V1__Ranking *ranking, Kinnet__V1__RankFactor *factor)
{
    ranking->factors = realloc (ranking->factors,
                                (ranking->n_factors + 1) * sizeof (Kinnet__V1__RankFactor *));
    ranking->factors[ranking->n_factors++] = factor;
}

//  Tell the offered agency about its offer (topic offer.made or
//  offer.details_available): the whole Offer, never personal data.
static int
s_feed_offer (routing_store_t *self, const char *topic, const need_context_t *ctx,
              Kinnet__V1__Involvement *involvement, bool details, int64_t now, kn_error_t *err)
{
    Kinnet__V1__Offer offer = KINNET__V1__OFFER__INIT;
    offer.involvement = involvement;
    offer.referral_id = (char *) ctx->referral_id;
    offer.referring_agency_id = (char *) ctx->referrer;
    offer.urgency = (Kinnet__V1__Urgency) ctx->urgency;
    offer.district = (char *) ctx->district;
    offer.languages = s_split (ctx->languages, &offer.n_languages);
    offer.children = ctx->children;
    offer.details_available = details;
    Kinnet__V1__FeedEvent event = KINNET__V1__FEED_EVENT__INIT;
    event.body_case = KINNET__V1__FEED_EVENT__BODY_OFFER;
    event.offer = &offer;
    int rc = s_feed (self, involvement->agency_id, topic, ctx->case_id, &event, now, err);
    for (size_t i = 0; i < offer.n_languages; i++)
        free (offer.languages[i]);
    free (offer.languages);
    return rc;
}

//  Insert the offer row and tell the agency. ranking is consumed.
static int
s_make_offer (routing_store_t *self, const char *need_id, const need_context_t *ctx,
              const char *agency_id, Kinnet__V1__Ranking *ranking, const settings_t *settings,
              const char *transferred_from, int transfer_reason, int64_t now,
              char offer_id[KN_UUID_STR], kn_error_t *err)
{
    bool details = false;
    int rc = s_details_available (self, ctx->referral_id, agency_id, ctx->category, &details,
                                  err);
    char *ranked_by = rc ? NULL : s_bytea_param (&ranking->base);
    kinnet__v1__ranking__free_unpacked (ranking, NULL);
    if (rc)
        return -1;
    if (!*offer_id)
        kn_uuid_generate_ordered (offer_id);
    char rank[16], offered[24], deadline[24], reason[8];
    snprintf (rank, sizeof rank, "%d", 0);
    s_num (offered, sizeof offered, now);
    int urgency = ctx->urgency >= 1 && ctx->urgency <= 4 ? ctx->urgency : 1;
    s_num (deadline, sizeof deadline, now + settings->deadline[urgency]);
    snprintf (reason, sizeof reason, "%d", transfer_reason);
    const char *values[] = {offer_id, ctx->case_id, need_id, agency_id, rank, ranked_by,
                            details ? "false" : "true", offered, deadline, transferred_from,
                            transfer_reason ? reason : NULL};
    rc = s_do (self, "involvement_insert", 11, values, err);
    free (ranked_by);
    const char *status[] = {need_id, "offered", offered};
    const char *facts[] = {need_id, offered, deadline};
    if (rc || s_do (self, "need_set_status", 3, status, err)
        || s_do (self, "need_offered", 3, facts, err))
        return -1;
    Kinnet__V1__Involvement *involvement = s_load_involvement (self, offer_id, err);
    if (!involvement)
        return -1;
    rc = s_feed_offer (self, "offer.made", ctx, involvement, details, now, err);
    kinnet__v1__involvement__free_unpacked (involvement, NULL);
    kn_log (KN_INFO, "offer.made", "offer_id", offer_id, "case_id", ctx->case_id, "agency_id",
            agency_id, NULL);
    return rc;
}

//  Offer need_id to its best remaining candidate, or put it on the unplaced list
//  and tell the referrer. Called inside the caller's transaction. With quiet, a
//  need nobody can take is left as it is (a retry of the unplaced list).
static int
s_offer (routing_store_t *self, const char *need_id, int64_t now, bool quiet, bool *offered,
         kn_error_t *err)
{
    *offered = false;
    need_context_t ctx;
    settings_t settings;
    if (s_need_context (self, need_id, &ctx, err) || s_settings (self, &settings, err))
        return -1;
    if (ctx.urgency < 1 || ctx.urgency > 4)
        ctx.urgency = KINNET__V1__URGENCY__ROUTINE;
    Kinnet__V1__Ranking *ranking = malloc (sizeof *ranking);
    kinnet__v1__ranking__init (ranking);
    char agency[KN_UUID_STR] = "";

    //  Emergencies go to the district's child-protection lead first.
    if (ctx.urgency == KINNET__V1__URGENCY__EMERGENCY_SAFEGUARDING && settings.emergency_to_lead) {
        const char *values[] = {ctx.district, need_id, ctx.referrer};
        PGresult *result = s_run (self, "district_lead", 3, values, err);
        if (!result) {
            kinnet__v1__ranking__free_unpacked (ranking, NULL);
            return -1;
        }
        if (PQntuples (result) && !PQgetisnull (result, 0, 0)) {
            snprintf (agency, sizeof agency, "%s", PQgetvalue (result, 0, 0));
            ranking->rank = 1;
            ranking->candidates = 1;
            s_ranking_add (ranking, s_factor ("district_lead", 1,
                                              "emergency: the district's child-protection lead"));
        }
        PQclear (result);
    }
    if (!*agency) {
        char family_langs[420];
        snprintf (family_langs, sizeof family_langs, "{%s}", ctx.languages);
        char category[8];
        snprintf (category, sizeof category, "%d", ctx.category);
        const char *values[] = {category, ctx.district, need_id, ctx.family_id, family_langs,
                                ctx.referrer};
        PGresult *result = s_run (self, "candidates", 6, values, err);
        if (!result) {
            kinnet__v1__ranking__free_unpacked (ranking, NULL);
            return -1;
        }
        size_t count = (size_t) PQntuples (result);
        routing_candidate_t *candidates = calloc (count ? count : 1, sizeof *candidates);
        for (size_t i = 0; i < count; i++) {
            routing_candidate_t *c = &candidates[i];
            snprintf (c->agency_id, sizeof c->agency_id, "%s", PQgetvalue (result, (int) i, 0));
            c->continuity = (int) s_int (result, (int) i, 1);
            snprintf (c->language_match, sizeof c->language_match, "%s",
                      PQgetvalue (result, (int) i, 2));
            c->language = *c->language_match ? 2 : s_bool (result, (int) i, 3) && *ctx.languages;
            c->capacity = (int) s_int (result, (int) i, 4);
            c->load = (int) s_int (result, (int) i, 5);
            c->last_offered = s_int (result, (int) i, 6);
        }
        PQclear (result);
        size_t eligible = routing_rank (candidates, count, &settings.order);
        if (eligible > 0) {
            snprintf (agency, sizeof agency, "%s", candidates[0].agency_id);
            ranking->rank = 1;
            ranking->candidates = (int32_t) eligible;
            for (size_t r = 0; r < settings.order.count; r++) {
                char detail[96];
                int64_t score = routing_rank_score (&candidates[0], settings.order.rules[r],
                                                    detail, sizeof detail);
                s_ranking_add (ranking,
                               s_factor (routing_rule_name (settings.order.rules[r]), score, detail));
            }
        }
        free (candidates);
    }
    if (*agency) {
        char offer_id[KN_UUID_STR] = "";
        *offered = true;
        return s_make_offer (self, need_id, &ctx, agency, ranking, &settings, NULL, 0, now,
                             offer_id, err);
    }
    kinnet__v1__ranking__free_unpacked (ranking, NULL);
    if (quiet)
        return 0;

    char when[24];
    s_num (when, sizeof when, now);
    const char *status[] = {need_id, "unplaced", when};
    if (s_do (self, "need_set_status", 3, status, err))
        return -1;
    const char *case_id[] = {ctx.case_id};
    PGresult *result = s_run (self, "case_needs", 1, case_id, err);
    if (!result)
        return -1;
    int rc = 0;
    for (int row = 0; row < PQntuples (result) && rc == 0; row++) {
        if (strcmp (PQgetvalue (result, row, 0), need_id))
            continue;
        Kinnet__V1__CaseNeed *need = s_need_from_row (result, row);
        Kinnet__V1__FeedEvent event = KINNET__V1__FEED_EVENT__INIT;
        event.body_case = KINNET__V1__FEED_EVENT__BODY_NEED;
        event.need = need;
        rc = s_feed (self, ctx.referrer, "need.unplaced", ctx.case_id, &event, now, err);
        kinnet__v1__case_need__free_unpacked (need, NULL);
    }
    PQclear (result);
    kn_log (KN_WARN, "need.unplaced", "need_id", need_id, "case_id", ctx.case_id, NULL);
    return rc;
}

static int
s_offer_next (routing_store_t *self, const char *need_id, int64_t now, kn_error_t *err)
{
    bool offered;
    return s_offer (self, need_id, now, false, &offered, err);
}

//  -------------------------------------------------------------------------
//  Consuming the outbox

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

static int
s_route_referral (routing_store_t *self, const Kinnet__V1__ReferralReceived *event,
                  int64_t now, kn_error_t *err)
{
    const char *referral[] = {event->referral_id};
    int routed = s_exists (self, "referral_routed", 1, referral, err);
    if (routed)
        return routed < 0 ? -1 : 0;   // already routed: at-least-once delivery
    PGresult *result = s_run (self, "referral_info", 1, referral, err);
    if (!result)
        return -1;
    bool live = PQntuples (result) && strcmp (PQgetvalue (result, 0, 0), "received") == 0;
    PQclear (result);
    if (!live)
        return 0;   // withdrawn before it was routed: nothing to offer

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
            pos += (size_t) snprintf (languages + pos, sizeof languages - pos, "%s%s",
                                      pos > 1 ? "," : "", tag);
    }
    snprintf (languages + pos, sizeof languages - pos, "}");

    char case_id[KN_UUID_STR] = "";
    char when[24], urgency[8];
    s_num (when, sizeof when, now);
    snprintf (urgency, sizeof urgency, "%d", event->urgency);
    const char *family[] = {event->family_id};
    result = s_run (self, "case_open_for_family", 1, family, err);
    if (!result)
        return -1;
    if (PQntuples (result))
        snprintf (case_id, sizeof case_id, "%s", PQgetvalue (result, 0, 0));
    PQclear (result);
    bool joined = *case_id != '\0';
    if (joined) {
        const char *merge[] = {case_id, languages, urgency};
        if (s_do (self, "case_merge", 3, merge, err))
            return -1;
    }
    else {
        kn_uuid_generate_ordered (case_id);
        const char *values[]
            = {case_id, event->family_id, event->district, languages, urgency, when};
        if (s_do (self, "case_insert", 6, values, err))
            return -1;
    }
    //  Joining a case it had no part in shows a referrer only its own part.
    bool full_view = !joined || event->referrer_knows_family;
    const char *link[] = {event->referral_id, case_id, event->referring_agency_id, when,
                          full_view ? "true" : "false"};
    if (s_do (self, "case_referral_insert", 5, link, err))
        return -1;
    for (size_t i = 0; i < event->n_needs; i++) {
        char category[8];
        snprintf (category, sizeof category, "%d", event->needs[i]);
        const char *active[] = {case_id, category};
        int busy = s_exists (self, "need_active", 2, active, err);
        if (busy < 0)
            return -1;
        if (busy)
            continue;   // the family already has that need in hand on this case
        char need_id[KN_UUID_STR];
        kn_uuid_generate_ordered (need_id);
        const char *values[] = {need_id,  case_id, event->referral_id,         category,
                                urgency, when,    event->district,             event->referring_agency_id};
        if (s_do (self, "need_insert", 8, values, err) || s_offer_next (self, need_id, now, err))
            return -1;
    }
    kn_log (KN_INFO, "referral.routed", "referral_id", event->referral_id, "case_id", case_id,
            NULL);
    return s_audit (self, NULL, NULL, "route", event->family_id, event->referral_id, KN_OK, err);
}

static int
s_withdraw_referral (routing_store_t *self, const Kinnet__V1__ReferralWithdrawn *event,
                     int64_t now, kn_error_t *err)
{
    const char *referral[] = {event->referral_id};
    PGresult *needs = s_run (self, "needs_of_referral", 1, referral, err);
    if (!needs)
        return -1;
    char when[24];
    s_num (when, sizeof when, now);
    int rc = 0;
    for (int row = 0; row < PQntuples (needs) && rc == 0; row++) {
        const char *need[] = {PQgetvalue (needs, row, 0)};
        PGresult *offers = s_run (self, "open_offer_of_need", 1, need, err);
        if (!offers) {
            rc = -1;
            break;
        }
        for (int o = 0; o < PQntuples (offers) && rc == 0; o++) {
            const char *values[] = {PQgetvalue (offers, o, 0), "withdrawn", when, NULL, NULL};
            Kinnet__V1__Involvement *involvement = NULL;
            rc = s_do (self, "involvement_decide", 5, values, err);
            if (rc == 0 && !(involvement = s_load_involvement (self, values[0], err)))
                rc = -1;
            if (rc == 0)
                rc = s_feed_involvement (self, involvement->agency_id, "offer.withdrawn",
                                         involvement, now, err);
            if (involvement)
                kinnet__v1__involvement__free_unpacked (involvement, NULL);
        }
        PQclear (offers);
        const char *status[] = {need[0], "withdrawn", when};
        if (rc == 0)
            rc = s_do (self, "need_set_status", 3, status, err);
    }
    PQclear (needs);
    if (rc)
        return -1;
    //  The team and the referrers hear of the withdrawal; the case closes if
    //  nothing is left open on it.
    PGresult *result = s_run (self, "case_of_referral", 1, referral, err);
    if (!result)
        return -1;
    if (PQntuples (result)) {
        char case_id[KN_UUID_STR];
        snprintf (case_id, sizeof case_id, "%s", PQgetvalue (result, 0, 0));
        Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
        feed.body_case = KINNET__V1__FEED_EVENT__BODY_REFERRAL_WITHDRAWN;
        feed.referral_withdrawn = (Kinnet__V1__ReferralWithdrawn *) event;
        rc = s_feed_watchers (self, case_id, NULL, event->referring_agency_id, "referral.withdrawn",
                              &feed, now, err);
        if (rc == 0)
            rc = s_close_case_if_done (self, case_id, now, err);
    }
    PQclear (result);
    return rc;
}

//  A consent recorded may let waiting agencies read the referral; one withdrawn may
//  stop agencies that could. Re-decide for the subject's open offers and
//  involvements in the given state, and tell each agency whose answer changed.
static int
s_recheck_subject (routing_store_t *self, const char *subject_id, bool waiting, int64_t now,
                   kn_error_t *err)
{
    const char *values[] = {subject_id, waiting ? "true" : "false"};
    PGresult *rows = s_run (self, "waiting_for_subject", 2, values, err);
    if (!rows)
        return -1;
    int rc = 0;
    for (int row = 0; row < PQntuples (rows) && rc == 0; row++) {
        const char *id = PQgetvalue (rows, row, 0);
        bool available = false;
        rc = s_details_available (self, PQgetvalue (rows, row, 2), PQgetvalue (rows, row, 1),
                                  atoi (PQgetvalue (rows, row, 4)), &available, err);
        if (rc || available != waiting)
            continue;   // unchanged
        const char *update[] = {id, waiting ? "false" : "true"};
        Kinnet__V1__Involvement *involvement = NULL;
        need_context_t ctx;
        rc = s_do (self, "involvement_release", 2, update, err);
        if (rc == 0 && !(involvement = s_load_involvement (self, id, err)))
            rc = -1;
        if (rc == 0)
            rc = s_need_context (self, involvement->need_id, &ctx, err)
                 ?: s_feed_offer (self,
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
//  and skipped (it can never succeed); a database failure is returned.
static int
s_handle_event (routing_store_t *self, const char *topic, PGresult *row, int64_t now,
                kn_error_t *err)
{
    const ProtobufCMessageDescriptor *descriptor
        = strcmp (topic, "referral.received") == 0    ? &kinnet__v1__referral_received__descriptor
          : strcmp (topic, "referral.withdrawn") == 0 ? &kinnet__v1__referral_withdrawn__descriptor
          : strcmp (topic, "consent.recorded") == 0   ? &kinnet__v1__consent_recorded__descriptor
          : strcmp (topic, "consent.withdrawn") == 0  ? &kinnet__v1__consent_withdrawn__descriptor
          : strcmp (topic, "release.requested") == 0 || strcmp (topic, "release.decided") == 0
              ? &kinnet__v1__release_changed__descriptor
          : strcmp (topic, "override.requested") == 0 ? &kinnet__v1__override_requested__descriptor
                                                      : NULL;
    if (!descriptor)
        return 0;   // not for routing
    //  An event handled before (delivered again) only moves the cursor.
    const char *outbox_id[] = {PQgetvalue (row, 0, 1)};
    int fresh = s_exists (self, "consumed_mark", 1, outbox_id, err);
    if (fresh <= 0)
        return fresh;
    ProtobufCMessage *message = s_unpack_column (row, 0, 3, descriptor);
    if (!message) {
        kn_log (KN_ERROR, "outbox.undecodable", "topic", topic, "outbox_id",
                PQgetvalue (row, 0, 1), NULL);
        return 0;
    }
    int rc = 0;
    if (descriptor == &kinnet__v1__referral_received__descriptor)
        rc = s_route_referral (self, (Kinnet__V1__ReferralReceived *) message, now, err);
    else if (descriptor == &kinnet__v1__referral_withdrawn__descriptor)
        rc = s_withdraw_referral (self, (Kinnet__V1__ReferralWithdrawn *) message, now, err);
    else if (descriptor == &kinnet__v1__consent_recorded__descriptor)
        rc = s_recheck_subject (self, ((Kinnet__V1__ConsentRecorded *) message)->subject_id,
                                true, now, err);
    else if (descriptor == &kinnet__v1__override_requested__descriptor) {
        //  A safeguarding override shares without or against consent: every
        //  data-protection officer hears of it at once, to review it.
        PGresult *dpos = s_run (self, "dpo_agencies", 0, NULL, err);
        if (!dpos)
            rc = -1;
        for (int r = 0; dpos && r < PQntuples (dpos) && rc == 0; r++) {
            Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
            feed.body_case = KINNET__V1__FEED_EVENT__BODY_OVERRIDE_REQUESTED;
            feed.override_requested = (Kinnet__V1__OverrideRequested *) message;
            rc = s_feed (self, PQgetvalue (dpos, r, 0), topic, NULL, &feed, now, err);
        }
        PQclear (dpos);
    }
    else if (descriptor == &kinnet__v1__release_changed__descriptor) {
        //  Each copy is addressed to one party. An approval may let offers waiting
        //  for consent go ahead: re-decide once, on the requester's copy.
        Kinnet__V1__ReleaseChanged *release = (Kinnet__V1__ReleaseChanged *) message;
        if (release->status == KINNET__V1__RELEASE_STATUS__RELEASE_APPROVED
            && strcmp (release->recipient_agency_id, release->requested_by_agency_id) == 0)
            rc = s_recheck_subject (self, release->subject_id, true, now, err);
        if (rc == 0 && kn_uuid_valid (release->recipient_agency_id)) {
            Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
            feed.body_case = KINNET__V1__FEED_EVENT__BODY_RELEASE;
            feed.release = release;
            rc = s_feed (self, release->recipient_agency_id, topic, NULL, &feed, now, err);
        }
    }
    else {
        //  A withdrawal addressed to an agency goes to that agency's feed.
        Kinnet__V1__ConsentWithdrawn *withdrawn = (Kinnet__V1__ConsentWithdrawn *) message;
        //  One withdrawal is announced once per recipient and once to nobody: re-decide
        //  the subject's offers once, on the latter.
        if (!withdrawn->recipient_agency_id || !*withdrawn->recipient_agency_id)
            rc = s_recheck_subject (self, withdrawn->subject_id, false, now, err);
        if (withdrawn->recipient_agency_id && kn_uuid_valid (withdrawn->recipient_agency_id)) {
            Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
            feed.body_case = KINNET__V1__FEED_EVENT__BODY_CONSENT_WITHDRAWN;
            feed.consent_withdrawn = withdrawn;
            rc = s_feed (self, withdrawn->recipient_agency_id, "consent.withdrawn", NULL, &feed,
                         now, err);
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
        if (kn_db_exec (self->db, "BEGIN", err))
            return -1;
        PGresult *cursor = s_run (self, "cursor_lock", 0, NULL, err);
        if (!cursor || PQntuples (cursor) == 0) {
            PQclear (cursor);
            s_rollback (self);
            return cursor ? 0 : -1;   // another consumer holds the cursor
        }
        const char *position[] = {PQgetvalue (cursor, 0, 0), PQgetvalue (cursor, 0, 1)};
        PGresult *row = s_run (self, "outbox_next", 2, position, err);
        PQclear (cursor);
        if (!row || PQntuples (row) == 0) {
            PQclear (row);
            s_rollback (self);
            return row ? 0 : -1;
        }
        char topic[64];
        snprintf (topic, sizeof topic, "%s", PQgetvalue (row, 0, 2));
        const char *next[] = {PQgetvalue (row, 0, 0), PQgetvalue (row, 0, 1)};
        int rc = s_handle_event (self, topic, row, now, err);
        if (rc == 0)
            rc = s_do (self, "cursor_set", 2, next, err);
        PQclear (row);
        if (rc || kn_db_exec (self->db, "COMMIT", err)) {
            s_rollback (self);
            return -1;
        }
        (*handled)++;
    }
    return 0;
}

int
routing_store_outbox_lag (routing_store_t *self, int64_t *lag, kn_error_t *err)
{
    *lag = 0;
    if (kn_db_ensure (self->db, err))
        return -1;
    PGresult *result = s_run (self, "outbox_lag", 0, NULL, err);
    if (!result)
        return -1;
    if (PQntuples (result) > 0)
        *lag = atoll (PQgetvalue (result, 0, 0));
    PQclear (result);
    return 0;
}

//  -------------------------------------------------------------------------
//  Deadlines

static int
s_expire_one (routing_store_t *self, const char *offer_id, int64_t now, kn_error_t *err)
{
    char when[24];
    s_num (when, sizeof when, now);
    const char *values[] = {offer_id, "expired", when, NULL, NULL};
    if (s_do (self, "involvement_decide", 5, values, err))
        return -1;
    Kinnet__V1__Involvement *involvement = s_load_involvement (self, offer_id, err);
    if (!involvement)
        return -1;
    need_context_t ctx;
    settings_t settings;
    int rc = s_need_context (self, involvement->need_id, &ctx, err)
             ?: s_settings (self, &settings, err)
             ?: s_feed_involvement (self, involvement->agency_id, "offer.expired", involvement,
                                    now, err);
    if (rc == 0) {
        //  Escalation: the referrer always; the district's child-protection lead too
        //  from the configured urgency up.
        Kinnet__V1__Escalation escalation = KINNET__V1__ESCALATION__INIT;
        escalation.involvement = involvement;
        escalation.reason = "offer_expired";
        escalation.urgency = (Kinnet__V1__Urgency) ctx.urgency;
        Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
        feed.body_case = KINNET__V1__FEED_EVENT__BODY_ESCALATION;
        feed.escalation = &escalation;
        rc = s_feed (self, ctx.referrer, "escalation", ctx.case_id, &feed, now, err);
        if (rc == 0 && ctx.urgency >= settings.escalate_to_lead_from) {
            const char *lead_q[] = {ctx.district};
            PGresult *lead = s_run (self, "district_lead_any", 1, lead_q, err);
            if (!lead)
                rc = -1;
            else {
                if (PQntuples (lead) && strcmp (PQgetvalue (lead, 0, 0), ctx.referrer))
                    rc = s_feed (self, PQgetvalue (lead, 0, 0), "escalation", ctx.case_id, &feed,
                                 now, err);
                PQclear (lead);
            }
        }
    }
    if (rc == 0)
        rc = s_feed_watchers_involvement (self, involvement, involvement->agency_id, now, err);
    if (rc == 0)
        rc = s_offer_next (self, involvement->need_id, now, err);
    kn_log (KN_INFO, "offer.expired", "offer_id", offer_id, NULL);
    kinnet__v1__involvement__free_unpacked (involvement, NULL);
    return rc ?: s_audit (self, NULL, NULL, "expire", NULL, offer_id, KN_OK, err);
}

int
routing_store_expire (routing_store_t *self, int64_t now, int max, int *handled,
                      kn_error_t *err)
{
    *handled = 0;
    if (kn_db_ensure (self->db, err))
        return -1;
    char when[24];
    s_num (when, sizeof when, now);
    while (*handled < max) {
        if (kn_db_exec (self->db, "BEGIN", err))
            return -1;
        const char *values[] = {when};
        PGresult *due = s_run (self, "due_offer", 1, values, err);
        if (!due || PQntuples (due) == 0) {
            PQclear (due);
            s_rollback (self);
            return due ? 0 : -1;
        }
        char offer_id[KN_UUID_STR];
        snprintf (offer_id, sizeof offer_id, "%s", PQgetvalue (due, 0, 0));
        PQclear (due);
        if (s_expire_one (self, offer_id, now, err) || kn_db_exec (self->db, "COMMIT", err)) {
            s_rollback (self);
            return -1;
        }
        (*handled)++;
    }
    return 0;
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
        if (kn_db_exec (self->db, "BEGIN", err))
            return -1;
        const char *values[] = {since, last};
        PGresult *next = s_run (self, "unplaced_next", 2, values, err);
        if (!next || PQntuples (next) == 0) {
            PQclear (next);
            s_rollback (self);
            return next ? 0 : -1;
        }
        char need_id[KN_UUID_STR];
        snprintf (need_id, sizeof need_id, "%s", PQgetvalue (next, 0, 0));
        snprintf (since, sizeof since, "%s", PQgetvalue (next, 0, 1));
        snprintf (last, sizeof last, "%s", need_id);
        PQclear (next);
        bool offered = false;
        if (s_offer (self, need_id, now, true, &offered, err)
            || kn_db_exec (self->db, "COMMIT", err)) {
            s_rollback (self);
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
    s_num (when, sizeof when, now);
    const char *mark[] = {id, when};
    if (s_do (self, "contact_escalated", 2, mark, err))
        return -1;
    Kinnet__V1__Involvement *involvement = s_load_involvement (self, id, err);
    if (!involvement)
        return -1;
    need_context_t ctx;
    settings_t settings;
    int rc = s_need_context (self, involvement->need_id, &ctx, err)
             ?: s_settings (self, &settings, err);
    char recipients[4][KN_UUID_STR] = {"", "", "", ""};
    if (rc == 0) {
        snprintf (recipients[0], KN_UUID_STR, "%s", involvement->agency_id);
        snprintf (recipients[1], KN_UUID_STR, "%s", ctx.referrer);
        const char *case_id[] = {ctx.case_id};
        PGresult *lead = s_run (self, "case_lead_of", 1, case_id, err);
        if (!lead)
            rc = -1;
        else if (PQntuples (lead))
            snprintf (recipients[2], KN_UUID_STR, "%s", PQgetvalue (lead, 0, 0));
        PQclear (lead);
        if (rc == 0 && ctx.urgency >= settings.escalate_to_lead_from) {
            const char *district[] = {ctx.district};
            PGresult *district_lead = s_run (self, "district_lead_any", 1, district, err);
            if (!district_lead)
                rc = -1;
            else if (PQntuples (district_lead))
                snprintf (recipients[3], KN_UUID_STR, "%s", PQgetvalue (district_lead, 0, 0));
            PQclear (district_lead);
        }
    }
    Kinnet__V1__Escalation escalation = KINNET__V1__ESCALATION__INIT;
    escalation.involvement = involvement;
    escalation.reason = "first_contact_overdue";
    escalation.urgency = (Kinnet__V1__Urgency) ctx.urgency;
    Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
    feed.body_case = KINNET__V1__FEED_EVENT__BODY_ESCALATION;
    feed.escalation = &escalation;
    for (int r = 0; r < 4 && rc == 0; r++) {
        bool repeat = false;
        for (int q = 0; q < r; q++)
            repeat |= strcmp (recipients[q], recipients[r]) == 0;
        if (*recipients[r] && !repeat)
            rc = s_feed (self, recipients[r], "escalation", ctx.case_id, &feed, now, err);
    }
    kn_log (KN_INFO, "contact.overdue", "involvement_id", id, NULL);
    kinnet__v1__involvement__free_unpacked (involvement, NULL);
    return rc ?: s_audit (self, NULL, NULL, "contact_overdue", NULL, id, KN_OK, err);
}

int
routing_store_chase_contacts (routing_store_t *self, int64_t now, int max, int *handled,
                              kn_error_t *err)
{
    *handled = 0;
    if (kn_db_ensure (self->db, err))
        return -1;
    char when[24];
    s_num (when, sizeof when, now);
    while (*handled < max) {
        if (kn_db_exec (self->db, "BEGIN", err))
            return -1;
        const char *values[] = {when};
        PGresult *due = s_run (self, "contact_overdue", 1, values, err);
        if (!due || PQntuples (due) == 0) {
            PQclear (due);
            s_rollback (self);
            return due ? 0 : -1;
        }
        char id[KN_UUID_STR];
        snprintf (id, sizeof id, "%s", PQgetvalue (due, 0, 0));
        PQclear (due);
        if (s_chase_one (self, id, now, err) || kn_db_exec (self->db, "COMMIT", err)) {
            s_rollback (self);
            return -1;
        }
        (*handled)++;
    }
    return 0;
}

//  One ground that ran out: tell the agencies that received data on it, and put the
//  offers it released back to waiting. Inside the caller's transaction.
static int
s_end_ground (routing_store_t *self, PGresult *row, int64_t now, kn_error_t *err)
{
    const char *ground[] = {PQgetvalue (row, 0, 0)};
    PGresult *recipients = s_run (self, "ground_recipients", 1, ground, err);
    if (!recipients)
        return -1;
    Kinnet__V1__GroundEnded ended = KINNET__V1__GROUND_ENDED__INIT;
    ended.ground_id = PQgetvalue (row, 0, 0);
    ended.ground_kind = atoi (PQgetvalue (row, 0, 1));
    ended.subject_id = PQgetvalue (row, 0, 2);
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = s_int (row, 0, 3);
    ended.ended_at = &at;
    int rc = 0;
    for (int r = 0; r < PQntuples (recipients) && rc == 0; r++) {
        ended.recipient_agency_id = PQgetvalue (recipients, r, 0);
        Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
        feed.body_case = KINNET__V1__FEED_EVENT__BODY_GROUND_ENDED;
        feed.ground_ended = &ended;
        rc = s_feed (self, ended.recipient_agency_id, "ground.expired", NULL, &feed, now, err);
    }
    PQclear (recipients);
    return rc ?: s_recheck_subject (self, ended.subject_id, false, now, err);
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
    due.seconds = s_int (row, 0, 3);
    overdue.review_due_at = &due;
    Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
    feed.body_case = KINNET__V1__FEED_EVENT__BODY_OVERRIDE_REQUESTED;
    feed.override_requested = &overdue;
    const char *lead = PQgetvalue (row, 0, 4);
    PGresult *dpos = s_run (self, "dpo_agencies", 0, NULL, err);
    if (!dpos)
        return -1;
    int rc = 0;
    bool lead_told = !*lead;
    for (int r = 0; r < PQntuples (dpos) && rc == 0; r++) {
        lead_told |= strcmp (PQgetvalue (dpos, r, 0), lead) == 0;
        rc = s_feed (self, PQgetvalue (dpos, r, 0), "override.review_overdue", NULL, &feed, now,
                     err);
    }
    PQclear (dpos);
    if (rc == 0 && !lead_told)
        rc = s_feed (self, lead, "override.review_overdue", NULL, &feed, now, err);
    return rc;
}

int
routing_store_end_grounds (routing_store_t *self, int64_t now, int max, int *handled,
                           kn_error_t *err)
{
    *handled = 0;
    if (kn_db_ensure (self->db, err))
        return -1;
    static const char *kinds[][2] = {{"ground_expired", "expired"},
                                     {"review_overdue", "review_overdue"}};
    for (int k = 0; k < 2; k++)
        while (*handled < max) {
            if (kn_db_exec (self->db, "BEGIN", err))
                return -1;
            PGresult *row = s_run (self, kinds[k][0], 0, NULL, err);
            if (!row || PQntuples (row) == 0) {
                PQclear (row);
                s_rollback (self);
                if (!row)
                    return -1;
                break;
            }
            const char *claim[] = {PQgetvalue (row, 0, 0), kinds[k][1]};
            int fresh = s_exists (self, "ground_claim", 2, claim, err);
            int rc = fresh < 0 ? -1
                     : !fresh  ? 0
                     : k == 0  ? s_end_ground (self, row, now, err)
                               : s_escalate_review (self, row, now, err);
            PQclear (row);
            if (rc || kn_db_exec (self->db, "COMMIT", err)) {
                s_rollback (self);
                return -1;
            }
            (*handled)++;
        }
    return 0;
}

int64_t
routing_store_next_deadline (routing_store_t *self, int64_t now, int64_t cap)
{
    kn_error_t err;
    PGresult *result = s_run (self, "next_deadline", 0, NULL, &err);
    if (!result)
        return cap;
    int64_t next = s_int (result, 0, 0);
    PQclear (result);
    if (next == 0 || next - now > cap)
        return cap;
    return next > now ? next - now : 0;
}

//  -------------------------------------------------------------------------
//  Requests

static kn_claim_t
s_begin (routing_store_t *self, const char *agency_id, const char *key, const char *operation,
         const ProtobufCMessage *content, char object_id[KN_UUID_STR], kn_error_t *err)
{
    return kn_idempotency_begin (self->db, self->crypto, IDEM, agency_id, key, operation,
                                 content, object_id, err);
}

static const char *s_state_words[]
    = {"", "open", "already accepted", "already declined", "expired", "withdrawn",
       "transferred", "closed"};

//  Lock offer_id and check it is an open offer to agency_id, before its deadline.
static Kinnet__V1__Involvement *
s_open_offer (routing_store_t *self, const char *agency_id, const char *offer_id, int64_t now,
              kn_error_t *err)
{
    const char *values[] = {offer_id};
    if (s_exists (self, "involvement_lock", 1, values, err) < 0)
        return NULL;
    Kinnet__V1__Involvement *offer = s_load_involvement (self, offer_id, err);
    if (offer && strcmp (offer->agency_id, agency_id)) {
        //  Someone else's offer is not visible: the same answer as no offer.
        kinnet__v1__involvement__free_unpacked (offer, NULL);
        kn_error_clear (err);
        kn_error_set (err, KN_E_NOT_FOUND, "offer_id", "no such offer for your agency");
        return NULL;
    }
    if (offer && offer->status != KINNET__V1__INVOLVEMENT_STATUS__OFFERED) {
        kn_error_set (err, KN_E_CONFLICT, "offer_id", "the offer is %s",
                      s_state_words[offer->status < 8 ? offer->status : 0]);
        kinnet__v1__involvement__free_unpacked (offer, NULL);
        return NULL;
    }
    if (offer && offer->deadline_at && offer->deadline_at->seconds <= now) {
        kn_error_set (err, KN_E_CONFLICT, "offer_id", "the offer's deadline has passed");
        kinnet__v1__involvement__free_unpacked (offer, NULL);
        return NULL;
    }
    return offer;
}

//  Finish a write: audit, commit, and load what to answer with.
static int
s_commit (routing_store_t *self, const char *agency_id, const char *caseworker,
          const char *operation, const char *object_id, Kinnet__V1__Involvement **result,
          kn_error_t *err)
{
    if (s_audit (self, agency_id, caseworker, operation, NULL, object_id, KN_OK, err)
        || kn_db_exec (self->db, "COMMIT", err)) {
        s_rollback (self);
        return -1;
    }
    if (result && !(*result = s_load_involvement (self, object_id, err)))
        return -1;
    return 0;
}

static int
s_replay (routing_store_t *self, kn_claim_t claim, const char *object_id,
          Kinnet__V1__Involvement **result, bool *replayed, kn_error_t *err)
{
    if (claim == KN_CLAIM_FAILED)
        return -1;
    *replayed = true;
    *result = s_load_involvement (self, object_id, err);
    return *result ? 0 : -1;
}

//  The ledger of case operations names the case; a replay answers with the
//  involvement the first request changed.
static int
s_replay_on_case (routing_store_t *self, kn_claim_t claim, const char *operation,
                  const char *case_id, const char *agency_id, int need,
                  Kinnet__V1__Involvement **result, bool *replayed, kn_error_t *err)
{
    if (claim == KN_CLAIM_FAILED)
        return -1;
    *replayed = true;
    char category[8];
    snprintf (category, sizeof category, "%d", need);
    const char *values[] = {case_id, agency_id, category, operation};
    PGresult *found = s_run (self, "replay_on_case", 4, values, err);
    if (!found)
        return -1;
    if (PQntuples (found))
        *result = s_load_involvement (self, PQgetvalue (found, 0, 0), err);
    PQclear (found);
    return *result ? 0 : kn_error_set (err, KN_E_INTERNAL, NULL, "replayed change not found");
}

//  Accept or decline an open offer: one path, so both keep the same checks.
static int
s_decide (routing_store_t *self, const char *agency_id, int64_t now,
          const ProtobufCMessage *request, const char *key, const char *offer_id, bool accept,
          int reason, const char *caseworker, Kinnet__V1__Involvement **result, bool *replayed,
          kn_error_t *err)
{
    *result = NULL;
    *replayed = false;
    const char *operation = accept ? "accept" : "decline";
    char object[KN_UUID_STR];
    snprintf (object, sizeof object, "%s", offer_id);
    kn_claim_t claim = s_begin (self, agency_id, key, operation, request, object, err);
    if (claim != KN_CLAIM_NEW)
        return s_replay (self, claim, object, result, replayed, err);
    Kinnet__V1__Involvement *offer = s_open_offer (self, agency_id, offer_id, now, err);
    char when[24], reason_text[8];
    s_num (when, sizeof when, now);
    snprintf (reason_text, sizeof reason_text, "%d", reason);
    const char *decide[] = {offer_id, accept ? "accepted" : "declined", when,
                            accept ? NULL : reason_text, *caseworker ? caseworker : NULL};
    const char *placed[] = {offer ? offer->need_id : "", "placed", when};
    const char *accepted[] = {offer ? offer->need_id : "", when};
    int rc = !offer || s_do (self, "involvement_decide", 5, decide, err)
                     || (accept && (s_do (self, "need_set_status", 3, placed, err)
                                    || s_do (self, "need_accepted", 2, accepted, err)))
                 ? -1
                 : 0;
    if (rc == 0 && accept) {
        //  From acceptance, the agency has its urgency's time to contact the family.
        need_context_t ctx;
        settings_t settings;
        rc = s_need_context (self, offer->need_id, &ctx, err) ?: s_settings (self, &settings, err);
        if (rc == 0) {
            int urgency = ctx.urgency >= 1 && ctx.urgency <= 4 ? ctx.urgency : 1;
            char due[24];
            s_num (due, sizeof due, now + settings.contact[urgency]);
            const char *values[] = {offer_id, due};
            rc = s_do (self, "involvement_contact_due", 2, values, err);
        }
    }
    if (rc == 0) {
        rc = s_announce (self, offer_id, agency_id, now, err);
        //  A decline moves the need on to the next candidate.
        if (rc == 0 && !accept)
            rc = s_offer_next (self, offer->need_id, now, err);
    }
    if (offer)
        kinnet__v1__involvement__free_unpacked (offer, NULL);
    if (rc) {
        s_rollback (self);
        return -1;
    }
    kn_log (KN_INFO, accept ? "offer.accepted" : "offer.declined", "offer_id", offer_id, NULL);
    return s_commit (self, agency_id, caseworker, operation, offer_id, result, err);
}

int
routing_store_accept (routing_store_t *self, const char *agency_id, int64_t now,
                      const Kinnet__V1__AcceptOffer *request, Kinnet__V1__Involvement **result,
                      bool *replayed, kn_error_t *err)
{
    Kinnet__V1__AcceptOffer content = *request;   // the caseworker is for the audit only
    content.caseworker_id = "";
    return s_decide (self, agency_id, now, &content.base, request->idempotency_key,
                     request->offer_id, true, 0, request->caseworker_id, result, replayed, err);
}

int
routing_store_decline (routing_store_t *self, const char *agency_id, int64_t now,
                       const Kinnet__V1__DeclineOffer *request, Kinnet__V1__Involvement **result,
                       bool *replayed, kn_error_t *err)
{
    Kinnet__V1__DeclineOffer content = *request;
    content.caseworker_id = "";
    return s_decide (self, agency_id, now, &content.base, request->idempotency_key,
                     request->offer_id, false, request->reason, request->caseworker_id, result,
                     replayed, err);
}

//  Lock and return the caller's accepted involvement on case_id (for need when
//  given). NULL with NOT_FOUND, or INVALID_ARGUMENT when need is needed to choose.
static Kinnet__V1__Involvement *
s_my_involvement (routing_store_t *self, const char *agency_id, const char *case_id, int need,
                  kn_error_t *err)
{
    char category[8];
    snprintf (category, sizeof category, "%d", need);
    const char *values[] = {case_id, agency_id, category};
    PGresult *result = s_run (self, "involvement_mine", 3, values, err);
    if (!result)
        return NULL;
    int rows = PQntuples (result);
    char id[KN_UUID_STR] = "";
    if (rows == 1)
        snprintf (id, sizeof id, "%s", PQgetvalue (result, 0, 0));
    PQclear (result);
    if (rows == 0) {
        kn_error_set (err, KN_E_NOT_FOUND, need ? "need" : "case_id",
                      need ? "your agency has no accepted involvement for that need on this case"
                           : "your agency has no accepted involvement on this case");
        return NULL;
    }
    if (rows > 1) {
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "need",
                      "your agency holds several needs on this case: say which");
        return NULL;
    }
    return s_load_involvement (self, id, err);
}

//  After agency_id's involvement ended: clear the lead if it was theirs and they
//  hold no other, and close the case when nothing is left open on it.
static int
s_after_end (routing_store_t *self, const char *case_id, const char *agency_id, int64_t now,
             kn_error_t *err)
{
    const char *values[] = {case_id, agency_id};
    int cleared = s_exists (self, "case_clear_lead_of", 2, values, err);
    if (cleared < 0)
        return -1;
    if (cleared) {
        Kinnet__V1__LeadChanged lead = KINNET__V1__LEAD_CHANGED__INIT;
        lead.case_id = (char *) case_id;
        lead.lead_agency_id = "";
        lead.lead_caseworker_id = "";
        lead.changed_by_agency_id = (char *) agency_id;
        Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
        feed.body_case = KINNET__V1__FEED_EVENT__BODY_LEAD;
        feed.lead = &lead;
        if (s_feed_watchers (self, case_id, NULL, NULL, "lead.changed", &feed, now, err))
            return -1;
    }
    return s_close_case_if_done (self, case_id, now, err);
}

int
routing_store_contact (routing_store_t *self, const char *agency_id, int64_t now,
                       const Kinnet__V1__RecordContact *request, Kinnet__V1__Involvement **result,
                       bool *replayed, kn_error_t *err)
{
    *result = NULL;
    *replayed = false;
    char object[KN_UUID_STR];
    snprintf (object, sizeof object, "%s", request->case_id);
    Kinnet__V1__RecordContact content = *request;
    content.caseworker_id = "";
    kn_claim_t claim = s_begin (self, agency_id, request->idempotency_key, "contact",
                                &content.base, object, err);
    if (claim != KN_CLAIM_NEW)
        return s_replay_on_case (self, claim, "contact", object, agency_id, request->need,
                                 result, replayed, err);
    Kinnet__V1__Involvement *mine
        = s_my_involvement (self, agency_id, request->case_id, request->need, err);
    int64_t at = request->contacted_at ? request->contacted_at->seconds : now;
    int rc = mine ? 0 : -1;
    if (rc == 0 && mine->first_contact_at)
        rc = kn_error_set (err, KN_E_CONFLICT, "case_id", "first contact is already recorded");
    else if (rc == 0 && (at > now + 300 || (mine->decided_at && at < mine->decided_at->seconds)))
        rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, "contacted_at",
                           "first contact must lie between the acceptance and now");
    if (rc == 0) {
        char when[24];
        s_num (when, sizeof when, at);
        const char *values[] = {mine->involvement_id, when,
                                *request->caseworker_id ? request->caseworker_id : NULL};
        const char *facts[] = {mine->involvement_id, when};
        rc = s_do (self, "involvement_contact", 3, values, err)
             ?: s_do (self, "need_contacted", 2, facts, err)
             ?: s_announce (self, mine->involvement_id, agency_id, now, err);
        snprintf (object, sizeof object, "%s", mine->involvement_id);
    }
    if (mine)
        kinnet__v1__involvement__free_unpacked (mine, NULL);
    if (rc) {
        s_rollback (self);
        return -1;
    }
    return s_commit (self, agency_id, request->caseworker_id, "contact", object, result, err);
}

int
routing_store_transfer (routing_store_t *self, const char *agency_id, int64_t now,
                        const Kinnet__V1__TransferInvolvement *request,
                        Kinnet__V1__Involvement **result, bool *replayed, kn_error_t *err)
{
    *result = NULL;
    *replayed = false;
    //  The ledger names the offer the transfer makes, so a retry answers with it.
    char new_offer[KN_UUID_STR];
    kn_uuid_generate_ordered (new_offer);
    char object[KN_UUID_STR];
    snprintf (object, sizeof object, "%s", new_offer);
    Kinnet__V1__TransferInvolvement content = *request;
    content.caseworker_id = "";
    kn_claim_t claim = s_begin (self, agency_id, request->idempotency_key, "transfer",
                                &content.base, object, err);
    if (claim != KN_CLAIM_NEW)
        return s_replay (self, claim, object, result, replayed, err);
    int rc = 0;
    if (strcasecmp (request->to_agency_id, agency_id) == 0)
        rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, "to_agency_id",
                           "transfer to another agency");
    const char *target[] = {request->to_agency_id};
    if (rc == 0) {
        int active = s_exists (self, "agency_active", 1, target, err);
        if (active == 0)
            rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, "to_agency_id",
                               "no such active agency");
        else if (active < 0)
            rc = -1;
    }
    const char *lock[] = {request->case_id};
    if (rc == 0 && s_exists (self, "case_lock", 1, lock, err) < 0)
        rc = -1;
    Kinnet__V1__Involvement *mine
        = rc ? NULL : s_my_involvement (self, agency_id, request->case_id, request->need, err);
    if (rc == 0 && !mine)
        rc = -1;
    char when[24], reason[8];
    s_num (when, sizeof when, now);
    snprintf (reason, sizeof reason, "%d", request->reason);
    if (rc == 0) {
        const char *end[] = {mine->involvement_id, "transferred", when, NULL,
                             request->to_agency_id, reason};
        rc = s_do (self, "involvement_end", 6, end, err);
    }
    need_context_t ctx;
    settings_t settings;
    if (rc == 0)
        rc = s_need_context (self, mine->need_id, &ctx, err) ?: s_settings (self, &settings, err);
    if (rc == 0)
        rc = s_announce (self, mine->involvement_id, agency_id, now, err);
    if (rc == 0) {
        Kinnet__V1__Ranking *ranking = malloc (sizeof *ranking);
        kinnet__v1__ranking__init (ranking);
        ranking->rank = 1;
        ranking->candidates = 1;
        char detail[96];
        snprintf (detail, sizeof detail, "transferred by agency %s", agency_id);
        s_ranking_add (ranking, s_factor ("transfer", 1, detail));
        rc = s_make_offer (self, mine->need_id, &ctx, request->to_agency_id, ranking, &settings,
                           mine->involvement_id, request->reason, now, new_offer, err)
             ?: s_after_end (self, request->case_id, agency_id, now, err);
    }
    if (mine)
        kinnet__v1__involvement__free_unpacked (mine, NULL);
    if (rc) {
        s_rollback (self);
        return -1;
    }
    return s_commit (self, agency_id, request->caseworker_id, "transfer", new_offer, result, err);
}

int
routing_store_close (routing_store_t *self, const char *agency_id, int64_t now,
                     const Kinnet__V1__CloseInvolvement *request, Kinnet__V1__Involvement **result,
                     bool *replayed, kn_error_t *err)
{
    *result = NULL;
    *replayed = false;
    char object[KN_UUID_STR];
    snprintf (object, sizeof object, "%s", request->case_id);
    Kinnet__V1__CloseInvolvement content = *request;
    content.caseworker_id = "";
    kn_claim_t claim = s_begin (self, agency_id, request->idempotency_key, "close",
                                &content.base, object, err);
    if (claim != KN_CLAIM_NEW)
        return s_replay_on_case (self, claim, "close", object, agency_id, request->need, result,
                                 replayed, err);
    const char *lock[] = {request->case_id};
    int rc = s_exists (self, "case_lock", 1, lock, err) < 0 ? -1 : 0;
    Kinnet__V1__Involvement *mine
        = rc ? NULL : s_my_involvement (self, agency_id, request->case_id, request->need, err);
    if (!mine)
        rc = -1;
    char when[24], outcome[8];
    s_num (when, sizeof when, now);
    snprintf (outcome, sizeof outcome, "%d", request->outcome);
    if (rc == 0) {
        const char *end[] = {mine->involvement_id, "closed", when, outcome, NULL, NULL};
        const char *status[] = {mine->need_id, "closed", when};
        rc = s_do (self, "involvement_end", 6, end, err)
             ?: s_do (self, "need_set_status", 3, status, err);
        snprintf (object, sizeof object, "%s", mine->involvement_id);
    }
    if (rc == 0)
        rc = s_announce (self, mine->involvement_id, agency_id, now, err)
             ?: s_after_end (self, request->case_id, agency_id, now, err);
    if (mine)
        kinnet__v1__involvement__free_unpacked (mine, NULL);
    if (rc) {
        s_rollback (self);
        return -1;
    }
    kn_log (KN_INFO, "involvement.closed", "involvement_id", object, NULL);
    return s_commit (self, agency_id, request->caseworker_id, "close", object, result, err);
}

//  'team', 'offer' or '' (no access) for agency on case_id.
static int
s_case_access (routing_store_t *self, const char *case_id, const char *agency_id, char out[8],
               kn_error_t *err)
{
    const char *values[] = {case_id, agency_id};
    PGresult *result = s_run (self, "case_access", 2, values, err);
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
    PGresult *row = s_run (self, "case_get", 1, values, err);
    if (!row)
        return -1;
    if (PQntuples (row) == 0) {
        PQclear (row);
        return kn_error_set (err, KN_E_NOT_FOUND, "case_id", "no such case visible to you");
    }
    Kinnet__V1__Case *out = malloc (sizeof *out);
    kinnet__v1__case__init (out);
    out->case_id = kn_pb_string (PQgetvalue (row, 0, 0));
    out->family_id = kn_pb_string (PQgetvalue (row, 0, 1));
    out->status = strcmp (PQgetvalue (row, 0, 2), "open") == 0 ? KINNET__V1__CASE_STATUS__CASE_OPEN
                                                               : KINNET__V1__CASE_STATUS__CASE_CLOSED;
    out->district = kn_pb_string (PQgetvalue (row, 0, 3));
    out->languages = s_split (PQgetvalue (row, 0, 4), &out->n_languages);
    out->urgency = (Kinnet__V1__Urgency) s_int (row, 0, 5);
    if (!only_agency && !part_of) {
        out->lead_agency_id = kn_pb_string (PQgetvalue (row, 0, 6));
        out->lead_caseworker_id = kn_pb_string (PQgetvalue (row, 0, 7));
        out->lead_since = kn_pb_timestamp (s_int (row, 0, 8));
    }
    out->opened_at = kn_pb_timestamp (s_int (row, 0, 9));
    out->closed_at = kn_pb_timestamp (s_int (row, 0, 10));
    PQclear (row);

    const char *inv_values[] = {case_id, only_agency, part_of};
    const char *ref_values[] = {case_id, part_of};
    PGresult *involvements = s_run (self, "case_involvements", 3, inv_values, err);
    PGresult *needs = involvements ? s_run (self, "case_needs", 1, values, err) : NULL;
    PGresult *referrals = needs && !only_agency
                              ? s_run (self, "case_referrals", 2, ref_values, err)
                              : NULL;
    if (!involvements || !needs || (!only_agency && !referrals)) {
        PQclear (involvements);
        PQclear (needs);
        kinnet__v1__case__free_unpacked (out, NULL);
        return -1;
    }
    int n = PQntuples (involvements);
    out->involvements = calloc ((size_t) n + 1, sizeof (Kinnet__V1__Involvement *));
    for (int i = 0; i < n; i++)
        out->involvements[out->n_involvements++] = s_involvement_from_row (involvements, i);
    n = PQntuples (needs);
    out->needs = calloc ((size_t) n + 1, sizeof (Kinnet__V1__CaseNeed *));
    for (int i = 0; i < n; i++) {
        //  An agency that only holds an offer sees only the needs it was offered; a
        //  referrer with its part, the needs of its own referrals.
        Kinnet__V1__CaseNeed *need = s_need_from_row (needs, i);
        bool visible = !only_agency && !part_of;
        for (size_t j = 0; only_agency && j < out->n_involvements && !visible; j++)
            visible = strcmp (out->involvements[j]->need_id, need->need_id) == 0;
        for (int j = 0; part_of && referrals && j < PQntuples (referrals) && !visible; j++)
            visible = strcmp (PQgetvalue (referrals, j, 0), need->referral_id) == 0;
        if (visible)
            out->needs[out->n_needs++] = need;
        else
            kinnet__v1__case_need__free_unpacked (need, NULL);
    }
    if (referrals) {
        n = PQntuples (referrals);
        out->referral_ids = calloc ((size_t) n + 1, sizeof (char *));
        for (int i = 0; i < n; i++)
            out->referral_ids[out->n_referral_ids++] = kn_pb_string (PQgetvalue (referrals, i, 0));
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
    if (kn_db_ensure (self->db, err) || s_case_access (self, case_id, agency_id, access, err))
        return -1;
    if (!*access)
        return kn_error_set (err, KN_E_NOT_FOUND, "case_id", "no such case visible to you");
    return s_load_case (self, case_id, strcmp (access, "offer") == 0 ? agency_id : NULL,
                        strcmp (access, "part") == 0 ? agency_id : NULL, result, err);
}

int
routing_store_lead (routing_store_t *self, const char *agency_id, int64_t now,
                    const Kinnet__V1__AppointLead *request, Kinnet__V1__Case **result,
                    bool *replayed, kn_error_t *err)
{
    *result = NULL;
    *replayed = false;
    char object[KN_UUID_STR];
    snprintf (object, sizeof object, "%s", request->case_id);
    Kinnet__V1__AppointLead content = *request;
    content.caseworker_id = "";
    kn_claim_t claim = s_begin (self, agency_id, request->idempotency_key, "lead",
                                &content.base, object, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    if (claim == KN_CLAIM_REPLAY) {
        *replayed = true;
        return routing_store_get_case (self, agency_id, object, result, err);
    }
    char access[8] = "";
    const char *lock[] = {request->case_id};
    PGresult *status = s_case_access (self, request->case_id, agency_id, access, err)
                           ? NULL
                           : s_run (self, "case_lock", 1, lock, err);
    int rc = status ? 0 : -1;
    if (rc == 0 && (!*access || PQntuples (status) == 0))
        rc = kn_error_set (err, KN_E_NOT_FOUND, "case_id", "no such case visible to you");
    else if (rc == 0 && strcmp (access, "team"))
        rc = kn_error_set (err, KN_E_PERMISSION_DENIED, "case_id",
                           "only the case's referrers, its team and coordinators appoint a lead");
    else if (rc == 0 && strcmp (PQgetvalue (status, 0, 0), "open"))
        rc = kn_error_set (err, KN_E_CONFLICT, "case_id", "the case is closed");
    PQclear (status);
    if (rc == 0) {
        const char *on_case[] = {request->case_id, request->agency_id};
        int accepted = s_exists (self, "accepted_on_case", 2, on_case, err);
        if (accepted == 0)
            rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, "agency_id",
                               "the lead must be an agency that has accepted a need on this case");
        else if (accepted < 0)
            rc = -1;
    }
    if (rc == 0) {
        char when[24];
        s_num (when, sizeof when, now);
        const char *values[] = {request->case_id, request->agency_id,
                                *request->lead_caseworker_id ? request->lead_caseworker_id : NULL,
                                when};
        rc = s_do (self, "case_set_lead", 4, values, err);
    }
    if (rc == 0) {
        Kinnet__V1__LeadChanged lead = KINNET__V1__LEAD_CHANGED__INIT;
        lead.case_id = request->case_id;
        lead.lead_agency_id = request->agency_id;
        lead.lead_caseworker_id = request->lead_caseworker_id;
        lead.changed_by_agency_id = (char *) agency_id;
        Kinnet__V1__FeedEvent feed = KINNET__V1__FEED_EVENT__INIT;
        feed.body_case = KINNET__V1__FEED_EVENT__BODY_LEAD;
        feed.lead = &lead;
        rc = s_feed_watchers (self, request->case_id, NULL, NULL, "lead.changed", &feed, now,
                              err);
    }
    if (rc || s_commit (self, agency_id, request->caseworker_id, "lead", request->case_id, NULL,
                        err)) {
        s_rollback (self);
        return -1;
    }
    kn_log (KN_INFO, "case.lead", "case_id", request->case_id, "agency_id", request->agency_id,
            NULL);
    return s_load_case (self, request->case_id, NULL, NULL, result, err);
}

int
routing_store_unplaced (routing_store_t *self, const char *agency_id, const char *district,
                        Kinnet__V1__CaseNeedList **result, kn_error_t *err)
{
    *result = NULL;
    if (kn_db_ensure (self->db, err))
        return -1;
    const char *role[] = {agency_id};
    int coordinator = s_exists (self, "is_coordinator", 1, role, err);
    if (coordinator < 0)
        return -1;
    const char *values[] = {district ? district : "", coordinator ? "true" : "false", agency_id};
    PGresult *rows = s_run (self, "unplaced", 3, values, err);
    if (!rows)
        return -1;
    Kinnet__V1__CaseNeedList *out = malloc (sizeof *out);
    kinnet__v1__case_need_list__init (out);
    int n = PQntuples (rows);
    out->needs = calloc ((size_t) n + 1, sizeof (Kinnet__V1__CaseNeed *));
    for (int i = 0; i < n; i++)
        out->needs[out->n_needs++] = s_need_from_row (rows, i);
    PQclear (rows);
    *result = out;
    return 0;
}

int
routing_store_feed_read (routing_store_t *self, const char *agency_id, int64_t after, int max,
                         Kinnet__V1__FeedBatch **result, kn_error_t *err)
{
    *result = NULL;
    if (kn_db_ensure (self->db, err))
        return -1;
    char after_text[24], max_text[16];
    s_num (after_text, sizeof after_text, after);
    snprintf (max_text, sizeof max_text, "%d", max);
    const char *values[] = {agency_id, after_text, max_text};
    PGresult *rows = s_run (self, "feed_read", 3, values, err);
    PGresult *head = rows ? s_run (self, "feed_head", 1, values, err) : NULL;
    if (!head) {
        PQclear (rows);
        return -1;
    }
    Kinnet__V1__FeedBatch *out = malloc (sizeof *out);
    kinnet__v1__feed_batch__init (out);
    out->last_seq = s_int (head, 0, 0);
    PQclear (head);
    int n = PQntuples (rows);
    out->events = calloc ((size_t) n + 1, sizeof (Kinnet__V1__FeedEvent *));
    for (int i = 0; i < n; i++) {
        Kinnet__V1__FeedEvent *event = (Kinnet__V1__FeedEvent *) s_unpack_column (
            rows, i, 0, &kinnet__v1__feed_event__descriptor);
        if (event)
            out->events[out->n_events++] = event;
    }
    PQclear (rows);
    *result = out;
    return 0;
}
