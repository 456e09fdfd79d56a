/* fuzz.h — what every fuzz target shares: libFuzzer's entry point, and
 * CHECK, which turns a broken promise of the code under test into a crash
 * the fuzzer reports (with the input that caused it). */
#ifndef AMBIENT_FUZZ_H
#define AMBIENT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)          \
    do {                  \
        if (!(c))         \
            abort();      \
    } while (0)

#endif
