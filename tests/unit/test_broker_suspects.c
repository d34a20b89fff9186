/*  broker_suspects: a request is known again by its agency, service and body, on
    any connection; the table forgets after its window, when a worker answered the
    request, and its oldest entry when full. */
#include <criterion/criterion.h>

#include "broker_suspects.h"

//  A request as the broker holds it: [client][""][Caller][body].
static zmsg_t *
s_request (const char *client, const char *caller, const char *body)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, client);
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, caller);
    zmsg_addstr (msg, body);
    return msg;
}

Test (suspects, the_same_bytes_on_any_connection_are_one_request)
{
    broker_suspects_t *suspects = broker_suspects_new (8, 1000);
    zmsg_t *first = s_request ("conn-1", "agency-a", "poison");
    zmsg_t *again = s_request ("conn-2", "agency-a", "poison");
    zmsg_t *other_agency = s_request ("conn-1", "agency-b", "poison");
    zmsg_t *other_body = s_request ("conn-1", "agency-a", "poison!");
    cr_assert_eq (broker_suspects_died (suspects, "intake", first, 0), 1);
    cr_assert_eq (broker_suspects_died (suspects, "intake", again, 10), 2);
    cr_assert_eq (broker_suspects_died (suspects, "intake", other_agency, 20), 1);
    cr_assert_eq (broker_suspects_died (suspects, "intake", other_body, 30), 1);
    cr_assert_eq (broker_suspects_died (suspects, "consent", first, 40), 1);
    //  Answered by a worker: no poison after all.
    broker_suspects_answered (suspects, "intake", again, 50);
    cr_assert_eq (broker_suspects_died (suspects, "intake", first, 60), 1);
    //  The window runs from the last death.
    cr_assert_eq (broker_suspects_died (suspects, "intake", first, 1060), 2);
    cr_assert_eq (broker_suspects_died (suspects, "intake", first, 2061), 1);
    zmsg_destroy (&first);
    zmsg_destroy (&again);
    zmsg_destroy (&other_agency);
    zmsg_destroy (&other_body);
    broker_suspects_destroy (&suspects);
    cr_assert_null (suspects);
}

Test (suspects, a_full_table_forgets_its_oldest)
{
    broker_suspects_t *suspects = broker_suspects_new (3, 1000);
    zmsg_t *msgs[4];
    char body[8];
    for (int i = 0; i < 4; i++) {
        snprintf (body, sizeof body, "r%d", i);
        msgs[i] = s_request ("c", "agency-a", body);
        cr_assert_eq (broker_suspects_died (suspects, "intake", msgs[i], i), 1);
    }
    //  r0 made room for r3; r1 to r3 are still known.
    cr_assert_eq (broker_suspects_died (suspects, "intake", msgs[3], 10), 2);
    cr_assert_eq (broker_suspects_died (suspects, "intake", msgs[2], 10), 2);
    cr_assert_eq (broker_suspects_died (suspects, "intake", msgs[1], 10), 2);
    cr_assert_eq (broker_suspects_died (suspects, "intake", msgs[0], 10), 1);
    for (int i = 0; i < 4; i++)
        zmsg_destroy (&msgs[i]);
    broker_suspects_destroy (&suspects);
}
