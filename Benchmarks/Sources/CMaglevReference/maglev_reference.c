// See include/CMaglevReference.h. Written to be the plain C one would write for this algorithm: no intrinsics,
// no hand vectorisation, so that the comparison measures the Swift port against ordinary optimised C.
#include "CMaglevReference.h"

#include <stdlib.h>
#include <string.h>

#define CMAGLEV_GAMMA UINT64_C(0x9E3779B97F4A7C15)

uint64_t CMaglevReference_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

// Where a backend stands in its permutation; the layout of MaglevTable.PermutationCursor.
typedef struct {
    uint32_t position;
    uint32_t skip;
    uint32_t turns;
    int32_t backend;
} cmaglev_cursor;
_Static_assert(sizeof(cmaglev_cursor) == 16, "four cursors per cache line, as in the Swift code");

static int cmaglev_is_prime(uint32_t n) {
    if (n < 2) return 0;
    if (n < 4) return 1;
    if (n % 2 == 0 || n % 3 == 0) return 0;
    for (uint32_t d = 5; d <= n / d; d += 6) {
        if (n % d == 0 || n % (d + 2) == 0) return 0;
    }
    return 1;
}

static uint32_t cmaglev_gcd(uint32_t a, uint32_t b) {
    while (b != 0) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

// An open-addressing set of backend indices (0 = empty, else index + 1), at most half full: O(N), as in Swift.
static int cmaglev_has_duplicate_key(const CMaglevReference_Backend *backends, uint32_t count) {
    if (count < 2) return 0;
    size_t capacity = 4;
    while (capacity < 2 * (size_t)count) capacity <<= 1;
    uint32_t *set = calloc(capacity, sizeof(uint32_t));
    if (set == NULL) return 1;
    const size_t mask = capacity - 1;
    int duplicate = 0;
    for (uint32_t i = 0; i < count && !duplicate; i++) {
        size_t h = (size_t)CMaglevReference_mix(backends[i].key) & mask;
        while (set[h] != 0) {
            if (backends[set[h] - 1].key == backends[i].key) {
                duplicate = 1;
                break;
            }
            h = (h + 1) & mask;
        }
        set[h] = i + 1;
    }
    free(set);
    return duplicate;
}

// Pseudocode 1: in rounds, each backend claims `turns` slots, each the next free one of its permutation.
static void cmaglev_populate(int32_t *slots, uint32_t m, cmaglev_cursor *cursors, uint32_t count) {
    uint32_t filled = 0;
    for (;;) {
        for (uint32_t j = 0; j < count; j++) {
            const uint32_t skip = cursors[j].skip;
            const int32_t backend = cursors[j].backend;
            uint32_t position = cursors[j].position;
            uint32_t turns = cursors[j].turns;
            do {
                while (slots[position] >= 0) {
                    position += skip;
                    if (position >= m) position -= m;
                }
                slots[position] = backend;
                position += skip;
                if (position >= m) position -= m;
                if (++filled == m) return;
            } while (--turns != 0);
            cursors[j].position = position;
        }
    }
}

int32_t *CMaglevReference_build(uint32_t m, const CMaglevReference_Backend *backends, uint32_t count) {
    if (m < 2 || m > INT32_MAX || !cmaglev_is_prime(m)) return NULL;
    uint32_t weighted = 0, divisor = 0;
    uint64_t total_weight = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (backends[i].weight == 0) continue;
        weighted++;
        divisor = cmaglev_gcd(divisor, backends[i].weight);
        total_weight += backends[i].weight;
    }
    if (weighted == 0 || weighted > m) return NULL;
    if (cmaglev_has_duplicate_key(backends, count)) return NULL;

    int32_t *slots = malloc(sizeof(int32_t) * m);
    cmaglev_cursor *cursors = malloc(sizeof(cmaglev_cursor) * weighted);
    if (slots == NULL || cursors == NULL) {
        free(slots);
        free(cursors);
        return NULL;
    }
    memset(slots, 0xff, sizeof(int32_t) * m);  // every slot -1: free

    uint64_t total_turns = total_weight / divisor;
    const uint64_t budget = m / 4 > 0 ? m / 4 : 1;
    const int scale = total_turns > budget;
    uint64_t scaled_total = 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (backends[i].weight == 0) continue;
        uint64_t turns = backends[i].weight / divisor;
        if (scale) {
            turns = turns * budget / total_turns;
            if (turns == 0) turns = 1;
        }
        scaled_total += turns;
        cursors[n].position = (uint32_t)(CMaglevReference_mix(backends[i].key + CMAGLEV_GAMMA) % m);
        cursors[n].skip = (uint32_t)(CMaglevReference_mix(backends[i].key + 2 * CMAGLEV_GAMMA) % (m - 1)) + 1;
        cursors[n].turns = (uint32_t)turns;
        cursors[n].backend = (int32_t)i;
        n++;
    }
    if (scaled_total > m) {
        for (uint32_t j = 0; j < n; j++) cursors[j].turns = 1;
    }
    cmaglev_populate(slots, m, cursors, n);
    free(cursors);
    return slots;
}

void CMaglevReference_free(int32_t *table) { free(table); }
