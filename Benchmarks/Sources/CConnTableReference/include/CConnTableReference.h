// C references for IPVSCore's ConnectionTable, run side by side with it by conntable-compare.
//
// Three tables keyed by the same connection tuple, holding the same value, hashed by the same function, fed the same
// key sequence (SplitMix64 from a seed, reproduced in Swift):
//   - CConnRef_LFHT: liburcu's lock-free resizable hash table `cds_lfht` (Debian liburcu-dev 0.13) under the QSBR
//     flavour, the one whose read-side lock costs nothing (rcu_read_lock/unlock are empty; each thread announces a
//     quiescent state every CCONNREF_BATCH operations, as a packet loop does once per batch). One malloc'ed node per
//     entry, chained; deleted nodes are freed through call_rcu.
//   - CConnRef_CKHT: Concurrency Kit's `ck_ht` (Debian libck-dev 0.7.1) in byte-string mode. ck_ht is single writer /
//     many readers (SPMC): writers take a pthread mutex, as ck requires, with one thread as with two; readers take no
//     lock and sit in a ck_epoch section renewed every CCONNREF_BATCH operations; removed entries are freed through
//     ck_epoch_call. One malloc'ed object per entry (the key the table points at, and the value).
//   - CConnRef_Flat: an unsynchronised flat open-addressing table with the entries inline in the slots (linear
//     probing, backward-shift deletion): the single-threaded ceiling. Concurrent lookups without writers are safe.
//
// Capacities: every table gets `capacity` slots or buckets, which the caller chooses (conntable-compare uses the
// power of two ≥ 2 × (entries + 64), a load factor just under 0.5, which ck_ht needs anyway: it doubles above 0.5).
#ifndef CCONNTABLE_REFERENCE_H
#define CCONNTABLE_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The connection tuple, as the six 64-bit words of IPVSCore's ConnectionKey (48 bytes): `tag` = protocol << 8
/// (| 8 for IPv6; never 0, which marks an empty flat slot), `ports` = client port | virtual port << 16 |
/// firewall mark << 32, then the client and virtual addresses (IPv4: the address as a number in word 0, 0 in
/// word 1; IPv6: high and low halves).
typedef struct {
    uint64_t tag;
    uint64_t ports;
    uint64_t client0;
    uint64_t client1;
    uint64_t virtual0;
    uint64_t virtual1;
} CConnRef_Key;

/// What an entry holds besides its key, as IPVSCore's ConnectionValue (16 bytes): `ids` = destination | service
/// << 32, `word` = state | flags << 8 | expiry (ms) << 24.
typedef struct {
    uint64_t ids;
    uint64_t word;
} CConnRef_Value;

/// The hash seed all tables use (ConnectionTable gets it as `hashSeed`).
#define CCONNREF_HASH_SEED 0x6A09E667F3BCC909ULL

/// SplitMix64's output function (Steele, Lea, Flood 2014), a bijection on 64 bits.
uint64_t CConnRef_mix(uint64_t x);

/// Key number `index` of the sequence `seed`: v = mix(seed + (index + 1) · γ) is a bijection of the index, and its
/// 64 bits become the client address (bits 0-31), the client port (32-47) and a virtual address in 10.100.0.0/16
/// (10.100.(v >> 56).(v >> 48 & 255)); virtual port 80, TCP, IPv4, no mark. Distinct indices give distinct keys.
void CConnRef_make_key(uint64_t seed, uint64_t index, CConnRef_Key *key);

/// The value stored with a key: derived from it, so that a lookup can be checked.
void CConnRef_make_value(const CConnRef_Key *key, CConnRef_Value *value);

/// The hash all tables use: ConnectionTable's (ConnectionKey.hash(seed:)) under CCONNREF_HASH_SEED, the same
/// function computed the same way, so that every table places every key at the same home slot.
uint64_t CConnRef_hash(const CConnRef_Key *key);

typedef enum {
    CConnRef_Flat = 0,
    CConnRef_LFHT = 1,
    CConnRef_CKHT = 2,
    /// The flat table run in bursts of CCONNREF_BURST operations: every key of a burst is hashed and its home slot
    /// prefetched (__builtin_prefetch) before the operations run one by one — the C twin of ConnectionTable's
    /// `lookup(_:now:into:)` and `prefetch(_:)`, so that batched figures are compared with a batched ceiling.
    CConnRef_FlatBatch = 3,
} CConnRef_Kind;

enum { CConnRef_OpLookup = 0, CConnRef_OpInsert = 1, CConnRef_OpDelete = 2 };
enum { CCONNREF_BATCH = 64, CCONNREF_MAX_THREADS = 16, CCONNREF_BURST = 16 };

typedef struct CConnRef_Table CConnRef_Table;

/// A table of `capacity` slots (a power of two) for up to `max_threads` threads. NULL on bad arguments or no memory.
CConnRef_Table *CConnRef_create(CConnRef_Kind kind, uint64_t capacity, int max_threads);
/// Frees the table and every entry; no thread may be using it.
void CConnRef_destroy(CConnRef_Table *table);
/// Entries in the table (counted by the tables' own bookkeeping where they have one, else by walking it).
uint64_t CConnRef_count(CConnRef_Table *table);

/// Per-thread set-up and tear-down around CConnRef_run: RCU registration (lfht), epoch record (ck_ht).
void CConnRef_thread_enter(CConnRef_Table *table, int thread);
void CConnRef_thread_exit(CConnRef_Table *table, int thread);

typedef struct {
    uint64_t hits;           ///< lookups that found the key
    uint64_t misses;         ///< lookups that did not
    uint64_t inserted;       ///< inserts that added the key
    uint64_t insertFailed;   ///< inserts refused (key present, table full)
    uint64_t deleted;        ///< deletes that removed the key
    uint64_t deleteFailed;   ///< deletes that found no key
    uint64_t checksum;       ///< sum of the destinations found, so that lookups are observable
} CConnRef_Result;

/// Runs `count` operations on `keys[i]`: `ops[i]` (CConnRef_Op…) or, when `ops` is NULL, `uniform_op` for all.
/// Adds to `result`.
void CConnRef_run(CConnRef_Table *table, int thread, const CConnRef_Key *keys, const uint8_t *ops, int uniform_op,
                  size_t count, CConnRef_Result *result);

// MARK: - Threads

/// A benchmark thread's timing: wall clock (CLOCK_MONOTONIC) at start and end of its body, and the CPU time the
/// thread itself used during its body (CLOCK_THREAD_CPUTIME_ID), in seconds.
typedef struct {
    double wallStart;
    double wallEnd;
    double cpuSeconds;
} CConnBench_Timing;

typedef void (*CConnBench_Body)(void *context, int thread);

/// Runs `threads` threads: each calls `enter` (may be NULL), waits for all others at a barrier, runs `body` timed,
/// then calls `exit` (may be NULL). Thread i is pinned to CPU i mod the CPUs available when `pin` is set.
/// Returns 0, or an errno value when a thread could not be created.
int CConnBench_run_parallel(int threads, bool pin, void *context, CConnBench_Body enter, CConnBench_Body body,
                            CConnBench_Body exit, CConnBench_Timing *timings);

/// CLOCK_MONOTONIC and CLOCK_THREAD_CPUTIME_ID of the calling thread, in seconds.
double CConnBench_wall_seconds(void);
double CConnBench_thread_cpu_seconds(void);

#ifdef __cplusplus
}
#endif

#endif
