/*  kn_directory_mapping: how HSDS vocabulary becomes Kinnet's.

    A mapping file (JSON, docs/directory.md) says which taxonomy terms mean which
    needs, sectors and interpreting, which service areas are which districts, which
    language names are which codes, which capacity units count, and which HSDS
    organizations are agencies Kinnet already has. It is read and checked whole
    before any HSDS file is, so a mistake names its member ("mapping.needs.RS-HSG")
    and nothing else happens. Terms and names are looked up ignoring ASCII case and
    surrounding blanks (kn_directory_fold): publishers are not consistent about
    either. Pure: no database, no I/O beyond reading the mapping file itself. */
#ifndef KN_DIRECTORY_MAPPING_H_INCLUDED
#define KN_DIRECTORY_MAPPING_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "kn_error.h"
#include "kn_uuid.h"

typedef struct _kn_directory_mapping_t kn_directory_mapping_t;

//  Load a mapping file (JSON, docs/directory.md); path NULL: the built-in default,
//  which also knows every NeedCategory and AgencySector name as a term.
//  Errors name the offending member, e.g. field "mapping.needs.Counselling".
kn_directory_mapping_t *kn_directory_mapping_new (const char *path, kn_error_t *err);

//  The same from JSON text: exactly what a mapping file holding text means (a file
//  gets no built-in names either), so a mapping sent to the admin service means
//  what the same file did. Only the wording of a JSON syntax error differs.
kn_directory_mapping_t *kn_directory_mapping_parse (const char *text, kn_error_t *err);

void kn_directory_mapping_destroy (kn_directory_mapping_t **self_p);

//  A set of NeedCategory values. They are 1..100 (core.agency_need's CHECK), so a
//  set fits 128 bits.
typedef struct {
    uint64_t bits[2];
} kn_directory_needs_t;

static inline void
kn_directory_needs_add (kn_directory_needs_t *self, int need)
{
    self->bits[need / 64] |= (uint64_t)1 << (need % 64);
}

static inline bool
kn_directory_needs_has (const kn_directory_needs_t *self, int need)
{
    return (self->bits[need / 64] >> (need % 64)) & 1;
}

static inline bool
kn_directory_needs_empty (const kn_directory_needs_t *self)
{
    return self->bits[0] == 0 && self->bits[1] == 0;
}

static inline void
kn_directory_needs_merge (kn_directory_needs_t *self, const kn_directory_needs_t *other)
{
    self->bits[0] |= other->bits[0];
    self->bits[1] |= other->bits[1];
}

//  One HSDS organization the mapping ties to Kinnet ("organizations").
typedef struct {
    char agency_id[KN_UUID_STR]; // "" unless linked to an existing agency
    char sector[40];             // "" when the mapping does not say
    char *district;              // NULL when the mapping does not say
} kn_directory_link_t;

//  Lookups. A NULL term or name finds nothing. Results belong to the mapping.
const kn_directory_needs_t *
kn_directory_mapping_needs (const kn_directory_mapping_t *self, const char *term);
bool kn_directory_mapping_interpreting (const kn_directory_mapping_t *self,
                                        const char *term);
//  An AgencySector name in lower case ("school"), or NULL.
const char *kn_directory_mapping_sector (const kn_directory_mapping_t *self,
                                         const char *term);
//  District codes of a service area id or name, or NULL. Read only: iterate it, do
//  not change it.
zlistx_t *kn_directory_mapping_districts (const kn_directory_mapping_t *self,
                                          const char *area);
//  A language name's primary subtag (kn_language_primary), or NULL.
const char *kn_directory_mapping_language (const kn_directory_mapping_t *self,
                                           const char *name);
bool kn_directory_mapping_counts_unit (const kn_directory_mapping_t *self,
                                       const char *unit);
//  By the HSDS organization id exactly as the file spells it; NULL when none.
const kn_directory_link_t *kn_directory_mapping_link (const kn_directory_mapping_t *self,
                                                      const char *organization_id);
//  The sector of organizations nothing else gives one; "" when none.
const char *kn_directory_mapping_default_sector (const kn_directory_mapping_t *self);
//  Every district code the mapping gives ("districts", "organizations.ID.district")
//  must be one of the count known_codes (core.district's): otherwise
//  KN_E_INVALID_ARGUMENT, field the first unknown code's member (e.g.
//  "mapping.districts.North Riverside"), the message naming every unknown code
//  and `kinnet admin directory district set`. The built-in mapping gives none.
//  0 or -1 with err.
int kn_directory_mapping_check_districts (const kn_directory_mapping_t *self,
                                          const char *const *known_codes, size_t count,
                                          kn_error_t *err);
//  Whether a service's "interpretation_services" text means it has interpreters.
bool kn_directory_mapping_interpretation_field (const kn_directory_mapping_t *self);

//  text as the directory compares names: ASCII lower case, surrounding blanks
//  removed. Caller frees.
char *kn_directory_fold (const char *text);

//  The item of hash (keys folded) under key folded; NULL when key or hash is NULL
//  or nothing is there. The mapping's lookups and the reader's districts alike.
void *kn_directory_lookup (zhashx_t *hash, const char *key);

//  A district code as core.district takes it: 1 to 64 bytes, no control characters.
bool kn_directory_district_code_ok (const char *code);

#endif
