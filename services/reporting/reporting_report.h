/*  reporting_report: the auditors' reports. A report is sections of tables of
    counts, each table broken down by up to two dimensions and protected by
    kn_sdc before anything leaves: no personal data, no small counts, nothing a
    reader could work a small count back from. All tables of one report are read
    in one snapshot, by queries that run side by side on several sessions. The SQL
    is put together only from constant fragments chosen by enum values, never from
    request text. */
#ifndef REPORTING_REPORT_H_INCLUDED
#define REPORTING_REPORT_H_INCLUDED

#include <stdint.h>

#include "kinnet/v1/reporting.pb-c.h"
#include "kn_db.h"
#include "kn_error.h"
#include "kn_sdc.h"

//  Field rules: a known report, real dates from < to within 3 years, at most two
//  distinct dimensions. 0 or -1 with err.
int reporting_report_validate (const Kinnet__V1__RunReport *request, kn_error_t *err);

#define REPORTING_MAX_SESSIONS 8

//  Run a validated report on dbs[0] (a read session; may be a replica). Its queries
//  run side by side on dbs[1..n_dbs-1] too (at most REPORTING_MAX_SESSIONS in all,
//  sessions to the same database), in dbs[0]'s snapshot; a session that cannot join
//  is left out. *out is malloc'd: free it with kinnet__v1__report__free_unpacked.
int reporting_report_run (kn_db_t *const *dbs, size_t n_dbs, const kn_sdc_config_t *config,
                          const Kinnet__V1__RunReport *request, int64_t now,
                          Kinnet__V1__Report **out, kn_error_t *err);

#endif
