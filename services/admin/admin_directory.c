/*  admin_directory: the agency directory as administrators see and change it: an
    HSDS import and export, the listing, a manual change to one agency, the districts. The
    work is kn_directory's and kn_directory_import's (JSON out); this file turns
    requests into their calls, in the request's kn_write, and their JSON into
    replies. */
#include "admin_ops.h"

#include <stdio.h>
#include <string.h>

#include "kn_alloc.h"
#include "kn_directory.h"
#include "kn_directory_export.h"
#include "kn_directory_import.h"
#include "kn_directory_mapping.h"
#include "kn_pb.h"
#include "kn_validate.h"

//  -------------------------------------------------------------------------
//  Import

//  The most ignored records a report lists (admin.proto, DirectoryImportReport).
#define IGNORED_MAX 1000

//  The most documents one import reads (admin.proto, ImportDirectory.hsds): the
//  pages of an export, each read whole; the request's 1 MiB bounds them anyway.
#define DOCUMENTS_MAX 1000

int
admin_validate_import (const admin_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__ImportDirectory *op = request->import_directory;
    if (admin_validate_key (op->idempotency_key, err))
        return -1;
    if (op->n_hsds == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "hsds",
                             "hsds is required: the HSDS 3.0 JSON documents");
    //  whole only says what prune may withdraw; alone it would seem to do something.
    if (op->whole && !op->prune)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "whole",
                             "whole says which agencies prune withdraws: give prune too");
    if (op->n_hsds > DOCUMENTS_MAX)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "hsds",
                             "at most %d documents in one import (found %zu)",
                             DOCUMENTS_MAX, op->n_hsds);
    for (size_t i = 0; i < op->n_hsds; i++) {
        if (!*op->hsds[i]) {
            char field[32];
            snprintf (field, sizeof field, "hsds[%zu]", i);
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, field,
                                 "an empty document: each is HSDS 3.0 JSON");
        }
    }
    return 0;
}

//  The length of each of the request's documents (at most DOCUMENTS_MAX).
static size_t *
s_lengths (const Kinnet__V1__ImportDirectory *op)
{
    size_t *lens = kn_calloc (op->n_hsds ? op->n_hsds : 1, sizeof *lens);
    for (size_t i = 0; i < op->n_hsds; i++)
        lens[i] = strlen (op->hsds[i]);
    return lens;
}

//  The mapping a request sends: "" the built-in one, otherwise its text read as
//  the same text in a mapping file would be.
static kn_directory_mapping_t *
s_mapping (const char *text, kn_error_t *err)
{
    return *text ? kn_directory_mapping_parse (text, err)
                 : kn_directory_mapping_new (NULL, err);
}

static kn_directory_prune_t
s_prune (const Kinnet__V1__ImportDirectory *op)
{
    return !op->prune  ? KN_DIRECTORY_ADD_ONLY
           : op->whole ? KN_DIRECTORY_PRUNE_WHOLE
                       : KN_DIRECTORY_PRUNE;
}

int
admin_import_directory (admin_server_t *self, const char *agency,
                        const admin_request_t *request, admin_reply_t *reply,
                        kn_error_t *err)
{
    const Kinnet__V1__ImportDirectory *op = request->import_directory;
    kn_directory_mapping_t *mapping = s_mapping (op->mapping, err);
    if (!mapping)
        return -1;
    size_t *lens = s_lengths (op);
    const char *const *texts = (const char *const *)op->hsds;
    json_t *report = NULL;
    kn_write_t w;
    kn_claim_t claim =
        admin_write_begin (self, &w, agency, "import_directory", NULL, &op->base, err);
    if (claim == KN_CLAIM_FAILED)
        goto fail;
    //  A replay says what the document means now: importing it again changes nothing,
    //  so it is the same import, undone.
    if (claim == KN_CLAIM_REPLAY &&
        (kn_db_begin_write (self->db, NULL, err) ||
         !(report = kn_directory_import_texts (self->db, texts, lens, op->n_hsds, mapping,
                                               true, s_prune (op), err)) ||
         kn_db_exec (self->db, "ROLLBACK", err)))
        goto fail;
    if (claim == KN_CLAIM_NEW &&
        (!(report = kn_directory_import_texts (self->db, texts, lens, op->n_hsds, mapping,
                                               op->dry_run, s_prune (op), err)) ||
         kn_write_commit (&w, err)))
        goto fail;
    kn_directory_mapping_destroy (&mapping);
    free (lens);
    json_object_set_new (report, "dry_run", json_boolean (op->dry_run));
    //  A reply over the message limit would not arrive; totals.ignored counts them all.
    json_t *ignored = json_object_get (report, "ignored");
    while (json_array_size (ignored) > IGNORED_MAX)
        json_array_remove (ignored, json_array_size (ignored) - 1);
    reply->import_report = (Kinnet__V1__DirectoryImportReport *)admin_from_json (
        report, &kinnet__v1__directory_import_report__descriptor, err);
    return reply->import_report ? 0 : -1;
fail:
    json_decref (report);
    kn_directory_mapping_destroy (&mapping);
    free (lens);
    if (claim == KN_CLAIM_REPLAY)
        kn_write_rollback (self->db);
    return kn_write_abort (&w);
}

//  -------------------------------------------------------------------------
//  Show

int
admin_validate_show (const admin_request_t *request, kn_error_t *err)
{
    return kn_validate_text (request->show_directory->agency, "agency", 0, 128, false,
                             err);
}

int
admin_show_directory (admin_server_t *self, const char *agency,
                      const admin_request_t *request, admin_reply_t *reply,
                      kn_error_t *err)
{
    const char *which = request->show_directory->agency;
    json_t *list = kn_directory_show (self->db, *which ? which : NULL, err);
    if (!list) {
        if (err->code == KN_E_NOT_FOUND)
            snprintf (err->field, sizeof err->field, "agency");
        return -1;
    }
    //  No limit is -1 on the wire.
    size_t index;
    json_t *item;
    json_array_foreach (list, index,
                        item) if (json_is_null (json_object_get (item, "capacity")))
        json_object_set_new (item, "capacity", json_integer (-1));
    reply->directory = (Kinnet__V1__DirectoryListing *)admin_from_json (
        json_pack ("{s:o}", "agencies", list), &kinnet__v1__directory_listing__descriptor,
        err);
    return reply->directory ? 0 : -1;
}

//  -------------------------------------------------------------------------
//  Export

int
admin_validate_export (const admin_request_t *request, kn_error_t *err)
{
    return request->export_directory->page >= 0
               ? 0
               : kn_error_set (err, KN_E_INVALID_ARGUMENT, "page",
                               "page is 1 or more (0: the first)");
}

int
admin_export_directory (admin_server_t *self, const char *agency,
                        const admin_request_t *request, admin_reply_t *reply,
                        kn_error_t *err)
{
    json_t *page = kn_directory_export (self->db, request->export_directory->page, err);
    if (!page)
        return -1;
    char *text = json_dumps (page, JSON_COMPACT);
    json_t *export = json_pack ("{s:s,s:O,s:O,s:O}", "hsds", text, "page_number",
                                json_object_get (page, "page_number"), "total_pages",
                                json_object_get (page, "total_pages"), "total_items",
                                json_object_get (page, "total_items"));
    free (text);
    json_decref (page);
    reply->directory_export = (Kinnet__V1__DirectoryExport *)admin_from_json (
        export, &kinnet__v1__directory_export__descriptor, err);
    return reply->directory_export ? 0 : -1;
}

//  -------------------------------------------------------------------------
//  Manual changes

static int
s_switch (Kinnet__V1__Switch value, const char *field, kn_error_t *err)
{
    return value == KINNET__V1__SWITCH__SWITCH_KEEP ||
                   value == KINNET__V1__SWITCH__SWITCH_ON ||
                   value == KINNET__V1__SWITCH__SWITCH_OFF
               ? 0
               : kn_error_set (err, KN_E_INVALID_ARGUMENT, field,
                               "unknown Switch value %d", (int)value);
}

int
admin_validate_set_directory (const admin_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__SetDirectoryEntry *op = request->set_directory;
    if (admin_validate_key (op->idempotency_key, err) ||
        kn_validate_uuid (op->agency_id, "agency_id", err) ||
        s_switch (op->accepting, "accepting", err) ||
        s_switch (op->interpreters, "interpreters", err))
        return -1;
    return !op->set_capacity || (op->capacity >= -1 && op->capacity <= 1000000)
               ? 0
               : kn_error_set (err, KN_E_INVALID_ARGUMENT, "capacity",
                               "capacity is -1 (no limit) to 1,000,000");
}

static int
s_switched (Kinnet__V1__Switch value)
{
    return value == KINNET__V1__SWITCH__SWITCH_KEEP
               ? KN_DIRECTORY_KEEP
               : value == KINNET__V1__SWITCH__SWITCH_ON;
}

//  A change report ({"agency_id" or "code", "result"?, "changes"}) as a DirectoryChange.
static int
s_change (json_t *report, const char *id_key, admin_reply_t *reply, kn_error_t *err)
{
    json_t *changes = json_object_get (report, "changes");
    const char *result = json_string_value (json_object_get (report, "result"));
    if (!result)
        result = json_array_size (changes) ? "changed" : "unchanged";
    reply->change = (Kinnet__V1__DirectoryChange *)admin_from_json (
        json_pack ("{s:O,s:s,s:O}", "id", json_object_get (report, id_key), "result",
                   result, "changes", changes),
        &kinnet__v1__directory_change__descriptor, err);
    json_decref (report);
    return reply->change ? 0 : -1;
}

//  The answer to a replayed change: what it names, unchanged now.
static json_t *
s_unchanged (const char *id_key, const char *id)
{
    return json_pack ("{s:s,s:s,s:[]}", id_key, id, "result", "unchanged", "changes");
}

int
admin_set_directory (admin_server_t *self, const char *agency,
                     const admin_request_t *request, admin_reply_t *reply,
                     kn_error_t *err)
{
    const Kinnet__V1__SetDirectoryEntry *op = request->set_directory;
    kn_directory_change_t change = {.accepting = s_switched (op->accepting),
                                    .interpreters = s_switched (op->interpreters),
                                    .capacity = !op->set_capacity  ? KN_DIRECTORY_KEEP
                                                : op->capacity < 0 ? KN_DIRECTORY_NO_LIMIT
                                                                   : op->capacity};
    json_t *report = NULL;
    kn_write_t w;
    kn_claim_t claim = admin_write_begin (self, &w, agency, "set_directory",
                                          op->agency_id, &op->base, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    if (claim == KN_CLAIM_REPLAY)
        report = s_unchanged ("agency_id", op->agency_id);
    else if (!(report = kn_directory_set (self->db, op->agency_id, &change, err)) ||
             kn_write_commit (&w, err))
        goto fail;
    return s_change (report, "agency_id", reply, err);
fail:
    json_decref (report);
    return kn_write_abort (&w);
}

int
admin_validate_set_district (const admin_request_t *request, kn_error_t *err)
{
    const Kinnet__V1__SetDistrict *op = request->set_district;
    if (admin_validate_key (op->idempotency_key, err) ||
        kn_validate_text (op->code, "code", 1, 64, false, err) ||
        kn_validate_text (op->name, "name", 0, 200, false, err))
        return -1;
    return !*op->lead || strcmp (op->lead, "none") == 0 || kn_uuid_valid (op->lead)
               ? 0
               : kn_error_set (err, KN_E_INVALID_ARGUMENT, "lead",
                               "lead is an agency id (UUID), none, or empty to keep it");
}

int
admin_set_district (admin_server_t *self, const char *agency,
                    const admin_request_t *request, admin_reply_t *reply, kn_error_t *err)
{
    const Kinnet__V1__SetDistrict *op = request->set_district;
    const char *name = *op->name ? op->name : NULL;
    const char *lead = !*op->lead ? NULL : strcmp (op->lead, "none") == 0 ? "" : op->lead;
    json_t *report = NULL;
    kn_write_t w;
    kn_claim_t claim =
        admin_write_begin (self, &w, agency, "set_district", NULL, &op->base, err);
    if (claim == KN_CLAIM_FAILED)
        return -1;
    w.audit.basis = op->code; //  the trail says which district changed
    if (claim == KN_CLAIM_REPLAY)
        report = s_unchanged ("code", op->code);
    else if (!(report =
                   kn_directory_district_set (self->db, op->code, name, lead, err)) ||
             kn_write_commit (&w, err))
        goto fail;
    return s_change (report, "code", reply, err);
fail:
    json_decref (report);
    return kn_write_abort (&w);
}

int
admin_list_districts (admin_server_t *self, const char *agency,
                      const admin_request_t *request, admin_reply_t *reply,
                      kn_error_t *err)
{
    json_t *list = kn_directory_district_list (self->db, err);
    if (!list)
        return -1;
    reply->districts = (Kinnet__V1__DistrictList *)admin_from_json (
        json_pack ("{s:o}", "districts", list), &kinnet__v1__district_list__descriptor,
        err);
    return reply->districts ? 0 : -1;
}
