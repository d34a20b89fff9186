/*  reporting_report_int: what the report files share, and nobody else sees.
    A report is planned, read, then made. Its function says which sections it has
    and what each of their tables counts (a table_spec_t, all constants); each table
    becomes a query, SQL put together from constant fragments; the queries run side
    by side on several sessions in one snapshot; only then are the tables made from
    their rows, protected by kn_sdc, in the report's order. One file each:
      reporting_report.c      a request, from its field rules to the finished Report
      reporting_query.c       a table's SQL, from constant fragments chosen by enum
      reporting_sessions.c    the queries, side by side in one snapshot
      reporting_table.c       a query's rows as a protected table
      reporting_rollup_sql.c  a query's clean days from the rollups (reporting_rollup.h)
      reporting_referrals.c   "referrals": referrals received, involvements closed
      reporting_declines.c    "declines": offers made, offers declined
      reporting_timeliness.c  "timeliness": placement, expiries, hours to help
      reporting_team.c        "team": the team around each family
      reporting_consent.c     "consent": consents, disclosures, overrides
      reporting_equity.c      "equity": rates by district, families' languages
    Each report's file holds the SQL fragments of its own tables. */
#ifndef REPORTING_REPORT_INT_H_INCLUDED
#define REPORTING_REPORT_INT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinnet/v1/routing.pb-c.h"
#include "reporting_report.h"

//  What a table counts: referrals, involvements or needs, whose dimensions
//  reporting_query.c knows, or rows of a FROM clause of the table's own.
typedef enum { BASE_REFERRAL, BASE_INVOLVEMENT, BASE_NEED, BASE_CUSTOM } base_t;

//  Each ReportDimension's name, as a table's row or column dimension.
extern const char *reporting_dimension_names[];

//  A need with what became of it (first offer and its deadline, acceptance, first
//  contact: kept on the need by routing, 0008), its referral and referring agency;
//  t.* names them as the report SQL expects.
#define NEED_FROM_OF(needs, period)                                                       \
    " FROM " needs " LEFT JOIN core.agency ra ON ra.id = nd.referring_agency_id"          \
    " CROSS JOIN LATERAL (SELECT nd.accepted_at, nd.first_deadline_at AS first_deadline," \
    "  nd.first_offered_at AS first_offered, nd.first_contact_at AS contact_at) t"        \
    " WHERE " period
#define NEED_FROM                                                                        \
    NEED_FROM_OF ("(SELECT nd.*, nd.created_at AS at FROM routing.need nd"               \
                  "  WHERE nd.created_at >= $1::date AND nd.created_at < $2::date) nd",  \
                  "at >= $1::date AND at < $2::date")
//  The same over the stretches of the period that are not clean rolled-up days.
#define NEED_FROM_RAW                                                                    \
    NEED_FROM_OF ("raw CROSS JOIN LATERAL (SELECT nd.*, nd.created_at AS at"             \
                  "  FROM routing.need nd WHERE nd.created_at >= raw.lo"                 \
                  "  AND nd.created_at < raw.hi OFFSET 0) nd",                           \
                  "true")

//  One table: what it counts and how its rows and columns are labelled. Every array
//  it points to is static: the tables are made after the report's function returns.
typedef struct {
    const char *title;
    base_t base;
    const char *event_time;   //  involvement tables: the time column counted
    const char *filter;       //  SQL condition, a constant
    const char *category_sql; //  fixed columns: SQL of the category value, or NULL
    const ProtobufCEnumDescriptor *category; //  its enum (values 1..n are the columns)
    const char *category_name;
    //  BASE_CUSTOM: the FROM clause (with the period's WHERE on `at`, $1 and $2) and
    //  each dimension's SQL (NULL: the dimension does not apply to this table).
    const char *from_sql;
    const char *const *dims;
    //  Fixed columns named by a list instead of an enum (SQL values 1..n_labels).
    const char *const *labels;
    size_t n_labels;
    //  Fixed rows instead of the first dimension (SQL values of row_enum).
    const char *row_sql;
    const ProtobufCEnumDescriptor *row_enum;
    const char *row_name;
    //  Rollups (reporting_rollup_sql.c): the source (1..6, migration 0043) whose
    //  rollup x holds the table's counts, or 0: the table is read from raw rows only.
    //  rollup: the aggregate over x that counts what filter does; rollup_category:
    //  the column value over x (fixed columns); rollup_join: joins it needs;
    //  from_raw_sql (BASE_CUSTOM): from_sql over the stretches `raw` (lo, hi)
    //  instead of the period, ending in a WHERE clause.
    int source;
    const char *rollup;
    const char *rollup_category;
    const char *rollup_join;
    const char *from_raw_sql;
} table_spec_t;

//  -------------------------------------------------------------------------
//  Queries. A report first says which queries it needs and where their tables go;
//  the queries then run several at a time, each on its own session, all in one
//  snapshot; only then are the tables made, in the report's order.

typedef struct _job_t job_t;

//  Make a job's tables from its rows. 0 or -1.
typedef int (build_fn_t) (job_t *job, PGresult *rows, const kn_sdc_config_t *config,
                          kn_error_t *err);

struct _job_t {
    char *sql; //  parameters: $1 from, $2 to
    build_fn_t *build;
    bool first;                    //  sent before the others (a slow query)
    Kinnet__V1__RunReport request; //  as the tables see it (by: the caller's array)
    table_spec_t *specs;           //  s_tables_build: the n tables the query counts
                                   //  (copies; what they point to is static)
    size_t n;
    Kinnet__V1__ReportSection *section; //  the tables go to section->tables[slot], ...
    size_t slot;
    PGresult *rows;
};

typedef struct {
    job_t *jobs;
    size_t n_jobs;
    bool rollups; //  read clean days from the rollups (KINNET_REPORT_ROLLUPS, on)
} reader_t;

//  reporting_report.c

Kinnet__V1__ReportSection *reporting_section (const char *name, const char *title,
                                              const char *note);

void reporting_add_section (Kinnet__V1__Report *report,
                            Kinnet__V1__ReportSection *section);

//  reporting_query.c

//  Add a query whose tables go to section from slot on. The job is valid until the
//  next one is added.
job_t *reporting_job_add (reader_t *rd, const char *sql, build_fn_t *build,
                          const Kinnet__V1__RunReport *request,
                          Kinnet__V1__ReportSection *section, size_t slot);

void reporting_put (Kinnet__V1__ReportSection *section, size_t slot,
                    Kinnet__V1__ReportTable *table);

//  Add the queries of section's n tables; tables that differ only in their filter
//  share one. 0, or -1 when the request's dimensions do not apply.
int reporting_add_tables (reader_t *rd, const Kinnet__V1__RunReport *request,
                          Kinnet__V1__ReportSection *section, const table_spec_t *specs,
                          size_t n, kn_error_t *err);

//  reporting_rollup_sql.c

//  The WITH clause of a query that reads source's rollup: `clean`, the period's
//  days rolled up with no change since, and `raw`, the rest as [lo, hi) stretches.
const char *reporting_rollup_days (int source);

//  The same for referrals (clean1, raw1) and needs (clean2, raw2) in one clause.
const char *reporting_rollup_days_referrals_needs (void);

//  Into out: raw (the query of the n tables over the raw stretches, columns g1, g2,
//  n0..) and the same counts from the rollup's clean days, added up by (g1, g2), for
//  the dimensions d1 and d2 (d2 unused with fixed columns). 0, or -1 when out is too
//  small.
int reporting_rollup_sql (char *out, size_t size, const char *raw,
                          const table_spec_t *specs, size_t n, int d1, int d2);

//  Whether the n tables can be read from a rollup: each names the same source.
bool reporting_rollup_applies (const table_spec_t *specs, size_t n);

//  reporting_sessions.c

//  The report's moment in SQL: the one clock (kn_clock.h), not the database's now ().
#define REPORT_NOW "to_timestamp (current_setting ('kinnet.clock')::bigint)"

//  Open the report's transaction on dbs[0] and, in the same snapshot, on as many of
//  the others as will: open[] receives the sessions in use. Their count, or -1.
//  now (kn_clock's) is the report's moment: a table's SQL reads it as REPORT_NOW.
int reporting_open (kn_db_t *const *dbs, size_t n_dbs, int64_t now, kn_db_t **open,
                    kn_error_t *err);

//  Run every job's query, each session taking the next as it comes free. 0, or -1
//  with the first failure.
int reporting_run_jobs (reader_t *rd, kn_db_t **sessions, size_t n_sessions,
                        kn_error_t *err);

//  reporting_table.c

//  A cell: value when shown, withheld (and 0) when not.
Kinnet__V1__ReportCell *reporting_cell (bool shown, int64_t value);

//  A label as the reader sees it: an enum dimension's value by its name. Freed by
//  the caller.
char *reporting_display (int dimension, const char *label);

//  One table from a query's rows (row label, column label, counts...): labels,
//  counts from count_column, protection. NULL with err when rows or columns would be
//  more than KN_SDC_MAX_SIDE (invalid_argument, field "by"): a table is whole or
//  refused, never cut short.
Kinnet__V1__ReportTable *reporting_table_build (PGresult *rows, int count_column,
                                                const kn_sdc_config_t *config,
                                                const Kinnet__V1__RunReport *request,
                                                const table_spec_t *spec,
                                                kn_error_t *err);

//  The reports, one file each: add the report's sections and their queries.

int reporting_referrals (reader_t *rd, const Kinnet__V1__RunReport *request,
                         Kinnet__V1__Report *report, kn_error_t *err);
int reporting_declines (reader_t *rd, const Kinnet__V1__RunReport *request,
                        Kinnet__V1__Report *report, kn_error_t *err);
int reporting_timeliness (reader_t *rd, const Kinnet__V1__RunReport *request,
                          Kinnet__V1__Report *report, kn_error_t *err);
int reporting_team (reader_t *rd, const Kinnet__V1__RunReport *request,
                    Kinnet__V1__Report *report, kn_error_t *err);
int reporting_consent (reader_t *rd, const Kinnet__V1__RunReport *request,
                       Kinnet__V1__Report *report, kn_error_t *err);
int reporting_equity (reader_t *rd, const Kinnet__V1__RunReport *request,
                      Kinnet__V1__Report *report, kn_error_t *err);

#endif
