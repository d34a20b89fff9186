/*  kinnet retention list|set|cancel|run: the retention schedules, through the records
    service (docs/protocol/records.md; what each keeps: docs/privacy.md, "Retention"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kinnet/v1/records.pb-c.h"

static const char *s_usage =
    "usage: kinnet retention list\n"
    "       kinnet retention set TYPE DAYS [--key KEY]\n"
    "       kinnet retention cancel TYPE [--key KEY]\n"
    "       kinnet retention run [--dry-run] [--batch N] [--key KEY]\n"
    "list shows how long each kind of record is kept and from which event, and any\n"
    "shortening pending. set changes one: TYPE is referral, case, consent, override,\n"
    "disclosure_log, audit_trail, outbox, feed or idempotency; DAYS is a number of\n"
    "days, or 0 or 'forever' to keep without limit. A longer period (or the same) is\n"
    "in force at once (data_protection_officer or administrator role); a shorter one\n"
    "only a data_protection_officer may set, and it is pending: in force only after\n"
    "the delay (30 days unless the operator set another), every DPO is told in its\n"
    "feed, and any DPO may cancel it meanwhile with cancel TYPE.\n"
    "run applies the schedules now, as the keeper does every hour: it erases each\n"
    "person no record keeps any longer (unless a legal hold is in force on them) and\n"
    "deletes operational rows past their period, at most N (default 500) of each;\n"
    "--dry-run lists what would go and changes nothing (data_protection_officer).\n";

//  at as RFC 3339 UTC into out ("?" when unset).
static const char *
s_time (const Kinnet__V1__Timestamp *at, char *out, size_t size)
{
    time_t t = at ? (time_t)at->seconds : 0;
    struct tm tm;
    if (!at || !gmtime_r (&t, &tm) || !strftime (out, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf (out, size, "?");
    return out;
}

static void
s_print_schedule (const Kinnet__V1__RetentionSchedule *schedule)
{
    char period[32];
    if (schedule->days)
        snprintf (period, sizeof period, "%d days", schedule->days);
    else
        snprintf (period, sizeof period, "kept");
    printf ("%-15s %-10s from %s%s%s", schedule->record_type, period,
            schedule->counted_from, schedule->changed_by[0] ? "; set by " : "",
            schedule->changed_by);
    if (schedule->pending_days) {
        char from[32];
        printf ("; PENDING: %d days from %s (by %s; any DPO may cancel it)",
                schedule->pending_days, s_time (schedule->pending_from, from, sizeof from),
                schedule->pending_by);
    }
    printf ("\n");
}

static void
s_print_list (const char *label, char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf ("%s %s\n", label, ids[i]);
}

static void
s_print_list_reply (const ProtobufCMessage *result)
{
    const Kinnet__V1__RetentionList *list = (const Kinnet__V1__RetentionList *)result;
    for (size_t i = 0; i < list->n_schedules; i++)
        s_print_schedule (list->schedules[i]);
}

//  A set's answer: in force now, or pending (a shortening) until when.
static void
s_print_set (const ProtobufCMessage *result)
{
    const Kinnet__V1__RetentionSchedule *schedule =
        (const Kinnet__V1__RetentionSchedule *)result;
    s_print_schedule (schedule);
    char from[32], now[32];
    if (schedule->days)
        snprintf (now, sizeof now, "%d days", schedule->days);
    else
        snprintf (now, sizeof now, "kept without limit");
    //  A set that shortens leaves its change pending; any other clears what was.
    if (schedule->pending_days)
        printf ("pending: %s stays %s until %s, then %d days, unless a DPO cancels it"
                " (kinnet retention cancel %s)\n",
                schedule->record_type, now,
                s_time (schedule->pending_from, from, sizeof from), schedule->pending_days,
                schedule->record_type);
    else
        printf ("in force now%s\n",
                schedule->replayed ? " (answered from an earlier request)" : "");
}

static void
s_print_cancel (const ProtobufCMessage *result)
{
    s_print_schedule ((const Kinnet__V1__RetentionSchedule *)result);
    printf ("cancelled: the period in force stays\n");
}

static void
s_print_run (const ProtobufCMessage *result)
{
    const Kinnet__V1__RetentionRun *run = (const Kinnet__V1__RetentionRun *)result;
    const char *verb = run->dry_run ? "would erase" : "erased";
    s_print_list (verb, run->erased_subjects, run->n_erased_subjects);
    s_print_list ("held, kept", run->held_subjects, run->n_held_subjects);
    printf ("run %s: %s %d people (%d more due but held); %s %d outbox events, %d feed"
            " events, %d idempotency entries; %s %d audit records and %d"
            " disclosures%s%s\n",
            run->run_id, verb, run->erased, run->held,
            run->dry_run ? "would delete" : "deleted", run->outbox, run->feed,
            run->idempotency, run->dry_run ? "would prune" : "pruned", run->audit,
            run->disclosures, run->more ? "; more is due: run again" : "",
            run->replayed ? " (answered from an earlier request)" : "");
}

static int
s_list (const cli_options_t *options)
{
    Kinnet__V1__ListRetention op = KINNET__V1__LIST_RETENTION__INIT;
    Kinnet__V1__RecordsRequest request = KINNET__V1__RECORDS_REQUEST__INIT;
    request.op_case = KINNET__V1__RECORDS_REQUEST__OP_RETENTION;
    request.retention = &op;
    return cli_records_run (options, &request, s_print_list_reply);
}

static int
s_set (const cli_options_t *options, int argc, char **argv, const char *type,
       const char *days_text)
{
    char *end = NULL;
    long days = strcmp (days_text, "forever") == 0 ? 0 : strtol (days_text, &end, 10);
    if (end && (end == days_text || *end || days < 0 || days > 36500)) {
        fprintf (stderr, "kinnet: DAYS must be 0 to 36500 or 'forever'\n");
        return CLI_USAGE;
    }
    char key[200];
    Kinnet__V1__SetRetention op = KINNET__V1__SET_RETENTION__INIT;
    op.idempotency_key = (char *)cli_admin_key (key, sizeof key, argc, argv, "retention", NULL);
    op.record_type = (char *)type;
    op.days = (int32_t)days;
    Kinnet__V1__RecordsRequest request = KINNET__V1__RECORDS_REQUEST__INIT;
    request.op_case = KINNET__V1__RECORDS_REQUEST__OP_SET_RETENTION;
    request.set_retention = &op;
    return cli_records_run (options, &request, s_print_set);
}

static int
s_cancel (const cli_options_t *options, int argc, char **argv, const char *type)
{
    char key[200];
    Kinnet__V1__CancelRetention op = KINNET__V1__CANCEL_RETENTION__INIT;
    op.idempotency_key =
        (char *)cli_admin_key (key, sizeof key, argc, argv, "retention-cancel", NULL);
    op.record_type = (char *)type;
    Kinnet__V1__RecordsRequest request = KINNET__V1__RECORDS_REQUEST__INIT;
    request.op_case = KINNET__V1__RECORDS_REQUEST__OP_CANCEL_RETENTION;
    request.cancel_retention = &op;
    return cli_records_run (options, &request, s_print_cancel);
}

static int
s_run (const cli_options_t *options, int argc, char **argv)
{
    const char *batch_text = cli_arg (argc, argv, "--batch");
    char *end = NULL;
    long batch = batch_text ? strtol (batch_text, &end, 10) : 0;
    if (batch_text && (end == batch_text || *end || batch < 1 || batch > 5000)) {
        fprintf (stderr, "kinnet: --batch must be 1 to 5000\n");
        return CLI_USAGE;
    }
    bool dry_run = cli_flag (argc, argv, "--dry-run");
    char key[200];
    Kinnet__V1__RunRetention op = KINNET__V1__RUN_RETENTION__INIT;
    op.idempotency_key = (char *)cli_admin_key (key, sizeof key, argc, argv,
                                                dry_run ? "retention-dry-run"
                                                        : "retention-run",
                                                NULL);
    op.dry_run = dry_run;
    op.batch = (int32_t)batch;
    Kinnet__V1__RecordsRequest request = KINNET__V1__RECORDS_REQUEST__INIT;
    request.op_case = KINNET__V1__RECORDS_REQUEST__OP_RUN_RETENTION;
    request.run_retention = &op;
    return cli_records_run (options, &request, s_print_run);
}

int
cli_retention (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--key", "--batch", NULL};
    static const char *const flags[] = {"--dry-run", NULL};
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_usage, stdout);
        return CLI_OK;
    }
    if (!cli_options_ok (argc, argv, valued, flags, s_usage))
        return CLI_USAGE;
    //  argv[0] is "retention".
    const char *action = cli_positional (argc, argv, valued, 1);
    const char *first = cli_positional (argc, argv, valued, 2);
    const char *second = cli_positional (argc, argv, valued, 3);
    const char *extra = cli_positional (argc, argv, valued, 4);
    action = action ? action : "";
    if (strcmp (action, "list") == 0 && !first)
        return s_list (options);
    if (strcmp (action, "set") == 0 && first && second && !extra)
        return s_set (options, argc, argv, first, second);
    if (strcmp (action, "cancel") == 0 && first && !second)
        return s_cancel (options, argc, argv, first);
    if (strcmp (action, "run") == 0 && !first)
        return s_run (options, argc, argv);
    fputs (s_usage, stderr);
    return CLI_USAGE;
}
