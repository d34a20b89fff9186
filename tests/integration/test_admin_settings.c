/*  The admin service's settings, through the real broker with CURVE: the routing
    rules shown (at their defaults when unset) and set, audited, bad values named;
    population figures loaded whole or not at all, a figure held replaced. */
#include "admin_fixture.h"

TestSuite (admin_settings, .init = s_fixture_setup, .fini = s_fixture_teardown,
           .timeout = 120);

static Kinnet__V1__AdminReply *
s_set_routing (const char *key, const char *name, const char *value)
{
    Kinnet__V1__SetRoutingSetting op = KINNET__V1__SET_ROUTING_SETTING__INIT;
    op.idempotency_key = (char *)key;
    op.key = (char *)name;
    op.value = (char *)value;
    Kinnet__V1__AdminRequest request = REQUEST (set_routing, SET_ROUTING, &op);
    return s_admin (KN_TEST_ADMIN, &request);
}

//  The setting called key in a RoutingSettings reply.
static const Kinnet__V1__RoutingSetting *
s_setting (const Kinnet__V1__RoutingSettings *settings, const char *key)
{
    for (size_t i = 0; i < settings->n_settings; i++)
        if (strcmp (settings->settings[i]->key, key) == 0)
            return settings->settings[i];
    cr_assert_fail ("no setting %s", key);
    return NULL;
}

Test (admin_settings, routing_rules_are_shown_and_set)
{
    //  Migrations write every rule; one without a row is shown at its default.
    free (kn_test_sql (kn_test_stack_db_url (stack),
                       "DELETE FROM routing.setting WHERE key = 'contact.urgent'"));
    Kinnet__V1__ShowRoutingSettings show = KINNET__V1__SHOW_ROUTING_SETTINGS__INIT;
    Kinnet__V1__AdminRequest request = REQUEST (show_routing, SHOW_ROUTING, &show);
    Kinnet__V1__AdminReply *reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    cr_expect_eq (reply->routing->n_settings, 11);
    const Kinnet__V1__RoutingSetting *contact =
        s_setting (reply->routing, "contact.urgent");
    cr_expect_str_eq (contact->value, "2 days");
    cr_expect_str_eq (contact->default_value, "2 days");
    cr_expect_null (contact->updated_at, "never set: no updated_at");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);

    reply = s_set_routing ("rt-1", "contact.urgent", "36 hours");
    s_ok (reply);
    contact = s_setting (reply->routing, "contact.urgent");
    cr_expect_str_eq (contact->value, "36 hours");
    cr_expect (contact->updated_at && contact->updated_at->seconds > 0);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    //  The trail says which rule changed.
    cr_expect_eq (s_count ("SELECT count (*) FROM core.audit WHERE operation ="
                           " 'set_routing' AND basis = 'contact.urgent'"
                           " AND result = 'ok'"),
                  1);
    cr_expect_eq (
        s_count ("SELECT count (*) FROM routing.setting WHERE key = 'contact.urgent'"
                 " AND value = '36 hours'"),
        1);

    reply = s_set_routing ("rt-2", "contact.urgent", "soonish");
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "contact.urgent");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    reply = s_set_routing ("rt-3", "colour", "blue");
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "key");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (
        s_count ("SELECT count (*) FROM routing.setting WHERE key = 'contact.urgent'"
                 " AND value = '36 hours'"),
        1);
}

Test (admin_settings, population_figures_load_whole_or_not_at_all)
{
    Kinnet__V1__PopulationFigure figures[3] = {KINNET__V1__POPULATION_FIGURE__INIT,
                                               KINNET__V1__POPULATION_FIGURE__INIT,
                                               KINNET__V1__POPULATION_FIGURE__INIT};
    Kinnet__V1__PopulationFigure *list[3] = {&figures[0], &figures[1], &figures[2]};
    const char *districts[] = {"north", "south", "east"};
    for (int i = 0; i < 3; i++) {
        figures[i].district = (char *)districts[i];
        figures[i].year = 2024;
        figures[i].children = 1000 * (i + 1);
    }
    figures[1].year = 1800;
    Kinnet__V1__ImportPopulation op = KINNET__V1__IMPORT_POPULATION__INIT;
    op.idempotency_key = "pop-1";
    op.figures = list;
    op.n_figures = 3;
    Kinnet__V1__AdminRequest request =
        REQUEST (import_population, IMPORT_POPULATION, &op);
    Kinnet__V1__AdminReply *reply = s_admin (KN_TEST_ADMIN, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "figures[1].year");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.population"), 0);

    figures[1].year = 2024;
    figures[2].children = -1;
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "figures[2].children");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.population"), 0);

    figures[2].children = 3000;
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    cr_expect_eq (reply->population_loaded->loaded, 3);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    //  A figure held already is replaced.
    figures[0].children = 1234;
    op.idempotency_key = "pop-2";
    op.n_figures = 1;
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);

    Kinnet__V1__ShowPopulation show = KINNET__V1__SHOW_POPULATION__INIT;
    request = REQUEST (show_population, SHOW_POPULATION, &show);
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_ok (reply);
    cr_assert_eq (reply->population->n_figures, 3);
    //  By district, then year.
    cr_expect_str_eq (reply->population->figures[0]->district, "east");
    cr_expect_str_eq (reply->population->figures[1]->district, "north");
    cr_expect_eq (reply->population->figures[1]->children, 1234);
    cr_expect_eq (reply->population->figures[1]->year, 2024);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
}
