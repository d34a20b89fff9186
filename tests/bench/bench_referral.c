/*  bench_referral: realistic referral bodies, one family derived per number. */
#include "bench_referral.h"

#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinnet/v1/intake.pb-c.h"

#define MAX_CHILDREN    3
#define MAX_GUARDIANS   2
#define MAX_NEEDS       4
#define MAX_LANGUAGES   2
#define MIN_NARRATIVE   50
#define MAX_NARRATIVE   2000

struct _bench_families_t {
    uint64_t salt;
    double repeat_share;
    atomic_uint_fast64_t next;   // families referred so far in this run
};

//  One family, as derived from its number: what a referral about it says.
typedef struct {
    const char *family_name;
    int children;
    const char *given[MAX_CHILDREN];
    char dob[MAX_CHILDREN][11];
    const char *languages[MAX_LANGUAGES];
    int n_languages;
    int guardians;
    const char *guardian_given[MAX_GUARDIANS];
    int relationship[MAX_GUARDIANS];
    char phone[MAX_GUARDIANS][16];
} family_t;

struct _bench_referral_t {
    bench_families_t *families;
    uint64_t rng;
    char key_prefix[96];
    uint64_t sequence;
    family_t family;
    char key[128];
    char caseworker[16];
    char narrative[MAX_NEEDS][MAX_NARRATIVE + 1];
    size_t narrative_bytes;
    int children;
    int needs;
    uint8_t *buffer;
    size_t buffer_size;
};

//  -------------------------------------------------------------------------
//  Vocabulary. Names include non-ASCII letters on purpose: the blind index
//  normalises UTF-8.

static const char *s_family_names[] = {
    "Kowalska", "Nowak", "Smith", "Okafor", "Haddad", "Ivanenko", "Popescu", "Ahmed",
    "Jones", "Müller", "García", "Nguyen", "O'Brien", "Mensah", "Rossi", "Yılmaz",
    "Hussain", "Taylor", "Kaczmarek", "Dubois", "Silva", "Begum", "Murphy", "Shevchenko",
    "Abdi", "Evans", "Novák", "Fernandes", "Walker", "Łukasik", "Osei", "Khan",
};
static const char *s_given_names[] = {
    "Amelia", "Oliver", "Zofia", "Mohammed", "Olena", "Noah", "Aisha", "Jakub",
    "Isla", "Leo", "Chloé", "Yusuf", "Maja", "Kwame", "Sofia", "Dmytro", "Ava",
    "Ibrahim", "Lily", "Mateusz", "Nia", "Arjun", "Emily", "Tomás", "Hana", "Jayden",
    "Fatima", "Oskar", "Grace", "Elif", "Liam", "Zoë",
};
static const char *s_adult_names[] = {
    "Anna", "Mark", "Oksana", "Samir", "Joanna", "David", "Amina", "Piotr",
    "Sarah", "Kofi", "Maria", "Andrei", "Claire", "Hassan", "Ewa", "Paul",
};
static const char *s_languages[] = {
    "en", "pl", "ar", "uk", "ro", "so", "ur", "pt-BR", "es", "tr", "bn", "fr",
};
static const char *s_districts[] = {
    "north", "south", "east", "west", "central", "riverside", "hillside", "docks",
};
static const char *s_justifications[] = {
    "Early help assessment under the local safeguarding plan.",
    "Statutory duty to cooperate to improve the wellbeing of children in the area.",
    "Section 17 assessment of a child in need; the family has been informed.",
    "Attendance below 80% for two terms; referral under the attendance protocol.",
    "Health visitor concern shared under the multi-agency information agreement.",
};
static const char *s_words[] = {
    "the", "child", "has", "been", "absent", "from", "school", "since", "half", "term",
    "and", "mother", "reports", "that", "family", "is", "living", "in", "temporary",
    "accommodation", "with", "no", "access", "to", "a", "GP", "teacher", "noticed",
    "changes", "behaviour", "tired", "hungry", "during", "morning", "lessons", "younger",
    "sibling", "attends", "nursery", "father", "works", "nights", "they", "arrived",
    "September", "speak", "little", "English", "at", "home", "support", "needed",
    "housing", "officer", "was", "contacted", "last", "week", "rent", "arrears",
    "letter", "eviction", "notice", "worried", "about", "sleep", "anxiety", "panic",
    "attacks", "after", "bullying", "incident", "playground", "meeting", "arranged",
    "with", "parents", "who", "agreed", "referral", "interpreter", "required", "for",
    "appointments", "medication", "asthma", "inhaler", "missed", "reviews", "carer",
    "responsibilities", "for", "disabled", "grandmother", "evenings", "homework",
};

#define COUNT(array) (sizeof (array) / sizeof (array)[0])

//  -------------------------------------------------------------------------
//  Randomness: splitmix64, seeded per generator and per family.

static uint64_t
s_mix (uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t
s_below (uint64_t *state, uint64_t n)
{
    return s_mix (state) % n;
}

static double
s_unit (uint64_t *state)
{
    return (double) (s_mix (state) >> 11) / 9007199254740992.0;   // [0, 1)
}

//  -------------------------------------------------------------------------

bench_families_t *
bench_families_new (uint64_t salt, double repeat_share)
{
    bench_families_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->salt = salt;
    self->repeat_share = repeat_share < 0 ? 0 : repeat_share > 1 ? 1 : repeat_share;
    atomic_init (&self->next, 0);
    return self;
}

void
bench_families_destroy (bench_families_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

//  Family number n of the run salted salt, always the same people.
static void
s_family (uint64_t salt, uint64_t n, family_t *family)
{
    uint64_t state = salt ^ (n * 0xd1342543de82ef95ull);
    s_mix (&state);
    family->family_name = s_family_names[s_below (&state, COUNT (s_family_names))];
    uint64_t roll = s_below (&state, 100);
    family->children = roll < 50 ? 1 : roll < 85 ? 2 : 3;
    for (int i = 0; i < family->children; i++) {
        //  Siblings have different names: two children with one name and one date
        //  of birth are one person to intake, which refuses a referral naming a
        //  person twice (INVALID_ARGUMENT, about 1 in 100,000 families otherwise).
        size_t name = s_below (&state, COUNT (s_given_names));
        for (int k = 0; k < i; k++)
            if (family->given[k] == s_given_names[name]) {
                name = (name + 1) % COUNT (s_given_names);
                k = -1;   // check against every earlier one again
            }
        family->given[i] = s_given_names[name];
        //  Born 2008 to 2024: every child is under the 25-year limit and none is
        //  born in the future. Days stop at 28 so every date is real.
        unsigned year = 2008 + (unsigned) s_below (&state, 17);
        unsigned month = 1 + (unsigned) s_below (&state, 12);
        unsigned day = 1 + (unsigned) s_below (&state, 28);
        snprintf (family->dob[i], sizeof family->dob[i], "%04u-%02u-%02u", year % 10000,
                  month % 100, day % 100);
    }
    family->n_languages = 1 + (int) s_below (&state, MAX_LANGUAGES);
    for (int i = 0; i < family->n_languages; i++)
        family->languages[i] = s_languages[s_below (&state, COUNT (s_languages))];
    if (family->n_languages == 2 && strcmp (family->languages[0], family->languages[1]) == 0)
        family->n_languages = 1;
    family->guardians = 1 + (int) s_below (&state, MAX_GUARDIANS);
    for (int i = 0; i < family->guardians; i++) {
        family->guardian_given[i] = s_adult_names[s_below (&state, COUNT (s_adult_names))];
        family->relationship[i] = i == 0 ? KINNET__V1__RELATIONSHIP__MOTHER
                                         : 1 + (int) s_below (&state, 9);
        snprintf (family->phone[i], sizeof family->phone[i], "07700 9%05d",
                  (int) s_below (&state, 100000));
    }
}

bench_referral_t *
bench_referral_new (bench_families_t *families, uint64_t seed, const char *key_prefix)
{
    bench_referral_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->families = families;
    self->rng = seed;
    snprintf (self->key_prefix, sizeof self->key_prefix, "%s", key_prefix);
    return self;
}

void
bench_referral_destroy (bench_referral_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bench_referral_t *self = *self_p;
    free (self->buffer);
    free (self);
    *self_p = NULL;
}

//  A narrative of exactly length bytes: words, sentences, now and then a new
//  paragraph (descriptions are multi-line fields).
static void
s_narrative (uint64_t *rng, char *out, size_t length)
{
    size_t pos = 0;
    bool sentence_start = true;
    while (pos < length) {
        const char *word = s_words[s_below (rng, COUNT (s_words))];
        char piece[48];
        int n = snprintf (piece, sizeof piece, "%s%c%s", pos ? " " : "",
                          sentence_start ? (char) (word[0] & ~0x20) : word[0], word + 1);
        sentence_start = false;
        uint64_t roll = s_below (rng, 100);
        if (roll < 8) {
            n += snprintf (piece + n, sizeof piece - (size_t) n, roll < 1 ? ".\n" : ".");
            sentence_start = true;
        }
        size_t take = (size_t) n < length - pos ? (size_t) n : length - pos;
        memcpy (out + pos, piece, take);
        pos += take;
    }
    out[length] = '\0';
    //  A cut may leave a trailing blank; the text rules allow it, but keep it tidy.
    if (length > 1 && out[length - 1] == ' ')
        out[length - 1] = '.';
}

const uint8_t *
bench_referral_next (bench_referral_t *self, size_t *len, bool *repeat)
{
    bench_families_t *families = self->families;
    uint64_t known = atomic_load (&families->next);
    uint64_t number;
    *repeat = known > 0 && s_unit (&self->rng) < families->repeat_share;
    if (*repeat)
        number = s_below (&self->rng, known);
    else
        number = atomic_fetch_add (&families->next, 1);
    family_t *family = &self->family;
    s_family (families->salt, number, family);

    //  People. A referral about a family names one of its children as the child,
    //  and the others as siblings.
    Kinnet__V1__Person people[MAX_CHILDREN];
    Kinnet__V1__Person *siblings[MAX_CHILDREN];
    int first = (int) s_below (&self->rng, (uint64_t) family->children);
    for (int i = 0; i < family->children; i++) {
        int who = (first + i) % family->children;
        kinnet__v1__person__init (&people[i]);
        people[i].given_name = (char *) family->given[who];
        people[i].family_name = (char *) family->family_name;
        people[i].date_of_birth = family->dob[who];
        people[i].languages = (char **) family->languages;
        people[i].n_languages = (size_t) family->n_languages;
        if (i > 0)
            siblings[i - 1] = &people[i];
    }
    Kinnet__V1__Guardian guardians[MAX_GUARDIANS];
    Kinnet__V1__Guardian *guardian_list[MAX_GUARDIANS];
    for (int i = 0; i < family->guardians; i++) {
        kinnet__v1__guardian__init (&guardians[i]);
        guardians[i].given_name = (char *) family->guardian_given[i];
        guardians[i].family_name = (char *) family->family_name;
        guardians[i].relationship = (Kinnet__V1__Relationship) family->relationship[i];
        guardians[i].parental_responsibility = i == 0;
        guardians[i].phone = family->phone[i];
        guardians[i].languages = (char **) family->languages;
        guardians[i].n_languages = (size_t) family->n_languages;
        guardian_list[i] = &guardians[i];
    }

    //  Needs: 1 (40%), 2 (30%), 3 (20%) or 4 (10%), narratives log-uniform.
    uint64_t roll = s_below (&self->rng, 100);
    int n_needs = roll < 40 ? 1 : roll < 70 ? 2 : roll < 90 ? 3 : 4;
    Kinnet__V1__Need needs[MAX_NEEDS];
    Kinnet__V1__Need *need_list[MAX_NEEDS];
    self->narrative_bytes = 0;
    for (int i = 0; i < n_needs; i++) {
        double span = log ((double) MAX_NARRATIVE / MIN_NARRATIVE);
        size_t length = (size_t) (MIN_NARRATIVE * exp (s_unit (&self->rng) * span));
        if (length > MAX_NARRATIVE)
            length = MAX_NARRATIVE;
        s_narrative (&self->rng, self->narrative[i], length);
        self->narrative_bytes += length;
        kinnet__v1__need__init (&needs[i]);
        needs[i].category = (Kinnet__V1__NeedCategory) (1 + s_below (&self->rng, 14));
        needs[i].description = self->narrative[i];
        need_list[i] = &needs[i];
    }

    Kinnet__V1__LawfulGround ground = KINNET__V1__LAWFUL_GROUND__INIT;
    roll = s_below (&self->rng, 100);
    ground.basis = roll < 70   ? KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK
                   : roll < 95 ? KINNET__V1__LAWFUL_BASIS__LEGAL_OBLIGATION
                               : KINNET__V1__LAWFUL_BASIS__VITAL_INTERESTS;
    ground.justification
        = (char *) s_justifications[s_below (&self->rng, COUNT (s_justifications))];

    snprintf (self->key, sizeof self->key, "%s-%" PRIu64, self->key_prefix,
              self->sequence++);
    snprintf (self->caseworker, sizeof self->caseworker, "cw-%03d",
              (int) s_below (&self->rng, 200));
    Kinnet__V1__SubmitReferral submit = KINNET__V1__SUBMIT_REFERRAL__INIT;
    submit.idempotency_key = self->key;
    submit.child = &people[0];
    submit.siblings = siblings;
    submit.n_siblings = (size_t) family->children - 1;
    submit.guardians = guardian_list;
    submit.n_guardians = (size_t) family->guardians;
    submit.needs = need_list;
    submit.n_needs = (size_t) n_needs;
    roll = s_below (&self->rng, 100);
    submit.urgency = roll < 55   ? KINNET__V1__URGENCY__ROUTINE
                     : roll < 85 ? KINNET__V1__URGENCY__PRIORITY
                     : roll < 97 ? KINNET__V1__URGENCY__URGENT
                                 : KINNET__V1__URGENCY__EMERGENCY_SAFEGUARDING;
    submit.district = (char *) s_districts[s_below (&self->rng, COUNT (s_districts))];
    submit.lawful_ground = &ground;
    submit.caseworker_id = self->caseworker;
    Kinnet__V1__IntakeRequest request = KINNET__V1__INTAKE_REQUEST__INIT;
    request.op_case = KINNET__V1__INTAKE_REQUEST__OP_SUBMIT;
    request.submit = &submit;

    size_t size = kinnet__v1__intake_request__get_packed_size (&request);
    if (size > self->buffer_size) {
        uint8_t *buffer = realloc (self->buffer, size);
        if (!buffer)
            return NULL;
        self->buffer = buffer;
        self->buffer_size = size;
    }
    *len = kinnet__v1__intake_request__pack (&request, self->buffer);
    self->children = family->children;
    self->needs = n_needs;
    return self->buffer;
}

void
bench_referral_shape (const bench_referral_t *self, int *children, int *needs,
                      size_t *narrative_bytes)
{
    *children = self->children;
    *needs = self->needs;
    *narrative_bytes = self->narrative_bytes;
}
