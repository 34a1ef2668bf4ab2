import CIPVSNetlink
import CNetlink
import Glibc
import IPVSCore

extension IPVSReplyDecoder {
    /// A reply to IPVS_CMD_GET_SERVICE read where it lies (in a receive buffer), for the table dumps.
    ///
    /// Decodes to the same entry as ``service(_:)``, without libnl's three attribute tables and the message copy
    /// (see ``destination(in:)``): one pass per attribute level under the same checks as libnl's `validate_nla`
    /// with CIPVSNetlink's service policy (strings NUL-terminated within their maximum, the flags at least a
    /// `struct ip_vs_flags`). `message` is one netlink message, header included.
    ///
    /// Without `readsStatistics` the counters are left at zero; their nest is checked all the same, as libnl
    /// parses it for every listing.
    public static func service(
        in message: UnsafeRawBufferPointer, readsStatistics: Bool = true
    ) throws(IPVSCodecError) -> IPVSServiceEntry {
        let nested = try commandNest(in: message, Int(IPVS_CMD_ATTR_SERVICE), named: "IPVS_CMD_ATTR_SERVICE")
        return try serviceNest(message, nested, readsStatistics: readsStatistics)
    }

    /// Every scheduler's name as a word: its bytes, first byte lowest, zero-filled to 8 (all are shorter).
    static let schedulerWords: [(word: UInt64, kind: SchedulerKind)] = SchedulerKind.allCases.map { kind in
        (kind.rawValue.utf8.reversed().reduce(0) { $0 << 8 | UInt64($1) }, kind)
    }

    /// The scheduler a name (without its NUL) names, compared as one word with each known name rather than
    /// through a String per service; nil for any other name.
    static func schedulerKind(_ name: UnsafeRawBufferPointer) -> SchedulerKind? {
        guard name.count <= 8 else { return nil }
        var word: UInt64 = 0
        for (i, byte) in name.enumerated() { word |= UInt64(byte) << (8 * UInt64(i)) }
        for entry in schedulerWords where entry.word == word { return entry.kind }
        return nil
    }

    private static func serviceNest(
        _ m: UnsafeRawBufferPointer, _ nest: Range<Int>, readsStatistics: Bool
    ) throws(IPVSCodecError) -> IPVSServiceEntry {
        var af: UInt16?
        var proto: UInt16?
        var address: Range<Int>?
        var port: UInt16?
        var mark: UInt32?
        var scheduler: Range<Int>?
        var flags: UInt32?
        var timeout: UInt32?
        var netmask: UInt32?
        var stats32: Range<Int>?
        var stats64: Range<Int>?
        var engine: Range<Int>?

        func need(_ p: Range<Int>, _ size: Int) throws(IPVSCodecError) {
            if p.count < size { throw .invalidAttributes(family: "service", libnlError: -NLE_RANGE) }
        }
        /// NLA_STRING: at least one byte, at most `maximum`, the last one NUL (libnl `validate_nla`).
        func string(_ p: Range<Int>, _ maximum: Int) throws(IPVSCodecError) -> Range<Int> {
            if p.isEmpty || p.count > maximum { throw .invalidAttributes(family: "service", libnlError: -NLE_RANGE) }
            if m[p.upperBound - 1] != 0 { throw .invalidAttributes(family: "service", libnlError: -NLE_INVAL) }
            var end = p.lowerBound
            while m[end] != 0 { end += 1 }
            return p.lowerBound..<end
        }
        var scan = AttributeScan(start: nest.lowerBound, end: nest.upperBound)
        while let (type, p) = scan.next(m) {
            switch type {
            case Int(IPVS_SVC_ATTR_AF): try need(p, 2); af = m.loadUnaligned(fromByteOffset: p.lowerBound, as: UInt16.self)
            case Int(IPVS_SVC_ATTR_PROTOCOL):
                try need(p, 2)
                proto = m.loadUnaligned(fromByteOffset: p.lowerBound, as: UInt16.self)
            case Int(IPVS_SVC_ATTR_ADDR):
                if p.count < 4 || p.count > 16 { throw .invalidAttributes(family: "service", libnlError: -NLE_RANGE) }
                address = p
            case Int(IPVS_SVC_ATTR_PORT):
                try need(p, 2)
                port = m.loadUnaligned(fromByteOffset: p.lowerBound, as: UInt16.self)
            case Int(IPVS_SVC_ATTR_FWMARK):
                try need(p, 4)
                mark = m.loadUnaligned(fromByteOffset: p.lowerBound, as: UInt32.self)
            case Int(IPVS_SVC_ATTR_SCHED_NAME): scheduler = try string(p, Int(IP_VS_SCHEDNAME_MAXLEN))
            case Int(IPVS_SVC_ATTR_FLAGS):
                try need(p, MemoryLayout<ip_vs_flags>.size)
                flags = m.loadUnaligned(fromByteOffset: p.lowerBound, as: UInt32.self)
            case Int(IPVS_SVC_ATTR_TIMEOUT):
                try need(p, 4)
                timeout = m.loadUnaligned(fromByteOffset: p.lowerBound, as: UInt32.self)
            case Int(IPVS_SVC_ATTR_NETMASK):
                try need(p, 4)
                netmask = m.loadUnaligned(fromByteOffset: p.lowerBound, as: UInt32.self)
            case Int(IPVS_SVC_ATTR_STATS): stats32 = p
            case Int(IPVS_SVC_ATTR_PE_NAME): engine = try string(p, Int(IP_VS_PENAME_MAXLEN))
            case Int(IPVS_SVC_ATTR_STATS64): stats64 = p
            default: break
            }
        }
        var statistics: IPVSStatistics? = readsStatistics ? IPVSStatistics() : nil
        if let counters = stats64 ?? stats32 {
            var none: [UInt64] = []
            _ = try Self.statistics(
                m, counters, is64Bit: stats64 != nil, into: &statistics, recording: &none, record: false)
        }

        guard let af else { throw .missingAttribute("IPVS_SVC_ATTR_AF") }
        let family: AddressFamily
        switch Int32(af) {
        case AF_INET: family = .inet
        case AF_INET6: family = .inet6
        default: throw .unsupportedValue(attribute: "address family", value: "\(af)")
        }
        let key: ServiceKey
        if let mark, mark != 0 || proto == nil {
            key = .firewallMark(mark, family)
        } else {
            guard let proto else { throw .missingAttribute("IPVS_SVC_ATTR_PROTOCOL") }
            guard let ipProtocol = IPProtocol(rawValue: proto) else {
                throw .unsupportedValue(attribute: "IPVS_SVC_ATTR_PROTOCOL", value: "\(proto)")
            }
            guard let address else { throw .missingAttribute("IPVS_SVC_ATTR_ADDR") }
            let ip = try Self.address(m, address, family, "IPVS_SVC_ATTR_ADDR")
            guard let port else { throw .missingAttribute("IPVS_SVC_ATTR_PORT") }
            key = .address(ipProtocol, ip, port: UInt16(bigEndian: port))
        }
        guard let scheduler else { throw .missingAttribute("IPVS_SVC_ATTR_SCHED_NAME") }
        guard let kind = schedulerKind(UnsafeRawBufferPointer(rebasing: m[scheduler])) else {
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: m[scheduler]), as: UTF8.self)
            throw .unsupportedValue(attribute: "IPVS_SVC_ATTR_SCHED_NAME", value: name)
        }
        guard let flags else { throw .missingAttribute("IPVS_SVC_ATTR_FLAGS") }
        let kernelFlags = ServiceFlags(rawValue: flags)
        guard let netmask else { throw .missingAttribute("IPVS_SVC_ATTR_NETMASK") }
        guard let timeout else { throw .missingAttribute("IPVS_SVC_ATTR_TIMEOUT") }
        let service = VirtualService(
            key, scheduler: kind, flags: kernelFlags.subtracting(.hashed), persistenceTimeout: timeout,
            netmask: family == .inet ? UInt32(bigEndian: netmask) : netmask,
            persistenceEngine: engine.map { String(decoding: UnsafeRawBufferPointer(rebasing: m[$0]), as: UTF8.self) })
        return IPVSServiceEntry(
            service: service, kernelFlags: kernelFlags, statistics: statistics ?? IPVSStatistics())
    }
}
