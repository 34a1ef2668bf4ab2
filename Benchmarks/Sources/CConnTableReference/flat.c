// The ceiling: a flat open-addressing table with the entries inline in the slots, no synchronisation at all.
// Linear probing from hash & mask; an empty slot has tag 0; deletion shifts later entries of the run back
// (Knuth, TAOCP vol. 3, 6.4 Algorithm R), so there are no tombstones and lookups stay as short as at creation.
#include "internal.h"

#include <stdlib.h>

// Key and value make exactly a cache line; slots are aligned to lines, so a lookup touches one line.
typedef struct {
    CConnRef_Key key;
    CConnRef_Value value;
} __attribute__((aligned(64))) flat_slot;

_Static_assert(sizeof(flat_slot) == 64, "one slot per cache line");

typedef struct {
    flat_slot *slots;
    uint64_t mask;
    uint64_t count;
} flat_table;

void *cconnref_flat_create(uint64_t capacity) {
    flat_table *t = malloc(sizeof *t);
    if (t == NULL)
        return NULL;
    if (posix_memalign((void **)&t->slots, 64, capacity * sizeof(flat_slot)) != 0)
        t->slots = NULL;
    if (t->slots == NULL) {
        free(t);
        return NULL;
    }
    memset(t->slots, 0, capacity * sizeof(flat_slot));
    t->mask = capacity - 1;
    t->count = 0;
    return t;
}

void cconnref_flat_destroy(void *p) {
    flat_table *t = p;
    free(t->slots);
    free(t);
}

uint64_t cconnref_flat_count(void *p) { return ((flat_table *)p)->count; }

static inline flat_slot *flat_find(flat_table *t, const CConnRef_Key *key, uint64_t h) {
    for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
        flat_slot *s = &t->slots[i];
        if (s->key.tag == 0)
            return NULL;
        if (cconnref_key_equal(&s->key, key))
            return s;
    }
}

static inline bool flat_insert(flat_table *t, const CConnRef_Key *key, uint64_t h) {
    if (t->count + 1 > t->mask)  // keep one empty slot so that probes end
        return false;
    for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
        flat_slot *s = &t->slots[i];
        if (s->key.tag == 0) {
            s->key = *key;
            cconnref_make_value(key, &s->value);
            t->count++;
            return true;
        }
        if (cconnref_key_equal(&s->key, key))
            return false;
    }
}

static inline bool flat_delete(flat_table *t, const CConnRef_Key *key, uint64_t h) {
    uint64_t mask = t->mask;
    uint64_t i = h & mask;
    for (;; i = (i + 1) & mask) {
        flat_slot *s = &t->slots[i];
        if (s->key.tag == 0)
            return false;
        if (cconnref_key_equal(&s->key, key))
            break;
    }
    // Backward shift: move up every later entry of the run whose home is not in (hole, j].
    uint64_t hole = i;
    for (uint64_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        flat_slot *s = &t->slots[j];
        if (s->key.tag == 0)
            break;
        uint64_t home = cconnref_hash(&s->key) & mask;
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            t->slots[hole] = *s;
            hole = j;
        }
    }
    t->slots[hole].key.tag = 0;
    t->count--;
    return true;
}

static inline void flat_op(flat_table *t, const CConnRef_Key *key, uint64_t h, int op, CConnRef_Result *r) {
    if (op == CConnRef_OpLookup) {
        flat_slot *s = flat_find(t, key, h);
        if (s) {
            r->hits++;
            r->checksum += cconnref_destination(&s->value);
        } else {
            r->misses++;
        }
    } else if (op == CConnRef_OpInsert) {
        if (flat_insert(t, key, h))
            r->inserted++;
        else
            r->insertFailed++;
    } else {
        if (flat_delete(t, key, h))
            r->deleted++;
        else
            r->deleteFailed++;
    }
}

void cconnref_flat_run(void *p, const CConnRef_Key *keys, const uint8_t *ops, int uniform_op, size_t count,
                       CConnRef_Result *result) {
    flat_table *t = p;
    CConnRef_Result r = *result;
    for (size_t n = 0; n < count; n++)
        flat_op(t, &keys[n], cconnref_hash(&keys[n]), ops ? ops[n] : uniform_op, &r);
    *result = r;
}

// Bursts: hash every key of the burst and prefetch its home slot, then run the operations in order with the hashes
// kept. A prefetch instruction does not wait for its line (unlike the plain load ConnectionTable must use in pure
// Swift), so this is the best a flat table can do with the same structure.
void cconnref_flat_run_batched(void *p, const CConnRef_Key *keys, const uint8_t *ops, int uniform_op, size_t count,
                               CConnRef_Result *result) {
    flat_table *t = p;
    CConnRef_Result r = *result;
    uint64_t hashes[CCONNREF_BURST];
    for (size_t start = 0; start < count; start += CCONNREF_BURST) {
        size_t n = count - start < CCONNREF_BURST ? count - start : CCONNREF_BURST;
        for (size_t i = 0; i < n; i++) {
            hashes[i] = cconnref_hash(&keys[start + i]);
            __builtin_prefetch(&t->slots[hashes[i] & t->mask]);
        }
        for (size_t i = 0; i < n; i++)
            flat_op(t, &keys[start + i], hashes[i], ops ? ops[start + i] : uniform_op, &r);
    }
    *result = r;
}
