// A C implementation of Maglev table population, the side-by-side reference for IPVSCore's MaglevTable.
//
// Same hashes (SplitMix64: offset from mix(key + γ), skip from mix(key + 2γ)), same turns rule (weights over their
// gcd, scaled to a quarter of the table when a round would be larger, one turn each if still over the table), same
// fill order (Eisenbud et al., NSDI 2016, Pseudocode 1), same validation. Given the same input it must produce the
// same table as the Swift code: Benchmarks/Sources/maglev-compare checks that, then compares their build times.
#ifndef CMAGLEV_REFERENCE_H
#define CMAGLEV_REFERENCE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A backend: a caller-chosen 64-bit key and a weight (0 = no slots).
typedef struct {
    uint64_t key;
    uint32_t weight;
} CMaglevReference_Backend;

/// SplitMix64's output function, MaglevHash.mix in Swift.
uint64_t CMaglevReference_mix(uint64_t x);

/// Builds a table of `size` slots over `count` backends: a malloc'ed array of `size` backend indices, to be freed
/// with CMaglevReference_free. NULL when `size` is not a prime in 2…INT32_MAX, no backend has a positive weight,
/// more backends have one than there are slots, two backends share a key, or memory runs out (MaglevTable throws
/// in the same cases).
int32_t *CMaglevReference_build(uint32_t size, const CMaglevReference_Backend *backends, uint32_t count);

/// Frees a table from CMaglevReference_build (so that Swift callers need not import Glibc for free()).
void CMaglevReference_free(int32_t *table);

#ifdef __cplusplus
}
#endif

#endif
