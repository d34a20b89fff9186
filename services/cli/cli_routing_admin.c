/*  kinnet admin routing show | set KEY VALUE: the routing rules, through the admin
    service. The service checks a value against the one table of rules routing
    itself reads (routing_settings), so the rules are checked in one place. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

static const char *s_usage =
    "usage: kinnet admin routing show\n"
    "       kinnet admin routing set KEY VALUE [--key IDEMPOTENCY_KEY]\n"
    "Keys: rank.order (continuity,language,headroom,rotation in any order, each at\n"
    "most once), deadline.routine|priority|urgent|emergency_safeguarding (a\n"
    "time such as '10 days', '4 hours', '1 day 12 hours'; at most 90 days),\n"
    "contact.routine|priority|urgent|emergency_safeguarding (the same: from acceptance\n"
    "to first contact, then an escalation),\n"
    "emergency.to_district_lead (true|false),\n"
    "escalate.to_district_lead_from (routine|priority|urgent|emergency_safeguarding|\n"
    "never). Changes apply to the next routing decision. Both go through the broker\n"
    "to the admin service as an administrator agency (KINNET_CERT).\n";

static void
s_print (const cli_options_t *options, const Kinnet__V1__RoutingSettings *settings)
{
    if (options->json) {
        //  {"settings": {KEY: VALUE}}, as this command has always printed them.
        json_t *values = json_object ();
        for (size_t i = 0; i < settings->n_settings; i++)
            json_object_set_new (values, settings->settings[i]->key,
                                 json_string (settings->settings[i]->value));
        json_t *out = json_pack ("{s:o}", "settings", values);
        json_dumpf (out, stdout, JSON_INDENT (2));
        printf ("\n");
        json_decref (out);
        return;
    }
    for (size_t i = 0; i < settings->n_settings; i++) {
        const Kinnet__V1__RoutingSetting *setting = settings->settings[i];
        char since[40] = "";
        if (setting->updated_at) {
            time_t seconds = (time_t)setting->updated_at->seconds;
            struct tm tm;
            gmtime_r (&seconds, &tm);
            strftime (since, sizeof since, "since %Y-%m-%dT%H:%M:%SZ", &tm);
        }
        printf ("%-32s %-40s (%s)\n", setting->key, setting->value,
                setting->updated_at ? since : "default");
    }
}

int
cli_routing_admin (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--key", NULL};
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_usage, stdout);
        return CLI_OK;
    }
    if (!cli_options_ok (argc, argv, valued, NULL, s_usage))
        return CLI_USAGE;
    const char *action = cli_positional (argc, argv, valued, 1);
    const char *key = cli_positional (argc, argv, valued, 2);
    const char *value = cli_positional (argc, argv, valued, 3);
    bool show = action && strcmp (action, "show") == 0 && !key;
    bool set = action && strcmp (action, "set") == 0 && value &&
               !cli_positional (argc, argv, valued, 4);
    if (!show && !set) {
        fputs (s_usage, stderr);
        return CLI_USAGE;
    }
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    Kinnet__V1__ShowRoutingSettings show_op = KINNET__V1__SHOW_ROUTING_SETTINGS__INIT;
    Kinnet__V1__SetRoutingSetting set_op = KINNET__V1__SET_ROUTING_SETTING__INIT;
    char idempotency_key[200];
    if (set) {
        set_op.idempotency_key = (char *)cli_admin_key (
            idempotency_key, sizeof idempotency_key, argc, argv, "routing", NULL);
        set_op.key = (char *)key;
        set_op.value = (char *)value;
        request.op_case = KINNET__V1__ADMIN_REQUEST__OP_SET_ROUTING;
        request.set_routing = &set_op;
    } else {
        request.op_case = KINNET__V1__ADMIN_REQUEST__OP_SHOW_ROUTING;
        request.show_routing = &show_op;
    }
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__AdminReply *reply =
        cli_admin_call (options, &request, KINNET__V1__ADMIN_REPLY__RESULT_ROUTING, &err);
    if (!reply)
        return cli_fail (options, &err);
    s_print (options, reply->routing);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}
