/*  kinnet admin directory: the agency directory routing reads, and its import from
    Open Referral HSDS 3.0, through the admin service. Thin: the files are read here
    and their text sent; the service checks and writes. Replies are turned into JSON
    (kn_pbjson, proto3: an absent field is zero or empty) so one set of printers
    serves text and --format json. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli.h"
#include "kn_pbjson.h"
#include "kn_alloc.h"

//  The request must fit in one MDP body of 1 MiB (docs/protocol.md §4.1); what the
//  files may take of it, leaving room for the rest of the request.
#define MAX_FILES ((1 << 20) - 4096)

//  The most documents one import sends (admin.proto, ImportDirectory.hsds).
#define MAX_DOCUMENTS 1000

static const char *s_usage =
    "usage: kinnet admin directory import PATH... [--file PATH]... [--mapping MAP.json]\n"
    "              [--dry-run] [--prune [--whole]] [--key KEY]\n"
    "       kinnet admin directory show [AGENCY_ID | DIRECTORY_ID]\n"
    "       kinnet admin directory set AGENCY_ID [--accepting yes|no]\n"
    "              [--capacity N|none] [--interpreters yes|no] [--key KEY]\n"
    "       kinnet admin directory district set CODE [--name NAME] [--lead "
    "AGENCY_ID|none]\n"
    "              [--key KEY]\n"
    "       kinnet admin directory district list\n"
    "       kinnet admin directory export [--out FILE|FOLDER]\n"
    "import reads Open Referral HSDS 3.0 JSON as published (organizations, services,\n"
    "service_at_locations, alone, in arrays or in API list pages) and writes what\n"
    "differs, in one transaction; --dry-run reports without writing. An import only\n"
    "adds and changes: one that would take a need from an agency or stop it accepting\n"
    "is refused unless --prune, which also removes the services the documents no\n"
    "longer list for the agencies they name, and needs every page of an export.\n"
    "--prune withdraws the directory agencies the documents do not name only with\n"
    "--whole (these documents are the whole directory) or with every page of an\n"
    "API export. Each PATH (or\n"
    "--file PATH) is a file or a folder whose *.json files are read in name order; all\n"
    "the documents are read as one directory, so an export in pages imports whole.\n"
    "Without --mapping the built-in mapping is used. The files together must stay under\n"
    "1 MiB. export writes the directory as HSDS 3.0 API list pages of organizations\n"
    "that import reads back: to standard output or FILE when it is one page, as\n"
    "page-001.json... into an existing FOLDER. docs/directory.md describes the mapping\n"
    "file and every rule. All commands\n"
    "take --format json and go through the broker to the admin service as an\n"
    "administrator agency (KINNET_CERT).\n";

//  Options of these commands that take a value (kinnet's own are known already).
static const char *const s_valued[] = {"--mapping",   "--name",     "--lead", "--accepting",
                                       "--capacity", "--interpreters", "--key", "--file",
                                       "--out", NULL};

static const char *
s_positional (int argc, char **argv, int index)
{
    return cli_positional (argc, argv, s_valued, index);
}

//  Usage error unless every option is one this command takes (or kinnet's own).
static bool
s_options_ok (int argc, char **argv, const char *const *valued, const char *const *flags)
{
    return cli_options_ok (argc, argv, valued, flags, s_usage);
}

static int
s_usage_error (void)
{
    fputs (s_usage, stderr);
    return CLI_USAGE;
}

//  A JSON array of strings as "a, b, c" ("-" when empty).
static void
s_print_list (const char *label, json_t *array)
{
    printf ("  %-10s ", label);
    if (json_array_size (array) == 0)
        printf ("-");
    size_t index;
    json_t *item;
    json_array_foreach (array, index, item)
        printf ("%s%s", index ? ", " : "", json_string_value (item));
    printf ("\n");
}

//  A string member, "" when absent (proto3 JSON leaves empty strings out).
static const char *
s_str (json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : "";
}

static long long
s_int (json_t *object, const char *key)
{
    return (long long) json_integer_value (json_object_get (object, key));
}

//  The whole of path into *text (caller frees); *used counts the bytes all files
//  take so far, which must stay under MAX_FILES.
static int
s_read_file (const char *path, const char *field, char **text, size_t *used, kn_error_t *err)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "cannot read %s", path);
    size_t room = MAX_FILES - *used;
    char *buffer = kn_malloc (room + 2);
    size_t got = fread (buffer, 1, room + 1, file);
    bool failed = ferror (file);
    fclose (file);
    if (failed || got > room) {
        free (buffer);
        if (failed)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "cannot read %s", path);
        return kn_error_set (err, KN_E_TOO_LARGE, "file",
                             "%s: the directory files together must stay under 1 MiB (the "
                             "largest request); split the directory or trim it",
                             path);
    }
    buffer[got] = '\0';
    if (strlen (buffer) != got) {
        free (buffer);
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "%s is not text", path);
    }
    *used += got;
    *text = buffer;
    return 0;
}

//  The documents of one import: their text and where each came from.
typedef struct {
    char *texts[MAX_DOCUMENTS];
    char *names[MAX_DOCUMENTS];
    size_t count;
    size_t used; // bytes of all files so far
} s_documents_t;

static void
s_documents_free (s_documents_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        free (self->texts[i]);
        free (self->names[i]);
    }
    self->count = 0;
}

static int
s_add_file (s_documents_t *self, const char *path, kn_error_t *err)
{
    if (self->count == MAX_DOCUMENTS)
        return kn_error_set (err, KN_E_TOO_LARGE, "file",
                             "at most %d documents in one import; %s is one more",
                             MAX_DOCUMENTS, path);
    char *text;
    if (s_read_file (path, "file", &text, &self->used, err))
        return -1;
    self->texts[self->count] = text;
    self->names[self->count++] = kn_strdup (path);
    return 0;
}

static int
s_compare_names (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  A folder's *.json files (not hidden ones), in name order, so an export's pages
//  (page-001.json, page-002.json…) keep their order.
static int
s_add_folder (s_documents_t *self, const char *path, kn_error_t *err)
{
    DIR *dir = opendir (path);
    if (!dir)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "file", "cannot read %s", path);
    zlistx_t *names = zlistx_new ();
    if (!names)
        abort ();   // out of memory: nothing sensible to answer
    zlistx_set_destructor (names, (zlistx_destructor_fn *) zstr_free);
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        size_t len = strlen (entry->d_name);
        if (entry->d_name[0] == '.' || len < 6 || strcmp (entry->d_name + len - 5, ".json"))
            continue;
        char *file = zsys_sprintf ("%s/%s", path, entry->d_name);
        struct stat info;
        if (!file)
            abort ();   // out of memory: nothing sensible to answer
        if (stat (file, &info) == 0 && S_ISREG (info.st_mode))
            zlistx_add_end (names, file);
        else
            zstr_free (&file);
    }
    closedir (dir);
    size_t count = zlistx_size (names);
    char **sorted = kn_calloc (count ? count : 1, sizeof *sorted);
    size_t at = 0;
    for (char *file = zlistx_first (names); file; file = zlistx_next (names))
        sorted[at++] = file;
    qsort (sorted, count, sizeof *sorted, s_compare_names);
    int rc = count ? 0
                   : kn_error_set (err, KN_E_INVALID_ARGUMENT, "file",
                                   "%s has no *.json file", path);
    for (size_t i = 0; rc == 0 && i < count; i++)
        rc = s_add_file (self, sorted[i], err);
    free (sorted);
    zlistx_destroy (&names);
    return rc;
}

static int
s_add_path (s_documents_t *self, const char *path, kn_error_t *err)
{
    struct stat info;
    if (stat (path, &info) == 0 && S_ISDIR (info.st_mode))
        return s_add_folder (self, path, err);
    return s_add_file (self, path, err);
}

//  Every PATH of the command line, then every --file, in the order given.
static int
s_gather (s_documents_t *self, int argc, char **argv, kn_error_t *err)
{
    static const char *const valued[] = {"--mapping", "--key", "--file", NULL};
    const char *path;
    for (int index = 2; (path = cli_positional (argc, argv, valued, index)); index++)
        if (s_add_path (self, path, err))
            return -1;
    for (int i = 0; i + 1 < argc && strcmp (argv[i], "--") != 0; i++)
        if (strcmp (argv[i], "--file") == 0 && s_add_path (self, argv[++i], err))
            return -1;
    return 0;
}

//  With several documents the service names one as hsds[i]: say which file it is.
static void
s_name_document (kn_error_t *err, const s_documents_t *documents)
{
    size_t index;
    if (documents->count < 2 || sscanf (err->field, "hsds[%zu]", &index) != 1
        || index >= documents->count)
        return;
    size_t len = strlen (err->message);
    snprintf (err->message + len, sizeof err->message - len, " [hsds[%zu] is %s]", index,
              documents->names[index]);
}

//  Strings as "+a, +b" with prefix ("-" when none).
static void
s_print_items (const char *prefix, json_t *list)
{
    size_t index;
    json_t *item;
    printf ("%s", json_array_size (list) ? "" : "-");
    json_array_foreach (list, index, item)
        printf ("%s%s%s", index ? ", " : "", prefix, json_string_value (item));
}

//  What changed in one agency, under its line: values, sets, services.
static void
s_print_diff (json_t *agency)
{
    size_t index;
    json_t *change;
    json_array_foreach (json_object_get (agency, "values"), index, change)
        printf ("    %-12s %s -> %s\n", s_str (change, "field"), s_str (change, "before"),
                s_str (change, "after"));
    json_array_foreach (json_object_get (agency, "sets"), index, change)
    {
        printf ("    %-12s ", s_str (change, "field"));
        s_print_items ("+", json_object_get (change, "added"));
        printf (" ");
        s_print_items ("-", json_object_get (change, "removed"));
        printf (" (before: ");
        s_print_items ("", json_object_get (change, "before"));
        printf ("; after: ");
        s_print_items ("", json_object_get (change, "after"));
        printf (")\n");
    }
    static const char *const lists[][2] = {{"services_added", "+"},
                                           {"services_changed", "~"},
                                           {"services_removed", "-"}};
    for (size_t i = 0; i < 3; i++) {
        json_t *list = json_object_get (agency, lists[i][0]);
        if (json_array_size (list)) {
            printf ("    %-12s ", lists[i][0]);
            s_print_items (lists[i][1], list);
            printf ("\n");
        }
    }
    if (json_is_true (json_object_get (agency, "needs_prune")))
        printf ("    takes a need or acceptance from routing: only with --prune\n");
}

static void
s_print_import (json_t *report)
{
    size_t index;
    json_t *agency;
    json_array_foreach (json_object_get (report, "agencies"), index, agency)
    {
        printf ("%-10s %s  %s [%s]", s_str (agency, "result"), s_str (agency, "agency_id"),
                s_str (agency, "name"), s_str (agency, "directory_id"));
        size_t at;
        json_t *change;
        json_array_foreach (json_object_get (agency, "changes"), at, change)
            printf ("%s%s", at ? ", " : ": ", json_string_value (change));
        printf ("\n");
        s_print_diff (agency);
    }
    json_t *ignored;
    json_array_foreach (json_object_get (report, "ignored"), index, ignored)
        printf ("%-10s %s: %s\n", "ignored", s_str (ignored, "path"), s_str (ignored, "reason"));
    json_t *missing = json_object_get (report, "not_in_file");
    if (json_array_size (missing)) {
        printf ("%s", json_is_true (json_object_get (report, "whole"))
                          ? "not in these documents (withdrawn): "
                          : "not in these documents (left as they are): ");
        json_t *id;
        json_array_foreach (missing, index, id)
            printf ("%s%s", index ? ", " : "", json_string_value (id));
        printf ("\n");
    }
    if (json_array_size (missing) && json_is_true (json_object_get (report, "prune")) &&
        !json_is_true (json_object_get (report, "whole")))
        printf ("not withdrawn: the documents are not the whole directory; --prune "
                "--whole says they are\n");
    json_t *totals = json_object_get (report, "totals");
    if (json_is_true (json_object_get (report, "needs_prune")))
        printf ("without --prune this import is refused: it takes needs or acceptance "
                "from routing\n");
    printf ("%lld added, %lld linked, %lld changed, %lld unchanged, %lld withdrawn, "
            "%lld ignored%s\n",
            s_int (totals, "added"), s_int (totals, "linked"), s_int (totals, "changed"),
            s_int (totals, "unchanged"), s_int (totals, "withdrawn"),
            s_int (totals, "ignored"),
            json_is_true (json_object_get (report, "dry_run")) ? " (dry run: nothing written)"
                                                                : "");
}

static int
s_import (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--mapping", "--key", "--file", NULL};
    static const char *const flags[] = {"--dry-run", "--prune", "--whole", NULL};
    if (!s_options_ok (argc, argv, valued, flags)
        || (!s_positional (argc, argv, 2) && !cli_arg (argc, argv, "--file")))
        return s_usage_error ();
    kn_error_t err;
    kn_error_clear (&err);
    const char *mapping_path = cli_arg (argc, argv, "--mapping");
    static s_documents_t documents;   // 16 kB of pointers: not on the stack
    char *mapping = NULL;
    if (s_gather (&documents, argc, argv, &err)
        || (mapping_path
            && s_read_file (mapping_path, "mapping", &mapping, &documents.used, &err))) {
        s_documents_free (&documents);
        return cli_fail (options, &err);
    }
    char key[200];
    Kinnet__V1__ImportDirectory op = KINNET__V1__IMPORT_DIRECTORY__INIT;
    op.idempotency_key = (char *) cli_admin_key (key, sizeof key, argc, argv, "import", NULL);
    op.n_hsds = documents.count;
    op.hsds = documents.texts;
    op.mapping = mapping ? mapping : "";
    op.dry_run = cli_flag (argc, argv, "--dry-run");
    op.prune = cli_flag (argc, argv, "--prune");
    op.whole = cli_flag (argc, argv, "--whole");
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_IMPORT_DIRECTORY;
    request.import_directory = &op;
    Kinnet__V1__AdminReply *reply = cli_admin_call (
        options, &request, KINNET__V1__ADMIN_REPLY__RESULT_IMPORT_REPORT, &err);
    free (mapping);
    if (!reply)
        s_name_document (&err, &documents);
    s_documents_free (&documents);
    if (!reply)
        return cli_fail (options, &err);
    if (options->json)
        cli_print_json (&reply->import_report->base);
    else {
        json_t *report = kn_pbjson_encode (&reply->import_report->base);
        s_print_import (report);
        json_decref (report);
    }
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

static void
s_print_agency (json_t *agency)
{
    const char *directory_id = s_str (agency, "directory_id");
    long long capacity = s_int (agency, "capacity");
    printf ("%s  %s  %s%s\n", s_str (agency, "agency_id"), s_str (agency, "name"),
            s_str (agency, "sector"),
            json_is_true (json_object_get (agency, "active")) ? "" : " (revoked)");
    printf ("  %-10s %s\n", "directory", *directory_id ? directory_id : "- (not imported)");
    printf ("  %-10s %s\n", "accepting",
            json_is_true (json_object_get (agency, "accepting")) ? "yes" : "no");
    if (capacity >= 0)
        printf ("  %-10s %lld of %lld\n", "load", s_int (agency, "load"), capacity);
    else
        printf ("  %-10s %lld (no limit)\n", "load", s_int (agency, "load"));
    printf ("  %-10s %s\n", "interpret",
            json_is_true (json_object_get (agency, "interpreters")) ? "yes" : "no");
    printf ("  %-10s %s\n", "key",
            json_is_true (json_object_get (agency, "has_key")) ? "yes" : "no active key");
    if (json_is_true (json_object_get (agency, "can_receive_offers")))
        printf ("  %-10s yes\n", "offers");
    else
        printf ("  %-10s no: %s\n", "offers", s_str (agency, "why_not"));
    s_print_list ("needs", json_object_get (agency, "needs"));
    s_print_list ("districts", json_object_get (agency, "districts"));
    s_print_list ("languages", json_object_get (agency, "languages"));
}

//  A listing reply (member: its repeated field) as a JSON array, as these commands
//  have always printed it, or one entry at a time by print; "no MEMBER" when empty.
static void
s_print_listing (const cli_options_t *options, const ProtobufCMessage *reply,
                 const char *member, void (*print) (json_t *entry))
{
    json_t *json = kn_pbjson_encode (reply);
    json_t *list = json_object_get (json, member);
    if (options->json) {
        json_t *array = list ? json_incref (list) : json_array ();
        json_dumpf (array, stdout, JSON_INDENT (2));
        printf ("\n");
        json_decref (array);
    }
    else {
        size_t index;
        json_t *entry;
        json_array_foreach (list, index, entry)
            print (entry);
        if (json_array_size (list) == 0)
            printf ("no %s\n", member);
    }
    json_decref (json);
}

static int
s_show (const cli_options_t *options, int argc, char **argv)
{
    const char *agency = s_positional (argc, argv, 2);
    if (!s_options_ok (argc, argv, NULL, NULL) || s_positional (argc, argv, 3))
        return s_usage_error ();
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__ShowDirectory op = KINNET__V1__SHOW_DIRECTORY__INIT;
    op.agency = (char *) (agency ? agency : "");
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_SHOW_DIRECTORY;
    request.show_directory = &op;
    Kinnet__V1__AdminReply *reply
        = cli_admin_call (options, &request, KINNET__V1__ADMIN_REPLY__RESULT_DIRECTORY, &err);
    if (!reply)
        return cli_fail (options, &err);
    s_print_listing (options, &reply->directory->base, "agencies", s_print_agency);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

//  yes|no into SWITCH_ON|SWITCH_OFF; SWITCH_KEEP when absent; -1 for anything else.
static int
s_switch (const char *value)
{
    if (!value)
        return KINNET__V1__SWITCH__SWITCH_KEEP;
    if (strcmp (value, "yes") == 0 || strcmp (value, "true") == 0)
        return KINNET__V1__SWITCH__SWITCH_ON;
    if (strcmp (value, "no") == 0 || strcmp (value, "false") == 0)
        return KINNET__V1__SWITCH__SWITCH_OFF;
    return -1;
}

//  A DirectoryChange as "WHAT ID RESULT: change, change".
static void
s_print_change (const char *what, const Kinnet__V1__DirectoryChange *change)
{
    printf ("%s %s %s", what, change->id, change->result);
    for (size_t i = 0; i < change->n_changes; i++)
        printf ("%s%s", i ? ", " : ": ", change->changes[i]);
    printf ("\n");
}

static int
s_change (const cli_options_t *options, Kinnet__V1__AdminRequest *request, const char *what)
{
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__AdminReply *reply
        = cli_admin_call (options, request, KINNET__V1__ADMIN_REPLY__RESULT_CHANGE, &err);
    if (!reply)
        return cli_fail (options, &err);
    if (options->json)
        cli_print_json (&reply->change->base);
    else
        s_print_change (what, reply->change);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

static int
s_set (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--accepting", "--capacity", "--interpreters", "--key",
                                         NULL};
    const char *id = s_positional (argc, argv, 2);
    const char *capacity = cli_arg (argc, argv, "--capacity");
    Kinnet__V1__SetDirectoryEntry op = KINNET__V1__SET_DIRECTORY_ENTRY__INIT;
    int accepting = s_switch (cli_arg (argc, argv, "--accepting"));
    int interpreters = s_switch (cli_arg (argc, argv, "--interpreters"));
    if (capacity && strcmp (capacity, "none") == 0)
        op.capacity = -1;
    else if (capacity) {
        char *end;
        long value = strtol (capacity, &end, 10);
        if (*capacity < '0' || *capacity > '9' || *end || value > INT_MAX)
            return s_usage_error ();
        op.capacity = (int32_t) value;
    }
    op.set_capacity = capacity != NULL;
    if (!s_options_ok (argc, argv, valued, NULL) || !id || s_positional (argc, argv, 3)
        || accepting < 0 || interpreters < 0
        || (!capacity && !accepting && !interpreters))
        return s_usage_error ();
    char key[200];
    op.idempotency_key = (char *) cli_admin_key (key, sizeof key, argc, argv, "set", NULL);
    op.agency_id = (char *) id;
    op.accepting = accepting;
    op.interpreters = interpreters;
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_SET_DIRECTORY;
    request.set_directory = &op;
    return s_change (options, &request, "agency");
}

static int
s_district_set (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--name", "--lead", "--key", NULL};
    const char *code = s_positional (argc, argv, 3);
    if (!s_options_ok (argc, argv, valued, NULL) || !code || s_positional (argc, argv, 4))
        return s_usage_error ();
    const char *name = cli_arg (argc, argv, "--name");
    const char *lead = cli_arg (argc, argv, "--lead");
    char key[200];
    Kinnet__V1__SetDistrict op = KINNET__V1__SET_DISTRICT__INIT;
    op.idempotency_key = (char *) cli_admin_key (key, sizeof key, argc, argv, "district", NULL);
    op.code = (char *) code;
    op.name = (char *) (name ? name : "");
    op.lead = (char *) (lead ? lead : "");   // "none": no lead; "": keep it
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_SET_DISTRICT;
    request.set_district = &op;
    return s_change (options, &request, "district");
}

static void
s_print_district (json_t *district)
{
    const char *name = s_str (district, "name");
    const char *lead = s_str (district, "child_protection_lead");
    printf ("%-16s %-28s agencies %-4zu lead ", s_str (district, "code"), *name ? name : "-",
            json_array_size (json_object_get (district, "agencies")));
    if (*lead)
        printf ("%s (%s)\n", s_str (district, "lead_name"), lead);
    else
        printf ("none\n");
    if (!json_is_true (json_object_get (district, "registered")))
        printf ("%-16s not registered: kinnet admin directory district set %s --name "
                "NAME\n",
                "", s_str (district, "code"));
}

static int
s_district_list (const cli_options_t *options, int argc, char **argv)
{
    if (!s_options_ok (argc, argv, NULL, NULL) || s_positional (argc, argv, 3))
        return s_usage_error ();
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__ListDistricts op = KINNET__V1__LIST_DISTRICTS__INIT;
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_LIST_DISTRICTS;
    request.list_districts = &op;
    Kinnet__V1__AdminReply *reply
        = cli_admin_call (options, &request, KINNET__V1__ADMIN_REPLY__RESULT_DISTRICTS, &err);
    if (!reply)
        return cli_fail (options, &err);
    s_print_listing (options, &reply->districts->base, "districts", s_print_district);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

//  -------------------------------------------------------------------------
//  Export

//  The most pages an export is read in: each is at most 512 KiB of organizations.
#define MAX_PAGES 10000

//  Page (from 1) of the export: its HSDS text (caller frees) and the totals.
static char *
s_export_page (const cli_options_t *options, int page, int *total_pages,
               int64_t *total_items, kn_error_t *err)
{
    Kinnet__V1__ExportDirectory op = KINNET__V1__EXPORT_DIRECTORY__INIT;
    op.page = page;
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_EXPORT_DIRECTORY;
    request.export_directory = &op;
    Kinnet__V1__AdminReply *reply = cli_admin_call (
        options, &request, KINNET__V1__ADMIN_REPLY__RESULT_DIRECTORY_EXPORT, err);
    if (!reply)
        return NULL;
    char *text = strdup (reply->directory_export->hsds);
    *total_pages = reply->directory_export->total_pages;
    *total_items = reply->directory_export->total_items;
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return text;
}

//  text as a new file at path (never over an existing one).
static int
s_export_write (const char *path, const char *text, kn_error_t *err)
{
    FILE *out = cli_out_create (path, err);
    if (!out)
        return -1;
    fputs (text, out);
    fputc ('\n', out);
    return cli_out_close (&out, path, err);
}

static int
s_export (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--out", NULL};
    const char *out = cli_arg (argc, argv, "--out");
    if (!s_options_ok (argc, argv, valued, NULL) || s_positional (argc, argv, 2)
        || (cli_flag (argc, argv, "--out") && !out))
        return s_usage_error ();
    kn_error_t err;
    kn_error_clear (&err);
    struct stat st;
    bool folder = out && stat (out, &st) == 0 && S_ISDIR (st.st_mode);
    //  Every page first, then the files: a directory that changes while it is read
    //  gives pages that disagree on their totals, and nothing is written.
    int total_pages = 0, pages = 0;
    int64_t total_items = 0;
    char **texts = kn_calloc (MAX_PAGES, sizeof *texts);
    int rc = CLI_OK;
    for (int page = 1; page <= (total_pages ? total_pages : 1); page++) {
        int page_total;
        int64_t items;
        texts[pages] = s_export_page (options, page, &page_total, &items, &err);
        if (!texts[pages])
            goto fail;
        pages++;
        if (page == 1 && (page_total < 1 || page_total > MAX_PAGES)) {
            kn_error_set (&err, KN_E_INTERNAL, "total_pages", "%d pages", page_total);
            goto fail;
        }
        if (page > 1 && (page_total != total_pages || items != total_items)) {
            kn_error_set (&err, KN_E_CONFLICT, NULL,
                          "the directory changed while it was exported: run it again");
            goto fail;
        }
        total_pages = page_total;
        total_items = items;
    }
    if (!folder && pages > 1) {
        kn_error_set (&err, KN_E_INVALID_ARGUMENT, "out",
                      "the export is %d pages: give --out an existing folder", pages);
        goto fail;
    }
    json_t *files = json_array ();
    for (int i = 0; i < pages; i++) {
        char path[PATH_MAX];
        if (folder)
            snprintf (path, sizeof path, "%s/page-%03d.json", out, i + 1);
        else
            snprintf (path, sizeof path, "%s", out ? out : "-");
        if (!out)
            printf ("%s\n", texts[i]);
        else if (s_export_write (path, texts[i], &err)) {
            json_decref (files);
            goto fail;
        }
        json_array_append_new (files, json_string (path));
    }
    if (out && options->json) {
        json_t *report = json_pack ("{s:I,s:i,s:o}", "total_items", (json_int_t) total_items,
                                    "total_pages", total_pages, "files", files);
        json_dumpf (report, stdout, JSON_INDENT (2));
        printf ("\n");
        json_decref (report);
    }
    else {
        if (out)
            printf ("exported %lld organizations in %d page%s to %s\n",
                    (long long) total_items, pages, pages == 1 ? "" : "s", out);
        json_decref (files);
    }
    goto done;
fail:
    rc = cli_fail (options, &err);
done:
    for (int i = 0; i < pages; i++)
        free (texts[i]);
    free (texts);
    return rc;
}

int
cli_directory (const cli_options_t *options, int argc, char **argv)
{
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_usage, stdout);
        return CLI_OK;
    }
    const char *action = s_positional (argc, argv, 1);
    const char *what = s_positional (argc, argv, 2);
    if (!action)
        return s_usage_error ();
    if (strcmp (action, "import") == 0)
        return s_import (options, argc, argv);
    if (strcmp (action, "show") == 0)
        return s_show (options, argc, argv);
    if (strcmp (action, "export") == 0)
        return s_export (options, argc, argv);
    if (strcmp (action, "set") == 0)
        return s_set (options, argc, argv);
    if (strcmp (action, "district") == 0 && what && strcmp (what, "set") == 0)
        return s_district_set (options, argc, argv);
    if (strcmp (action, "district") == 0 && what && strcmp (what, "list") == 0)
        return s_district_list (options, argc, argv);
    return s_usage_error ();
}
