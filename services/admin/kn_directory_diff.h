/*  kn_directory_diff: what an import changes about one agency, as its report says
    it, and whether the change takes something away from routing.

    The one idea: a re-import is reviewed as a diff, so each set is shown as what
    it gains and loses with its values before and after, and a change that would
    stop routing offering an agency a need it offers today is told apart from one
    that only adds: the import refuses the first kind without --prune. Pure: no
    database, tested as a table (tests/unit/test_directory_diff.c). */
#ifndef KN_DIRECTORY_DIFF_H_INCLUDED
#define KN_DIRECTORY_DIFF_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>

//  A set's change: {"field", "added", "removed", "before", "after"}, each list of
//  strings in before's and after's order; NULL when before and after hold the same.
//  For "needs" the items are NeedCategory values as decimal text, shown by their
//  lower-case names ("mental_health").
json_t *kn_directory_diff_set (const char *field, zlistx_t *before, zlistx_t *after);

//  A value's change: {"field", "before", "after"}.
json_t *kn_directory_diff_value (const char *field, const char *before,
                                 const char *after);

//  Whether the change takes something from routing: the agency accepted new cases
//  before and stops, or loses a need (needs: the "needs" set change, or NULL). A
//  need lost by an agency that accepted nobody took nothing away.
bool kn_directory_diff_removes (bool accepting_before, bool accepting_after,
                                const json_t *needs);

//  A short text of a change for a message: "needs -mental_health, stops accepting".
void kn_directory_diff_text (bool accepting_before, bool accepting_after,
                             const json_t *needs, char *out, size_t size);

#endif
