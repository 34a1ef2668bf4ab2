// Concurrency Kit's ck_ht, used as its documentation asks: one writer at a time (a pthread mutex around every
// put/remove — taken with one thread as with two, since a real program cannot know), lock-free readers inside an
// epoch section, removed objects freed through ck_epoch_call once no reader can hold them. Byte-string mode: each
// slot holds a pointer to the key, its length and its full hash (Debian builds ck without pointer packing, so a
// slot is 32 bytes), the value pointer to the malloc'ed object holding key and value. Not CK_HT_WORKLOAD_DELETE:
// its per-slot probe bounds cost readers a second random access.
#include <ck_epoch.h>
#include <ck_ht.h>

#include "internal.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct {
    CConnRef_Key key;
    CConnRef_Value value;
    ck_epoch_entry_t epoch_entry;
} ck_object;

typedef struct {
    ck_ht_t ht;
    ck_epoch_t epoch;
    ck_epoch_record_t records[CCONNREF_MAX_THREADS];
    pthread_mutex_t writer;
    int max_threads;
} ck_table;

static void *ck_malloc_cb(size_t size) { return malloc(size); }

static void *ck_realloc_cb(void *p, size_t old_size, size_t new_size, bool defer) {
    (void)old_size;
    (void)defer;
    return realloc(p, new_size);
}

// Deferred frees come only from a map replaced by growth, which the chosen capacity never triggers; freeing at once
// would be wrong if it did while readers run, so such a map is left allocated (growth is counted as a failure of
// the set-up, not hidden: see cconnref_ck_create's capacity).
static void ck_free_cb(void *p, size_t size, bool defer) {
    (void)size;
    if (!defer)
        free(p);
}

static struct ck_malloc ck_allocator = {.malloc = ck_malloc_cb, .realloc = ck_realloc_cb, .free = ck_free_cb};

static void ck_hash_cb(ck_ht_hash_t *h, const void *key, size_t length, uint64_t seed) {
    (void)length;
    (void)seed;
    h->value = cconnref_hash(key);
}

static void ck_free_object(ck_epoch_entry_t *entry) {
    free((char *)entry - offsetof(ck_object, epoch_entry));
}

void *cconnref_ck_create(uint64_t capacity, int max_threads) {
    ck_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    // ck_ht doubles when more than half full: `capacity` slots hold capacity / 2 entries without growing.
    if (!ck_ht_init(&t->ht, CK_HT_MODE_BYTESTRING, ck_hash_cb, &ck_allocator, capacity, 0)) {
        free(t);
        return NULL;
    }
    ck_epoch_init(&t->epoch);
    for (int i = 0; i < max_threads; i++)
        ck_epoch_register(&t->epoch, &t->records[i], NULL);
    pthread_mutex_init(&t->writer, NULL);
    t->max_threads = max_threads;
    return t;
}

void cconnref_ck_thread_enter(void *p, int thread) {
    (void)p;
    (void)thread;
}

void cconnref_ck_thread_exit(void *p, int thread) {
    ck_table *t = p;
    ck_epoch_poll(&t->records[thread]);
}

uint64_t cconnref_ck_count(void *p) { return ck_ht_count(&((ck_table *)p)->ht); }

void cconnref_ck_destroy(void *p) {
    ck_table *t = p;
    for (int i = 0; i < t->max_threads; i++)
        ck_epoch_barrier(&t->records[i]);  // runs the pending frees: no reader is left
    ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
    ck_ht_entry_t *entry;
    while (ck_ht_next(&t->ht, &it, &entry))
        free(ck_ht_entry_value(entry));
    ck_ht_destroy(&t->ht);
    pthread_mutex_destroy(&t->writer);
    free(t);
}

void cconnref_ck_run(void *p, int thread, const CConnRef_Key *keys, const uint8_t *ops, int uniform_op,
                     size_t count, CConnRef_Result *result) {
    ck_table *t = p;
    ck_epoch_record_t *record = &t->records[thread];
    CConnRef_Result r = *result;
    ck_epoch_begin(record, NULL);
    for (size_t n = 0; n < count; n++) {
        if ((n & (CCONNREF_BATCH - 1)) == CCONNREF_BATCH - 1) {
            ck_epoch_end(record, NULL);
            ck_epoch_poll(record);
            ck_epoch_begin(record, NULL);
        }
        const CConnRef_Key *key = &keys[n];
        ck_ht_hash_t h = {.value = cconnref_hash(key)};
        int op = ops ? ops[n] : uniform_op;
        ck_ht_entry_t entry;
        if (op == CConnRef_OpLookup) {
            ck_ht_entry_key_set(&entry, key, sizeof *key);
            if (ck_ht_get_spmc(&t->ht, h, &entry)) {
                r.hits++;
                r.checksum += cconnref_destination(&((ck_object *)ck_ht_entry_value(&entry))->value);
            } else {
                r.misses++;
            }
        } else if (op == CConnRef_OpInsert) {
            ck_object *o = malloc(sizeof *o);
            if (o == NULL) {
                r.insertFailed++;
                continue;
            }
            o->key = *key;
            cconnref_make_value(key, &o->value);
            ck_ht_entry_set(&entry, h, &o->key, sizeof o->key, o);
            pthread_mutex_lock(&t->writer);
            bool added = ck_ht_put_spmc(&t->ht, h, &entry);
            pthread_mutex_unlock(&t->writer);
            if (added) {
                r.inserted++;
            } else {
                free(o);
                r.insertFailed++;
            }
        } else {
            ck_ht_entry_key_set(&entry, key, sizeof *key);
            pthread_mutex_lock(&t->writer);
            bool removed = ck_ht_remove_spmc(&t->ht, h, &entry);
            pthread_mutex_unlock(&t->writer);
            if (removed) {
                ck_epoch_call(record, &((ck_object *)ck_ht_entry_value(&entry))->epoch_entry, ck_free_object);
                r.deleted++;
            } else {
                r.deleteFailed++;
            }
        }
    }
    ck_epoch_end(record, NULL);
    *result = r;
}
