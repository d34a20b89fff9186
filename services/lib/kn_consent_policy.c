/*  kn_consent_policy: consent, statutory basis or override, per category. */
#include "kn_consent_policy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinnet/v1/consent.pb-c.h"
#include "kn_clock.h"
#include "kn_config.h"
#include "kn_subject.h"
#include "kn_alloc.h"

//  A recipient matches a withdrawal naming the agency or its sector now (a withdrawal
//  is never narrowed); a grant naming the agency, or its sector if it was in that
//  sector when the grant was recorded and still is (sector_members).
#define RECIPIENT(t) "($2::uuid = ANY (" t ".recipient_agencies) OR $3::smallint = ANY (" t ".recipient_sectors))"
#define GRANTEE(t)                                                                         \
    "($2::uuid = ANY (" t ".recipient_agencies) OR ($3::smallint = ANY (" t                \
    ".recipient_sectors) AND $2::uuid = ANY (" t ".sector_members)))"
//  Whether the ground was decided by the data's controller ($6): recorded by it or
//  by a data-protection officer, or released by an approved request (a consent
//  also when the controller made a referral resting on it). $6 NULL: the caller is
//  the controller deciding about its own data (a referral being made).
#define DECIDED(t, recorder, kind)                                                         \
    "($6::uuid IS NULL OR " t "." recorder " = $6::uuid OR " t ".by_dpo"                   \
    " OR EXISTS (SELECT 1 FROM consent.release l WHERE l.ground_id = " t ".id"              \
    "  AND l.ground_kind = " kind " AND l.controller_id = $6::uuid AND l.status = 2))"

static const char *s_statements[][2] = {
    {"kn_policy_share", "SELECT 1 FROM core.subject WHERE id = $1 FOR SHARE"},
    {"kn_policy_exclusive", "SELECT 1 FROM core.subject WHERE id = $1 FOR UPDATE"},
    {"kn_policy_agency", "SELECT sector, active FROM core.agency WHERE id = $1"},
    {"kn_policy_consents",
     "SELECT c.cat, r.id, r.given_by,"
     " EXISTS (SELECT 1 FROM consent.withdrawal w WHERE w.consent_id = r.id"
     "  AND ((cardinality (w.recipient_agencies) = 0 AND cardinality (w.recipient_sectors) = 0)"
     "       OR " RECIPIENT ("w") ")"
     "  AND (cardinality (w.categories) = 0 OR c.cat = ANY (w.categories))"
     "  AND (cardinality (w.purposes) = 0 OR $5::smallint = ANY (w.purposes))),"
     " (" DECIDED ("r", "recorded_by", "1")
     "  OR EXISTS (SELECT 1 FROM intake.referral ir WHERE ir.consent_id = r.id"
     "   AND ir.referring_agency_id = $6::uuid))"
     " FROM unnest ($4::smallint[]) AS c (cat)"
     " JOIN consent.record r ON r.subject_id = $1"
     "  AND r.valid_from <= to_timestamp ($7::bigint)"
     "  AND (r.valid_until IS NULL OR r.valid_until > to_timestamp ($7::bigint))"
     "  AND " GRANTEE ("r") " AND c.cat = ANY (r.categories) AND $5::smallint = ANY (r.purposes)"
     " ORDER BY c.cat, r.recorded_at"},
    {"kn_policy_bases",
     "SELECT c.cat, b.id, b.basis, b.special_condition, " DECIDED ("b", "recorded_by", "2")
     " FROM unnest ($4::smallint[]) AS c (cat)"
     " JOIN consent.basis b ON b.subject_id = $1 AND b.ended_at IS NULL"
     "  AND b.valid_from <= to_timestamp ($7::bigint)"
     "  AND (b.valid_until IS NULL OR b.valid_until > to_timestamp ($7::bigint))"
     "  AND " GRANTEE ("b") " AND c.cat = ANY (b.categories) AND $5::smallint = ANY (b.purposes)"
     " ORDER BY c.cat, b.recorded_at"},
    {"kn_policy_overrides",
     "SELECT c.cat, o.id, " DECIDED ("o", "requested_by", "3") " FROM unnest ($4::smallint[]) AS c (cat)"
     " JOIN consent.override o ON o.subject_id = $1 AND o.expires_at > to_timestamp ($7::bigint)"
     "  AND (o.review_decision IS NULL OR o.review_decision <> 2)"
     "  AND $5::smallint >= 0 AND " GRANTEE ("o") " AND c.cat = ANY (o.categories)"
     " ORDER BY c.cat, o.requested_at"},
    {"kn_policy_need_categories",
     "SELECT coalesce (m.category, 7) FROM unnest ($1::smallint[]) WITH ORDINALITY AS u (need, i)"
     " LEFT JOIN core.need_data_category m ON m.need = u.need ORDER BY u.i"},
    {"kn_policy_disclose",
     "INSERT INTO core.disclosure (subject_id, recipient_id, categories, purpose, basis,"
     " ground_id, service, object_id) VALUES ($1, $2, $3::smallint[], $4, $5, $6, $7, $8)"},
};

kn_policy_config_t
kn_consent_policy_config (void)
{
    kn_policy_config_t config;
    long age = kn_config_int ("KINNET_CONSENT_CHILD_AGE", 13);
    config.child_age = (age >= 0 && age <= 18) ? (int) age : 13;
    const char *rule = kn_config_str ("KINNET_CONSENT_DISAGREEMENT", "child");
    config.disagreement = strcmp (rule, "both") == 0 ? KN_DISAGREE_BOTH : KN_DISAGREE_CHILD;
    return config;
}

int
kn_consent_policy_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

static int
s_lock (kn_db_t *db, const char *statement, const char *subject_id, kn_error_t *err)
{
    if (!kn_uuid_valid (subject_id))
        return kn_error_set (err, KN_E_NOT_FOUND, "subject_id", "no such subject");
    const char *values[] = {subject_id};
    PGresult *result = kn_db_run (db, statement, 1, values, NULL, NULL, err);
    if (!result)
        return -1;
    int rows = PQntuples (result);
    PQclear (result);
    return rows == 1 ? 0 : kn_error_set (err, KN_E_NOT_FOUND, "subject_id", "no such subject");
}

int
kn_consent_policy_lock_subject (kn_db_t *db, const char *subject_id, kn_error_t *err)
{
    return s_lock (db, "kn_policy_exclusive", subject_id, err);
}

int
kn_consent_policy_sector (const char *name)
{
    char upper[64] = "";
    for (size_t i = 0; name[i] && i + 1 < sizeof upper; i++)
        upper[i] = (char) toupper ((unsigned char) name[i]);
    const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value_by_name (
        &kinnet__v1__agency_sector__descriptor, upper);
    return value ? value->value : 0;
}

static kn_policy_category_t *
s_entry (kn_policy_decision_t *decision, int category)
{
    for (size_t i = 0; i < decision->count; i++)
        if (decision->categories[i].category == category)
            return &decision->categories[i];
    return NULL;
}

//  Permit entry's category on a ground: basis, its id, and the reason naming it.
static void
s_grant (kn_policy_category_t *entry, int basis, const char *what, const char *ground_id)
{
    entry->permitted = true;
    entry->basis = basis;
    snprintf (entry->ground_id, sizeof entry->ground_id, "%s", ground_id);
    snprintf (entry->reason, sizeof entry->reason, "%s %s", what, ground_id);
}

//  A ground covers the recipient but its controller did not decide it: say which,
//  so the recipient can ask the controller to release it (consent "release"). Kept
//  only while nothing better explains the refusal.
static void
s_note_undecided (kn_policy_category_t *entry, const char *what, const char *ground_id)
{
    if (entry->undecided)
        return;
    entry->undecided = true;
    snprintf (entry->reason, sizeof entry->reason,
              "the %s %s covers this recipient, but the data's controller did not decide "
              "it: ask the controller to release it",
              what, ground_id);
}

static bool
s_health (int category)
{
    return category == KINNET__V1__DATA_CATEGORY__PHYSICAL_HEALTH_DATA
           || category == KINNET__V1__DATA_CATEGORY__MENTAL_HEALTH_DATA;
}

typedef struct {
    char child[KN_UUID_STR];      // first usable consent given by the child
    char guardian[KN_UUID_STR];   // first usable consent given by a guardian
    bool child_withdrew;          // a child's consent covering this was withdrawn
    bool guardian_withdrew;
    //  Every usable consent, and whether the child gave it.
    char ids[KN_POLICY_MAX_CONSENTS][KN_UUID_STR];
    bool by_child[KN_POLICY_MAX_CONSENTS];
    size_t count;
} consent_state_t;

static void
s_apply_consents (const kn_policy_config_t *config, int age, consent_state_t *state,
                  kn_policy_category_t *entry)
{
    bool competent = age >= config->child_age;
    const char *child = state->child[0] ? state->child : NULL;
    const char *guardian = state->guardian[0] ? state->guardian : NULL;
    const char *ground = NULL;
    char why[200] = "";   // the specific reason, when there is one
    if (competent && config->disagreement == KN_DISAGREE_BOTH) {
        if (child && guardian)
            ground = child;
        else if (child || guardian)
            snprintf (why, sizeof why,
                      "both the child's and a guardian's consent are required");
    }
    else if (competent) {
        if (child)
            ground = child;
        else if (guardian && !state->child_withdrew)
            ground = guardian;
        else if (guardian)
            snprintf (why, sizeof why,
                      "the child withdrew consent and decides for themself; a guardian's "
                      "consent does not override it");
    }
    else if (guardian)
        ground = guardian;
    else if (child)
        snprintf (why, sizeof why, "a guardian's consent is required for a child under %d",
                  config->child_age);

    if (ground) {
        s_grant (entry, KINNET__V1__LAWFUL_BASIS__CONSENT, "consent", ground);
        //  Whose consents count, by the same rule.
        bool guardians_count = !competent || config->disagreement == KN_DISAGREE_BOTH
                               || !state->child_withdrew;
        for (size_t i = 0; i < state->count; i++)
            if ((state->by_child[i] && competent) || (!state->by_child[i] && guardians_count))
                snprintf (entry->consents[entry->n_consents++], KN_UUID_STR, "%s",
                          state->ids[i]);
    }
    else if (why[0])
        snprintf (entry->reason, sizeof entry->reason, "%s", why);
    else if (state->child_withdrew || state->guardian_withdrew)
        snprintf (entry->reason, sizeof entry->reason,
                  "consent for this recipient, category and purpose was withdrawn");
    //  Otherwise the default reason stands: nothing covers it.
}

//  Steps 1 to 3 of the header's order for each category, on the facts alone.
void
kn_consent_policy_rules (const kn_policy_config_t *config, const kn_policy_facts_t *facts,
                         const int *categories, size_t n, kn_policy_decision_t *decision)
{
    memset (decision, 0, sizeof *decision);
    for (size_t i = 0; i < n && i < KN_POLICY_MAX_CATEGORIES; i++) {
        if (s_entry (decision, categories[i]))
            continue;   // asked twice: decided once
        kn_policy_category_t *entry = &decision->categories[decision->count++];
        entry->category = categories[i];
        snprintf (entry->reason, sizeof entry->reason,
                  "no consent, statutory basis or override covers this recipient, category "
                  "and purpose");
    }
    if (!facts->recipient_active) {
        for (size_t i = 0; i < decision->count; i++)
            snprintf (decision->categories[i].reason, sizeof decision->categories[i].reason,
                      "the recipient is not an active agency");
        decision->decision = KINNET__V1__DECISION__DENIED;
        return;
    }
    //  1. Consent.
    for (size_t i = 0; i < decision->count; i++) {
        kn_policy_category_t *entry = &decision->categories[i];
        consent_state_t state = {0};
        for (size_t k = 0; k < facts->n_consents; k++) {
            const kn_policy_ground_t *consent = &facts->consents[k];
            if (consent->category != entry->category)
                continue;
            if (!consent->decided) {
                //  Not the controller's decision: it counts for nothing here, not
                //  even as a withdrawal (the controller's own consents decide).
                s_note_undecided (entry, "consent", consent->id);
                continue;
            }
            char *slot = consent->by_child ? state.child : state.guardian;
            if (consent->withdrawn)
                *(consent->by_child ? &state.child_withdrew : &state.guardian_withdrew) = true;
            else {
                if (!slot[0])
                    snprintf (slot, KN_UUID_STR, "%s", consent->id);
                if (state.count < KN_POLICY_MAX_CONSENTS) {
                    snprintf (state.ids[state.count], KN_UUID_STR, "%s", consent->id);
                    state.by_child[state.count++] = consent->by_child;
                }
            }
        }
        s_apply_consents (config, facts->age, &state, entry);
    }
    //  2. Statutory bases, for what consent did not cover.
    for (size_t k = 0; k < facts->n_bases; k++) {
        const kn_policy_ground_t *basis = &facts->bases[k];
        kn_policy_category_t *entry = s_entry (decision, basis->category);
        if (!entry || entry->permitted)
            continue;
        if (!basis->decided) {
            s_note_undecided (entry, "statutory basis", basis->id);
            continue;
        }
        if (s_health (entry->category) && !basis->special_condition) {
            snprintf (entry->reason, sizeof entry->reason,
                      "a statutory basis covers this, but health data also needs a "
                      "special-category condition");
            continue;
        }
        s_grant (entry, basis->basis, "statutory basis", basis->id);
    }
    //  3. Safeguarding overrides.
    for (size_t k = 0; k < facts->n_overrides; k++) {
        const kn_policy_ground_t *override = &facts->overrides[k];
        kn_policy_category_t *entry = s_entry (decision, override->category);
        if (!entry || entry->permitted)
            continue;
        if (!override->decided) {
            s_note_undecided (entry, "safeguarding override", override->id);
            continue;
        }
        s_grant (entry, KINNET__V1__LAWFUL_BASIS__SAFEGUARDING_OVERRIDE, "safeguarding override",
                 override->id);
    }
    size_t permitted = 0;
    for (size_t i = 0; i < decision->count; i++)
        permitted += decision->categories[i].permitted;
    decision->decision = permitted == decision->count ? KINNET__V1__DECISION__PERMITTED
                         : permitted                  ? KINNET__V1__DECISION__PARTLY_PERMITTED
                                                      : KINNET__V1__DECISION__DENIED;
}

//  Rows of one of the three statements as grounds (ids point into result, which
//  the caller keeps until the rules have run). columns: id, then the kind's own.
static kn_policy_ground_t *
s_grounds (PGresult *result, char kind)
{
    int rows = PQntuples (result);
    kn_policy_ground_t *grounds = kn_calloc (rows ? (size_t)rows : 1, sizeof *grounds);
    for (int row = 0; row < rows; row++) {
        kn_policy_ground_t *g = &grounds[row];
        g->category = atoi (PQgetvalue (result, row, 0));
        g->id = PQgetvalue (result, row, 1);
        if (kind == 'c') {   // cat, id, given_by, withdrawn, decided
            g->by_child = atoi (PQgetvalue (result, row, 2)) == KINNET__V1__CONSENT_GIVER__CHILD;
            g->withdrawn = PQgetvalue (result, row, 3)[0] == 't';
            g->decided = PQgetvalue (result, row, 4)[0] == 't';
        }
        else if (kind == 'b') {   // cat, id, basis, special_condition, decided
            g->basis = atoi (PQgetvalue (result, row, 2));
            g->special_condition = atoi (PQgetvalue (result, row, 3)) != 0;
            g->decided = PQgetvalue (result, row, 4)[0] == 't';
        }
        else   // cat, id, decided
            g->decided = PQgetvalue (result, row, 2)[0] == 't';
    }
    return grounds;
}

int
kn_consent_policy_decide (kn_db_t *db, kn_crypto_t *crypto, const kn_policy_config_t *config,
                          const char *subject_id, const char *agency_id,
                          const char *controller_id, const int *categories, size_t n,
                          int purpose, kn_policy_decision_t *decision, kn_error_t *err)
{
    memset (decision, 0, sizeof *decision);
    if (n == 0 || n > KN_POLICY_MAX_CATEGORIES)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "categories",
                             "1 to %d data categories", KN_POLICY_MAX_CATEGORIES);
    kn_policy_facts_t facts = {.age = -1};
    //  One clock (kn_clock) for every rule: the grounds' validity as for the age.
    int64_t now = kn_clock_now ();
    if (!kn_uuid_valid (agency_id)) {
        //  No such recipient: refused, once the subject is known to exist.
        if (s_lock (db, "kn_policy_share", subject_id, err))
            return -1;
        kn_consent_policy_rules (config, &facts, categories, n, decision);
        return 0;
    }
    if (!kn_uuid_valid (subject_id))
        return kn_error_set (err, KN_E_NOT_FOUND, "subject_id", "no such subject");
    //  In one round trip, in this order: the person's row locked (so no withdrawal
    //  commits beside the decision), the recipient (an active agency; its sector
    //  matches sector grants) and the person's date of birth.
    const char *subject_values[] = {subject_id}, *agency_values[] = {agency_id};
    const kn_db_read_t first[] = {{"kn_policy_share", 1, subject_values},
                                  {"kn_policy_agency", 1, agency_values},
                                  {KN_SUBJECT_GET, 1, subject_values}};
    PGresult *read_first[3];
    if (kn_db_run_each (db, 3, first, read_first, err))
        return -1;
    PGresult *locked = read_first[0], *result = read_first[1], *person = read_first[2];
    bool exists = PQntuples (locked) == 1;
    facts.recipient_active = PQntuples (result) == 1 && PQgetvalue (result, 0, 1)[0] == 't';
    int sector = facts.recipient_active ? kn_consent_policy_sector (PQgetvalue (result, 0, 0)) : 0;
    if (exists && facts.recipient_active)
        facts.age = kn_subject_age_of (db, crypto, person, subject_id, now);
    PQclear (locked);
    PQclear (result);
    PQclear (person);
    if (!exists)
        return kn_error_set (err, KN_E_NOT_FOUND, "subject_id", "no such subject");
    if (!facts.recipient_active) {
        kn_consent_policy_rules (config, &facts, categories, n, decision);
        return 0;
    }
    return kn_consent_policy_decide_known (db, config, subject_id, facts.age, agency_id, sector,
                                           controller_id, categories, n, purpose, now,
                                           decision, err);
}

int
kn_consent_policy_known_reads (kn_policy_query_t *q, const char *subject_id, int age,
                               const char *agency_id, int sector, const char *controller_id,
                               const int *categories, size_t n, int purpose, int64_t now,
                               kn_error_t *err)
{
    if (n == 0 || n > KN_POLICY_MAX_CATEGORIES)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "categories",
                             "1 to %d data categories", KN_POLICY_MAX_CATEGORIES);
    if (!kn_uuid_valid (subject_id) || !kn_uuid_valid (agency_id))
        return kn_error_set (err, KN_E_INTERNAL, NULL, "subject or recipient is not a uuid");
    if (controller_id && !kn_uuid_valid (controller_id))
        return kn_error_set (err, KN_E_INTERNAL, NULL, "controller id is not a uuid");
    q->age = age;
    char *array = q->categories_text;
    size_t size = sizeof q->categories_text;
    size_t pos = (size_t)snprintf (array, size, "{");
    for (size_t i = 0; i < n; i++) {
        bool asked = false;   // a category asked twice is looked up once
        for (size_t k = 0; k < i; k++)
            asked |= categories[k] == categories[i];
        if (!asked)
            pos += (size_t)snprintf (array + pos, size - pos, "%s%d", pos > 1 ? "," : "",
                                     categories[i]);
    }
    snprintf (array + pos, size - pos, "}");
    snprintf (q->sector, sizeof q->sector, "%d", sector);
    snprintf (q->purpose, sizeof q->purpose, "%d", purpose);
    snprintf (q->now, sizeof q->now, "%lld", (long long)now);
    const char *values[] = {subject_id, agency_id, q->sector, array,
                            q->purpose, controller_id, q->now};
    memcpy (q->values, values, sizeof values);
    //  The three kinds of ground.
    static const char *const grounds[] = {"kn_policy_consents", "kn_policy_bases",
                                          "kn_policy_overrides"};
    for (size_t i = 0; i < 3; i++)
        q->reads[i] = (kn_db_read_t){grounds[i], 7, q->values};
    return 0;
}

void
kn_consent_policy_known_rules (const kn_policy_config_t *config, const kn_policy_query_t *q,
                               PGresult *const *read, const int *categories, size_t n,
                               kn_policy_decision_t *decision)
{
    memset (decision, 0, sizeof *decision);
    kn_policy_facts_t facts = {.age = q->age, .recipient_active = true};
    kn_policy_ground_t *c = s_grounds (read[0], 'c'), *b = s_grounds (read[1], 'b'),
                       *o = s_grounds (read[2], 'o');
    facts.consents = c;
    facts.n_consents = (size_t)PQntuples (read[0]);
    facts.bases = b;
    facts.n_bases = (size_t)PQntuples (read[1]);
    facts.overrides = o;
    facts.n_overrides = (size_t)PQntuples (read[2]);
    kn_consent_policy_rules (config, &facts, categories, n, decision);
    free (c);
    free (b);
    free (o);
}

int
kn_consent_policy_decide_known (kn_db_t *db, const kn_policy_config_t *config,
                                const char *subject_id, int age, const char *agency_id,
                                int sector, const char *controller_id, const int *categories,
                                size_t n, int purpose, int64_t now,
                                kn_policy_decision_t *decision, kn_error_t *err)
{
    memset (decision, 0, sizeof *decision);
    kn_policy_query_t q;
    PGresult *read[3];
    if (kn_consent_policy_known_reads (&q, subject_id, age, agency_id, sector, controller_id,
                                       categories, n, purpose, now, err) ||
        kn_db_run_each (db, 3, q.reads, read, err))
        return -1;
    kn_consent_policy_known_rules (config, &q, read, categories, n, decision);
    for (size_t i = 0; i < 3; i++)
        PQclear (read[i]);
    return 0;
}

int
kn_consent_policy_record (kn_db_t *db, const kn_policy_decision_t *decision,
                          const char *subject_id, const char *agency_id, int purpose,
                          const char *service, const char *object_id, kn_error_t *err)
{
    bool done[KN_POLICY_MAX_CATEGORIES] = {false};
    for (size_t i = 0; i < decision->count; i++) {
        const kn_policy_category_t *entry = &decision->categories[i];
        if (!entry->permitted || done[i])
            continue;
        //  Every category disclosed on this same ground goes in one row.
        char array[200];
        size_t pos = (size_t) snprintf (array, sizeof array, "{");
        for (size_t k = i; k < decision->count; k++)
            if (decision->categories[k].permitted && !done[k]
                && strcmp (decision->categories[k].ground_id, entry->ground_id) == 0) {
                pos += (size_t) snprintf (array + pos, sizeof array - pos, "%s%d",
                                          pos > 1 ? "," : "", decision->categories[k].category);
                done[k] = true;
            }
        snprintf (array + pos, sizeof array - pos, "}");
        const ProtobufCEnumValue *basis = protobuf_c_enum_descriptor_get_value (
            &kinnet__v1__lawful_basis__descriptor, entry->basis);
        char basis_name[64] = "", purpose_text[16];
        for (size_t k = 0; basis && basis->name[k] && k + 1 < sizeof basis_name; k++)
            basis_name[k] = (char) tolower ((unsigned char) basis->name[k]);
        snprintf (purpose_text, sizeof purpose_text, "%d", purpose);
        const char *values[] = {subject_id, agency_id, array,   purpose_text,
                                basis_name, entry->ground_id, service, object_id};
        PGresult *result = kn_db_run (db, "kn_policy_disclose", 8, values, NULL, NULL, err);
        if (!result)
            return -1;
        PQclear (result);
    }
    return 0;
}

int
kn_consent_policy_need_categories (kn_db_t *db, const int *needs, size_t n, int *categories,
                                   kn_error_t *err)
{
    char array[400];
    size_t pos = (size_t) snprintf (array, sizeof array, "{");
    for (size_t i = 0; i < n && pos < sizeof array - 8; i++)
        pos += (size_t) snprintf (array + pos, sizeof array - pos, "%s%d", i ? "," : "",
                                  needs[i]);
    snprintf (array + pos, sizeof array - pos, "}");
    const char *values[] = {array};
    PGresult *result = kn_db_run (db, "kn_policy_need_categories", 1, values, NULL, NULL, err);
    if (!result)
        return -1;
    int rows = PQntuples (result);
    for (size_t i = 0; i < n; i++)
        categories[i] = (int) i < rows ? atoi (PQgetvalue (result, (int) i, 0))
                                       : KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE;
    PQclear (result);
    return 0;
}
