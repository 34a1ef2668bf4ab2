// tools/bench/netlink-reference/common.h — the little raw generic netlink the two references share.
#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static inline int open_socket(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("netlink socket");
        exit(1);
    }
    return fd;
}

// Appends one attribute at *len in buf; returns it (a nest's length is set later by end_nest).
static inline struct nlattr *put_attr(char *buf, size_t *len, uint16_t type, const void *data, uint16_t n) {
    struct nlattr *a = (struct nlattr *)(buf + *len);
    a->nla_type = type;
    a->nla_len = NLA_HDRLEN + n;
    if (data) {
        memcpy((char *)a + NLA_HDRLEN, data, n);
    }
    *len += NLA_ALIGN(a->nla_len);
    return a;
}

static inline void end_nest(char *buf, size_t len, struct nlattr *nest) {
    nest->nla_len = (uint16_t)((buf + len) - (char *)nest);
}

// Starts a generic netlink message at *len; its length is set by end_message.
static inline struct nlmsghdr *start_message(char *buf, size_t *len, uint16_t type, uint8_t cmd, uint16_t flags,
                                             uint32_t seq) {
    struct nlmsghdr *h = (struct nlmsghdr *)(buf + *len);
    h->nlmsg_type = type;
    h->nlmsg_flags = NLM_F_REQUEST | flags;
    h->nlmsg_seq = seq;
    h->nlmsg_pid = 0;
    struct genlmsghdr *g = (struct genlmsghdr *)(buf + *len + NLMSG_HDRLEN);
    g->cmd = cmd;
    g->version = 1;
    g->reserved = 0;
    *len += NLMSG_HDRLEN + GENL_HDRLEN;
    return h;
}

static inline void end_message(char *buf, size_t len, struct nlmsghdr *h) {
    h->nlmsg_len = (uint32_t)((buf + len) - (char *)h);
}

// The IPVS family id (CTRL_CMD_GETFAMILY).
static inline uint16_t ipvs_family(int fd) {
    static char buf[8192];
    size_t len = 0;
    struct nlmsghdr *h = start_message(buf, &len, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0, 1);
    put_attr(buf, &len, CTRL_ATTR_FAMILY_NAME, "IPVS", 5);
    end_message(buf, len, h);
    if (send(fd, buf, len, 0) < 0) {
        perror("send");
        exit(1);
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    h = (struct nlmsghdr *)buf;
    if (n < (ssize_t)(NLMSG_HDRLEN + GENL_HDRLEN) || h->nlmsg_type != GENL_ID_CTRL) {
        fprintf(stderr, "no IPVS generic netlink family (is ip_vs loaded?)\n");
        exit(1);
    }
    struct nlattr *a = (struct nlattr *)((char *)NLMSG_DATA(h) + GENL_HDRLEN);
    int rest = (int)h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
    while (rest >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN) {
        if (a->nla_type == CTRL_ATTR_FAMILY_ID) {
            return *(uint16_t *)((char *)a + NLA_HDRLEN);
        }
        rest -= NLA_ALIGN(a->nla_len);
        a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
    }
    fprintf(stderr, "no family id in the answer\n");
    exit(1);
}
