/*  reporting_rollup_sql: a table's query when rollups are on. The period's days
    that are rolled up and clean (no mark: nothing changed since the job recomputed
    them, migration 0044) are read from the rollup, a few rows per day and dimension
    set; the rest of the period (days not rolled up yet, days changed since, days
    whose rows are still coming in) from raw rows, by the table's own raw query over
    those stretches only. Both give (g1, g2, n0..) rows in the same units, which are
    added up. Counts are exact: a day is read one way or the other, never both, and
    both in the report's one snapshot. Only in a UTC session: the rollup's days are
    UTC days, and the period's bounds ($1::date) must be UTC midnights to match. */
#include "reporting_report_int.h"

//  The clean days and the raw stretches, for rollup source 1 (referrals: received_at).
//  A stretch is a run of consecutive days that are not clean (row_number () numbers
//  them; day minus number is the same within a run).
#define ROLLUP_DAYS(source)                                                                 \
    "WITH clean AS MATERIALIZED (SELECT d.day FROM rollup.day d WHERE d.source = " source   \
    "  AND d.day >= $1::date AND d.day < $2::date AND current_setting ('TimeZone') = 'UTC'" \
    "  AND NOT EXISTS (SELECT 1 FROM rollup.dirty m WHERE m.source = d.source"              \
    "   AND m.day = d.day)),"                                                               \
    " raw AS MATERIALIZED (SELECT min (day)::timestamptz AS lo,"                            \
    "  (max (day) + 1)::timestamptz AS hi FROM (SELECT s.day,"                              \
    "   s.day - (row_number () OVER (ORDER BY s.day))::int AS run FROM"                     \
    "   (SELECT generate_series ($1::date, $2::date - 1, interval '1 day')::date AS day) s" \
    "   WHERE NOT EXISTS (SELECT 1 FROM clean c WHERE c.day = s.day)) t GROUP BY run)"

const char *
reporting_rollup_days (base_t base)
{
    (void)base;
    return ROLLUP_DAYS ("1");
}

//  Each dimension over rollup.referral (x, a: the referring agency), and the bit of
//  the dimension set g it needs (month and week come from the day).
static const char *s_referral_sql[] = {
    "''",
    "date_trunc ('month', x.day::timestamp)",
    "date_trunc ('week', x.day::timestamp)",
    "x.district",
    "x.need::text",
    "a.sector",
    "x.urgency::text",
    "a.name",
};
static const int s_referral_bit[] = {0, 0, 0, 1, 8, 2, 4, 2};

int
reporting_rollup_sql (char *out, size_t size, const char *raw, const table_spec_t *specs,
                      size_t n, int d1, int d2)
{
    char sums[1024] = "", totals[1024] = "", any[1024] = "";
    for (size_t i = 0; i < n; i++) {
        size_t s = strlen (sums), t = strlen (totals), a = strlen (any);
        snprintf (sums + s, sizeof sums - s, ", sum (x.%s) AS n%zu", specs[i].rollup, i);
        snprintf (totals + t, sizeof totals - t, ", sum (n%zu)::bigint AS n%zu", i, i);
        snprintf (any + a, sizeof any - a, "%ssum (n%zu) > 0", i ? " OR " : "", i);
    }
    int g = s_referral_bit[d1] | s_referral_bit[d2];
    //  A group the raw query would not have (no row that any table counts) is left
    //  out here too: a row of zeros would be a row label the raw path has not.
    int len =
        snprintf (out, size,
                  "SELECT g1, g2%s FROM (%s UNION ALL SELECT %s AS g1, %s AS g2%s"
                  " FROM rollup.referral x JOIN clean c ON c.day = x.day"
                  " LEFT JOIN core.agency a ON a.id = x.agency_id WHERE x.g = %d"
                  " GROUP BY 1, 2) u GROUP BY 1, 2 HAVING %s",
                  totals, raw, s_referral_sql[d1], s_referral_sql[d2], sums, g, any);
    return len > 0 && (size_t)len < size ? 0 : -1;
}
