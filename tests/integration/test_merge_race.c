/*  A merge and an unmerge while referrals about both people keep arriving. The merge
    locks both people's indexes as a referral does, so each referral either commits
    before it (and its part is moved with the rest) or finds the person kept after
    it: none fails, and none leaves a part with the merged person. The unmerge gives
    back exactly what the merge listed, whatever arrived meanwhile, and loses none. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kn_test.h"
#include "kn_uuid.h"

static kn_test_stack_t *stack;

#define s_count(fmt, ...) kn_test_countf (kn_test_stack_db_url (stack), fmt, __VA_ARGS__)

//  Referrals of seeds 71 and 72 in turn, until stop.
typedef struct {
    int id;                 // the thread's, for its keys
    volatile int stop;
    volatile int sent;
    int failed;
    char problem[256];
} traffic_t;

static void *
s_traffic (void *arg)
{
    traffic_t *traffic = arg;
    kn_client_t *client = kn_test_stack_client (stack, 0, 10000, 2);
    while (!traffic->stop) {
        char key[48];
        snprintf (key, sizeof key, "race-%d-%d", traffic->id, traffic->sent);
        zframe_t *body = kn_test_referral_request (71 + traffic->sent % 2, key);
        kn_error_t err;
        zframe_t *reply =
            kn_client_call (client, "intake", zframe_data (body), zframe_size (body), &err);
        zframe_destroy (&body);
        Kinnet__V1__IntakeReply *decoded =
            reply ? kinnet__v1__intake_reply__unpack (NULL, zframe_size (reply),
                                                      zframe_data (reply))
                  : NULL;
        zframe_destroy (&reply);
        if (!decoded || decoded->error) {
            traffic->failed++;
            snprintf (traffic->problem, sizeof traffic->problem, "%s",
                      !decoded ? err.message
                               : decoded->error ? decoded->error->message : "");
        }
        if (decoded)
            kinnet__v1__intake_reply__free_unpacked (decoded, NULL);
        traffic->sent++;
    }
    kn_client_destroy (&client);
    return NULL;
}

//  Run both traffic threads while the DPO runs command (its arguments).
static void
s_under_load (const char *command, char **out)
{
    traffic_t traffic[2] = {{.id = 0}, {.id = 1}};
    static int round;
    pthread_t threads[2];
    for (int t = 0; t < 2; t++) {
        traffic[t].id = 2 * round + t;
        pthread_create (&threads[t], NULL, s_traffic, &traffic[t]);
    }
    round++;
    while (traffic[0].sent + traffic[1].sent < 6)
        zclock_sleep (5);   // polled: the traffic has begun
    int code = kn_test_stack_cli (stack, 1, out, "%s", command);
    int sent = traffic[0].sent + traffic[1].sent;
    while (traffic[0].sent + traffic[1].sent < sent + 6)
        zclock_sleep (5);   // polled: some arrive after it
    traffic[0].stop = traffic[1].stop = 1;
    for (int t = 0; t < 2; t++)
        pthread_join (threads[t], NULL);
    cr_assert_eq (code, 0, "%s", *out);
    for (int t = 0; t < 2; t++)
        cr_assert_eq (traffic[t].failed, 0, "%d of %d referrals failed: %s",
                      traffic[t].failed, traffic[t].sent, traffic[t].problem);
}

static void
s_setup (void)
{
    stack = kn_test_stack_new ();
    kn_test_stack_grant (stack, 1, "data_protection_officer");
    kn_test_stack_start_records (stack);
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (merge_race, .init = s_setup, .fini = s_teardown, .timeout = 180);

Test (merge_race, referrals_during_a_merge_and_an_unmerge_all_land_once)
{
    //  The two people, and the merge and unmerge under load.
    char a[KN_UUID_STR], b[KN_UUID_STR], merge_id[KN_UUID_STR];
    kn_test_stack_refer (stack, 0, 71, "first-71", a);
    kn_test_stack_refer (stack, 0, 72, "first-72", b);
    cr_assert_str_neq (a, b);
    char *out = NULL, command[200];
    snprintf (command, sizeof command,
              "--format json subject merge %s %s --reference RACE/1", a, b);
    s_under_load (command, &out);
    char *at = strstr (out, "\"merge_id\": \"");
    cr_assert (at, "%s", out);
    snprintf (merge_id, sizeof merge_id, "%.36s", at + strlen ("\"merge_id\": \""));
    free (out);
    //  Every referral is one person's: none left with the merged one.
    int total = s_count ("SELECT count(*) FROM intake.referral_subject WHERE %s", "true");
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral_subject WHERE subject_id"
                           " = '%s'", a),
                  total, "a referral part is not the kept person's");
    int listed = s_count ("SELECT count(*) FROM core.subject_merge_row WHERE merge_id = '%s'"
                          " AND kind = 'referral'", merge_id);
    cr_assert_geq (listed, 1);

    //  The unmerge gives back exactly what was listed; the rest stays.
    snprintf (command, sizeof command, "subject unmerge %s --reference RACE/2", merge_id);
    s_under_load (command, &out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral_subject rs"
                           " JOIN core.subject_merge_row m ON m.row_id = rs.referral_id"
                           " WHERE m.merge_id = '%s' AND rs.subject_id = '%s'",
                           merge_id, b),
                  listed, "what the merge listed did not all come back");
    //  Nothing is lost or doubled: each referral names one of them, once.
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral_subject WHERE %s", "true"),
                  s_count ("SELECT count(*) FROM intake.referral WHERE %s", "true"));
}

//  A DPO command run on a thread of its own.
typedef struct {
    const char *command;
    char *out;
    int code;
} command_t;

static void *
s_command (void *arg)
{
    command_t *command = arg;
    command->code = kn_test_stack_cli (stack, 1, &command->out, "%s", command->command);
    return NULL;
}

Test (merge_race, a_merge_that_commits_while_another_waits_is_seen)
{
    //  Three people. A session holds A's own lock as a merge would; the DPO's merge of
    //  B into A waits behind it; meanwhile C is merged into A (by hand: what another
    //  merge would commit). The waiting merge must see C, whose index it never
    //  locked, and refuse rather than move B's records under a stale picture.
    char people[3][KN_UUID_STR];
    for (int i = 0; i < 3; i++) {
        char key[16];
        snprintf (key, sizeof key, "third-%d", i);
        kn_test_stack_refer (stack, 0, 80 + i, key, people[i]);
    }
    kn_error_t err;
    kn_db_t *owner = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    cr_assert (owner, "%s", err.message);
    char sql[300];
    snprintf (sql, sizeof sql,
              "BEGIN; SELECT pg_advisory_xact_lock (hashtextextended ('kinnet.subject:' ||"
              " '%s', 0))",
              people[0]);
    cr_assert_eq (kn_db_exec (owner, sql, &err), 0, "%s", err.message);
    char text[200];
    snprintf (text, sizeof text, "subject merge %s %s --reference RACE/3", people[0],
              people[1]);
    command_t command = {.command = text};
    pthread_t thread;
    pthread_create (&thread, NULL, s_command, &command);
    int64_t deadline = zclock_mono () + 20000;
    while (kn_test_countf (kn_test_stack_db_url (stack), "SELECT count(*) FROM pg_locks WHERE"
                           " locktype = 'advisory' AND NOT %s", "granted") == 0 &&
           zclock_mono () < deadline)
        zclock_sleep (10);   // polled: the merge is waiting for the lock held here
    snprintf (sql, sizeof sql,
              "SELECT core.begin_write (); UPDATE core.subject SET merged_into = '%s'"
              " WHERE id = '%s'; COMMIT",
              people[0], people[2]);
    cr_assert_eq (kn_db_exec (owner, sql, &err), 0, "%s", err.message);
    pthread_join (thread, NULL);
    kn_db_destroy (&owner);
    cr_assert_eq (command.code, 5, "%s", command.out);
    cr_assert (strstr (command.out, "send it again"), "%s", command.out);
    free (command.out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject WHERE id = '%s' AND"
                           " merged_into IS NOT NULL", people[1]),
                  0, "the merge went ahead on a stale picture");
}
