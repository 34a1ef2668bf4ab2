import CIPVSNetlink
import CNetlink
import Glibc
import IPVSCore

extension IPVSReplyDecoder {
    /// A reply to IPVS_CMD_GET_DEST read where it lies (in a receive buffer), for the table dumps.
    ///
    /// Decodes to the same entry as ``destination(_:)``, without libnl: that one copies the message into an Array
    /// and fills three heap-allocated attribute tables per destination (`genlmsg_parse`, then `nla_parse_nested` of
    /// the destination and of its statistics), which under emulation cost more than the kernel's own work for the
    /// dump. Here one pass over each attribute level reads the values straight out of the buffer: no allocation.
    /// The checks are libnl's (lib/attr.c `nla_parse`, `validate_nla`) under CIPVSNetlink's policies: a later
    /// duplicate wins, types above the family's maximum are skipped, fixed-size types must be long enough, and the
    /// address is 4 to 16 bytes; a refused attribute gives the same `invalidAttributes` error.
    ///
    /// `message` is one netlink message, header included (`nlmsg_len` may be shorter than the buffer).
    public static func destination(in message: UnsafeRawBufferPointer) throws(IPVSCodecError) -> IPVSDestinationEntry {
        let nested = try commandNest(in: message, Int(IPVS_CMD_ATTR_DEST), named: "IPVS_CMD_ATTR_DEST")
        return try destinationNest(message, nested)
    }

    /// The command level of an in-place reply (command policy), for ``destination(in:)`` and ``service(in:)``:
    /// checks the netlink and generic netlink headers fit, and returns the payload of the one nested attribute
    /// that is read (`attribute`); the timeouts, the only other command attributes, must be NLA_U32-sized.
    static func commandNest(
        in message: UnsafeRawBufferPointer, _ attribute: Int, named name: String
    ) throws(IPVSCodecError) -> Range<Int> {
        guard message.count >= NetlinkFrame.headerSize + 4 else { throw .truncated }
        let length = Int(message.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard length >= NetlinkFrame.headerSize + 4, length <= message.count else { throw .truncated }
        var nested: Range<Int>?
        var scan = AttributeScan(start: NetlinkFrame.headerSize + 4, end: length)
        while let (type, payload) = scan.next(message) {
            switch type {
            case attribute: nested = payload
            case Int(IPVS_CMD_ATTR_TIMEOUT_TCP), Int(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN), Int(IPVS_CMD_ATTR_TIMEOUT_UDP):
                if payload.count < 4 { throw .invalidAttributes(family: "command", libnlError: -NLE_RANGE) }
            default: break
            }
        }
        guard let nested else { throw .missingAttribute(name) }
        return nested
    }

    private static func destinationNest(
        _ m: UnsafeRawBufferPointer, _ nest: Range<Int>
    ) throws(IPVSCodecError) -> IPVSDestinationEntry {
        var address: Range<Int>?
        var addressFamily: UInt16?
        var port: UInt16?
        var forwardingRaw: UInt32?
        var weight: UInt32?
        var upper: UInt32?
        var lower: UInt32?
        var active: UInt32 = 0
        var inactive: UInt32 = 0
        var persistent: UInt32 = 0
        var stats32: Range<Int>?
        var stats64: Range<Int>?
        var tunnelNumber: UInt8 = 0
        var tunnelPort: UInt16 = 0
        var tunnelFlags: UInt16 = 0

        func need(_ payload: Range<Int>, _ size: Int) throws(IPVSCodecError) {
            if payload.count < size { throw .invalidAttributes(family: "destination", libnlError: -NLE_RANGE) }
        }
        var scan = AttributeScan(start: nest.lowerBound, end: nest.upperBound)
        while let (type, p) = scan.next(m) {
            switch type {
            case Int(IPVS_DEST_ATTR_ADDR):
                // minlen sizeof(struct in_addr), maxlen sizeof(union nf_inet_addr)
                if p.count < 4 || p.count > 16 {
                    throw .invalidAttributes(family: "destination", libnlError: -NLE_RANGE)
                }
                address = p
            case Int(IPVS_DEST_ATTR_PORT): try need(p, 2); port = m.u16(p)
            case Int(IPVS_DEST_ATTR_FWD_METHOD): try need(p, 4); forwardingRaw = m.u32(p)
            case Int(IPVS_DEST_ATTR_WEIGHT): try need(p, 4); weight = m.u32(p)
            case Int(IPVS_DEST_ATTR_U_THRESH): try need(p, 4); upper = m.u32(p)
            case Int(IPVS_DEST_ATTR_L_THRESH): try need(p, 4); lower = m.u32(p)
            case Int(IPVS_DEST_ATTR_ACTIVE_CONNS): try need(p, 4); active = m.u32(p)
            case Int(IPVS_DEST_ATTR_INACT_CONNS): try need(p, 4); inactive = m.u32(p)
            case Int(IPVS_DEST_ATTR_PERSIST_CONNS): try need(p, 4); persistent = m.u32(p)
            case Int(IPVS_DEST_ATTR_STATS): stats32 = p
            case Int(IPVS_DEST_ATTR_ADDR_FAMILY): try need(p, 2); addressFamily = m.u16(p)
            case Int(IPVS_DEST_ATTR_STATS64): stats64 = p
            case Int(IPVS_DEST_ATTR_TUN_TYPE): try need(p, 1); tunnelNumber = m[p.lowerBound]
            case Int(IPVS_DEST_ATTR_TUN_PORT): try need(p, 2); tunnelPort = m.u16(p)
            case Int(IPVS_DEST_ATTR_TUN_FLAGS): try need(p, 2); tunnelFlags = m.u16(p)
            default: break
            }
        }
        // The statistics are validated by the parse of the nest in libnl, before any value is read.
        let statistics = try Self.statistics(m, stats64 ?? stats32, is64Bit: stats64 != nil)

        // As in destination(_: Table): the family from IPVS_DEST_ATTR_ADDR_FAMILY (4.20+) or the address length.
        let family: AddressFamily
        if let addressFamily {
            switch Int32(addressFamily) {
            case AF_INET: family = .inet
            case AF_INET6: family = .inet6
            default: throw .unsupportedValue(attribute: "address family", value: "\(addressFamily)")
            }
        } else {
            guard let address else { throw .missingAttribute("IPVS_DEST_ATTR_ADDR") }
            let padded = m.orOfBytes(address.lowerBound + 4..<address.upperBound) == 0
            family = address.count >= 16 && !padded ? .inet6 : .inet
        }
        guard let forwardingRaw else { throw .missingAttribute("IPVS_DEST_ATTR_FWD_METHOD") }
        let method = forwardingRaw & UInt32(IP_VS_CONN_F_FWD_MASK)
        guard let forwarding = ForwardingMethod(rawValue: method) else {
            throw .unsupportedValue(attribute: "IPVS_DEST_ATTR_FWD_METHOD", value: "\(method)")
        }
        guard let tunnelType = TunnelType(rawValue: tunnelNumber) else {
            throw .unsupportedValue(attribute: "IPVS_DEST_ATTR_TUN_TYPE", value: "\(tunnelNumber)")
        }
        guard let address else { throw .missingAttribute("IPVS_DEST_ATTR_ADDR") }
        let ip = try Self.address(m, address, family, "IPVS_DEST_ATTR_ADDR")
        guard let port else { throw .missingAttribute("IPVS_DEST_ATTR_PORT") }
        guard let weight else { throw .missingAttribute("IPVS_DEST_ATTR_WEIGHT") }
        guard let upper else { throw .missingAttribute("IPVS_DEST_ATTR_U_THRESH") }
        guard let lower else { throw .missingAttribute("IPVS_DEST_ATTR_L_THRESH") }
        let server = RealServer(
            ip, port: UInt16(bigEndian: port), forwarding: forwarding, weight: Int32(bitPattern: weight),
            upperThreshold: upper, lowerThreshold: lower, tunnelType: tunnelType,
            tunnelPort: UInt16(bigEndian: tunnelPort), tunnelFlags: TunnelFlags(rawValue: tunnelFlags))
        return IPVSDestinationEntry(
            server: server, activeConnections: active, inactiveConnections: inactive,
            persistentConnections: persistent, statistics: statistics)
    }

    /// An address attribute's payload (4 to 16 bytes, checked by the scan) as `family`.
    static func address(
        _ m: UnsafeRawBufferPointer, _ p: Range<Int>, _ family: AddressFamily, _ name: String
    ) throws(IPVSCodecError) -> IPAddress {
        switch family {
        case .inet:
            return .v4(IPv4Address(UInt32(bigEndian: m.loadUnaligned(fromByteOffset: p.lowerBound, as: UInt32.self))))
        case .inet6:
            guard p.count >= 16 else { throw .unsupportedValue(attribute: name, value: "\(p.count) bytes") }
            return .v6(
                IPv6Address(
                    high: UInt64(bigEndian: m.loadUnaligned(fromByteOffset: p.lowerBound, as: UInt64.self)),
                    low: UInt64(bigEndian: m.loadUnaligned(fromByteOffset: p.lowerBound + 8, as: UInt64.self))))
        }
    }

    /// The nested IPVS_STATS_ATTR_* (see `statistics(_:_:_:)`): every field u64 in STATS64; in STATS only the byte
    /// counts are u64.
    static func statistics(
        _ m: UnsafeRawBufferPointer, _ nest: Range<Int>?, is64Bit: Bool
    ) throws(IPVSCodecError) -> IPVSStatistics {
        guard let nest else { return IPVSStatistics() }
        var r = IPVSStatistics()
        r.is64Bit = is64Bit
        var scan = AttributeScan(start: nest.lowerBound, end: nest.upperBound)
        while let (type, p) = scan.next(m) {
            guard type >= Int(IPVS_STATS_ATTR_CONNS), type <= Int(IPVS_STATS_ATTR_OUTBPS) else { continue }
            let wide = is64Bit || type == Int(IPVS_STATS_ATTR_INBYTES) || type == Int(IPVS_STATS_ATTR_OUTBYTES)
            if p.count < (wide ? 8 : 4) {
                throw .invalidAttributes(family: is64Bit ? "stats64" : "stats", libnlError: -NLE_RANGE)
            }
            let value =
                wide
                ? m.loadUnaligned(fromByteOffset: p.lowerBound, as: UInt64.self)
                : UInt64(m.loadUnaligned(fromByteOffset: p.lowerBound, as: UInt32.self))
            switch type {
            case Int(IPVS_STATS_ATTR_CONNS): r.connections = value
            case Int(IPVS_STATS_ATTR_INPKTS): r.incomingPackets = value
            case Int(IPVS_STATS_ATTR_OUTPKTS): r.outgoingPackets = value
            case Int(IPVS_STATS_ATTR_INBYTES): r.incomingBytes = value
            case Int(IPVS_STATS_ATTR_OUTBYTES): r.outgoingBytes = value
            case Int(IPVS_STATS_ATTR_CPS): r.connectionsPerSecond = value
            case Int(IPVS_STATS_ATTR_INPPS): r.incomingPacketsPerSecond = value
            case Int(IPVS_STATS_ATTR_OUTPPS): r.outgoingPacketsPerSecond = value
            case Int(IPVS_STATS_ATTR_INBPS): r.incomingBytesPerSecond = value
            default: r.outgoingBytesPerSecond = value
            }
        }
        return r
    }
}

/// Walks one level of netlink attributes in place, as libnl's `nla_for_each_attr` (`nla_ok`: at least a header
/// left, a length of at least the header and within what is left; 4-byte alignment between attributes). Yields the
/// type without the NLA_F_NESTED / NLA_F_NET_BYTEORDER bits, and where the payload lies. Trailing bytes that do not
/// make an attribute end the walk, as in libnl (which only logs them).
struct AttributeScan {
    var offset: Int
    let end: Int

    init(start: Int, end: Int) {
        self.offset = start
        self.end = end
    }

    @inline(__always)
    mutating func next(_ m: UnsafeRawBufferPointer) -> (Int, Range<Int>)? {
        guard end - offset >= 4 else { return nil }
        let length = Int(m.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        guard length >= 4, length <= end - offset else {
            offset = end
            return nil
        }
        let type = Int(m.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self) & 0x3fff)
        let payload = offset + 4..<offset + length
        offset += (length + 3) & ~3
        return (type, payload)
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    fileprivate func u16(_ p: Range<Int>) -> UInt16 { loadUnaligned(fromByteOffset: p.lowerBound, as: UInt16.self) }

    @inline(__always)
    fileprivate func u32(_ p: Range<Int>) -> UInt32 { loadUnaligned(fromByteOffset: p.lowerBound, as: UInt32.self) }

    /// OR of the bytes in `p` (0 when all are zero): the IPv4-padding check of an address without a family.
    fileprivate func orOfBytes(_ p: Range<Int>) -> UInt8 {
        var bits: UInt8 = 0
        for i in p { bits |= self[i] }
        return bits
    }
}
