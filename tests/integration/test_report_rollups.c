/*  The report rollups (issue 19) against a real PostgreSQL: every report that reads
    rollups publishes the same cells as the raw path (KINNET_REPORT_ROLLUPS=off) on
    the same data, before the job ran, after it caught up, after rows of rolled-up
    days changed, and after a change the job's snapshot did not see; the rollup path
    really reads the rollups; a pass that dies leaves every mark in place. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kn_test.h"
#include "reporting_report_int.h"
#include "reporting_rollup.h"

static char *url;
static kn_db_t *reporting_dbs[2];
static kn_db_t *job_db;

//  n referrals over 2026-01-01 .. 2026-03-01 (UTC), 12 agencies in 4 districts, a
//  fifth of the families known before, one in 23 withdrawn: as ops/bench-reports
//  makes them, smaller.
static void
s_generate (int n)
{
    char sql[4096];
    snprintf (
        sql, sizeof sql,
        "INSERT INTO core.agency (id, name, sector, district, capacity)"
        " SELECT gen_random_uuid (), 'Agency ' || g,"
        "  (ARRAY['school','social_services','health','ngo_community','housing'])[1 + g %% 5],"
        "  (ARRAY['north','south','east','west'])[1 + g %% 4], NULL"
        " FROM generate_series (1, 12) g;"
        "CREATE TEMP TABLE a AS SELECT row_number () OVER (ORDER BY id) AS k, id, district"
        " FROM core.agency;"
        "CREATE TEMP TABLE f AS SELECT g AS k, gen_random_uuid () AS id"
        " FROM generate_series (1, %d) g;"
        "INSERT INTO core.family (id) SELECT id FROM f;"
        "INSERT INTO intake.referral (id, referring_agency_id, family_id, status, urgency,"
        "  district, needs, languages, children, family_matched, lawful_basis, personal,"
        "  received_at)"
        " SELECT gen_random_uuid (), a.id, f.id,"
        "  CASE WHEN g %% 23 = 0 THEN 'withdrawn' ELSE 'received' END, 1 + (g %% 10) / 4,"
        "  a.district, CASE WHEN g %% 3 = 0 THEN ARRAY[1 + g %% 14, 1 + (g / 14) %% 14]::smallint[]"
        "  ELSE ARRAY[1 + g %% 14]::smallint[] END, ARRAY['en'], 1, g %% 5 = 0, 3,"
        "  decode (md5 (g::text), 'hex'),"
        "  timestamptz '2026-01-01 00:00Z' + (g::float8 / %d) * interval '59 days'"
        " FROM generate_series (1, %d) g JOIN a ON a.k = 1 + g %% 12"
        " JOIN f ON f.k = 1 + (g::bigint * 7919) %% %d;",
        n * 4 / 5, n, n, n * 4 / 5);
    //  The agencies' districts, registered first (migration 0048), on their own.
    free (kn_test_sql (url,
                       "INSERT INTO core.district (code) VALUES ('north'), ('south'),"
                       " ('east'), ('west') ON CONFLICT DO NOTHING"));
    free (kn_test_sql (url, sql));
    free (kn_test_sql (
        url,
        "INSERT INTO core.agency_language SELECT id, (ARRAY['en','pl','ar','uk'])"
        "  [1 + (hashtext (id::text) & 3)] FROM core.agency;"
        "INSERT INTO routing.case (id, family_id, status, district, languages, urgency,"
        "  opened_at)"
        " SELECT gen_random_uuid (), r.family_id, 'open', min (r.district),"
        "  CASE hashtext (r.family_id::text) & 3 WHEN 0 THEN ARRAY['en'] WHEN 1"
        "   THEN ARRAY['so'] WHEN 2 THEN ARRAY['pl','so'] ELSE ARRAY[]::text[] END,"
        "  max (r.urgency), min (r.received_at)"
        " FROM intake.referral r GROUP BY r.family_id;"
        "INSERT INTO routing.need (id, case_id, referral_id, category, urgency, status,"
        "  created_at, district, referring_agency_id)"
        " SELECT gen_random_uuid (), c.id, r.id, r.needs[1], r.urgency,"
        "  (ARRAY['placed','placed','placed','offered','unplaced','closed'])"
        "   [1 + (hashtext (r.id::text) & 7) % 6],"
        "  r.received_at + interval '5 seconds', r.district, r.referring_agency_id"
        " FROM intake.referral r JOIN routing.case c ON c.family_id = r.family_id;"
        "CREATE TEMP TABLE a2 AS SELECT row_number () OVER (ORDER BY id) AS k, id"
        " FROM core.agency;"
        "INSERT INTO routing.involvement (id, case_id, need_id, agency_id, status, rank,"
        "  ranked_by, waiting_for_consent, offered_at, deadline_at, decided_at,"
        "  decline_reason, first_contact_at, closed_at, outcome)"
        " SELECT gen_random_uuid (), n.case_id, n.id, a2.id,"
        "  CASE n.status WHEN 'placed' THEN 'accepted' WHEN 'closed' THEN 'closed'"
        "   WHEN 'offered' THEN CASE WHEN hashtext (n.id::text) & 8 = 0 THEN 'offered'"
        "   ELSE 'expired' END ELSE 'declined' END,"
        "  1, '\\x'::bytea, false, n.created_at, n.created_at + interval '3 days',"
        "  CASE WHEN n.status <> 'offered' OR hashtext (n.id::text) & 8 <> 0 THEN n.created_at"
        "   + (hashtext (n.id::text) & 255) * interval '20 minutes' END,"
        "  CASE WHEN n.status = 'unplaced' THEN 1 + (hashtext (n.id::text) & 3) END,"
        "  CASE WHEN n.status IN ('placed', 'closed') THEN n.created_at"
        "   + (hashtext (n.id::text) & 127) * interval '37 minutes' END,"
        "  CASE WHEN n.status = 'closed' THEN n.created_at + interval '9 days' END,"
        "  CASE WHEN n.status = 'closed' THEN 1 + (hashtext (n.id::text) & 3) END"
        " FROM routing.need n JOIN a2 ON a2.k = 1 + (hashtext (n.id::text) & 7);"
        "UPDATE routing.need nd SET first_offered_at = t.first_offered,"
        "  first_deadline_at = t.first_deadline, accepted_at = t.accepted_at,"
        "  first_contact_at = t.contact_at"
        " FROM (SELECT i.need_id, min (i.offered_at) AS first_offered,"
        "  (array_agg (i.deadline_at ORDER BY i.offered_at))[1] AS first_deadline,"
        "  min (i.decided_at) FILTER (WHERE i.status IN ('accepted', 'closed',"
        "   'transferred')) AS accepted_at, min (i.first_contact_at) AS contact_at"
        "  FROM routing.involvement i GROUP BY i.need_id) t WHERE t.need_id = nd.id;"
        "UPDATE routing.case c SET needs_count = k.needs, agencies_count = k.agencies,"
        "  accepted_now = k.accepted,"
        "  lead_agency_id = CASE WHEN k.accepted > 0 AND hashtext (c.id::text) & 1 = 0"
        "   THEN k.agency END"
        " FROM (SELECT c.id, (SELECT count (*) FROM routing.need n WHERE n.case_id = c.id)"
        "  AS needs, (SELECT count (DISTINCT i.agency_id) FROM routing.involvement i"
        "  WHERE i.case_id = c.id AND i.status IN ('accepted', 'closed', 'transferred'))"
        "  AS agencies, (SELECT count (*) FROM routing.involvement i WHERE i.case_id = c.id"
        "  AND i.status = 'accepted') AS accepted, (SELECT min (i.agency_id::text)::uuid"
        "  FROM routing.involvement i WHERE i.case_id = c.id) AS agency"
        "  FROM routing.case c) k WHERE k.id = c.id;"
        "INSERT INTO core.population (district, year, children) SELECT d, 2026, 2000 * k"
        " FROM unnest (ARRAY['north','south','east','west']) WITH ORDINALITY AS t (d, k);"));
}

static void
s_setup (void)
{
    url = kn_test_db_create ();
    kn_error_t err;
    reporting_dbs[0] = kn_db_new (url, "kinnet_reporting", &err);
    cr_assert (reporting_dbs[0], "%s", err.message);
    cr_assert (reporting_dbs[1] = kn_db_clone (reporting_dbs[0], &err), "%s",
               err.message);
    job_db = kn_db_new (url, "kinnet_reporting", &err);
    cr_assert (job_db, "%s", err.message);
    s_generate (3000);
}

static void
s_teardown (void)
{
    unsetenv ("KINNET_REPORT_ROLLUPS");
    kn_db_destroy (&job_db);
    kn_db_destroy (&reporting_dbs[1]);
    kn_db_destroy (&reporting_dbs[0]);
    free (url);
    kn_test_no_leaks ();
}

TestSuite (report_rollups, .init = s_setup, .fini = s_teardown, .timeout = 240);

//  Run passes until the rollups have caught up.
static void
s_catch_up (void)
{
    kn_error_t err;
    int rc, passes = 0;
    while ((rc = reporting_rollup_run_once (job_db, 31, NULL, &err)) == 0)
        cr_assert_lt (++passes, 100);
    cr_assert_eq (rc, 1, "%s", err.message);
}

static Kinnet__V1__Report *
s_report (const char *name, const char *from, const char *to,
          const Kinnet__V1__ReportDimension *by, size_t n_by, bool rollups)
{
    setenv ("KINNET_REPORT_ROLLUPS", rollups ? "on" : "off", 1);
    Kinnet__V1__RunReport run = KINNET__V1__RUN_REPORT__INIT;
    run.report = (char *)name;
    run.from = (char *)from;
    run.to = (char *)to;
    run.by = (Kinnet__V1__ReportDimension *)by;
    run.n_by = n_by;
    kn_error_t err;
    cr_assert_eq (reporting_report_validate (&run, &err), 0, "%s", err.message);
    kn_sdc_config_t config = kn_sdc_config_default ();
    Kinnet__V1__Report *report = NULL;
    if (reporting_report_run (reporting_dbs, 2, &config, &run, 1790000000, &report, &err))
        cr_assert_eq (err.code, KN_E_INVALID_ARGUMENT, "%s", err.message);
    return report; //  NULL: the breakdown does not apply to this report
}

//  Whether two cells publish the same thing.
static bool
s_same_cell (const Kinnet__V1__ReportCell *a, const Kinnet__V1__ReportCell *b)
{
    return a->withheld == b->withheld && a->value == b->value && a->number == b->number;
}

//  The published cells of a and b, table by table: labels, cells, totals. Returns the
//  number of published (not withheld) cells compared.
static int
s_compare (const Kinnet__V1__Report *a, const Kinnet__V1__Report *b, const char *what)
{
    int published = 0;
    cr_assert_eq (a->n_sections, b->n_sections, "%s", what);
    for (size_t s = 0; s < a->n_sections; s++) {
        Kinnet__V1__ReportSection *x = a->sections[s], *y = b->sections[s];
        cr_assert_eq (x->n_tables, y->n_tables, "%s %s", what, x->name);
        for (size_t t = 0; t < x->n_tables; t++) {
            Kinnet__V1__ReportTable *p = x->tables[t], *q = y->tables[t];
            cr_assert_str_eq (p->title, q->title);
            cr_assert_eq (p->n_row_labels, q->n_row_labels, "%s: %s", what, p->title);
            for (size_t r = 0; r < p->n_row_labels; r++)
                cr_assert_str_eq (p->row_labels[r], q->row_labels[r], "%s: %s", what,
                                  p->title);
            cr_assert_eq (p->n_column_labels, q->n_column_labels, "%s: %s", what,
                          p->title);
            cr_assert_eq (p->n_cells, q->n_cells, "%s: %s", what, p->title);
            for (size_t c = 0; c < p->n_cells; c++) {
                //  Statistics from histograms: the same cells withheld, the same counts,
                //  percentiles within half a bucket (0.05 h).
                if (p->statistics) {
                    cr_assert_eq (p->cells[c]->withheld, q->cells[c]->withheld,
                                  "%s: %s, cell %zu", what, p->title, c);
                    cr_assert_eq (p->cells[c]->value, q->cells[c]->value);
                    cr_assert_leq (fabs (p->cells[c]->number - q->cells[c]->number), 0.0500001,
                                   "%s: %s, cell %zu: %f against %f", what, p->title, c,
                                   p->cells[c]->number, q->cells[c]->number);
                    published += !p->cells[c]->withheld;
                    continue;
                }
                cr_assert (s_same_cell (p->cells[c], q->cells[c]),
                           "%s: %s, cell %zu: %s%lld against %s%lld", what, p->title, c,
                           p->cells[c]->withheld ? "withheld " : "",
                           (long long)p->cells[c]->value,
                           q->cells[c]->withheld ? "withheld " : "",
                           (long long)q->cells[c]->value);
                published += !p->cells[c]->withheld;
            }
            cr_assert_eq (p->n_row_totals, q->n_row_totals);
            for (size_t c = 0; c < p->n_row_totals; c++)
                cr_assert (s_same_cell (p->row_totals[c], q->row_totals[c]), "%s: %s",
                           what, p->title);
            cr_assert_eq (p->n_column_totals, q->n_column_totals);
            for (size_t c = 0; c < p->n_column_totals; c++)
                cr_assert (s_same_cell (p->column_totals[c], q->column_totals[c]),
                           "%s: %s", what, p->title);
            if (p->grand_total || q->grand_total)
                cr_assert (p->grand_total && q->grand_total &&
                               s_same_cell (p->grand_total, q->grand_total),
                           "%s: %s total", what, p->title);
            cr_assert_eq (p->withheld, q->withheld, "%s: %s", what, p->title);
        }
    }
    return published;
}

#define D(x) KINNET__V1__REPORT_DIMENSION__BY_##x

//  Every report, over several periods and breakdowns, on both paths.
static void
s_compare_all (const char *when)
{
    static const char *reports[] = {"referrals", "declines", "timeliness",
                                    "team",      "consent",  "equity"};
    static const char *periods[][2] = {{"2026-01-01", "2026-03-01"},
                                       {"2026-01-10", "2026-02-05"},
                                       {"2025-12-01", "2026-04-01"}};
    static const Kinnet__V1__ReportDimension bys[][2] = {
        {0, 0},
        {D (DISTRICT), 0},
        {D (MONTH), D (NEED)},
        {D (NEED), D (DISTRICT)},
        {D (AGENCY), D (URGENCY)},
        {D (WEEK), D (REFERRING_SECTOR)},
        {D (URGENCY), D (NEED)},
        {D (REFERRING_SECTOR), D (AGENCY)}};
    static const size_t n_bys[] = {0, 1, 2, 2, 2, 2, 2, 2};
    int published = 0;
    for (size_t r = 0; r < sizeof reports / sizeof reports[0]; r++)
        for (size_t p = 0; p < 3; p++)
            for (size_t b = 0; b < sizeof n_bys / sizeof n_bys[0]; b++) {
                Kinnet__V1__Report *raw = s_report (
                    reports[r], periods[p][0], periods[p][1], bys[b], n_bys[b], false);
                Kinnet__V1__Report *rolled = s_report (
                    reports[r], periods[p][0], periods[p][1], bys[b], n_bys[b], true);
                cr_assert_eq (!raw, !rolled, "%s: refused on one path only", reports[r]);
                if (!raw)
                    continue;
                char what[128];
                snprintf (what, sizeof what, "%s: %s %s..%s by %d,%d", when, reports[r],
                          periods[p][0], periods[p][1], n_bys[b] ? bys[b][0] : 0,
                          n_bys[b] > 1 ? bys[b][1] : 0);
                published += s_compare (raw, rolled, what);
                kinnet__v1__report__free_unpacked (raw, NULL);
                kinnet__v1__report__free_unpacked (rolled, NULL);
            }
    cr_assert_gt (published, 1000, "%s: the comparison must cover published cells", when);
}

//  Published cells and suppression are the same on both paths, whatever the job has
//  done: nothing rolled up, everything, rows of rolled-up days changed since.
Test (report_rollups, both_paths_publish_the_same_cells)
{
    s_compare_all ("before the job");
    s_catch_up ();
    cr_assert_eq (kn_test_count (url, "SELECT count (*) FROM rollup.dirty"), 0);
    cr_assert_gt (kn_test_count (url, "SELECT count (*) FROM rollup.day"), 50);
    s_compare_all ("caught up");
    //  Every source has rolled-up days (a source never marked would leave its tables
    //  on raw rows, and the comparisons below would prove nothing about it), and so
    //  have the days the declines and closings below are moved to.
    cr_assert_eq (kn_test_count (url, "SELECT count (DISTINCT source) FROM rollup.day"), 6);
    cr_assert_eq (kn_test_count (url, "SELECT count (*) FROM rollup.day WHERE (source, day)"
                                      " IN ((4, '2026-02-20'), (5, '2026-02-22'))"),
                  2);
    //  A referral withdrawn and one deleted on rolled-up days, one added to another.
    free (kn_test_sql (url, "UPDATE intake.referral SET status = 'withdrawn' WHERE id IN"
                            " (SELECT id FROM intake.referral WHERE status = 'received'"
                            "  AND received_at < '2026-01-20' ORDER BY id LIMIT 40)"));
    free (kn_test_sql (url, "DELETE FROM intake.referral WHERE id IN (SELECT id FROM"
                            " intake.referral WHERE received_at >= '2026-02-10'"
                            " ORDER BY id LIMIT 30)"));
    free (kn_test_sql (
        url, "UPDATE intake.referral SET received_at = received_at + 3 * interval"
             " '1 day' WHERE id IN (SELECT id FROM intake.referral"
             " ORDER BY id DESC LIMIT 25)"));
    //  Offers declined, declines moved to another day, offers closed, a need
    //  accepted, a case given a lead, long after their day.
    free (kn_test_sql (url, "UPDATE routing.involvement SET status = 'declined',"
                            " decided_at = '2026-02-20', decline_reason = 2 WHERE id IN"
                            " (SELECT id FROM routing.involvement WHERE status = 'offered'"
                            "  ORDER BY id LIMIT 20)"));
    free (kn_test_sql (url, "UPDATE routing.involvement SET decided_at = '2026-02-21'"
                            " WHERE id IN (SELECT id FROM routing.involvement WHERE"
                            "  status = 'declined' AND decided_at < '2026-01-20'"
                            "  ORDER BY id LIMIT 20)"));
    free (kn_test_sql (url, "UPDATE routing.involvement SET status = 'closed',"
                            " closed_at = '2026-02-22', outcome = 2 WHERE id IN"
                            " (SELECT id FROM routing.involvement WHERE status = 'accepted'"
                            "  ORDER BY id LIMIT 20)"));
    free (kn_test_sql (url, "UPDATE routing.need SET accepted_at = created_at + interval"
                            " '50 hours' WHERE id IN (SELECT id FROM routing.need"
                            " WHERE accepted_at IS NULL ORDER BY id LIMIT 20)"));
    free (kn_test_sql (url, "UPDATE routing.case SET lead_agency_id = NULL WHERE id IN"
                            " (SELECT id FROM routing.case WHERE lead_agency_id IS NOT NULL"
                            "  ORDER BY id LIMIT 20)"));
    cr_assert_gt (kn_test_count (url, "SELECT count (*) FROM rollup.dirty"), 0);
    s_compare_all ("rows changed");
    s_catch_up ();
    s_compare_all ("caught up again");
}

//  The rollup path reads the rollups for clean days (a rollup made wrong on purpose
//  shows), and raw rows for a day marked since (the same wrong rollup no longer does).
Test (report_rollups, clean_days_come_from_the_rollup)
{
    s_catch_up ();
    free (kn_test_sql (url, "UPDATE rollup.referral SET received = received + 1000"
                            " WHERE day = '2026-01-15' AND g = 0"));
    Kinnet__V1__Report *rolled =
        s_report ("referrals", "2026-01-01", "2026-03-01", NULL, 0, true);
    Kinnet__V1__Report *raw =
        s_report ("referrals", "2026-01-01", "2026-03-01", NULL, 0, false);
    cr_assert_eq (rolled->sections[0]->tables[0]->cells[0]->value,
                  raw->sections[0]->tables[0]->cells[0]->value + 1000);
    kinnet__v1__report__free_unpacked (rolled, NULL);
    free (kn_test_sql (url, "INSERT INTO rollup.dirty VALUES (1, '2026-01-15')"));
    rolled = s_report ("referrals", "2026-01-01", "2026-03-01", NULL, 0, true);
    cr_assert_eq (rolled->sections[0]->tables[0]->cells[0]->value,
                  raw->sections[0]->tables[0]->cells[0]->value);
    kinnet__v1__report__free_unpacked (rolled, NULL);
    kinnet__v1__report__free_unpacked (raw, NULL);
}

//  Whether any cell of tables p and q differs (p and q made alike).
static bool
s_differ (const Kinnet__V1__ReportTable *p, const Kinnet__V1__ReportTable *q)
{
    if (p->n_cells != q->n_cells)
        return true;
    for (size_t c = 0; c < p->n_cells; c++)
        if (!s_same_cell (p->cells[c], q->cells[c]))
            return true;
    return false;
}

//  Every table of every report that has rollups reads them: rollups made wrong on
//  purpose show in each (consent has none).
Test (report_rollups, every_rolled_report_reads_its_rollup)
{
    s_catch_up ();
    free (kn_test_sql (url, "UPDATE rollup.referral SET received = received + 1000,"
                            " withdrawn = withdrawn + 1000, matched = matched + 1000;"
                            "UPDATE rollup.need SET n = n + 1000;"
                            "UPDATE rollup.need_hours SET n = n + 1000;"
                            "UPDATE rollup.involvement SET n = n + 1000;"
                            "UPDATE rollup.case SET n = n + 1000"));
    static const char *reports[] = {"referrals", "declines", "timeliness", "team", "equity"};
    for (size_t r = 0; r < sizeof reports / sizeof reports[0]; r++) {
        Kinnet__V1__Report *raw = s_report (reports[r], "2026-01-01", "2026-03-01", NULL, 0, false);
        Kinnet__V1__Report *rolled = s_report (reports[r], "2026-01-01", "2026-03-01", NULL, 0, true);
        for (size_t s = 0; s < raw->n_sections; s++)
            for (size_t t = 0; t < raw->sections[s]->n_tables; t++)
                cr_expect (s_differ (raw->sections[s]->tables[t],
                                     rolled->sections[s]->tables[t]),
                           "%s: table %s does not read its rollup", reports[r],
                           raw->sections[s]->tables[t]->title);
        kinnet__v1__report__free_unpacked (rolled, NULL);
        kinnet__v1__report__free_unpacked (raw, NULL);
    }
}

//  A change committed after a pass's snapshot is not skipped, even on a day the pass
//  recomputes: the pass sees neither the change nor its mark, so the mark stays, the
//  day is read raw until the next pass, and the next pass rolls it up.
Test (report_rollups, a_change_the_pass_did_not_see_stays_marked)
{
    s_catch_up ();
    //  Day 2026-01-05 marked before the pass begins, so the pass recomputes it.
    free (kn_test_sql (url,
                       "UPDATE intake.referral SET status = 'withdrawn' WHERE id IN"
                       " (SELECT id FROM intake.referral WHERE status = 'received'"
                       "  AND received_at >= '2026-01-05' AND received_at < '2026-01-06'"
                       "  ORDER BY id LIMIT 5)"));
    kn_error_t err;
    cr_assert_eq (kn_db_exec (job_db, "BEGIN ISOLATION LEVEL REPEATABLE READ", &err), 0);
    PQclear (kn_db_query (job_db, "SELECT count (*) FROM rollup.dirty", 0, NULL, &err));
    //  The pass's snapshot is taken; another change to the same day commits now.
    free (kn_test_sql (url,
                       "UPDATE intake.referral SET status = 'withdrawn' WHERE id IN"
                       " (SELECT id FROM intake.referral WHERE status = 'received'"
                       "  AND received_at >= '2026-01-05' AND received_at < '2026-01-06'"
                       "  ORDER BY id LIMIT 30)"));
    PGresult *done = kn_db_query (job_db, "SELECT rollup.run (1000)", 0, NULL, &err);
    cr_assert (done, "%s", err.message);
    cr_assert_eq (atoi (PQgetvalue (done, 0, 0)), 1);
    PQclear (done);
    cr_assert_eq (kn_db_exec (job_db, "COMMIT", &err), 0, "%s", err.message);
    cr_assert_gt (kn_test_count (url, "SELECT count (*) FROM rollup.dirty"
                                      " WHERE day = '2026-01-05'"),
                  0);
    static const Kinnet__V1__ReportDimension by[] = {D (DISTRICT)};
    Kinnet__V1__Report *raw =
        s_report ("referrals", "2026-01-01", "2026-02-01", by, 1, false);
    Kinnet__V1__Report *rolled =
        s_report ("referrals", "2026-01-01", "2026-02-01", by, 1, true);
    s_compare (raw, rolled, "after the commit");
    kinnet__v1__report__free_unpacked (rolled, NULL);
    s_catch_up ();
    cr_assert_eq (kn_test_count (url, "SELECT count (*) FROM rollup.dirty"), 0);
    rolled = s_report ("referrals", "2026-01-01", "2026-02-01", by, 1, true);
    s_compare (raw, rolled, "rolled up again");
    kinnet__v1__report__free_unpacked (rolled, NULL);
    kinnet__v1__report__free_unpacked (raw, NULL);
}

//  A pass that dies before its commit (a kill -9, a lost connection) leaves every
//  mark: the next pass does the days again, whole.
Test (report_rollups, a_pass_that_dies_leaves_its_marks)
{
    int marked =
        kn_test_count (url, "SELECT count (DISTINCT (source, day)) FROM rollup.dirty");
    cr_assert_gt (marked, 50);
    kn_error_t err;
    kn_db_t *doomed = kn_db_new (url, "kinnet_reporting", &err);
    cr_assert (doomed, "%s", err.message);
    cr_assert_eq (kn_db_exec (doomed, "BEGIN ISOLATION LEVEL REPEATABLE READ", &err), 0);
    PGresult *done = kn_db_query (doomed, "SELECT rollup.run (1000)", 0, NULL, &err);
    cr_assert (done, "%s", err.message);
    cr_assert_eq (atoi (PQgetvalue (done, 0, 0)), marked);
    PQclear (done);
    kn_db_destroy (&doomed); //  no COMMIT: the connection goes
    cr_assert_eq (
        kn_test_count (url, "SELECT count (DISTINCT (source, day)) FROM rollup.dirty"),
        marked);
    cr_assert_eq (kn_test_count (url, "SELECT count (*) FROM rollup.referral"), 0);
    //  Outside REPEATABLE READ the pass refuses: its argument needs one snapshot.
    cr_assert_null (kn_db_query (job_db, "SELECT rollup.run (1)", 0, NULL, &err));
    s_catch_up ();
    s_compare_all ("after the dead pass");
}

//  A transaction marks a (source, day) once, however many of its statements touch
//  that day; the next transaction marks it again (its own change is another).
Test (report_rollups, a_transaction_marks_a_day_once)
{
    s_catch_up ();
    const char *count = "SELECT count (*) FROM rollup.dirty WHERE source = 1"
                        " AND day = '2026-01-06'";
    const char *withdraw_one = "UPDATE intake.referral SET status = 'withdrawn' WHERE id ="
                               " (SELECT id FROM intake.referral WHERE status = 'received'"
                               "  AND received_at >= '2026-01-06' AND received_at < '2026-01-07'"
                               "  ORDER BY id LIMIT 1);";
    int before = kn_test_count (url, count);
    char sql[2048];
    snprintf (sql, sizeof sql, "BEGIN; %s %s %s COMMIT", withdraw_one, withdraw_one, withdraw_one);
    free (kn_test_sql (url, sql));
    cr_expect_eq (kn_test_count (url, count), before + 1, "three statements, one mark");
    free (kn_test_sql (url, withdraw_one));
    cr_expect_eq (kn_test_count (url, count), before + 2, "the next transaction marks again");
}
