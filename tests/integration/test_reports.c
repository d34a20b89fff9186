/*  The auditors' reports against a real PostgreSQL, on data made by the real stores
    (intake referrals, routing offers accepted and contacted at known times): the
    counts each table gives, small counts withheld with what would betray them, and
    timeliness statistics given only over groups large enough. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "intake_store.h"
#include "kn_agency.h"
#include "kn_test.h"
#include "reporting_report_int.h"
#include "routing_store.h"

static char *url;
static kn_crypto_t *crypto;
static kn_db_t *intake_db, *routing_db, *reporting_db;
static kn_db_t *reporting_dbs[2];   //  reporting_db and a second session: reports use both
static intake_store_t *intake;
static routing_store_t *routing;
static char school[KN_UUID_STR], ngo[KN_UUID_STR];
static uint8_t key[32] = {9};
static int64_t t0;   // when the referrals are routed

static void
s_setup (void)
{
    url = kn_test_db_create ();
    free (kn_test_sql (url,
                       "INSERT INTO core.district (code, name) VALUES ('south', 'South'),"
                       " ('north', 'North')"));
    kn_error_t err;
    kn_db_t *admin = kn_db_new (url, NULL, &err);
    const char *names[] = {"School", "Family NGO"};
    const char *sectors[] = {"school", "ngo_community"};
    char *ids[] = {school, ngo};
    for (int i = 0; i < 2; i++) {
        zcert_t *cert = zcert_new ();
        cr_assert_eq (kn_agency_add (admin, names[i], sectors[i], "north", zcert_public_txt (cert),
                                     ids[i], &err),
                      0, "%s", err.message);
        zcert_destroy (&cert);
    }
    kn_db_destroy (&admin);
    char sql[256];
    snprintf (sql, sizeof sql, "INSERT INTO core.agency_need VALUES ('%s', 6)", ngo);
    free (kn_test_sql (url, sql));
    crypto = kn_crypto_new (key);
    intake_db = kn_db_new (url, "kinnet_intake", &err);
    routing_db = kn_db_new (url, "kinnet_routing", &err);
    reporting_db = kn_db_new (url, "kinnet_reporting", &err);
    cr_assert (intake_db && routing_db && reporting_db, "%s", err.message);
    reporting_dbs[0] = reporting_db;
    cr_assert (reporting_dbs[1] = kn_db_clone (reporting_db, &err), "%s", err.message);
    intake = intake_store_new (intake_db, crypto, &err);
    routing = routing_store_new (routing_db, crypto, &err);
    cr_assert (intake && routing, "%s", err.message);
    t0 = (int64_t) time (NULL);
}

static void
s_teardown (void)
{
    routing_store_destroy (&routing);
    intake_store_destroy (&intake);
    kn_db_destroy (&reporting_dbs[1]);
    kn_db_destroy (&reporting_db);
    kn_db_destroy (&routing_db);
    kn_db_destroy (&intake_db);
    kn_crypto_destroy (&crypto);
    free (url);
    kn_test_no_leaks ();
}

TestSuite (reports, .init = s_setup, .fini = s_teardown, .timeout = 120);

static void
s_refer_needs (int seed, int urgency, const char *district, const int *categories, size_t n);

static void
s_refer (int seed, int urgency, const char *district)
{
    const int housing[] = {KINNET__V1__NEED_CATEGORY__HOUSING_NEED};
    s_refer_needs (seed, urgency, district, housing, 1);
}

static void
s_refer_needs (int seed, int urgency, const char *district, const int *categories, size_t n)
{
    char given[32], idem[32];
    snprintf (given, sizeof given, "Child%d", seed);
    snprintf (idem, sizeof idem, "r-%d", seed);
    Kinnet__V1__Person child = KINNET__V1__PERSON__INIT;
    child.given_name = given;
    child.family_name = "Ahmed";
    child.date_of_birth = "2015-06-01";
    Kinnet__V1__Need need[4], *needs[4];
    cr_assert_leq (n, 4);
    for (size_t i = 0; i < n; i++) {
        kinnet__v1__need__init (&need[i]);
        need[i].category = categories[i];
        need[i].description = "Support needed.";
        needs[i] = &need[i];
    }
    Kinnet__V1__LawfulGround ground = KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    ground.justification = "Early help.";
    Kinnet__V1__SubmitReferral submit = KINNET__V1__SUBMIT_REFERRAL__INIT;
    submit.idempotency_key = idem;
    submit.child = &child;
    submit.needs = needs;
    submit.n_needs = n;
    submit.urgency = urgency;
    submit.district = (char *) district;
    submit.lawful_ground = &ground;
    intake_submit_result_t result;
    kn_error_t err;
    cr_assert_eq (intake_store_submit (intake, school, &submit, &result, &err), 0, "%s",
                  err.message);
}

//  Route everything, then the NGO accepts each open offer `accept_h` hours later and
//  makes first contact `contact_h` hours after routing.
static void
s_route_and_work (int accept_h, int contact_h)
{
    int64_t deadline = zclock_mono () + 20000;
    kn_error_t err;
    while (true) {
        int handled = 0;
        cr_assert_eq (routing_store_consume (routing, t0, 1000, &handled, &err), 0, "%s",
                      err.message);
        if (kn_test_outbox_past_cursor (url) == 0) {
            cr_assert_eq (kn_test_outbox_skipped (url), 0, "the cursor passed unhandled events");
            break;
        }
        cr_assert (zclock_mono () < deadline);
        zclock_sleep (10);
    }
    //  The need rows were stamped with the database clock; line them up with t0.
    char sql[256];
    snprintf (sql, sizeof sql, "UPDATE routing.need SET created_at = to_timestamp (%lld)",
              (long long) t0);
    free (kn_test_sql (url, sql));
    char *offers = kn_test_sql (url, "SELECT string_agg (i.id::text || ' ' || c.id::text, ',')"
                                     " FROM routing.involvement i JOIN routing.case c"
                                     " ON c.id = i.case_id WHERE i.status = 'offered'");
    for (char *item = offers ? strtok (offers, ",") : NULL; item; item = strtok (NULL, ",")) {
        char offer[KN_UUID_STR], case_id[KN_UUID_STR];
        sscanf (item, "%36s %36s", offer, case_id);
        Kinnet__V1__AcceptOffer accept = KINNET__V1__ACCEPT_OFFER__INIT;
        char idem[48];
        snprintf (idem, sizeof idem, "a-%s", offer);
        accept.idempotency_key = idem;
        accept.offer_id = offer;
        accept.caseworker_id = "";
        Kinnet__V1__Involvement *result = NULL;
        bool replayed;
        cr_assert_eq (routing_store_accept (routing, ngo, t0 + accept_h * 3600, &accept, &result,
                                            &replayed, &err),
                      0, "%s", err.message);
        kinnet__v1__involvement__free_unpacked (result, NULL);
        Kinnet__V1__RecordContact contact = KINNET__V1__RECORD_CONTACT__INIT;
        snprintf (idem, sizeof idem, "c-%s", offer);
        contact.idempotency_key = idem;
        contact.case_id = case_id;
        contact.caseworker_id = "";
        cr_assert_eq (routing_store_contact (routing, ngo, t0 + contact_h * 3600, &contact,
                                             &result, &replayed, &err),
                      0, "%s", err.message);
        kinnet__v1__involvement__free_unpacked (result, NULL);
    }
    free (offers);
}

//  A request for name over the days around t0 (from and to: its dates' storage).
static Kinnet__V1__RunReport
s_request (const char *name, const Kinnet__V1__ReportDimension *by, size_t n_by, char from[16],
           char to[16])
{
    time_t a = (time_t) t0 - 86400 * 3, b = (time_t) t0 + 86400 * 3;
    strftime (from, 16, "%Y-%m-%d", gmtime (&a));
    strftime (to, 16, "%Y-%m-%d", gmtime (&b));
    Kinnet__V1__RunReport run = KINNET__V1__RUN_REPORT__INIT;
    run.report = (char *) name;
    run.from = from;
    run.to = to;
    run.by = (Kinnet__V1__ReportDimension *) by;
    run.n_by = n_by;
    return run;
}

//  Run a report on sessions (both of reporting_dbs when NULL).
static Kinnet__V1__Report *
s_run_on (kn_db_t *const *sessions, size_t n_sessions, const char *name,
          const Kinnet__V1__ReportDimension *by, size_t n_by)
{
    char from[16], to[16];
    Kinnet__V1__RunReport run = s_request (name, by, n_by, from, to);
    kn_error_t err;
    cr_assert_eq (reporting_report_validate (&run, &err), 0, "%s", err.message);
    kn_sdc_config_t config = kn_sdc_config_default ();
    Kinnet__V1__Report *report = NULL;
    if (!sessions) {
        sessions = reporting_dbs;
        n_sessions = 2;
    }
    cr_assert_eq (reporting_report_run (sessions, n_sessions, &config, &run, t0, &report, &err), 0,
                  "%s", err.message);
    return report;
}

static Kinnet__V1__Report *
s_run (const char *name, const Kinnet__V1__ReportDimension *by, size_t n_by)
{
    return s_run_on (NULL, 0, name, by, n_by);
}

static const Kinnet__V1__ReportTable *
s_table (const Kinnet__V1__Report *report, const char *section)
{
    for (size_t s = 0; s < report->n_sections; s++)
        if (strcmp (report->sections[s]->name, section) == 0)
            return report->sections[s]->tables[0];
    cr_assert_fail ("no section %s", section);
    return NULL;
}

static const Kinnet__V1__ReportCell *
s_at (const Kinnet__V1__ReportTable *table, const char *row, const char *column)
{
    for (size_t r = 0; r < table->n_row_labels; r++)
        for (size_t c = 0; c < table->n_column_labels; c++)
            if (strcmp (table->row_labels[r], row) == 0
                && strcmp (table->column_labels[c], column) == 0)
                return table->cells[r * table->n_column_labels + c];
    cr_assert_fail ("no cell %s / %s", row, column);
    return NULL;
}

Test (reports, timeliness)
{
    for (int i = 0; i < 6; i++)
        s_refer (i, KINNET__V1__URGENCY__PRIORITY, "north");
    for (int i = 0; i < 2; i++)
        s_refer (50 + i, KINNET__V1__URGENCY__URGENT, "north");
    s_route_and_work (2, 5);
    Kinnet__V1__Report *report = s_run ("timeliness", NULL, 0);

    //  Placement: 8 needs, all accepted before their first deadline; 8 is shown.
    const Kinnet__V1__ReportTable *placement = s_table (report, "placement");
    const Kinnet__V1__ReportCell *in_time = s_at (placement, "", "PLACED_IN_TIME");
    cr_assert_not (in_time->withheld);
    cr_assert_eq (in_time->value, 8);
    cr_assert_eq (s_at (placement, "", "NOT_PLACED")->value, 0);

    //  Statistics: 6 priority needs, each accepted after 2 h, contacted after 5 h.
    const Kinnet__V1__ReportTable *time = s_table (report, "time");
    cr_assert (time->statistics);
    //  (The count of 6 itself may be withheld to protect the 2 urgent ones; the
    //  statistics over 6 people are not.)
    if (!s_at (time, "PRIORITY", "needs placed")->withheld)
        cr_assert_float_eq (s_at (time, "PRIORITY", "needs placed")->number, 6.0, 1e-9);
    cr_assert_float_eq (s_at (time, "PRIORITY", "median hours to acceptance")->number, 2.0, 1e-6);
    cr_assert_float_eq (s_at (time, "PRIORITY", "90th percentile hours to acceptance")->number,
                        2.0, 1e-6);
    cr_assert_float_eq (s_at (time, "PRIORITY", "deadline hours")->number, 72.0, 1e-6);
    cr_assert_float_eq (s_at (time, "PRIORITY", "placed within deadline (%)")->number, 100.0,
                        1e-6);
    const Kinnet__V1__ReportCell *contact = s_at (time, "PRIORITY", "median hours to first contact");
    cr_assert_not (contact->withheld);
    cr_assert_float_eq (contact->number, 5.0, 1e-6, "median first contact %f", contact->number);
    //  Two urgent needs: their count and every statistic about them are withheld.
    cr_assert (s_at (time, "URGENT", "needs placed")->withheld);
    cr_assert (s_at (time, "URGENT", "median hours to acceptance")->withheld);
    cr_assert (s_at (time, "URGENT", "median hours to first contact")->withheld);
    //  ... and so is a count that would give the 2 back from the others and the total.
    int withheld_counts = 0;
    const char *urgencies[] = {"ROUTINE", "PRIORITY", "URGENT", "EMERGENCY_SAFEGUARDING"};
    for (int u = 0; u < 4; u++)
        withheld_counts += s_at (time, urgencies[u], "needs placed")->withheld;
    cr_assert_geq (withheld_counts, 2);
    kinnet__v1__report__free_unpacked (report, NULL);
}

Test (reports, referrals_by_district_and_urgency)
{
    for (int i = 0; i < 6; i++)
        s_refer (i, KINNET__V1__URGENCY__PRIORITY, "north");
    for (int i = 0; i < 6; i++)
        s_refer (100 + i, KINNET__V1__URGENCY__ROUTINE, "south");
    s_refer (200, KINNET__V1__URGENCY__URGENT, "south");
    const Kinnet__V1__ReportDimension by[] = {KINNET__V1__REPORT_DIMENSION__BY_DISTRICT,
                                              KINNET__V1__REPORT_DIMENSION__BY_URGENCY};
    Kinnet__V1__Report *report = s_run ("referrals", by, 2);
    const Kinnet__V1__ReportTable *received = s_table (report, "referrals");
    cr_assert_str_eq (received->row_dimension, "district");
    cr_assert_str_eq (received->column_dimension, "urgency");
    //  Every urgency is a column, zeros included.
    cr_assert_eq (received->n_column_labels, 4);
    cr_assert_eq (s_at (received, "north", "PRIORITY")->value, 6);
    cr_assert_eq (s_at (received, "north", "EMERGENCY_SAFEGUARDING")->value, 0);
    cr_assert_not (s_at (received, "north", "EMERGENCY_SAFEGUARDING")->withheld);
    //  The single urgent referral in the south is withheld, and it cannot be had back
    //  from south's row total or the urgent column total.
    cr_assert (s_at (received, "south", "URGENT")->withheld);
    size_t south = strcmp (received->row_labels[0], "south") == 0 ? 0 : 1;
    bool row_safe = received->row_totals[south]->withheld
                    || s_at (received, "south", "ROUTINE")->withheld;
    cr_assert (row_safe, "south's row gives the withheld count back");
    cr_assert_geq (received->withheld, 2);
    kinnet__v1__report__free_unpacked (report, NULL);

    //  Months and weeks are labelled as such.
    const Kinnet__V1__ReportDimension by_time[] = {KINNET__V1__REPORT_DIMENSION__BY_MONTH,
                                                   KINNET__V1__REPORT_DIMENSION__BY_WEEK};
    report = s_run ("referrals", by_time, 2);
    received = s_table (report, "referrals");
    char month[8], week[12];
    time_t when = (time_t) t0;
    strftime (month, sizeof month, "%Y-%m", gmtime (&when));
    strftime (week, sizeof week, "%G-W%V", gmtime (&when));
    cr_assert_eq (received->n_row_labels, 1);
    cr_assert_str_eq (received->row_labels[0], month);
    cr_assert_str_eq (received->column_labels[0], week);
    cr_assert_eq (received->grand_total->value, 13);
    kinnet__v1__report__free_unpacked (report, NULL);
}

//  A referral with several needs counts once under each, with the need as rows or as
//  columns, and beside either dimension kind (a district, a month).
Test (reports, referrals_by_need)
{
    const int housing_income[] = {KINNET__V1__NEED_CATEGORY__HOUSING_NEED,
                                  KINNET__V1__NEED_CATEGORY__INCOME_POVERTY};
    const int housing[] = {KINNET__V1__NEED_CATEGORY__HOUSING_NEED};
    const int income_parenting[] = {KINNET__V1__NEED_CATEGORY__INCOME_POVERTY,
                                    KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT};
    for (int i = 0; i < 6; i++)
        s_refer_needs (i, KINNET__V1__URGENCY__PRIORITY, "north", housing_income, 2);
    for (int i = 0; i < 5; i++)
        s_refer_needs (100 + i, KINNET__V1__URGENCY__ROUTINE, "south", housing, 1);
    for (int i = 0; i < 7; i++)
        s_refer_needs (200 + i, KINNET__V1__URGENCY__ROUTINE, "south", income_parenting, 2);

    const Kinnet__V1__ReportDimension need_district[] = {KINNET__V1__REPORT_DIMENSION__BY_NEED,
                                                         KINNET__V1__REPORT_DIMENSION__BY_DISTRICT};
    Kinnet__V1__Report *report = s_run ("referrals", need_district, 2);
    const Kinnet__V1__ReportTable *received = s_table (report, "referrals");
    cr_assert_str_eq (received->row_dimension, "need");
    cr_assert_eq (s_at (received, "HOUSING_NEED", "north")->value, 6);
    cr_assert_eq (s_at (received, "HOUSING_NEED", "south")->value, 5);
    cr_assert_eq (s_at (received, "INCOME_POVERTY", "north")->value, 6);
    cr_assert_eq (s_at (received, "INCOME_POVERTY", "south")->value, 7);
    cr_assert_eq (s_at (received, "PARENTING_SUPPORT", "south")->value, 7);
    cr_assert_eq (s_at (received, "PARENTING_SUPPORT", "north")->value, 0);
    cr_assert_eq (received->withheld, 0);
    cr_assert_eq (received->grand_total->value, 31);   //  18 referrals, 31 needs
    kinnet__v1__report__free_unpacked (report, NULL);

    const Kinnet__V1__ReportDimension month_need[] = {KINNET__V1__REPORT_DIMENSION__BY_MONTH,
                                                      KINNET__V1__REPORT_DIMENSION__BY_NEED};
    report = s_run ("referrals", month_need, 2);
    received = s_table (report, "referrals");
    char month[8];
    time_t when = (time_t) t0;
    strftime (month, sizeof month, "%Y-%m", gmtime (&when));
    cr_assert_eq (received->n_row_labels, 1);
    cr_assert_str_eq (received->column_dimension, "need");
    cr_assert_eq (s_at (received, month, "HOUSING_NEED")->value, 11);
    cr_assert_eq (s_at (received, month, "INCOME_POVERTY")->value, 13);
    cr_assert_eq (s_at (received, month, "PARENTING_SUPPORT")->value, 7);
    cr_assert_eq (s_at (received, month, "DOMESTIC_ABUSE")->value, 0);
    //  Nobody was matched or withdrew: the other two tables count nothing, by need too.
    for (size_t t = 1; t < 3; t++)
        cr_assert_eq (report->sections[0]->tables[t]->grand_total->value, 0);
    kinnet__v1__report__free_unpacked (report, NULL);
}

//  A report's queries run side by side on several sessions in one snapshot: the
//  report is the same, byte for byte, on one session, on two, and with a session
//  that cannot join (it is in another database, so the snapshot cannot be imported
//  there) left out.
Test (reports, sessions_give_the_same_report)
{
    for (int i = 0; i < 6; i++)
        s_refer (i, KINNET__V1__URGENCY__PRIORITY, "north");
    for (int i = 0; i < 3; i++)
        s_refer (50 + i, KINNET__V1__URGENCY__URGENT, "south");
    s_route_and_work (2, 5);
    kn_error_t err;
    kn_db_t *elsewhere = kn_db_new (getenv ("KINNET_TEST_DATABASE_URL"), NULL, &err);
    cr_assert (elsewhere, "%s", err.message);
    kn_db_t *with_stranger[] = {reporting_db, elsewhere};
    const char *names[] = {"referrals", "declines", "timeliness", "team", "consent", "equity"};
    const Kinnet__V1__ReportDimension by[] = {KINNET__V1__REPORT_DIMENSION__BY_MONTH};
    for (size_t r = 0; r < sizeof names / sizeof names[0]; r++) {
        Kinnet__V1__Report *reports[3] = {
            s_run_on (reporting_dbs, 1, names[r], by, 1),
            s_run_on (reporting_dbs, 2, names[r], by, 1),
            s_run_on (with_stranger, 2, names[r], by, 1),
        };
        size_t size = kinnet__v1__report__get_packed_size (reports[0]);
        uint8_t *bytes[3];
        for (int k = 0; k < 3; k++) {
            cr_assert_eq (kinnet__v1__report__get_packed_size (reports[k]), size, "%s", names[r]);
            bytes[k] = malloc (size);
            kinnet__v1__report__pack (reports[k], bytes[k]);
        }
        cr_assert_gt (reports[0]->n_sections, 0);
        cr_assert_eq (memcmp (bytes[0], bytes[1], size), 0, "%s: two sessions differ", names[r]);
        cr_assert_eq (memcmp (bytes[0], bytes[2], size), 0, "%s: a left-out session", names[r]);
        for (int k = 0; k < 3; k++) {
            free (bytes[k]);
            kinnet__v1__report__free_unpacked (reports[k], NULL);
        }
    }
    kn_db_destroy (&elsewhere);
}

//  A query that fails fails the report, whichever session it ran on and while
//  another ran beside it; the sessions are fit for the next report.
Test (reports, a_failing_query_fails_the_report)
{
    s_refer (1, KINNET__V1__URGENCY__PRIORITY, "north");
    free (kn_test_sql (url, "REVOKE SELECT ON core.population FROM kinnet_reporting"));
    char from[16], to[16];
    Kinnet__V1__RunReport run = s_request ("equity", NULL, 0, from, to);
    kn_sdc_config_t config = kn_sdc_config_default ();
    Kinnet__V1__Report *report = NULL;
    kn_error_t err;
    cr_assert_eq (reporting_report_run (reporting_dbs, 2, &config, &run, t0, &report, &err), -1);
    cr_assert_null (report);
    cr_assert_eq (err.code, KN_E_INTERNAL);
    cr_assert (strstr (err.message, "42501"), "%s", err.message);   //  insufficient privilege
    free (kn_test_sql (url, "GRANT SELECT ON core.population TO kinnet_reporting"));
    report = s_run ("equity", NULL, 0);
    cr_assert_eq (report->n_sections, 2);
    kinnet__v1__report__free_unpacked (report, NULL);
}

Test (reports, team_and_consent)
{
    for (int i = 0; i < 8; i++)
        s_refer (i, KINNET__V1__URGENCY__ROUTINE, "north");
    s_route_and_work (1, 3);
    const Kinnet__V1__ReportDimension by_district[] = {KINNET__V1__REPORT_DIMENSION__BY_DISTRICT};
    Kinnet__V1__Report *report = s_run ("team", by_district, 1);
    cr_assert_eq (report->n_sections, 1);
    const Kinnet__V1__ReportSection *team = report->sections[0];
    cr_assert_eq (team->n_tables, 3);
    cr_assert_eq (s_at (team->tables[0], "north", "1 need")->value, 8);
    cr_assert_eq (s_at (team->tables[0], "north", "2 needs")->value, 0);
    cr_assert_eq (s_at (team->tables[1], "north", "1 agency")->value, 8);
    cr_assert_eq (s_at (team->tables[2], "north", "without one")->value, 8);
    cr_assert_eq (s_at (team->tables[2], "north", "with a lead professional")->value, 0);
    kinnet__v1__report__free_unpacked (report, NULL);

    //  A dimension a table does not have is refused, naming it.
    const Kinnet__V1__ReportDimension by_need[] = {KINNET__V1__REPORT_DIMENSION__BY_NEED};
    char from[16], to[16];
    Kinnet__V1__RunReport run = s_request ("team", by_need, 1, from, to);
    kn_sdc_config_t config = kn_sdc_config_default ();
    Kinnet__V1__Report *refused = NULL;
    kn_error_t err;
    cr_assert_eq (reporting_report_run (reporting_dbs, 2, &config, &run, t0, &refused, &err), -1);
    cr_assert_eq (err.code, KN_E_INVALID_ARGUMENT);
    cr_assert_str_eq (err.field, "by");
    cr_assert (strstr (err.message, "need"), "%s", err.message);

    //  Consent: every section is there, with every purpose and category as a row.
    report = s_run ("consent", NULL, 0);
    cr_assert_eq (report->n_sections, 3);
    cr_assert_str_eq (report->sections[0]->name, "consents");
    cr_assert_str_eq (report->sections[1]->name, "disclosures");
    cr_assert_str_eq (report->sections[2]->name, "overrides");
    const Kinnet__V1__ReportTable *by_purpose = report->sections[0]->tables[1];
    cr_assert_str_eq (by_purpose->row_dimension, "purpose");
    cr_assert_eq (by_purpose->n_row_labels, 4);
    cr_assert_eq (s_at (by_purpose, "SAFEGUARDING", "withdrawn")->value, 0);
    kinnet__v1__report__free_unpacked (report, NULL);
}

Test (reports, equity_and_population_import)
{
    for (int i = 0; i < 8; i++)
        s_refer (i, KINNET__V1__URGENCY__ROUTINE, "north");
    s_route_and_work (1, 3);
    //  No population figures yet: the rates section says so.
    Kinnet__V1__Report *report = s_run ("equity", NULL, 0);
    cr_assert_str_eq (report->sections[0]->name, "rates");
    cr_assert_not (report->sections[0]->available);
    cr_assert (strstr (report->sections[0]->note, "population import"));
    kinnet__v1__report__free_unpacked (report, NULL);

    //  The figures (loading them through the admin service is test_cli's and
    //  test_admin's): this year's, for north and for south.
    int year;
    {
        time_t now = (time_t) t0;
        year = gmtime (&now)->tm_year + 1900;
    }
    char sql[200];
    snprintf (sql, sizeof sql,
              "INSERT INTO core.population (district, year, children)"
              " VALUES ('north', %d, 2000), ('south', %d, 1500)",
              year, year);
    free (kn_test_sql (url, sql));

    report = s_run ("equity", NULL, 0);
    const Kinnet__V1__ReportSection *rates = report->sections[0];
    cr_assert (rates->available);
    const Kinnet__V1__ReportTable *table = rates->tables[0];
    cr_assert (table->statistics);
    cr_assert_float_eq (s_at (table, "north", "children")->number, 2000.0, 1e-9);
    cr_assert_float_eq (s_at (table, "north", "referrals")->number, 8.0, 1e-9);
    cr_assert_float_eq (s_at (table, "north", "referrals per 1,000 children")->number, 4.0, 1e-9);
    cr_assert_float_eq (s_at (table, "north", "needs placed per 1,000 children")->number, 4.0,
                        1e-9);
    //  South had no referrals: a true zero, and a rate of 0 is about nobody.
    cr_assert_not (s_at (table, "south", "referrals")->withheld);
    cr_assert_float_eq (s_at (table, "south", "referrals")->number, 0.0, 1e-9);
    cr_assert_str_eq (report->sections[1]->name, "languages");
    kinnet__v1__report__free_unpacked (report, NULL);
}

//  Rows 1..n labelled d1..dn, five referrals each, as a table by district.
static Kinnet__V1__ReportTable *
s_table_of_districts (int n, kn_error_t *err)
{
    char sql[160];
    snprintf (sql, sizeof sql,
              "SELECT 'd' || n, '', 5 FROM generate_series (1, %d) n", n);
    PGconn *conn = PQconnectdb (url);
    PGresult *rows = PQexec (conn, sql);
    cr_assert_eq (PQresultStatus (rows), PGRES_TUPLES_OK, "%s", PQerrorMessage (conn));
    const Kinnet__V1__ReportDimension by[] = {KINNET__V1__REPORT_DIMENSION__BY_DISTRICT};
    char from[16], to[16];
    Kinnet__V1__RunReport run = s_request ("referrals", by, 1, from, to);
    kn_sdc_config_t config = kn_sdc_config_default ();
    table_spec_t spec = {.title = "Referrals received", .base = BASE_REFERRAL};
    Kinnet__V1__ReportTable *table = reporting_table_build (rows, 2, &config, &run, &spec, err);
    PQclear (rows);
    PQfinish (conn);
    return table;
}

//  A table is whole or refused: 1,000 rows are all there, a 1,001st refuses it
//  (with the field to change), rather than leaving rows and their counts out.
Test (reports, a_table_past_the_limit_is_refused_not_cut)
{
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__ReportTable *table = s_table_of_districts (KN_SDC_MAX_SIDE, &err);
    cr_assert (table, "%s", err.message);
    cr_assert_eq (table->n_row_labels, KN_SDC_MAX_SIDE);
    cr_assert_eq (table->grand_total->value, 5 * KN_SDC_MAX_SIDE);
    kinnet__v1__report_table__free_unpacked (table, NULL);

    table = s_table_of_districts (KN_SDC_MAX_SIDE + 1, &err);
    cr_assert_null (table, "a table of %zu rows came back", table ? table->n_row_labels : 0);
    cr_assert_eq (err.code, KN_E_INVALID_ARGUMENT);
    cr_assert_str_eq (err.field, "by");
    cr_assert (strstr (err.message, "more than 1000 rows or columns"), "%s", err.message);
}
