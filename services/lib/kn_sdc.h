/*  kn_sdc: statistical disclosure control for every aggregate Kinnet publishes.
    A report fills a table of counts (one or two dimensions), protects it, and then
    prints only what the table says may be published: small counts (1 up to the
    threshold) and every cell that would let a reader work one of them out again are
    replaced by KN_SDC_MARKER. Zero is a true zero and is always shown.

    The one idea: the reader knows the row, column and grand totals that are shown,
    that rows and columns add up, and that a hidden count is at least 1 (zeros are
    shown). Protection holds when, under exactly that knowledge, every hidden count
    could still have at least two values. protect () guarantees this by construction
    (docs/suppression.md explains the method for auditors; tests/unit/test_sdc.c
    checks it by exact search over thousands of tables).

    Totals are addressed with KN_SDC_TOTAL as the row or column index:
    (row, KN_SDC_TOTAL) is a row total, (KN_SDC_TOTAL, col) a column total,
    (KN_SDC_TOTAL, KN_SDC_TOTAL) the grand total. A one-dimensional table is a table
    with one column: its row totals equal its cells and need not be printed. */
#ifndef KN_SDC_H_INCLUDED
#define KN_SDC_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kn_error.h"

//  Printed in place of every hidden count and total, whatever the reason. One marker
//  for both reasons, so a reader cannot tell a small count from a protecting one.
//  "[c]" ("confidential") is the symbol the UK Government Statistical Service uses.
#define KN_SDC_MARKER "[c]"

//  Row or column index that addresses a total.
#define KN_SDC_TOTAL SIZE_MAX

//  Largest table side and largest count protect () accepts: sums stay far from
//  int64 overflow, and protect () stays quick at report sizes.
#define KN_SDC_MAX_SIDE  1000
#define KN_SDC_MAX_COUNT INT64_C (1000000000000)

//  Space kn_sdc_method () needs, including the terminating NUL.
#define KN_SDC_METHOD_SIZE 512

typedef struct {
    int threshold;   //  counts 1..threshold-1 are hidden; at least 2
    bool round_to_5; //  shown counts and totals rounded to the nearest 5
} kn_sdc_config_t;

typedef enum {
    KN_SDC_UNPROTECTED = 0, //  protect () has not succeeded since the last change
    KN_SDC_PUBLISHED,       //  may be printed
    KN_SDC_PRIMARY,         //  hidden: a count from 1 to threshold-1
    KN_SDC_SECONDARY,       //  hidden: would let a reader recover a hidden count
} kn_sdc_reason_t;

typedef struct _kn_sdc_table_t kn_sdc_table_t;

//  The policy default: threshold 5 (counts 1-4 hidden), no rounding.
kn_sdc_config_t kn_sdc_config_default (void);

//  The default, changed by KINNET_SDC_THRESHOLD (a whole number 2..10000) and
//  KINNET_SDC_ROUND (1/0, true/false, on/off). A value that does not parse is an
//  error, not a silent fallback: a typo must not weaken a report. 0 or -1.
int kn_sdc_config_from_env (kn_sdc_config_t *config, kn_error_t *err);

//  A rows x cols table of zero counts; NULL when a side is 0 or above
//  KN_SDC_MAX_SIDE, or memory runs out.
kn_sdc_table_t *kn_sdc_table_new (size_t rows, size_t cols);

//  Free the table and null *self_p.
void kn_sdc_table_destroy (kn_sdc_table_t **self_p);

size_t kn_sdc_table_rows (const kn_sdc_table_t *self);
size_t kn_sdc_table_cols (const kn_sdc_table_t *self);

//  Set one cell's count (not a total: totals are computed). Makes the table
//  unprotected again until the next protect ().
void kn_sdc_table_set (kn_sdc_table_t *self, size_t row, size_t col, int64_t count);

//  Compute the totals, hide small counts (primary suppression), hide enough other
//  counts and totals that no hidden count can be recovered (secondary suppression),
//  and remember the config for rounding and statistics. Fails, leaving nothing
//  publishable, on a threshold below 2 or a count outside 0..KN_SDC_MAX_COUNT.
//  0 or -1.
int kn_sdc_table_protect (kn_sdc_table_t *self, const kn_sdc_config_t *config,
                          kn_error_t *err);

//  After protect (): true and *value (rounded when configured) when the cell or total
//  may be published; false when it must be printed as KN_SDC_MARKER, or when the
//  table is not protected. value may be NULL.
bool kn_sdc_cell (const kn_sdc_table_t *self, size_t row, size_t col, int64_t *value);
bool kn_sdc_row_total (const kn_sdc_table_t *self, size_t row, int64_t *value);
bool kn_sdc_col_total (const kn_sdc_table_t *self, size_t col, int64_t *value);
bool kn_sdc_grand_total (const kn_sdc_table_t *self, int64_t *value);

//  Why a cell or total is shown or hidden (tests, footers, the audit of a report).
kn_sdc_reason_t kn_sdc_cell_reason (const kn_sdc_table_t *self, size_t row, size_t col);

//  The text to print for a cell or total: its published value or KN_SDC_MARKER.
//  Returns buffer; size 24 always suffices.
const char *kn_sdc_cell_text (const kn_sdc_table_t *self, size_t row, size_t col,
                              char *buffer, size_t size);

//  Cells and totals hidden after protect (), for the footer ("3 cells withheld").
size_t kn_sdc_table_hidden (const kn_sdc_table_t *self);

//  A median, percentile, mean or rate may be published over a group of
//  group_count people only when group_count >= threshold.
bool kn_sdc_statistic_allowed (const kn_sdc_config_t *config, int64_t group_count);

//  The same for a group that is a cell or total of a protected table: also false when
//  that count is hidden for any reason, since a rate over a published denominator
//  would give the hidden count back.
bool kn_sdc_cell_statistic_allowed (const kn_sdc_table_t *self, size_t row, size_t col);

//  One line for a report's footer naming the method and its parameters. Writes at
//  most size bytes (KN_SDC_METHOD_SIZE suffices) and returns buffer.
const char *kn_sdc_method (const kn_sdc_config_t *config, char *buffer, size_t size);

#endif
