#include "CIPVSNetlink.h"

#include <stddef.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/genl/genl.h>

// Layouts the kernel reads as raw bytes (ip_vs_ctl.c ip_vs_genl_parse_service: nla_memcpy into union nf_inet_addr
// and struct ip_vs_flags).
_Static_assert(sizeof(union nf_inet_addr) == 16, "union nf_inet_addr is 16 bytes");
_Static_assert(sizeof(struct ip_vs_flags) == 8, "struct ip_vs_flags is two __u32");
_Static_assert(offsetof(struct ip_vs_flags, mask) == 4, "ip_vs_flags.mask follows flags");
// Tables below are indexed by these; the family enum must stay in step with the switch statements.
_Static_assert(IPVS_STATS_ATTR_MAX == IPVS_STATS_ATTR_PAD, "stats attributes end with PAD");

// Policies mirror the kernel's (ip_vs_ctl.c ip_vs_cmd_policy, ip_vs_svc_policy, ip_vs_dest_policy,
// ip_vs_daemon_policy) for what the kernel reads, and add the attributes it only writes (stats, connection counts,
// info). libnl checks minlen against the type's size and maxlen when set.
static struct nla_policy command_policy[IPVS_CMD_ATTR_MAX + 1] = {
    [IPVS_CMD_ATTR_SERVICE] = {.type = NLA_NESTED},
    [IPVS_CMD_ATTR_DEST] = {.type = NLA_NESTED},
    [IPVS_CMD_ATTR_DAEMON] = {.type = NLA_NESTED},
    [IPVS_CMD_ATTR_TIMEOUT_TCP] = {.type = NLA_U32},
    [IPVS_CMD_ATTR_TIMEOUT_TCP_FIN] = {.type = NLA_U32},
    [IPVS_CMD_ATTR_TIMEOUT_UDP] = {.type = NLA_U32},
};

static struct nla_policy service_policy[IPVS_SVC_ATTR_MAX + 1] = {
    [IPVS_SVC_ATTR_AF] = {.type = NLA_U16},
    [IPVS_SVC_ATTR_PROTOCOL] = {.type = NLA_U16},
    [IPVS_SVC_ATTR_ADDR] = {.type = NLA_UNSPEC,
                            .minlen = sizeof(struct in_addr),
                            .maxlen = sizeof(union nf_inet_addr)},
    [IPVS_SVC_ATTR_PORT] = {.type = NLA_U16},
    [IPVS_SVC_ATTR_FWMARK] = {.type = NLA_U32},
    [IPVS_SVC_ATTR_SCHED_NAME] = {.type = NLA_STRING, .maxlen = IP_VS_SCHEDNAME_MAXLEN},
    [IPVS_SVC_ATTR_FLAGS] = {.type = NLA_UNSPEC, .minlen = sizeof(struct ip_vs_flags)},
    [IPVS_SVC_ATTR_TIMEOUT] = {.type = NLA_U32},
    [IPVS_SVC_ATTR_NETMASK] = {.type = NLA_U32},
    [IPVS_SVC_ATTR_STATS] = {.type = NLA_NESTED},
    [IPVS_SVC_ATTR_PE_NAME] = {.type = NLA_STRING, .maxlen = IP_VS_PENAME_MAXLEN},
    [IPVS_SVC_ATTR_STATS64] = {.type = NLA_NESTED},
};

static struct nla_policy destination_policy[IPVS_DEST_ATTR_MAX + 1] = {
    [IPVS_DEST_ATTR_ADDR] = {.type = NLA_UNSPEC,
                             .minlen = sizeof(struct in_addr),
                             .maxlen = sizeof(union nf_inet_addr)},
    [IPVS_DEST_ATTR_PORT] = {.type = NLA_U16},
    [IPVS_DEST_ATTR_FWD_METHOD] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_WEIGHT] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_U_THRESH] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_L_THRESH] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_ACTIVE_CONNS] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_INACT_CONNS] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_PERSIST_CONNS] = {.type = NLA_U32},
    [IPVS_DEST_ATTR_STATS] = {.type = NLA_NESTED},
    [IPVS_DEST_ATTR_ADDR_FAMILY] = {.type = NLA_U16},
    [IPVS_DEST_ATTR_STATS64] = {.type = NLA_NESTED},
    [IPVS_DEST_ATTR_TUN_TYPE] = {.type = NLA_U8},
    [IPVS_DEST_ATTR_TUN_PORT] = {.type = NLA_U16},
    [IPVS_DEST_ATTR_TUN_FLAGS] = {.type = NLA_U16},
};

static struct nla_policy daemon_policy[IPVS_DAEMON_ATTR_MAX + 1] = {
    [IPVS_DAEMON_ATTR_STATE] = {.type = NLA_U32},
    [IPVS_DAEMON_ATTR_MCAST_IFN] = {.type = NLA_STRING, .maxlen = IP_VS_IFNAME_MAXLEN},
    [IPVS_DAEMON_ATTR_SYNC_ID] = {.type = NLA_U32},
    [IPVS_DAEMON_ATTR_SYNC_MAXLEN] = {.type = NLA_U16},
    [IPVS_DAEMON_ATTR_MCAST_GROUP] = {.type = NLA_U32},
    [IPVS_DAEMON_ATTR_MCAST_GROUP6] = {.type = NLA_UNSPEC, .minlen = sizeof(struct in6_addr)},
    [IPVS_DAEMON_ATTR_MCAST_PORT] = {.type = NLA_U16},
    [IPVS_DAEMON_ATTR_MCAST_TTL] = {.type = NLA_U8},
};

static struct nla_policy info_policy[IPVS_INFO_ATTR_MAX + 1] = {
    [IPVS_INFO_ATTR_VERSION] = {.type = NLA_U32},
    [IPVS_INFO_ATTR_CONN_TAB_SIZE] = {.type = NLA_U32},
};

// ip_vs_ctl.c ip_vs_genl_fill_stats: connections and packets as u32, bytes as u64, rates as u32.
static struct nla_policy stats_policy[IPVS_STATS_ATTR_MAX + 1] = {
    [IPVS_STATS_ATTR_CONNS] = {.type = NLA_U32},
    [IPVS_STATS_ATTR_INPKTS] = {.type = NLA_U32},
    [IPVS_STATS_ATTR_OUTPKTS] = {.type = NLA_U32},
    [IPVS_STATS_ATTR_INBYTES] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_OUTBYTES] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_CPS] = {.type = NLA_U32},
    [IPVS_STATS_ATTR_INPPS] = {.type = NLA_U32},
    [IPVS_STATS_ATTR_OUTPPS] = {.type = NLA_U32},
    [IPVS_STATS_ATTR_INBPS] = {.type = NLA_U32},
    [IPVS_STATS_ATTR_OUTBPS] = {.type = NLA_U32},
};

// ip_vs_ctl.c ip_vs_genl_fill_stats64: every counter and rate as u64.
static struct nla_policy stats64_policy[IPVS_STATS_ATTR_MAX + 1] = {
    [IPVS_STATS_ATTR_CONNS] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_INPKTS] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_OUTPKTS] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_INBYTES] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_OUTBYTES] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_CPS] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_INPPS] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_OUTPPS] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_INBPS] = {.type = NLA_U64},
    [IPVS_STATS_ATTR_OUTBPS] = {.type = NLA_U64},
};

static struct nla_policy *policy_of(CIPVSNetlink_AttributeFamily family) {
    switch (family) {
    case CIPVSNetlink_command: return command_policy;
    case CIPVSNetlink_service: return service_policy;
    case CIPVSNetlink_destination: return destination_policy;
    case CIPVSNetlink_daemon: return daemon_policy;
    case CIPVSNetlink_info: return info_policy;
    case CIPVSNetlink_stats: return stats_policy;
    case CIPVSNetlink_stats64: return stats64_policy;
    }
    return NULL;
}

int CIPVSNetlink_max_attribute(CIPVSNetlink_AttributeFamily family) {
    switch (family) {
    case CIPVSNetlink_command: return IPVS_CMD_ATTR_MAX;
    case CIPVSNetlink_service: return IPVS_SVC_ATTR_MAX;
    case CIPVSNetlink_destination: return IPVS_DEST_ATTR_MAX;
    case CIPVSNetlink_daemon: return IPVS_DAEMON_ATTR_MAX;
    case CIPVSNetlink_info: return IPVS_INFO_ATTR_MAX;
    case CIPVSNetlink_stats:
    case CIPVSNetlink_stats64: return IPVS_STATS_ATTR_MAX;
    }
    return -1;
}

int CIPVSNetlink_parse_message(const void *message, CIPVSNetlink_AttributeFamily family, struct nlattr **table) {
    struct nla_policy *policy = policy_of(family);
    if (policy == NULL) return -NLE_INVAL;
    return genlmsg_parse((struct nlmsghdr *)message, 0, table, CIPVSNetlink_max_attribute(family), policy);
}

int CIPVSNetlink_parse_nested(struct nlattr *nested, CIPVSNetlink_AttributeFamily family, struct nlattr **table) {
    struct nla_policy *policy = policy_of(family);
    if (policy == NULL) return -NLE_INVAL;
    return nla_parse_nested(table, CIPVSNetlink_max_attribute(family), nested, policy);
}

struct nlattr *CIPVSNetlink_nested_next(struct nlattr *nested, struct nlattr *previous, int *remaining) {
    // nla_for_each_nested(pos, nested, rem): pos = nla_data(nested), rem = nla_len(nested); while nla_ok(pos, rem)
    // ...; pos = nla_next(pos, &rem).
    struct nlattr *next;
    if (previous == NULL) {
        next = (struct nlattr *)nla_data(nested);
        *remaining = nla_len(nested);
    } else {
        next = nla_next(previous, remaining);
    }
    return nla_ok(next, *remaining) ? next : NULL;
}

int CIPVSNetlink_put_address(struct nl_msg *message, int type, int family, const uint8_t *bytes) {
    union nf_inet_addr address;
    memset(&address, 0, sizeof(address));
    if (family == AF_INET)
        memcpy(&address.in, bytes, sizeof(address.in));
    else if (family == AF_INET6)
        memcpy(&address.in6, bytes, sizeof(address.in6));
    else
        return -NLE_AF_NOSUPPORT;
    return nla_put(message, type, sizeof(address), &address);
}

int CIPVSNetlink_put_service_flags(struct nl_msg *message, uint32_t flags, uint32_t mask) {
    struct ip_vs_flags value = {.flags = flags, .mask = mask};
    return nla_put(message, IPVS_SVC_ATTR_FLAGS, sizeof(value), &value);
}

uint32_t CIPVSNetlink_get_service_flags(const struct nlattr *attribute) {
    struct ip_vs_flags value;
    memset(&value, 0, sizeof(value));
    nla_memcpy(&value, attribute, sizeof(value));
    return value.flags;
}
