/*  The outbox consumer's batches against a real PostgreSQL: many events routed in
    one transaction, a batch that fails keeps nothing, and one event that cannot be
    routed holds back only itself while every event before it is routed; offers
    made in a batch carry what a read of the need would give. */
#include <pthread.h>
#include <stdatomic.h>

#include "routing_fixture.h"

//  A batch ends on time, not on a count: a slow machine (a sanitizer build, a busy
//  CI host) could end one after a single event, and the tests below that need
//  several events in one batch would prove nothing. Their batches get a minute.
static void
s_setup_batches (void)
{
    setenv ("KINNET_ROUTING_BATCH_MS", "60000", 1);
    s_setup ();
}

TestSuite (routing_batch, .init = s_setup_batches, .fini = s_teardown, .timeout = 120);

//  One routing_store_consume that must succeed: the round trips it took, and in
//  *handled the events it consumed.
static uint64_t
s_consume_counting (int *handled)
{
    uint64_t before = kn_db_round_trips (routing_db);
    kn_error_t err;
    cr_assert_eq (routing_store_consume (routing, now, 1000, handled, &err), 0, "%s",
                  err.message);
    return kn_db_round_trips (routing_db) - before;
}

//  Wait until r's outbox event is below the consumer's horizon, so that a batch
//  taken now holds it and every event before it (another database's writer may
//  still be running).
static void
s_await_horizon (const referral_t *r)
{
    int64_t deadline = zclock_mono () + 20000;
    while (s_count ("SELECT count (*) FROM core.outbox WHERE aggregate_id = '%s'"
                    " AND xid < core.write_horizon (pg_current_snapshot ())",
                    r->referral_id) == 0) {
        cr_assert (zclock_mono () < deadline, "the outbox never reached the horizon");
        zclock_sleep (10);
    }
}

static const int parenting[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};

#define ROUTED "SELECT count (*) FROM routing.case_referral WHERE referral_id = '%s'"

Test (routing_batch, many_events_share_one_transaction)
{
    enum { N = 30 };
    referral_t r[N];
    for (int i = 0; i < N; i++)
        s_refer (200 + i, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &r[i]);
    cr_assert_geq (s_consume (), N);
    for (int i = 0; i < N; i++)
        cr_assert_eq (s_count (ROUTED, r[i].referral_id), 1);
    //  A transaction's rows share its now (): fewer distinct times than events means
    //  some transaction routed more than one.
    int events = s_count ("SELECT count (*) FROM routing.consumed");
    int transactions = s_count ("SELECT count (DISTINCT consumed_at) FROM routing.consumed");
    cr_expect_lt (transactions, events, "%d events in %d transactions", events, transactions);
}

//  routing_store_consume until it fails (true) or 10 s have passed (false): the
//  events may still be behind another database's writer (see s_consume).
static bool
s_consume_fails (void)
{
    int64_t deadline = zclock_mono () + 10000;
    while (zclock_mono () < deadline) {
        int handled = 0;
        kn_error_t err;
        if (routing_store_consume (routing, now, 1000, &handled, &err))
            return true;
        zclock_sleep (10);
    }
    return false;
}

Test (routing_batch, an_event_that_fails_holds_back_only_itself)
{
    referral_t before, poisoned, after;
    s_refer (300, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &before);
    s_refer (301, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &poisoned);
    s_refer (302, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &after);
    //  The database refuses to route the middle one (as a constraint or a bug might).
    free (s_sql ("CREATE FUNCTION routing.test_poison () RETURNS trigger LANGUAGE plpgsql"
                 " AS $$ BEGIN IF NEW.referral_id = '%s' THEN RAISE EXCEPTION 'poisoned';"
                 " END IF; RETURN NEW; END $$",
                 poisoned.referral_id));
    free (s_sql ("CREATE TRIGGER test_poison BEFORE INSERT ON routing.case_referral"
                 " FOR EACH ROW EXECUTE FUNCTION routing.test_poison ()"));

    //  All three below the consumer's horizon, so one batch holds them all.
    s_await_horizon (&after);

    //  The batch with it fails whole: nothing of it is kept.
    cr_assert (s_consume_fails (), "the poisoned event was routed");
    cr_assert_eq (s_count (ROUTED, before.referral_id), 0, "a failed batch kept a part");
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.consumed"), 0);

    //  Then one event per transaction: the one before it is routed, it is not, and
    //  the cursor waits at it (nothing after it is routed ahead of it).
    cr_assert (s_consume_fails ());
    cr_assert_eq (s_count (ROUTED, before.referral_id), 1,
                  "an event before the failing one was held back with it");
    cr_assert_eq (s_count (ROUTED, poisoned.referral_id), 0);
    cr_assert_eq (s_count (ROUTED, after.referral_id), 0);

    //  Fixed: it and the rest are routed, each once.
    free (s_sql ("DROP TRIGGER test_poison ON routing.case_referral"));
    s_consume ();
    cr_assert_eq (s_count (ROUTED, before.referral_id), 1);
    cr_assert_eq (s_count (ROUTED, poisoned.referral_id), 1);
    cr_assert_eq (s_count (ROUTED, after.referral_id), 1);
}

//  A referral's needs are offered with what the consumer knows of them, not read
//  back: a referral that joins its family's open case is offered with the case's
//  district and merged languages (not its own), its children and its referrer.
Test (routing_batch, an_offer_on_a_joined_case_carries_the_cases_facts)
{
    referral_t first, second;
    s_refer (300, parenting, 1, KINNET__V1__URGENCY__ROUTINE, "pl", &first);
    s_consume ();
    const int language[] = {KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT};
    s_refer_in (300, language, 1, KINNET__V1__URGENCY__ROUTINE, "en", "south", &second);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&second, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
    Kinnet__V1__FeedBatch *batch = s_feed (agency, 0);
    Kinnet__V1__Offer *made = NULL;
    for (size_t i = 0; i < batch->n_events; i++)
        if (batch->events[i]->offer &&
            strcmp (batch->events[i]->offer->referral_id, second.referral_id) == 0)
            made = batch->events[i]->offer;
    cr_assert (made, "no offer of the second referral in %s's feed", agency);
    cr_expect_str_eq (made->district, "north", "the case's district");
    cr_assert_eq (made->n_languages, 2);
    cr_expect_str_eq (made->languages[0], "en");
    cr_expect_str_eq (made->languages[1], "pl");
    cr_expect_eq (made->children, 1);
    cr_expect_str_eq (made->referring_agency_id, school);
    cr_expect_eq (made->urgency, KINNET__V1__URGENCY__ROUTINE);
    kinnet__v1__feed_batch__free_unpacked (batch, NULL);
}

//  The ranking factor the offer of need category to r's family gave its agency
//  first (continuity, in the default order): its score and detail.
static int64_t
s_first_factor (const referral_t *r, int category, char *detail, size_t size)
{
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (r, category, offer, agency));
    Kinnet__V1__FeedBatch *batch = s_feed (agency, 0);
    int64_t score = -1;
    for (size_t i = 0; i < batch->n_events; i++) {
        Kinnet__V1__Offer *made = batch->events[i]->offer;
        if (made && strcmp (made->involvement->involvement_id, offer) == 0) {
            Kinnet__V1__RankFactor *first = made->involvement->ranking->factors[0];
            cr_assert_str_eq (first->rule, "continuity");
            score = first->score;
            snprintf (detail, size, "%s", first->detail);
        }
    }
    kinnet__v1__feed_batch__free_unpacked (batch, NULL);
    return score;
}

//  Continuity comes from the family's history, whatever the agency's own volume: an
//  agency working with the family (2) or that worked with it (1) is offered its next
//  need before one that speaks the family's language (the default order).
Test (routing_batch, an_agency_the_family_knows_comes_first)
{
    const int language[] = {KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT};
    const char *states[] = {"accepted", "closed"};
    const char *details[] = {"already working with the family", "worked with the family before"};
    for (int k = 0; k < 2; k++) {
        referral_t first, second;
        s_refer (400 + k, parenting, 1, KINNET__V1__URGENCY__ROUTINE, "pl", &first);
        s_consume ();
        char offer[KN_UUID_STR], agency[KN_UUID_STR];
        cr_assert (s_offer (&first, KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT, offer, agency));
        cr_assert_str_eq (agency, ngo_pl);
        free (s_sql ("UPDATE routing.involvement SET status = '%s' WHERE id = '%s'", states[k],
                     offer));
        //  English: without continuity the English-speaking NGO would be offered it.
        s_refer (400 + k, language, 1, KINNET__V1__URGENCY__ROUTINE, "en", &second);
        s_consume ();
        char detail[80] = "";
        int64_t score = s_first_factor (&second, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT,
                                        detail, sizeof detail);
        cr_expect_eq (score, 2 - k, "%s: continuity %lld", states[k], (long long) score);
        cr_expect_str_eq (detail, details[k]);
        cr_assert (s_offer (&second, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
        cr_expect_str_eq (agency, ngo_pl, "%s", states[k]);
    }
}

//  A batch reads the settings once; a change applies from the next batch.
Test (routing_batch, a_settings_change_applies_to_the_next_batch)
{
#define DEADLINE "SELECT extract (epoch FROM i.deadline_at - i.offered_at)::bigint" \
                 " FROM routing.involvement i JOIN routing.need n ON n.id = i.need_id" \
                 " WHERE n.referral_id = '%s'"
    referral_t before, after;
    s_refer (500, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &before);
    s_consume ();
    free (s_sql ("INSERT INTO routing.setting (key, value) VALUES ('deadline.routine', '2 days')"
                 " ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
    s_refer (501, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &after);
    s_consume ();
    char *first = s_sql (DEADLINE, before.referral_id), *second = s_sql (DEADLINE, after.referral_id);
    cr_expect_str_eq (first, "864000", "the default, 10 days");
    cr_expect_str_eq (second, "172800", "the changed setting, 2 days");
    free (first);
    free (second);
    free (s_sql ("DELETE FROM routing.setting WHERE key = 'deadline.routine'"));
#undef DEADLINE
}

//  The child's guardian consents to sharing the given categories with every agency
//  of the fixture.
static void
s_consent_to (const referral_t *r, const char *idempotency,
              Kinnet__V1__DataCategory *categories, size_t n)
{
    char *agencies[] = {social, ngo, ngo_pl, health, far_away};
    s_consent_for (r, idempotency, agencies, sizeof agencies / sizeof agencies[0], categories,
                   n, NULL);
}

//  The offer in offer.made, byte for byte as the case reads it afterwards.
static Kinnet__V1__Involvement *
s_offer_made (const char *agency, const char *offer, Kinnet__V1__FeedBatch **batch)
{
    *batch = s_feed (agency, 0);
    for (size_t i = 0; i < (*batch)->n_events; i++) {
        Kinnet__V1__FeedEvent *event = (*batch)->events[i];
        if (strcmp (event->topic, "offer.made") == 0 &&
            strcmp (event->offer->involvement->involvement_id, offer) == 0)
            return event->offer->involvement;
    }
    cr_assert_fail ("no offer.made for %s", offer);
    return NULL;
}

static void
s_expect_as_read (const referral_t *r, int category, bool details)
{
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (r, category, offer, agency));
    Kinnet__V1__FeedBatch *batch;
    Kinnet__V1__Involvement *made = s_offer_made (agency, offer, &batch);
    cr_expect_eq (made->waiting_for_consent, !details, "offer %s", offer);
    char *case_id = s_case_of (r);
    Kinnet__V1__Case *read = NULL;
    kn_error_t err;
    cr_assert_eq (routing_store_get_case (routing, agency, case_id, &read, &err), 0, "%s",
                  err.message);
    Kinnet__V1__Involvement *stored = NULL;
    for (size_t i = 0; i < read->n_involvements; i++)
        if (strcmp (read->involvements[i]->involvement_id, offer) == 0)
            stored = read->involvements[i];
    cr_assert (stored, "the case has no offer %s", offer);
    size_t size = kinnet__v1__involvement__get_packed_size (made);
    cr_assert_eq (size, kinnet__v1__involvement__get_packed_size (stored));
    uint8_t *a = malloc (size ? size : 1), *b = malloc (size ? size : 1);
    kinnet__v1__involvement__pack (made, a);
    kinnet__v1__involvement__pack (stored, b);
    cr_expect_eq (memcmp (a, b, size), 0, "offer.made differs from the stored offer");
    free (a);
    free (b);
    free (case_id);
    kinnet__v1__case__free_unpacked (read, NULL);
    kinnet__v1__feed_batch__free_unpacked (batch, NULL);
}

//  offer.made carries the offer as it is stored (it is built from what was written,
//  not read back), and the consent policy decides for the referral's own child: a
//  referral about a child with a consent on record is offered readable.
Test (routing_batch, an_offer_made_is_the_offer_as_stored)
{
    referral_t first, second;
    s_refer (600, parenting, 1, KINNET__V1__URGENCY__PRIORITY, "pl", &first);
    s_consume ();
    s_expect_as_read (&first, KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT, false);
    Kinnet__V1__DataCategory both[] = {KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT,
                                       KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE};
    s_consent_to (&first, "consent-600", both, 2);
    s_consume ();
    const int language[] = {KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT};
    s_refer (600, language, 1, KINNET__V1__URGENCY__ROUTINE, "pl", &second);
    cr_assert_str_eq (second.child_id, first.child_id, "the same child");
    s_consume ();
    s_expect_as_read (&second, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, true);
}

//  A referral may name a category twice; its new case gets the need once.
Test (routing_batch, a_category_named_twice_is_one_need)
{
    referral_t r;
    const int twice[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT,
                         KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT,
                         KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    s_refer (700, twice, 3, KINNET__V1__URGENCY__ROUTINE, NULL, &r);
    s_consume ();
    cr_expect_eq (s_count ("SELECT count (*) FROM routing.need WHERE referral_id = '%s'",
                           r.referral_id), 2);
    cr_expect_eq (s_count ("SELECT count (*) FROM routing.involvement i JOIN routing.need n"
                           " ON n.id = i.need_id WHERE n.referral_id = '%s'", r.referral_id), 2);
}

//  A new case's needs are offered in one round: their candidates read in one round
//  trip and their consent grounds in another, however many needs there are; and
//  each need is ranked as if read after the offers before it (the NGO, full after
//  the first, does not get the second although it speaks the family's language).
Test (routing_batch, a_referrals_needs_are_offered_in_one_round)
{
    free (s_sql ("UPDATE core.agency SET capacity = 1 WHERE id = '%s'", ngo));
    free (s_sql ("DELETE FROM core.agency_need WHERE need = 8 AND agency_id <> '%s'", ngo));
    const int two[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT,
                       KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT};
    referral_t r;
    s_refer (720, two, 2, KINNET__V1__URGENCY__ROUTINE, "en", &r);
    s_await_horizon (&r);
    int handled = 0;
    uint64_t trips = s_consume_counting (&handled);
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT, offer, agency));
    cr_expect_str_eq (agency, ngo);
    cr_assert (s_offer (&r, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
    cr_expect_str_eq (agency, ngo_pl, "the full NGO got the second need");
    //  The referral itself (read alone: one in its batch), the candidates, the
    //  grounds; the transaction's three; three more to find nothing left.
    cr_expect_leq (trips, 3 + 3 + 3, "%llu round trips for a referral of two needs",
                   (unsigned long long)trips);
}

//  A run of referrals of different families is one round: the second family's
//  need is ranked as if read after the first's offer, in the order referred.
Test (routing_batch, a_run_ranks_each_need_after_the_offers_before_it)
{
    free (s_sql ("UPDATE core.agency SET capacity = 1 WHERE id = '%s'", ngo));
    const int language[] = {KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT};
    referral_t first, second;
    s_refer (730, language, 1, KINNET__V1__URGENCY__ROUTINE, "en", &first);
    s_refer (731, language, 1, KINNET__V1__URGENCY__ROUTINE, "en", &second);
    s_consume ();
    cr_expect_eq (s_count ("SELECT count (DISTINCT consumed_at) FROM routing.consumed"), 1,
                  "one batch");
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&first, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
    cr_expect_str_eq (agency, ngo, "the first referred gets the agency that speaks English");
    cr_assert (s_offer (&second, KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT, offer, agency));
    cr_expect_str_eq (agency, ngo_pl, "the full NGO got the second family's need");
}

//  A round counts its offers into each agency's last offer too: of two agencies
//  alike but for when they were last offered a need, the second family's need goes
//  to the one the round has not just offered the first's (fair rotation).
Test (routing_batch, a_run_rotates_among_agencies_alike)
{
    //  Parenting support from the social care team and the Polish centre only,
    //  neither with a capacity, neither speaking the families' language.
    free (s_sql ("DELETE FROM core.agency_need WHERE need = 8 AND agency_id NOT IN"
                 " ('%s', '%s')",
                 social, ngo_pl));
    referral_t first, second;
    s_refer (740, parenting, 1, KINNET__V1__URGENCY__ROUTINE, "de", &first);
    s_refer (741, parenting, 1, KINNET__V1__URGENCY__ROUTINE, "de", &second);
    s_consume ();
    cr_expect_eq (s_count ("SELECT count (DISTINCT consumed_at) FROM routing.consumed"), 1,
                  "one batch");
    char offer[KN_UUID_STR], one[KN_UUID_STR], other[KN_UUID_STR];
    cr_assert (s_offer (&first, KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT, offer, one));
    cr_assert (s_offer (&second, KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT, offer, other));
    cr_expect_str_neq (one, other, "both families' needs went to one agency");
}

//  A case counts the needs put on it (routing keeps routing.case.needs_count, no
//  trigger): a new case its first referral's categories, each once; a referral
//  that joins it only the needs it adds, not one the family has in hand.
Test (routing_batch, a_case_counts_the_needs_put_on_it)
{
    referral_t first, second, third;
    const int twice[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT,
                         KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT,
                         KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    const int more[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT,
                        KINNET__V1__NEED_CATEGORY__HOUSING_NEED};
    s_refer (710, twice, 3, KINNET__V1__URGENCY__ROUTINE, NULL, &first);
    s_refer (710, more, 2, KINNET__V1__URGENCY__ROUTINE, NULL, &second);
    s_refer (710, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &third);
    s_consume ();
    cr_expect_eq (s_count ("SELECT c.needs_count FROM routing.case c JOIN"
                           " routing.case_referral r ON r.case_id = c.id"
                           " WHERE r.referral_id = '%s'",
                           third.referral_id),
                  3);
    cr_expect_eq (s_count ("SELECT count (*) FROM routing.case c WHERE needs_count <>"
                           " (SELECT count (*) FROM routing.need n WHERE n.case_id = c.id)"),
                  0, "a case whose count is not its needs");
}

//  Whether health's offer of category to a new child (seed), whose guardian
//  consented to physical-health data alone, is readable.
static bool
s_readable_with_health_consent (int seed, int category)
{
    referral_t r;
    const int needs[] = {category};
    s_refer (seed, needs, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &r);
    Kinnet__V1__DataCategory physical[] = {KINNET__V1__DATA_CATEGORY__PHYSICAL_HEALTH_DATA};
    char idempotency[32];
    snprintf (idempotency, sizeof idempotency, "consent-%d", seed);
    s_consent_to (&r, idempotency, physical, 1);
    s_consume ();
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    cr_assert (s_offer (&r, category, offer, agency));
    cr_assert_str_eq (agency, health);
    return s_count ("SELECT count (*) FROM routing.involvement WHERE id = '%s'"
                    " AND NOT waiting_for_consent", offer) == 1;
}

//  An offer asks the consent policy about the data category its need implies
//  (core.need_data_category), as a data-protection officer has mapped it when the
//  batch starts.
Test (routing_batch, an_offer_asks_about_the_category_its_need_implies)
{
    cr_expect (s_readable_with_health_consent (800, KINNET__V1__NEED_CATEGORY__PHYSICAL_HEALTH));
    cr_expect_not (s_readable_with_health_consent (801, KINNET__V1__NEED_CATEGORY__MENTAL_HEALTH_NEED));
    free (s_sql ("UPDATE core.need_data_category SET category = %d WHERE need = %d",
                 KINNET__V1__DATA_CATEGORY__PHYSICAL_HEALTH_DATA,
                 KINNET__V1__NEED_CATEGORY__MENTAL_HEALTH_NEED));
    cr_expect (s_readable_with_health_consent (802, KINNET__V1__NEED_CATEGORY__MENTAL_HEALTH_NEED),
               "the changed mapping was not read");
    free (s_sql ("UPDATE core.need_data_category SET category = %d WHERE need = %d",
                 KINNET__V1__DATA_CATEGORY__MENTAL_HEALTH_DATA,
                 KINNET__V1__NEED_CATEGORY__MENTAL_HEALTH_NEED));
}

//  What routing referrals costs in round trips, whatever the machine's speed: new
//  families' referrals in a batch are taken in runs of up to 32, and a run costs
//  three (the referrals read ahead, each with its family's open case and its child
//  locked and read; every need's candidates; every offer's consent grounds),
//  however many referrals and needs it holds. Every write goes out with the next
//  read or the COMMIT.
Test (routing_batch, a_run_of_referrals_is_routed_in_three_round_trips)
{
    enum { N = 20 };
    referral_t r[N];
    for (int i = 0; i < N; i++)
        s_refer (900 + i, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &r[i]);
    //  All of them below the consumer's horizon, so one batch takes them all.
    s_await_horizon (&r[N - 1]);
    int handled = 0;
    uint64_t trips = s_consume_counting (&handled);
    cr_assert_eq (handled, N, "one batch");
    for (int i = 0; i < N; i++)
        cr_assert_eq (s_count (ROUTED, r[i].referral_id), 1);
    //  Three a run of 32, and what each transaction costs itself: BEGIN; the
    //  cursor, the events and the settings together; the COMMIT; then three more to
    //  find nothing left (BEGIN, no events, ROLLBACK).
    int transactions = s_count ("SELECT count (DISTINCT c.consumed_at) FROM routing.consumed c"
                                " JOIN core.outbox o ON o.id = c.outbox_id"
                                " WHERE o.aggregate_id IN (SELECT referral_id FROM"
                                "  routing.case_referral WHERE routed_at = to_timestamp (%lld))",
                                (long long) now);
    cr_assert_gt (transactions, 0);
    cr_expect_leq (trips, (uint64_t) (3 * ((N + 31) / 32) + 3 * transactions + 3),
                   "%llu round trips for %d referrals in %d transactions",
                   (unsigned long long) trips, N, transactions);
}

static atomic_bool consumed;

static void *
s_consume_thread (void *arg)
{
    (void) arg;
    int handled = 0;
    kn_error_t err;
    routing_store_consume (routing, now, 1000, &handled, &err);
    atomic_store (&consumed, true);
    return NULL;
}

//  An offer's consent decision holds its child's row locked from the consumer's
//  first read of the referral, as the consent policy locks a person: a consent
//  change under way (which locks the person for update) is waited for, so the
//  decision cannot miss a withdrawal committed beside it.
Test (routing_batch, an_offer_waits_for_a_consent_change_under_way)
{
    referral_t r;
    s_refer (1000, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &r);
    s_await_horizon (&r);
    kn_error_t err;
    kn_db_t *change = kn_db_new (url, "kinnet_consent", &err);
    cr_assert (change, "%s", err.message);
    cr_assert_eq (kn_db_exec (change, "BEGIN", &err), 0, "%s", err.message);
    const char *child[] = {r.child_id};
    PGresult *locked = kn_db_query (change, "SELECT 1 FROM core.subject WHERE id = $1"
                                            " FOR UPDATE", 1, child, &err);
    cr_assert (locked, "%s", err.message);
    PQclear (locked);
    atomic_store (&consumed, false);
    pthread_t thread;
    pthread_create (&thread, NULL, s_consume_thread, NULL);
    //  Routing waits on a lock while the change is open.
    int64_t deadline = zclock_mono () + 10000;
    while (s_count ("SELECT count (*) FROM pg_stat_activity WHERE usename = 'kinnet_routing'"
                    " AND wait_event_type = 'Lock' AND datname = current_database ()") == 0) {
        cr_assert_not (atomic_load (&consumed), "routing decided while the change was open");
        cr_assert (zclock_mono () < deadline, "routing never waited for the change");
        zclock_sleep (10); // polls the server's view of routing's session
    }
    cr_assert_not (atomic_load (&consumed));
    cr_assert_eq (kn_db_exec (change, "COMMIT", &err), 0, "%s", err.message);
    pthread_join (thread, NULL);
    kn_db_destroy (&change);
    cr_assert_eq (s_count (ROUTED, r.referral_id), 1);
}

//  A round's feed events go out in one statement (feed_append_many): each agency's
//  are numbered on from its head, with no gap, in the order its needs were
//  referred, and a need nobody can take is told to its referrer as stored.
Test (routing_batch, a_rounds_feed_events_are_numbered_in_order)
{
    enum { N = 5 };
    //  Parenting support from the social care team alone; housing from nobody.
    free (s_sql ("DELETE FROM core.agency_need WHERE need = 8 AND agency_id <> '%s'", social));
    free (s_sql ("DELETE FROM core.agency_need WHERE need = 6"));
    referral_t before, r[N];
    s_refer (750, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &before);
    s_consume ();
    int64_t head = s_count ("SELECT last_seq FROM routing.feed_head WHERE agency_id = '%s'",
                            social);
    int64_t told = s_count ("SELECT coalesce (max (last_seq), 0) FROM routing.feed_head"
                            " WHERE agency_id = '%s'", school);
    const int both[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT,
                        KINNET__V1__NEED_CATEGORY__HOUSING_NEED};
    for (int i = 0; i < N; i++)
        s_refer (751 + i, both, 2, KINNET__V1__URGENCY__PRIORITY, NULL, &r[i]);
    s_await_horizon (&r[N - 1]);
    int handled = 0;
    s_consume_counting (&handled);
    cr_assert_geq (handled, N, "the run in one batch");

    Kinnet__V1__FeedBatch *batch = s_feed (social, head);
    cr_assert_eq (batch->n_events, N, "%zu new events in the social team's feed",
                  batch->n_events);
    cr_expect_eq (batch->last_seq, head + N, "the head moved by the round's count");
    for (int i = 0; i < N; i++) {
        Kinnet__V1__FeedEvent *event = batch->events[i];
        cr_expect_eq (event->seq, head + 1 + i, "event %d numbered %lld", i,
                      (long long)event->seq);
        cr_assert (event->offer, "event %d is not an offer", i);
        cr_expect_str_eq (event->offer->referral_id, r[i].referral_id,
                          "offer %d out of the order referred", i);
    }
    kinnet__v1__feed_batch__free_unpacked (batch, NULL);

    batch = s_feed (school, told);
    int seen = 0;
    for (size_t e = 0; e < batch->n_events; e++) {
        Kinnet__V1__FeedEvent *event = batch->events[e];
        cr_expect_eq (event->seq, told + 1 + (int64_t)e, "the referrer's feed has a gap");
        if (strcmp (event->topic, "need.unplaced") != 0)
            continue;
        cr_assert_lt (seen, N);
        Kinnet__V1__CaseNeed *need = event->need;
        cr_expect_str_eq (need->referral_id, r[seen].referral_id, "notice out of order");
        //  As a read of the need says.
        char *stored = s_sql ("SELECT n.status || ' ' || n.category || ' ' || n.urgency"
                              " || ' ' || floor (extract (epoch FROM n.created_at))"
                              " || ' ' || n.case_id || ' ' || c.district FROM routing.need n"
                              " JOIN routing.case c ON c.id = n.case_id WHERE n.id = '%s'",
                              need->need_id);
        char told_as[256];
        snprintf (told_as, sizeof told_as, "%s %d %d %lld %s %s",
                  need->status == KINNET__V1__NEED_STATUS__NEED_UNPLACED ? "unplaced" : "not",
                  need->category,
                  need->urgency, (long long)need->created_at->seconds, need->case_id,
                  need->district);
        cr_expect_str_eq (told_as, stored);
        free (stored);
        seen++;
    }
    cr_expect_eq (seen, N, "%d need.unplaced notices", seen);
    kinnet__v1__feed_batch__free_unpacked (batch, NULL);
}

//  A run's rows go out one statement per table (routing_gather): each referral of
//  the run still has its case, as referred, its link to the case, and one audit row
//  of its routing, in the order referred. An emergency in the run (offered alone,
//  to the district's lead first) finds its case written; a referral joining its
//  family's case in the same batch finds the case the run wrote.
Test (routing_batch, a_runs_rows_are_each_written_once_in_order)
{
    enum { N = 4, EMERGENCY = 2 };
    referral_t r[N], joining;
    int urgency[N];
    for (int i = 0; i < N; i++) {
        urgency[i] = i == EMERGENCY ? KINNET__V1__URGENCY__EMERGENCY_SAFEGUARDING
                                    : KINNET__V1__URGENCY__PRIORITY;
        s_refer (760 + i, parenting, 1, urgency[i], "pl", &r[i]);
    }
    const int language[] = {KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT};
    s_refer (760, language, 1, KINNET__V1__URGENCY__EMERGENCY_SAFEGUARDING, "en", &joining);
    s_await_horizon (&joining);
    int handled = 0;
    s_consume_counting (&handled);
    cr_assert_geq (handled, N + 1, "the referrals in one batch");
    for (int i = 0; i < N; i++) {
        char *c = s_sql ("SELECT c.district || ' ' || array_to_string (c.languages, ',') || ' '"
                         " || c.urgency || ' ' || c.needs_count || ' ' || cr.full_view"
                         " || ' ' || cr.referring_agency_id FROM routing.case c"
                         " JOIN routing.case_referral cr ON cr.case_id = c.id"
                         " WHERE c.family_id = '%s' AND cr.referral_id = '%s'",
                         r[i].family_id, r[i].referral_id);
        char want[160];
        //  The first family's case was joined by an emergency about English.
        snprintf (want, sizeof want, "north %s %d %d true %s", i ? "pl" : "en,pl",
                  i ? urgency[i] : KINNET__V1__URGENCY__EMERGENCY_SAFEGUARDING,
                  i ? 1 : 2, school);
        cr_expect_str_eq (c ? c : "(no case)", want, "referral %d", i);
        free (c);
        cr_expect_eq (s_count ("SELECT count (*) FROM core.audit WHERE service = 'routing'"
                               " AND operation = 'route' AND result = 'ok' AND agency_id IS NULL"
                               " AND object_id = '%s' AND subject_ref = '%s'",
                               r[i].referral_id, r[i].family_id),
                      1, "referral %d's routing audited once", i);
    }
    cr_expect_eq (s_count ("SELECT count (*) FROM routing.case_referral WHERE referral_id = '%s'",
                           joining.referral_id), 1);
    char offer[KN_UUID_STR], agency[KN_UUID_STR];
    for (int i = 0; i < N; i++)
        cr_expect (s_offer (&r[i], KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT, offer, agency),
                   "referral %d's need not offered", i);
    //  Audited in the order referred.
    for (int i = 1; i < N; i++)
        cr_expect_eq (s_count ("SELECT count (*) FROM core.audit a, core.audit b"
                               " WHERE a.object_id = '%s' AND b.object_id = '%s' AND a.id < b.id"
                               " AND a.operation = 'route' AND b.operation = 'route'",
                               r[i - 1].referral_id, r[i].referral_id),
                      1, "referrals %d and %d audited out of order", i - 1, i);
}

//  A run whose referrals all join their families' cases and bring only needs in
//  hand offers nothing, and still writes what it gathered: each referral's link to
//  its case and its audit row.
Test (routing_batch, a_run_that_offers_nothing_still_writes_its_rows)
{
    referral_t first[2], again[2];
    for (int i = 0; i < 2; i++)
        s_refer (770 + i, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &first[i]);
    s_consume ();
    int offers = s_count ("SELECT count (*) FROM routing.involvement");
    for (int i = 0; i < 2; i++)
        s_refer (770 + i, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &again[i]);
    s_await_horizon (&again[1]);
    int handled = 0;
    s_consume_counting (&handled);
    cr_assert_geq (handled, 2, "both in one batch");
    cr_expect_eq (s_count ("SELECT count (*) FROM routing.involvement"), offers,
                  "a need in hand offered again");
    for (int i = 0; i < 2; i++) {
        cr_expect_eq (s_count (ROUTED, again[i].referral_id), 1, "referral %d not linked", i);
        cr_expect_eq (s_count ("SELECT count (*) FROM core.audit WHERE operation = 'route'"
                               " AND object_id = '%s'", again[i].referral_id),
                      1, "referral %d's routing not audited", i);
    }
}

//  Reading the next events costs the same whatever the ledger of handled events
//  holds: each event's row in it is looked up by its key, never the whole ledger
//  hashed (which an EXISTS let the planner do: 27 ms a read at 145,000 events
//  handled, growing with every event routed).
Test (routing_batch, reading_events_does_not_read_the_whole_ledger)
{
    //  A long history: events written, most of them handled.
    free (kn_test_sql (url, "INSERT INTO core.outbox (topic, aggregate_id, payload)"
                            " SELECT 'test.history', gen_random_uuid (), '\\x00'"
                            " FROM generate_series (1, 60000)"));
    free (kn_test_sql (url, "INSERT INTO routing.consumed (outbox_id)"
                            " SELECT id FROM core.outbox ORDER BY id LIMIT 50000"));
    free (kn_test_sql (url, "ANALYZE core.outbox, routing.consumed"));
    kn_error_t err;
    //  As the consumer runs it (kn_db_prefer_generic_plans), on a plan made now.
    cr_assert_eq (kn_db_exec (routing_db, "SET plan_cache_mode = force_generic_plan", &err),
                  0, "%s", err.message);
    cr_assert_eq (kn_db_exec (routing_db, "DISCARD PLANS", &err), 0, "%s", err.message);
    PGresult *plan = kn_db_query (routing_db, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)"
                                              " EXECUTE outbox_next (100)",
                                  0, NULL, &err);
    cr_assert (plan, "%s", err.message);
    size_t size = 0;
    for (int r = 0; r < PQntuples (plan); r++)
        size += strlen (PQgetvalue (plan, r, 0)) + 1;
    char *text = calloc (1, size + 1);
    for (int r = 0; r < PQntuples (plan); r++)
        strcat (strcat (text, PQgetvalue (plan, r, 0)), "\n");
    PQclear (plan);
    cr_expect_null (strstr (text, "Seq Scan on consumed"), "%s", text);
    cr_expect_null (strstr (text, "hashed SubPlan"), "%s", text);
    cr_expect (strstr (text, "consumed_pkey"), "%s", text);
    free (text);
}
