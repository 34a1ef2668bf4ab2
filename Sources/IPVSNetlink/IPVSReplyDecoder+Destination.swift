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
        var headers: [UInt64] = []
        var statistics: IPVSStatistics? = IPVSStatistics()
        let fields = try destinationFields(in: message, recording: &headers, record: false, statistics: &statistics)
        return try destination(message, fields, statistics: statistics!)
    }

    /// The command level of an in-place reply (command policy), for ``destination(in:)`` and ``service(in:)``:
    /// checks the netlink and generic netlink headers fit, and returns the payload of the one nested attribute
    /// that is read (`attribute`); the timeouts, the only other command attributes, must be NLA_U32-sized.
    static func commandNest(
        in message: UnsafeRawBufferPointer, _ attribute: Int, named name: String
    ) throws(IPVSCodecError) -> Range<Int> {
        var headers: [UInt64] = []
        return try commandNest(in: message, attribute, named: name, recording: &headers, record: false).nest
    }

    /// ``commandNest(in:_:named:)``; with `record`, appends every attribute header it read to `headers` (see
    /// ``IPVSDestinationDecoder``) and says whether the walk ended exactly at the message's end.
    static func commandNest(
        in message: UnsafeRawBufferPointer, _ attribute: Int, named name: String, recording headers: inout [UInt64],
        record: Bool
    ) throws(IPVSCodecError) -> (nest: Range<Int>, clean: Bool) {
        guard message.count >= NetlinkFrame.headerSize + 4 else { throw .truncated }
        let length = Int(message.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard length >= NetlinkFrame.headerSize + 4, length <= message.count else { throw .truncated }
        var nested: Range<Int>?
        var scan = AttributeScan(start: NetlinkFrame.headerSize + 4, end: length)
        while let (type, payload) = scan.next(message) {
            if record { headers.append(scan.lastHeader(message)) }
            switch type {
            case attribute: nested = payload
            case Int(IPVS_CMD_ATTR_TIMEOUT_TCP), Int(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN), Int(IPVS_CMD_ATTR_TIMEOUT_UDP):
                if payload.count < 4 { throw .invalidAttributes(family: "command", libnlError: -NLE_RANGE) }
            default: break
            }
        }
        guard let nested else { throw .missingAttribute(name) }
        return (nested, scan.endedCleanly)
    }

    /// Where the values of one destination reply lie (payload offsets from the message's start, -1 when absent),
    /// as the checks of ``destination(in:)`` chose them (a later duplicate wins).
    struct DestinationFields {
        var address = -1..<(-1)
        var addressFamily = -1
        var port = -1
        var forwarding = -1
        var weight = -1
        var upper = -1
        var lower = -1
        var active = -1
        var inactive = -1
        var persistent = -1
        var tunnelType = -1
        var tunnelPort = -1
        var tunnelFlags = -1
        var statistics: Range<Int>?
        var statistics64 = false
        /// Every walk of the reply ended exactly at its level's end (no trailing bytes).
        var clean = true
    }

    /// The attribute walk of a destination reply: every check libnl makes on the attributes' types and lengths
    /// (the command level, the destination nest and the statistics nest that is read), the values' places. With
    /// `record`, every attribute header read is appended to `headers`. The counters are read into `statistics` by
    /// the same walk that checks their nest, unless it is nil.
    static func destinationFields(
        in m: UnsafeRawBufferPointer, recording headers: inout [UInt64], record: Bool,
        statistics values: inout IPVSStatistics?
    ) throws(IPVSCodecError) -> DestinationFields {
        let (nest, commandClean) = try commandNest(
            in: m, Int(IPVS_CMD_ATTR_DEST), named: "IPVS_CMD_ATTR_DEST", recording: &headers, record: record)
        var f = DestinationFields()
        var stats32: Range<Int>?
        var stats64: Range<Int>?

        func need(_ payload: Range<Int>, _ size: Int) throws(IPVSCodecError) {
            if payload.count < size { throw .invalidAttributes(family: "destination", libnlError: -NLE_RANGE) }
        }
        var scan = AttributeScan(start: nest.lowerBound, end: nest.upperBound)
        while let (type, p) = scan.next(m) {
            if record { headers.append(scan.lastHeader(m)) }
            let at = p.lowerBound
            switch type {
            case Int(IPVS_DEST_ATTR_ADDR):
                // minlen sizeof(struct in_addr), maxlen sizeof(union nf_inet_addr)
                if p.count < 4 || p.count > 16 {
                    throw .invalidAttributes(family: "destination", libnlError: -NLE_RANGE)
                }
                f.address = p
            case Int(IPVS_DEST_ATTR_PORT): try need(p, 2); f.port = at
            case Int(IPVS_DEST_ATTR_FWD_METHOD): try need(p, 4); f.forwarding = at
            case Int(IPVS_DEST_ATTR_WEIGHT): try need(p, 4); f.weight = at
            case Int(IPVS_DEST_ATTR_U_THRESH): try need(p, 4); f.upper = at
            case Int(IPVS_DEST_ATTR_L_THRESH): try need(p, 4); f.lower = at
            case Int(IPVS_DEST_ATTR_ACTIVE_CONNS): try need(p, 4); f.active = at
            case Int(IPVS_DEST_ATTR_INACT_CONNS): try need(p, 4); f.inactive = at
            case Int(IPVS_DEST_ATTR_PERSIST_CONNS): try need(p, 4); f.persistent = at
            case Int(IPVS_DEST_ATTR_STATS): stats32 = p
            case Int(IPVS_DEST_ATTR_ADDR_FAMILY): try need(p, 2); f.addressFamily = at
            case Int(IPVS_DEST_ATTR_STATS64): stats64 = p
            case Int(IPVS_DEST_ATTR_TUN_TYPE): try need(p, 1); f.tunnelType = at
            case Int(IPVS_DEST_ATTR_TUN_PORT): try need(p, 2); f.tunnelPort = at
            case Int(IPVS_DEST_ATTR_TUN_FLAGS): try need(p, 2); f.tunnelFlags = at
            default: break
            }
        }
        f.clean = commandClean && scan.endedCleanly
        // The statistics are validated by the parse of the nest in libnl, before any value is read.
        f.statistics = stats64 ?? stats32
        f.statistics64 = stats64 != nil
        if let nest = f.statistics {
            let clean = try statistics(
                m, nest, is64Bit: f.statistics64, into: &values, recording: &headers, record: record)
            f.clean = f.clean && clean
        }
        return f
    }

    /// The counters of a reply whose places ``destinationFields(in:recording:record:statistics:)`` found (zero
    /// without a statistics nest).
    static func statistics(_ m: UnsafeRawBufferPointer, _ f: DestinationFields) throws(IPVSCodecError) -> IPVSStatistics {
        try statistics(m, f.statistics, is64Bit: f.statistics64)
    }

    /// The entry from the places ``destinationFields(in:recording:record:statistics:)`` found, with `statistics`
    /// as its counters and the checks that depend on values (the family, the forwarding method, the tunnel type)
    /// and on presence, in libnl's path's order.
    static func destination(
        _ m: UnsafeRawBufferPointer, _ f: DestinationFields, statistics: IPVSStatistics
    ) throws(IPVSCodecError) -> IPVSDestinationEntry {
        // As in destination(_: Table): the family from IPVS_DEST_ATTR_ADDR_FAMILY (4.20+) or the address length.
        let family: AddressFamily
        if f.addressFamily >= 0 {
            let addressFamily = m.u16(at: f.addressFamily)
            switch Int32(addressFamily) {
            case AF_INET: family = .inet
            case AF_INET6: family = .inet6
            default: throw .unsupportedValue(attribute: "address family", value: "\(addressFamily)")
            }
        } else {
            guard f.address.lowerBound >= 0 else { throw .missingAttribute("IPVS_DEST_ATTR_ADDR") }
            let padded = m.orOfBytes(f.address.lowerBound + 4..<f.address.upperBound) == 0
            family = f.address.count >= 16 && !padded ? .inet6 : .inet
        }
        guard f.forwarding >= 0 else { throw .missingAttribute("IPVS_DEST_ATTR_FWD_METHOD") }
        let method = m.u32(at: f.forwarding) & UInt32(IP_VS_CONN_F_FWD_MASK)
        guard let forwarding = ForwardingMethod(rawValue: method) else {
            throw .unsupportedValue(attribute: "IPVS_DEST_ATTR_FWD_METHOD", value: "\(method)")
        }
        let tunnelNumber = f.tunnelType >= 0 ? m[f.tunnelType] : 0
        guard let tunnelType = TunnelType(rawValue: tunnelNumber) else {
            throw .unsupportedValue(attribute: "IPVS_DEST_ATTR_TUN_TYPE", value: "\(tunnelNumber)")
        }
        guard f.address.lowerBound >= 0 else { throw .missingAttribute("IPVS_DEST_ATTR_ADDR") }
        let ip = try Self.address(m, f.address, family, "IPVS_DEST_ATTR_ADDR")
        guard f.port >= 0 else { throw .missingAttribute("IPVS_DEST_ATTR_PORT") }
        guard f.weight >= 0 else { throw .missingAttribute("IPVS_DEST_ATTR_WEIGHT") }
        guard f.upper >= 0 else { throw .missingAttribute("IPVS_DEST_ATTR_U_THRESH") }
        guard f.lower >= 0 else { throw .missingAttribute("IPVS_DEST_ATTR_L_THRESH") }
        let server = RealServer(
            ip, port: UInt16(bigEndian: m.u16(at: f.port)), forwarding: forwarding,
            weight: Int32(bitPattern: m.u32(at: f.weight)), upperThreshold: m.u32(at: f.upper),
            lowerThreshold: m.u32(at: f.lower), tunnelType: tunnelType,
            tunnelPort: UInt16(bigEndian: f.tunnelPort >= 0 ? m.u16(at: f.tunnelPort) : 0),
            tunnelFlags: TunnelFlags(rawValue: f.tunnelFlags >= 0 ? m.u16(at: f.tunnelFlags) : 0))
        return IPVSDestinationEntry(
            server: server, activeConnections: f.active >= 0 ? m.u32(at: f.active) : 0,
            inactiveConnections: f.inactive >= 0 ? m.u32(at: f.inactive) : 0,
            persistentConnections: f.persistent >= 0 ? m.u32(at: f.persistent) : 0, statistics: statistics)
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
        var values: IPVSStatistics? = IPVSStatistics()
        var none: [UInt64] = []
        _ = try statistics(m, nest, is64Bit: is64Bit, into: &values, recording: &none, record: false)
        return values!
    }

    /// The walk of a statistics nest: libnl's length checks, the values into `values` when it is not nil, every
    /// attribute header into `headers` with `record`. True when the walk ended exactly at the nest's end.
    static func statistics(
        _ m: UnsafeRawBufferPointer, _ nest: Range<Int>, is64Bit: Bool, into values: inout IPVSStatistics?,
        recording headers: inout [UInt64], record: Bool
    ) throws(IPVSCodecError) -> Bool {
        var r = values ?? IPVSStatistics()
        r.is64Bit = is64Bit
        let reads = values != nil
        var scan = AttributeScan(start: nest.lowerBound, end: nest.upperBound)
        while let (type, p) = scan.next(m) {
            if record { headers.append(scan.lastHeader(m)) }
            guard type >= Int(IPVS_STATS_ATTR_CONNS), type <= Int(IPVS_STATS_ATTR_OUTBPS) else { continue }
            let wide = is64Bit || type == Int(IPVS_STATS_ATTR_INBYTES) || type == Int(IPVS_STATS_ATTR_OUTBYTES)
            if p.count < (wide ? 8 : 4) {
                throw .invalidAttributes(family: is64Bit ? "stats64" : "stats", libnlError: -NLE_RANGE)
            }
            guard reads else { continue }
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
        if reads { values = r }
        return scan.endedCleanly
    }
}

/// Decodes the destination replies of table dumps one after another, remembering where the values of the last
/// reply it walked lie.
///
/// The kernel writes every destination reply with the same attributes in the same order (ip_vs_ctl.c
/// `ip_vs_genl_fill_dest`), so all the replies of one table have one layout per address family. The checks of
/// ``IPVSReplyDecoder/destination(in:)`` on types and lengths depend only on the attribute headers: a reply of the
/// same length whose headers, at the same offsets, are the same words as those of a reply that passed them passes
/// them too, and its values lie at the same places. So after one full walk the decoder compares the next reply's
/// headers with the ones it recorded and, when they all match, reads the values straight from their places; the
/// checks that depend on values (address family, forwarding method, tunnel type) run on every reply. Any
/// difference, or a walk that did not end exactly at a level's end, sends that reply through the full walk (and
/// records its layout).
///
/// Without `readsStatistics` the counters are not read (zero in the entries): their nest is checked all the same,
/// as libnl parses it for ipvsadm's listings that print no counter.
public struct IPVSDestinationDecoder {
    public var readsStatistics: Bool
    /// nlmsg_len of the recorded reply; -1 before any.
    var length = -1
    /// Offset << 32 | header word, of every attribute header the recorded reply's walk read.
    var headers: [UInt64] = []
    var fields = IPVSReplyDecoder.DestinationFields()
    /// Replies decoded from the recorded layout, and through the full walk.
    public private(set) var reused = 0
    public private(set) var walked = 0

    public init(readsStatistics: Bool = true) {
        self.readsStatistics = readsStatistics
        headers.reserveCapacity(64)
    }

    /// One IPVS_CMD_NEW_DEST reply (header included; `nlmsg_len` may be shorter than the buffer): the entry and the
    /// errors of ``IPVSReplyDecoder/destination(in:)``.
    public mutating func decode(_ m: UnsafeRawBufferPointer) throws(IPVSCodecError) -> IPVSDestinationEntry {
        if length >= 0, m.count >= 4, Int(m.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == length,
            length <= m.count, matches(m)
        {
            reused += 1
            let statistics = readsStatistics ? try IPVSReplyDecoder.statistics(m, fields) : IPVSStatistics()
            return try IPVSReplyDecoder.destination(m, fields, statistics: statistics)
        }
        walked += 1
        length = -1
        headers.removeAll(keepingCapacity: true)
        var statistics: IPVSStatistics? = readsStatistics ? IPVSStatistics() : nil
        let found = try IPVSReplyDecoder.destinationFields(
            in: m, recording: &headers, record: true, statistics: &statistics)
        let entry = try IPVSReplyDecoder.destination(m, found, statistics: statistics ?? IPVSStatistics())
        if found.clean {
            fields = found
            length = Int(m.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        }
        return entry
    }

    /// Every recorded header is at its offset in `m` (each lies within the recorded length, which `m` has).
    private func matches(_ m: UnsafeRawBufferPointer) -> Bool {
        headers.withUnsafeBufferPointer { recorded in
            // Differences accumulated without a branch per header: nearly every reply matches.
            var difference: UInt32 = 0
            for h in recorded {
                let word = m.loadUnaligned(fromByteOffset: Int(h >> 32), as: UInt32.self)
                difference |= word ^ UInt32(truncatingIfNeeded: h)
            }
            return difference == 0
        }
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
            broken = true
            return nil
        }
        let type = Int(m.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self) & 0x3fff)
        let payload = offset + 4..<offset + length
        last = offset
        offset += (length + 3) & ~3
        return (type, payload)
    }

    /// Where the last attribute ``next(_:)`` returned starts.
    var last = 0
    /// The walk met bytes that do not make an attribute.
    var broken = false

    /// The last attribute's header word, with its offset: offset << 32 | word.
    func lastHeader(_ m: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(last) << 32 | UInt64(m.loadUnaligned(fromByteOffset: last, as: UInt32.self))
    }

    /// The walk ended exactly at the level's end: no trailing bytes, no attribute that did not fit.
    var endedCleanly: Bool { offset == end && !broken }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    fileprivate func u16(at offset: Int) -> UInt16 { loadUnaligned(fromByteOffset: offset, as: UInt16.self) }

    @inline(__always)
    fileprivate func u32(at offset: Int) -> UInt32 { loadUnaligned(fromByteOffset: offset, as: UInt32.self) }

    /// OR of the bytes in `p` (0 when all are zero): the IPv4-padding check of an address without a family.
    fileprivate func orOfBytes(_ p: Range<Int>) -> UInt8 {
        var bits: UInt8 = 0
        for i in p { bits |= self[i] }
        return bits
    }
}
