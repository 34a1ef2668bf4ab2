// tools/bench/netlink-reference/load.c — a raw-netlink C reference for `ipvsctl -R` and the mirror's load: S services
// × D destinations, the very table of tools/bench/kernel-sync's restore script (service i: TCP
// 10.16.(i / 250).(i % 250 + 1):80 wlc; its destination j: NAT 172.(16 + j).(i / 250).(i % 250 + 1):8080 weight 1),
// sent as batches of about 1 MiB, an ack asked only on the last message of each send (the kernel answers errors per
// message anyway). S ≤ 62 500, D ≤ 239.
// No parsing, no planning: the kernel's own cost plus the least a client can add. Prints one line.
//
//   load [S [D]]      (defaults 10000 10)
#include "common.h"
#include <arpa/inet.h>

static char *buf;
static size_t len;
static uint16_t family;
static uint32_t seq = 10;
static int errors;

static void service_key(uint32_t address) {
    uint16_t af = AF_INET, protocol = IPPROTO_TCP, port = htons(80);
    char addr[16] = {0};
    uint32_t be = htonl(address);
    memcpy(addr, &be, 4);
    put_attr(buf, &len, IPVS_SVC_ATTR_AF, &af, 2);
    put_attr(buf, &len, IPVS_SVC_ATTR_PROTOCOL, &protocol, 2);
    put_attr(buf, &len, IPVS_SVC_ATTR_ADDR, addr, 16);
    put_attr(buf, &len, IPVS_SVC_ATTR_PORT, &port, 2);
}

// Reads answers until the ack of message `last`, counting refused messages.
static void read_answers(int fd, uint32_t last) {
    static char in[1 << 16];
    for (;;) {
        ssize_t n = recv(fd, in, sizeof in, 0);
        if (n <= 0) {
            perror("recv");
            exit(1);
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)in; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type != NLMSG_ERROR) {
                continue;
            }
            struct nlmsgerr *e = NLMSG_DATA(h);
            if (e->error) {
                errors++;
            }
            if (h->nlmsg_seq == last) {
                return;
            }
        }
    }
}

int main(int argc, char **argv) {
    int services = argc > 1 ? atoi(argv[1]) : 10000;
    int destinations = argc > 2 ? atoi(argv[2]) : 10;
    if (services < 1 || services > 62500 || destinations < 0 || destinations > 239) {
        fprintf(stderr, "usage: load [S (1-62500) [D (0-239)]]\n");
        return 2;
    }
    int fd = open_socket();
    int big = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    family = ipvs_family(fd);
    buf = malloc(2 << 20);

    double start = now();
    int sends = 0, messages = 0;
    struct nlmsghdr *last = NULL;
    for (int i = 0; i < services; i++) {
        uint32_t host = (uint32_t)(i / 250) << 8 | (uint32_t)(i % 250 + 1);
        uint32_t vip = (10u << 24) | (16u << 16) | host;
        struct nlmsghdr *h = start_message(buf, &len, family, IPVS_CMD_NEW_SERVICE, 0, seq++);
        struct nlattr *nest = put_attr(buf, &len, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, NULL, 0);
        service_key(vip);
        struct ip_vs_flags flags = {0, ~0u};
        uint32_t timeout = 0, netmask = ~0u;
        put_attr(buf, &len, IPVS_SVC_ATTR_SCHED_NAME, "wlc", 4);
        put_attr(buf, &len, IPVS_SVC_ATTR_FLAGS, &flags, sizeof flags);
        put_attr(buf, &len, IPVS_SVC_ATTR_TIMEOUT, &timeout, 4);
        put_attr(buf, &len, IPVS_SVC_ATTR_NETMASK, &netmask, 4);
        end_nest(buf, len, nest);
        end_message(buf, len, h);
        last = h;
        messages++;
        for (int d = 0; d < destinations; d++) {
            uint32_t rip = (172u << 24) | (uint32_t)(16 + d) << 16 | host;
            char addr[16] = {0};
            uint32_t be = htonl(rip), forward = IP_VS_CONN_F_MASQ, weight = 1, zero = 0;
            uint16_t port = htons(8080);
            memcpy(addr, &be, 4);
            h = start_message(buf, &len, family, IPVS_CMD_NEW_DEST, 0, seq++);
            nest = put_attr(buf, &len, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, NULL, 0);
            service_key(vip);
            end_nest(buf, len, nest);
            nest = put_attr(buf, &len, IPVS_CMD_ATTR_DEST | NLA_F_NESTED, NULL, 0);
            put_attr(buf, &len, IPVS_DEST_ATTR_ADDR, addr, 16);
            put_attr(buf, &len, IPVS_DEST_ATTR_PORT, &port, 2);
            put_attr(buf, &len, IPVS_DEST_ATTR_FWD_METHOD, &forward, 4);
            put_attr(buf, &len, IPVS_DEST_ATTR_WEIGHT, &weight, 4);
            put_attr(buf, &len, IPVS_DEST_ATTR_U_THRESH, &zero, 4);
            put_attr(buf, &len, IPVS_DEST_ATTR_L_THRESH, &zero, 4);
            end_nest(buf, len, nest);
            end_message(buf, len, h);
            last = h;
            messages++;
        }
        if (len > (1 << 20) - 4096 || i == services - 1) {
            last->nlmsg_flags |= NLM_F_ACK;
            if (send(fd, buf, len, 0) < 0) {
                perror("send");
                return 1;
            }
            sends++;
            read_answers(fd, last->nlmsg_seq);
            len = 0;
        }
    }
    double seconds = now() - start;
    printf("{\"c_load_s\": %.3f, \"messages\": %d, \"us_per_message\": %.2f, \"sends\": %d, \"refused\": %d}\n", seconds,
           messages, seconds * 1e6 / messages, sends, errors);
    return errors != 0;
}
