/*  What a re-import may take away, without PostgreSQL: when documents are provably
    the whole directory (kn_hsds_whole, which --prune needs), which organizations'
    records speak for all their services (kn_hsds_org_t.authoritative), and how a
    change is shown and judged (kn_directory_diff): each set as added and removed
    with before and after, and whether it takes a need or acceptance from
    routing. */
#include <criterion/criterion.h>
#include <string.h>

#include "kn_directory_diff.h"
#include "kn_hsds.h"
#include "kn_test.h"

static void
s_fini (void)
{
    kn_test_no_leaks ();
}

TestSuite (directory_diff, .fini = s_fini);

//  Quotes are written ' and become ".
static char *
s_text (const char *quoted)
{
    char *text = strdup (quoted);
    cr_assert (text);
    for (char *c = text; *c; c++)
        if (*c == '\'')
            *c = '"';
    return text;
}

#define ORG(id) "{'id': '" id "', 'name': 'Org " id "'}"
#define PAGE(number, pages, items, contents)                                             \
    "{'total_items': " #items ", 'total_pages': " #pages ", 'page_number': " #number     \
    ", 'contents': [" contents "]}"

typedef struct {
    const char *name;
    const char *docs[4]; // NULL-ended
    bool whole;
    const char *why; // a part of the reason when not whole
} whole_case_t;

static const whole_case_t s_whole[] = {
    {"a file that is no page is whole", {"[" ORG ("o1") "]"}, true, NULL},
    {"an organization alone is whole", {ORG ("o1")}, true, NULL},
    {"every page, in any order",
     {PAGE (2, 3, 3, ORG ("o2")), PAGE (1, 3, 3, ORG ("o1")), PAGE (3, 3, 3, ORG ("o3"))},
     true,
     NULL},
    {"one page of three names the pages missing",
     {PAGE (2, 3, 3, ORG ("o2"))},
     false,
     "pages 1, 3 of 3 are missing"},
    {"one page missing", {PAGE (1, 2, 2, ORG ("o1"))}, false, "page 2 of 2 is missing"},
    {"pages that disagree on total_items",
     {PAGE (1, 2, 2, ORG ("o1")), PAGE (2, 2, 3, ORG ("o2"))},
     false,
     "same total_pages and total_items"},
    {"a page given twice",
     {PAGE (1, 2, 2, ORG ("o1")), PAGE (1, 2, 2, ORG ("o2"))},
     false,
     "page_number 1 is missing, repeated"},
    {"a page without numbers",
     {"{'contents': [" ORG ("o1") "]}"},
     false,
     "same total_pages and total_items"},
    {"pages and a file: the pages must still be all there",
     {"[" ORG ("o9") "]", PAGE (1, 2, 2, ORG ("o1"))},
     false,
     "page 2 of 2 is missing"},
};

Test (directory_diff, whole_directories)
{
    kn_error_t err;
    kn_directory_mapping_t *mapping = kn_directory_mapping_parse ("{}", &err);
    cr_assert (mapping, "%s", err.message);
    for (size_t i = 0; i < sizeof s_whole / sizeof s_whole[0]; i++) {
        const whole_case_t *c = &s_whole[i];
        char *texts[4];
        size_t lens[4], count = 0;
        for (; count < 4 && c->docs[count]; count++) {
            texts[count] = s_text (c->docs[count]);
            lens[count] = strlen (texts[count]);
        }
        kn_hsds_t *hsds = kn_hsds_parse_all ((const char *const *)texts, lens, count,
                                             mapping, NULL, 0, &err);
        cr_assert (hsds, "%s: %s (%s)", c->name, err.message, err.field);
        char why[200] = "";
        cr_expect_eq (kn_hsds_whole (hsds, why, sizeof why), c->whole, "%s: %s", c->name,
                      why);
        if (c->why)
            cr_expect (strstr (why, c->why), "%s: '%s'", c->name, why);
        kn_hsds_destroy (&hsds);
        for (size_t k = 0; k < count; k++)
            free (texts[k]);
    }
    kn_directory_mapping_destroy (&mapping);
}

Test (directory_diff, only_an_organizations_own_record_listing_services_speaks_for_all)
{
    kn_error_t err;
    kn_directory_mapping_t *mapping = kn_directory_mapping_parse ("{}", &err);
    cr_assert (mapping, "%s", err.message);
    char *text = s_text ("[{'id': 'o1', 'name': 'Org o1', 'services': []}, " ORG (
        "o2") ","
              " {'id': 's1', 'name': 'S', 'status': 'active', 'organization': " ORG (
                  "o3") "}]");
    kn_hsds_t *hsds = kn_hsds_parse (text, strlen (text), mapping, NULL, 0, &err);
    free (text);
    cr_assert (hsds, "%s (%s)", err.message, err.field);
    cr_expect (kn_hsds_find (hsds, "o1")->authoritative, "its record lists services");
    cr_expect (!kn_hsds_find (hsds, "o2")->authoritative, "no 'services' member");
    cr_expect (!kn_hsds_find (hsds, "o3")->authoritative, "a service's copy of it");
    //  The service is listed under its organization even though it maps to no need.
    cr_expect_eq (zlistx_size (kn_hsds_find (hsds, "o3")->services), 1);
    kn_hsds_destroy (&hsds);
    kn_directory_mapping_destroy (&mapping);
}

//  A sorted list of the comma-separated items of text ("" for none).
static zlistx_t *
s_list (const char *text)
{
    zlistx_t *list = zlistx_new ();
    zlistx_set_destructor (list, (zlistx_destructor_fn *)zstr_free);
    zlistx_set_duplicator (list, (zlistx_duplicator_fn *)strdup);
    char *copy = strdup (text), *save = NULL;
    for (char *item = strtok_r (copy, ",", &save); item;
         item = strtok_r (NULL, ",", &save))
        zlistx_add_end (list, item);
    free (copy);
    return list;
}

static char *
s_member (json_t *diff, const char *name)
{
    return json_dumps (json_object_get (diff, name), JSON_COMPACT | JSON_ENCODE_ANY);
}

Test (directory_diff, a_set_change_shows_what_goes_and_comes)
{
    zlistx_t *before = s_list ("en,pl"), *after = s_list ("en,so");
    json_t *diff = kn_directory_diff_set ("languages", before, after);
    cr_assert (diff);
    char *added = s_member (diff, "added"), *removed = s_member (diff, "removed"),
         *was = s_member (diff, "before"), *now = s_member (diff, "after");
    cr_expect_str_eq (added, "[\"so\"]");
    cr_expect_str_eq (removed, "[\"pl\"]");
    cr_expect_str_eq (was, "[\"en\",\"pl\"]");
    cr_expect_str_eq (now, "[\"en\",\"so\"]");
    free (added);
    free (removed);
    free (was);
    free (now);
    json_decref (diff);
    //  The same set: no change at all.
    cr_expect_null (kn_directory_diff_set ("languages", before, before));
    zlistx_destroy (&before);
    zlistx_destroy (&after);
}

Test (directory_diff, needs_are_shown_by_name)
{
    //  kinnet.v1.NeedCategory in lower case, as the mapping and directory show spell
    //  needs; the database keeps the numbers.
    zlistx_t *before = s_list ("1,2"), *after = s_list ("1");
    json_t *diff = kn_directory_diff_set ("needs", before, after);
    cr_assert (diff);
    char *removed = s_member (diff, "removed"), *now = s_member (diff, "after");
    cr_expect_str_eq (removed, "[\"special_educational_needs_disability\"]");
    cr_expect_str_eq (now, "[\"attendance_and_learning\"]");
    free (removed);
    free (now);
    json_decref (diff);
    zlistx_destroy (&before);
    zlistx_destroy (&after);
}

typedef struct {
    const char *name;
    bool accepting_before, accepting_after;
    const char *needs_before, *needs_after;
    bool removes;
    const char *text;
} removes_case_t;

static const removes_case_t s_removes[] = {
    {"a need added takes nothing", true, true, "1", "1,2", false, ""},
    {"a need lost by an accepting agency", true, true, "1,2", "1", true, "needs -"},
    {"an agency that stops accepting", true, false, "1", "1", true, "stops accepting"},
    {"both", true, false, "1,2", "1", true, ", stops accepting"},
    {"a need lost by an agency that accepted nobody", false, false, "1,2", "1", false,
     ""},
    {"an agency that starts accepting with fewer needs", false, true, "1,2", "1", false,
     ""},
    {"nothing changed", true, true, "1", "1", false, ""},
};

Test (directory_diff, what_takes_from_routing)
{
    for (size_t i = 0; i < sizeof s_removes / sizeof s_removes[0]; i++) {
        const removes_case_t *c = &s_removes[i];
        zlistx_t *before = s_list (c->needs_before), *after = s_list (c->needs_after);
        json_t *needs = kn_directory_diff_set ("needs", before, after);
        cr_expect_eq (
            kn_directory_diff_removes (c->accepting_before, c->accepting_after, needs),
            c->removes, "%s", c->name);
        char text[160];
        kn_directory_diff_text (c->accepting_before, c->accepting_after, needs, text,
                                sizeof text);
        if (c->removes)
            cr_expect (strstr (text, c->text), "%s: '%s'", c->name, text);
        json_decref (needs);
        zlistx_destroy (&before);
        zlistx_destroy (&after);
    }
}
