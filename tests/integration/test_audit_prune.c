/*  Retention of the audit trail and the disclosure log on a running stack (the
    records daemon, the CLI as the DPO), with checkpoints signed at known times and
    the clock advanced: a run prunes each chain only up to a signed checkpoint that
    is due (its signing time before the clock less the period), one checkpoint at a
    time within the batch, never past one not due; a dry run removes nothing;
    `kinnet audit verify` passes after a prune and shows it; sealing goes on after a
    prune that emptied a chain; a row deleted after the prune point, entries missing
    after it, and a prune record where no checkpoint signs the position are breaks;
    the records role still cannot delete from the trail itself. */
#include <criterion/criterion.h>
#include <czmq.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kinnet/v1/reporting.pb-c.h"
#include "kn_audit.h"
#include "kn_audit_chain.h"
#include "kn_audit_chain_int.h"
#include "kn_client.h"
#include "kn_clock.h"
#include "kn_test.h"
#include "kn_uuid.h"
#include "kn_test_audit.h"

#define DAY (24 * 3600)

static kn_test_stack_t *stack;
static kn_db_t *service_db; // as kinnet_intake: what every service does
static kn_db_t *sealer_db;  // as kinnet_audit: the sealer's role
static kn_audit_signer_t signer;
static char key_path[64];
static char public_hex[2 * KN_AUDIT_KEY_BYTES + 1];
static int64_t t0;

static void
s_setup (void)
{
    //  The test seals and signs itself, with its own key, at known signing times;
    //  the reporting service trusts that key.
    kn_test_audit_key (key_path, &signer, public_hex);
    const char *env[] = {"reporting", "KINNET_AUDIT_SEALER",         "off",
                         "reporting", "KINNET_AUDIT_TRUSTED_KEYS",   public_hex,
                         "records",   "KINNET_RETENTION_INTERVAL_S", "0",
                         NULL};
    stack = kn_test_stack_new_with_env (env);
    const char *url = kn_test_stack_db_url (stack);
    kn_error_t err;
    kn_test_stack_grant (stack, 1, "data_protection_officer");
    kn_test_stack_grant (stack, 1, "auditor");
    service_db = kn_db_new (url, "kinnet_intake", &err);
    sealer_db = kn_db_new (url, "kinnet_audit", &err);
    cr_assert (service_db && sealer_db, "%s", err.message);
    cr_assert_eq (kn_audit_prepare (service_db, &err), 0);
    cr_assert_eq (kn_audit_chain_prepare (sealer_db, &err), 0, "%s", err.message);
    kn_test_stack_start_records (stack);
    t0 = kn_clock_now ();
}

static void
s_teardown (void)
{
    kn_test_audit_key_remove (key_path);
    kn_db_destroy (&sealer_db);
    kn_db_destroy (&service_db);
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (audit_prune, .init = s_setup, .fini = s_teardown, .timeout = 180);

//  SQL on the stack's database (printf-style), its result dropped.
#define s_sql(...) free (kn_test_sqlf (kn_test_stack_db_url (stack), __VA_ARGS__))

#define s_count(...) kn_test_countf (kn_test_stack_db_url (stack), __VA_ARGS__)

//  The CLI as agency (1: the DPO); its exit code.
#define s_cli(agency, out, ...) kn_test_stack_cli (stack, agency, out, __VA_ARGS__)

//  n audit records and d disclosures, as services write them.
static void
s_write (int n, int d)
{
    for (int i = 0; i < n; i++) {
        char object[40];
        snprintf (object, sizeof object, "00000000-0000-4000-8000-%012d", i);
        kn_audit_entry_t entry = {.caseworker_id = "cw-1",
                                  .service = "intake",
                                  .operation = "submit",
                                  .object_id = object,
                                  .basis = "public_task",
                                  .result = "ok"};
        kn_error_t err;
        cr_assert_eq (kn_audit_append (service_db, &entry, &err), 0, "%s", err.message);
    }
    for (int i = 0; i < d; i++)
        s_sql (
            "INSERT INTO core.disclosure (subject_id, recipient_id, categories, purpose,"
            " basis, service) VALUES (gen_random_uuid (), '%s', '{1,%d}', 1, 'consent',"
            " 'consent')",
            kn_test_stack_agency_id (stack, 0), 2 + i % 5);
}

//  Everything written so far sealed, and a checkpoint signed at `at`: its number.
static int64_t
s_checkpoint_at (int64_t at)
{
    kn_test_audit_seal_all (kn_test_stack_db_url (stack), sealer_db, 50);
    bool made;
    kn_error_t err;
    cr_assert_eq (kn_audit_chain_checkpoint_at (sealer_db, &signer, at, &made, &err), 0,
                  "%s", err.message);
    cr_assert (made);
    return s_count ("SELECT max (number) FROM core.audit_checkpoint");
}

//  What checkpoint number signs for the audit chain (disclosures: for theirs).
static int
s_signs (int64_t number, bool disclosures)
{
    return s_count ("SELECT %s FROM core.audit_checkpoint WHERE number = %lld",
                    disclosures ? "disclosure_seq" : "seq", (long long)number);
}

//  Where each chain starts now: its lowest entry, 0 when empty.
static int
s_first (bool disclosures)
{
    return s_count ("SELECT coalesce (min (seq), 0) FROM core.%s_chain",
                    disclosures ? "disclosure" : "audit");
}

//  A run as the DPO (--dry-run, --batch N ...) at the clock now; its JSON.
static json_t *
s_run (const char *options)
{
    char *out = NULL;
    cr_assert_eq (s_cli (1, &out, "--format json retention run %s", options), 0, "%s",
                  out);
    json_t *json = json_loads (out, 0, NULL);
    cr_assert (json, "%s", out);
    free (out);
    return json;
}

static int
s_number (json_t *run, const char *field)
{
    return (int)json_integer_value (json_object_get (run, field));
}

//  `kinnet audit verify` with our key: its exit code, its output into *out.
static int
s_verify (char **out)
{
    return s_cli (1, out, "audit verify --public-key %s", public_hex);
}

//  The reporting service's verify_audit, as agency 1 (an auditor): its verdict.
static Kinnet__V1__ReportingReply *
s_verify_service (void)
{
    Kinnet__V1__VerifyAuditTrail op = KINNET__V1__VERIFY_AUDIT_TRAIL__INIT;
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_VERIFY_AUDIT;
    request.verify_audit = &op;
    Kinnet__V1__ReportingReply *reply = kn_test_reporting_call (stack, 1, &request, 20000);
    cr_assert (reply->verdict, "no verdict");
    return reply;
}

//  Three checkpoints, 100, 50 and 10 days before t0, and audit_trail and
//  disclosure_log kept 30 days. cp: their numbers.
static void
s_trail (int64_t cp[3])
{
    s_write (12, 4);
    cp[0] = s_checkpoint_at (t0 - 100 * DAY);
    s_write (7, 3);
    cp[1] = s_checkpoint_at (t0 - 50 * DAY);
    s_write (5, 2);
    cp[2] = s_checkpoint_at (t0 - 10 * DAY);
    //  Set on the database: through the service a shorter period waits 30 days
    //  (test_retention_guard), which would move every checkpoint here out of reach.
    s_sql ("UPDATE core.retention_schedule SET days = 30"
           " WHERE record_type IN ('audit_trail', 'disclosure_log')");
}

Test (audit_prune, a_run_prunes_up_to_the_due_checkpoints_and_the_trail_verifies)
{
    int64_t cp[3];
    s_trail (cp);
    //  The records up to the second checkpoint, to see them gone.
    char *early =
        kn_test_sql (kn_test_stack_db_url (stack),
                     "SELECT string_agg (audit_id::text, ',') FROM core.audit_chain"
                     " WHERE seq <= (SELECT seq FROM core.audit_checkpoint"
                     "  WHERE number = 2)");
    cr_assert (early && strlen (early) < 3000);
    //  Kept without limit (the default): nothing goes, however far the clock moves.
    cr_assert_eq (
        s_count ("SELECT count(*) FROM core.retention_schedule WHERE days IS NULL"
                 " AND record_type IN ('audit_trail', 'disclosure_log')"),
        0);
    //  A dry run counts what the two due checkpoints allow, and removes nothing.
    json_t *run = s_run ("--dry-run");
    cr_assert_eq (s_number (run, "audit"), s_signs (cp[1], false));
    cr_assert_eq (s_number (run, "disclosures"), s_signs (cp[1], true));
    json_decref (run);
    cr_assert_eq (s_first (false), 1);
    cr_assert_eq (s_first (true), 1);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.audit_prune"), 0);
    //  A batch of one: one checkpoint at a time, and more is due.
    run = s_run ("--batch 1");
    cr_assert_eq (s_number (run, "audit"), s_signs (cp[0], false));
    cr_assert_eq (s_number (run, "disclosures"), s_signs (cp[0], true));
    cr_assert (json_is_true (json_object_get (run, "more")));
    json_decref (run);
    cr_assert_eq (s_first (false), s_signs (cp[0], false) + 1);
    cr_assert_eq (s_first (true), s_signs (cp[0], true) + 1);
    //  Then up to the newest checkpoint due, and never past one that is not (cp[2],
    //  signed 10 days before t0, is due only 20 days after t0).
    //  (A minute on: a run that is no dry run starts at most once a minute.)
    kn_test_stack_set_clock (stack, t0 + 61);
    run = s_run ("");
    cr_assert_eq (s_number (run, "audit"),
                  s_signs (cp[1], false) - s_signs (cp[0], false));
    json_decref (run);
    cr_assert_eq (s_first (false), s_signs (cp[1], false) + 1);
    cr_assert_eq (s_first (true), s_signs (cp[1], true) + 1);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.audit a JOIN core.audit_chain c"
                           " ON c.audit_id = a.id"),
                  s_signs (cp[2], false) - s_signs (cp[1], false));
    cr_assert_eq (s_count ("SELECT count(*) FROM core.audit WHERE id IN (%s)", early), 0);
    free (early);
    //  Recorded: four steps, and the run's counts.
    cr_assert_eq (s_count ("SELECT count(*) FROM core.audit_prune"), 4);
    cr_assert_eq (
        s_count ("SELECT sum (audit) FROM core.retention_run WHERE NOT dry_run"),
        s_signs (cp[1], false));
    cr_assert_eq (s_count ("SELECT sum (disclosures) FROM core.retention_run"
                           " WHERE NOT dry_run"),
                  s_signs (cp[1], true));
    cr_assert_eq (s_count ("SELECT count(*) FROM core.audit_checkpoint"), 3,
                  "checkpoints are never removed");
    //  The trail verifies from there, and shows each prune.
    char *out = NULL;
    cr_assert_eq (s_verify (&out), 0, "%s", out);
    char expect[160];
    snprintf (expect, sizeof expect,
              "audit chain up to %d (%d removed) at checkpoint %lld",
              s_signs (cp[1], false), s_signs (cp[1], false) - s_signs (cp[0], false),
              (long long)cp[1]);
    cr_assert (strstr (out, "intact") && strstr (out, expect), "%s", out);
    cr_assert (strstr (out, "in 4 prune(s)"), "%s", out);
    free (out);
    //  The reporting service's verify_audit says the same.
    Kinnet__V1__ReportingReply *reply = s_verify_service ();
    const Kinnet__V1__AuditVerdict *v = reply->verdict;
    cr_assert (v->intact, "%s", v->problem);
    cr_assert_eq (v->audit_start, s_signs (cp[1], false));
    cr_assert_eq (v->disclosure_start, s_signs (cp[1], true));
    cr_assert_eq (v->prunes, 4);
    cr_assert_eq (v->n_newest_prunes, 4);
    cr_assert_str_eq (v->newest_prunes[3]->chain, "disclosure");
    cr_assert_eq (v->newest_prunes[3]->checkpoint, cp[1]);
    cr_assert_eq (v->newest_prunes[2]->removed,
                  s_signs (cp[1], false) - s_signs (cp[0], false));
    cr_assert_eq (v->newest_prunes[0]->checkpoint_signed_at->seconds, t0 - 100 * DAY);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    //  30 days on, the newest checkpoint is due: the audit chain is emptied, and
    //  sealing goes on after it; the moment claimed is shown as ahead of the run.
    kn_test_stack_set_clock (stack, t0 + 31 * DAY);
    run = s_run ("");
    json_decref (run);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.audit_chain"), 0);
    s_write (3, 1);
    s_checkpoint_at (t0 + 60);
    cr_assert_eq (s_first (false), s_signs (cp[2], false) + 1);
    cr_assert_eq (s_verify (&out), 0, "%s", out);
    cr_assert (strstr (out, "claimed a moment over a day after they ran"), "%s", out);
    free (out);
    cr_assert_eq (
        s_cli (1, &out, "--format json audit verify --public-key %s", public_hex), 0,
        "%s", out);
    json_t *verdict = json_loads (out, 0, NULL);
    cr_assert (verdict, "%s", out);
    json_t *pruned = json_object_get (verdict, "pruned");
    cr_assert_eq (json_integer_value (json_object_get (pruned, "audit_start")),
                  s_signs (cp[2], false), "%s", out);
    cr_assert_eq (json_integer_value (json_object_get (pruned, "disclosure_start")),
                  s_signs (cp[2], true), "%s", out);
    json_decref (verdict);
    free (out);
}

Test (audit_prune, rows_missing_after_the_prune_point_are_still_a_break)
{
    int64_t cp[3];
    s_trail (cp);
    json_decref (s_run (""));
    int start = s_signs (cp[1], false);
    char *out = NULL;
    cr_assert_eq (s_verify (&out), 0, "%s", out);
    free (out);
    //  A row deleted just after the prune point: named, as before pruning existed.
    s_sql ("DELETE FROM core.audit WHERE id = (SELECT audit_id FROM core.audit_chain"
           " WHERE seq = %d)",
           start + 2);
    cr_assert_eq (s_verify (&out), 7, "%s", out);
    char expect[80];
    snprintf (expect, sizeof expect, "BROKEN at chain entry %d", start + 2);
    cr_assert (strstr (out, expect) && strstr (out, "was deleted"), "%s", out);
    free (out);
    //  The chain starting later than its prunes say (entries gone after the start).
    s_sql ("DELETE FROM core.audit WHERE id IN (SELECT audit_id FROM core.audit_chain"
           " WHERE seq <= %d)",
           start + 2);
    s_sql ("DELETE FROM core.audit_chain WHERE seq <= %d", start + 2);
    cr_assert_eq (s_verify (&out), 7, "%s", out);
    snprintf (expect, sizeof expect, "audit chain entry %d is missing", start + 1);
    cr_assert (strstr (out, expect), "%s", out);
    free (out);
}

Test (audit_prune, a_prune_no_checkpoint_signs_is_a_break)
{
    int64_t cp[3];
    s_trail (cp);
    //  The owner removes the oldest records and writes a prune record for them at
    //  a position checkpoint 1 does not sign.
    int at = s_signs (cp[0], false) - 1;
    s_sql (
        "WITH gone AS (DELETE FROM core.audit_chain WHERE seq <= %d RETURNING audit_id)"
        " DELETE FROM core.audit WHERE id IN (SELECT audit_id FROM gone)",
        at);
    s_sql (
        "INSERT INTO core.audit_prune (chain, checkpoint, seq, link, xid, last_id,"
        " removed, moment) VALUES ('audit', %lld, %d, decode (repeat ('00', 32), 'hex'),"
        " '1', 1, %d, now ())",
        (long long)cp[0], at, at);
    char *out = NULL;
    cr_assert_eq (s_verify (&out), 7, "%s", out);
    cr_assert (strstr (out, "no checkpoint allows it"), "%s", out);
    free (out);
    //  Without the prune record, the same deletion is a missing entry.
    s_sql ("DELETE FROM core.audit_prune");
    cr_assert_eq (s_verify (&out), 7, "%s", out);
    cr_assert (strstr (out, "audit chain entry 1 is missing"), "%s", out);
    free (out);
}

Test (audit_prune, the_records_role_cannot_delete_from_the_trail_itself)
{
    int64_t cp[3];
    s_trail (cp);
    kn_error_t err;
    kn_db_t *records = kn_db_new (kn_test_stack_db_url (stack), "kinnet_records", &err);
    cr_assert (records, "%s", err.message);
    const char *attempts[] = {
        "DELETE FROM core.audit",
        "DELETE FROM core.disclosure",
        "DELETE FROM core.audit_chain",
        "INSERT INTO core.audit_prune (chain, checkpoint, seq, link, xid, last_id, removed,"
        " moment) VALUES ('audit', 1, 1, decode (repeat ('00', 32), 'hex'), '1', 1, 1, now ())",
    };
    for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
        PGresult *done = kn_db_query (records, attempts[i], 0, NULL, &err);
        cr_assert_null (done, "kinnet_records could: %s", attempts[i]);
        cr_assert (strstr (err.message, "42501"), "%s", err.message);
    }
    //  The function: its owner's rights with a fixed search_path, and no other
    //  service may run it.
    cr_assert_eq (
        s_count ("SELECT count(*) FROM pg_proc WHERE oid ="
                 " 'core.audit_prune (text, timestamptz, integer, boolean, uuid)'"
                 "::regprocedure AND prosecdef"
                 " AND 'search_path=pg_catalog, pg_temp' = ANY (proconfig)"),
        1);
    char *runners = kn_test_sql (
        kn_test_stack_db_url (stack),
        "SELECT string_agg (r.rolname, ' ' ORDER BY r.rolname) FROM pg_roles r"
        " WHERE r.rolname LIKE 'kinnet\\_%' AND has_function_privilege (r.oid,"
        " 'core.audit_prune (text, timestamptz, integer, boolean, uuid)', 'EXECUTE')");
    cr_assert_str_eq (runners, "kinnet_records");
    free (runners);
    //  Only through the function, which prunes nothing the schedule does not allow
    //  (the clock is not moved: moment less 30 days is before every checkpoint but
    //  the first two) and nothing at all with a NULL period.
    s_sql ("UPDATE core.retention_schedule SET days = NULL"
           " WHERE record_type = 'audit_trail'");
    PGresult *done = kn_db_query (
        records,
        "SELECT core.audit_prune ('audit', now () + interval '3650 days', 1000000)", 0,
        NULL, &err);
    cr_assert_not_null (done, "%s", err.message);
    cr_assert_str_eq (PQgetvalue (done, 0, 0), "0");
    PQclear (done);
    cr_assert_eq (s_first (false), 1);
    kn_db_destroy (&records);
}

Test (audit_prune, checkpoints_before_the_start_are_still_checked)
{
    int64_t cp[3];
    s_trail (cp);
    json_decref (s_run (""));
    cr_assert_eq (s_first (false), s_signs (cp[1], false) + 1);
    char *out = NULL;
    cr_assert_eq (s_verify (&out), 0, "%s", out);
    free (out);
    //  Checkpoint 1 lies before both chains' starts: its entries are gone, but its
    //  signature is still checked.
    s_sql ("UPDATE core.audit_checkpoint SET signed_at = signed_at + interval '1 second'"
           " WHERE number = %lld",
           (long long)cp[0]);
    cr_assert_eq (s_verify (&out), 7, "%s", out);
    char expect[64];
    snprintf (expect, sizeof expect, "checkpoint %lld", (long long)cp[0]);
    cr_assert (strstr (out, expect) && strstr (out, "invalid signature"), "%s", out);
    free (out);
}
