// libFuzzer's library entry point, declared for Swift (libFuzzer ships no header for it; see LLVM's LibFuzzer
// documentation, "Using libFuzzer as a library"). Swift cannot call a C function it has no declaration of: SwiftPM
// renames an executable's `main` (to `tap_fuzz_main`, aliased to `main` at link time), so tap-fuzz cannot leave
// `main` to libFuzzer and starts the fuzzer itself through this call.
#ifndef CTAPFUZZ_H
#define CTAPFUZZ_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
