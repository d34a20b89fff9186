/*  kinnet subject erase|rectify|merge|unmerge|hold|holds: a data-protection officer's
    decisions on a
    person's record, through the records service (docs/protocol/records.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kinnet/v1/records.pb-c.h"

static const char *s_usage =
    "usage: kinnet subject erase SUBJECT_ID --reference REF [--dry-run] [--key KEY]\n"
    "       kinnet subject rectify SUBJECT_ID --reference REF [--given-name N]\n"
    "               [--family-name N] [--date-of-birth YYYY-MM-DD] [--key KEY]\n"
    "       kinnet subject merge SUBJECT_ID MERGED_SUBJECT_ID --reference REF [--dry-run]\n"
    "               [--key KEY]\n"
    "       kinnet subject unmerge MERGE_ID --reference REF [--key KEY]\n"
    "       kinnet subject split SUBJECT_ID RECORD_ID... --reference REF [--dry-run]\n"
    "               [--key KEY]\n"
    "       kinnet subject hold place SUBJECT_ID|--case CASE_ID --reason TEXT [--key KEY]\n"
    "       kinnet subject hold lift HOLD_ID --reason TEXT [--key KEY]\n"
    "       kinnet subject holds [SUBJECT_ID|--case CASE_ID]\n"
    "erase destroys the person's data key: nothing sealed about them opens again, in\n"
    "the database or in any backup (docs/privacy.md). It cannot be undone, and is\n"
    "refused while a legal hold is in force. REF is your case-file reference (1-64\n"
    "of A-Z a-z 0-9 . _ / -), not a reason. --dry-run reports what would be erased.\n"
    "rectify corrects a person's name or date of birth everywhere Kinnet holds it and\n"
    "tells every agency that received data about them (at least one field).\n"
    "merge makes MERGED_SUBJECT_ID's records SUBJECT_ID's (one person known twice);\n"
    "unmerge gives back what a merge moved. split moves the records named (referrals,\n"
    "consents, bases, overrides, release requests, holds) to a new person: SUBJECT_ID\n"
    "was two people with one identity. Each tells the agencies concerned.\n"
    "A hold stops erasure (by a DPO or by the retention schedules) until it is\n"
    "lifted; one on a case holds every person named in its referrals. holds lists\n"
    "those in force, or every hold on one person (theirs and their cases') or case.\n"
    "All need the data_protection_officer role.\n";

Kinnet__V1__RecordsReply *
cli_records_call (const cli_options_t *options, Kinnet__V1__RecordsRequest *request,
                  int *code)
{
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__RecordsReply *reply = (Kinnet__V1__RecordsReply *)cli_request (
        options, "records", &request->base, &kinnet__v1__records_reply__descriptor, &err);
    *code = reply ? CLI_OK : cli_fail (options, &err);
    return reply;
}

int
cli_records_run (const cli_options_t *options, Kinnet__V1__RecordsRequest *request,
                 cli_records_print_fn *print)
{
    int code;
    Kinnet__V1__RecordsReply *reply = cli_records_call (options, request, &code);
    if (!reply)
        return code;
    //  The one member of the reply's oneof that is set.
    const ProtobufCFieldDescriptor *field = protobuf_c_message_descriptor_get_field (
        &kinnet__v1__records_reply__descriptor, (unsigned)reply->result_case);
    const ProtobufCMessage *result =
        field ? *(const ProtobufCMessage *const *)((const char *)reply + field->offset) : NULL;
    if (!result)
        code = CLI_FAILED;
    else if (options->json)
        cli_print_json (result);
    else
        print (result);
    kinnet__v1__records_reply__free_unpacked (reply, NULL);
    return code;
}

static void
s_print_hold (const ProtobufCMessage *result)
{
    const Kinnet__V1__Hold *hold = (const Kinnet__V1__Hold *)result;
    printf ("hold %s on %s%s: %s (placed by %s)%s%s\n", hold->hold_id,
            hold->case_id[0] ? "case " : "", hold->case_id[0] ? hold->case_id : hold->subject_id,
            hold->lifted_at ? "lifted" : "in force", hold->placed_by,
            hold->lifted_at ? "; lifted by " : "", hold->lifted_at ? hold->lifted_by : "");
}

static void
s_print_erasure (const ProtobufCMessage *result)
{
    const Kinnet__V1__Erasure *erasure = (const Kinnet__V1__Erasure *)result;
    printf ("%s %s: %d referrals name them, %d consent records are about them, %d older"
            " values moved under their key%s\n",
            erasure->dry_run ? "would erase" : "erased", erasure->subject_id,
            erasure->referrals, erasure->consents, erasure->values_moved,
            erasure->replayed ? " (answered from an earlier request)" : "");
}

static int
s_erase (const cli_options_t *options, int argc, char **argv, const char *id)
{
    const char *reference = cli_arg (argc, argv, "--reference");
    if (!reference) {
        fputs (s_usage, stderr);
        return CLI_USAGE;
    }
    bool dry_run = cli_flag (argc, argv, "--dry-run");
    char key[200];
    Kinnet__V1__EraseSubject op = KINNET__V1__ERASE_SUBJECT__INIT;
    op.idempotency_key =
        (char *)cli_admin_key (key, sizeof key, argc, argv, dry_run ? "erase-dry-run" : "erase",
                               dry_run ? NULL : id);
    op.subject_id = (char *)id;
    op.reference = (char *)reference;
    op.dry_run = dry_run;
    Kinnet__V1__RecordsRequest request = KINNET__V1__RECORDS_REQUEST__INIT;
    request.op_case = KINNET__V1__RECORDS_REQUEST__OP_ERASE;
    request.erase = &op;
    return cli_records_run (options, &request, s_print_erasure);
}

static void
s_print_rectification (const ProtobufCMessage *result)
{
    const Kinnet__V1__Rectification *done = (const Kinnet__V1__Rectification *)result;
    printf ("rectified %s:", done->subject_id);
    for (size_t i = 0; i < done->n_fields; i++)
        printf ("%s%s", i ? ", " : " ", done->fields[i]);
    printf ("; %d referral parts sealed again%s\n", done->referrals,
            done->replayed ? " (answered from an earlier request)" : "");
}

static int
s_rectify (const cli_options_t *options, int argc, char **argv, const char *id)
{
    const char *reference = cli_arg (argc, argv, "--reference");
    if (!reference) {
        fputs (s_usage, stderr);
        return CLI_USAGE;
    }
    char key[200];
    Kinnet__V1__RectifySubject op = KINNET__V1__RECTIFY_SUBJECT__INIT;
    op.idempotency_key = (char *)cli_admin_key (key, sizeof key, argc, argv, "rectify", NULL);
    op.subject_id = (char *)id;
    op.reference = (char *)reference;
    op.given_name = (char *)(cli_arg (argc, argv, "--given-name") ?: "");
    op.family_name = (char *)(cli_arg (argc, argv, "--family-name") ?: "");
    op.date_of_birth = (char *)(cli_arg (argc, argv, "--date-of-birth") ?: "");
    Kinnet__V1__RecordsRequest request = KINNET__V1__RECORDS_REQUEST__INIT;
    request.op_case = KINNET__V1__RECORDS_REQUEST__OP_RECTIFY;
    request.rectify = &op;
    return cli_records_run (options, &request, s_print_rectification);
}

static void
s_print_merge (const ProtobufCMessage *result)
{
    const Kinnet__V1__Merge *done = (const Kinnet__V1__Merge *)result;
    printf ("%s %s %s %s: %d referral parts, %d consents and requests, %d holds%s%s%s\n",
            done->dry_run ? "would merge" : done->unmerged_at ? "separated" : "merged",
            done->merged_subject_id, done->unmerged_at ? "from" : "into", done->subject_id,
            done->referrals, done->consents, done->holds, done->merge_id[0] ? "; merge " : "",
            done->merge_id, done->replayed ? " (answered from an earlier request)" : "");
}

static int
s_merge (const cli_options_t *options, int argc, char **argv, const char *id,
         const char *other)
{
    const char *reference = cli_arg (argc, argv, "--reference");
    bool undo = !other;
    if (!reference || (undo && cli_flag (argc, argv, "--dry-run"))) {
        fputs (s_usage, stderr);
        return CLI_USAGE;
    }
    bool dry_run = cli_flag (argc, argv, "--dry-run");
    char key[200];
    Kinnet__V1__RecordsRequest request = KINNET__V1__RECORDS_REQUEST__INIT;
    Kinnet__V1__MergeSubjects merge = KINNET__V1__MERGE_SUBJECTS__INIT;
    Kinnet__V1__UnmergeSubjects unmerge = KINNET__V1__UNMERGE_SUBJECTS__INIT;
    if (undo) {
        unmerge.idempotency_key =
            (char *)cli_admin_key (key, sizeof key, argc, argv, "unmerge", id);
        unmerge.merge_id = (char *)id;
        unmerge.reference = (char *)reference;
        request.op_case = KINNET__V1__RECORDS_REQUEST__OP_UNMERGE;
        request.unmerge = &unmerge;
    } else {
        merge.idempotency_key = (char *)cli_admin_key (
            key, sizeof key, argc, argv, dry_run ? "merge-dry-run" : "merge", NULL);
        merge.subject_id = (char *)id;
        merge.merged_subject_id = (char *)other;
        merge.reference = (char *)reference;
        merge.dry_run = dry_run;
        request.op_case = KINNET__V1__RECORDS_REQUEST__OP_MERGE;
        request.merge = &merge;
    }
    return cli_records_run (options, &request, s_print_merge);
}

static void
s_print_split (const ProtobufCMessage *result)
{
    const Kinnet__V1__Split *done = (const Kinnet__V1__Split *)result;
    printf ("%s %s%s%s: %d referral parts, %d consents and requests, %d holds%s%s%s\n",
            done->dry_run ? "would split from" : "split from", done->subject_id,
            done->dry_run ? "" : " as ", done->new_subject_id, done->referrals, done->consents,
            done->holds, done->split_id[0] ? "; split " : "", done->split_id,
            done->replayed ? " (answered from an earlier request)" : "");
}

static int
s_split (const cli_options_t *options, int argc, char **argv, const char *const *valued,
         const char *id)
{
    const char *reference = cli_arg (argc, argv, "--reference");
    char *records[101];
    size_t n = 0;
    for (const char *record; n < 101 && (record = cli_positional (argc, argv, valued,
                                                                   3 + (int)n));)
        records[n++] = (char *)record;
    if (!reference || n == 0) {
        fputs (s_usage, stderr);
        return CLI_USAGE;
    }
    bool dry_run = cli_flag (argc, argv, "--dry-run");
    char key[200];
    Kinnet__V1__SplitSubject op = KINNET__V1__SPLIT_SUBJECT__INIT;
    op.idempotency_key = (char *)cli_admin_key (key, sizeof key, argc, argv,
                                                dry_run ? "split-dry-run" : "split", NULL);
    op.subject_id = (char *)id;
    op.record_ids = records;
    op.n_record_ids = n;
    op.reference = (char *)reference;
    op.dry_run = dry_run;
    Kinnet__V1__RecordsRequest request = KINNET__V1__RECORDS_REQUEST__INIT;
    request.op_case = KINNET__V1__RECORDS_REQUEST__OP_SPLIT;
    request.split = &op;
    return cli_records_run (options, &request, s_print_split);
}

static int
s_hold (const cli_options_t *options, int argc, char **argv, const char *action,
        const char *id)
{
    const char *reason = cli_arg (argc, argv, "--reason");
    const char *case_id = cli_arg (argc, argv, "--case");
    bool place = strcmp (action, "place") == 0;
    if (!reason || (!place && strcmp (action, "lift") != 0) || (!id == !case_id) ||
        (case_id && !place)) {
        fputs (s_usage, stderr);
        return CLI_USAGE;
    }
    char key[200];
    Kinnet__V1__RecordsRequest request = KINNET__V1__RECORDS_REQUEST__INIT;
    Kinnet__V1__PlaceHold placing = KINNET__V1__PLACE_HOLD__INIT;
    Kinnet__V1__LiftHold lifting = KINNET__V1__LIFT_HOLD__INIT;
    if (place) {
        placing.idempotency_key =
            (char *)cli_admin_key (key, sizeof key, argc, argv, "hold", NULL);
        placing.subject_id = (char *)(id ? id : "");
        placing.case_id = (char *)(case_id ? case_id : "");
        placing.reason = (char *)reason;
        request.op_case = KINNET__V1__RECORDS_REQUEST__OP_PLACE_HOLD;
        request.place_hold = &placing;
    }
    else {
        lifting.idempotency_key =
            (char *)cli_admin_key (key, sizeof key, argc, argv, "lift", id);
        lifting.hold_id = (char *)id;
        lifting.reason = (char *)reason;
        request.op_case = KINNET__V1__RECORDS_REQUEST__OP_LIFT_HOLD;
        request.lift_hold = &lifting;
    }
    return cli_records_run (options, &request, s_print_hold);
}

static void
s_print_holds (const ProtobufCMessage *result)
{
    const Kinnet__V1__HoldList *list = (const Kinnet__V1__HoldList *)result;
    if (list->n_holds == 0)
        printf ("no holds\n");
    for (size_t i = 0; i < list->n_holds; i++)
        s_print_hold (&list->holds[i]->base);
}

static int
s_holds (const cli_options_t *options, const char *id, const char *case_id)
{
    Kinnet__V1__ListHolds op = KINNET__V1__LIST_HOLDS__INIT;
    op.subject_id = (char *)(id ? id : "");
    op.case_id = (char *)(case_id ? case_id : "");
    Kinnet__V1__RecordsRequest request = KINNET__V1__RECORDS_REQUEST__INIT;
    request.op_case = KINNET__V1__RECORDS_REQUEST__OP_HOLDS;
    request.holds = &op;
    return cli_records_run (options, &request, s_print_holds);
}

int
cli_records (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--reference",   "--reason",      "--key",
                                         "--case",        "--given-name",  "--family-name",
                                         "--date-of-birth", NULL};
    static const char *const flags[] = {"--dry-run", NULL};
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_usage, stdout);
        return CLI_OK;
    }
    if (!cli_options_ok (argc, argv, valued, flags, s_usage))
        return CLI_USAGE;
    //  argv[0] is "subject".
    const char *action = cli_positional (argc, argv, valued, 1);
    const char *first = cli_positional (argc, argv, valued, 2);
    const char *second = cli_positional (argc, argv, valued, 3);
    const char *extra = cli_positional (argc, argv, valued, 4);
    action = action ? action : "";
    if (strcmp (action, "erase") == 0 && first && !second)
        return s_erase (options, argc, argv, first);
    if (strcmp (action, "rectify") == 0 && first && !second)
        return s_rectify (options, argc, argv, first);
    if (strcmp (action, "merge") == 0 && first && second && !extra)
        return s_merge (options, argc, argv, first, second);
    if (strcmp (action, "unmerge") == 0 && first && !second)
        return s_merge (options, argc, argv, first, NULL);
    if (strcmp (action, "split") == 0 && first && second)
        return s_split (options, argc, argv, valued, first);
    const char *case_id = cli_arg (argc, argv, "--case");
    if (strcmp (action, "hold") == 0 && first && !extra && (second || case_id))
        return s_hold (options, argc, argv, first, second);
    if (strcmp (action, "holds") == 0 && !second && !(first && case_id))
        return s_holds (options, first, case_id);
    fputs (s_usage, stderr);
    return CLI_USAGE;
}
