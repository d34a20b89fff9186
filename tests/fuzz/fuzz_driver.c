/*  A deterministic stand-in for libFuzzer, so every fuzz target runs in ops/test
    without clang: replays each file of the seed corpus, then ITERATIONS mutations
    of them (bit flips, truncations, splices, random bytes) from a fixed seed.
    Real coverage-guided fuzzing: ops/fuzz (clang -fsanitize=fuzzer). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define MAX_SEEDS 64
#define FUZZ_MAX_INPUT 8192

static uint64_t s_state = 0x9E3779B97F4A7C15ULL;

static uint32_t
s_random (void)
{
    s_state ^= s_state << 13;
    s_state ^= s_state >> 7;
    s_state ^= s_state << 17;
    return (uint32_t) (s_state >> 16);
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: %s CORPUS_DIR [ITERATIONS]\n", argv[0]);
        return 2;
    }
    long iterations = argc > 2 ? atol (argv[2]) : 20000;
    static uint8_t seeds[MAX_SEEDS][FUZZ_MAX_INPUT];
    size_t sizes[MAX_SEEDS];
    int count = 0;
    DIR *dir = opendir (argv[1]);
    struct dirent *entry;
    //  Every file is replayed (ops/fuzz --merge grows the corpus past MAX_SEEDS);
    //  the first MAX_SEEDS are also the seeds of the mutations.
    static uint8_t spare[FUZZ_MAX_INPUT];
    int files = 0;
    while (dir && (entry = readdir (dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", argv[1], entry->d_name);
        FILE *file = fopen (path, "rb");
        if (!file)
            continue;
        uint8_t *buffer = count < MAX_SEEDS ? seeds[count] : spare;
        size_t size = fread (buffer, 1, FUZZ_MAX_INPUT, file);
        fclose (file);
        LLVMFuzzerTestOneInput (buffer, size);
        files++;
        if (count < MAX_SEEDS)
            sizes[count++] = size;
    }
    if (dir)
        closedir (dir);
    if (count == 0) {
        fprintf (stderr, "no seeds in %s\n", argv[1]);
        return 1;
    }
    static uint8_t input[FUZZ_MAX_INPUT];
    for (long i = 0; i < iterations; i++) {
        int pick = (int) (s_random () % (uint32_t) count);
        size_t size = sizes[pick];
        memcpy (input, seeds[pick], size);
        int mutations = 1 + (int) (s_random () % 8);
        for (int m = 0; m < mutations; m++) {
            switch (s_random () % 5) {
            case 0:   // flip a bit
                if (size)
                    input[s_random () % size] ^= (uint8_t) (1u << (s_random () % 8));
                break;
            case 1:   // truncate
                if (size)
                    size = s_random () % size;
                break;
            case 2:   // random byte
                if (size)
                    input[s_random () % size] = (uint8_t) s_random ();
                break;
            case 3: {   // splice another seed's tail
                int other = (int) (s_random () % (uint32_t) count);
                size_t from = sizes[other] ? s_random () % sizes[other] : 0;
                size_t at = size ? s_random () % size : 0;
                size_t len = sizes[other] - from;
                if (at + len > FUZZ_MAX_INPUT)
                    len = FUZZ_MAX_INPUT - at;
                memcpy (input + at, seeds[other] + from, len);
                size = at + len;
                break;
            }
            default:   // insert a byte
                if (size < FUZZ_MAX_INPUT) {
                    size_t at = size ? s_random () % size : 0;
                    memmove (input + at + 1, input + at, size - at);
                    input[at] = (uint8_t) s_random ();
                    size++;
                }
            }
        }
        LLVMFuzzerTestOneInput (input, size);
    }
    printf ("fuzz: %d files, %ld mutated inputs, no crash\n", files, iterations);
    return 0;
}
