/*  kinnet admin directory: stub; being written. */
#include "cli.h"

int
cli_directory (const cli_options_t *options, int argc, char **argv)
{
    (void) options;
    (void) argc;
    (void) argv;
    return CLI_USAGE;
}
