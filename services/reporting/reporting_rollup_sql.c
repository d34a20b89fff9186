/*  reporting_rollup_sql: a table's query when rollups are on. The period's days
    that are rolled up and clean (no mark: nothing changed since the job recomputed
    them, migration 0043) are read from the rollup, a few rows per day and dimension
    set; the rest of the period (days not rolled up yet, days changed since, days
    whose rows are still coming in) from raw rows, by the table's own raw query over
    those stretches only. Both give (g1, g2, n0..) rows in the same units, which are
    added up. Counts are exact: a day is read one way or the other, never both, and
    both in the report's one snapshot. Only in a UTC session (kn_db makes every
    session one): the rollup's days are UTC days, and the period's bounds ($1::date)
    must be UTC midnights to match; elsewhere every day is read raw. */
#include "reporting_report_int.h"

#include <assert.h>

//  The clean days and the raw stretches of a source, as CTEs clean<as> and raw<as>.
//  A stretch is a run of consecutive days that are not clean (row_number () numbers
//  them; day minus number is the same within a run).
#define ROLLUP_DAYS_AS(source, as)                                                         \
    " clean" as " AS MATERIALIZED (SELECT d.day FROM rollup.day d WHERE d.source = " source \
    "  AND d.day >= $1::date AND d.day < $2::date"                                         \
    "  AND current_setting ('TimeZone') IN ('UTC', 'Etc/UTC', 'GMT', 'Etc/GMT',"          \
    "   'Universal', 'Etc/Universal', 'Zulu', 'Etc/Zulu', 'UCT', 'Etc/UCT')"                \
    "  AND NOT EXISTS (SELECT 1 FROM rollup.dirty m WHERE m.source = d.source"             \
    "   AND m.day = d.day)),"                                                              \
    " raw" as " AS MATERIALIZED (SELECT min (day)::timestamptz AS lo,"                     \
    "  (max (day) + 1)::timestamptz AS hi FROM (SELECT s.day,"                             \
    "   s.day - (row_number () OVER (ORDER BY s.day))::int AS run FROM"                    \
    "   (SELECT generate_series ($1::date, $2::date - 1, interval '1 day')::date AS day)" \
    "   s WHERE NOT EXISTS (SELECT 1 FROM clean" as " c WHERE c.day = s.day)) t"           \
    "   GROUP BY run)"
#define ROLLUP_DAYS(source) "WITH" ROLLUP_DAYS_AS (source, "")

const char *
reporting_rollup_days (int source)
{
    static const char *days[] = {"",
                                 ROLLUP_DAYS ("1"),
                                 ROLLUP_DAYS ("2"),
                                 ROLLUP_DAYS ("3"),
                                 ROLLUP_DAYS ("4"),
                                 ROLLUP_DAYS ("5"),
                                 ROLLUP_DAYS ("6")};
    assert (source >= 1 && source <= 6);
    return days[source];
}

const char *
reporting_rollup_days_referrals_needs (void)
{
    return "WITH" ROLLUP_DAYS_AS ("1", "1") "," ROLLUP_DAYS_AS ("2", "2");
}

//  A rollup table x: its name and joins, each dimension over it (NULL: not kept)
//  and the bit of the dimension set g it needs; month and week come from the day.
typedef struct {
    const char *from;
    const char *dims[8];
    int bits[8];
    int always; //  bits every row of the rollup has
} rollup_t;

#define MONTH "date_trunc ('month', x.day::timestamp)"
#define WEEK  "date_trunc ('week', x.day::timestamp)"

static const rollup_t s_referral = {
    "rollup.referral x LEFT JOIN core.agency a ON a.id = x.agency_id",
    {"''", MONTH, WEEK, "x.district", "x.need::text", "a.sector", "x.urgency::text",
     "a.name"},
    {0, 0, 0, 1, 8, 2, 4, 2},
    0};
static const rollup_t s_need = {
    "rollup.need x LEFT JOIN core.agency ra ON ra.id = x.agency_id",
    {"''", MONTH, WEEK, "x.district", "x.need::text", "ra.sector", "x.urgency::text",
     "ra.name"},
    {0, 0, 0, 1, 8, 2, 4, 2},
    0};
static const rollup_t s_involvement = {
    "rollup.involvement x LEFT JOIN core.agency ra ON ra.id = x.ref_agency_id"
    " LEFT JOIN core.agency a ON a.id = x.agency_id",
    {"''", MONTH, WEEK, "x.district", "x.need::text", "ra.sector", "x.urgency::text",
     "a.name"},
    {0, 0, 0, 1, 8, 2, 4, 16},
    0};
static const rollup_t s_case = {
    "rollup.case x",
    {"''", MONTH, WEEK, "x.district", NULL, NULL, "x.urgency::text", NULL},
    {0, 0, 0, 1, 0, 0, 4, 0},
    1};

static const rollup_t *
s_rollup_of (int source)
{
    return source == 1   ? &s_referral
           : source == 2 ? &s_need
           : source == 6 ? &s_case
                         : &s_involvement;
}

bool
reporting_rollup_applies (const table_spec_t *specs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (specs[i].source < 1 || specs[i].source > 6 || !specs[i].rollup ||
            specs[i].source != specs[0].source)
            return false;
    const table_spec_t *spec = &specs[0];
    return !spec->row_sql && (spec->base != BASE_CUSTOM || spec->from_raw_sql) &&
           (spec->category_sql == NULL) == (spec->rollup_category == NULL);
}

int
reporting_rollup_sql (char *out, size_t size, const char *raw, const table_spec_t *specs,
                      size_t n, int d1, int d2)
{
    const table_spec_t *spec = &specs[0];
    const rollup_t *rollup = s_rollup_of (spec->source);
    const char *row = rollup->dims[d1];
    const char *column = spec->rollup_category ? spec->rollup_category : rollup->dims[d2];
    if (!row || !column)
        return -1;
    char sums[1024] = "", totals[1024] = "", any[1024] = "";
    for (size_t i = 0; i < n; i++) {
        size_t s = strlen (sums), t = strlen (totals), a = strlen (any);
        snprintf (sums + s, sizeof sums - s, ", %s AS n%zu", specs[i].rollup, i);
        snprintf (totals + t, sizeof totals - t,
                  ", coalesce (sum (n%zu), 0)::bigint AS n%zu", i, i);
        snprintf (any + a, sizeof any - a, "%ssum (n%zu) > 0", i ? " OR " : "", i);
    }
    int g = rollup->always | rollup->bits[d1] |
            (spec->rollup_category ? 0 : rollup->bits[d2]);
    char where[64];
    snprintf (where, sizeof where, "x.g = %d%s", g,
              rollup == &s_involvement ? " AND x.source = " : "");
    if (rollup == &s_involvement)
        snprintf (where + strlen (where), sizeof where - strlen (where), "%d",
                  spec->source);
    //  A group the raw query would not have (no row that any table counts) is left
    //  out here too: a row of zeros would be a row label the raw path has not.
    int len = snprintf (out, size,
                        "SELECT g1, g2%s FROM (%s UNION ALL SELECT %s AS g1, %s AS g2%s"
                        " FROM %s JOIN clean c ON c.day = x.day%s WHERE %s"
                        " GROUP BY 1, 2) u GROUP BY 1, 2 HAVING %s",
                        totals, raw, row, column, sums, rollup->from,
                        spec->rollup_join ? spec->rollup_join : "", where, any);
    return len > 0 && (size_t)len < size ? 0 : -1;
}
