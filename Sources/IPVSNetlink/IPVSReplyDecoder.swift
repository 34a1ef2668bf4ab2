import CIPVSNetlink
import CNetlink
import Glibc
import IPVSCore

/// Decodes the kernel's IPVS replies (one netlink message each) into IPVSCore types. No I/O: the input is the bytes
/// of one message, as ``NetlinkFrame/split(_:)`` cuts them from a receive buffer. Attributes are checked by libnl
/// against the policy tables of CIPVSNetlink; attributes newer than <linux/ip_vs.h> are ignored.
public enum IPVSReplyDecoder {
    /// A reply to IPVS_CMD_GET_SERVICE (ip_vs_ctl.c `ip_vs_genl_fill_service`).
    public static func service(_ message: [UInt8]) throws(IPVSCodecError) -> IPVSServiceEntry {
        try parse(message, CIPVSNetlink_command) { (top) throws(IPVSCodecError) in
            guard let nested = top[Int(IPVS_CMD_ATTR_SERVICE)] else {
                throw .missingAttribute("IPVS_CMD_ATTR_SERVICE")
            }
            return try nestedTable(nested, CIPVSNetlink_service) { (a) throws(IPVSCodecError) in try service(a) }
        }
    }

    /// A reply to IPVS_CMD_GET_DEST (ip_vs_ctl.c `ip_vs_genl_fill_dest`).
    public static func destination(_ message: [UInt8]) throws(IPVSCodecError) -> IPVSDestinationEntry {
        try parse(message, CIPVSNetlink_command) { (top) throws(IPVSCodecError) in
            guard let nested = top[Int(IPVS_CMD_ATTR_DEST)] else { throw .missingAttribute("IPVS_CMD_ATTR_DEST") }
            return try nestedTable(nested, CIPVSNetlink_destination) { (a) throws(IPVSCodecError) in
                try destination(a)
            }
        }
    }

    /// The reply to IPVS_CMD_GET_INFO (ip_vs_ctl.c `ip_vs_genl_get_cmd`, IPVS_CMD_SET_INFO).
    public static func info(_ message: [UInt8]) throws(IPVSCodecError) -> IPVSInfo {
        try parse(message, CIPVSNetlink_info) { (a) throws(IPVSCodecError) in
            IPVSInfo(
                versionCode: try u32(a, IPVS_INFO_ATTR_VERSION, "IPVS_INFO_ATTR_VERSION"),
                connectionTableSize: try u32(a, IPVS_INFO_ATTR_CONN_TAB_SIZE, "IPVS_INFO_ATTR_CONN_TAB_SIZE"))
        }
    }

    /// The reply to IPVS_CMD_GET_CONFIG (ip_vs_ctl.c `ip_vs_genl_get_cmd`, IPVS_CMD_SET_CONFIG).
    public static func timeouts(_ message: [UInt8]) throws(IPVSCodecError) -> IPVSTimeouts {
        try parse(message, CIPVSNetlink_command) { (a) throws(IPVSCodecError) in
            IPVSTimeouts(
                tcp: try u32(a, IPVS_CMD_ATTR_TIMEOUT_TCP, "IPVS_CMD_ATTR_TIMEOUT_TCP"),
                tcpFin: try u32(a, IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN"),
                udp: try u32(a, IPVS_CMD_ATTR_TIMEOUT_UDP, "IPVS_CMD_ATTR_TIMEOUT_UDP"))
        }
    }

    /// A reply to IPVS_CMD_GET_DAEMON (ip_vs_ctl.c `ip_vs_genl_fill_daemon`). Kernels before 4.3 send only the
    /// state, interface and sync id: the other fields are then nil.
    public static func daemon(_ message: [UInt8]) throws(IPVSCodecError) -> IPVSSyncDaemon {
        try parse(message, CIPVSNetlink_command) { (top) throws(IPVSCodecError) in
            guard let nested = top[Int(IPVS_CMD_ATTR_DAEMON)] else { throw .missingAttribute("IPVS_CMD_ATTR_DAEMON") }
            return try nestedTable(nested, CIPVSNetlink_daemon) { (a) throws(IPVSCodecError) in try daemon(a) }
        }
    }

    /// The attribute types of a nested attribute in order (nla_for_each_nested), for tests and diagnostics: e.g.
    /// the service attributes of a reply, `nested` being IPVS_CMD_ATTR_SERVICE.
    public static func nestedAttributeTypes(_ message: [UInt8], nested type: Int) throws(IPVSCodecError) -> [Int] {
        try parse(message, CIPVSNetlink_command) { (top) throws(IPVSCodecError) in
            guard let nested = top[type] else { throw .missingAttribute("attribute \(type)") }
            var types: [Int] = []
            var remaining: Int32 = 0
            var current = CIPVSNetlink_nested_next(nested, nil, &remaining)
            while let attribute = current {
                types.append(Int(nla_type(attribute)))
                current = CIPVSNetlink_nested_next(nested, attribute, &remaining)
            }
            return types
        }
    }

    // MARK: - Tables

    typealias Table = [UnsafeMutablePointer<nlattr>?]

    private static func parse<T>(
        _ message: [UInt8], _ family: CIPVSNetlink_AttributeFamily, _ body: (Table) throws(IPVSCodecError) -> T
    ) throws(IPVSCodecError) -> T {
        guard message.count >= NetlinkFrame.headerSize + 4,
            Int(NetlinkFrame.u32(message, 0)) <= message.count
        else { throw .truncated }
        // CIPVSNetlink_parse_message takes the message const (libnl only reads it): no copy needed.
        let result: Result<T, IPVSCodecError> = message.withUnsafeBytes { raw in
            var table = Table(repeating: nil, count: Int(CIPVSNetlink_max_attribute(family)) + 1)
            let status = table.withUnsafeMutableBufferPointer {
                CIPVSNetlink_parse_message(raw.baseAddress!, family, $0.baseAddress)
            }
            guard status == 0 else {
                return .failure(.invalidAttributes(family: family.name, libnlError: status))
            }
            do throws(IPVSCodecError) { return .success(try body(table)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private static func nestedTable<T>(
        _ nested: UnsafeMutablePointer<nlattr>, _ family: CIPVSNetlink_AttributeFamily,
        _ body: (Table) throws(IPVSCodecError) -> T
    ) throws(IPVSCodecError) -> T {
        var table = Table(repeating: nil, count: Int(CIPVSNetlink_max_attribute(family)) + 1)
        let status = table.withUnsafeMutableBufferPointer { CIPVSNetlink_parse_nested(nested, family, $0.baseAddress) }
        guard status == 0 else { throw .invalidAttributes(family: family.name, libnlError: status) }
        return try body(table)
    }

    // MARK: - Entities

    private static func service(_ a: Table) throws(IPVSCodecError) -> IPVSServiceEntry {
        let family = try addressFamily(try u16(a, IPVS_SVC_ATTR_AF, "IPVS_SVC_ATTR_AF"))
        let key: ServiceKey
        if let mark = a[Int(IPVS_SVC_ATTR_FWMARK)], nla_get_u32(mark) != 0 || a[Int(IPVS_SVC_ATTR_PROTOCOL)] == nil {
            key = .firewallMark(nla_get_u32(mark), family)
        } else {
            let number = try u16(a, IPVS_SVC_ATTR_PROTOCOL, "IPVS_SVC_ATTR_PROTOCOL")
            guard let proto = IPProtocol(rawValue: number) else {
                throw .unsupportedValue(attribute: "IPVS_SVC_ATTR_PROTOCOL", value: "\(number)")
            }
            key = .address(
                proto, try address(a, IPVS_SVC_ATTR_ADDR, family, "IPVS_SVC_ATTR_ADDR"),
                port: UInt16(bigEndian: try u16(a, IPVS_SVC_ATTR_PORT, "IPVS_SVC_ATTR_PORT")))
        }
        let name = try string(a, IPVS_SVC_ATTR_SCHED_NAME, "IPVS_SVC_ATTR_SCHED_NAME")
        guard let scheduler = SchedulerKind(rawValue: name) else {
            throw .unsupportedValue(attribute: "IPVS_SVC_ATTR_SCHED_NAME", value: name)
        }
        guard let flagsAttribute = a[Int(IPVS_SVC_ATTR_FLAGS)] else { throw .missingAttribute("IPVS_SVC_ATTR_FLAGS") }
        let kernelFlags = ServiceFlags(rawValue: CIPVSNetlink_get_service_flags(flagsAttribute))
        let rawNetmask = try u32(a, IPVS_SVC_ATTR_NETMASK, "IPVS_SVC_ATTR_NETMASK")
        let service = VirtualService(
            key, scheduler: scheduler, flags: kernelFlags.subtracting(.hashed),
            persistenceTimeout: try u32(a, IPVS_SVC_ATTR_TIMEOUT, "IPVS_SVC_ATTR_TIMEOUT"),
            netmask: family == .inet ? UInt32(bigEndian: rawNetmask) : rawNetmask,
            persistenceEngine: a[Int(IPVS_SVC_ATTR_PE_NAME)].map { String(cString: nla_get_string($0)) })
        return IPVSServiceEntry(
            service: service, kernelFlags: kernelFlags,
            statistics: try statistics(a, IPVS_SVC_ATTR_STATS, IPVS_SVC_ATTR_STATS64))
    }

    private static func destination(_ a: Table) throws(IPVSCodecError) -> IPVSDestinationEntry {
        // IPVS_DEST_ATTR_ADDR_FAMILY came with 4.20 (mixed-family tunnels); before it a destination has the
        // service's family, which a destination reply alone does not say: take it from the address length.
        let family: AddressFamily
        if let af = a[Int(IPVS_DEST_ATTR_ADDR_FAMILY)] {
            family = try addressFamily(nla_get_u16(af))
        } else {
            guard let addr = a[Int(IPVS_DEST_ATTR_ADDR)] else { throw .missingAttribute("IPVS_DEST_ATTR_ADDR") }
            family = nla_len(addr) >= 16 && !isIPv4Padded(addr) ? .inet6 : .inet
        }
        let method = try u32(a, IPVS_DEST_ATTR_FWD_METHOD, "IPVS_DEST_ATTR_FWD_METHOD") & UInt32(IP_VS_CONN_F_FWD_MASK)
        guard let forwarding = ForwardingMethod(rawValue: method) else {
            throw .unsupportedValue(attribute: "IPVS_DEST_ATTR_FWD_METHOD", value: "\(method)")
        }
        let tunnelNumber = a[Int(IPVS_DEST_ATTR_TUN_TYPE)].map { nla_get_u8($0) } ?? 0
        guard let tunnelType = TunnelType(rawValue: tunnelNumber) else {
            throw .unsupportedValue(attribute: "IPVS_DEST_ATTR_TUN_TYPE", value: "\(tunnelNumber)")
        }
        let server = RealServer(
            try address(a, IPVS_DEST_ATTR_ADDR, family, "IPVS_DEST_ATTR_ADDR"),
            port: UInt16(bigEndian: try u16(a, IPVS_DEST_ATTR_PORT, "IPVS_DEST_ATTR_PORT")),
            forwarding: forwarding,
            weight: Int32(bitPattern: try u32(a, IPVS_DEST_ATTR_WEIGHT, "IPVS_DEST_ATTR_WEIGHT")),
            upperThreshold: try u32(a, IPVS_DEST_ATTR_U_THRESH, "IPVS_DEST_ATTR_U_THRESH"),
            lowerThreshold: try u32(a, IPVS_DEST_ATTR_L_THRESH, "IPVS_DEST_ATTR_L_THRESH"),
            tunnelType: tunnelType,
            tunnelPort: UInt16(bigEndian: a[Int(IPVS_DEST_ATTR_TUN_PORT)].map { nla_get_u16($0) } ?? 0),
            tunnelFlags: TunnelFlags(rawValue: a[Int(IPVS_DEST_ATTR_TUN_FLAGS)].map { nla_get_u16($0) } ?? 0))
        return IPVSDestinationEntry(
            server: server,
            activeConnections: a[Int(IPVS_DEST_ATTR_ACTIVE_CONNS)].map { nla_get_u32($0) } ?? 0,
            inactiveConnections: a[Int(IPVS_DEST_ATTR_INACT_CONNS)].map { nla_get_u32($0) } ?? 0,
            persistentConnections: a[Int(IPVS_DEST_ATTR_PERSIST_CONNS)].map { nla_get_u32($0) } ?? 0,
            statistics: try statistics(a, IPVS_DEST_ATTR_STATS, IPVS_DEST_ATTR_STATS64))
    }

    private static func daemon(_ a: Table) throws(IPVSCodecError) -> IPVSSyncDaemon {
        let state = try u32(a, IPVS_DAEMON_ATTR_STATE, "IPVS_DAEMON_ATTR_STATE")
        guard let role = IPVSSyncDaemon.Role(rawValue: state) else {
            throw .unsupportedValue(attribute: "IPVS_DAEMON_ATTR_STATE", value: "\(state)")
        }
        let syncID = try u32(a, IPVS_DAEMON_ATTR_SYNC_ID, "IPVS_DAEMON_ATTR_SYNC_ID")
        guard syncID <= UInt32(UInt8.max) else {
            throw .unsupportedValue(attribute: "IPVS_DAEMON_ATTR_SYNC_ID", value: "\(syncID)")
        }
        var group: IPAddress?
        if a[Int(IPVS_DAEMON_ATTR_MCAST_GROUP)] != nil {
            group = try address(a, IPVS_DAEMON_ATTR_MCAST_GROUP, .inet, "IPVS_DAEMON_ATTR_MCAST_GROUP")
        } else if a[Int(IPVS_DAEMON_ATTR_MCAST_GROUP6)] != nil {
            group = try address(a, IPVS_DAEMON_ATTR_MCAST_GROUP6, .inet6, "IPVS_DAEMON_ATTR_MCAST_GROUP6")
        }
        return IPVSSyncDaemon(
            role, interface: try string(a, IPVS_DAEMON_ATTR_MCAST_IFN, "IPVS_DAEMON_ATTR_MCAST_IFN"),
            syncID: UInt8(syncID),
            maximumMessageLength: a[Int(IPVS_DAEMON_ATTR_SYNC_MAXLEN)].map { nla_get_u16($0) },
            multicastGroup: group,
            multicastPort: a[Int(IPVS_DAEMON_ATTR_MCAST_PORT)].map { nla_get_u16($0) },
            multicastTTL: a[Int(IPVS_DAEMON_ATTR_MCAST_TTL)].map { nla_get_u8($0) })
    }

    /// STATS64 when present (every field u64), else the 32-bit STATS (ip_vs_ctl.c `ip_vs_genl_fill_stats`), where
    /// only the byte counts are u64.
    private static func statistics(_ a: Table, _ stats32: Int, _ stats64: Int) throws(IPVSCodecError) -> IPVSStatistics
    {
        let is64Bit = a[stats64] != nil
        guard let nested = a[stats64] ?? a[stats32] else { return IPVSStatistics() }
        return try nestedTable(nested, is64Bit ? CIPVSNetlink_stats64 : CIPVSNetlink_stats) {
            (s) throws(IPVSCodecError) in
            func get(_ t: Int, wide: Bool = is64Bit) -> UInt64 {
                s[t].map { wide ? nla_get_u64($0) : UInt64(nla_get_u32($0)) } ?? 0
            }
            var r = IPVSStatistics()
            r.is64Bit = is64Bit
            r.connections = get(Int(IPVS_STATS_ATTR_CONNS))
            r.incomingPackets = get(Int(IPVS_STATS_ATTR_INPKTS))
            r.outgoingPackets = get(Int(IPVS_STATS_ATTR_OUTPKTS))
            r.incomingBytes = get(Int(IPVS_STATS_ATTR_INBYTES), wide: true)
            r.outgoingBytes = get(Int(IPVS_STATS_ATTR_OUTBYTES), wide: true)
            r.connectionsPerSecond = get(Int(IPVS_STATS_ATTR_CPS))
            r.incomingPacketsPerSecond = get(Int(IPVS_STATS_ATTR_INPPS))
            r.outgoingPacketsPerSecond = get(Int(IPVS_STATS_ATTR_OUTPPS))
            r.incomingBytesPerSecond = get(Int(IPVS_STATS_ATTR_INBPS))
            r.outgoingBytesPerSecond = get(Int(IPVS_STATS_ATTR_OUTBPS))
            return r
        }
    }

    // MARK: - Attributes

    private static func u16(_ a: Table, _ type: Int, _ name: String) throws(IPVSCodecError) -> UInt16 {
        guard let attribute = a[type] else { throw .missingAttribute(name) }
        return nla_get_u16(attribute)
    }

    private static func u32(_ a: Table, _ type: Int, _ name: String) throws(IPVSCodecError) -> UInt32 {
        guard let attribute = a[type] else { throw .missingAttribute(name) }
        return nla_get_u32(attribute)
    }

    private static func string(_ a: Table, _ type: Int, _ name: String) throws(IPVSCodecError) -> String {
        guard let attribute = a[type] else { throw .missingAttribute(name) }
        // NLA_STRING may come without its NUL (the policy bounds the length): copy exactly nla_len bytes.
        let bytes = UnsafeRawBufferPointer(start: nla_data(attribute), count: Int(nla_len(attribute)))
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    private static func address(
        _ a: Table, _ type: Int, _ family: AddressFamily, _ name: String
    ) throws(IPVSCodecError) -> IPAddress {
        guard let attribute = a[type] else { throw .missingAttribute(name) }
        let bytes = UnsafeRawBufferPointer(start: nla_data(attribute), count: Int(nla_len(attribute)))
        switch family {
        case .inet:
            return .v4(IPv4Address(bytes[0], bytes[1], bytes[2], bytes[3]))
        case .inet6:
            guard bytes.count >= 16 else { throw .unsupportedValue(attribute: name, value: "\(bytes.count) bytes") }
            return .v6(IPv6Address(bytes: Array(bytes.prefix(16))))
        }
    }

    private static func isIPv4Padded(_ attribute: UnsafeMutablePointer<nlattr>) -> Bool {
        let bytes = UnsafeRawBufferPointer(start: nla_data(attribute), count: Int(nla_len(attribute)))
        return bytes.dropFirst(4).allSatisfy { $0 == 0 }
    }

    private static func addressFamily(_ value: UInt16) throws(IPVSCodecError) -> AddressFamily {
        switch Int32(value) {
        case AF_INET: return .inet
        case AF_INET6: return .inet6
        default: throw .unsupportedValue(attribute: "address family", value: "\(value)")
        }
    }
}

extension CIPVSNetlink_AttributeFamily {
    var name: String {
        switch self {
        case CIPVSNetlink_command: return "command"
        case CIPVSNetlink_service: return "service"
        case CIPVSNetlink_destination: return "destination"
        case CIPVSNetlink_daemon: return "daemon"
        case CIPVSNetlink_info: return "info"
        case CIPVSNetlink_stats: return "stats"
        case CIPVSNetlink_stats64: return "stats64"
        default: return "unknown"
        }
    }
}
