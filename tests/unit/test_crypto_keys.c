/*  kn_crypto_keys: the key file with several field master versions, per-person data
    keys wrapped under them, and values sealed under a data key (format 2). */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kn_crypto.h"
#include "kn_keys.h"
#include "kn_test.h"
#include "kn_uuid.h"

TestSuite (crypto_keys, .fini = kn_test_no_leaks);

#define ROOT_HEX "0909090909090909090909090909090909090909090909090909090909090909"
#define SECOND_HEX "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
static const char *ROOT = ROOT_HEX;
static const char *SECOND = SECOND_HEX;

//  A key file (mode 0600) holding text; the crypto it loads, or NULL with err.
static kn_crypto_t *
s_load (const char *text, kn_error_t *err)
{
    char path[] = "/tmp/kn-ring-XXXXXX";
    int fd = mkstemp (path);
    cr_assert (fd >= 0);
    cr_assert_eq (write (fd, text, strlen (text)), (ssize_t)strlen (text));
    close (fd);
    kn_crypto_t *crypto = kn_crypto_new_from_file (path, err);
    unlink (path);
    return crypto;
}

static kn_crypto_t *
s_ring (const char *fmt, ...)
{
    char text[1024];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    kn_error_t err;
    kn_crypto_t *crypto = s_load (text, &err);
    cr_assert (crypto, "%s", err.message);
    return crypto;
}

Test (crypto_keys, key_file_versions_and_current)
{
    //  A file of the root key alone (every file before versions) is version 1.
    kn_crypto_t *legacy = s_ring ("%s\n", ROOT);
    cr_assert_eq (kn_crypto_master_version (legacy), 1);
    cr_assert (kn_crypto_has_master (legacy, 1));
    cr_assert_not (kn_crypto_has_master (legacy, 2));
    //  A further version wraps new keys by default; `current` can hold it back.
    kn_crypto_t *both = s_ring ("# ring\n%s\n\nfield 2 %s  # added\n", ROOT, SECOND);
    cr_assert_eq (kn_crypto_master_version (both), 2);
    kn_crypto_t *held = s_ring ("%s\nfield 2 %s\ncurrent 1\n", ROOT, SECOND);
    cr_assert_eq (kn_crypto_master_version (held), 1);
    cr_assert (kn_crypto_has_master (held, 2));
    //  The root's blind index does not change with the field versions: matching
    //  survives a master rotation.
    uint8_t a[KN_BLIND_INDEX_BYTES], b[KN_BLIND_INDEX_BYTES];
    kn_crypto_blind_index (legacy, "Ana", "Lima", "2015-01-02", a);
    kn_crypto_blind_index (both, "Ana", "Lima", "2015-01-02", b);
    cr_assert_eq (memcmp (a, b, sizeof a), 0);
    kn_crypto_destroy (&legacy);
    kn_crypto_destroy (&both);
    kn_crypto_destroy (&held);
}

Test (crypto_keys, bad_key_files_are_refused_with_the_line)
{
    const char *bad[][2] = {
        {ROOT_HEX "\nfield 1 " SECOND_HEX "\n", "line 2"},   // version 1 is the root's
        {ROOT_HEX "\nfield 2 " SECOND_HEX "\nfield 2 " SECOND_HEX "\n", "line 3"},
        {ROOT_HEX "\nfield 2 abcd\n", "line 2"},              // not 32 bytes
        {ROOT_HEX "\ncurrent 3\n", "current 3"},              // names no version
        {ROOT_HEX "\nfield 2 " SECOND_HEX " extra\n", "line 2"},
        {ROOT_HEX "\n" SECOND_HEX "\n", "line 2"},            // a second root
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kn_error_t err;
        kn_error_clear (&err);
        kn_crypto_t *crypto = s_load (bad[i][0], &err);
        cr_assert_null (crypto, "case %zu loaded", i);
        cr_assert (strstr (err.message, bad[i][1]), "case %zu: %s", i, err.message);
    }
    char text[512];
    //  A field version before the root: the root must come first.
    snprintf (text, sizeof text, "field 2 %s\n%s\n", SECOND, ROOT);
    kn_error_t err;
    cr_assert_null (s_load (text, &err));
    cr_assert (strstr (err.message, "root key"), "%s", err.message);
}

Test (crypto_keys, data_key_wraps_opens_and_rewraps)
{
    kn_crypto_t *old_ring = s_ring ("%s\n", ROOT);
    kn_crypto_t *new_ring = s_ring ("%s\nfield 2 %s\n", ROOT, SECOND);
    kn_data_key_t key, back;
    uint8_t wrapped[KN_WRAPPED_KEY_BYTES], rewrapped[KN_WRAPPED_KEY_BYTES];
    int version = 0, new_version = 0;
    kn_crypto_data_key_new (old_ring, &key, wrapped, &version);
    cr_assert_eq (version, 1);
    cr_assert (kn_uuid_valid (key.id));
    cr_assert_eq (kn_crypto_data_key_unwrap (old_ring, key.id, 1, wrapped, sizeof wrapped,
                                             &back),
                  0);
    cr_assert_eq (memcmp (back.key, key.key, sizeof key.key), 0);
    //  Bound to its id: a wrapped key moved to another row does not unwrap.
    char other[KN_UUID_STR];
    kn_uuid_generate (other);
    cr_assert_eq (kn_crypto_data_key_unwrap (old_ring, other, 1, wrapped, sizeof wrapped,
                                             &back),
                  -1);
    //  Under a version the file lacks, or claimed under the wrong version: refused.
    cr_assert_eq (kn_crypto_data_key_unwrap (old_ring, key.id, 2, wrapped, sizeof wrapped,
                                             &back),
                  -1);
    cr_assert_eq (kn_crypto_data_key_unwrap (new_ring, key.id, 2, wrapped, sizeof wrapped,
                                             &back),
                  -1);
    //  A value sealed under the data key still opens after the key is rewrapped
    //  under version 2: rotation never touches sealed values.
    size_t sealed_len = 0, plain_len = 0;
    uint8_t *sealed = kn_crypto_seal_under (&key, (const uint8_t *)"Ana Lima", 8, "row-1",
                                            &sealed_len);
    kn_crypto_data_key_wrap (new_ring, &key, rewrapped, &new_version);
    cr_assert_eq (new_version, 2);
    cr_assert_eq (kn_crypto_data_key_unwrap (new_ring, key.id, 2, rewrapped,
                                             sizeof rewrapped, &back),
                  0);
    uint8_t *plain = kn_crypto_open_under (&back, sealed, sealed_len, "row-1", &plain_len);
    cr_assert (plain);
    cr_assert_eq (plain_len, 8);
    cr_assert_eq (memcmp (plain, "Ana Lima", 8), 0);
    free (plain);
    //  The old ring cannot unwrap what version 2 wrapped.
    cr_assert_eq (kn_crypto_data_key_unwrap (old_ring, key.id, 2, rewrapped,
                                             sizeof rewrapped, &back),
                  -1);
    free (sealed);
    kn_crypto_destroy (&old_ring);
    kn_crypto_destroy (&new_ring);
}

Test (crypto_keys, sealed_under_a_data_key_names_it_and_binds)
{
    kn_crypto_t *ring = s_ring ("%s\n", ROOT);
    kn_data_key_t key, other;
    uint8_t wrapped[KN_WRAPPED_KEY_BYTES];
    int version = 0;
    kn_crypto_data_key_new (ring, &key, wrapped, &version);
    kn_crypto_data_key_new (ring, &other, wrapped, &version);
    size_t len = 0, out = 0;
    uint8_t *sealed =
        kn_crypto_seal_under (&key, (const uint8_t *)"2016-04-09", 10, "subject-1", &len);
    cr_assert (sealed);
    cr_assert_null (memmem (sealed, len, "2016", 4), "clear text in the ciphertext");
    char id[KN_UUID_STR];
    cr_assert (kn_crypto_sealed_key_id (sealed, len, id));
    cr_assert_str_eq (id, key.id);
    //  Another key, another ad, a flipped bit: nothing opens.
    cr_assert_null (kn_crypto_open_under (&other, sealed, len, "subject-1", &out));
    cr_assert_null (kn_crypto_open_under (&key, sealed, len, "subject-2", &out));
    sealed[len - 1] ^= 1;
    cr_assert_null (kn_crypto_open_under (&key, sealed, len, "subject-1", &out));
    free (sealed);
    //  A value of format 1 (under the root key) names no data key and is not
    //  opened as if it did.
    uint8_t *legacy = kn_crypto_seal (ring, (const uint8_t *)"x", 1, "id", &len);
    cr_assert_not (kn_crypto_sealed_key_id (legacy, len, id));
    cr_assert_null (kn_crypto_open_under (&key, legacy, len, "id", &out));
    free (legacy);
    uint8_t tiny[5] = {2, 0, 0, 0, 0};
    cr_assert_not (kn_crypto_sealed_key_id (tiny, sizeof tiny, id));
    cr_assert_null (kn_crypto_open_under (&key, tiny, sizeof tiny, "id", &out));
    kn_crypto_destroy (&ring);
}

#define THIRD_HEX "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"

Test (crypto_keys, index_versions_key_the_blind_index_and_the_digests)
{
    uint8_t a[KN_BLIND_INDEX_BYTES], b[KN_BLIND_INDEX_BYTES], c[KN_BLIND_INDEX_BYTES];
    //  A file of the root alone: index version 1, as before versions existed.
    kn_crypto_t *legacy = s_ring ("%s\n", ROOT);
    cr_assert_eq (kn_crypto_index_version (legacy), 1);
    cr_assert (kn_crypto_has_index (legacy, 1));
    cr_assert_not (kn_crypto_has_index (legacy, 2));
    cr_assert (kn_crypto_has_root (legacy));
    //  A version added and held back: the current index is still the root's, and
    //  version 2 can be computed beside it.
    kn_crypto_t *held = s_ring ("%s\nindex 2 %s\nindex-current 1\n", ROOT, SECOND);
    cr_assert_eq (kn_crypto_index_version (held), 1);
    kn_crypto_blind_index (legacy, "Ana", "Lima", "2015-01-02", a);
    kn_crypto_blind_index (held, "Ana", "Lima", "2015-01-02", b);
    cr_assert_eq (memcmp (a, b, sizeof a), 0);
    cr_assert_eq (kn_crypto_blind_index_under (held, 2, "Ana", "Lima", "2015-01-02", c), 0);
    cr_assert_neq (memcmp (a, c, sizeof a), 0, "version 2 keys the index like version 1");
    cr_assert_eq (kn_crypto_blind_index_under (legacy, 2, "Ana", "Lima", "2015-01-02", c),
                  -1);
    //  Made current (the default: the highest), and the versions listed current first.
    kn_crypto_t *both = s_ring ("%s\nindex 2 %s\n", ROOT, SECOND);
    cr_assert_eq (kn_crypto_index_version (both), 2);
    kn_crypto_blind_index (both, "Ana", "Lima", "2015-01-02", b);
    cr_assert_eq (memcmp (b, c, sizeof b), 0);
    int versions[KN_INDEX_MAX];
    cr_assert_eq (kn_crypto_index_versions (both, versions), 2);
    cr_assert_eq (versions[0], 2);
    cr_assert_eq (versions[1], 1);
    //  The field master does not move with it.
    cr_assert_eq (kn_crypto_master_version (both), 1);
    //  Digests too: one key per version, the current by default.
    kn_crypto_digest (legacy, (const uint8_t *)"req", 3, a);
    kn_crypto_digest (both, (const uint8_t *)"req", 3, b);
    cr_assert_neq (memcmp (a, b, sizeof a), 0);
    cr_assert_eq (kn_crypto_digest_under (both, 1, (const uint8_t *)"req", 3, c), 0);
    cr_assert_eq (memcmp (a, c, sizeof a), 0);
    //  The root retired: field and index versions alone, format 1 no longer opens.
    size_t len = 0, out = 0;
    uint8_t *legacy_value = kn_crypto_seal (legacy, (const uint8_t *)"x", 1, "id", &len);
    kn_crypto_t *rootless = s_ring ("field 2 %s\nindex 2 %s\n", THIRD_HEX, SECOND);
    cr_assert_not (kn_crypto_has_root (rootless));
    cr_assert_not (kn_crypto_has_index (rootless, 1));
    cr_assert_not (kn_crypto_has_master (rootless, 1));
    cr_assert_eq (kn_crypto_index_version (rootless), 2);
    kn_crypto_blind_index (rootless, "Ana", "Lima", "2015-01-02", a);
    kn_crypto_blind_index (both, "Ana", "Lima", "2015-01-02", b);
    cr_assert_eq (memcmp (a, b, sizeof a), 0, "version 2 is the same without the root");
    cr_assert_null (kn_crypto_open (rootless, legacy_value, len, "id", &out));
    //  Opened through kn_keys (no database needed for format 1), it says what to do.
    uint8_t *plain = NULL;
    kn_error_t err;
    cr_assert_eq (kn_keys_open (NULL, rootless, legacy_value, len, "id", &plain, &out, &err),
                  -1);
    cr_assert (strstr (err.message, "no longer holds"), "%s", err.message);
    cr_assert_null (kn_crypto_seal (rootless, (const uint8_t *)"x", 1, "id", &len));
    free (legacy_value);
    kn_crypto_destroy (&legacy);
    kn_crypto_destroy (&held);
    kn_crypto_destroy (&both);
    kn_crypto_destroy (&rootless);
}

Test (crypto_keys, bad_index_lines_are_refused_with_the_line)
{
    const char *bad[][2] = {
        {ROOT_HEX "\nindex 1 " SECOND_HEX "\n", "line 2"},   // version 1 is the root's
        {ROOT_HEX "\nindex 2 " SECOND_HEX "\nindex 2 " THIRD_HEX "\n", "line 3"},
        {ROOT_HEX "\nindex 2 abcd\n", "line 2"},
        {ROOT_HEX "\nindex-current 2\n", "index-current 2"},   // names no version
        {ROOT_HEX "\nindex-current\n", "line 2"},
        {"field 2 " SECOND_HEX "\n", "index"},                 // no index key at all
        {"index 2 " SECOND_HEX "\n", "field"},                 // no field master at all
        {"index 2 " SECOND_HEX "\n" ROOT_HEX "\n", "line 2"}, // the root comes first
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kn_error_t err;
        kn_error_clear (&err);
        kn_crypto_t *crypto = s_load (bad[i][0], &err);
        cr_assert_null (crypto, "case %zu loaded", i);
        cr_assert (strstr (err.message, bad[i][1]), "case %zu: %s", i, err.message);
    }
}
