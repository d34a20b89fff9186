/*  kn_sdc: the rules one by one, then the real goal checked by an attacker.

    The attacker (s_attack_*) knows nothing of how kn_sdc chooses what to hide. It is
    given what a report shows (every published cell and total, exact: rounding would
    only tell it less), that rows and columns add up, and that every hidden value is a
    whole number of at least 1 (zeros are shown, docs/suppression.md says so). For
    each hidden entry it finds the smallest and largest value consistent with all of
    that, by exhaustive search (interval propagation over the line equations, then
    bisection), and every value it reports comes with a complete table that it checks
    against every equation. Protection means min < max for every hidden entry. The
    attacker is itself tested first: it must see through the suppression patterns
    that the familiar "two per line" rule would let through. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kn_sdc.h"
#include "kn_test.h"

static void
s_fini (void)
{
    kn_test_no_leaks ();
}

TestSuite (sdc, .fini = s_fini);

//  -------------------------------------------------------------------------
//  The attacker. A grid is the table with its totals: (rows+1) x (cols+1), row
//  totals in the last column, column totals in the last row.

#define S_MAX_GRID 64 //  entries: up to a 6x6 table (7x7 grid), or 4x4 by hand
#define S_MAX_EQ   16

typedef struct {
    size_t rows, cols; //  of the grid
    int64_t truth[S_MAX_GRID];
    bool hidden[S_MAX_GRID];
    int vars; //  hidden entries, numbered in grid order
    int var_at[S_MAX_GRID];
    int eqs; //  one per grid line: sum of its entries but the last = the last
    int eq_len[S_MAX_EQ];
    int eq_var[S_MAX_EQ][S_MAX_GRID];
    int eq_coef[S_MAX_EQ][S_MAX_GRID];
    int64_t eq_rhs[S_MAX_EQ];
    int64_t cap; //  search bound; see s_attack_interval
    long nodes;  //  search effort, for the log
} s_attack_t;

static void
s_attack_line (s_attack_t *a, const int *var_of, size_t start, size_t stride,
               size_t length)
{
    int eq = a->eqs++;
    for (size_t k = 0; k < length; k++) {
        size_t at = start + k * stride;
        int coef = k + 1 < length ? 1 : -1;
        if (var_of[at] >= 0) {
            a->eq_var[eq][a->eq_len[eq]] = var_of[at];
            a->eq_coef[eq][a->eq_len[eq]++] = coef;
        } else
            a->eq_rhs[eq] -= coef * a->truth[at];
    }
}

static void
s_attack_init (s_attack_t *a, size_t rows, size_t cols, const int64_t *truth,
               const bool *hidden)
{
    memset (a, 0, sizeof *a);
    cr_assert (rows * cols <= S_MAX_GRID && rows + cols <= S_MAX_EQ);
    a->rows = rows;
    a->cols = cols;
    int var_of[S_MAX_GRID];
    for (size_t at = 0; at < rows * cols; at++) {
        a->truth[at] = truth[at];
        a->hidden[at] = hidden[at];
        var_of[at] = -1;
        if (hidden[at]) {
            var_of[at] = a->vars;
            a->var_at[a->vars++] = (int)at;
        }
    }
    for (size_t r = 0; r < rows; r++)
        s_attack_line (a, var_of, r * cols, 1, cols);
    for (size_t c = 0; c < cols; c++)
        s_attack_line (a, var_of, c, cols, rows);
    //  Moving a hidden value by one along a closed loop never takes any value above
    //  the grand total + 1, so a bound there loses no answer; every answer found is
    //  a full solution, so the bound can never make a disclosure look safe.
    a->cap = truth[rows * cols - 1] + 1;
}

//  Tighten lo/hi until nothing changes; false when some line cannot add up.
static bool
s_attack_propagate (const s_attack_t *a, int64_t *lo, int64_t *hi)
{
    for (bool changed = true; changed;) {
        changed = false;
        for (int e = 0; e < a->eqs; e++) {
            int64_t min = 0, max = 0;
            for (int k = 0; k < a->eq_len[e]; k++) {
                int v = a->eq_var[e][k];
                min += a->eq_coef[e][k] > 0 ? lo[v] : -hi[v];
                max += a->eq_coef[e][k] > 0 ? hi[v] : -lo[v];
            }
            int64_t rhs = a->eq_rhs[e];
            if (rhs < min || rhs > max)
                return false;
            for (int k = 0; k < a->eq_len[e]; k++) {
                int v = a->eq_var[e][k];
                int coef = a->eq_coef[e][k];
                int64_t others_min = min - (coef > 0 ? lo[v] : -hi[v]);
                int64_t others_max = max - (coef > 0 ? hi[v] : -lo[v]);
                //  coef * x = rhs - others
                int64_t new_lo = coef > 0 ? rhs - others_max : others_min - rhs;
                int64_t new_hi = coef > 0 ? rhs - others_min : others_max - rhs;
                if (new_lo > lo[v]) {
                    lo[v] = new_lo;
                    changed = true;
                }
                if (new_hi < hi[v]) {
                    hi[v] = new_hi;
                    changed = true;
                }
                if (lo[v] > hi[v])
                    return false;
            }
        }
    }
    return true;
}

//  A complete solution within lo..hi into solution, or false. Splits the focus
//  variable first (upper half first when high), so optimising it converges fast.
static bool
s_attack_solve (s_attack_t *a, const int64_t *lo_in, const int64_t *hi_in,
                int64_t *solution, int focus, bool high)
{
    a->nodes++;
    int64_t lo[S_MAX_GRID], hi[S_MAX_GRID];
    memcpy (lo, lo_in, sizeof lo);
    memcpy (hi, hi_in, sizeof hi);
    if (!s_attack_propagate (a, lo, hi))
        return false;
    int split = -1;
    if (lo[focus] < hi[focus])
        split = focus;
    else
        for (int v = 0; v < a->vars; v++)
            if (lo[v] < hi[v] && (split < 0 || hi[v] - lo[v] < hi[split] - lo[split]))
                split = v;
    if (split < 0) {
        //  Everything fixed: check the table really adds up before believing it.
        for (int e = 0; e < a->eqs; e++) {
            int64_t sum = 0;
            for (int k = 0; k < a->eq_len[e]; k++)
                sum += a->eq_coef[e][k] * lo[a->eq_var[e][k]];
            cr_assert_eq (sum, a->eq_rhs[e], "attacker produced a non-solution");
        }
        for (int v = 0; v < a->vars; v++)
            cr_assert_geq (lo[v], 1);
        memcpy (solution, lo, sizeof lo);
        return true;
    }
    int64_t mid = lo[split] + (hi[split] - lo[split]) / 2;
    int64_t saved_lo = lo[split], saved_hi = hi[split];
    for (int half = 0; half < 2; half++) {
        bool upper = (half == 0) == high;
        lo[split] = upper ? mid + 1 : saved_lo;
        hi[split] = upper ? saved_hi : mid;
        if (s_attack_solve (a, lo, hi, solution, focus, high))
            return true;
    }
    return false;
}

//  The exact range of hidden variable v given what is published. *unbounded when
//  it reaches the search bound (only possible when the grand total is hidden).
static void
s_attack_interval (s_attack_t *a, int v, int64_t *min, int64_t *max, bool *unbounded)
{
    int64_t truth = a->truth[a->var_at[v]];
    int64_t lo[S_MAX_GRID], hi[S_MAX_GRID], solution[S_MAX_GRID];
    for (int k = 0; k < S_MAX_GRID; k++) {
        lo[k] = 1;
        hi[k] = a->cap;
    }
    *min = truth;
    while (*min > 1) {
        hi[v] = *min - 1;
        if (!s_attack_solve (a, lo, hi, solution, v, false))
            break;
        *min = solution[v];
    }
    hi[v] = a->cap;
    *max = truth;
    while (*max < a->cap) {
        lo[v] = *max + 1;
        if (!s_attack_solve (a, lo, hi, solution, v, true))
            break;
        *max = solution[v];
    }
    *unbounded = *max >= a->cap;
}

//  Number of hidden entries whose value the attacker pins down exactly.
static int
s_attack_disclosed (s_attack_t *a)
{
    int disclosed = 0;
    for (int v = 0; v < a->vars; v++) {
        int64_t min, max;
        bool unbounded;
        s_attack_interval (a, v, &min, &max, &unbounded);
        cr_assert (min <= a->truth[a->var_at[v]] && a->truth[a->var_at[v]] <= max);
        disclosed += min == max;
    }
    return disclosed;
}

//  -------------------------------------------------------------------------
//  Helpers over kn_sdc

static kn_sdc_table_t *
s_table (size_t rows, size_t cols, const int64_t *counts, const kn_sdc_config_t *config)
{
    kn_sdc_table_t *table = kn_sdc_table_new (rows, cols);
    cr_assert_not_null (table);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            kn_sdc_table_set (table, r, c, counts[r * cols + c]);
    kn_error_t err;
    cr_assert_eq (kn_sdc_table_protect (table, config, &err), 0, "%s", err.message);
    return table;
}

//  Grid index -> the kn_sdc address of that entry.
static size_t
s_row (const kn_sdc_table_t *table, size_t r)
{
    return r == kn_sdc_table_rows (table) ? KN_SDC_TOTAL : r;
}

static size_t
s_col (const kn_sdc_table_t *table, size_t c)
{
    return c == kn_sdc_table_cols (table) ? KN_SDC_TOTAL : c;
}

//  The true grid of counts and totals.
static void
s_grid (size_t rows, size_t cols, const int64_t *counts, int64_t *grid)
{
    size_t width = cols + 1;
    memset (grid, 0, (rows + 1) * width * sizeof *grid);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            int64_t n = counts[r * cols + c];
            grid[r * width + c] = n;
            grid[r * width + cols] += n;
            grid[rows * width + c] += n;
            grid[rows * width + cols] += n;
        }
}

static void
s_hidden_mask (const kn_sdc_table_t *table, bool *hidden)
{
    size_t rows = kn_sdc_table_rows (table), cols = kn_sdc_table_cols (table);
    for (size_t r = 0; r <= rows; r++)
        for (size_t c = 0; c <= cols; c++)
            hidden[r * (cols + 1) + c] =
                !kn_sdc_cell (table, s_row (table, r), s_col (table, c), NULL);
}

static const char *
s_text (const kn_sdc_table_t *table, size_t row, size_t col)
{
    static char buffer[32];
    return kn_sdc_cell_text (table, row, col, buffer, sizeof buffer);
}

//  -------------------------------------------------------------------------
//  The attacker, tested: it must find what it should.

Test (sdc, attacker_sees_through_weak_patterns)
{
    //  A single hidden cell in a row: its row total gives it away.
    {
        int64_t counts[] = {3, 10, 12, 8};
        int64_t grid[9];
        s_grid (2, 2, counts, grid);
        bool hidden[9] = {true};
        s_attack_t a;
        s_attack_init (&a, 3, 3, grid, hidden);
        cr_expect_eq (s_attack_disclosed (&a), 1);
    }
    //  Four 1s in a rectangle: two per row and column, yet a row's hidden pair sums
    //  to 2 and neither can be 0, so both are 1.
    {
        int64_t counts[] = {1, 1, 9, 1, 1, 9, 9, 9, 9};
        int64_t grid[16];
        s_grid (3, 3, counts, grid);
        bool hidden[16] = {0};
        hidden[0] = hidden[1] = hidden[4] = hidden[5] = true;
        s_attack_t a;
        s_attack_init (&a, 4, 4, grid, hidden);
        cr_expect_eq (s_attack_disclosed (&a), 4);
    }
    //  The same rectangle of larger counts is safe: a loop can move each by one.
    {
        int64_t counts[] = {2, 3, 9, 4, 2, 9, 9, 9, 9};
        int64_t grid[16];
        s_grid (3, 3, counts, grid);
        bool hidden[16] = {0};
        hidden[0] = hidden[1] = hidden[4] = hidden[5] = true;
        s_attack_t a;
        s_attack_init (&a, 4, 4, grid, hidden);
        cr_expect_eq (s_attack_disclosed (&a), 0);
    }
    //  Two hidden rectangles joined by one hidden cell (0,2): every line holds two or
    //  three hidden cells, but rows 0-1 minus columns 0-1 leaves exactly (0,2).
    {
        int64_t counts[] = {6, 7, 8, 9, 7, 6, 9, 8, 9, 8, 6, 7, 8, 9, 7, 6};
        int64_t grid[25];
        s_grid (4, 4, counts, grid);
        bool hidden[25] = {0};
        int cells[][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 2},
                          {2, 3}, {3, 2}, {3, 3}, {0, 2}};
        for (size_t k = 0; k < 9; k++)
            hidden[cells[k][0] * 5 + cells[k][1]] = true;
        s_attack_t a;
        s_attack_init (&a, 5, 5, grid, hidden);
        cr_expect_eq (s_attack_disclosed (&a), 1);
    }
}

//  -------------------------------------------------------------------------
//  The rules

Test (sdc, default_config)
{
    kn_sdc_config_t config = kn_sdc_config_default ();
    cr_expect_eq (config.threshold, 5);
    cr_expect_not (config.round_to_5);
}

Test (sdc, config_from_env)
{
    kn_sdc_config_t config;
    kn_error_t err;
    unsetenv ("KINNET_SDC_THRESHOLD");
    unsetenv ("KINNET_SDC_ROUND");
    cr_assert_eq (kn_sdc_config_from_env (&config, &err), 0);
    cr_expect_eq (config.threshold, 5);
    cr_expect_not (config.round_to_5);

    setenv ("KINNET_SDC_THRESHOLD", "10", 1);
    setenv ("KINNET_SDC_ROUND", "on", 1);
    cr_assert_eq (kn_sdc_config_from_env (&config, &err), 0);
    cr_expect_eq (config.threshold, 10);
    cr_expect (config.round_to_5);

    //  A typo must not quietly weaken a report.
    const char *bad_thresholds[] = {"10x", "1", "0", "-5", "10001", " 7"};
    for (size_t k = 0; k < sizeof bad_thresholds / sizeof *bad_thresholds; k++) {
        setenv ("KINNET_SDC_THRESHOLD", bad_thresholds[k], 1);
        cr_expect_eq (kn_sdc_config_from_env (&config, &err), -1, "%s",
                      bad_thresholds[k]);
        cr_expect_str_eq (err.field, "KINNET_SDC_THRESHOLD");
    }
    setenv ("KINNET_SDC_THRESHOLD", "5", 1);
    setenv ("KINNET_SDC_ROUND", "maybe", 1);
    cr_expect_eq (kn_sdc_config_from_env (&config, &err), -1);
    cr_expect_str_eq (err.field, "KINNET_SDC_ROUND");
    unsetenv ("KINNET_SDC_THRESHOLD");
    unsetenv ("KINNET_SDC_ROUND");
}

Test (sdc, default_threshold_hides_1_to_4)
{
    kn_sdc_config_t config = kn_sdc_config_default ();
    //  0..9 along one row, then a row of large counts.
    int64_t counts[20];
    for (int c = 0; c < 10; c++) {
        counts[c] = c;
        counts[10 + c] = 50;
    }
    kn_sdc_table_t *table = s_table (2, 10, counts, &config);
    for (size_t c = 0; c < 10; c++) {
        kn_sdc_reason_t reason = kn_sdc_cell_reason (table, 0, c);
        if (c >= 1 && c <= 4)
            cr_expect_eq (reason, KN_SDC_PRIMARY, "count %zu", c);
        else
            cr_expect_neq (reason, KN_SDC_PRIMARY, "count %zu", c);
    }
    int64_t value = -1;
    cr_expect (kn_sdc_cell (table, 0, 0, &value), "zero is a true zero");
    cr_expect_eq (value, 0);
    kn_sdc_table_destroy (&table);
    cr_expect_null (table);

    //  Only zeros and counts of at least 5: nothing is hidden, 5 is shown as 5.
    int64_t plain[] = {0, 5, 12, 5, 0, 7};
    table = s_table (2, 3, plain, &config);
    cr_expect_eq (kn_sdc_table_hidden (table), 0);
    cr_expect (kn_sdc_cell (table, 0, 1, &value));
    cr_expect_eq (value, 5);
    cr_expect (kn_sdc_cell (table, 1, 1, &value));
    cr_expect_eq (value, 0);
    cr_expect (kn_sdc_row_total (table, 0, &value));
    cr_expect_eq (value, 17);
    cr_expect (kn_sdc_col_total (table, 2, &value));
    cr_expect_eq (value, 19);
    cr_expect (kn_sdc_grand_total (table, &value));
    cr_expect_eq (value, 29);
    kn_sdc_table_destroy (&table);
}

Test (sdc, small_totals_are_hidden_too)
{
    //  A row of 0, 0, 3 has a total of 3: as telling as the cell.
    kn_sdc_config_t config = kn_sdc_config_default ();
    int64_t counts[] = {0, 0, 3, 20, 30, 40, 25, 35, 45};
    kn_sdc_table_t *table = s_table (3, 3, counts, &config);
    cr_expect_eq (kn_sdc_cell_reason (table, 0, 2), KN_SDC_PRIMARY);
    cr_expect_eq (kn_sdc_cell_reason (table, 0, KN_SDC_TOTAL), KN_SDC_PRIMARY);
    cr_expect (kn_sdc_cell (table, 0, 0, NULL), "zeros stay published");
    cr_expect (kn_sdc_cell (table, 0, 1, NULL));
    kn_sdc_table_destroy (&table);
}

Test (sdc, custom_threshold)
{
    kn_sdc_config_t config = {.threshold = 10, .round_to_5 = false};
    int64_t counts[] = {9, 10, 30, 40, 50, 60};
    kn_sdc_table_t *table = s_table (2, 3, counts, &config);
    cr_expect_eq (kn_sdc_cell_reason (table, 0, 0), KN_SDC_PRIMARY);
    cr_expect_neq (kn_sdc_cell_reason (table, 0, 1), KN_SDC_PRIMARY);
    kn_sdc_table_destroy (&table);

    config.threshold = 3;
    int64_t low[] = {2, 3, 30, 40, 50, 60};
    table = s_table (2, 3, low, &config);
    cr_expect_eq (kn_sdc_cell_reason (table, 0, 0), KN_SDC_PRIMARY);
    cr_expect_neq (kn_sdc_cell_reason (table, 0, 1), KN_SDC_PRIMARY);
    kn_sdc_table_destroy (&table);

    //  Below 2 would publish counts of 1: refused, and nothing is publishable.
    config.threshold = 1;
    table = kn_sdc_table_new (1, 1);
    kn_sdc_table_set (table, 0, 0, 1);
    kn_error_t err;
    cr_expect_eq (kn_sdc_table_protect (table, &config, &err), -1);
    cr_expect_eq (err.code, KN_E_INVALID_ARGUMENT);
    cr_expect_not (kn_sdc_cell (table, 0, 0, NULL));
    kn_sdc_table_destroy (&table);
}

Test (sdc, bad_counts_are_refused)
{
    kn_sdc_config_t config = kn_sdc_config_default ();
    kn_sdc_table_t *table = kn_sdc_table_new (2, 2);
    kn_error_t err;
    kn_sdc_table_set (table, 1, 1, -1);
    cr_expect_eq (kn_sdc_table_protect (table, &config, &err), -1);
    cr_expect_str_eq (err.field, "count");
    kn_sdc_table_set (table, 1, 1, KN_SDC_MAX_COUNT + 1);
    cr_expect_eq (kn_sdc_table_protect (table, &config, &err), -1);
    cr_expect_not (kn_sdc_grand_total (table, NULL));
    cr_expect_eq (kn_sdc_cell_reason (table, 0, 0), KN_SDC_UNPROTECTED);
    kn_sdc_table_set (table, 1, 1, KN_SDC_MAX_COUNT);
    cr_expect_eq (kn_sdc_table_protect (table, &config, &err), 0);
    kn_sdc_table_destroy (&table);
}

Test (sdc, secondary_suppression_example)
{
    //  The worked example of docs/suppression.md.
    kn_sdc_config_t config = kn_sdc_config_default ();
    int64_t counts[] = {3, 12, 20, 15, 9, 22, 18, 25, 7};
    kn_sdc_table_t *table = s_table (3, 3, counts, &config);
    cr_expect_eq (kn_sdc_cell_reason (table, 0, 0), KN_SDC_PRIMARY);
    cr_expect_eq (kn_sdc_cell_reason (table, 0, 1), KN_SDC_SECONDARY);
    cr_expect_eq (kn_sdc_cell_reason (table, 1, 0), KN_SDC_SECONDARY);
    cr_expect_eq (kn_sdc_cell_reason (table, 1, 1), KN_SDC_SECONDARY);
    cr_expect_eq (kn_sdc_table_hidden (table), 4);
    cr_expect_str_eq (s_text (table, 0, 0), KN_SDC_MARKER);
    cr_expect_str_eq (s_text (table, 0, 2), "20");
    cr_expect_str_eq (s_text (table, KN_SDC_TOTAL, KN_SDC_TOTAL), "131");
    kn_sdc_table_destroy (&table);
}

//  Protect, then let the attacker try; returns the hidden count.
static size_t
s_expect_safe (size_t rows, size_t cols, const int64_t *counts,
               const kn_sdc_config_t *config)
{
    kn_sdc_table_t *table = s_table (rows, cols, counts, config);
    int64_t grid[S_MAX_GRID];
    bool hidden[S_MAX_GRID];
    s_grid (rows, cols, counts, grid);
    s_hidden_mask (table, hidden);
    s_attack_t a;
    s_attack_init (&a, rows + 1, cols + 1, grid, hidden);
    cr_expect_eq (s_attack_disclosed (&a), 0);
    size_t count = kn_sdc_table_hidden (table);
    kn_sdc_table_destroy (&table);
    return count;
}

Test (sdc, patterns_the_line_rule_misses)
{
    kn_sdc_config_t config = kn_sdc_config_default ();
    //  The rectangle of 1s: the line rule alone would stop at these four.
    int64_t ones[] = {1, 1, 9, 1, 1, 9, 9, 9, 9};
    cr_expect_gt (s_expect_safe (3, 3, ones, &config), 4);
    //  Two rectangles of small counts joined by a third small count.
    int64_t joined[] = {2, 3, 4, 30, 3, 2, 40, 50, 60, 70, 2, 3, 80, 90, 3, 2};
    s_expect_safe (4, 4, joined, &config);
    //  A pair summing to 2 in one row of a wider table.
    int64_t pair[] = {1, 1, 20, 30, 40, 50, 60, 70, 80, 90, 15, 25};
    s_expect_safe (3, 4, pair, &config);
}

Test (sdc, rounding)
{
    kn_sdc_config_t exact = kn_sdc_config_default ();
    kn_sdc_config_t rounded = {.threshold = 5, .round_to_5 = true};
    int64_t counts[] = {6, 6, 6, 8, 12, 0, 3, 22, 17};
    kn_sdc_table_t *a = s_table (3, 3, counts, &exact);
    kn_sdc_table_t *b = s_table (3, 3, counts, &rounded);
    //  Suppression comes first and does not depend on rounding.
    cr_expect_gt (kn_sdc_table_hidden (a), 0);
    for (size_t r = 0; r <= 3; r++)
        for (size_t c = 0; c <= 3; c++)
            cr_expect_eq (kn_sdc_cell_reason (a, s_row (a, r), s_col (a, c)),
                          kn_sdc_cell_reason (b, s_row (b, r), s_col (b, c)));
    kn_sdc_table_destroy (&a);
    kn_sdc_table_destroy (&b);

    int64_t plain[] = {6, 6, 6, 8, 12, 0, 17, 22, 9};
    a = s_table (3, 3, plain, &exact);
    b = s_table (3, 3, plain, &rounded);
    cr_expect_eq (kn_sdc_table_hidden (b), 0);
    int64_t value;
    cr_expect (kn_sdc_cell (b, 0, 0, &value));
    cr_expect_eq (value, 5); //  6
    cr_expect (kn_sdc_cell (b, 1, 0, &value));
    cr_expect_eq (value, 10); //  8
    cr_expect (kn_sdc_cell (b, 1, 1, &value));
    cr_expect_eq (value, 10); //  12
    cr_expect (kn_sdc_cell (b, 1, 2, &value));
    cr_expect_eq (value, 0); //  0 stays 0
    //  Totals are rounded from the true total, not summed from rounded cells:
    //  row 0 is 6+6+6 = 18, shown 20, while its shown cells add to 15.
    cr_expect (kn_sdc_row_total (b, 0, &value));
    cr_expect_eq (value, 20);
    cr_expect (kn_sdc_col_total (b, 0, &value));
    cr_expect_eq (value, 30); //  31
    cr_expect (kn_sdc_grand_total (b, &value));
    cr_expect_eq (value, 85); //  86
    cr_expect (kn_sdc_col_total (a, 0, &value));
    cr_expect_eq (value, 31);                  //  the same table unrounded
    cr_expect_str_eq (s_text (b, 2, 1), "20"); //  22
    kn_sdc_table_destroy (&a);
    kn_sdc_table_destroy (&b);

    //  A shown count never rounds to 0: 0 always means nobody.
    kn_sdc_config_t low = {.threshold = 2, .round_to_5 = true};
    int64_t twos[] = {2, 7};
    a = s_table (1, 2, twos, &low);
    cr_expect (kn_sdc_cell (a, 0, 0, &value));
    cr_expect_eq (value, 5);
    kn_sdc_table_destroy (&a);
}

Test (sdc, statistics)
{
    kn_sdc_config_t config = kn_sdc_config_default ();
    cr_expect_not (kn_sdc_statistic_allowed (&config, 0));
    cr_expect_not (kn_sdc_statistic_allowed (&config, 4));
    cr_expect (kn_sdc_statistic_allowed (&config, 5));
    cr_expect (kn_sdc_statistic_allowed (&config, 500));
    config.threshold = 10;
    cr_expect_not (kn_sdc_statistic_allowed (&config, 9));

    config = kn_sdc_config_default ();
    int64_t counts[] = {3, 12, 20, 15, 9, 22, 18, 25, 0};
    kn_sdc_table_t *table = s_table (3, 3, counts, &config);
    cr_expect_not (kn_sdc_cell_statistic_allowed (table, 0, 0)); //  primary
    cr_expect_eq (kn_sdc_cell_reason (table, 0, 1), KN_SDC_SECONDARY);
    cr_expect_not (kn_sdc_cell_statistic_allowed (table, 0, 1), "12, but hidden");
    cr_expect (kn_sdc_cell_statistic_allowed (table, 0, 2));
    cr_expect_not (kn_sdc_cell_statistic_allowed (table, 2, 2), "nobody");
    cr_expect (kn_sdc_cell_statistic_allowed (table, KN_SDC_TOTAL, KN_SDC_TOTAL));
    kn_sdc_table_destroy (&table);
}

Test (sdc, footer)
{
    char line[KN_SDC_METHOD_SIZE];
    kn_sdc_config_t config = kn_sdc_config_default ();
    cr_expect_str_eq (kn_sdc_method (&config, line, sizeof line),
                      "Disclosure control (Kinnet SDC v1): Counts 1-4, and any count "
                      "or total that would reveal one, are shown as [c]; zeros are "
                      "shown; other counts are exact; medians and rates only over "
                      "groups of 5 or more. Method: docs/suppression.md.");
    config.threshold = 10;
    config.round_to_5 = true;
    kn_sdc_method (&config, line, sizeof line);
    cr_expect (strstr (line, "Counts 1-9,"));
    cr_expect (strstr (line, "rounded independently to the nearest 5"));
    cr_expect (strstr (line, "groups of 10 or more"));
    config.threshold = 2;
    kn_sdc_method (&config, line, sizeof line);
    cr_expect (strstr (line, "Counts of 1,"));
    cr_expect_lt (strlen (line), KN_SDC_METHOD_SIZE - 1);
}

Test (sdc, degenerate_tables)
{
    kn_sdc_config_t config = kn_sdc_config_default ();
    cr_expect_null (kn_sdc_table_new (0, 3));
    cr_expect_null (kn_sdc_table_new (3, 0));
    cr_expect_null (kn_sdc_table_new (KN_SDC_MAX_SIDE + 1, 1));
    kn_sdc_table_destroy (NULL);

    //  Not protected yet, or changed since: nothing may be published.
    kn_sdc_table_t *table = kn_sdc_table_new (2, 2);
    kn_sdc_table_set (table, 0, 0, 50);
    cr_expect_not (kn_sdc_cell (table, 0, 0, NULL));
    cr_expect_str_eq (s_text (table, 0, 0), KN_SDC_MARKER);
    kn_error_t err;
    cr_assert_eq (kn_sdc_table_protect (table, &config, &err), 0);
    cr_expect (kn_sdc_cell (table, 0, 0, NULL));
    kn_sdc_table_set (table, 0, 1, 50);
    cr_expect_eq (kn_sdc_cell_reason (table, 0, 0), KN_SDC_UNPROTECTED);
    kn_sdc_table_destroy (&table);

    //  1x1: a small count hides everything (every total equals it).
    int64_t three[] = {3};
    table = s_table (1, 1, three, &config);
    cr_expect_eq (kn_sdc_table_hidden (table), 4);
    kn_sdc_table_destroy (&table);
    int64_t seven[] = {7};
    table = s_table (1, 1, seven, &config);
    cr_expect_eq (kn_sdc_table_hidden (table), 0);
    kn_sdc_table_destroy (&table);

    //  All zero: all shown.
    int64_t zeros[16] = {0};
    table = s_table (4, 4, zeros, &config);
    cr_expect_eq (kn_sdc_table_hidden (table), 0);
    cr_expect_str_eq (s_text (table, KN_SDC_TOTAL, KN_SDC_TOTAL), "0");
    kn_sdc_table_destroy (&table);

    //  All small: every cell hidden; the attacker still cannot pin any down.
    int64_t small[] = {1, 2, 3, 4, 1, 2};
    cr_expect_geq (s_expect_safe (2, 3, small, &config), 6);

    //  One column (a list plus its total): a second count is hidden with the small
    //  one, the total stays, and each row total mirrors its cell.
    int64_t list[] = {1, 20, 30, 0};
    table = s_table (4, 1, list, &config);
    cr_expect_eq (kn_sdc_cell_reason (table, 0, 0), KN_SDC_PRIMARY);
    cr_expect_eq (kn_sdc_cell_reason (table, 1, 0), KN_SDC_SECONDARY);
    cr_expect (kn_sdc_cell (table, 2, 0, NULL));
    cr_expect (kn_sdc_cell (table, 3, 0, NULL));
    cr_expect_str_eq (s_text (table, KN_SDC_TOTAL, 0), "51");
    for (size_t r = 0; r < 4; r++)
        cr_expect_eq (kn_sdc_cell (table, r, 0, NULL), kn_sdc_row_total (table, r, NULL));
    kn_sdc_table_destroy (&table);
    s_expect_safe (4, 1, list, &config);

    //  One row.
    int64_t row[] = {0, 4, 9, 11, 2};
    s_expect_safe (1, 5, row, &config);
}

//  -------------------------------------------------------------------------
//  The real goal, over many random tables

static uint64_t
s_next (uint64_t *state)
{
    //  splitmix64: small, fixed, and the same everywhere, so failures replay.
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static int64_t
s_between (uint64_t *state, int64_t low, int64_t high)
{
    return low + (int64_t)(s_next (state) % (uint64_t)(high - low + 1));
}

//  One random table of a profile; sets rows, cols and counts.
static void
s_random_table (uint64_t *state, int profile, size_t *rows, size_t *cols, int64_t *counts)
{
    *rows = (size_t)s_between (state, 1, 6);
    *cols = (size_t)s_between (state, 1, 6);
    if (profile == 3)
        *rows = 1;
    if (profile == 4)
        *cols = 1;
    for (size_t k = 0; k < *rows * *cols; k++) {
        int64_t n = 0;
        switch (profile) {
        case 0: //  sparse: half zeros, the rest mostly small
            n = s_between (state, 0, 1) ? s_between (state, 1, 7) : 0;
            break;
        case 1: //  all small
            n = s_between (state, 1, 4);
            break;
        case 2: //  all zero
            n = 0;
            break;
        case 3: //  one row
        case 4: //  one column
            n = s_between (state, 0, 12);
            break;
        case 5: //  mixed, a third small
            n = s_between (state, 0, 2) ? s_between (state, 5, 30)
                                        : s_between (state, 0, 4);
            break;
        case 6: //  mostly large, the odd small one
            n = s_between (state, 0, 9) ? s_between (state, 5, 60)
                                        : s_between (state, 1, 4);
            break;
        default: //  0, 1 and 2 only: the hardest for "a hidden value is at least 1"
            n = s_between (state, 0, 2);
            break;
        }
        counts[k] = n;
    }
}

Test (sdc, no_hidden_count_can_be_recovered)
{
    uint64_t state = 20240611;
    const int tables = 2400;
    long audited = 0, hidden_primary = 0, unbounded = 0, published = 0, nodes = 0;
    int64_t narrowest = INT64_MAX;
    for (int n = 0; n < tables; n++) {
        int profile = n % 8;
        size_t rows, cols;
        int64_t counts[36];
        s_random_table (&state, profile, &rows, &cols, counts);
        kn_sdc_config_t config = kn_sdc_config_default ();
        if (n % 5 == 3)
            config.threshold = 3;
        else if (n % 5 == 4)
            config.threshold = 10;
        kn_sdc_table_t *table = s_table (rows, cols, counts, &config);

        int64_t grid[S_MAX_GRID];
        bool hidden[S_MAX_GRID];
        s_grid (rows, cols, counts, grid);
        s_hidden_mask (table, hidden);
        size_t width = cols + 1;
        for (size_t r = 0; r <= rows; r++) {
            size_t in_row = 0;
            for (size_t c = 0; c <= cols; c++) {
                size_t at = r * width + c;
                int64_t truth = grid[at];
                kn_sdc_reason_t reason =
                    kn_sdc_cell_reason (table, s_row (table, r), s_col (table, c));
                //  The primary rule, zeros, and published values told as they are.
                bool small = truth >= 1 && truth < config.threshold;
                cr_assert_eq (reason == KN_SDC_PRIMARY, small, "table %d (%zu,%zu)", n, r,
                              c);
                if (truth == 0)
                    cr_assert_eq (reason, KN_SDC_PUBLISHED, "table %d: a zero hidden", n);
                int64_t value;
                if (kn_sdc_cell (table, s_row (table, r), s_col (table, c), &value)) {
                    cr_assert_eq (value, truth);
                    published++;
                }
                in_row += hidden[at];
            }
            cr_assert_neq (in_row, 1, "table %d: row %zu has one hidden entry", n, r);
        }
        for (size_t c = 0; c <= cols; c++) {
            size_t in_col = 0;
            for (size_t r = 0; r <= rows; r++)
                in_col += hidden[r * width + c];
            cr_assert_neq (in_col, 1, "table %d: column %zu has one hidden entry", n, c);
        }

        //  The attacker, on every hidden entry.
        s_attack_t a;
        s_attack_init (&a, rows + 1, cols + 1, grid, hidden);
        for (int v = 0; v < a.vars; v++) {
            int64_t min, max;
            bool open;
            s_attack_interval (&a, v, &min, &max, &open);
            int at = a.var_at[v];
            int64_t truth = grid[at];
            cr_assert_lt (min, max,
                          "table %d (profile %d, %zux%zu, threshold %d): entry (%d,%d) "
                          "= %" PRId64 " is recoverable",
                          n, profile, rows, cols, config.threshold, at / (int)width,
                          at % (int)width, truth);
            if (truth < config.threshold) {
                //  A small count could also have been something else.
                cr_assert (min < truth || max > truth);
                hidden_primary++;
                if (!open && max - min < narrowest)
                    narrowest = max - min;
            }
            unbounded += open;
            audited++;
        }
        nodes += a.nodes;
        kn_sdc_table_destroy (&table);
    }
    cr_log_info (
        "%d tables: %ld entries published, %ld hidden entries audited (%ld small, "
        "%ld unbounded above); narrowest range of a small count %" PRId64
        "; %ld search nodes",
        tables, published, audited, hidden_primary, unbounded, narrowest, nodes);
    cr_expect_gt (hidden_primary, 1000, "the tables must exercise suppression");
}
