/*  kinnet feed | offer | case: an agency's side of case routing (its feed, its
    offers, the cases it is on), through the broker. The administrator's routing
    rules are cli_routing_admin.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "kn_pbjson.h"
#include "kinnet/v1/routing.pb-c.h"

static const char *s_feed_usage
    = "usage: kinnet feed [--after N] [--max N] [--wait MS] [--follow] [--format json]\n"
      "Your agency's feed: offers, changes to cases you are on, consent withdrawals,\n"
      "escalations, in order. --after N starts after event N (keep the last seq you\n"
      "handled). --follow keeps reading (long polls) until interrupted; with\n"
      "--format json it prints one JSON event per line.\n";

static const char *s_offer_usage
    = "usage: kinnet offer accept ID [--caseworker C] [--key KEY]\n"
      "       kinnet offer decline ID --reason R [--caseworker C] [--key KEY]\n"
      "Reasons: no_capacity, not_eligible, already_supported, family_declined_contact,\n"
      "other. The default key makes repeating the same command safe.\n";

static const char *s_case_usage
    = "usage: kinnet case show ID\n"
      "       kinnet case contact ID [--need N] [--at UNIX_SECONDS] [--caseworker C]\n"
      "       kinnet case transfer ID --to AGENCY --reason R [--need N] [--caseworker C]\n"
      "       kinnet case lead ID --agency A [--caseworker C] [--by C]\n"
      "       kinnet case close ID --outcome O [--need N] [--caseworker C]\n"
      "       kinnet case unplaced [--district D]\n"
      "contact, transfer and close act on your agency's accepted involvement on the\n"
      "case (--need chooses when you hold several). Transfer reasons:\n"
      "specialist_service_needed, no_capacity, family_moved, family_request, other.\n"
      "Outcomes: needs_met, needs_partly_met, family_disengaged, moved_away,\n"
      "escalated_to_statutory. lead --caseworker names the lead professional; --by\n"
      "names who appointed them. All take [--key KEY] and --format json.\n";

//  The actions of offer and case, the options each takes and its ID argument.
//  Every case action takes --key (its usage says so), even where it is not used.
static const cli_action_t s_offer_actions[] = {
    {"accept", (const char *const[]){"--caseworker", "--key", NULL}, NULL, 1, 1},
    {"decline", (const char *const[]){"--reason", "--caseworker", "--key", NULL}, NULL, 1,
     1},
    {NULL}};

static const cli_action_t s_case_actions[] = {
    {"show", (const char *const[]){"--key", NULL}, NULL, 1, 1},
    {"contact", (const char *const[]){"--need", "--at", "--caseworker", "--key", NULL},
     NULL, 1, 1},
    {"transfer",
     (const char *const[]){"--to", "--reason", "--need", "--caseworker", "--key", NULL},
     NULL, 1, 1},
    {"lead", (const char *const[]){"--agency", "--caseworker", "--by", "--key", NULL},
     NULL, 1, 1},
    {"close", (const char *const[]){"--outcome", "--need", "--caseworker", "--key", NULL},
     NULL, 1, 1},
    {"unplaced", (const char *const[]){"--district", "--key", NULL}, NULL, 0, 0},
    {NULL}};

//  An enum name, also without its type's prefix ("other" -> DECLINE_OTHER).
static int
s_enum (const ProtobufCEnumDescriptor *descriptor, const char *prefix, const char *name)
{
    int value = cli_enum (descriptor, name);
    if (value < 0 && name) {
        char full[96];
        snprintf (full, sizeof full, "%s%s", prefix, name);
        value = cli_enum (descriptor, full);
    }
    return value;
}

static const char *
s_enum_name (const ProtobufCEnumDescriptor *descriptor, int value)
{
    const ProtobufCEnumValue *found = protobuf_c_enum_descriptor_get_value (descriptor, value);
    return found ? found->name : "?";
}

//  FNV-1a of the arguments, for default idempotency keys: the same command gives
//  the same key, so repeating it is a retry.
static void
s_default_key (char *out, size_t size, const char *verb, int argc, char **argv)
{
    uint32_t hash = 2166136261u;
    for (int i = 1; i < argc; i++)
        for (const char *p = argv[i]; *p || p == argv[i]; p++) {
            hash = (hash ^ (uint8_t) *p) * 16777619u;
            if (!*p)
                break;
        }
    snprintf (out, size, "%s-%s-%08x", verb, argc > 2 ? argv[2] : "", hash);
}

static Kinnet__V1__RoutingReply *
s_call (const cli_options_t *options, Kinnet__V1__RoutingRequest *request, kn_error_t *err)
{
    return (Kinnet__V1__RoutingReply *) cli_request (options, "routing", &request->base,
                                                     &kinnet__v1__routing_reply__descriptor, err);
}

static void
s_print_involvement (const Kinnet__V1__Involvement *i, bool replayed)
{
    printf ("%s%s: %s for %s, agency %s%s\n", i->involvement_id,
            replayed ? " (repeat)" : "",
            s_enum_name (&kinnet__v1__involvement_status__descriptor, i->status),
            s_enum_name (&kinnet__v1__need_category__descriptor, i->need), i->agency_id,
            i->lead ? " (lead)" : "");
}

static void
s_print_case (const Kinnet__V1__Case *c)
{
    printf ("case %s  %s  district %s  urgency %s\n", c->case_id,
            s_enum_name (&kinnet__v1__case_status__descriptor, c->status), c->district,
            s_enum_name (&kinnet__v1__urgency__descriptor, c->urgency));
    printf ("family %s  languages", c->family_id);
    for (size_t i = 0; i < c->n_languages; i++)
        printf (" %s", c->languages[i]);
    printf ("\nlead: %s%s%s\n", c->lead_agency_id && *c->lead_agency_id ? c->lead_agency_id : "none",
            c->lead_caseworker_id && *c->lead_caseworker_id ? " caseworker " : "",
            c->lead_caseworker_id ? c->lead_caseworker_id : "");
    printf ("needs:\n");
    for (size_t i = 0; i < c->n_needs; i++)
        printf ("  %s  %s  %s\n", c->needs[i]->need_id,
                s_enum_name (&kinnet__v1__need_category__descriptor, c->needs[i]->category),
                s_enum_name (&kinnet__v1__need_status__descriptor, c->needs[i]->status));
    printf ("team and offers:\n");
    for (size_t i = 0; i < c->n_involvements; i++) {
        printf ("  ");
        s_print_involvement (c->involvements[i], false);
    }
}

//  Send request; print its result. Returns the exit code.
static int
s_run (const cli_options_t *options, Kinnet__V1__RoutingRequest *request)
{
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__RoutingReply *reply = s_call (options, request, &err);
    if (!reply)
        return cli_fail (options, &err);
    if (options->json)
        cli_print_json (&reply->base);
    else if (reply->result_case == KINNET__V1__ROUTING_REPLY__RESULT_INVOLVEMENT)
        s_print_involvement (reply->involvement, reply->replayed);
    else if (reply->result_case == KINNET__V1__ROUTING_REPLY__RESULT_CASE)
        s_print_case (reply->case_);
    else if (reply->result_case == KINNET__V1__ROUTING_REPLY__RESULT_UNPLACED) {
        for (size_t i = 0; i < reply->unplaced->n_needs; i++) {
            Kinnet__V1__CaseNeed *n = reply->unplaced->needs[i];
            printf ("%s  case %s  %s  %s  district %s  referral %s\n", n->need_id, n->case_id,
                    s_enum_name (&kinnet__v1__need_category__descriptor, n->category),
                    s_enum_name (&kinnet__v1__urgency__descriptor, n->urgency), n->district,
                    n->referral_id);
        }
        printf ("%zu unplaced need(s)\n", reply->unplaced->n_needs);
    }
    kinnet__v1__routing_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

static int
s_usage (const char *usage, int argc, char **argv)
{
    bool help = cli_flag (argc, argv, "--help");
    fputs (usage, help ? stdout : stderr);
    return help ? CLI_OK : CLI_USAGE;
}

static int
s_bad (const cli_options_t *options, const char *field, const char *what, const char *value)
{
    kn_error_t err;
    kn_error_set (&err, KN_E_INVALID_ARGUMENT, field, "unknown %s '%s'", what,
                  value ? value : "");
    return cli_fail (options, &err);
}

//  ------------------------------------------------------------------------
//  kinnet feed

static void
s_print_event (const cli_options_t *options, const Kinnet__V1__FeedEvent *event)
{
    if (options->json) {
        //  One event per line, so a follower can be piped into a line reader.
        json_t *json = kn_pbjson_encode (&event->base);
        json_dumpf (json, stdout, JSON_COMPACT);
        printf ("\n");
        json_decref (json);
        return;
    }
    printf ("%lld  %s", (long long) event->seq, event->topic);
    if (event->case_id && *event->case_id)
        printf ("  case %s", event->case_id);
    switch (event->body_case) {
    case KINNET__V1__FEED_EVENT__BODY_OFFER:
        printf ("  offer %s  %s  %s%s", event->offer->involvement->involvement_id,
                s_enum_name (&kinnet__v1__need_category__descriptor,
                             event->offer->involvement->need),
                s_enum_name (&kinnet__v1__urgency__descriptor, event->offer->urgency),
                event->offer->details_available ? "" : "  (waiting for consent)");
        break;
    case KINNET__V1__FEED_EVENT__BODY_INVOLVEMENT:
        printf ("  %s  %s  agency %s", event->involvement->involvement_id,
                s_enum_name (&kinnet__v1__involvement_status__descriptor,
                             event->involvement->status),
                event->involvement->agency_id);
        break;
    case KINNET__V1__FEED_EVENT__BODY_ESCALATION:
        printf ("  %s  offer %s", event->escalation->reason,
                event->escalation->involvement->involvement_id);
        break;
    case KINNET__V1__FEED_EVENT__BODY_NEED:
        printf ("  need %s  %s", event->need->need_id,
                s_enum_name (&kinnet__v1__need_category__descriptor, event->need->category));
        break;
    case KINNET__V1__FEED_EVENT__BODY_LEAD:
        printf ("  lead %s", *event->lead->lead_agency_id ? event->lead->lead_agency_id : "none");
        break;
    case KINNET__V1__FEED_EVENT__BODY_CONSENT_WITHDRAWN:
        printf ("  consent %s  subject %s", event->consent_withdrawn->consent_id,
                event->consent_withdrawn->subject_id);
        break;
    case KINNET__V1__FEED_EVENT__BODY_REFERRAL_WITHDRAWN:
        printf ("  referral %s", event->referral_withdrawn->referral_id);
        break;
    case KINNET__V1__FEED_EVENT__BODY_SUBJECT_ERASED:
        printf ("  subject %s  family %s: erase your copies", event->subject_erased->subject_id,
                event->subject_erased->family_id);
        break;
    case KINNET__V1__FEED_EVENT__BODY_SUBJECT_RECTIFIED:
        printf ("  subject %s  family %s: corrected", event->subject_rectified->subject_id,
                event->subject_rectified->family_id);
        for (size_t i = 0; i < event->subject_rectified->n_fields; i++)
            printf ("%s%s", i ? ", " : " ", event->subject_rectified->fields[i]);
        printf ("; correct your copies");
        break;
    case KINNET__V1__FEED_EVENT__BODY_SUBJECT_MERGED:
        if (strcmp (event->topic, "subject.split") == 0) {
            printf ("  subject %s  was two people: records", event->subject_merged->subject_id);
            for (size_t i = 0; i < event->subject_merged->n_record_ids; i++)
                printf ("%s%s", i ? ", " : " ", event->subject_merged->record_ids[i]);
            printf (" are subject %s's (split %s): separate your records of them",
                    event->subject_merged->merged_subject_id, event->subject_merged->merge_id);
            break;
        }
        printf (strcmp (event->topic, "subject.unmerged") == 0
                    ? "  subject %s  separated again from subject %s (merge %s):"
                      " separate your records of them"
                    : "  subject %s  now also subject %s (merge %s): link your records"
                      " of them",
                event->subject_merged->subject_id, event->subject_merged->merged_subject_id,
                event->subject_merged->merge_id);
        break;
    case KINNET__V1__FEED_EVENT__BODY_RETENTION_CHANGING: {
        const Kinnet__V1__RetentionChanging *change = event->retention_changing;
        char at[32] = "?", now[32];
        time_t t = change->effective_at ? (time_t)change->effective_at->seconds : 0;
        struct tm tm;
        if (change->effective_at && gmtime_r (&t, &tm))
            strftime (at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (change->days)
            snprintf (now, sizeof now, "%d days", change->days);
        else
            snprintf (now, sizeof now, "kept without limit");
        if (change->cancelled)
            printf ("  %s: shortening to %d days (due %s, by %s) cancelled by %s; %s stays",
                    change->record_type, change->pending_days, at,
                    change->proposed_by_agency_id, change->by_agency_id, now);
        else
            printf ("  %s: %s shortened to %d days by %s, in force from %s unless a DPO"
                    " cancels it (kinnet retention cancel %s)",
                    change->record_type, now, change->pending_days, change->by_agency_id, at,
                    change->record_type);
        break;
    }
    default:
        break;
    }
    printf ("\n");
}

int
cli_feed (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--after", "--max", "--wait", NULL};
    static const char *const flags[] = {"--follow", NULL};
    if (cli_flag (argc, argv, "--help"))
        return s_usage (s_feed_usage, argc, argv);
    if (!cli_command_ok (argc, argv, valued, flags, 1, 0, 0, s_feed_usage))
        return CLI_USAGE;
    const char *after_text = cli_arg (argc, argv, "--after");
    const char *max_text = cli_arg (argc, argv, "--max");
    const char *wait_text = cli_arg (argc, argv, "--wait");
    bool follow = cli_flag (argc, argv, "--follow");
    char *end = NULL;
    long long after = after_text ? strtoll (after_text, &end, 10) : 0;
    if (after_text && (*end || after < 0))
        return s_usage (s_feed_usage, argc, argv);
    int max = max_text ? atoi (max_text) : 100;
    int wait = wait_text ? atoi (wait_text) : follow ? 20000 : 0;
    cli_options_t call = *options;
    //  A long poll needs a per-attempt timeout longer than the wait.
    if (call.timeout_ms < wait + 5000)
        call.timeout_ms = wait + 5000;
    do {
        Kinnet__V1__FeedRead read = KINNET__V1__FEED_READ__INIT;
        read.after = after;
        read.max = max;
        read.wait_ms = wait;
        Kinnet__V1__FeedRequest request = KINNET__V1__FEED_REQUEST__INIT;
        request.op_case = KINNET__V1__FEED_REQUEST__OP_READ;
        request.read = &read;
        kn_error_t err;
        kn_error_clear (&err);
        Kinnet__V1__FeedReply *reply = (Kinnet__V1__FeedReply *) cli_request (
            &call, "feed", &request.base, &kinnet__v1__feed_reply__descriptor, &err);
        if (!reply) {
            if (zsys_interrupted)
                break;
            return cli_fail (options, &err);
        }
        if (options->json && !follow)
            cli_print_json (&reply->batch->base);
        else
            for (size_t i = 0; i < reply->batch->n_events; i++)
                s_print_event (options, reply->batch->events[i]);
        if (reply->batch->n_events)
            after = reply->batch->events[reply->batch->n_events - 1]->seq;
        if (!options->json && !follow)
            printf ("last seq %lld (feed holds %lld)\n", after,
                    (long long) reply->batch->last_seq);
        fflush (stdout);
        kinnet__v1__feed_reply__free_unpacked (reply, NULL);
    } while (follow && !zsys_interrupted);
    return CLI_OK;
}

//  ------------------------------------------------------------------------
//  kinnet offer

int
cli_offer (const cli_options_t *options, int argc, char **argv)
{
    if (cli_flag (argc, argv, "--help"))
        return s_usage (s_offer_usage, argc, argv);
    const cli_action_t *shape = cli_action (argc, argv, s_offer_actions, s_offer_usage);
    if (!shape)
        return CLI_USAGE;
    const char *action = shape->name;
    const char *id = cli_positional (argc, argv, shape->valued, 2);
    bool accept = shape == &s_offer_actions[0];
    const char *reason = cli_arg (argc, argv, "--reason");
    if (!accept && !reason)
        return s_usage (s_offer_usage, argc, argv);
    const char *caseworker = cli_arg (argc, argv, "--caseworker");
    const char *given = cli_arg (argc, argv, "--key");
    char key[160];
    s_default_key (key, sizeof key, action, argc, argv);
    Kinnet__V1__RoutingRequest request = KINNET__V1__ROUTING_REQUEST__INIT;
    Kinnet__V1__AcceptOffer a = KINNET__V1__ACCEPT_OFFER__INIT;
    Kinnet__V1__DeclineOffer d = KINNET__V1__DECLINE_OFFER__INIT;
    if (accept) {
        a.idempotency_key = (char *) (given ? given : key);
        a.offer_id = (char *) id;
        a.caseworker_id = (char *) (caseworker ? caseworker : "");
        request.op_case = KINNET__V1__ROUTING_REQUEST__OP_ACCEPT;
        request.accept = &a;
    }
    else {
        int value = s_enum (&kinnet__v1__decline_reason__descriptor, "DECLINE_", reason);
        if (value < 0)
            return s_bad (options, "reason", "decline reason", reason);
        d.idempotency_key = (char *) (given ? given : key);
        d.offer_id = (char *) id;
        d.reason = value;
        d.caseworker_id = (char *) (caseworker ? caseworker : "");
        request.op_case = KINNET__V1__ROUTING_REQUEST__OP_DECLINE;
        request.decline = &d;
    }
    return s_run (options, &request);
}

//  ------------------------------------------------------------------------
//  kinnet case

int
cli_case (const cli_options_t *options, int argc, char **argv)
{
    if (cli_flag (argc, argv, "--help"))
        return s_usage (s_case_usage, argc, argv);
    const cli_action_t *shape = cli_action (argc, argv, s_case_actions, s_case_usage);
    if (!shape)
        return CLI_USAGE;
    const char *action = shape->name;
    const char *id = cli_positional (argc, argv, shape->valued, 2);
    const char *caseworker = cli_arg (argc, argv, "--caseworker");
    const char *given = cli_arg (argc, argv, "--key");
    const char *need_text = cli_arg (argc, argv, "--need");
    int need = 0;
    if (need_text && (need = cli_enum (&kinnet__v1__need_category__descriptor, need_text)) < 0)
        return s_bad (options, "need", "need category", need_text);
    char key[160];
    s_default_key (key, sizeof key, action, argc, argv);
    const char *idem = given ? given : key;
    const char *cw = caseworker ? caseworker : "";
    Kinnet__V1__RoutingRequest request = KINNET__V1__ROUTING_REQUEST__INIT;

    if (strcmp (action, "show") == 0) {
        Kinnet__V1__GetCase op = KINNET__V1__GET_CASE__INIT;
        op.case_id = (char *) id;
        request.op_case = KINNET__V1__ROUTING_REQUEST__OP_GET_CASE;
        request.get_case = &op;
        return s_run (options, &request);
    }
    if (strcmp (action, "unplaced") == 0) {
        Kinnet__V1__ListUnplaced op = KINNET__V1__LIST_UNPLACED__INIT;
        const char *district = cli_arg (argc, argv, "--district");
        op.district = (char *) (district ? district : "");
        request.op_case = KINNET__V1__ROUTING_REQUEST__OP_UNPLACED;
        request.unplaced = &op;
        return s_run (options, &request);
    }
    if (strcmp (action, "contact") == 0) {
        Kinnet__V1__RecordContact op = KINNET__V1__RECORD_CONTACT__INIT;
        Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
        const char *at_text = cli_arg (argc, argv, "--at");
        if (at_text) {
            char *end = NULL;
            at.seconds = strtoll (at_text, &end, 10);
            if (*end || at.seconds <= 0)
                return s_bad (options, "contacted_at", "time (Unix seconds)", at_text);
            op.contacted_at = &at;
        }
        op.idempotency_key = (char *) idem;
        op.case_id = (char *) id;
        op.need = need;
        op.caseworker_id = (char *) cw;
        request.op_case = KINNET__V1__ROUTING_REQUEST__OP_CONTACT;
        request.contact = &op;
        return s_run (options, &request);
    }
    if (strcmp (action, "transfer") == 0) {
        const char *to = cli_arg (argc, argv, "--to");
        const char *reason = cli_arg (argc, argv, "--reason");
        if (!to || !reason)
            return s_usage (s_case_usage, argc, argv);
        int value = s_enum (&kinnet__v1__transfer_reason__descriptor, "TRANSFER_", reason);
        if (value < 0)
            return s_bad (options, "reason", "transfer reason", reason);
        Kinnet__V1__TransferInvolvement op = KINNET__V1__TRANSFER_INVOLVEMENT__INIT;
        op.idempotency_key = (char *) idem;
        op.case_id = (char *) id;
        op.need = need;
        op.to_agency_id = (char *) to;
        op.reason = value;
        op.caseworker_id = (char *) cw;
        request.op_case = KINNET__V1__ROUTING_REQUEST__OP_TRANSFER;
        request.transfer = &op;
        return s_run (options, &request);
    }
    if (strcmp (action, "lead") == 0) {
        const char *agency = cli_arg (argc, argv, "--agency");
        const char *by = cli_arg (argc, argv, "--by");
        if (!agency)
            return s_usage (s_case_usage, argc, argv);
        Kinnet__V1__AppointLead op = KINNET__V1__APPOINT_LEAD__INIT;
        op.idempotency_key = (char *) idem;
        op.case_id = (char *) id;
        op.agency_id = (char *) agency;
        op.lead_caseworker_id = (char *) cw;
        op.caseworker_id = (char *) (by ? by : "");
        request.op_case = KINNET__V1__ROUTING_REQUEST__OP_LEAD;
        request.lead = &op;
        return s_run (options, &request);
    }
    if (strcmp (action, "close") == 0) {
        const char *outcome = cli_arg (argc, argv, "--outcome");
        if (!outcome)
            return s_usage (s_case_usage, argc, argv);
        int value = cli_enum (&kinnet__v1__outcome__descriptor, outcome);
        if (value < 0)
            return s_bad (options, "outcome", "outcome", outcome);
        Kinnet__V1__CloseInvolvement op = KINNET__V1__CLOSE_INVOLVEMENT__INIT;
        op.idempotency_key = (char *) idem;
        op.case_id = (char *) id;
        op.need = need;
        op.outcome = value;
        op.caseworker_id = (char *) cw;
        request.op_case = KINNET__V1__ROUTING_REQUEST__OP_CLOSE;
        request.close = &op;
        return s_run (options, &request);
    }
    return s_usage (s_case_usage, argc, argv);
}
