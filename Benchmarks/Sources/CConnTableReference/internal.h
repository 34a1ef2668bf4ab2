// Shared by the reference tables: key comparison and the per-kind entry points CConnRef_run dispatches to.
#ifndef CCONNREF_INTERNAL_H
#define CCONNREF_INTERNAL_H

#include "CConnTableReference.h"
#include <string.h>

/// Key equality, word by word without early exit (as ConnectionTable compares).
static inline bool cconnref_key_equal(const CConnRef_Key *a, const CConnRef_Key *b) {
    return ((a->tag ^ b->tag) | (a->ports ^ b->ports) | (a->client0 ^ b->client0) | (a->client1 ^ b->client1)
            | (a->virtual0 ^ b->virtual0) | (a->virtual1 ^ b->virtual1)) == 0;
}

static inline uint64_t cconnref_mix(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/// CConnRef_hash, inlined into the tables' loops: ConnectionKey.hash(seed:) — the seed and the tag, then the ports,
/// then the folded addresses (the IPv6 halves in one more round), each through the SplitMix64 finaliser.
static inline uint64_t cconnref_hash(const CConnRef_Key *key) {
    uint64_t h = CCONNREF_HASH_SEED ^ key->tag;
    h = cconnref_mix(h ^ key->ports);
    h = cconnref_mix(h ^ key->client0 ^ (key->virtual0 * 0x9E3779B97F4A7C15ULL));
    if (key->tag & 8)
        h = cconnref_mix(h ^ key->client1 ^ (key->virtual1 * 0xC2B2AE3D27D4EB4FULL));
    return cconnref_mix(h);
}

/// The value inserted with a key: destination = client port & 255, service 1, state 1, expiry 900 s.
static inline void cconnref_make_value(const CConnRef_Key *key, CConnRef_Value *value) {
    value->ids = (key->ports & 0xFF) | (uint64_t)1 << 32;
    value->word = 1 | (uint64_t)900000 << 24;
}

/// The destination of a value (its low 32 bits), summed by lookups.
static inline uint64_t cconnref_destination(const CConnRef_Value *value) { return (uint32_t)value->ids; }

_Static_assert(sizeof(CConnRef_Key) == 48, "the key is ConnectionKey's six words");
_Static_assert(sizeof(CConnRef_Value) == 16, "the value is 16 bytes");

void *cconnref_flat_create(uint64_t capacity);
void cconnref_flat_destroy(void *table);
uint64_t cconnref_flat_count(void *table);
void cconnref_flat_run(void *table, const CConnRef_Key *keys, const uint8_t *ops, int uniform_op, size_t count,
                       CConnRef_Result *result);

void cconnref_flat_run_batched(void *table, const CConnRef_Key *keys, const uint8_t *ops, int uniform_op, size_t count,
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
