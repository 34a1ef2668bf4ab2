import CIPVSNetlink
import CNetlink
import Glibc
import IPVSCore

/// One IPVS generic netlink request, before it has a family id, sequence number and port id.
///
/// Attributes are laid out as ipvsadm's libipvs lays them out (`ipvs_nl_fill_service_attr`,
/// `ipvs_nl_fill_dest_attr`), so a service or destination encodes byte for byte as ipvsadm's does (the golden
/// vectors check it). Where the kernel reads only a key (the service of a destination request, DEL/GET_SERVICE,
/// DEL_DEST) only the key is sent; libipvs sends the whole entry with empty fields, which the kernel ignores
/// (ip_vs_ctl.c `ip_vs_genl_parse_service` and `ip_vs_genl_parse_dest` with full_entry false).
public struct IPVSRequest: Hashable, Sendable {
    public enum Body: Hashable, Sendable {
        case none
        /// The whole service (NEW/SET_SERVICE) or only its key (DEL/GET_SERVICE, and inside destination requests).
        case service(VirtualService, keyOnly: Bool)
        /// The service key, and the destination with all its fields or only its address and port (DEL_DEST).
        case destination(VirtualService, RealServer, keyOnly: Bool)
        case timeouts(IPVSTimeouts)
        /// A sync daemon to start (NEW_DAEMON), or only its role (DEL_DAEMON: the kernel reads nothing else,
        /// ip_vs_ctl.c `ip_vs_genl_del_daemon`).
        case daemon(IPVSSyncDaemon, roleOnly: Bool)
    }

    /// `IPVS_CMD_*`.
    public var command: UInt8
    public var body: Body
    /// A dump request (NLM_F_DUMP) rather than one acknowledged operation (NLM_F_ACK).
    public var isDump: Bool
    /// IPVS_SVC_ATTR_SCHED_NAME to send instead of the service's scheduler: a name IPVSCore has no case for
    /// (a scheduler module of a newer kernel, or a misspelt one to see the kernel refuse it).
    public var schedulerName: String?

    public init(command: UInt8, body: Body = .none, isDump: Bool = false, schedulerName: String? = nil) {
        self.command = command
        self.body = body
        self.isDump = isDump
        self.schedulerName = schedulerName
    }

    public static func newService(_ s: VirtualService) -> Self {
        .init(command: cmd(IPVS_CMD_NEW_SERVICE), body: .service(s, keyOnly: false))
    }
    public static func setService(_ s: VirtualService) -> Self {
        .init(command: cmd(IPVS_CMD_SET_SERVICE), body: .service(s, keyOnly: false))
    }
    public static func deleteService(_ s: VirtualService) -> Self {
        .init(command: cmd(IPVS_CMD_DEL_SERVICE), body: .service(s, keyOnly: true))
    }
    public static func getService(_ s: VirtualService) -> Self {
        .init(command: cmd(IPVS_CMD_GET_SERVICE), body: .service(s, keyOnly: true))
    }
    public static var dumpServices: Self { .init(command: cmd(IPVS_CMD_GET_SERVICE), isDump: true) }
    public static func newDestination(_ r: RealServer, in s: VirtualService) -> Self {
        .init(command: cmd(IPVS_CMD_NEW_DEST), body: .destination(s, r, keyOnly: false))
    }
    public static func setDestination(_ r: RealServer, in s: VirtualService) -> Self {
        .init(command: cmd(IPVS_CMD_SET_DEST), body: .destination(s, r, keyOnly: false))
    }
    public static func deleteDestination(_ r: RealServer, in s: VirtualService) -> Self {
        .init(command: cmd(IPVS_CMD_DEL_DEST), body: .destination(s, r, keyOnly: true))
    }
    public static func dumpDestinations(of s: VirtualService) -> Self {
        .init(command: cmd(IPVS_CMD_GET_DEST), body: .service(s, keyOnly: true), isDump: true)
    }
    public static var getInfo: Self { .init(command: cmd(IPVS_CMD_GET_INFO)) }
    public static var getConfig: Self { .init(command: cmd(IPVS_CMD_GET_CONFIG)) }
    public static func setConfig(_ t: IPVSTimeouts) -> Self {
        .init(command: cmd(IPVS_CMD_SET_CONFIG), body: .timeouts(t))
    }
    public static var flush: Self { .init(command: cmd(IPVS_CMD_FLUSH)) }
    /// IPVS_CMD_ZERO: the counters of one service (and its destinations), or of every service and the namespace's
    /// totals when `service` is nil (ip_vs_ctl.c `ip_vs_zero_service`, `ip_vs_zero_all`).
    public static func zero(_ service: VirtualService?) -> Self {
        .init(command: cmd(IPVS_CMD_ZERO), body: service.map { .service($0, keyOnly: true) } ?? .none)
    }
    public static func newDaemon(_ d: IPVSSyncDaemon) -> Self {
        .init(command: cmd(IPVS_CMD_NEW_DAEMON), body: .daemon(d, roleOnly: false))
    }
    public static func deleteDaemon(_ role: IPVSSyncDaemon.Role) -> Self {
        .init(command: cmd(IPVS_CMD_DEL_DAEMON), body: .daemon(IPVSSyncDaemon(role, interface: ""), roleOnly: true))
    }
    /// IPVS_CMD_GET_DAEMON is dump-only (ip_vs_ctl.c registers only a dumpit for it).
    public static var dumpDaemons: Self { .init(command: cmd(IPVS_CMD_GET_DAEMON), isDump: true) }

    static func cmd(_ c: Int) -> UInt8 { UInt8(c) }

    /// The netlink message: header (NLM_F_REQUEST, NLM_F_ACK, and NLM_F_DUMP for a dump), generic netlink header
    /// (version IPVS_GENL_VERSION) and attributes.
    public func encode(family: UInt16, sequence: UInt32, portID: UInt32 = 0) throws(IPVSCodecError) -> [UInt8] {
        guard let message = nlmsg_alloc() else { throw .outOfMemory }
        defer { nlmsg_free(message) }
        // NLM_F_ACK on a dump too, as libnl sends it: the kernel answers a dump with NLMSG_DONE and no ack
        // (af_netlink.c netlink_rcv_skb skips the ack when the dump started).
        let flags = Int32(NLM_F_REQUEST | NLM_F_ACK) | (isDump ? Int32(NLM_F_DUMP) : 0)
        guard genlmsg_put(message, portID, sequence, Int32(family), 0, flags, command, UInt8(IPVS_GENL_VERSION)) != nil
        else { throw .messageTooLarge }
        try put(into: message)
        let header = nlmsg_hdr(message)!
        let length = Int(header.pointee.nlmsg_len)
        return [UInt8](UnsafeRawBufferPointer(start: UnsafeRawPointer(header), count: length))
    }

    private func put(into message: OpaquePointer) throws(IPVSCodecError) {
        switch body {
        case .none:
            break
        case .service(let service, let keyOnly):
            try nest(message, IPVS_CMD_ATTR_SERVICE) { () throws(IPVSCodecError) in
                try Self.putService(service, keyOnly: keyOnly, schedulerName: schedulerName, into: message)
            }
        case .destination(let service, let server, let keyOnly):
            try nest(message, IPVS_CMD_ATTR_SERVICE) { () throws(IPVSCodecError) in
                try Self.putService(service, keyOnly: true, into: message)
            }
            try nest(message, IPVS_CMD_ATTR_DEST) { () throws(IPVSCodecError) in
                try Self.putDestination(server, keyOnly: keyOnly, into: message)
            }
        case .timeouts(let t):
            try check(nla_put_u32(message, Int32(IPVS_CMD_ATTR_TIMEOUT_TCP), t.tcp))
            try check(nla_put_u32(message, Int32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN), t.tcpFin))
            try check(nla_put_u32(message, Int32(IPVS_CMD_ATTR_TIMEOUT_UDP), t.udp))
        case .daemon(let daemon, let roleOnly):
            try nest(message, IPVS_CMD_ATTR_DAEMON) { () throws(IPVSCodecError) in
                try Self.putDaemon(daemon, roleOnly: roleOnly, into: message)
            }
        }
    }

    private func nest(
        _ message: OpaquePointer, _ type: Int, _ body: () throws(IPVSCodecError) -> Void
    ) throws(IPVSCodecError) {
        guard let start = nla_nest_start(message, Int32(type)) else { throw .messageTooLarge }
        try body()
        try check(nla_nest_end(message, start))
    }

    /// libipvs `ipvs_nl_fill_service_attr`: AF, then FWMARK or PROTOCOL/ADDR/PORT; for a full entry SCHED_NAME,
    /// PE_NAME (when set), FLAGS, TIMEOUT, NETMASK.
    static func putService(
        _ s: VirtualService, keyOnly: Bool, schedulerName: String? = nil, into m: OpaquePointer
    ) throws(IPVSCodecError) {
        try check(nla_put_u16(m, Int32(IPVS_SVC_ATTR_AF), s.key.family.kernelValue))
        switch s.key {
        case .firewallMark(let mark, _):
            try check(nla_put_u32(m, Int32(IPVS_SVC_ATTR_FWMARK), mark))
        case .address(let proto, let address, let port):
            try check(nla_put_u16(m, Int32(IPVS_SVC_ATTR_PROTOCOL), proto.rawValue))
            try putAddress(address, Int32(IPVS_SVC_ATTR_ADDR), into: m)
            try check(nla_put_u16(m, Int32(IPVS_SVC_ATTR_PORT), port.bigEndian))
        }
        if keyOnly { return }
        try check(nla_put_string(m, Int32(IPVS_SVC_ATTR_SCHED_NAME), schedulerName ?? s.scheduler.rawValue))
        if let engine = s.persistenceEngine {
            try check(nla_put_string(m, Int32(IPVS_SVC_ATTR_PE_NAME), engine))
        }
        try check(CIPVSNetlink_put_service_flags(m, s.flags.subtracting(.hashed).rawValue, UInt32.max))
        try check(nla_put_u32(m, Int32(IPVS_SVC_ATTR_TIMEOUT), s.persistenceTimeout))
        try check(nla_put_u32(m, Int32(IPVS_SVC_ATTR_NETMASK), s.kernelNetmask))
    }

    /// libipvs `ipvs_nl_fill_dest_attr`: ADDR_FAMILY, ADDR, PORT, then for a full entry FWD_METHOD, WEIGHT,
    /// TUN_TYPE, TUN_PORT, TUN_FLAGS, U_THRESH, L_THRESH. ADDR_FAMILY (4.20 and later) lets a destination's family
    /// differ from its service's (tunnels).
    static func putDestination(_ r: RealServer, keyOnly: Bool, into m: OpaquePointer) throws(IPVSCodecError) {
        try check(nla_put_u16(m, Int32(IPVS_DEST_ATTR_ADDR_FAMILY), r.address.family.kernelValue))
        try putAddress(r.address, Int32(IPVS_DEST_ATTR_ADDR), into: m)
        try check(nla_put_u16(m, Int32(IPVS_DEST_ATTR_PORT), r.port.bigEndian))
        if keyOnly { return }
        try check(nla_put_u32(m, Int32(IPVS_DEST_ATTR_FWD_METHOD), r.forwarding.rawValue))
        try check(nla_put_u32(m, Int32(IPVS_DEST_ATTR_WEIGHT), UInt32(bitPattern: r.weight)))
        try check(nla_put_u8(m, Int32(IPVS_DEST_ATTR_TUN_TYPE), r.tunnelType.rawValue))
        try check(nla_put_u16(m, Int32(IPVS_DEST_ATTR_TUN_PORT), r.tunnelPort.bigEndian))
        try check(nla_put_u16(m, Int32(IPVS_DEST_ATTR_TUN_FLAGS), r.tunnelFlags.rawValue))
        try check(nla_put_u32(m, Int32(IPVS_DEST_ATTR_U_THRESH), r.upperThreshold))
        try check(nla_put_u32(m, Int32(IPVS_DEST_ATTR_L_THRESH), r.lowerThreshold))
    }

    /// libipvs `ipvs_start_daemon`: STATE, MCAST_IFN, SYNC_ID, then the optional SYNC_MAXLEN, MCAST_PORT, MCAST_TTL
    /// and MCAST_GROUP or MCAST_GROUP6 when set. The kernel reads the port with nla_get_u16 and the group with
    /// nla_get_in_addr / nla_get_in6_addr (ip_vs_ctl.c `ip_vs_genl_new_daemon`): port in host order, group in
    /// network order.
    static func putDaemon(_ d: IPVSSyncDaemon, roleOnly: Bool, into m: OpaquePointer) throws(IPVSCodecError) {
        try check(nla_put_u32(m, Int32(IPVS_DAEMON_ATTR_STATE), d.role.rawValue))
        if roleOnly { return }
        // The kernel's policy takes at most IP_VS_IFNAME_MAXLEN - 1 bytes and answers EINVAL past it.
        guard !d.interface.isEmpty, d.interface.utf8.count < Int(IP_VS_IFNAME_MAXLEN) else {
            throw .unsupportedValue(attribute: "IPVS_DAEMON_ATTR_MCAST_IFN", value: "\"\(d.interface)\"")
        }
        try check(nla_put_string(m, Int32(IPVS_DAEMON_ATTR_MCAST_IFN), d.interface))
        try check(nla_put_u32(m, Int32(IPVS_DAEMON_ATTR_SYNC_ID), UInt32(d.syncID)))
        if let length = d.maximumMessageLength {
            try check(nla_put_u16(m, Int32(IPVS_DAEMON_ATTR_SYNC_MAXLEN), length))
        }
        if let port = d.multicastPort { try check(nla_put_u16(m, Int32(IPVS_DAEMON_ATTR_MCAST_PORT), port)) }
        if let ttl = d.multicastTTL { try check(nla_put_u8(m, Int32(IPVS_DAEMON_ATTR_MCAST_TTL), ttl)) }
        switch d.multicastGroup {
        case .v4(let v4):
            var bytes = [v4.bytes.0, v4.bytes.1, v4.bytes.2, v4.bytes.3]
            try check(nla_put(m, Int32(IPVS_DAEMON_ATTR_MCAST_GROUP), 4, &bytes))
        case .v6(let v6):
            var bytes = v6.bytes
            try check(nla_put(m, Int32(IPVS_DAEMON_ATTR_MCAST_GROUP6), 16, &bytes))
        case nil:
            break
        }
    }

    static func putAddress(_ a: IPAddress, _ type: Int32, into m: OpaquePointer) throws(IPVSCodecError) {
        let bytes: [UInt8]
        switch a {
        case .v4(let v4): bytes = [v4.bytes.0, v4.bytes.1, v4.bytes.2, v4.bytes.3]
        case .v6(let v6): bytes = v6.bytes
        }
        try check(CIPVSNetlink_put_address(m, type, Int32(a.family.kernelValue), bytes))
    }
}

@inline(__always)
private func check(_ status: Int32) throws(IPVSCodecError) {
    if status < 0 { throw .messageTooLarge }
}

extension AddressFamily {
    /// AF_INET or AF_INET6.
    var kernelValue: UInt16 { self == .inet ? UInt16(AF_INET) : UInt16(AF_INET6) }
}

extension VirtualService {
    /// IPVS_SVC_ATTR_NETMASK as the kernel reads it (`nla_get_be32`): an IPv4 mask in network byte order, an IPv6
    /// prefix length as a plain number.
    var kernelNetmask: UInt32 { key.family == .inet ? netmask.bigEndian : netmask }
}
