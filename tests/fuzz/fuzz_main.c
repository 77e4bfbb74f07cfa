/*
 * fuzz_main.c - the libFuzzer entry point of every target: CMake builds it into each
 * fuzz_<name> executable with SDIFF_FUZZ_MAIN defined as that target's sdiff_fuzz_<name>.
 */
#include "sdiff_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return SDIFF_FUZZ_MAIN(data, size);
}
