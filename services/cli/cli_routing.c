/*  kinnet feed | offer | case | admin routing: stub, being written. */
#include "cli.h"

int
cli_routing_admin (const cli_options_t *options, int argc, char **argv)
{
    (void) options; (void) argc; (void) argv;
    return CLI_USAGE;
}
int
cli_feed (const cli_options_t *options, int argc, char **argv)
{
    (void) options; (void) argc; (void) argv;
    return CLI_USAGE;
}
int
cli_offer (const cli_options_t *options, int argc, char **argv)
{
    (void) options; (void) argc; (void) argv;
    return CLI_USAGE;
}
int
cli_case (const cli_options_t *options, int argc, char **argv)
{
    (void) options; (void) argc; (void) argv;
    return CLI_USAGE;
}
