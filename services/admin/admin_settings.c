/*  admin_settings: the figures administration sets for the other services: the
    routing rules (routing_settings' one table decides the keys, defaults and
    checks) and the population figures the equity report divides by. */
#include "admin_ops.h"

#include <stdlib.h>
#include <string.h>

#include "kn_pb.h"
#include "kn_pgarray.h"
#include "kn_validate.h"
#include "routing_settings.h"
#include "kn_alloc.h"

#define MAX_FIGURES 10000

static const char *s_statements[][2] = {
    {"admin_routing_show",
     "SELECT key, value, floor (extract (epoch FROM updated_at))::bigint"
     " FROM routing.setting"},
    {"admin_routing_set", "INSERT INTO routing.setting (key, value, updated_at)"
                          " VALUES ($1, $2, now ()) ON CONFLICT (key) DO UPDATE"
                          " SET value = EXCLUDED.value, updated_at = now ()"},
    //  One statement for the whole batch; a figure held already is replaced.
    {"admin_population_load", "INSERT INTO core.population (district, year, children)"
                              " SELECT * FROM unnest ($1::text[], $2::int[], $3::int[])"
                              " ON CONFLICT (district, year) DO UPDATE"
                              " SET children = EXCLUDED.children, loaded_at = now ()"},
    {"admin_population_show",
     "SELECT district, year, children FROM core.population ORDER BY district, year"},
};

int
admin_settings_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements,
                              sizeof s_statements / sizeof s_statements[0], err);
}

//  -------------------------------------------------------------------------
//  Routing rules

//  Every key of the table with its value now: reply->routing, or -1.
static int
s_routing (admin_server_t *self, admin_reply_t *reply, kn_error_t *err)
{
    PGresult *rows =
        kn_db_ensure (self->db, err)
            ? NULL
            : kn_db_run (self->db, "admin_routing_show", 0, NULL, NULL, NULL, err);
    if (!rows)
        return -1;
    size_t count;
    const routing_setting_t *table = routing_settings_table (&count);
    Kinnet__V1__RoutingSettings *settings = kn_malloc (sizeof *settings);
    kinnet__v1__routing_settings__init (settings);
    settings->settings = kn_calloc (count, sizeof *settings->settings);
    for (size_t i = 0; i < count; i++) {
        Kinnet__V1__RoutingSetting *one = kn_malloc (sizeof *one);
        kinnet__v1__routing_setting__init (one);
        one->key = kn_pb_string (table[i].key);
        one->default_value = kn_pb_string (table[i].default_value);
        int row = -1;
        for (int r = 0; r < PQntuples (rows) && row < 0; r++)
            if (strcmp (PQgetvalue (rows, r, 0), table[i].key) == 0)
                row = r;
        one->value =
            kn_pb_string (row >= 0 ? PQgetvalue (rows, row, 1) : table[i].default_value);
        if (row >= 0)
            one->updated_at =
                kn_pb_timestamp (strtoll (PQgetvalue (rows, row, 2), NULL, 10));
        settings->settings[settings->n_settings++] = one;
    }
    PQclear (rows);
    reply->routing = settings;
    return 0;
}

int
admin_show_routing (admin_server_t *self, const char *agency,
                    const admin_request_t *request, admin_reply_t *reply, kn_error_t *err)
{
    return s_routing (self, reply, err);
}

int
admin_validate_set_routing (const admin_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__SetRoutingSetting *op = request->set_routing;
    return admin_validate_key (op->idempotency_key, err)
               ?: routing_settings_check (op->key, op->value, err);
}

int
admin_set_routing (admin_server_t *self, const char *agency,
                   const admin_request_t *request, admin_reply_t *reply, kn_error_t *err)
{
    const Kinnet__V1__SetRoutingSetting *op = request->set_routing;
    kn_write_t w;
    kn_claim_t claim =
        admin_write_begin (self, &w, agency, "set_routing", NULL, &op->base, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    w.audit.basis = op->key; //  the trail says which rule changed
    const char *values[] = {op->key, op->value};
    if (claim == KN_CLAIM_NEW &&
        (kn_db_do (self->db, "admin_routing_set", 2, values, 1, err) ||
         kn_write_commit (&w, err)))
        goto fail;
    return s_routing (self, reply, err);
fail:
    return kn_write_abort (&w);
}

//  -------------------------------------------------------------------------
//  Population figures

int
admin_validate_population (const admin_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__ImportPopulation *op = request->import_population;
    if (admin_validate_key (op->idempotency_key, err))
        return -1;
    if (op->n_figures < 1 || op->n_figures > MAX_FIGURES)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "figures",
                             "figures: 1 to %d of them", MAX_FIGURES);
    //  All are checked before any is written.
    for (size_t i = 0; i < op->n_figures; i++) {
        const Kinnet__V1__PopulationFigure *figure = op->figures[i];
        char field[64];
        snprintf (field, sizeof field, "figures[%zu].district", i);
        if (kn_validate_text (figure->district, field, 1, 64, false, err))
            return -1;
        snprintf (field, sizeof field, "figures[%zu].year", i);
        if (figure->year < 1900 || figure->year > 2200)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, field,
                                 "year is 1900 to 2200");
        snprintf (field, sizeof field, "figures[%zu].children", i);
        if (figure->children < 0 || figure->children > 100000000)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, field,
                                 "children is 0 to 100,000,000");
    }
    return 0;
}

int
admin_import_population (admin_server_t *self, const char *agency,
                         const admin_request_t *request, admin_reply_t *reply,
                         kn_error_t *err)
{
    const Kinnet__V1__ImportPopulation *op = request->import_population;
    kn_write_t w;
    kn_claim_t claim =
        admin_write_begin (self, &w, agency, "import_population", NULL, &op->base, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    if (claim == KN_CLAIM_NEW) {
        kn_pgarray_t *columns[3];
        kn_pgarray_columns (columns, 3);
        for (size_t i = 0; i < op->n_figures; i++) {
            kn_pgarray_add (columns[0], op->figures[i]->district);
            kn_pgarray_add_int (columns[1], op->figures[i]->year);
            kn_pgarray_add_int (columns[2], (long long)op->figures[i]->children);
        }
        if (kn_pgarray_exec (self->db, "admin_population_load", columns, 3, err) ||
            kn_write_commit (&w, err))
            goto fail;
    }
    reply->population_loaded = kn_malloc (sizeof *reply->population_loaded);
    kinnet__v1__population_imported__init (reply->population_loaded);
    reply->population_loaded->loaded = (int32_t)op->n_figures;
    return 0;
fail:
    return kn_write_abort (&w);
}

int
admin_show_population (admin_server_t *self, const char *agency,
                       const admin_request_t *request, admin_reply_t *reply,
                       kn_error_t *err)
{
    PGresult *rows =
        kn_db_ensure (self->db, err)
            ? NULL
            : kn_db_run (self->db, "admin_population_show", 0, NULL, NULL, NULL, err);
    if (!rows)
        return -1;
    int n = PQntuples (rows);
    Kinnet__V1__Population *population = kn_malloc (sizeof *population);
    kinnet__v1__population__init (population);
    population->figures = kn_calloc ((size_t)(n ? n : 1), sizeof *population->figures);
    for (int r = 0; r < n; r++) {
        Kinnet__V1__PopulationFigure *figure = kn_malloc (sizeof *figure);
        kinnet__v1__population_figure__init (figure);
        figure->district = kn_pb_string (PQgetvalue (rows, r, 0));
        figure->year = atoi (PQgetvalue (rows, r, 1));
        figure->children = strtoll (PQgetvalue (rows, r, 2), NULL, 10);
        population->figures[population->n_figures++] = figure;
    }
    PQclear (rows);
    reply->population = population;
    return 0;
}
