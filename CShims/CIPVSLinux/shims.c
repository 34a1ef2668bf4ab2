#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "CIPVSLinux.h"

int CIPVSLinux_setns_net(int fd) {
    return setns(fd, CLONE_NEWNET);
}

int CIPVSLinux_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

int CIPVSLinux_set_effective_capability(int capability, int enabled) {
    // Version 3: two 32-bit words per set. pid 0 is the calling thread.
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    if (capability < 0 || capability >= 32 * _LINUX_CAPABILITY_U32S_3) {
        errno = EINVAL;
        return -1;
    }
    if (syscall(SYS_capget, &header, data) != 0) return -1;
    unsigned int bit = 1u << (capability % 32);
    if (enabled)
        data[capability / 32].effective |= bit;
    else
        data[capability / 32].effective &= ~bit;
    return (int)syscall(SYS_capset, &header, data);
}

int CIPVSLinux_receive_two(int fd, void *first, void *second, unsigned size, int flags, unsigned lengths[2]) {
    void *buffers[2] = {first, second};
    struct iovec vectors[2];
    struct mmsghdr headers[2];
    memset(headers, 0, sizeof(headers));
    for (int i = 0; i < 2; i++) {
        vectors[i].iov_base = buffers[i];
        vectors[i].iov_len = size;
        headers[i].msg_hdr.msg_iov = &vectors[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    int received = recvmmsg(fd, headers, 2, flags | MSG_WAITFORONE, NULL);
    for (int i = 0; i < received; i++) lengths[i] = headers[i].msg_len;
    return received;
}

int CIPVSLinux_set_malloc_thresholds(int mmap_threshold, int trim_threshold) {
    int mmap_taken = mallopt(M_MMAP_THRESHOLD, mmap_threshold);
    int trim_taken = mallopt(M_TRIM_THRESHOLD, trim_threshold);
    return mmap_taken == 1 && trim_taken == 1;
}
