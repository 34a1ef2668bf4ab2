// tools/bench/netlink-reference/dump.c — a raw-netlink C reference for `ipvsctl -Ln` and the mirror's read: one
// service dump (64 KiB receives: the kernel then makes 32 KiB steps), then the destination dump of every service,
// split over T threads with a socket each, receiving with NLMSG_GOODSIZE (3776 bytes: a 4 KiB page less the skb's
// shared info), so that each dump step is a page-sized allocation (a 4096-byte receive makes it an 8 KiB one, and
// Debian's kernel zeroes every allocation). It counts messages and keeps each service's key attributes, nothing
// more: no decoding, no output per service — the kernel's cost plus the least a client can add. Prints one line.
//
//   dump [T]      (default 2 threads)
#include "common.h"
#include <pthread.h>

enum { MAX_SERVICES = 1 << 20, KEY_ROOM = 64, GOOD_SIZE = 4096 - 320 };
static uint16_t family;
static int services;
static char (*keys)[KEY_ROOM];
static int *key_length;

struct part {
    int from, to;
    long destinations;
};

static void *dump_destinations(void *argument) {
    struct part *part = argument;
    int fd = open_socket();
    static __thread char out[256], in[8192];
    uint32_t seq = 0;
    for (int i = part->from; i < part->to; i++) {
        size_t len = 0;
        struct nlmsghdr *h = start_message(out, &len, family, IPVS_CMD_GET_DEST, NLM_F_DUMP | NLM_F_ACK, ++seq);
        put_attr(out, &len, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, keys[i], (uint16_t)key_length[i]);
        end_message(out, len, h);
        if (send(fd, out, len, 0) < 0) {
            perror("send");
            exit(1);
        }
        for (int done = 0; !done;) {
            ssize_t n = recv(fd, in, GOOD_SIZE, 0);
            if (n <= 0) {
                perror("recv");
                exit(1);
            }
            for (struct nlmsghdr *r = (struct nlmsghdr *)in; NLMSG_OK(r, n); r = NLMSG_NEXT(r, n)) {
                if (r->nlmsg_type == NLMSG_DONE || r->nlmsg_type == NLMSG_ERROR) {
                    done = 1;
                    break;
                }
                part->destinations++;
            }
        }
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (threads < 1 || threads > 16) {
        fprintf(stderr, "usage: dump [THREADS (1-16)]\n");
        return 2;
    }
    keys = calloc(MAX_SERVICES, KEY_ROOM);
    key_length = calloc(MAX_SERVICES, sizeof *key_length);
    int fd = open_socket();
    family = ipvs_family(fd);
    static char buf[1 << 16];

    double start = now();
    size_t len = 0;
    struct nlmsghdr *h = start_message(buf, &len, family, IPVS_CMD_GET_SERVICE, NLM_F_DUMP, 2);
    end_message(buf, len, h);
    if (send(fd, buf, len, 0) < 0) {
        perror("send");
        return 1;
    }
    for (int done = 0; !done;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            perror("recv");
            return 1;
        }
        for (struct nlmsghdr *r = (struct nlmsghdr *)buf; NLMSG_OK(r, n); r = NLMSG_NEXT(r, n)) {
            if (r->nlmsg_type == NLMSG_DONE || r->nlmsg_type == NLMSG_ERROR) {
                done = 1;
                break;
            }
            if (services == MAX_SERVICES) {
                continue;
            }
            // The IPVS_CMD_ATTR_SERVICE nest; keep the attributes that name the service.
            struct nlattr *nest = (struct nlattr *)((char *)NLMSG_DATA(r) + GENL_HDRLEN);
            struct nlattr *a = (struct nlattr *)((char *)nest + NLA_HDRLEN);
            int rest = nest->nla_len - NLA_HDRLEN, length = 0;
            while (rest >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN) {
                int type = a->nla_type & NLA_TYPE_MASK;
                if ((type == IPVS_SVC_ATTR_AF || type == IPVS_SVC_ATTR_PROTOCOL || type == IPVS_SVC_ATTR_ADDR ||
                     type == IPVS_SVC_ATTR_PORT || type == IPVS_SVC_ATTR_FWMARK) &&
                    length + NLA_ALIGN(a->nla_len) <= KEY_ROOM) {
                    memcpy(keys[services] + length, a, NLA_ALIGN(a->nla_len));
                    length += NLA_ALIGN(a->nla_len);
                }
                rest -= NLA_ALIGN(a->nla_len);
                a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
            }
            key_length[services++] = length;
        }
    }
    double listed = now();

    pthread_t thread[16];
    struct part parts[16];
    for (int t = 0; t < threads; t++) {
        parts[t] = (struct part){services * t / threads, services * (t + 1) / threads, 0};
        pthread_create(&thread[t], NULL, dump_destinations, &parts[t]);
    }
    long destinations = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(thread[t], NULL);
        destinations += parts[t].destinations;
    }
    double end = now();
    printf("{\"threads\": %d, \"services\": %d, \"service_dump_s\": %.3f, \"destinations\": %ld, "
           "\"destination_dumps_s\": %.3f, \"c_read_s\": %.3f}\n",
           threads, services, listed - start, destinations, end - listed, end - start);
    return 0;
}
