// Key sequence, hash, dispatch and the benchmark thread runner.
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

uint64_t CConnRef_mix(uint64_t x) { return cconnref_mix(x); }

void CConnRef_make_key(uint64_t seed, uint64_t index, CConnRef_Key *key) {
    uint64_t v = CConnRef_mix(seed + (index + 1) * 0x9E3779B97F4A7C15ULL);
    key->tag = 6 << 8;  // TCP, IPv4
    key->ports = ((v >> 32) & 0xFFFF) | (uint64_t)80 << 16;
    key->client0 = (uint32_t)v;
    key->client1 = 0;
    key->virtual0 = 0x0A640000u | (uint32_t)((v >> 56) << 8) | (uint32_t)((v >> 48) & 0xFF);
    key->virtual1 = 0;
}

void CConnRef_make_value(const CConnRef_Key *key, CConnRef_Value *value) { cconnref_make_value(key, value); }

uint64_t CConnRef_hash(const CConnRef_Key *key) { return cconnref_hash(key); }

struct CConnRef_Table {
    CConnRef_Kind kind;
    void *impl;
};

CConnRef_Table *CConnRef_create(CConnRef_Kind kind, uint64_t capacity, int max_threads) {
    if (capacity < 16 || (capacity & (capacity - 1)) != 0 || max_threads < 1 || max_threads > CCONNREF_MAX_THREADS)
        return NULL;
    CConnRef_Table *table = malloc(sizeof *table);
    if (table == NULL)
        return NULL;
    table->kind = kind;
    switch (kind) {
    case CConnRef_Flat:
    case CConnRef_FlatBatch: table->impl = cconnref_flat_create(capacity); break;
    case CConnRef_LFHT: table->impl = cconnref_lfht_create(capacity); break;
    case CConnRef_CKHT: table->impl = cconnref_ck_create(capacity, max_threads); break;
    default: table->impl = NULL;
    }
    if (table->impl == NULL) {
        free(table);
        return NULL;
    }
    return table;
}

void CConnRef_destroy(CConnRef_Table *table) {
    switch (table->kind) {
    case CConnRef_Flat:
    case CConnRef_FlatBatch: cconnref_flat_destroy(table->impl); break;
    case CConnRef_LFHT: cconnref_lfht_destroy(table->impl); break;
    case CConnRef_CKHT: cconnref_ck_destroy(table->impl); break;
    }
    free(table);
}

uint64_t CConnRef_count(CConnRef_Table *table) {
    switch (table->kind) {
    case CConnRef_Flat:
    case CConnRef_FlatBatch: return cconnref_flat_count(table->impl);
    case CConnRef_LFHT: return cconnref_lfht_count(table->impl);
    case CConnRef_CKHT: return cconnref_ck_count(table->impl);
    }
    return 0;
}

void CConnRef_thread_enter(CConnRef_Table *table, int thread) {
    switch (table->kind) {
    case CConnRef_Flat:
    case CConnRef_FlatBatch: break;
    case CConnRef_LFHT: cconnref_lfht_thread_enter(table->impl, thread); break;
    case CConnRef_CKHT: cconnref_ck_thread_enter(table->impl, thread); break;
    }
}

void CConnRef_thread_exit(CConnRef_Table *table, int thread) {
    switch (table->kind) {
    case CConnRef_Flat:
    case CConnRef_FlatBatch: break;
    case CConnRef_LFHT: cconnref_lfht_thread_exit(table->impl, thread); break;
    case CConnRef_CKHT: cconnref_ck_thread_exit(table->impl, thread); break;
    }
}

void CConnRef_run(CConnRef_Table *table, int thread, const CConnRef_Key *keys, const uint8_t *ops, int uniform_op,
                  size_t count, CConnRef_Result *result) {
    switch (table->kind) {
    case CConnRef_Flat: cconnref_flat_run(table->impl, keys, ops, uniform_op, count, result); break;
    case CConnRef_FlatBatch: cconnref_flat_run_batched(table->impl, keys, ops, uniform_op, count, result); break;
    case CConnRef_LFHT: cconnref_lfht_run(table->impl, keys, ops, uniform_op, count, result); break;
    case CConnRef_CKHT: cconnref_ck_run(table->impl, thread, keys, ops, uniform_op, count, result); break;
    }
}

// MARK: - Threads

double CConnBench_wall_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double CConnBench_thread_cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct {
    int threads;
    bool pin;
    void *context;
    CConnBench_Body enter, body, exit;
    CConnBench_Timing *timings;
    atomic_int arrived;
} cconnbench_shared;

typedef struct {
    cconnbench_shared *shared;
    int index;
} cconnbench_arg;

static void *cconnbench_thread(void *p) {
    cconnbench_arg *arg = p;
    cconnbench_shared *s = arg->shared;
    int i = arg->index;
    if (s->pin) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        if (cpus > 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(i % (int)cpus, &set);
            (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        }
    }
    if (s->enter)
        s->enter(s->context, i);
    // Spin barrier: every body starts within microseconds of the others.
    atomic_fetch_add(&s->arrived, 1);
    while (atomic_load(&s->arrived) < s->threads)
        sched_yield();
    double w0 = CConnBench_wall_seconds(), c0 = CConnBench_thread_cpu_seconds();
    s->body(s->context, i);
    double c1 = CConnBench_thread_cpu_seconds(), w1 = CConnBench_wall_seconds();
    s->timings[i] = (CConnBench_Timing){.wallStart = w0, .wallEnd = w1, .cpuSeconds = c1 - c0};
    if (s->exit)
        s->exit(s->context, i);
    return NULL;
}

int CConnBench_run_parallel(int threads, bool pin, void *context, CConnBench_Body enter, CConnBench_Body body,
                            CConnBench_Body exit, CConnBench_Timing *timings) {
    if (threads < 1 || threads > CCONNREF_MAX_THREADS)
        return EINVAL;
    cconnbench_shared shared = {
        .threads = threads, .pin = pin, .context = context, .enter = enter, .body = body, .exit = exit,
        .timings = timings};
    atomic_init(&shared.arrived, 0);
    pthread_t ids[CCONNREF_MAX_THREADS];
    cconnbench_arg args[CCONNREF_MAX_THREADS];
    int created = 0, error = 0;
    for (int i = 0; i < threads; i++) {
        args[i] = (cconnbench_arg){.shared = &shared, .index = i};
        error = pthread_create(&ids[i], NULL, cconnbench_thread, &args[i]);
        if (error != 0)
            break;
        created++;
    }
    if (error != 0) {
        // Release the ones waiting at the barrier: they run, and are joined, but the caller sees the error.
        atomic_fetch_add(&shared.arrived, threads - created);
    }
    for (int i = 0; i < created; i++)
        pthread_join(ids[i], NULL);
    return error;
}
