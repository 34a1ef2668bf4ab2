#define _GNU_SOURCE
#include <sched.h>
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
