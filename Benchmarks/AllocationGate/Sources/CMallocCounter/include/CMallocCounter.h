// Counts the calls that allocate heap memory in this process, for the allocation gate.
//
// Linked into an executable, the functions in counter.c define malloc, calloc, realloc, posix_memalign,
// aligned_alloc, memalign, valloc and pvalloc; the dynamic linker binds every library's calls (the Swift runtime's
// swift_slowAlloc included) to the executable's definitions first. Each counts one allocation and forwards to
// glibc's own implementation (__libc_malloc, …), so free() needs no interposing. This is what ordo-one/benchmark's
// MallocInterposer does, without the benchmark harness around it.
#ifndef CMALLOC_COUNTER_H
#define CMALLOC_COUNTER_H

#include <stdint.h>

/// Allocation calls so far, all threads (relaxed atomic counter).
uint64_t CMallocCounter_allocations(void);

#endif
