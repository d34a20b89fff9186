/*  The outbox consumer's batches against a real PostgreSQL: many events routed in
    one transaction, a batch that fails keeps nothing, and one event that cannot be
    routed holds back only itself while every event before it is routed. */
#include "routing_fixture.h"

TestSuite (routing_batch, .init = s_setup, .fini = s_teardown, .timeout = 120);

static const int parenting[] = {KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};

static const char *routed = "SELECT count (*) FROM routing.case_referral WHERE referral_id = '%s'";

Test (routing_batch, many_events_share_one_transaction)
{
    enum { N = 30 };
    referral_t r[N];
    for (int i = 0; i < N; i++)
        s_refer (200 + i, parenting, 1, KINNET__V1__URGENCY__ROUTINE, NULL, &r[i]);
    cr_assert_geq (s_consume (), N);
    for (int i = 0; i < N; i++)
        cr_assert_eq (s_count (routed, r[i].referral_id), 1);
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
    int64_t deadline = zclock_mono () + 20000;
    while (s_count ("SELECT count (*) FROM core.outbox WHERE aggregate_id = '%s'"
                    " AND xid < core.write_horizon (pg_current_snapshot ())",
                    after.referral_id) == 0) {
        cr_assert (zclock_mono () < deadline, "the outbox never reached the horizon");
        zclock_sleep (10); // another database's writer is still running
    }

    //  The batch with it fails whole: nothing of it is kept.
    cr_assert (s_consume_fails (), "the poisoned event was routed");
    cr_assert_eq (s_count (routed, before.referral_id), 0, "a failed batch kept a part");
    cr_assert_eq (s_count ("SELECT count (*) FROM routing.consumed"), 0);

    //  Then one event per transaction: the one before it is routed, it is not, and
    //  the cursor waits at it (nothing after it is routed ahead of it).
    cr_assert (s_consume_fails ());
    cr_assert_eq (s_count (routed, before.referral_id), 1,
                  "an event before the failing one was held back with it");
    cr_assert_eq (s_count (routed, poisoned.referral_id), 0);
    cr_assert_eq (s_count (routed, after.referral_id), 0);

    //  Fixed: it and the rest are routed, each once.
    free (s_sql ("DROP TRIGGER test_poison ON routing.case_referral"));
    s_consume ();
    cr_assert_eq (s_count (routed, before.referral_id), 1);
    cr_assert_eq (s_count (routed, poisoned.referral_id), 1);
    cr_assert_eq (s_count (routed, after.referral_id), 1);
}
