/*  kn_sdc: primary suppression, then secondary suppression by closed loops.

    The table is stored with its totals as one (rows+1) x (cols+1) grid: row totals
    in the last column, column totals in the last row, the grand total in the corner.
    Every row of that grid (the totals row too) adds up to its last entry, and so does
    every column. So each grid entry lies on exactly one row line and one column line.

    Think of each line as a node and each hidden entry as an edge between its row line
    and its column line. A reader who knows everything shown can change hidden values
    only around a closed loop of hidden entries (+1, -1, +1, ... so every line still
    adds up), and since zeros are shown no hidden value may drop below 1. So a hidden
    entry is safe exactly when some loop of hidden entries can move it by one, up or
    down, without pushing a 1 down to 0 (the grid's equations are totally unimodular,
    so "some other whole-number value" and "some loop" are the same thing).

    The familiar rule "no line with exactly one hidden entry" follows from this but is
    not enough: four 1s in a rectangle, or two hidden rectangles joined by one hidden
    cell, pass it and are still recovered exactly. It also hides more than needed,
    since it chooses within one line without looking at the column it disturbs. So
    protect () goes straight to the goal: each hidden entry with no loop that can move
    it gets the cheapest one (a shortest path between its two lines, each newly hidden
    count costing its value), and the published entries on it are hidden. Hiding more
    never stops a loop from moving, so one pass settles the table; a second pass
    confirms it. */
#include "kn_sdc.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct _kn_sdc_table_t {
    size_t rows;            //  rows of counts; the grid has one more (totals)
    size_t cols;            //  columns of counts; the grid has one more (totals)
    int64_t *value;         //  (rows + 1) x (cols + 1), row-major
    uint8_t *reason;        //  a kn_sdc_reason_t per grid entry
    kn_sdc_config_t config; //  of the last successful protect ()
    bool is_protected;
};

kn_sdc_config_t
kn_sdc_config_default (void)
{
    kn_sdc_config_t config = {.threshold = 5, .round_to_5 = false};
    return config;
}

int
kn_sdc_config_from_env (kn_sdc_config_t *config, kn_error_t *err)
{
    *config = kn_sdc_config_default ();
    const char *threshold = getenv ("KINNET_SDC_THRESHOLD");
    if (threshold && *threshold) {
        char *end;
        errno = 0;
        long parsed = strtol (threshold, &end, 10);
        if (errno || *end || !isdigit ((unsigned char)*threshold) || parsed < 2 ||
            parsed > 10000)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, "KINNET_SDC_THRESHOLD",
                                 "must be a whole number from 2 to 10000");
        config->threshold = (int)parsed;
    }
    const char *round = getenv ("KINNET_SDC_ROUND");
    if (round && *round) {
        if (!strcmp (round, "1") || !strcasecmp (round, "true") ||
            !strcasecmp (round, "on"))
            config->round_to_5 = true;
        else if (!strcmp (round, "0") || !strcasecmp (round, "false") ||
                 !strcasecmp (round, "off"))
            config->round_to_5 = false;
        else
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, "KINNET_SDC_ROUND",
                                 "must be 1 or 0 (true/false, on/off)");
    }
    return 0;
}

kn_sdc_table_t *
kn_sdc_table_new (size_t rows, size_t cols)
{
    if (rows == 0 || cols == 0 || rows > KN_SDC_MAX_SIDE || cols > KN_SDC_MAX_SIDE)
        return NULL;
    kn_sdc_table_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    size_t grid = (rows + 1) * (cols + 1);
    self->rows = rows;
    self->cols = cols;
    self->value = calloc (grid, sizeof *self->value);
    self->reason = calloc (grid, sizeof *self->reason);
    if (!self->value || !self->reason)
        kn_sdc_table_destroy (&self);
    return self;
}

void
kn_sdc_table_destroy (kn_sdc_table_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kn_sdc_table_t *self = *self_p;
    free (self->value);
    free (self->reason);
    free (self);
    *self_p = NULL;
}

size_t
kn_sdc_table_rows (const kn_sdc_table_t *self)
{
    return self->rows;
}

size_t
kn_sdc_table_cols (const kn_sdc_table_t *self)
{
    return self->cols;
}

//  Grid position of a cell or total (KN_SDC_TOTAL addresses the totals line).
static size_t
s_at (const kn_sdc_table_t *self, size_t row, size_t col)
{
    if (row == KN_SDC_TOTAL)
        row = self->rows;
    if (col == KN_SDC_TOTAL)
        col = self->cols;
    assert (row <= self->rows && col <= self->cols);
    return row * (self->cols + 1) + col;
}

void
kn_sdc_table_set (kn_sdc_table_t *self, size_t row, size_t col, int64_t count)
{
    assert (row < self->rows && col < self->cols);
    self->value[s_at (self, row, col)] = count;
    self->is_protected = false;
}

static bool
s_hidden (const kn_sdc_table_t *self, size_t at)
{
    return self->reason[at] == KN_SDC_PRIMARY || self->reason[at] == KN_SDC_SECONDARY;
}

//  -------------------------------------------------------------------------
//  Loops. Nodes: row lines 0..rows (rows is the totals row), then column lines
//  rows+1 .. rows+1+cols. Walking from a row node to a column node over entry (i, j)
//  adds 1 to the entry's signed value, the way back subtracts 1. The sign is -1 for
//  row and column totals (they sit on the other side of their equations) and +1 for
//  cells and the grand total, so a walk that returns to its start keeps every line
//  adding up. A step is allowed when it raises the entry, or lowers an entry of at
//  least 2 (a hidden count is known to be at least 1).

typedef struct {
    size_t nodes;
    int64_t *dist; //  cost of the cheapest path so far; -1: not reached
    size_t *prev;  //  node before this one on that path
    bool *done;
} s_search_t;

static int
s_sign (const kn_sdc_table_t *self, size_t row, size_t col)
{
    return ((row < self->rows) == (col < self->cols)) ? 1 : -1;
}

//  The grid entry between two nodes, and the change to its count (+1/-1) when
//  walked from node `from` to node `to`.
static size_t
s_edge (const kn_sdc_table_t *self, size_t from, size_t to, int *change)
{
    bool forward = from <= self->rows;
    size_t row = forward ? from : to;
    size_t col = (forward ? to : from) - self->rows - 1;
    int sign = s_sign (self, row, col);
    *change = forward ? sign : -sign;
    return s_at (self, row, col);
}

//  Cheapest path from source to target not using grid entry `skip`: hidden entries
//  cost nothing, published ones their count. Returns the cost, or -1 when there is
//  no path. Ties go to the lower node number, so the result never varies.
static int64_t
s_cheapest (const kn_sdc_table_t *self, s_search_t *search, size_t source, size_t target,
            size_t skip)
{
    size_t nodes = search->nodes;
    for (size_t n = 0; n < nodes; n++) {
        search->dist[n] = -1;
        search->done[n] = false;
    }
    search->dist[source] = 0;
    while (true) {
        size_t node = SIZE_MAX;
        for (size_t n = 0; n < nodes; n++)
            if (!search->done[n] && search->dist[n] >= 0 &&
                (node == SIZE_MAX || search->dist[n] < search->dist[node]))
                node = n;
        if (node == SIZE_MAX)
            return -1;
        if (node == target)
            return search->dist[node];
        search->done[node] = true;
        //  A row node's neighbours are the column nodes, and the other way round.
        size_t first = node <= self->rows ? self->rows + 1 : 0;
        size_t last = node <= self->rows ? nodes : self->rows + 1;
        for (size_t next = first; next < last; next++) {
            if (search->done[next])
                continue;
            int change;
            size_t at = s_edge (self, node, next, &change);
            int64_t count = self->value[at];
            //  Zeros are shown by policy, so never on a loop; a hidden 1 can only rise.
            if (at == skip || count == 0 || (change < 0 && count < 2))
                continue;
            int64_t cost = search->dist[node] + (s_hidden (self, at) ? 0 : count);
            if (search->dist[next] < 0 || cost < search->dist[next]) {
                search->dist[next] = cost;
                search->prev[next] = node;
            }
        }
    }
}

//  Make sure the hidden entry at (row, col) lies on a loop of hidden entries that
//  can move it up or down. Returns 1 when entries were hidden, 0 when none were
//  needed, -1 when no loop exists (never, for a consistent grid: the loop through
//  the entry's row total, column total and grand total only raises counts).
static int
s_secure (kn_sdc_table_t *self, s_search_t *search, size_t row, size_t col)
{
    size_t at = s_at (self, row, col);
    size_t row_node = row;
    size_t col_node = self->rows + 1 + col;
    //  Raising the entry walks it from row to column node when its sign is +1, so
    //  the rest of the loop runs from the column node back; lowering is the reverse.
    bool raise_forward = s_sign (self, row, col) > 0;
    int64_t raise = raise_forward ? s_cheapest (self, search, col_node, row_node, at)
                                  : s_cheapest (self, search, row_node, col_node, at);
    if (raise == 0)
        return 0;
    int64_t lower = -1;
    if (self->value[at] >= 2) {
        lower = raise_forward ? s_cheapest (self, search, row_node, col_node, at)
                              : s_cheapest (self, search, col_node, row_node, at);
        if (lower == 0)
            return 0;
    }
    if (raise < 0 && lower < 0)
        return -1;
    bool use_raise = raise >= 0 && (lower < 0 || raise <= lower);
    size_t source = (use_raise == raise_forward) ? col_node : row_node;
    size_t target = (use_raise == raise_forward) ? row_node : col_node;
    s_cheapest (self, search, source, target, at); //  again, for its path
    for (size_t node = target; node != source; node = search->prev[node]) {
        int change;
        size_t edge = s_edge (self, search->prev[node], node, &change);
        if (!s_hidden (self, edge))
            self->reason[edge] = KN_SDC_SECONDARY;
    }
    return 1;
}

static int
s_secondary_loops (kn_sdc_table_t *self, kn_error_t *err)
{
    s_search_t search = {.nodes = self->rows + self->cols + 2};
    search.dist = calloc (search.nodes, sizeof *search.dist);
    search.prev = calloc (search.nodes, sizeof *search.prev);
    search.done = calloc (search.nodes, sizeof *search.done);
    int rc = 0;
    if (!search.dist || !search.prev || !search.done)
        rc = kn_error_set (err, KN_E_INTERNAL, NULL, "out of memory");
    //  Pass 1 secures everything (entries hidden on a loop are secure by that loop);
    //  pass 2 must find nothing to do, or the method has a bug.
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        bool changed = false;
        for (size_t row = 0; rc == 0 && row <= self->rows; row++)
            for (size_t col = 0; rc == 0 && col <= self->cols; col++) {
                if (!s_hidden (self, s_at (self, row, col)))
                    continue;
                int secured = s_secure (self, &search, row, col);
                if (secured < 0)
                    rc = kn_error_set (err, KN_E_INTERNAL, NULL,
                                       "no protecting loop for a hidden count");
                changed = changed || secured > 0;
            }
        if (rc == 0 && pass == 1 && changed)
            rc = kn_error_set (err, KN_E_INTERNAL, NULL,
                               "secondary suppression did not settle");
    }
    free (search.dist);
    free (search.prev);
    free (search.done);
    return rc;
}

int
kn_sdc_table_protect (kn_sdc_table_t *self, const kn_sdc_config_t *config,
                      kn_error_t *err)
{
    self->is_protected = false;
    if (config->threshold < 2)
        return kn_error_set (
            err, KN_E_INVALID_ARGUMENT, "threshold",
            "threshold must be at least 2 (counts of 1 are always hidden)");
    size_t rows = self->rows;
    size_t cols = self->cols;
    for (size_t row = 0; row <= rows; row++)
        for (size_t col = 0; col <= cols; col++) {
            size_t at = s_at (self, row, col);
            self->reason[at] = KN_SDC_PUBLISHED;
            if (row < rows && col < cols &&
                (self->value[at] < 0 || self->value[at] > KN_SDC_MAX_COUNT))
                return kn_error_set (err, KN_E_INVALID_ARGUMENT, "count",
                                     "count %" PRId64 " is outside 0..%" PRId64,
                                     self->value[at], KN_SDC_MAX_COUNT);
        }
    //  Totals: every line of the grid adds up to its last entry.
    for (size_t row = 0; row <= rows; row++)
        self->value[s_at (self, row, cols)] = 0;
    for (size_t col = 0; col < cols; col++)
        self->value[s_at (self, rows, col)] = 0;
    for (size_t row = 0; row < rows; row++)
        for (size_t col = 0; col < cols; col++) {
            int64_t count = self->value[s_at (self, row, col)];
            self->value[s_at (self, row, cols)] += count;
            self->value[s_at (self, rows, col)] += count;
            self->value[s_at (self, rows, cols)] += count;
        }
    //  Primary: a small total describes as few people as a small cell does.
    for (size_t at = 0; at < (rows + 1) * (cols + 1); at++)
        if (self->value[at] >= 1 && self->value[at] < config->threshold)
            self->reason[at] = KN_SDC_PRIMARY;
    if (s_secondary_loops (self, err))
        return -1;
    self->config = *config;
    self->is_protected = true;
    return 0;
}

//  Nearest multiple of 5 (halves cannot occur), but never 0 for a non-zero count:
//  a shown 0 always means nobody.
static int64_t
s_round (int64_t count)
{
    if (count == 0)
        return 0;
    int64_t rounded = (count + 2) / 5 * 5;
    return rounded > 0 ? rounded : 5;
}

kn_sdc_reason_t
kn_sdc_cell_reason (const kn_sdc_table_t *self, size_t row, size_t col)
{
    if (!self->is_protected)
        return KN_SDC_UNPROTECTED;
    return (kn_sdc_reason_t)self->reason[s_at (self, row, col)];
}

bool
kn_sdc_cell (const kn_sdc_table_t *self, size_t row, size_t col, int64_t *value)
{
    if (kn_sdc_cell_reason (self, row, col) != KN_SDC_PUBLISHED)
        return false;
    int64_t count = self->value[s_at (self, row, col)];
    if (value)
        *value = self->config.round_to_5 ? s_round (count) : count;
    return true;
}

bool
kn_sdc_row_total (const kn_sdc_table_t *self, size_t row, int64_t *value)
{
    assert (row < self->rows);
    return kn_sdc_cell (self, row, KN_SDC_TOTAL, value);
}

bool
kn_sdc_col_total (const kn_sdc_table_t *self, size_t col, int64_t *value)
{
    assert (col < self->cols);
    return kn_sdc_cell (self, KN_SDC_TOTAL, col, value);
}

bool
kn_sdc_grand_total (const kn_sdc_table_t *self, int64_t *value)
{
    return kn_sdc_cell (self, KN_SDC_TOTAL, KN_SDC_TOTAL, value);
}

const char *
kn_sdc_cell_text (const kn_sdc_table_t *self, size_t row, size_t col, char *buffer,
                  size_t size)
{
    int64_t value;
    if (kn_sdc_cell (self, row, col, &value))
        snprintf (buffer, size, "%" PRId64, value);
    else
        snprintf (buffer, size, "%s", KN_SDC_MARKER);
    return buffer;
}

size_t
kn_sdc_table_hidden (const kn_sdc_table_t *self)
{
    if (!self->is_protected)
        return 0;
    size_t hidden = 0;
    for (size_t at = 0; at < (self->rows + 1) * (self->cols + 1); at++)
        hidden += s_hidden (self, at);
    return hidden;
}

bool
kn_sdc_statistic_allowed (const kn_sdc_config_t *config, int64_t group_count)
{
    return group_count >= config->threshold;
}

bool
kn_sdc_cell_statistic_allowed (const kn_sdc_table_t *self, size_t row, size_t col)
{
    //  The unrounded count: rounding is for display, the rule is about people.
    if (kn_sdc_cell_reason (self, row, col) != KN_SDC_PUBLISHED)
        return false;
    return kn_sdc_statistic_allowed (&self->config, self->value[s_at (self, row, col)]);
}

const char *
kn_sdc_method (const kn_sdc_config_t *config, char *buffer, size_t size)
{
    char small[32];
    if (config->threshold == 2)
        snprintf (small, sizeof small, "Counts of 1");
    else
        snprintf (small, sizeof small, "Counts 1-%d", config->threshold - 1);
    snprintf (buffer, size,
              "Disclosure control (Kinnet SDC v1): %s, and any count or total that "
              "would reveal one, are shown as %s; zeros are shown; %s; medians and "
              "rates only over groups of %d or more. Method: docs/suppression.md.",
              small, KN_SDC_MARKER,
              config->round_to_5 ? "other counts and totals are rounded independently "
                                   "to the nearest 5"
                                 : "other counts are exact",
              config->threshold);
    return buffer;
}
