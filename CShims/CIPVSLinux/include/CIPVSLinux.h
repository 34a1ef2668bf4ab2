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

#endif
