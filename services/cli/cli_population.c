/*  kinnet admin population import FILE.csv | show: the number of children in each
    district by year, for the equity report's rates per 1,000 children. The file is
    CSV (RFC 4180) with a header naming district, year and children (any order, other
    columns ignored). The whole file is checked first (cli_population_csv), so a
    bad line names itself and nothing is sent; the admin service loads all figures
    in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cli_population_csv.h"

static const char *s_usage
    = "usage: kinnet admin population import FILE.csv [--key KEY]\n"
      "       kinnet admin population show\n"
      "The CSV has a header with district, year and children (the number of children\n"
      "living in the district that year); at most 10,000 figures. A figure for a\n"
      "district and year already held replaces it. Both go through the broker to the\n"
      "admin service as an administrator agency (KINNET_CERT).\n";

static int
s_import (const cli_options_t *options, const char *path, int argc, char **argv)
{
    kn_error_t err;
    kn_error_clear (&err);
    FILE *file = fopen (path, "r");
    if (!file) {
        kn_error_set (&err, KN_E_INVALID_ARGUMENT, "file", "cannot read %s", path);
        return cli_fail (options, &err);
    }
    //  Check everything first, so a bad line is named by its line number, then send
    //  all figures in one request: the service loads them in one transaction.
    cli_population_csv_t figures;
    int rc = cli_population_csv_read (file, &figures, &err);
    fclose (file);
    Kinnet__V1__AdminReply *reply = NULL;
    if (rc == 0 && figures.count == 0)
        kn_error_set (&err, KN_E_INVALID_ARGUMENT, "file", "%s holds no figures", path);
    if (err.code == KN_OK) {
        char key[200];
        Kinnet__V1__ImportPopulation op = KINNET__V1__IMPORT_POPULATION__INIT;
        op.idempotency_key
            = (char *) cli_admin_key (key, sizeof key, argc, argv, "population", NULL);
        op.n_figures = figures.count;
        op.figures = figures.figures;
        Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
        request.op_case = KINNET__V1__ADMIN_REQUEST__OP_IMPORT_POPULATION;
        request.import_population = &op;
        reply = cli_admin_call (options, &request,
                                KINNET__V1__ADMIN_REPLY__RESULT_POPULATION_LOADED, &err);
    }
    cli_population_csv_free (&figures);
    if (!reply)
        return cli_fail (options, &err);
    if (options->json)
        printf ("{\"loaded\": %d}\n", reply->population_loaded->loaded);
    else
        printf ("population figures loaded: %d\n", reply->population_loaded->loaded);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

static int
s_show (const cli_options_t *options)
{
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__ShowPopulation op = KINNET__V1__SHOW_POPULATION__INIT;
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_SHOW_POPULATION;
    request.show_population = &op;
    Kinnet__V1__AdminReply *reply
        = cli_admin_call (options, &request, KINNET__V1__ADMIN_REPLY__RESULT_POPULATION, &err);
    if (!reply)
        return cli_fail (options, &err);
    Kinnet__V1__Population *population = reply->population;
    json_t *list = json_array ();
    for (size_t r = 0; r < population->n_figures; r++) {
        const Kinnet__V1__PopulationFigure *figure = population->figures[r];
        if (options->json)
            json_array_append_new (list, json_pack ("{s:s,s:I,s:I}", "district",
                                                    figure->district, "year",
                                                    (json_int_t) figure->year, "children",
                                                    (json_int_t) figure->children));
        else
            printf ("%-24s %d %10lld\n", figure->district, figure->year,
                    (long long) figure->children);
    }
    if (options->json) {
        json_dumpf (list, stdout, JSON_INDENT (2));
        printf ("\n");
    }
    json_decref (list);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

int
cli_population (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--key", NULL};
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_usage, stdout);
        return CLI_OK;
    }
    if (!cli_options_ok (argc, argv, valued, NULL, s_usage))
        return CLI_USAGE;
    const char *action = cli_positional (argc, argv, valued, 1);
    const char *path = cli_positional (argc, argv, valued, 2);
    const char *extra = cli_positional (argc, argv, valued, path ? 3 : 2);
    action = action ? action : "";
    if (strcmp (action, "import") == 0 && path && !extra)
        return s_import (options, path, argc, argv);
    if (strcmp (action, "show") == 0 && !path && !cli_arg (argc, argv, "--key"))
        return s_show (options);
    fputs (s_usage, stderr);
    return CLI_USAGE;
}
