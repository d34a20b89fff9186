/*  The admin service and the audit trail, through the real broker with CURVE:
    agencies without the role are refused and the refusal is on record; the audit
    export needs the auditor role, pages through the sealed chain in order, skips
    no record that commits late, and refuses a page too large for a message. */
#include "admin_fixture.h"

TestSuite (admin_audit, .init = s_fixture_setup, .fini = s_fixture_teardown,
           .timeout = 120);

Test (admin_audit, refused_without_the_role_and_on_record)
{
    //  Agency 0 is a referrer: every operation is refused, and audited.
    Kinnet__V1__ShowDirectory show = KINNET__V1__SHOW_DIRECTORY__INIT;
    Kinnet__V1__AdminRequest request = REQUEST (show_directory, SHOW_DIRECTORY, &show);
    Kinnet__V1__AdminReply *reply = s_admin (0, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__PERMISSION_DENIED, "op");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    zcert_t *cert = zcert_new ();
    reply = s_register (0, "sneaky", "Sneaky", zcert_public_txt (cert));
    zcert_destroy (&cert);
    s_refused (reply, KINNET__V1__ERROR_CODE__PERMISSION_DENIED, "op");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    cr_expect_eq (s_count ("SELECT count (*) FROM core.agency WHERE name = 'Sneaky'"), 0);
    char sql[400];
    snprintf (
        sql, sizeof sql,
        "SELECT count (*) FROM core.audit WHERE service = 'admin' AND agency_id = '%s'"
        " AND result = 'permission_denied' AND role = 'administrator'"
        " AND operation IN ('show_directory', 'register_agency')",
        kn_test_stack_agency_id (stack, 0));
    cr_expect_eq (s_count (sql), 2);

    //  The audit export needs the auditor role, which the administrator lacks.
    Kinnet__V1__ExportAudit export = KINNET__V1__EXPORT_AUDIT__INIT;
    export.from = "2000-01-01";
    export.to = "2200-01-01";
    request = REQUEST (export_audit, EXPORT_AUDIT, &export);
    reply = s_admin (KN_TEST_ADMIN, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__PERMISSION_DENIED, "op");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);

    //  An auditor exports it, a page at a time, its own refusals included.
    reply = s_set_role (KN_TEST_ADMIN, "aud", kn_test_stack_agency_id (stack, 1),
                        "auditor", true);
    s_ok (reply);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    int total = s_count ("SELECT count (*) FROM core.audit");
    cr_assert_geq (total, 5);
    export.limit = 2;
    int seen = 0;
    int64_t last = 0, unsealed = 0;
    do {
        reply = s_admin (1, &request);
        s_ok (reply);
        for (size_t i = 0; i < reply->audit->n_records; i++) {
            //  Every chain position in turn: the whole period is in the window.
            cr_expect_eq (reply->audit->records[i]->chain_seq, last + 1);
            last = reply->audit->records[i]->chain_seq;
            cr_expect_eq (strlen (reply->audit->records[i]->at), 27, "%s",
                          reply->audit->records[i]->at);
        }
        seen += (int)reply->audit->n_records;
        cr_assert_leq (reply->audit->n_records, 2);
        export.after = reply->audit->next_after;
        unsealed = reply->audit->unsealed;
        kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    } while (export.after);
    //  Every record up to the export's first page, sealed or counted as not yet.
    cr_expect_geq (seen + unsealed, total);
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.audit WHERE operation = 'export_audit'"
              " AND agency_id = '%s' AND result = 'ok' AND role = 'auditor'",
              kn_test_stack_agency_id (stack, 1));
    cr_expect_geq (s_count (sql), 1);

    //  Dates are real dates, and to comes after from.
    const char *bad[][3] = {{"2024-02-30", "2024-03-01", "from"},
                            {"2024-02-01", "2024-13-01", "to"},
                            {"2024-02-01", "2024-02-01", "to"},
                            {"yesterday", "2024-02-01", "from"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        export.from = (char *)bad[i][0];
        export.to = (char *)bad[i][1];
        reply = s_admin (1, &request);
        s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, bad[i][2]);
        kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    }
}

//  Wait until the records of the period [from, to) the chain holds number n.
static void
s_sealed (const char *from, const char *to, int n)
{
    char sql[400];
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.audit_chain c JOIN core.audit a ON a.id ="
              " c.audit_id WHERE a.at >= '%s' AND a.at < '%s'",
              from, to);
    int64_t deadline = zclock_mono () + 20000;
    while (s_count (sql) < n && zclock_mono () < deadline)
        zclock_sleep (100);
    cr_assert_eq (s_count (sql), n, "the sealer did not seal %d records", n);
}

//  The whole export of [from, to) after chain position after, as agency 1, pages of
//  two: the audit ids in order into ids (n), the last page's unsealed count.
static int64_t
s_export_all (const char *from, const char *to, int64_t after, int64_t *ids, int *n,
              int64_t *last_seq)
{
    Kinnet__V1__ExportAudit export = KINNET__V1__EXPORT_AUDIT__INIT;
    export.from = (char *)from;
    export.to = (char *)to;
    export.after = after;
    export.limit = 2;
    Kinnet__V1__AdminRequest request = REQUEST (export_audit, EXPORT_AUDIT, &export);
    int64_t unsealed = 0;
    *n = 0;
    do {
        Kinnet__V1__AdminReply *reply = s_admin (1, &request);
        s_ok (reply);
        cr_assert_leq (reply->audit->n_records, 2);
        for (size_t i = 0; i < reply->audit->n_records; i++) {
            cr_assert_gt (reply->audit->records[i]->chain_seq, *last_seq,
                          "not in chain order");
            *last_seq = reply->audit->records[i]->chain_seq;
            ids[(*n)++] = reply->audit->records[i]->audit_id;
        }
        if (reply->audit->next_after)
            cr_assert_eq (reply->audit->next_after, *last_seq);
        export.after = reply->audit->next_after;
        unsealed = reply->audit->unsealed;
        kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    } while (export.after);
    return unsealed;
}

//  The sealed records of [from, to) after chain position after, as the chain orders
//  them, must be ids (n) exactly.
static void
s_expect_chain (const char *from, const char *to, int64_t after, const int64_t *ids,
                int n)
{
    char sql[600];
    snprintf (sql, sizeof sql,
              "SELECT coalesce (string_agg (a.id::text, ',' ORDER BY c.seq), '')"
              " FROM core.audit_chain c JOIN core.audit a ON a.id = c.audit_id"
              " WHERE a.at >= '%s' AND a.at < '%s' AND c.seq > %lld",
              from, to, (long long)after);
    char *expected = kn_test_sql (kn_test_stack_db_url (stack), sql);
    char got[2000] = "";
    for (int i = 0; i < n; i++)
        snprintf (got + strlen (got), sizeof got - strlen (got), "%s%lld", i ? "," : "",
                  (long long)ids[i]);
    cr_expect_str_eq (got, expected ? expected : "");
    free (expected);
}

Test (admin_audit, audit_export_is_the_sealed_chain_and_skips_nothing)
{
    const char *url = kn_test_stack_db_url (stack);
    Kinnet__V1__AdminReply *reply = s_set_role (
        KN_TEST_ADMIN, "aud", kn_test_stack_agency_id (stack, 1), "auditor", true);
    s_ok (reply);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    const char *from = "2001-05-01", *to = "2001-05-02";
    //  Five in the period, one either side of it.
    free (kn_test_sql (url, "INSERT INTO core.audit (at, service, operation, result)"
                            " SELECT '2001-05-01 10:00:00+00', 'test', 'early', 'ok'"
                            " FROM generate_series (1, 5);"
                            " INSERT INTO core.audit (at, service, operation, result)"
                            " VALUES ('2001-04-30 23:59:59+00', 'test', 'before', 'ok'),"
                            " ('2001-05-02 00:00:00+00', 'test', 'after', 'ok')"));
    s_sealed (from, to, 5);

    //  A writer whose row takes an id now and commits late: the rows after it commit
    //  first but cannot be sealed before it.
    PGconn *late = PQconnectdb (url);
    cr_assert_eq (PQstatus (late), CONNECTION_OK);
    PQclear (PQexec (late, "BEGIN"));
    PGresult *result =
        PQexec (late, "INSERT INTO core.audit (at, service, operation, result)"
                      " VALUES ('2001-05-01 11:00:00+00', 'test', 'late', 'ok')"
                      " RETURNING id");
    cr_assert_eq (PQresultStatus (result), PGRES_TUPLES_OK, "%s", PQerrorMessage (late));
    int64_t late_id = atoll (PQgetvalue (result, 0, 0));
    PQclear (result);
    free (kn_test_sql (url, "INSERT INTO core.audit (at, service, operation, result)"
                            " SELECT '2001-05-01 12:00:00+00', 'test', 'later', 'ok'"
                            " FROM generate_series (1, 3)"));
    zclock_sleep (600); //  the sealer runs every 200 ms in tests: it had its chance

    int64_t ids[64], seq = 0;
    int n = 0;
    int64_t unsealed = s_export_all (from, to, 0, ids, &n, &seq);
    cr_expect_eq (n, 5, "only sealed records are exported");
    s_expect_chain (from, to, 0, ids, n);
    cr_expect_eq (unsealed, 3, "the committed rows not sealed yet are counted");

    //  The late writer commits: everything is sealed, and the export from where the
    //  last one stopped holds the late row too.
    PQclear (PQexec (late, "COMMIT"));
    PQfinish (late);
    s_sealed (from, to, 9);
    int64_t more[64];
    int m = 0;
    int64_t after = seq;
    unsealed = s_export_all (from, to, after, more, &m, &seq);
    cr_expect_eq (m, 4);
    s_expect_chain (from, to, after, more, m);
    cr_expect_eq (unsealed, 0);
    bool found = false;
    for (int i = 0; i < m; i++)
        found |= more[i] == late_id;
    cr_expect (found, "the late record was skipped");

    //  A page too large for a message is refused, not sent: the worker stays.
    free (kn_test_sql (url, "INSERT INTO core.audit (at, service, operation, basis,"
                            " result) SELECT '2002-01-01 10:00:00+00', 'test', 'big',"
                            " repeat ('x', 700), 'ok' FROM generate_series (1, 2000)"));
    s_sealed ("2002-01-01", "2002-01-02", 2000);
    Kinnet__V1__ExportAudit export = KINNET__V1__EXPORT_AUDIT__INIT;
    export.from = "2002-01-01";
    export.to = "2002-01-02";
    export.limit = 2000;
    Kinnet__V1__AdminRequest request = REQUEST (export_audit, EXPORT_AUDIT, &export);
    reply = s_admin (1, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__TOO_LARGE, "");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    export.limit = 100;
    reply = s_admin (1, &request);
    s_ok (reply);
    cr_expect_eq (reply->audit->n_records, 100);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    export.limit = 2001;
    reply = s_admin (1, &request);
    s_refused (reply, KINNET__V1__ERROR_CODE__INVALID_ARGUMENT, "limit");
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
}
