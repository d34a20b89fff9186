/*  kn_crypto: sealing, tamper detection, normalisation and the blind index; kn_uuid
    ids. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kn_crypto.h"
#include "kn_test.h"
#include "kn_uuid.h"

TestSuite (crypto, .fini = kn_test_no_leaks);

static kn_crypto_t *
s_crypto (uint8_t fill)
{
    uint8_t key[32];
    memset (key, fill, sizeof key);
    kn_crypto_t *crypto = kn_crypto_new (key);
    cr_assert (crypto);
    return crypto;
}

Test (crypto, seal_open_round_trip_and_binding)
{
    kn_crypto_t *crypto = s_crypto (7);
    const char *plain = "Amira Haddad, 2016-04-09";
    size_t sealed_len = 0, opened_len = 0;
    uint8_t *sealed = kn_crypto_seal (crypto, (const uint8_t *) plain, strlen (plain), "row-1",
                                      &sealed_len);
    cr_assert (sealed);
    cr_assert_null (memmem (sealed, sealed_len, "Amira", 5), "clear text in the ciphertext");
    uint8_t *opened = kn_crypto_open (crypto, sealed, sealed_len, "row-1", &opened_len);
    cr_assert (opened);
    cr_assert_eq (opened_len, strlen (plain));
    cr_assert_eq (memcmp (opened, plain, opened_len), 0);
    free (opened);
    //  Bound to its row: the same ciphertext under another id does not open.
    cr_assert_null (kn_crypto_open (crypto, sealed, sealed_len, "row-2", &opened_len));
    //  Any flipped bit is detected.
    sealed[sealed_len - 1] ^= 1;
    cr_assert_null (kn_crypto_open (crypto, sealed, sealed_len, "row-1", &opened_len));
    free (sealed);
    //  Truncated input is refused, not read past.
    uint8_t tiny[3] = {1, 2, 3};
    cr_assert_null (kn_crypto_open (crypto, tiny, sizeof tiny, "row-1", &opened_len));
    kn_crypto_destroy (&crypto);
    cr_assert_null (crypto);
}

Test (crypto, other_key_cannot_open)
{
    kn_crypto_t *a = s_crypto (1), *b = s_crypto (2);
    size_t len = 0, out = 0;
    uint8_t *sealed = kn_crypto_seal (a, (const uint8_t *) "x", 1, "id", &len);
    cr_assert_null (kn_crypto_open (b, sealed, len, "id", &out));
    free (sealed);
    kn_crypto_destroy (&a);
    kn_crypto_destroy (&b);
}

Test (crypto, normalise_folds_case_accents_and_punctuation)
{
    struct {
        const char *in, *out;
    } cases[] = {
        {"José-María", "josemaria"},   {"  O'Brien ", "obrien"},   {"ŁUKASZ", "lukasz"},
        {"Zoë", "zoe"},                {"Straße", "strase"},        {"ОЛЕНА", "олена"},
        {"Jo\xcc\x88rg", "jorg"},   // combining diaeresis dropped
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *normal = kn_crypto_normalise_name (cases[i].in);
        cr_assert_str_eq (normal, cases[i].out, "normalise(%s)", cases[i].in);
        free (normal);
    }
}

Test (crypto, blind_index_matches_variants_and_depends_on_key)
{
    kn_crypto_t *crypto = s_crypto (3);
    uint8_t a[32], b[32], c[32], d[32];
    kn_crypto_blind_index (crypto, "José", "García López", "2015-06-01", a);
    kn_crypto_blind_index (crypto, "JOSE", "garcia-lopez", "2015-06-01", b);
    kn_crypto_blind_index (crypto, "José", "García López", "2015-06-02", c);
    cr_assert_eq (memcmp (a, b, 32), 0, "spelling variants must match");
    cr_assert_neq (memcmp (a, c, 32), 0, "another birth date is another child");
    //  Field boundaries count: "Ann Marie|Lee" is not "Ann|Marie Lee".
    kn_crypto_blind_index (crypto, "Ann Marie", "Lee", "2015-06-01", c);
    kn_crypto_blind_index (crypto, "Ann", "Marie Lee", "2015-06-01", d);
    cr_assert_neq (memcmp (c, d, 32), 0);
    kn_crypto_t *other = s_crypto (4);
    kn_crypto_blind_index (other, "José", "García López", "2015-06-01", d);
    cr_assert_neq (memcmp (a, d, 32), 0, "index must be keyed");
    kn_crypto_destroy (&crypto);
    kn_crypto_destroy (&other);
}

Test (crypto, key_file_is_private_and_loads)
{
    char path[] = "/tmp/kn-key-XXXXXX";
    int fd = mkstemp (path);
    close (fd);
    unlink (path);
    kn_error_t err;
    cr_assert_eq (kn_crypto_generate_key_file (path, &err), 0, "%s", err.message);
    struct stat st;
    stat (path, &st);
    cr_assert_eq (st.st_mode & 0777, 0600);
    //  Never overwrites an existing key.
    cr_assert_eq (kn_crypto_generate_key_file (path, &err), -1);
    kn_crypto_t *crypto = kn_crypto_new_from_file (path, &err);
    cr_assert (crypto, "%s", err.message);
    kn_crypto_destroy (&crypto);
    //  A key others can read is refused.
    chmod (path, 0644);
    cr_assert_null (kn_crypto_new_from_file (path, &err));
    cr_assert (strstr (err.message, "chmod 600"));
    unlink (path);
    cr_assert_null (kn_crypto_new_from_file ("/nonexistent/key", &err));
}

//  kn_uuid: random ids carry nothing; ordered ids lead with the time in milliseconds,
//  so ids made later sort after earlier ones.
static uint64_t
s_uuid_ms (const char *id)
{
    char hex[13];
    memcpy (hex, id, 8);
    memcpy (hex + 8, id + 9, 4);
    hex[12] = 0;
    return strtoull (hex, NULL, 16);
}

Test (crypto, uuids_random_and_ordered)
{
    char a[KN_UUID_STR], b[KN_UUID_STR];
    kn_uuid_generate (a);
    kn_uuid_generate (b);
    cr_assert (kn_uuid_valid (a));
    cr_assert_str_neq (a, b);
    cr_assert_eq (a[14], '4');
    cr_assert (strchr ("89ab", a[19]));

    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    uint64_t before = (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
    kn_uuid_generate_ordered (a);
    usleep (2000);
    kn_uuid_generate_ordered (b);
    clock_gettime (CLOCK_REALTIME, &now);
    uint64_t after = (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
    cr_assert (kn_uuid_valid (a) && kn_uuid_valid (b));
    cr_assert_eq (a[14], '7');
    cr_assert (strchr ("89ab", a[19]));
    cr_assert (s_uuid_ms (a) >= before && s_uuid_ms (b) <= after);
    cr_assert (s_uuid_ms (b) >= s_uuid_ms (a) + 2);
    cr_assert_lt (strcmp (a, b), 0, "an id made later sorts after: %s, %s", a, b);
    //  The rest is random: two ids in the same millisecond still differ.
    kn_uuid_generate_ordered (a);
    kn_uuid_generate_ordered (b);
    cr_assert_str_neq (a, b);
}
