/*
 * Preloaded into Debian's ipvsadm by IPVSAdmParserDifferentialTests, on a host whose kernel has no IPVS.
 *
 * ipvsadm connects to IPVS before it reads its command line, so without IPVS every command line fails the same
 * way. With this library preloaded, its fallback to the raw-socket interface (libipvs ipvs_init) gets an IPVS
 * version from IP_VS_SO_GET_INFO, so ipvsadm goes on to parse its arguments; every other IPVS socket option fails
 * with EHWPOISON, an errno nothing else produces, which tells the test the line was accepted. With
 * IPVSADM_TEST_CONN_FILE set, `ipvsadm -Lc` reads that file instead of /proc/net/ip_vs_conn.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* IP_VS_BASE_CTL and IP_VS_SO_GET_INFO from <linux/ip_vs.h> (not installed on every host). */
#define IPVS_SOCKOPT_BASE (64 + 1024 + 64)
#define IPVS_SOCKOPT_GET_INFO (IPVS_SOCKOPT_BASE + 1)
#define IPVS_SOCKOPT_COUNT 64

static int is_ipvs(int level, int name) {
    return level == IPPROTO_IP && name >= IPVS_SOCKOPT_BASE && name < IPVS_SOCKOPT_BASE + IPVS_SOCKOPT_COUNT;
}

int getsockopt(int fd, int level, int name, void *value, socklen_t *length) {
    if (is_ipvs(level, name)) {
        if (name == IPVS_SOCKOPT_GET_INFO && *length >= 3 * sizeof(unsigned int)) {
            unsigned int info[3] = {0x010201, 4096, 0}; /* version 1.2.1, table size, services */
            memcpy(value, info, sizeof info);
            return 0;
        }
        errno = EHWPOISON;
        return -1;
    }
    int (*next)(int, int, int, void *, socklen_t *) = dlsym(RTLD_NEXT, "getsockopt");
    return next(fd, level, name, value, length);
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t length) {
    if (is_ipvs(level, name)) {
        errno = EHWPOISON;
        return -1;
    }
    int (*next)(int, int, int, const void *, socklen_t) = dlsym(RTLD_NEXT, "setsockopt");
    return next(fd, level, name, value, length);
}

FILE *fopen(const char *path, const char *mode) {
    FILE *(*next)(const char *, const char *) = dlsym(RTLD_NEXT, "fopen");
    const char *replacement = getenv("IPVSADM_TEST_CONN_FILE");
    if (replacement && strcmp(path, "/proc/net/ip_vs_conn") == 0)
        return next(replacement, mode);
    return next(path, mode);
}
