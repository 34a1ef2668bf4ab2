// CIPVSNetlink: what Swift cannot take from libnl and <linux/ip_vs.h> directly.
//
// - The IPVS constants (IPVS_CMD_*, IPVS_*_ATTR_*, IP_VS_*): <linux/ip_vs.h> from Debian's linux-libc-dev is included
//   here, so Swift reads the kernel's own enums and macros instead of copies.
// - Attribute policy tables (struct nla_policy arrays): Swift cannot declare a C array of C structs with designated
//   initializers as static data, and libnl's parsers want exactly that.
// - nla_for_each_nested is a for-loop macro; CIPVSNetlink_nested_next is one step of it.
// - union nf_inet_addr and struct ip_vs_flags are kernel layouts the NLA_PUT macros copy as raw bytes; the put
//   wrappers build them in C, where their layout is known (pinned below with _Static_assert in the .c file).
// - NLA_PUT_* themselves are macros that `goto nla_put_failure`; Swift calls the functions under them (nla_put_u32,
//   nla_put_string, ...), which return the same error instead.
#ifndef C_IPVS_NETLINK_H
#define C_IPVS_NETLINK_H

#include <stdint.h>
#include <linux/ip_vs.h>

struct nl_msg;
struct nlattr;
struct nlmsghdr;

/// The attribute families of IPVS generic netlink, one policy table each.
typedef enum CIPVSNetlink_AttributeFamily {
    /// IPVS_CMD_ATTR_*: top level of every IPVS message except the GET_INFO reply.
    CIPVSNetlink_command = 0,
    /// IPVS_SVC_ATTR_*: inside IPVS_CMD_ATTR_SERVICE.
    CIPVSNetlink_service = 1,
    /// IPVS_DEST_ATTR_*: inside IPVS_CMD_ATTR_DEST.
    CIPVSNetlink_destination = 2,
    /// IPVS_DAEMON_ATTR_*: inside IPVS_CMD_ATTR_DAEMON.
    CIPVSNetlink_daemon = 3,
    /// IPVS_INFO_ATTR_*: top level of the GET_INFO reply (IPVS_CMD_SET_INFO).
    CIPVSNetlink_info = 4,
    /// IPVS_STATS_ATTR_* inside IPVS_SVC_ATTR_STATS / IPVS_DEST_ATTR_STATS: 32-bit counters, 64-bit byte counts.
    CIPVSNetlink_stats = 5,
    /// IPVS_STATS_ATTR_* inside IPVS_SVC_ATTR_STATS64 / IPVS_DEST_ATTR_STATS64: every counter 64-bit.
    CIPVSNetlink_stats64 = 6,
} CIPVSNetlink_AttributeFamily;

/// The largest attribute type of `family` (the kernel's IPVS_*_ATTR_MAX); a parse table needs one more slot.
int CIPVSNetlink_max_attribute(CIPVSNetlink_AttributeFamily family);

/// Parses the attributes after the generic netlink header of `message` (a struct nlmsghdr) into `table`
/// (max_attribute(family) + 1 slots, each a struct nlattr * or NULL), validating each against the family's policy
/// (genlmsg_parse). Returns 0 or a negative libnl error (NLE_*).
int CIPVSNetlink_parse_message(const void *message, CIPVSNetlink_AttributeFamily family, struct nlattr **table);

/// Parses the attributes nested in `nested` into `table` under `family`'s policy (nla_parse_nested).
/// Returns 0 or a negative libnl error.
int CIPVSNetlink_parse_nested(struct nlattr *nested, CIPVSNetlink_AttributeFamily family, struct nlattr **table);

/// One step of nla_for_each_nested: the attribute after `previous` inside `nested` (the first one when `previous`
/// is NULL), or NULL after the last. `remaining` carries the loop's byte count between calls.
struct nlattr *CIPVSNetlink_nested_next(struct nlattr *nested, struct nlattr *previous, int *remaining);

/// Puts an address attribute as the kernel's union nf_inet_addr (16 bytes, the IPv4 address in the first 4 and
/// zeros after it, as ipvsadm sends it). `bytes` holds 4 (AF_INET) or 16 (AF_INET6) bytes in network order.
/// Returns 0 or a negative libnl error.
int CIPVSNetlink_put_address(struct nl_msg *message, int type, int family, const uint8_t *bytes);

/// Puts IPVS_SVC_ATTR_FLAGS as the kernel's struct ip_vs_flags { flags, mask }.
int CIPVSNetlink_put_service_flags(struct nl_msg *message, uint32_t flags, uint32_t mask);

/// Reads IPVS_SVC_ATTR_FLAGS (struct ip_vs_flags): its `flags` member.
uint32_t CIPVSNetlink_get_service_flags(const struct nlattr *attribute);

#endif
