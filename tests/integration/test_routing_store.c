/*  Routing against a real PostgreSQL, driven through the stores with an explicit
    clock: referrals become cases and ranked offers, accept/decline/expiry move
    through candidates, escalation, unplaced needs, transfer, lead, contact and
    close, consent releasing waiting offers, withdrawal, feed isolation, bad
    requests that change nothing, and two consumers on one stream. */
#include <pthread.h>

#include "kn_migrate.h"
#include "routing_consumer.h"
#include "routing_fixture.h"

TestSuite (routing, .init = s_setup, .fini = s_teardown, .timeout = 120);

static int
s_accept (const char *agency, const char *offer, const char *idem, kn_error_t *err)
{
    Kinnet__V1__AcceptOffer accept = KINNET__V1__ACCEPT_OFFER__INIT;
    accept.idempotency_key = (char *) idem;
    accept.offer_id = (char *) offer;
    accept.caseworker_id = "cw-1";
    Kinnet__V1__Involvement *result = NULL;
    bool replayed;
    int rc = routing_store_accept (routing, agency, now, &accept, &result, &replayed, err);
    if (result)
        kinnet__v1__involvement__free_unpacked (result, NULL);
    return rc;
}

static int
s_decline (const char *agency, const char *offer, const char *idem, kn_error_t *err)
{
    Kinnet__V1__DeclineOffer decline = KINNET__V1__DECLINE_OFFER__INIT;
    decline.idempotency_key = (char *) idem;
    decline.offer_id = (char *) offer;
    decline.reason = KINNET__V1__DECLINE_REASON__NO_CAPACITY;
    Kinnet__V1__Involvement *result = NULL;
    bool replayed;
    int rc = routing_store_decline (routing, agency, now, &decline, &result, &replayed, err);
    if (result)
        kinnet__v1__involvement__free_unpacked (result, NULL);
    return rc;
}

Test (routing, referral_becomes_case_with_ranked_offers)
{
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT,
                         KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    s_refer (1, needs, 2, KINNET__V1__URGENCY__PRIORITY, "pl-PL", &r);
    cr_assert_eq (s_consume (), 1);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.case WHERE family_id = '%s'",
                           r.family_id), 1);
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    //  Language support: the Polish centre (catchment includes north, speaks pl)
    //  beats the NGO that only speaks English.
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
    cr_assert_str_eq (agency, ngo_pl);
    //  Parenting support: social, ngo, ngo_pl serve it in north; nobody is on the
    //  case; ngo_pl speaks Polish; the referrer (school) is never a candidate.
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT, offer, agency));
    cr_assert_str_eq (agency, ngo_pl);
    //  The offer says why, and carries no personal data.
    Kinnet__V1__FeedBatch *batch = s_feed (ngo_pl, 0);
    cr_assert_eq (batch->n_events, 2);
    Kinnet__V1__FeedEvent *event = batch->events[0];
    cr_assert_eq (event->seq, 1);
    cr_assert_str_eq (event->topic, "offer.made");
    cr_assert_eq (event->body_case, KINNET__V1__FEED_EVENT__BODY_OFFER);
    cr_assert_str_eq (event->offer->referral_id, r.referral_id);
    cr_assert_str_eq (event->offer->district, "north");
    cr_assert_eq (event->offer->n_languages, 1);
    cr_assert_str_eq (event->offer->languages[0], "pl");
    cr_assert_eq (event->offer->involvement->ranking->rank, 1);
    cr_assert_eq (event->offer->involvement->ranking->n_factors, 4);
    cr_assert_str_eq (event->offer->involvement->ranking->factors[1]->rule, "language");
    cr_assert_str_eq (event->offer->involvement->ranking->factors[1]->detail, "speaks pl");
    //  A public-task referral with no consent or recorded basis for this agency:
    //  the offer waits for consent.
    cr_assert (event->offer->involvement->waiting_for_consent);
    cr_assert_not (event->offer->details_available);
    cr_assert_eq (batch->events[1]->seq, 2);
    cr_assert_eq (batch->last_seq, 2);
    kinnet__v1__feed_batch__free_unpacked (batch, NULL);
    //  Offers never leave the database as names: no feed payload holds the name.
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.feed WHERE position ('Child1'::bytea"
                           " IN payload) > 0"), 0);
}

Test (routing, consuming_again_routes_nothing_twice)
{
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    s_refer (2, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &r);
    cr_assert_eq (s_consume (), 1);
    cr_assert_eq (s_consume (), 0);
    //  At-least-once: rewind the durable cursor and deliver everything again.
    int feed_rows = s_count ("SELECT count (*) FROM routing.feed");
    free (s_sql ("UPDATE routing.cursor SET last_xid = '0', last_id = 0"));
    cr_assert_eq (s_consume (), 1);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.feed"), feed_rows);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement i JOIN routing.case c"
                           " ON c.id = i.case_id WHERE c.family_id = '%s'", r.family_id), 1);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.case WHERE family_id = '%s'",
                           r.family_id), 1);
}

//  The cursor follows transaction ids as numbers. A backlog whose ids differ in
//  their number of digits (here 9 and 10; in production 999 and 1000, 9999 and
//  10000) taken in text order ("10" < "9") would route the later event first and
//  leave the earlier one behind the cursor for ever.
Test (routing, backlog_across_a_digit_boundary_is_routed_in_order)
{
    referral_t early, late;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    s_refer (20, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &early);
    s_refer (21, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &late);
    //  As if written by transactions 9 and 10, both long finished.
    free (s_sql ("UPDATE core.outbox SET xid = '9' WHERE aggregate_id = '%s'",
                 early.referral_id));
    free (s_sql ("UPDATE core.outbox SET xid = '10' WHERE aggregate_id = '%s'",
                 late.referral_id));
    free (s_sql ("UPDATE routing.cursor SET last_xid = '8', last_id = 0"));
    //  In order: one event taken, and it is the earlier transaction's. (Taken in one
    //  batch, both would share a transaction and its timestamps.)
    int handled = 0;
    kn_error_t err;
    cr_assert_eq (routing_store_consume (routing, now, 1, &handled, &err), 0, "%s",
                  err.message);
    cr_assert_eq (handled, 1);
#define ROUTED "SELECT count (*) FROM routing.case_referral WHERE referral_id = '%s'"
    cr_assert_eq (s_count (ROUTED, early.referral_id), 1, "the earlier event comes first");
    cr_assert_eq (s_count (ROUTED, late.referral_id), 0);
    cr_assert_eq (s_consume (), 1);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.consumed"), 2);
    cr_assert_eq (s_count (ROUTED, late.referral_id), 1);
#undef ROUTED
}

//  Migration 0012 repairs a database in which that ordering skipped events: the
//  cursor goes back to just before the earliest one never handled, those are
//  routed, and what was handled before is not handled twice.
Test (routing, migration_12_routes_the_skipped_events_once)
{
    const kn_migration_t *repair = NULL;
    for (int i = 0; i < kn_migration_count; i++)
        if (kn_migrations[i].version == 12)
            repair = &kn_migrations[i];
    cr_assert_not_null (repair);
    referral_t handled, skipped[2];
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    s_refer (22, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &handled);
    cr_assert_eq (s_consume (), 1);
    s_refer (23, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &skipped[0]);
    s_refer (24, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &skipped[1]);
    //  What the old ordering left: the cursor on the newest event, two never handled.
    free (s_sql ("UPDATE routing.cursor SET (last_xid, last_id) = (SELECT xid, id"
                 " FROM core.outbox ORDER BY xid DESC, id DESC LIMIT 1)"));
    cr_assert_eq (kn_test_outbox_skipped (url), 2);
    free (kn_test_sql (url, repair->sql));
    cr_assert_eq (kn_test_outbox_skipped (url), 0);
    cr_assert_eq (kn_test_outbox_past_cursor (url), 2);
    //  Run again (nothing skipped now): the cursor stays.
    char *before = s_sql ("SELECT last_xid || '/' || last_id FROM routing.cursor");
    free (kn_test_sql (url, repair->sql));
    char *after = s_sql ("SELECT last_xid || '/' || last_id FROM routing.cursor");
    cr_assert_str_eq (before, after);
    free (before);
    free (after);
    cr_assert_eq (s_consume (), 2);
    for (int i = 0; i < 2; i++)
        cr_assert_eq (s_count ("SELECT count (*) FROM routing.case_referral"
                               " WHERE referral_id = '%s'", skipped[i].referral_id), 1);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.case_referral"), 3);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement"), 3);
}

Test (routing, one_open_case_per_family)
{
    referral_t first, second;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    const int more[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT,
                        KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH};
    s_refer (3, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &first);
    s_refer (3, more, 2, KINNET__V1__URGENCY__URGENT, "ar", &second);
    cr_assert_str_eq (first.family_id, second.family_id);
    cr_assert_eq (s_consume (), 2);
    char *a = s_case_of (&first), *b = s_case_of (&second);
    cr_assert_str_eq (a, b);
    //  Parenting is already in hand: not offered twice. Health is new.
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.need WHERE case_id = '%s'", a), 2);
    cr_assert_eq (s_count ("SELECT urgency FROM routing.case WHERE id = '%s'", a),
                  KINNET__V1__URGENCY__URGENT);
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&second, KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH, offer, agency));
    cr_assert_str_eq (agency, health);
    //  Urgent: a one-day deadline.
    cr_assert_eq (s_count ("SELECT " "extract (epoch FROM deadline_at - offered_at)::int"
                           " FROM routing.involvement WHERE id = '%s'", offer), 86400);
    free (a);
    free (b);
}

Test (routing, accept_and_bad_requests_change_nothing)
{
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH};
    s_refer (4, needs, 1, KINNET__V1__URGENCY__PRIORITY, NULL, &r);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH, offer, agency));
    cr_assert_str_eq (agency, health);
    int feed_rows = s_count ("SELECT count (*) FROM routing.feed");
    kn_error_t err;
    //  Someone else's offer: not found, as if it did not exist.
    cr_assert_eq (s_accept (ngo, offer, "a-1", &err), -1);
    cr_assert_eq (err.code, KN_E_NOT_FOUND);
    cr_assert_str_eq (err.field, "offer_id");
    //  An unknown offer.
    cr_assert_eq (s_accept (health, "8b7f3a52-61a4-4c1e-9a55-0d4b8f0c2e11", "a-2", &err), -1);
    cr_assert_eq (err.code, KN_E_NOT_FOUND);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.feed"), feed_rows);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement WHERE status = 'accepted'"
                           " AND id = '%s'", offer), 0);
    //  The real acceptance.
    cr_assert_eq (s_accept (health, offer, "a-3", &err), 0, "%s", err.message);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.need WHERE status = 'placed'"
                           " AND id = (SELECT need_id FROM routing.involvement WHERE id = '%s')",
                           offer), 1);
    cr_assert_eq (s_feed_count (school, "involvement.changed"), 1);
    //  The same request again (a retry) answers the same; nothing new is written.
    feed_rows = s_count ("SELECT count (*) FROM routing.feed");
    cr_assert_eq (s_accept (health, offer, "a-3", &err), 0, "%s", err.message);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.feed"), feed_rows);
    //  Accepting twice (a new request) is a conflict.
    cr_assert_eq (s_accept (health, offer, "a-4", &err), -1);
    cr_assert_eq (err.code, KN_E_CONFLICT);
    cr_assert (strstr (err.message, "already accepted"));
    //  Declining an accepted offer too.
    cr_assert_eq (s_decline (health, offer, "d-1", &err), -1);
    cr_assert_eq (err.code, KN_E_CONFLICT);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.feed"), feed_rows);
    //  And the idempotency ledger kept none of the refused requests.
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.idempotency WHERE key IN"
                           " ('a-1', 'a-2', 'a-4', 'd-1')"), 0);
}

Test (routing, decline_moves_on_then_unplaced)
{
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT};
    s_refer (5, needs, 1, KINNET__V1__URGENCY__ROUTINE, "pl", &r);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    kn_error_t err;
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
    cr_assert_str_eq (agency, ngo_pl);
    cr_assert_eq (s_decline (ngo_pl, offer, "dec-1", &err), 0, "%s", err.message);
    //  Next candidate: the English-speaking NGO.
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
    cr_assert_str_eq (agency, ngo);
    cr_assert_eq (s_decline (ngo, offer, "dec-2", &err), 0, "%s", err.message);
    //  Nobody left: unplaced, and the referrer is told.
    cr_assert_not (s_offer (&r, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.need n JOIN routing.case c"
                           " ON c.id = n.case_id WHERE c.family_id = '%s'"
                           " AND n.status = 'unplaced'", r.family_id), 1);
    cr_assert_geq (s_feed_count (school, "need.unplaced"), 1);
    Kinnet__V1__CaseNeedList *list = NULL;
    cr_assert_eq (routing_store_unplaced (routing, school, "", &list, &err), 0);
    bool found = false;
    for (size_t i = 0; i < list->n_needs; i++)
        found |= strcmp (list->needs[i]->referral_id, r.referral_id) == 0;
    cr_assert (found);
    kinnet__v1__case_need_list__free_unpacked (list, NULL);
    //  Another referrer's unplaced needs are not listed for the NGO.
    cr_assert_eq (routing_store_unplaced (routing, ngo, "", &list, &err), 0);
    cr_assert_eq (list->n_needs, 0);
    kinnet__v1__case_need_list__free_unpacked (list, NULL);

    //  Retrying the list changes nothing and tells nobody while nobody can take it.
    int unplaced_events = s_feed_count (school, "need.unplaced");
    int placed = -1;
    cr_assert_eq (routing_store_retry_unplaced (routing, now, 100, &placed, &err), 0, "%s",
                  err.message);
    cr_assert_eq (placed, 0);
    cr_assert_eq (s_feed_count (school, "need.unplaced"), unplaced_events);
    //  The directory changes: the far-away NGO now offers language support in north.
    free (s_sql ("INSERT INTO core.agency_need VALUES ('%s', 3)", far_away));
    free (s_sql ("INSERT INTO core.agency_district VALUES ('%s', 'north')", far_away));
    cr_assert_eq (routing_store_retry_unplaced (routing, now, 100, &placed, &err), 0, "%s",
                  err.message);
    cr_assert_eq (placed, 1);
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
    cr_assert_str_eq (agency, far_away);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.need n JOIN routing.case c"
                           " ON c.id = n.case_id WHERE c.family_id = '%s'"
                           " AND n.status = 'unplaced'", r.family_id), 0,
                  "a need offered again is still listed as unplaced");
    cr_assert_eq (routing_store_retry_unplaced (routing, now, 100, &placed, &err), 0);
    cr_assert_eq (placed, 0);
}

Test (routing, expiry_escalates_and_moves_on)
{
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    s_refer (6, needs, 1, KINNET__V1__URGENCY__URGENT, NULL, &r);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT, offer, agency));
    int handled = 0;
    kn_error_t err;
    //  Not yet due.
    cr_assert_eq (routing_store_expire (routing, now + 86399, 10, &handled, &err), 0);
    cr_assert_eq (handled, 0);
    int escalations = s_feed_count (school, "escalation");
    int lead_escalations = s_feed_count (social, "escalation");
    //  A day later the urgent offer expires.
    cr_assert_eq (routing_store_expire (routing, now + 86400, 10, &handled, &err), 0, "%s",
                  err.message);
    cr_assert_geq (handled, 1);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement WHERE id = '%s'"
                           " AND status = 'expired'", offer), 1);
    cr_assert_eq (s_feed_count (agency, "offer.expired") >= 1, true);
    cr_assert_eq (s_feed_count (school, "escalation"), escalations + 1);
    //  Urgent: the district's child-protection lead hears of it too (unless it was
    //  the one that let it expire).
    if (strcmp (agency, social))
        cr_assert_eq (s_feed_count (social, "escalation"), lead_escalations + 1);
    char next[KN_UUID_STR], next_agency[KN_UUID_STR];
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT, next, next_agency));
    cr_assert_str_neq (next_agency, agency);
    //  Accepting the expired offer is refused.
    cr_assert_eq (s_accept (agency, offer, "late", &err), -1);
    cr_assert_eq (err.code, KN_E_CONFLICT);
}

Test (routing, emergency_goes_to_district_lead)
{
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__CHILD_PROTECTION_CONCERN};
    s_refer (7, needs, 1, KINNET__V1__URGENCY__EMERGENCY_SAFEGUARDING, NULL, &r);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__CHILD_PROTECTION_CONCERN, offer, agency));
    cr_assert_str_eq (agency, social);
    cr_assert_eq (s_count ("SELECT extract (epoch FROM deadline_at - offered_at)::int"
                           " FROM routing.involvement WHERE id = '%s'", offer), 3600);
}

Test (routing, team_story_transfer_lead_contact_close)
{
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH,
                         KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    s_refer (8, needs, 2, KINNET__V1__URGENCY__PRIORITY, NULL, &r);
    s_consume ();
    char *case_id = s_case_of (&r);
    char health_offer[KN_UUID_STR], parenting_offer[KN_UUID_STR], agency[KN_UUID_STR],
        parenting_agency[KN_UUID_STR];
    kn_error_t err;
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH, health_offer, agency));
    cr_assert_eq (s_accept (health, health_offer, "t-1", &err), 0, "%s", err.message);
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT, parenting_offer,
                        parenting_agency));
    cr_assert_eq (s_accept (parenting_agency, parenting_offer, "t-2", &err), 0, "%s",
                  err.message);

    //  The lead: only an agency on the team can be appointed.
    Kinnet__V1__AppointLead lead = KINNET__V1__APPOINT_LEAD__INIT;
    lead.idempotency_key = "lead-1";
    lead.case_id = case_id;
    lead.agency_id = far_away;
    lead.lead_caseworker_id = "hv-9";
    Kinnet__V1__Case *result = NULL;
    bool replayed;
    cr_assert_eq (routing_store_lead (routing, school, now, &lead, &result, &replayed, &err), -1);
    cr_assert_eq (err.code, KN_E_INVALID_ARGUMENT);
    cr_assert_str_eq (err.field, "agency_id");
    //  An agency with no part in the case cannot see it, let alone appoint.
    lead.idempotency_key = "lead-2";
    lead.agency_id = health;
    cr_assert_eq (routing_store_lead (routing, far_away, now, &lead, &result, &replayed, &err),
                  -1);
    cr_assert_eq (err.code, KN_E_NOT_FOUND);
    lead.idempotency_key = "lead-3";
    cr_assert_eq (routing_store_lead (routing, school, now, &lead, &result, &replayed, &err), 0,
                  "%s", err.message);
    cr_assert_str_eq (result->lead_agency_id, health);
    cr_assert_str_eq (result->lead_caseworker_id, "hv-9");
    cr_assert_eq (result->n_involvements, 2);
    kinnet__v1__case__free_unpacked (result, NULL);
    cr_assert_geq (s_feed_count (parenting_agency, "lead.changed"), 1);

    //  First contact.
    Kinnet__V1__RecordContact contact = KINNET__V1__RECORD_CONTACT__INIT;
    contact.idempotency_key = "c-1";
    contact.case_id = case_id;
    Kinnet__V1__Involvement *involvement = NULL;
    now += 3600;
    cr_assert_eq (kn_clock_write (clock_file, now), 0);
    cr_assert_eq (routing_store_contact (routing, health, now, &contact, &involvement, &replayed,
                                         &err), 0, "%s", err.message);
    cr_assert_eq (involvement->first_contact_at->seconds, now);
    kinnet__v1__involvement__free_unpacked (involvement, NULL);
    contact.idempotency_key = "c-2";
    cr_assert_eq (routing_store_contact (routing, health, now, &contact, &involvement, &replayed,
                                         &err), -1);
    cr_assert_eq (err.code, KN_E_CONFLICT);
    //  No involvement: no contact to record.
    cr_assert_eq (routing_store_contact (routing, far_away, now, &contact, &involvement,
                                         &replayed, &err), -1);
    cr_assert_eq (err.code, KN_E_NOT_FOUND);

    //  Transfer the parenting involvement to the far-away NGO: an offer for it.
    Kinnet__V1__TransferInvolvement transfer = KINNET__V1__TRANSFER_INVOLVEMENT__INIT;
    transfer.idempotency_key = "tr-1";
    transfer.case_id = case_id;
    transfer.to_agency_id = far_away;
    transfer.reason = KINNET__V1__TRANSFER_REASON__FAMILY_MOVED;
    cr_assert_eq (routing_store_transfer (routing, parenting_agency, now, &transfer, &involvement,
                                          &replayed, &err), 0, "%s", err.message);
    cr_assert_str_eq (involvement->agency_id, far_away);
    cr_assert_eq (involvement->status, KINNET__V1__INVOLVEMENT_STATUS__OFFERED);
    cr_assert_str_eq (involvement->transferred_from_id, parenting_offer);
    cr_assert_eq (involvement->transfer_reason, KINNET__V1__TRANSFER_REASON__FAMILY_MOVED);
    char transferred[KN_UUID_STR];
    snprintf (transferred, sizeof transferred, "%s", involvement->involvement_id);
    kinnet__v1__involvement__free_unpacked (involvement, NULL);
    //  Its retry answers the same offer.
    cr_assert_eq (routing_store_transfer (routing, parenting_agency, now, &transfer, &involvement,
                                          &replayed, &err), 0, "%s", err.message);
    cr_assert (replayed);
    cr_assert_str_eq (involvement->involvement_id, transferred);
    kinnet__v1__involvement__free_unpacked (involvement, NULL);
    cr_assert_eq (s_accept (far_away, transferred, "t-3", &err), 0, "%s", err.message);

    //  Close both; the lead steps down with the health involvement; the case closes.
    Kinnet__V1__CloseInvolvement close = KINNET__V1__CLOSE_INVOLVEMENT__INIT;
    close.idempotency_key = "cl-1";
    close.case_id = case_id;
    close.outcome = KINNET__V1__OUTCOME__NEEDS_MET;
    cr_assert_eq (routing_store_close (routing, health, now, &close, &involvement, &replayed,
                                       &err), 0, "%s", err.message);
    cr_assert_eq (involvement->status, KINNET__V1__INVOLVEMENT_STATUS__CLOSED);
    kinnet__v1__involvement__free_unpacked (involvement, NULL);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.case WHERE id = '%s'"
                           " AND lead_agency_id IS NULL AND status = 'open'", case_id), 1);
    close.idempotency_key = "cl-2";
    close.outcome = KINNET__V1__OUTCOME__NEEDS_PARTLY_MET;
    cr_assert_eq (routing_store_close (routing, far_away, now, &close, &involvement, &replayed,
                                       &err), 0, "%s", err.message);
    kinnet__v1__involvement__free_unpacked (involvement, NULL);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.case WHERE id = '%s'"
                           " AND status = 'closed'", case_id), 1);
    //  Everyone who had a part hears that the case closed.
    cr_assert_eq (s_feed_count (school, "case.closed"), 1);
    cr_assert_eq (s_feed_count (health, "case.closed"), 1);
    cr_assert_eq (s_feed_count (far_away, "case.closed"), 1);
    //  An agency that never worked on it is not told.
    const char *bystander = strcmp (parenting_agency, social) ? social : ngo;
    cr_assert_eq (s_feed_count (bystander, "case.closed"), 0);
    //  Continuity: the family's next referral prefers the agencies it knows.
    referral_t again;
    const int parenting[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    s_refer (8, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &again);
    s_consume ();
    char offer[KN_UUID_STR];
    cr_assert (s_offer (&again, KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT, offer, agency));
    cr_assert (strcmp (agency, far_away) == 0 || strcmp (agency, parenting_agency) == 0);
    char *new_case = s_case_of (&again);
    cr_assert_str_neq (new_case, case_id);
    free (new_case);
    free (case_id);
}

Test (routing, consent_releases_waiting_offer)
{
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH};
    s_refer (9, needs, 1, KINNET__V1__URGENCY__PRIORITY, NULL, &r);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH, offer, agency));
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement WHERE id = '%s'"
                           " AND waiting_for_consent", offer), 1);
    //  A guardian consents to sharing with the health service.
    char *agencies[] = {health};
    Kinnet__V1__DataCategory categories[] = {KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT,
                                             KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE};
    char consent_id[KN_UUID_STR];
    s_consent_for (&r, "consent-9", agencies, 1, categories, 2, consent_id);
    s_consume ();
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement WHERE id = '%s'"
                           " AND NOT waiting_for_consent", offer), 1);
    cr_assert_eq (s_feed_count (health, "offer.details_available"), 1);
    //  The whole offer comes again, now readable.
    Kinnet__V1__FeedBatch *batch = s_feed (health, 0);
    Kinnet__V1__FeedEvent *last = batch->events[batch->n_events - 1];
    cr_assert_str_eq (last->topic, "offer.details_available");
    cr_assert (last->offer->details_available);
    cr_assert_str_eq (last->offer->referral_id, r.referral_id);
    cr_assert_str_eq (last->offer->district, "north");
    cr_assert_str_eq (last->offer->referring_agency_id, school);
    kinnet__v1__feed_batch__free_unpacked (batch, NULL);

    //  The family withdraws it: the offer waits again and the agency is told.
    Kinnet__V1__WithdrawConsent withdraw = KINNET__V1__WITHDRAW_CONSENT__INIT;
    withdraw.idempotency_key = "withdraw-9";
    withdraw.consent_id = consent_id;
    withdraw.channel = KINNET__V1__COLLECTION_METHOD__WRITTEN;
    Kinnet__V1__Consent *withdrawn = NULL;
    kn_error_t err;
    cr_assert_eq (consent_store_withdraw (consent, school, &withdraw, &withdrawn, &err), 0, "%s",
                  err.message);
    kinnet__v1__consent__free_unpacked (withdrawn, NULL);
    s_consume ();
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement WHERE id = '%s'"
                           " AND waiting_for_consent", offer), 1);
    cr_assert_eq (s_feed_count (health, "offer.details_withdrawn"), 1);
}

Test (routing, withdrawal_withdraws_open_offers)
{
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__MENTAL_HEALTH_NEED};
    s_refer (10, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &r);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__MENTAL_HEALTH_NEED, offer, agency));
    Kinnet__V1__WithdrawReferral withdraw = KINNET__V1__WITHDRAW_REFERRAL__INIT;
    withdraw.idempotency_key = "w-10";
    withdraw.referral_id = r.referral_id;
    withdraw.reason = "Family moved out of the area.";
    intake_withdraw_result_t result;
    kn_error_t err;
    cr_assert_eq (intake_store_withdraw (intake, school, &withdraw, &result, &err), 0, "%s",
                  err.message);
    s_consume ();
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement WHERE id = '%s'"
                           " AND status = 'withdrawn'", offer), 1);
    cr_assert_eq (s_feed_count (agency, "offer.withdrawn"), 1);
    char *case_id = s_case_of (&r);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.case WHERE id = '%s'"
                           " AND status = 'closed'", case_id), 1);
    free (case_id);
}

Test (routing, feeds_are_isolated_and_ordered)
{
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH};
    s_refer (11, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &r);
    s_consume ();
    //  Every event in an agency's feed is addressed to it; sequence numbers run
    //  1, 2, 3 ... with no gaps; reading after N starts at N + 1.
    const char *agencies[] = {school, social, ngo, ngo_pl, health, far_away};
    for (size_t a = 0; a < 6; a++) {
        Kinnet__V1__FeedBatch *batch = s_feed (agencies[a], 0);
        for (size_t i = 0; i < batch->n_events; i++) {
            cr_assert_eq (batch->events[i]->seq, (int64_t) i + 1);
            if (batch->events[i]->body_case == KINNET__V1__FEED_EVENT__BODY_OFFER)
                cr_assert_str_eq (batch->events[i]->offer->involvement->agency_id, agencies[a]);
        }
        cr_assert_eq (batch->last_seq, (int64_t) batch->n_events);
        int64_t total = batch->last_seq;
        kinnet__v1__feed_batch__free_unpacked (batch, NULL);
        if (total > 1) {
            batch = s_feed (agencies[a], 1);
            cr_assert_eq (batch->n_events, (size_t) total - 1);
            cr_assert_eq (batch->events[0]->seq, 2);
            kinnet__v1__feed_batch__free_unpacked (batch, NULL);
        }
    }
    Kinnet__V1__FeedBatch *batch = s_feed (health, 0);
    bool found = false;
    for (size_t i = 0; i < batch->n_events; i++)
        found |= batch->events[i]->body_case == KINNET__V1__FEED_EVENT__BODY_OFFER
                 && strcmp (batch->events[i]->offer->referral_id, r.referral_id) == 0;
    cr_assert (found);
    kinnet__v1__feed_batch__free_unpacked (batch, NULL);
    batch = s_feed (far_away, 0);
    for (size_t i = 0; i < batch->n_events; i++)
        cr_assert (batch->events[i]->body_case != KINNET__V1__FEED_EVENT__BODY_OFFER
                   || strcmp (batch->events[i]->offer->referral_id, r.referral_id));
    kinnet__v1__feed_batch__free_unpacked (batch, NULL);
}

//  Two consumers, each with its own session, on the same stream.
static void *
s_consumer_thread (void *arg)
{
    (void) arg;
    kn_error_t err;
    kn_db_t *db = kn_db_new (url, "kinnet_routing", &err);
    routing_store_t *store = db ? routing_store_new (db, crypto, &err) : NULL;
    long total = 0;
    for (int round = 0; store && round < 200; round++) {
        int handled = 0;
        if (routing_store_consume (store, now, 5, &handled, &err))
            break;
        total += handled;
    }
    routing_store_destroy (&store);
    kn_db_destroy (&db);
    return (void *) total;
}

Test (routing, two_consumers_route_each_referral_once)
{
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH};
    referral_t refs[20];
    for (int i = 0; i < 20; i++)
        s_refer (100 + i, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &refs[i]);
    pthread_t a, b;
    pthread_create (&a, NULL, s_consumer_thread, NULL);
    pthread_create (&b, NULL, s_consumer_thread, NULL);
    void *ra, *rb;
    pthread_join (a, &ra);
    pthread_join (b, &rb);
    s_consume ();   // whatever the threads' rounds left
    for (int i = 0; i < 20; i++)
        cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement i JOIN routing.case c"
                               " ON c.id = i.case_id WHERE c.family_id = '%s'",
                               refs[i].family_id), 1, "referral %d offered %s", i, "not once");
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.case_referral"), 20);
}

//  Outbox ids come from a sequence, so they are not in commit order. An event whose
//  transaction commits after a later id's must still be consumed.
Test (routing, an_event_committed_late_is_not_skipped)
{
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH};
    referral_t a, b;
    s_refer (300, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &a);
    //  Hold referral A's event back: take it out, and put it in again from a
    //  transaction that stays open, so it gets an id before B's but commits after.
    free (s_sql ("CREATE TABLE held AS SELECT topic, aggregate_id, payload FROM core.outbox"
                 " WHERE topic = 'referral.received'"));
    free (s_sql ("DELETE FROM core.outbox WHERE topic = 'referral.received'"));
    kn_error_t err;
    kn_db_t *late = kn_db_new (url, NULL, &err);
    cr_assert (late, "%s", err.message);
    cr_assert_eq (kn_db_exec (late, "BEGIN", &err), 0);
    PGresult *held = kn_db_query (late,
                                  "INSERT INTO core.outbox (topic, aggregate_id, payload)"
                                  " SELECT topic, aggregate_id, payload FROM held RETURNING id",
                                  0, NULL, &err);
    cr_assert (held, "%s", err.message);
    int held_id = atoi (PQgetvalue (held, 0, 0));
    PQclear (held);
    s_refer (301, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &b);
    cr_assert_gt (s_count ("SELECT max (id) FROM core.outbox"), held_id);
    //  B's event is committed, but A's transaction is still running: routing waits.
    cr_assert_eq (s_consume_once (), 0);
    cr_assert_eq (kn_db_exec (late, "COMMIT", &err), 0, "%s", err.message);
    kn_db_destroy (&late);
    cr_assert_eq (s_consume (), 2);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.case_referral WHERE referral_id IN"
                           " ('%s', '%s')", a.referral_id, b.referral_id), 2);
}

Test (routing, first_contact_deadline_escalates_once)
{
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH};
    s_refer (400, needs, 1, KINNET__V1__URGENCY__URGENT, NULL, &r);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH, offer, agency));
    kn_error_t err;
    cr_assert_eq (s_accept (health, offer, "fc-1", &err), 0, "%s", err.message);
    //  Urgent: two days from acceptance to first contact (the default).
    cr_assert_eq (s_count ("SELECT extract (epoch FROM contact_due_at - decided_at)::int"
                           " FROM routing.involvement WHERE id = '%s'", offer), 172800);
    int handled = -1;
    cr_assert_eq (routing_store_chase_contacts (routing, now + 172799, 10, &handled, &err), 0);
    cr_assert_eq (handled, 0);
    int referrer_before = s_feed_count (school, "escalation");
    int health_before = s_feed_count (health, "escalation");
    cr_assert_eq (routing_store_chase_contacts (routing, now + 172800, 10, &handled, &err), 0,
                  "%s", err.message);
    cr_assert_eq (handled, 1);
    cr_assert_eq (s_feed_count (school, "escalation"), referrer_before + 1);
    cr_assert_eq (s_feed_count (health, "escalation"), health_before + 1);
    //  Urgent: the district's child-protection lead hears too.
    cr_assert_geq (s_feed_count (social, "escalation"), 1);
    Kinnet__V1__FeedBatch *batch = s_feed (school, 0);
    Kinnet__V1__FeedEvent *last = batch->events[batch->n_events - 1];
    cr_assert_str_eq (last->escalation->reason, "first_contact_overdue");
    cr_assert_str_eq (last->escalation->involvement->involvement_id, offer);
    kinnet__v1__feed_batch__free_unpacked (batch, NULL);
    //  Once only.
    cr_assert_eq (routing_store_chase_contacts (routing, now + 999999, 10, &handled, &err), 0);
    cr_assert_eq (handled, 0);

    //  A contact made in time is never chased.
    referral_t r2;
    s_refer (401, needs, 1, KINNET__V1__URGENCY__URGENT, NULL, &r2);
    s_consume ();
    cr_assert (s_offer (&r2, KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH, offer, agency));
    cr_assert_eq (s_accept (health, offer, "fc-2", &err), 0, "%s", err.message);
    char *case_id = s_case_of (&r2);
    Kinnet__V1__RecordContact contact = KINNET__V1__RECORD_CONTACT__INIT;
    contact.idempotency_key = "fc-contact";
    contact.case_id = case_id;
    Kinnet__V1__Involvement *involvement = NULL;
    bool replayed;
    cr_assert_eq (routing_store_contact (routing, health, now + 3600, &contact, &involvement,
                                         &replayed, &err),
                  0, "%s", err.message);
    kinnet__v1__involvement__free_unpacked (involvement, NULL);
    free (case_id);
    cr_assert_eq (routing_store_chase_contacts (routing, now + 999999, 10, &handled, &err), 0);
    cr_assert_eq (handled, 0);
}

//  The rules below each have a test that fails when the rule is taken out of the
//  code: none of them can pass by luck of the ranking.

Test (routing, catchment_limits_who_is_offered)
{
    //  Nobody serving south offers language support: unplaced, however many serve
    //  it elsewhere.
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT};
    s_refer_in (40, needs, 1, KINNET__V1__URGENCY__ROUTINE, "pl", "south", &r);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert_not (s_offer (&r, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency),
                   "offered outside its catchment to %s", agency);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.need n JOIN routing.case c"
                           " ON c.id = n.case_id WHERE c.family_id = '%s'"
                           " AND n.status = 'unplaced'", r.family_id), 1);
    //  The district is matched as the directory spells it, whatever the case sent.
    referral_t south;
    const int parenting[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    s_refer_in (41, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, "SOUTH", &south);
    s_consume ();
    cr_assert (s_offer (&south, KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT, offer, agency));
    cr_assert_str_eq (agency, far_away);
}

Test (routing, an_agency_at_capacity_is_passed_over)
{
    //  The English-speaking NGO can hold one open involvement; the first family takes
    //  it, so the second goes to the next candidate although the NGO speaks English.
    free (s_sql ("UPDATE core.agency SET capacity = 1 WHERE id = '%s'", ngo));
    referral_t first, second;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT};
    s_refer (42, needs, 1, KINNET__V1__URGENCY__ROUTINE, "en", &first);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&first, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
    cr_assert_str_eq (agency, ngo);
    s_refer (43, needs, 1, KINNET__V1__URGENCY__ROUTINE, "en", &second);
    s_consume ();
    cr_assert (s_offer (&second, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
    cr_assert_str_eq (agency, ngo_pl, "an agency at capacity was offered more");
    free (s_sql ("UPDATE core.agency SET capacity = 5 WHERE id = '%s'", ngo));
}

Test (routing, interpreters_score_when_nobody_speaks_the_language)
{
    //  Physical health: only the health visitors, who have interpreters. The offer
    //  says so, scored between speaking the language and not.
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH};
    s_refer (44, needs, 1, KINNET__V1__URGENCY__ROUTINE, "so", &r);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH, offer, agency));
    cr_assert_str_eq (agency, health);
    Kinnet__V1__FeedBatch *batch = s_feed (health, 0);
    bool seen = false;
    for (size_t i = 0; i < batch->n_events; i++) {
        Kinnet__V1__FeedEvent *event = batch->events[i];
        if (event->body_case != KINNET__V1__FEED_EVENT__BODY_OFFER
            || strcmp (event->offer->referral_id, r.referral_id) != 0)
            continue;
        Kinnet__V1__Ranking *ranking = event->offer->involvement->ranking;
        for (size_t f = 0; f < ranking->n_factors; f++)
            if (strcmp (ranking->factors[f]->rule, "language") == 0) {
                cr_assert_eq (ranking->factors[f]->score, 1);
                cr_assert_str_eq (ranking->factors[f]->detail, "interpreters available");
                seen = true;
            }
    }
    kinnet__v1__feed_batch__free_unpacked (batch, NULL);
    cr_assert (seen, "no language factor on the offer");
}

Test (routing, a_language_matches_in_every_spelling)
{
    //  "pol" (ISO 639-2) and "pl-PL" (BCP 47) are Polish, as "pl" is in the directory.
    const char *spellings[] = {"pol", "pl-PL"};
    for (int i = 0; i < 2; i++) {
        referral_t r;
        const int needs[] = {KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT};
        s_refer (45 + i, needs, 1, KINNET__V1__URGENCY__ROUTINE, spellings[i], &r);
        s_consume ();
        char offer[KN_UUID_STR], agency[KN_UUID_STR];
        cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
        cr_assert_str_eq (agency, ngo_pl, "'%s' did not reach the Polish-speaking centre",
                          spellings[i]);
    }
}

Test (routing, a_consumer_pass_says_whether_more_is_waiting)
{
    //  Three referrals, a consumer that takes one event a pass: each pass that took
    //  one says "more may be waiting" (0 ms); once the outbox is drained a pass says
    //  how long to sleep, never more than a second.
    referral_t referrals[3];
    const int language[] = {KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT};
    for (int i = 0; i < 3; i++)
        s_refer (60 + i, language, 1, KINNET__V1__URGENCY__ROUTINE, "pl", &referrals[i]);
    routing_consumer_t *consumer = routing_consumer_new (routing, 0, 1);
    kn_error_t err;
    int busy = 0;
    int64_t deadline = zclock_mono () + 20000;
    while (kn_test_outbox_past_cursor (url) > 0) {
        int64_t sleep_ms = routing_consumer_run_once (consumer, now, &err);
        cr_assert_geq (sleep_ms, 0, "%s", err.message);
        busy += sleep_ms == 0;
        cr_assert (zclock_mono () < deadline, "the consumer never caught up");
        if (sleep_ms > 0)
            zclock_sleep (10);   // other suites' transactions hold the cursor back
    }
    cr_assert_geq (busy, 3, "a pass that took a full batch did not ask to go on");
    int64_t sleep_ms = routing_consumer_run_once (consumer, now, &err);
    cr_assert (sleep_ms >= 1 && sleep_ms <= 1000, "sleep %lld ms", (long long)sleep_ms);
    for (int i = 0; i < 3; i++) {
        char offer[KN_UUID_STR], agency[KN_UUID_STR];
        cr_assert (s_offer (&referrals[i], KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer,
                            agency),
                   "referral %d was not offered", i);
    }
    routing_consumer_destroy (&consumer);
    cr_assert_null (consumer);
}

Test (routing, a_referrer_joining_a_known_family_sees_only_its_part)
{
    //  The school refers a child; the Polish centre takes the language support.
    referral_t first, second;
    const int language[] = {KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT};
    s_refer (50, language, 1, KINNET__V1__URGENCY__ROUTINE, "pl", &first);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    kn_error_t err;
    cr_assert (s_offer (&first, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
    cr_assert_eq (s_accept (agency, offer, "part-a", &err), 0, "%s", err.message);
    //  An agency that never had anything to do with the family refers the same child
    //  by name and date of birth: its referral joins the family's case.
    const int parenting[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    s_refer_as (far_away, 50, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, "north",
                &second);
    s_consume ();
    char *case_id = s_case_of (&first), *joined = s_case_of (&second);
    cr_assert_str_eq (case_id, joined);
    //  It sees its own referral and need and who was offered it; not the school's
    //  referral, the language need, who works on it, or the lead.
    Kinnet__V1__Case *part = NULL;
    cr_assert_eq (routing_store_get_case (routing, far_away, case_id, &part, &err), 0, "%s",
                  err.message);
    cr_assert_eq (part->n_referral_ids, 1);
    cr_assert_str_eq (part->referral_ids[0], second.referral_id);
    cr_assert_eq (part->n_needs, 1);
    cr_assert_eq (part->needs[0]->category, KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT);
    for (size_t i = 0; i < part->n_involvements; i++)
        cr_assert_str_eq (part->involvements[i]->need_id, part->needs[0]->need_id,
                          "an involvement on another agency's need was shown");
    cr_assert_str_eq (part->lead_agency_id, "");
    kinnet__v1__case__free_unpacked (part, NULL);
    //  The school, which opened the case, sees both referrals.
    Kinnet__V1__Case *whole = NULL;
    cr_assert_eq (routing_store_get_case (routing, school, case_id, &whole, &err), 0, "%s",
                  err.message);
    cr_assert_eq (whole->n_referral_ids, 2);
    cr_assert_eq (whole->n_needs, 2);
    kinnet__v1__case__free_unpacked (whole, NULL);
    //  Nor does it hear of the case as a whole: a lead appointed is not in its feed.
    Kinnet__V1__AppointLead lead = KINNET__V1__APPOINT_LEAD__INIT;
    lead.idempotency_key = "part-lead";
    lead.case_id = case_id;
    lead.agency_id = agency;
    lead.lead_caseworker_id = "pl-cw";
    Kinnet__V1__Case *led = NULL;
    bool replayed;
    cr_assert_eq (routing_store_lead (routing, school, now, &lead, &led, &replayed, &err), 0,
                  "%s", err.message);
    kinnet__v1__case__free_unpacked (led, NULL);
    cr_assert_geq (s_feed_count (school, "lead.changed"), 1);
    cr_assert_eq (s_feed_count (far_away, "lead.changed"), 0);
    //  It may not appoint one either.
    lead.idempotency_key = "part-lead-2";
    cr_assert_eq (routing_store_lead (routing, far_away, now, &lead, &led, &replayed, &err), -1);
    free (case_id);
    free (joined);
}

//  Announce the grounds that ended, until none is left.
static int
s_end_grounds (void)
{
    int handled = 0;
    kn_error_t err;
    cr_assert_eq (routing_store_end_grounds (routing, now, 1000, &handled, &err), 0, "%s",
                  err.message);
    return handled;
}

Test (routing, a_ground_that_runs_out_is_announced_and_its_offers_wait)
{
    //  A consent releases the health visitors' offer and they read the referral.
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH};
    s_refer (60, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &r);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH, offer, agency));
    cr_assert_str_eq (agency, health);
    char *agencies[] = {health};
    Kinnet__V1__DataCategory categories[] = {KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT,
                                             KINNET__V1__DATA_CATEGORY__PHYSICAL_HEALTH_DATA};
    char consent_id[KN_UUID_STR];
    s_consent_for (&r, "consent-60", agencies, 1, categories, 2, consent_id);
    kn_error_t err;
    s_consume ();
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement WHERE id = '%s'"
                           " AND NOT waiting_for_consent", offer), 1);
    intake_referral_t read;
    cr_assert_eq (intake_store_get (intake, health, r.referral_id, "", 1, &read, &err), 0, "%s",
                  err.message);
    intake_referral_free (&read);
    cr_assert_eq (s_end_grounds (), 0);

    //  It runs out (its end is set in the past directly: the API refuses that).
    free (s_sql ("UPDATE consent.record SET valid_from = now () - interval '2 days',"
                 " valid_until = now () - interval '1 second' WHERE id = '%s'",
                 consent_id));
    cr_assert_eq (s_end_grounds (), 1);
    cr_assert_eq (s_end_grounds (), 0);   // once
    cr_assert_eq (s_feed_count (health, "ground.expired"), 1);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement WHERE id = '%s'"
                           " AND waiting_for_consent", offer), 1);
    cr_assert_eq (s_feed_count (health, "offer.details_withdrawn"), 1);
    cr_assert_eq (s_feed_count (school, "ground.expired"), 0);   // it received nothing
}

Test (routing, an_overdue_override_review_is_escalated)
{
    //  The school's override; its review falls due unreviewed: every DPO and the
    //  district's child-protection lead (social care, for north) are told, once.
    char dpo_agency[KN_UUID_STR];
    kn_error_t err;
    kn_db_t *admin = kn_db_new (url, NULL, &err);
    s_agency (admin, "DPO", "local_authority", "north", dpo_agency);
    cr_assert_eq (kn_agency_set_role (admin, dpo_agency, "data_protection_officer", true, &err),
                  0);
    kn_db_destroy (&admin);
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    s_refer (61, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &r);
    char *agencies[] = {ngo};
    Kinnet__V1__DataCategory categories[] = {KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT};
    Kinnet__V1__Scope scope = KINNET__V1__SCOPE__INIT;
    scope.agencies = agencies;
    scope.n_agencies = 1;
    scope.categories = categories;
    scope.n_categories = 1;
    Kinnet__V1__SubjectRef subject = KINNET__V1__SUBJECT_REF__INIT;
    subject.subject_id = r.child_id;
    Kinnet__V1__RequestOverride request = KINNET__V1__REQUEST_OVERRIDE__INIT;
    request.idempotency_key = "override-61";
    request.subject = &subject;
    request.reason = KINNET__V1__OVERRIDE_REASON__RISK_OF_SIGNIFICANT_HARM;
    request.details = "Bruising seen at school; parent avoids contact.";
    request.approver_role = KINNET__V1__APPROVER_ROLE__DESIGNATED_SAFEGUARDING_LEAD;
    request.approver_id = "dsl-4";
    request.scope = &scope;
    Kinnet__V1__Override *override = NULL;
    cr_assert_eq (consent_store_override (consent, school, &request, &override, &err), 0, "%s",
                  err.message);
    cr_assert_eq (s_end_grounds (), 0);
    free (s_sql ("UPDATE consent.override SET review_due_at = now () - interval '1 second'"
                 " WHERE id = '%s'",
                 override->override_id));
    kinnet__v1__override__free_unpacked (override, NULL);
    cr_assert_eq (s_end_grounds (), 1);
    cr_assert_eq (s_end_grounds (), 0);
    cr_assert_eq (s_feed_count (dpo_agency, "override.review_overdue"), 1);
    cr_assert_eq (s_feed_count (social, "override.review_overdue"), 1);
    cr_assert_eq (s_feed_count (ngo, "override.review_overdue"), 0);
}

//  A log names only what exists: when the routing transaction fails at its COMMIT
//  (here a deferred constraint refuses every new offer), no offer.made and no
//  referral.routed is logged; once it commits, both are.
Test (routing, a_routing_that_did_not_commit_is_not_logged)
{
    free (
        s_sql ("CREATE FUNCTION routing.refuse_offers () RETURNS trigger LANGUAGE plpgsql"
               " AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"));
    free (s_sql (
        "CREATE CONSTRAINT TRIGGER refuse_offers AFTER INSERT ON routing.involvement"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
        " EXECUTE FUNCTION routing.refuse_offers ()"));
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    s_refer (71, needs, 1, KINNET__V1__URGENCY__ROUTINE, "en", &r);
    int saved;
    char *path = kn_test_stderr_begin (&saved);
    //  The consumer waits for older transactions in the cluster: try until it fails.
    int handled = 0, rc = 0;
    kn_error_t err;
    int64_t deadline = zclock_mono () + 20000;
    while ((rc = routing_store_consume (routing, now, 1000, &handled, &err)) == 0 &&
           zclock_mono () < deadline)
        zclock_sleep (10);
    char *failed = kn_test_stderr_end (saved, path);
    cr_assert_eq (rc, -1, "the refused COMMIT went through");
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement"), 0);
    cr_expect_null (strstr (failed, "offer.made"), "%s", failed);
    cr_expect_null (strstr (failed, "referral.routed"), "%s", failed);
    free (failed);

    free (s_sql ("DROP TRIGGER refuse_offers ON routing.involvement"));
    path = kn_test_stderr_begin (&saved);
    s_consume ();
    char *routed = kn_test_stderr_end (saved, path);
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement"), 1);
    cr_expect (strstr (routed, "\"event\":\"offer.made\""), "%s", routed);
    cr_expect (strstr (routed, "\"event\":\"referral.routed\""), "%s", routed);
    free (routed);
}

static void *
s_feed_thread (void *agency)
{
    return s_feed (agency, 0);
}

//  The events and last_seq of one read come from one snapshot. A writer holds the
//  feed head locked while the read starts, then commits event 1: a read that took
//  the events before the head and the head after would say last_seq 1 with no event,
//  and a reader that trusted it would skip event 1 for ever.
Test (routing, feed_read_is_one_snapshot)
{
    PGconn *writer = PQconnectdb (url);
    cr_assert_eq (PQstatus (writer), CONNECTION_OK);
    PQclear (PQexec (writer, "BEGIN; LOCK TABLE routing.feed_head IN ACCESS EXCLUSIVE MODE"));
    pthread_t reader;
    pthread_create (&reader, NULL, s_feed_thread, far_away);
    //  Wait until the read waits on the lock.
    int64_t deadline = zclock_mono () + 10000;
    while (s_count ("SELECT count (*) FROM pg_locks WHERE NOT granted"
                    " AND relation = 'routing.feed_head'::regclass")
           == 0)
        cr_assert (zclock_mono () < deadline, "the read never waited for the feed head");
    char sql[512];
    snprintf (sql, sizeof sql,
              "INSERT INTO routing.feed_head VALUES ('%s', 1);"
              " INSERT INTO routing.feed (agency_id, seq, topic, payload)"
              " VALUES ('%s', 1, 'test', '\\x0801'); COMMIT",
              far_away, far_away);
    PGresult *result = PQexec (writer, sql);
    cr_assert_eq (PQresultStatus (result), PGRES_COMMAND_OK, "%s", PQerrorMessage (writer));
    PQclear (result);
    PQfinish (writer);
    Kinnet__V1__FeedBatch *batch = NULL;
    pthread_join (reader, (void **) &batch);
    cr_assert_eq (batch->last_seq, (int64_t) batch->n_events,
                  "last_seq %lld with %zu event(s)", (long long) batch->last_seq,
                  batch->n_events);
    kinnet__v1__feed_batch__free_unpacked (batch, NULL);
}

Test (routing, deadlines_run_while_consuming_fails)
{
    const int needs[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    referral_t first, second;
    s_refer (91, needs, 1, KINNET__V1__URGENCY__PRIORITY, "en", &first);
    s_consume ();
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement WHERE status = 'offered'"),
                  1);
    //  From now on no new case can be made: the next referral (a new family) cannot
    //  be routed, while the first one's offer can still expire and pass on.
    free (s_sql ("CREATE FUNCTION routing.refuse_cases () RETURNS trigger LANGUAGE plpgsql"
                 " AS $$ BEGIN RAISE EXCEPTION 'no new cases'; END $$"));
    free (s_sql ("CREATE TRIGGER refuse_cases BEFORE INSERT ON routing.case"
                 " FOR EACH ROW EXECUTE FUNCTION routing.refuse_cases ()"));
    s_refer (92, needs, 1, KINNET__V1__URGENCY__PRIORITY, "en", &second);
    routing_consumer_t *consumer = routing_consumer_new (routing, 0, 100);
    kn_error_t err;
    //  A month on. The consumer waits for older transactions in the cluster: pass
    //  until consuming fails.
    int64_t rc = 0, deadline = zclock_mono () + 20000;
    while ((rc = routing_consumer_run_once (consumer, now + 30 * 86400, &err)) >= 0
           && zclock_mono () < deadline)
        zclock_sleep (10);
    cr_assert_eq (rc, -1, "the second referral was routed");
    cr_assert (*err.message, "a failure without a reason");
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.involvement WHERE status = 'expired'"),
                  1, "the offer did not expire while consuming failed");
    free (s_sql ("DROP TRIGGER refuse_cases ON routing.case"));
    s_consume ();
    char *case_id = s_case_of (&second);
    cr_assert (case_id, "the second referral was not routed once it could be");
    free (case_id);
    routing_consumer_destroy (&consumer);
}
