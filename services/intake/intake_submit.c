/*  intake_submit: a batch of referrals stored in as few transactions as their
    answers allow. One transaction claims every key (a replay gets its first answer
    back) and judges each new referral's standing (intake_standing.c), resolves the
    children to subjects and families, checks a consent ground and writes the new
    referrals (intake_insert.c). Referrals refused inside it roll the batch back and
    the rest go again without them; a batch that fails as a whole goes again one
    referral at a time, so nothing is acknowledged that did not commit.
    Matching: every child gets a keyed blind index; a transaction-scoped advisory
    lock per index (taken in sorted order, so never a deadlock) serialises two
    referrals of the same new child, so they resolve to one subject and family. */
#include "intake_store_int.h"
#include "kn_alloc.h"

static const char *s_statements[][2] = {
    //  Per referral of a batch, before it is stored: had its agency standing with
    //  the family it was matched to? Only what the agency cannot make for itself
    //  counts: the data-protection role, a place on the family's team (an accepted
    //  involvement, current or past), or an earlier referral that was shown the
    //  family. A name and date of birth are all it takes to record a ground or to
    //  refer, so neither opens a family that others know.
    {"family_standing",
     "SELECT EXISTS (SELECT 1 FROM core.agency_role g WHERE g.agency_id = t.a"
     "  AND g.role = 'data_protection_officer')"
     " OR EXISTS (SELECT 1 FROM routing.involvement i JOIN routing.case c ON c.id = i.case_id"
     "  WHERE c.family_id = t.f AND i.agency_id = t.a"
     "  AND i.status IN ('accepted', 'closed', 'transferred'))"
     " OR EXISTS (SELECT 1 FROM intake.referral r WHERE r.family_id = t.f"
     "  AND r.referring_agency_id = t.a AND r.family_disclosed)"
     " FROM unnest ($1::uuid[], $2::uuid[]) WITH ORDINALITY AS t (f, a, i) ORDER BY t.i"},
    //  Also run by intake_disclose.c.
    {"referral_subjects", "SELECT subject_id FROM intake.referral_subject"
                          " WHERE referral_id = $1 ORDER BY position"},
    {"referral_summary",
     "SELECT family_id, family_matched,"
     " (extract(epoch FROM received_at) * 1000000)::bigint, family_disclosed"
     " FROM intake.referral WHERE id = $1"},
};

int
intake_submit_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  A referral on consent must name an active consent of the referred child that
//  covers the referring agency, the referral narrative and referral and assessment.
static int
s_check_consent (intake_store_t *self, const char *agency_id, const char *child_subject,
                 const char *consent_id, kn_error_t *err)
{
    static const int narrative[] = {KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE};
    kn_policy_decision_t decision;
    if (kn_consent_policy_decide (
            self->db, self->crypto, &self->policy, child_subject, agency_id, NULL,
            narrative, 1, KINNET__V1__PURPOSE__REFERRAL_AND_ASSESSMENT, &decision, err))
        return -1;
    const kn_policy_category_t *entry = &decision.categories[0];
    for (size_t i = 0;
         entry->basis == KINNET__V1__LAWFUL_BASIS__CONSENT && i < entry->n_consents; i++)
        if (strcasecmp (entry->consents[i], consent_id) == 0)
            return 0;
    return kn_error_set (
        err, KN_E_INVALID_ARGUMENT, "lawful_ground.consent_reference",
        "that consent does not permit this child's referral by your agency "
        "(%s)",
        entry->basis == KINNET__V1__LAWFUL_BASIS__CONSENT
            ? "it is not one of the consents that count"
        : entry->permitted ? "no consent applies; another ground does"
                           : entry->reason);
}

static int
s_replay_submit (intake_store_t *self, intake_submit_result_t *result, kn_error_t *err)
{
    const char *values[] = {result->referral_id};
    PGresult *row = kn_db_run (self->db, "referral_summary", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    int rc = 0;
    if (PQntuples (row) == 1) {
        snprintf (result->family_id, KN_UUID_STR, "%s", PQgetvalue (row, 0, 0));
        result->family_matched = PQgetvalue (row, 0, 1)[0] == 't';
        result->received_at_us = strtoll (PQgetvalue (row, 0, 2), NULL, 10);
        result->family_known = PQgetvalue (row, 0, 3)[0] == 't';
        result->replayed = true;
    } else
        rc = kn_error_set (err, KN_E_INTERNAL, NULL, "replayed referral missing");
    PQclear (row);
    if (rc == 0) {
        row = kn_db_run (self->db, "referral_subjects", 1, values, NULL, NULL, err);
        if (!row)
            return -1;
        for (int i = 0; i < PQntuples (row) && i < 16; i++)
            snprintf (result->subject_ids[i], KN_UUID_STR, "%s", PQgetvalue (row, i, 0));
        result->subject_count = (size_t)(PQntuples (row) < 16 ? PQntuples (row) : 16);
        PQclear (row);
    }
    return rc;
}

typedef enum {
    BATCH_COMMITTED, // every item has its answer
    BATCH_REFUSED,   // items were refused after writing; rolled back, retry the rest
    BATCH_FAILED     // the transaction failed; rolled back, nothing answered
} batch_outcome_t;

static void
s_basis_name (const Kinnet__V1__SubmitReferral *referral, char *out, size_t size)
{
    const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value (
        &kinnet__v1__lawful_basis__descriptor, referral->lawful_ground->basis);
    size_t k = 0;
    for (; value && value->name[k] && k + 1 < size; k++)
        out[k] = (char)tolower ((unsigned char)value->name[k]);
    out[k] = '\0';
}

//  The position of a person the same as an earlier one (0: the child), 0 when none.
static size_t
s_repeated (char (*subjects)[KN_UUID_STR], size_t count)
{
    for (size_t k = 1; k < count; k++)
        for (size_t e = 0; e < k; e++)
            if (strcmp (subjects[k], subjects[e]) == 0)
                return k;
    return 0;
}

//  One pass over items in one transaction. On BATCH_REFUSED refused[i] is true for
//  each item refused (its rc and err set); the caller tries again without them.
static batch_outcome_t
s_store_batch (intake_store_t *self, intake_submission_t **items, size_t n, bool *refused,
               kn_error_t *err)
{
    if (kn_db_ensure (self->db, err))
        return BATCH_FAILED;
    pending_t *pending = kn_calloc (n, sizeof *pending);
    pending_t **news = kn_calloc (n, sizeof *news);
    kn_idempotency_claim_t *claims = kn_calloc (n, sizeof *claims);
    kn_subject_group_t *groups = kn_calloc (n, sizeof *groups);
    for (size_t i = 0; i < n; i++) {
        pending_t *p = &pending[i];
        p->item = items[i];
        p->item->rc = -1; // until answered
        refused[i] = false;
        memset (&p->item->result, 0, sizeof p->item->result);
        kn_error_clear (&p->item->err);
        const Kinnet__V1__SubmitReferral *referral = p->item->referral;
        claims[i] = (kn_idempotency_claim_t){.agency_id = p->item->agency_id,
                                             .key = referral->idempotency_key,
                                             .operation = "submit"};
        kn_idempotency_digest (self->crypto, &referral->base, &claims[i].digests);
        kn_uuid_generate_ordered (claims[i].object_id);
        memcpy (p->item->result.referral_id, claims[i].object_id, KN_UUID_STR);
    }
    batch_outcome_t outcome = BATCH_FAILED;
    int64_t began_us = 0;
    PGresult *standing = NULL;
    //  Pipeline mode for the whole batch: what needs no answer yet (BEGIN, the
    //  standing read, the identities' locks, new families and people, the
    //  referrals' rows) goes out with the next read or the COMMIT rather than
    //  costing a round trip of its own.
    if (kn_db_defer_begin_write (self->db, &began_us, err) ||
        intake_standing_send (self, items, n, &standing, err) ||
        kn_idempotency_claim_many (self->db, "intake.idempotency", claims, n, err))
        goto fail;
    if (!standing || (size_t)PQntuples (standing) != n) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "the standing read answered %d rows",
                      standing ? PQntuples (standing) : -1);
        goto fail;
    }
    //  A new referral its agency may not make, or in a district Kinnet does not
    //  know, is refused: its claim goes with the batch's rollback, and the rest go
    //  again. (A retry is answered from the ledger below, whatever changed since.)
    bool any_refused = false;
    for (size_t i = 0; i < n; i++)
        if (claims[i].claim == KN_CLAIM_NEW &&
            !intake_standing_judge (self, items[i], standing, (int)i))
            any_refused = refused[i] = true;
    if (any_refused) {
        outcome = BATCH_REFUSED;
        goto fail;
    }

    size_t n_new = 0;
    for (size_t i = 0; i < n; i++) {
        pending_t *p = &pending[i];
        intake_submission_t *item = p->item;
        if (claims[i].claim == KN_CLAIM_REPLAY) {
            memcpy (item->result.referral_id, claims[i].object_id, KN_UUID_STR);
            if (s_replay_submit (self, &item->result, err))
                goto fail;
            item->rc = 0;
            continue;
        }
        if (claims[i].claim == KN_CLAIM_FAILED) {
            item->rc = -1;
            item->err = claims[i].err;
            continue;
        }
        //  The child and siblings, to be resolved to subjects of one family.
        const Kinnet__V1__SubmitReferral *referral = item->referral;
        size_t count = 0;
        p->people[count++] =
            (kn_person_t){referral->child->given_name, referral->child->family_name,
                          referral->child->date_of_birth};
        for (size_t k = 0; k < referral->n_siblings && count < MAX_CHILDREN; k++) {
            const Kinnet__V1__Person *sibling = referral->siblings[k];
            p->people[count++] = (kn_person_t){sibling->given_name, sibling->family_name,
                                               sibling->date_of_birth};
        }
        groups[n_new] = (kn_subject_group_t){
            .people = p->people, .count = count, .subjects = p->subjects,
            .keys = p->keys};
        news[n_new++] = p;
    }
    if (n_new > 0 && kn_subject_resolve_many (self->db, self->crypto, groups, n_new, err))
        goto fail;
    if (n_new > 0) {
        kn_pgarray_t *columns[2];
        kn_pgarray_columns (columns, 2);
        for (size_t i = 0; i < n_new; i++) {
            kn_pgarray_add (columns[0], groups[i].family_id);
            kn_pgarray_add (columns[1], news[i]->item->agency_id);
        }
        PGresult *known = kn_pgarray_run (self->db, "family_standing", columns, 2, err);
        if (!known)
            goto fail;
        for (size_t i = 0; i < n_new && i < (size_t)PQntuples (known); i++)
            news[i]->item->result.family_known = PQgetvalue (known, (int)i, 0)[0] == 't';
        PQclear (known);
    }
    for (size_t i = 0; i < n_new; i++) {
        pending_t *p = news[i];
        intake_submit_result_t *result = &p->item->result;
        //  Two people of the referral found as one (a merge made both identities
        //  one person's): the later mention becomes a person of its own, found by
        //  no identity, for a DPO to merge. Refusing would tell any agency, standing
        //  or not, that the two identities are one person on record.
        for (size_t k; (k = s_repeated (p->subjects, groups[i].count)) > 0;) {
            size_t first = 0;
            while (strcmp (p->subjects[first], p->subjects[k]) != 0)
                first++;
            char twin[KN_UUID_STR];
            memcpy (twin, p->subjects[first], KN_UUID_STR);
            if (kn_subject_add_unlinked (self->db, self->crypto, groups[i].family_id, twin,
                                         p->people[k].date_of_birth, p->subjects[k],
                                         &p->keys[k], err))
                goto fail;
        }
        memcpy (result->family_id, groups[i].family_id, KN_UUID_STR);
        result->family_matched = groups[i].matched;
        result->subject_count = groups[i].count;
        for (size_t k = 0; k < groups[i].count; k++)
            memcpy (result->subject_ids[k], p->subjects[k], KN_UUID_STR);
        s_basis_name (p->item->referral, p->basis, sizeof p->basis);
        const Kinnet__V1__LawfulGround *ground = p->item->referral->lawful_ground;
        if (ground->basis == KINNET__V1__LAWFUL_BASIS__CONSENT &&
            s_check_consent (self, p->item->agency_id, p->subjects[0],
                             ground->consent_reference, &p->item->err)) {
            if (p->item->err.code == KN_E_INTERNAL ||
                p->item->err.code == KN_E_SERVICE_UNAVAILABLE) {
                *err = p->item->err; // the check itself failed: the batch did
                goto fail;
            }
            p->item->rc = -1;
            refused[p - pending] = true;
            outcome = BATCH_REFUSED;
            goto fail;
        }
    }
    if ((n_new > 0 && intake_insert_referrals (self, news, n_new, began_us, err)) ||
        kn_db_defer_commit (self->db, err))
        goto fail;
    for (size_t i = 0; i < n_new; i++)
        news[i]->item->rc = 0;
    outcome = BATCH_COMMITTED;
    goto done;

fail:
    intake_rollback (self);
done:
    PQclear (standing);
    free (groups);
    free (claims);
    free (news);
    sodium_memzero (pending, n * sizeof *pending);   // the data keys
    free (pending);
    return outcome;
}

//  Store items, by as few transactions as their answers allow.
static void
s_store (intake_store_t *self, intake_submission_t **items, size_t n)
{
    bool retried = false;
    bool *refused = kn_calloc (n ? n : 1, sizeof *refused);
    while (n > 0) {
        kn_error_t err;
        kn_error_clear (&err);
        batch_outcome_t outcome = s_store_batch (self, items, n, refused, &err);
        if (outcome == BATCH_COMMITTED)
            break;
        if (outcome == BATCH_REFUSED) {
            size_t kept = 0; // the refused are answered; the rest again, in order
            for (size_t i = 0; i < n; i++)
                if (!refused[i])
                    items[kept++] = items[i];
            n = kept;
            continue;
        }
        //  The session was lost (a restart, a failover): the whole batch once more on
        //  a new one; when there is none, the database is down for all of them.
        if (!retried && intake_reconnected (self, &err)) {
            retried = true;
            continue;
        }
        kn_error_t ignored;
        bool up = kn_db_ensure (self->db, &ignored) == 0;
        if (n > 1 && up) { // one of them may be the cause: alone, it fails alone
            for (size_t i = 0; i < n; i++)
                s_store (self, &items[i], 1);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            items[i]->rc = -1;
            items[i]->err = err;
        }
        break;
    }
    free (refused);
}

void
intake_store_submit_many (intake_store_t *self, intake_submission_t *items, size_t n)
{
    //  A key repeated within the batch waits for its first use to commit, and is then
    //  answered as the retry it is.
    intake_submission_t **first = kn_calloc (n ? n : 1, sizeof *first);
    intake_submission_t **again = kn_calloc (n ? n : 1, sizeof *again);
    size_t n_first = 0, n_again = 0;
    for (size_t i = 0; i < n; i++) {
        bool repeated = false;
        for (size_t k = 0; k < n_first && !repeated; k++)
            repeated = strcasecmp (first[k]->agency_id, items[i].agency_id) == 0 &&
                       strcmp (first[k]->referral->idempotency_key,
                               items[i].referral->idempotency_key) == 0;
        if (repeated)
            again[n_again++] = &items[i];
        else
            first[n_first++] = &items[i];
    }
    s_store (self, first, n_first);
    for (size_t i = 0; i < n_again; i++)
        s_store (self, &again[i], 1);
    free (first);
    free (again);
}

int
intake_store_submit (intake_store_t *self, const char *agency_id,
                     const Kinnet__V1__SubmitReferral *referral,
                     intake_submit_result_t *result, kn_error_t *err)
{
    intake_submission_t item = {.agency_id = agency_id, .referral = referral};
    intake_store_submit_many (self, &item, 1);
    *result = item.result;
    *err = item.err;
    return item.rc;
}
