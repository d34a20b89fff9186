/*  kn_hsds: the HSDS 3.0 reader, from JSON documents to organizations.

    Documents are walked in order; each record is told by its members
    (kn_hsds_shape) and its members are read by kn_hsds_record. Records are put
    together by id: an organization given in several places (its own record, in
    each of its services, on two pages) is one organization, and a service given
    several times (once per location, on a page and inside its organization) is
    one service whose appearances are united, so nothing counts twice. What an
    organization offers is added up only after the last document, because a
    service may name by organization_id an organization a later page gives. */
#include "kn_hsds.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kn_alloc.h"
#include "kn_hsds_record.h"
#include "kn_hsds_shape.h"

//  An organization and where the reader has seen it.
typedef struct {
    kn_hsds_org_t org;   // first, so a pointer to one is a pointer to the other
    int record_document; // the document giving its organization record; -1: none yet
} s_org_t;

struct _kn_hsds_t {
    s_org_t **orgs; // order of first appearance
    size_t size, room;
    zhashx_t *by_id; // id -> s_org_t * (not owned)
    json_t *ignored;
    //  The API list pages read, for kn_hsds_whole.
    int pages;              // documents that are pages
    int total_pages;        // what the first page says; -1: pages disagree or lack it
    json_int_t total_items; // likewise
    zlistx_t *page_numbers; // each page's page_number as text; "" when it lacks one
};

//  A service and the union of its appearances.
typedef struct {
    char *id, *name;
    s_org_t *org;
    char path[128]; // its first appearance
    bool active;
    kn_hsds_offer_t offer;
} s_service_t;

//  A service naming by organization_id an organization not read yet.
typedef struct {
    json_t *service, *at_location; // borrowed: the documents live until the end
    char path[128], at_path[128];
} s_pending_t;

//  One read in progress.
typedef struct {
    kn_hsds_reader_t read;
    kn_hsds_t *hsds;
    zhashx_t *services;     // id -> s_service_t * (not owned)
    zlistx_t *service_list; // s_service_t *, order of first appearance
    zlistx_t *pending;      // s_pending_t *
    int document;           // the document being read
    char prefix[32];        // "hsds[2]" when there are several, else ""
} s_walk_t;

//  -------------------------------------------------------------------------
//  Organizations

static void
s_org_destroy (s_org_t **self_p)
{
    if (!*self_p)
        return;
    s_org_t *self = *self_p;
    free (self->org.id);
    free (self->org.name);
    kn_hsds_offer_fini (&self->org.active);
    kn_hsds_offer_fini (&self->org.mapped);
    zlistx_destroy (&self->org.services);
    free (self);
    *self_p = NULL;
}

static void
s_append (kn_hsds_t *self, s_org_t *org)
{
    if (self->size == self->room) {
        self->room = self->room ? 2 * self->room : 16;
        self->orgs = kn_realloc (self->orgs, self->room * sizeof *self->orgs);
    }
    self->orgs[self->size++] = org;
}

//  tail under the document's prefix: "hsds[2].contents[4]", "hsds[2][4]", or tail.
static void
s_join (const s_walk_t *self, char out[128], const char *tail)
{
    if (!*self->prefix)
        kn_hsds_path (out, "%s", tail);
    else
        kn_hsds_path (out, "%s%s%s", self->prefix, *tail && *tail != '[' ? "." : "",
                      tail);
}

//  The organization object at path. record: its own record (alone, in an array,
//  a page or "organizations"), not the copy a service carries. An id seen before
//  is the same organization; its own attributes are read the first time it
//  appears and again from its record, which may say more than a service's copy.
static s_org_t *
s_organization (s_walk_t *self, json_t *object, const char *path, bool record)
{
    kn_hsds_reader_t *read = &self->read;
    if (!json_is_object (object)) {
        kn_hsds_invalid (read, NULL, path, "an organization must be an object (found %s)",
                         kn_hsds_found (object));
        return NULL;
    }
    const char *id, *name;
    if (kn_hsds_required (read, NULL, object, path, "id", 200, &id))
        return NULL;
    s_org_t *org = zhashx_lookup (self->hsds->by_id, id);
    bool first = org == NULL;
    char field[128];
    if (org && record && org->record_document == self->document) {
        kn_hsds_path (field, "%s.id", path);
        kn_hsds_invalid (read, id, field, "organization id given twice (first at %s)",
                         org->org.path);
        return NULL;
    }
    if (first) {
        org = kn_calloc (1, sizeof *org);
        org->org.id = kn_strdup (id);
        org->record_document = -1;
        snprintf (org->org.path, sizeof org->org.path, "%s", path);
        kn_hsds_offer_init (&org->org.active);
        kn_hsds_offer_init (&org->org.mapped);
        org->org.services = zlistx_new ();
        if (!org->org.services)
            abort (); // out of memory: nothing sensible to answer
        zlistx_set_destructor (org->org.services, kn_hsds_service_entry_destroy);
        s_append (self->hsds, org);
        zhashx_insert (self->hsds->by_id, id, org);
    }
    if (kn_hsds_required (read, id, object, path, "name", 200, &name))
        return NULL;
    if (first)
        org->org.name = kn_strdup (name);
    else if (strcmp (name, org->org.name)) {
        kn_hsds_path (field, "%s.name", path);
        kn_hsds_invalid (read, id, field, "the name is '%.50s' here but '%.50s' at %s",
                         name, org->org.name, org->org.path);
        return NULL;
    }
    //  The mapping's word on the sector wins over terms.
    const kn_directory_link_t *link = kn_directory_mapping_link (read->mapping, id);
    if (first && link && *link->sector)
        snprintf (org->org.sector, sizeof org->org.sector, "%s", link->sector);
    bool read_terms = first || (record && org->record_document < 0);
    if (record && org->record_document < 0)
        org->record_document = self->document;
    read->again = !first;
    int rc = read_terms
                 ? kn_hsds_terms (read, id, object, path, NULL, NULL, org->org.sector)
                 : 0;
    read->again = false;
    return rc ? NULL : org;
}

//  -------------------------------------------------------------------------
//  Services

//  One appearance of a service of org (at_location: the service_at_location that
//  carries it, or NULL), united with the service's earlier ones.
static int
s_service_add (s_walk_t *self, s_org_t *org, json_t *service, const char *path,
               json_t *at_location, const char *at_path)
{
    kn_hsds_reader_t *read = &self->read;
    const char *org_id = org->org.id;
    const char *id = json_string_value (json_object_get (service, "id"));
    s_service_t *known = id ? zhashx_lookup (self->services, id) : NULL;
    kn_hsds_service_t got = {0};
    kn_hsds_offer_init (&got.offer);
    read->again = known != NULL;
    int rc = kn_hsds_service_read (read, org_id, org->org.sector, service, path, &got);
    if (rc == 0 && at_location)
        rc = kn_hsds_at_location_read (read, org_id, org->org.sector, at_location,
                                       at_path, &got.offer);
    read->again = false;
    char field[128];
    if (rc == 0 && known && known->org != org)
        rc = kn_hsds_invalid (read, org_id, path,
                              "service '%.60s' is given for organization '%.60s' at %s",
                              got.id, known->org->org.id, known->path);
    else if (rc == 0 && known && known->active != got.active) {
        kn_hsds_path (field, "%s.status", path);
        rc = kn_hsds_invalid (read, org_id, field,
                              "service '%.60s' is %s here but %s at %s", got.id,
                              got.active ? "active" : "not active",
                              known->active ? "active" : "not active", known->path);
    } else if (rc == 0 && known)
        kn_hsds_offer_merge (&known->offer, &got.offer, false);
    else if (rc == 0) {
        s_service_t *added = kn_calloc (1, sizeof *added);
        added->id = kn_strdup (got.id);
        added->name = kn_strdup (got.name);
        added->org = org;
        added->active = got.active;
        snprintf (added->path, sizeof added->path, "%s", path);
        added->offer = got.offer; // taken
        kn_hsds_offer_init (&got.offer);
        zlistx_add_end (self->service_list, added);
        zhashx_insert (self->services, added->id, added);
    }
    kn_hsds_offer_fini (&got.offer);
    return rc;
}

//  The service at path, of container when it is listed in an organization's
//  "services"; else of the organization it carries or names.
static int
s_service (s_walk_t *self, json_t *service, const char *path, s_org_t *container,
           json_t *at_location, const char *at_path)
{
    kn_hsds_reader_t *read = &self->read;
    const char *container_id = container ? container->org.id : NULL;
    if (!json_is_object (service))
        return kn_hsds_invalid (read, container_id, path,
                                "a service must be an object (found %s)",
                                kn_hsds_found (service));
    json_t *object = kn_hsds_member (service, "organization");
    const char *org_id;
    if (kn_hsds_string (read, container_id, service, path, "organization_id", &org_id))
        return -1;
    char field[128];
    kn_hsds_path (field, "%s.organization", path);
    s_org_t *org = container;
    if (object) {
        org = s_organization (self, object, field, false);
        if (!org)
            return -1;
        if (container && org != container)
            return kn_hsds_invalid (read, container_id, field,
                                    "the service of one organization carries another");
    }
    if (org && org_id && strcmp (org_id, org->org.id)) {
        kn_hsds_path (field, "%s.organization_id", path);
        return kn_hsds_invalid (read, org->org.id, field,
                                "'organization_id' is '%.60s', not its organization's id",
                                org_id);
    }
    if (!org && org_id)
        org = zhashx_lookup (self->hsds->by_id, org_id);
    if (!org && org_id) {
        //  Its organization may be on a later page: read it at the end.
        s_pending_t *pending = kn_calloc (1, sizeof *pending);
        pending->service = service;
        pending->at_location = at_location;
        snprintf (pending->path, sizeof pending->path, "%s", path);
        snprintf (pending->at_path, sizeof pending->at_path, "%s",
                  at_path ? at_path : "");
        zlistx_add_end (self->pending, pending);
        return 0;
    }
    if (!org)
        return kn_hsds_invalid (read, NULL, field,
                                "'organization' is required: a service carries its "
                                "organization or names it by 'organization_id'");
    return s_service_add (self, org, service, path, at_location, at_path);
}

//  A service_at_location: its service, with the areas and terms of this place.
//  One without its service object (the tabular form's service_id) says nothing
//  Kinnet can use: reported, not refused.
static int
s_at_location (s_walk_t *self, json_t *at_location, const char *path)
{
    json_t *service = kn_hsds_member (at_location, "service");
    if (!service) {
        kn_hsds_ignore (
            &self->read, NULL, path,
            "service_at_location without its 'service' object: nothing to read");
        return 0;
    }
    char field[128];
    kn_hsds_path (field, "%s.service", path);
    return s_service (self, service, field, NULL, at_location, path);
}

//  -------------------------------------------------------------------------
//  Records and documents

static int
s_record (s_walk_t *self, json_t *record, const char *path, kn_hsds_kind_t kind)
{
    if (kind == KN_HSDS_SERVICE)
        return s_service (self, record, path, NULL, NULL, NULL);
    if (kind == KN_HSDS_SERVICE_AT_LOCATION)
        return s_at_location (self, record, path);
    s_org_t *org = s_organization (self, record, path, true);
    json_t *services;
    if (!org ||
        kn_hsds_array (&self->read, org->org.id, record, path, "services", &services))
        return -1;
    //  Its own record listing its services says which services it has now.
    if (services)
        org->org.authoritative = true;
    char field[128];
    size_t index;
    json_t *service;
    json_array_foreach (services, index, service)
    {
        kn_hsds_path (field, "%s.services[%zu]", path, index);
        if (s_service (self, service, field, org, NULL, NULL))
            return -1;
    }
    return 0;
}

//  The records of array, each told by its members. name: the array's member
//  ("contents"); NULL at the top level, where a record is named by its kind.
static int
s_records (s_walk_t *self, json_t *array, const char *name)
{
    char tail[128], path[128], why[220];
    size_t index;
    json_t *record;
    json_array_foreach (array, index, record)
    {
        kn_hsds_kind_t kind = kn_hsds_shape_record (record, why, sizeof why);
        if (name)
            kn_hsds_path (tail, "%s[%zu]", name, index);
        else if (kind != KN_HSDS_UNKNOWN)
            kn_hsds_path (tail, "%s[%zu]", kn_hsds_kind_plural (kind), index);
        else
            kn_hsds_path (tail, "[%zu]", index);
        s_join (self, path, tail);
        if (kind == KN_HSDS_UNKNOWN)
            return kn_hsds_invalid (&self->read, NULL, path, "%s", why);
        if (s_record (self, record, path, kind))
            return -1;
    }
    return 0;
}

//  Kinnet's own bundle: "organizations" (read first, so that "services" may name
//  them by organization_id) and "services", each named by its array.
static int
s_bundle (s_walk_t *self, json_t *root)
{
    static const struct {
        const char *name;
        kn_hsds_kind_t kind;
    } arrays[] = {{"organizations", KN_HSDS_ORGANIZATION}, {"services", KN_HSDS_SERVICE}};
    for (size_t i = 0; i < 2; i++) {
        json_t *array;
        if (kn_hsds_array (&self->read, NULL, root, self->prefix, arrays[i].name, &array))
            return -1;
        char tail[128], path[128];
        size_t index;
        json_t *record;
        json_array_foreach (array, index, record)
        {
            kn_hsds_path (tail, "%s[%zu]", arrays[i].name, index);
            s_join (self, path, tail);
            if (s_record (self, record, path, arrays[i].kind))
                return -1;
        }
    }
    return 0;
}

//  A page's numbers, for kn_hsds_whole. A missing or odd one makes the whole
//  unprovable, which only --prune minds.
static void
s_page_seen (kn_hsds_t *self, json_t *page)
{
    json_t *total_pages = json_object_get (page, "total_pages");
    json_t *total_items = json_object_get (page, "total_items");
    json_t *number = json_object_get (page, "page_number");
    //  More pages than one import may hold (admin_directory: 1,000) is never whole.
    json_int_t value =
        json_is_integer (total_pages) ? json_integer_value (total_pages) : -1;
    int pages = value >= 1 && value <= 100000 ? (int)value : -1;
    json_int_t items =
        json_is_integer (total_items) ? json_integer_value (total_items) : -1;
    if (self->pages++ == 0) {
        self->total_pages = pages;
        self->total_items = items;
    } else if (pages != self->total_pages || items != self->total_items)
        self->total_pages = -1;
    if (items < 0)
        self->total_pages = -1;
    char text[24] = "";
    if (json_is_integer (number))
        snprintf (text, sizeof text, "%lld", (long long)json_integer_value (number));
    zlistx_add_end (self->page_numbers, text);
}

static int
s_document (s_walk_t *self, json_t *root)
{
    char why[220], path[128];
    kn_hsds_kind_t kind;
    json_t *contents;
    switch (kn_hsds_shape_document (root, why, sizeof why)) {
    case KN_HSDS_DOC_RECORD:
        kind = kn_hsds_shape_record (root, why, sizeof why);
        if (kind == KN_HSDS_UNKNOWN)
            return kn_hsds_invalid (&self->read, NULL, self->prefix, "%s", why);
        s_join (self, path, kn_hsds_kind_name (kind));
        return s_record (self, root, path, kind);
    case KN_HSDS_DOC_ARRAY:
        return s_records (self, root, NULL);
    case KN_HSDS_DOC_PAGE:
        //  total_items, page_number and the rest say which page this is; the
        //  records are what counts, and pages may come in any order.
        if (kn_hsds_array (&self->read, NULL, root, self->prefix, "contents", &contents))
            return -1;
        s_page_seen (self->hsds, root);
        return s_records (self, contents, "contents");
    case KN_HSDS_DOC_BUNDLE:
        return s_bundle (self, root);
    default:
        return kn_hsds_invalid (&self->read, NULL, self->prefix, "%s", why);
    }
}

//  After the last document: the services waiting for their organization, then
//  what each organization's services offer.
static int
s_finish (s_walk_t *self)
{
    kn_hsds_reader_t *read = &self->read;
    char field[128];
    for (s_pending_t *pending = zlistx_first (self->pending); pending;
         pending = zlistx_next (self->pending)) {
        const char *org_id =
            json_string_value (json_object_get (pending->service, "organization_id"));
        s_org_t *org = zhashx_lookup (self->hsds->by_id, org_id);
        kn_hsds_path (field, "%s.organization", pending->path);
        if (!org)
            return kn_hsds_invalid (
                read, NULL, field,
                "'organization' is required (or an organization_id of "
                "one of the import's organizations; '%.60s' is none)",
                org_id);
        if (s_service_add (self, org, pending->service, pending->path,
                           pending->at_location,
                           *pending->at_path ? pending->at_path : NULL))
            return -1;
    }
    for (s_service_t *service = zlistx_first (self->service_list); service;
         service = zlistx_next (self->service_list)) {
        kn_hsds_org_t *org = &service->org->org;
        kn_hsds_service_entry_t *entry = kn_calloc (1, sizeof *entry);
        entry->id = kn_strdup (service->id);
        entry->active = service->active;
        kn_hsds_offer_init (&entry->offer);
        kn_hsds_offer_merge (&entry->offer, &service->offer, false);
        zlistx_add_end (org->services, entry);
        if (kn_directory_needs_empty (&service->offer.needs)) {
            kn_hsds_ignore (read, org->id, service->path,
                            "service '%.80s' has no taxonomy term that maps to a need",
                            service->name);
            continue;
        }
        kn_hsds_offer_merge (&org->mapped, &service->offer, true);
        org->mapped_count++;
        if (service->active) {
            kn_hsds_offer_merge (&org->active, &service->offer, true);
            org->active_count++;
        }
        if (org->mapped.capacity > INT_MAX)
            return kn_hsds_invalid (read, org->id, service->path,
                                    "the organization's capacity is over %d", INT_MAX);
    }
    return 0;
}

//  -------------------------------------------------------------------------
//  The interface

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_service_destroy (void **item)
{
    s_service_t *service = *item;
    free (service->id);
    free (service->name);
    kn_hsds_offer_fini (&service->offer);
    free (service);
    *item = NULL;
}

//  The documents (count of them, taken) into organizations; NULL with err.
static kn_hsds_t *
s_read (json_t **roots, size_t count, const kn_directory_mapping_t *mapping,
        const kn_hsds_district_t *districts, size_t district_count, kn_error_t *err)
{
    assert (mapping);
    kn_hsds_t *hsds = kn_calloc (1, sizeof *hsds);
    hsds->by_id = zhashx_new ();
    hsds->ignored = json_array ();
    hsds->page_numbers = zlistx_new ();
    if (!hsds->page_numbers)
        abort (); // out of memory: nothing sensible to answer
    zlistx_set_destructor (hsds->page_numbers, (zlistx_destructor_fn *)zstr_free);
    zlistx_set_duplicator (hsds->page_numbers, (zlistx_duplicator_fn *)strdup);
    s_walk_t self = {.hsds = hsds,
                     .services = zhashx_new (),
                     .service_list = zlistx_new (),
                     .pending = zlistx_new ()};
    self.read = (kn_hsds_reader_t){.mapping = mapping,
                                   .district_names = zhashx_new (),
                                   .ignored = hsds->ignored,
                                   .reasons = zhashx_new (),
                                   .err = err};
    if (!hsds->by_id || !hsds->ignored || !self.services || !self.service_list ||
        !self.pending || !self.read.district_names || !self.read.reasons)
        abort (); // out of memory: nothing sensible to answer
    zlistx_set_destructor (self.service_list, s_service_destroy);
    zlistx_set_destructor (self.pending, s_free_item);
    zhashx_set_destructor (self.read.district_names, s_free_item);
    //  Codes first, so that a code never loses to another district's name.
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < district_count; i++) {
            const char *key = pass ? districts[i].name : districts[i].code;
            if (!key || !districts[i].code)
                continue;
            char *folded = kn_directory_fold (key);
            char *code = kn_strdup (districts[i].code);
            if (!*folded || zhashx_insert (self.read.district_names, folded, code) != 0)
                free (code);
            free (folded);
        }
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        self.document = (int)i;
        if (count > 1)
            snprintf (self.prefix, sizeof self.prefix, "hsds[%zu]", i);
        rc = s_document (&self, roots[i]);
    }
    if (rc == 0)
        rc = s_finish (&self);
    zlistx_destroy (&self.pending);
    zlistx_destroy (&self.service_list);
    zhashx_destroy (&self.services);
    zhashx_destroy (&self.read.reasons);
    zhashx_destroy (&self.read.district_names);
    for (size_t i = 0; i < count; i++)
        json_decref (roots[i]);
    if (rc)
        kn_hsds_destroy (&hsds);
    return hsds;
}

//  A JSON error as the reader's: field "file" (one document) or "hsds[i]".
static void
s_json_error (const json_error_t *error, const char *field, kn_error_t *err)
{
    if (error->line < 0)
        kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "%s", error->text);
    else
        kn_error_set (err, KN_E_INVALID_ARGUMENT, field,
                      "invalid JSON at line %d column %d: %s", error->line, error->column,
                      error->text);
}

kn_hsds_t *
kn_hsds_parse_all (const char *const *texts, const size_t *lens, size_t count,
                   const kn_directory_mapping_t *mapping,
                   const kn_hsds_district_t *districts, size_t district_count,
                   kn_error_t *err)
{
    json_t **roots = kn_calloc (count ? count : 1, sizeof *roots);
    for (size_t i = 0; i < count; i++) {
        json_error_t error;
        roots[i] = json_loadb (texts[i], lens[i], JSON_REJECT_DUPLICATES, &error);
        if (!roots[i]) {
            char field[32];
            snprintf (field, sizeof field, count > 1 ? "hsds[%zu]" : "file", i);
            s_json_error (&error, field, err);
            while (i > 0)
                json_decref (roots[--i]);
            free (roots);
            return NULL;
        }
    }
    kn_hsds_t *hsds = s_read (roots, count, mapping, districts, district_count, err);
    free (roots);
    return hsds;
}

kn_hsds_t *
kn_hsds_parse (const char *text, size_t len, const kn_directory_mapping_t *mapping,
               const kn_hsds_district_t *districts, size_t count, kn_error_t *err)
{
    return kn_hsds_parse_all (&text, &len, 1, mapping, districts, count, err);
}

kn_hsds_t *
kn_hsds_load (const char *path, const kn_directory_mapping_t *mapping,
              const kn_hsds_district_t *districts, size_t count, kn_error_t *err)
{
    json_error_t error;
    json_t *root = json_load_file (path, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        s_json_error (&error, "file", err);
        return NULL;
    }
    return s_read (&root, 1, mapping, districts, count, err);
}

void
kn_hsds_destroy (kn_hsds_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kn_hsds_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++)
        s_org_destroy (&self->orgs[i]);
    free (self->orgs);
    zhashx_destroy (&self->by_id);
    json_decref (self->ignored);
    zlistx_destroy (&self->page_numbers);
    free (self);
    *self_p = NULL;
}

size_t
kn_hsds_size (const kn_hsds_t *self)
{
    return self->size;
}

const kn_hsds_org_t *
kn_hsds_get (const kn_hsds_t *self, size_t index)
{
    return index < self->size ? &self->orgs[index]->org : NULL;
}

const kn_hsds_org_t *
kn_hsds_find (const kn_hsds_t *self, const char *id)
{
    s_org_t *org = id ? zhashx_lookup (self->by_id, id) : NULL;
    return org ? &org->org : NULL;
}

json_t *
kn_hsds_ignored (const kn_hsds_t *self)
{
    return self->ignored;
}

int
kn_hsds_pages (const kn_hsds_t *self)
{
    return self->pages;
}

bool
kn_hsds_whole (const kn_hsds_t *self, char *why, size_t size)
{
    if (self->pages == 0)
        return true;
    if (self->total_pages < 1 || self->total_pages > 100000) {
        snprintf (why, size,
                  "the pages do not all give the same total_pages and total_items");
        return false;
    }
    bool *seen = kn_calloc ((size_t)self->total_pages + 1, sizeof *seen);
    const char *odd = NULL;
    for (const char *text = zlistx_first (self->page_numbers); text && !odd;
         text = zlistx_next (self->page_numbers)) {
        char *end;
        long number = strtol (text, &end, 10);
        if (!*text || *end || number < 1 || number > self->total_pages || seen[number])
            odd = *text ? text : "(none)";
        else
            seen[number] = true;
    }
    if (odd) {
        snprintf (why, size, "page_number %s is missing, repeated or not in 1 to %d", odd,
                  self->total_pages);
        free (seen);
        return false;
    }
    char list[200] = "";
    size_t used = 0;
    int missing = 0;
    for (int number = 1; number <= self->total_pages; number++) {
        if (seen[number])
            continue;
        if (used < sizeof list)
            used += (size_t)snprintf (list + used, sizeof list - used, "%s%d",
                                      missing ? ", " : "", number);
        missing++;
    }
    if (missing)
        snprintf (why, size, "page%s %s of %d %s missing", missing > 1 ? "s" : "", list,
                  self->total_pages, missing > 1 ? "are" : "is");
    free (seen);
    return missing == 0;
}

const kn_hsds_offer_t *
kn_hsds_offer (const kn_hsds_org_t *org)
{
    return org->active_count ? &org->active : &org->mapped;
}
