// liburcu's cds_lfht, used as a real program uses it: QSBR flavour with the read-side fast paths inlined
// (_LGPL_SOURCE), one malloc'ed node per entry, add_unique for inserts, del + call_rcu(free) for deletes, and a
// quiescent state every CCONNREF_BATCH operations. No automatic resizing and no accounting (both cost): the bucket
// count is fixed at creation.
#define _LGPL_SOURCE
#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "internal.h"

#include <stdlib.h>

typedef struct {
    struct cds_lfht_node node;
    CConnRef_Key key;
    CConnRef_Value value;
    struct rcu_head rcu;
} lfht_entry;

typedef struct {
    struct cds_lfht *ht;
} lfht_table;

static int lfht_match(struct cds_lfht_node *node, const void *key) {
    const lfht_entry *e = caa_container_of(node, lfht_entry, node);
    return cconnref_key_equal(&e->key, key);
}

static void lfht_free_entry(struct rcu_head *head) { free(caa_container_of(head, lfht_entry, rcu)); }

void *cconnref_lfht_create(uint64_t capacity) {
    lfht_table *t = malloc(sizeof *t);
    if (t == NULL)
        return NULL;
    t->ht = cds_lfht_new(capacity, capacity, capacity, 0, NULL);
    if (t->ht == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void cconnref_lfht_thread_enter(void *p, int thread) {
    (void)p;
    (void)thread;
    rcu_register_thread();
}

void cconnref_lfht_thread_exit(void *p, int thread) {
    (void)p;
    (void)thread;
    rcu_unregister_thread();  // goes offline: grace periods no longer wait for this thread
}

uint64_t cconnref_lfht_count(void *p) {
    lfht_table *t = p;
    long before, after;
    unsigned long count;
    rcu_register_thread();
    rcu_read_lock();
    cds_lfht_count_nodes(t->ht, &before, &count, &after);
    rcu_read_unlock();
    rcu_unregister_thread();
    return count;
}

void cconnref_lfht_destroy(void *p) {
    lfht_table *t = p;
    rcu_register_thread();
    struct cds_lfht_iter iter;
    lfht_entry *e;
    rcu_read_lock();
    cds_lfht_for_each_entry(t->ht, &iter, e, node) {
        if (cds_lfht_del(t->ht, &e->node) == 0)
            call_rcu(&e->rcu, lfht_free_entry);
    }
    rcu_read_unlock();
    rcu_thread_offline();
    rcu_barrier();  // every call_rcu callback, from the runs and from above, has freed its entry
    rcu_thread_online();
    (void)cds_lfht_destroy(t->ht, NULL);
    rcu_unregister_thread();
    free(t);
}

void cconnref_lfht_run(void *p, const CConnRef_Key *keys, const uint8_t *ops, int uniform_op, size_t count,
                       CConnRef_Result *result) {
    lfht_table *t = p;
    struct cds_lfht *ht = t->ht;
    CConnRef_Result r = *result;
    for (size_t n = 0; n < count; n++) {
        if ((n & (CCONNREF_BATCH - 1)) == 0)
            rcu_quiescent_state();
        const CConnRef_Key *key = &keys[n];
        unsigned long h = (unsigned long)cconnref_hash(key);
        int op = ops ? ops[n] : uniform_op;
        if (op == CConnRef_OpLookup) {
            struct cds_lfht_iter iter;
            rcu_read_lock();
            cds_lfht_lookup(ht, h, lfht_match, key, &iter);
            struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
            if (node) {
                r.hits++;
                r.checksum += cconnref_destination(&caa_container_of(node, lfht_entry, node)->value);
            } else {
                r.misses++;
            }
            rcu_read_unlock();
        } else if (op == CConnRef_OpInsert) {
            lfht_entry *e = malloc(sizeof *e);
            if (e == NULL) {
                r.insertFailed++;
                continue;
            }
            cds_lfht_node_init(&e->node);
            e->key = *key;
            cconnref_make_value(key, &e->value);
            rcu_read_lock();
            struct cds_lfht_node *present = cds_lfht_add_unique(ht, h, lfht_match, &e->key, &e->node);
            rcu_read_unlock();
            if (present == &e->node) {
                r.inserted++;
            } else {
                free(e);
                r.insertFailed++;
            }
        } else {
            struct cds_lfht_iter iter;
            rcu_read_lock();
            cds_lfht_lookup(ht, h, lfht_match, key, &iter);
            struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
            if (node && cds_lfht_del(ht, node) == 0) {
                call_rcu(&caa_container_of(node, lfht_entry, node)->rcu, lfht_free_entry);
                r.deleted++;
            } else {
                r.deleteFailed++;
            }
            rcu_read_unlock();
        }
    }
    *result = r;
}
