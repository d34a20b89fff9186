/*  kn_consent_policy: the one function that decides whether personal data about a
    subject may go to an agency, category by category, and on what ground.
    Grounds, in order of preference for each category:
      1. a consent that covers the recipient (named, or by its sector), the category
         and the purpose, is within its validity period and not withdrawn for that
         recipient/category/purpose; whose consent counts follows the age rule below;
      2. a recorded statutory basis (legal obligation, public task, vital interests)
         covering the same; health categories also need a special-category condition;
      3. an unexpired safeguarding override covering the recipient and category whose
         review has not found it unjustified.
    The controller decides: a ground counts for the data of a controller (the agency
    that supplied it) only when the controller recorded it, a data-protection officer
    recorded it, or the controller or a DPO approved a release request for it
    (consent.release). A ground that names the recipient but fails this is reported
    in the reason, so the recipient knows whom to ask; it never permits.
    Age rule: a child aged at least `child_age` (default 13) decides for themself:
    their own consent counts; with rule CHILD (default) a guardian's consent counts
    too unless the child has withdrawn theirs for that scope; with rule BOTH both
    are needed. Below that age (or with no date of birth on record) only a
    guardian's consent counts.
    Called inside the caller's transaction. It first takes a share lock on the
    subject row; a withdrawal takes the exclusive lock, so no disclosure decided
    before a withdrawal can commit after it, and none decided after it misses it. */
#ifndef KN_CONSENT_POLICY_H_INCLUDED
#define KN_CONSENT_POLICY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"
#include "kn_uuid.h"

#define KN_POLICY_MAX_CATEGORIES 16

typedef enum { KN_DISAGREE_CHILD = 0, KN_DISAGREE_BOTH = 1 } kn_disagreement_t;

typedef struct {
    int child_age;                    // KINNET_CONSENT_CHILD_AGE, default 13
    kn_disagreement_t disagreement;   // KINNET_CONSENT_DISAGREEMENT=child|both
} kn_policy_config_t;

#define KN_POLICY_MAX_CONSENTS 8

typedef struct {
    int category;                     // kinnet.v1.DataCategory
    bool permitted;
    int basis;                        // kinnet.v1.LawfulBasis of the ground, 0 if none
    char ground_id[KN_UUID_STR];
    char reason[200];                 // no personal data: it may reach the caller
    bool undecided;                   // a ground named the recipient; not the controller's
    //  Every consent that counts towards this category's permission (the ground
    //  is one of them); a referral may rest on any of them.
    char consents[KN_POLICY_MAX_CONSENTS][KN_UUID_STR];
    size_t n_consents;
} kn_policy_category_t;

typedef struct {
    int decision;                     // kinnet.v1.Decision
    size_t count;
    kn_policy_category_t categories[KN_POLICY_MAX_CATEGORIES];
} kn_policy_decision_t;

//  Settings from the environment.
kn_policy_config_t kn_consent_policy_config (void);

int kn_consent_policy_prepare (kn_db_t *db, kn_error_t *err);

//  Decide for subject_id, recipient agency_id, data controlled by controller_id,
//  categories[0..n), purpose. controller_id NULL only where the caller is itself
//  the controller deciding about data it is supplying (a referral being made).
int kn_consent_policy_decide (kn_db_t *db, kn_crypto_t *crypto,
                              const kn_policy_config_t *config, const char *subject_id,
                              const char *agency_id, const char *controller_id,
                              const int *categories, size_t n, int purpose,
                              kn_policy_decision_t *decision, kn_error_t *err);

//  The same where the caller has read, earlier in its transaction, what
//  kn_consent_policy_decide reads first, and passes it: it holds the subject's row
//  locked (share or stronger) since before this call, so no withdrawal commits beside
//  the decision; age is the subject's age at now (-1: no date of birth on record),
//  read after the lock was taken; agency_id is an active agency of sector (a
//  kinnet.v1.AgencySector value). One round trip: the grounds.
int kn_consent_policy_decide_known (kn_db_t *db, const kn_policy_config_t *config,
                                    const char *subject_id, int age, const char *agency_id,
                                    int sector, const char *controller_id,
                                    const int *categories, size_t n, int purpose,
                                    int64_t now, kn_policy_decision_t *decision,
                                    kn_error_t *err);

//  kn_consent_policy_decide_known in two halves, so that a caller deciding several
//  offers can send all their grounds in one round trip (kn_db_run_each):
//  kn_consent_policy_known_reads checks the arguments (decide_known's contract)
//  and fills q, whose three reads (q->reads, in this order) point into q: keep q
//  where it is until they have run. kn_consent_policy_known_rules decides from
//  their results.
typedef struct {
    char categories_text[200], sector[16], purpose[16], now[24];
    const char *values[7];
    kn_db_read_t reads[3];
    int age;
} kn_policy_query_t;

int kn_consent_policy_known_reads (kn_policy_query_t *q, const char *subject_id, int age,
                                   const char *agency_id, int sector,
                                   const char *controller_id, const int *categories,
                                   size_t n, int purpose, int64_t now, kn_error_t *err);

void kn_consent_policy_known_rules (const kn_policy_config_t *config,
                                    const kn_policy_query_t *q, PGresult *const *read,
                                    const int *categories, size_t n,
                                    kn_policy_decision_t *decision);

//  -------------------------------------------------------------------------
//  The decision as a pure function. kn_consent_policy_decide loads the facts
//  (what the database holds that covers the recipient, category and purpose) and
//  calls kn_consent_policy_rules; tests call the rules with facts they write.

//  One ground found for one category (a row per category it covers).
typedef struct {
    int category;             // kinnet.v1.DataCategory
    const char *id;           // the consent, basis record or override
    bool by_child;            // consent: given by the child, not a guardian
    bool withdrawn;           // consent: withdrawn for this recipient, category, purpose
    int basis;                // basis: kinnet.v1.LawfulBasis
    bool special_condition;   // basis: a special-category condition is recorded
    bool decided;             // the data's controller decided it (see above)
} kn_policy_ground_t;

typedef struct {
    bool recipient_active;    // the recipient is an active agency
    int age;                  // the subject's age in whole years; -1 when unknown
    //  Each kind in the order recorded (grounds covering the recipient only).
    const kn_policy_ground_t *consents;
    size_t n_consents;
    const kn_policy_ground_t *bases;
    size_t n_bases;
    const kn_policy_ground_t *overrides;
    size_t n_overrides;
} kn_policy_facts_t;

//  Decide categories[0..n) (1 to KN_POLICY_MAX_CATEGORIES) from facts alone.
void kn_consent_policy_rules (const kn_policy_config_t *config, const kn_policy_facts_t *facts,
                              const int *categories, size_t n, kn_policy_decision_t *decision);

//  Record the permitted part of a decision in core.disclosure (one row per ground),
//  in the caller's transaction, as data leaves for agency_id.
int kn_consent_policy_record (kn_db_t *db, const kn_policy_decision_t *decision,
                              const char *subject_id, const char *agency_id, int purpose,
                              const char *service, const char *object_id, kn_error_t *err);

//  The data category each of needs[0..n) (kinnet.v1.NeedCategory) is disclosed
//  under (core.need_data_category; REFERRAL_NARRATIVE where it has no row), into
//  categories[0..n). A need's description, and what the need is, go out only where
//  its category is permitted.
int kn_consent_policy_need_categories (kn_db_t *db, const int *needs, size_t n,
                                       int *categories, kn_error_t *err);

//  Sector enum value (kinnet.v1.AgencySector) of an agency's sector name
//  ("social_services" -> 3); 0 when unknown.
int kn_consent_policy_sector (const char *name);

//  Lock the subject exclusively (withdrawals, overrides ended): see above.
int kn_consent_policy_lock_subject (kn_db_t *db, const char *subject_id, kn_error_t *err);

#endif
