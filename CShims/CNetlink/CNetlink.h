// CNetlink: libnl-3 and libnl-genl-3 (Debian libnl-3-dev, libnl-genl-3-dev) as one system module.
//
// One module for both libraries: libnl-genl's headers include libnl's, and two Clang modules that each include
// the same non-modular headers would define struct nlattr, struct nl_msg, ... twice. pkg-config's libnl-genl-3.0
// requires libnl-3.0, so its flags cover both.
#ifndef C_NETLINK_H
#define C_NETLINK_H

#include <netlink/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/socket.h>
#include <netlink/errno.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>

#endif
