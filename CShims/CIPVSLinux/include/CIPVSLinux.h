// CIPVSLinux: the few Linux calls Swift cannot reach through Glibc.
//
// setns(2) and sched_setaffinity(2) are GNU extensions: glibc declares them only under _GNU_SOURCE, which the
// Glibc module is not built with, and CPU_SET is a macro. These wrappers are defined in shims.c, compiled with
// _GNU_SOURCE.
#ifndef C_IPVS_LINUX_H
#define C_IPVS_LINUX_H

/// Moves the calling thread into the network namespace `fd` refers to (setns(fd, CLONE_NEWNET)).
/// Returns 0, or -1 with errno set.
int CIPVSLinux_setns_net(int fd);

/// Pins the calling thread to CPU `cpu` (sched_setaffinity(0, …) with one bit set).
/// Returns 0, or -1 with errno set.
int CIPVSLinux_pin_to_cpu(int cpu);

/// Raises (`enabled` non-zero) or drops capability `capability` (CAP_NET_ADMIN, ...) in the calling thread's
/// effective set, leaving its permitted set alone so that a drop can be undone. Linux capabilities belong to each
/// thread and glibc has no per-thread call (libcap's cap_set_proc is not installed): this is the raw
/// capget/capset(2) pair on the calling thread. Returns 0, or -1 with errno set.
int CIPVSLinux_set_effective_capability(int capability, int enabled);

/// Receives up to two datagrams in one system call: recvmmsg(2) with MSG_WAITFORONE (blocks for the first only;
/// the second is taken if already queued). recvmmsg and struct mmsghdr are GNU extensions. Datagram i goes to
/// `first` or `second` (`size` bytes each) and its length to `lengths[i]` (with MSG_TRUNC in `flags`, the real
/// length). Returns how many were received, or -1 with errno set.
int CIPVSLinux_receive_two(int fd, void *first, void *second, unsigned size, int flags, unsigned lengths[2]);

/// Keeps large allocations in the heap: mallopt(M_MMAP_THRESHOLD, `mmap_threshold`) and mallopt(M_TRIM_THRESHOLD,
/// `trim_threshold`) (malloc.h is not in the Glibc module). Returns 1 when glibc took both, 0 otherwise.
int CIPVSLinux_set_malloc_thresholds(int mmap_threshold, int trim_threshold);

#endif
