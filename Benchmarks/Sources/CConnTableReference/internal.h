// Shared by the reference tables: key comparison and the per-kind entry points CConnRef_run dispatches to.
#ifndef CCONNREF_INTERNAL_H
#define CCONNREF_INTERNAL_H

#include "CConnTableReference.h"
#include <string.h>

/// 40-byte equality; with a constant size clang turns memcmp into five 8-byte compares.
static inline bool cconnref_key_equal(const CConnRef_Key *a, const CConnRef_Key *b) {
    return memcmp(a, b, sizeof(CConnRef_Key)) == 0;
}

static inline uint64_t cconnref_mix(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/// CConnRef_hash, inlined into the tables' loops.
static inline uint64_t cconnref_hash(const CConnRef_Key *key) {
    uint64_t w[5];
    memcpy(w, key, sizeof w);
    uint64_t h = 0x243F6A8885A308D3ULL;
    for (int i = 0; i < 5; i++) {
        h = (h ^ w[i]) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
    }
    return cconnref_mix(h);
}

static inline void cconnref_make_value(const CConnRef_Key *key, CConnRef_Value *value) {
    memset(value, 0, sizeof *value);
    value->destination = (uint32_t)key->clientPort & 0xFF;
    value->expiry = 900;
    value->state = 1;
}

_Static_assert(sizeof(CConnRef_Key) == 40, "the key is 40 bytes, like the Swift table's");
_Static_assert(sizeof(CConnRef_Value) == 16, "the value is 16 bytes");

void *cconnref_flat_create(uint64_t capacity);
void cconnref_flat_destroy(void *table);
uint64_t cconnref_flat_count(void *table);
void cconnref_flat_run(void *table, const CConnRef_Key *keys, const uint8_t *ops, int uniform_op, size_t count,
                       CConnRef_Result *result);

void *cconnref_lfht_create(uint64_t capacity);
void cconnref_lfht_destroy(void *table);
uint64_t cconnref_lfht_count(void *table);
void cconnref_lfht_thread_enter(void *table, int thread);
void cconnref_lfht_thread_exit(void *table, int thread);
void cconnref_lfht_run(void *table, const CConnRef_Key *keys, const uint8_t *ops, int uniform_op, size_t count,
                       CConnRef_Result *result);

void *cconnref_ck_create(uint64_t capacity, int max_threads);
void cconnref_ck_destroy(void *table);
uint64_t cconnref_ck_count(void *table);
void cconnref_ck_thread_enter(void *table, int thread);
void cconnref_ck_thread_exit(void *table, int thread);
void cconnref_ck_run(void *table, int thread, const CConnRef_Key *keys, const uint8_t *ops, int uniform_op,
                     size_t count, CConnRef_Result *result);

#endif
