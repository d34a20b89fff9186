/*  kinnet ping SERVICE: is SERVICE served? Asks the broker's MMI (mmi.service). With
    one broker endpoint the answer is that broker's; with several (a redundant pair,
    --endpoint A,B) each broker is asked on its own, in turn, because a client that
    moves on to the next broker when one is silent would hide the silent one: a
    health check must see every broker, and fail when any is not serving. */
#include <czmq.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kn_endpoints.h"

static const char *s_usage =
    "usage: kinnet ping SERVICE\n"
    "Asks the broker (MMI mmi.service) whether SERVICE has a live worker.\n"
    "With several broker endpoints (--endpoint A,B or KINNET_ENDPOINT) each broker is\n"
    "asked in turn and gets one line: up or down (no live worker there, no answer,\n"
    "key refused) and the round trip.\n"
    "Exit 0 when it has one (at every broker), 4 when it has not or a broker is\n"
    "unreachable (at any broker).\n";

//  One broker's answer: up, or why not.
typedef enum { PING_UP, PING_NO_WORKER, PING_UNREACHABLE, PING_REFUSED } ping_t;

static const char *s_reason[] = {"", "no_worker", "unreachable", "refused"};
static const char *s_text[] = {"up", "down, no live worker", "down, no answer",
                               "down, key refused"};

//  Ask the broker at endpoint; its answer and the round trip in *ms. -1 only when
//  the client cannot be made (the options are wrong: err says which).
static int
s_ask (const cli_options_t *options, const char *endpoint, const char *service,
       ping_t *got, double *ms, kn_error_t *err)
{
    kn_client_t *client = cli_connect_to (options, endpoint, err);
    if (!client)
        return -1;
    int64_t begun = zclock_usecs ();
    kn_error_t failed;
    zframe_t *reply =
        kn_client_call (client, "mmi.service", service, strlen (service), &failed);
    *ms = (double)(zclock_usecs () - begun) / 1000.0;
    kn_client_destroy (&client);
    *got = !reply
               ? (failed.code == KN_E_UNAUTHENTICATED ? PING_REFUSED : PING_UNREACHABLE)
           : zframe_streq (reply, "200") ? PING_UP
                                         : PING_NO_WORKER;
    zframe_destroy (&reply);
    return 0;
}

//  The answer as it always was, for one broker: health checks read it.
static int
s_ping_one (const cli_options_t *options, const char *service)
{
    kn_error_t err;
    kn_error_clear (&err);
    kn_client_t *client = cli_connect_to (options, options->endpoint, &err);
    if (!client)
        return cli_fail (options, &err);
    zframe_t *reply =
        kn_client_call (client, "mmi.service", service, strlen (service), &err);
    kn_client_destroy (&client);
    //  Health checks read exit 4 as "not up", whatever the reason: kept so.
    if (!reply) {
        int rc = cli_fail (options, &err);
        return rc == CLI_RETRY ? CLI_REFUSED : rc;
    }
    bool up = zframe_streq (reply, "200");
    zframe_destroy (&reply);
    if (options->json) {
        json_t *out =
            json_pack ("{s:s,s:s}", "service", service, "status", up ? "up" : "down");
        json_dumpf (out, stdout, 0);
        printf ("\n");
        json_decref (out);
    } else
        printf ("%s: %s\n", service, up ? "up" : "no live worker");
    return up ? CLI_OK : CLI_REFUSED;
}

int
cli_ping (const cli_options_t *options, int argc, char **argv)
{
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_usage, stdout);
        return CLI_OK;
    }
    if (!cli_command_ok (argc, argv, NULL, NULL, 1, 1, 1, s_usage))
        return CLI_USAGE;
    const char *service = cli_positional (argc, argv, NULL, 1);
    kn_error_t err;
    kn_error_clear (&err);
    char *endpoints[KN_ENDPOINTS_MAX];
    int count = kn_endpoints_parse (options->endpoint, endpoints, &err);
    if (count < 0)
        return cli_fail (options, &err);
    if (count == 1) {
        kn_endpoints_free (endpoints, count);
        return s_ping_one (options, service);
    }
    json_t *brokers = json_array ();
    bool all_up = true;
    int rc = CLI_OK;
    for (int i = 0; i < count && rc == CLI_OK; i++) {
        ping_t got;
        double ms;
        if (s_ask (options, endpoints[i], service, &got, &ms, &err)) {
            rc = cli_fail (options, &err);
            break;
        }
        all_up &= got == PING_UP;
        if (options->json)
            json_array_append_new (
                brokers, json_pack ("{s:s,s:s,s:s,s:f}", "endpoint", endpoints[i],
                                    "status", got == PING_UP ? "up" : "down", "reason",
                                    s_reason[got], "round_trip_ms", ms));
        else
            printf ("%s %s: %s (%.1f ms)\n", endpoints[i], service, s_text[got], ms);
    }
    if (rc == CLI_OK && options->json) {
        json_t *out = json_pack ("{s:s,s:s,s:O}", "service", service, "status",
                                 all_up ? "up" : "down", "brokers", brokers);
        json_dumpf (out, stdout, 0);
        printf ("\n");
        json_decref (out);
    }
    json_decref (brokers);
    kn_endpoints_free (endpoints, count);
    return rc != CLI_OK ? rc : all_up ? CLI_OK : CLI_REFUSED;
}
