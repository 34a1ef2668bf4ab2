import IPVSCore

/// Builds frames byte by byte, layer by layer: for tests, fuzz seeds, generated benchmark captures and demos.
/// Checksums are left 0 (the decoder does not check them; captures of offloaded traffic have them unset too).
public enum PacketBuilder {
    /// An IPv6 extension header to put between the fixed header and the payload.
    public enum IPv6Extension: Sendable, Hashable {
        /// Hop-by-hop options, padded (PadN) to `octets` bytes (a multiple of 8).
        case hopByHop(octets: Int)
        /// Routing header (type 4, segments left 0), `octets` bytes.
        case routing(octets: Int)
        /// Destination options, `octets` bytes.
        case destinationOptions(octets: Int)
        /// Fragment header: `offset` in 8-byte units.
        case fragment(offset: UInt16, more: Bool, identification: UInt32)
        /// Authentication header with `icvWords` 32-bit words of ICV (length field = 1 + icvWords).
        case authentication(icvWords: Int)

        var number: UInt8 {
            switch self {
            case .hopByHop: return 0
            case .routing: return 43
            case .destinationOptions: return 60
            case .fragment: return 44
            case .authentication: return 51
            }
        }
    }

    // MARK: Transport

    public static func tcp(source: UInt16, destination: UInt16, flags: TCPFlags, sequence: UInt32 = 1,
                           acknowledgment: UInt32 = 0, optionWords: Int = 0, payloadLength: Int = 0) -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(20 + optionWords * 4 + payloadLength)
        b.put16(source)
        b.put16(destination)
        b.put32(sequence)
        b.put32(acknowledgment)
        b.append(UInt8(5 + optionWords) << 4)
        b.append(flags.rawValue)
        b.put16(65535)  // window
        b.put16(0)  // checksum
        b.put16(0)  // urgent pointer
        for _ in 0..<optionWords { b.append(contentsOf: [1, 1, 1, 1]) }  // NOPs
        b.append(contentsOf: repeatElement(0x61, count: payloadLength))
        return b
    }

    public static func udp(source: UInt16, destination: UInt16, payload: [UInt8]) -> [UInt8] {
        var b: [UInt8] = []
        b.put16(source)
        b.put16(destination)
        b.put16(UInt16(truncatingIfNeeded: 8 + payload.count))
        b.put16(0)
        b.append(contentsOf: payload)
        return b
    }

    public static func udp(source: UInt16, destination: UInt16, payloadLength: Int = 0) -> [UInt8] {
        udp(source: source, destination: destination, payload: Array(repeating: 0x62, count: payloadLength))
    }

    /// An SCTP packet with one chunk of type `chunk` (4-byte chunk header plus `chunkValueLength` bytes).
    public static func sctp(source: UInt16, destination: UInt16, chunk: UInt8, verificationTag: UInt32 = 0,
                            chunkValueLength: Int = 16) -> [UInt8] {
        var b: [UInt8] = []
        b.put16(source)
        b.put16(destination)
        b.put32(verificationTag)
        b.put32(0)  // CRC32c
        b.append(chunk)
        b.append(0)
        b.put16(UInt16(4 + chunkValueLength))
        b.append(contentsOf: repeatElement(0, count: chunkValueLength))
        return b
    }

    // MARK: Network

    public static func ipv4(source: IPv4Address, destination: IPv4Address, protocol proto: UInt8, payload: [UInt8],
                            optionWords: Int = 0, fragmentOffset: UInt16 = 0, moreFragments: Bool = false,
                            identification: UInt16 = 1, ttl: UInt8 = 64, totalLength: UInt16? = nil) -> [UInt8] {
        var b: [UInt8] = []
        let headerLength = 20 + optionWords * 4
        b.reserveCapacity(headerLength + payload.count)
        b.append(0x40 | UInt8(headerLength / 4))
        b.append(0)
        b.put16(totalLength ?? UInt16(truncatingIfNeeded: headerLength + payload.count))
        b.put16(identification)
        b.put16((moreFragments ? 0x2000 : 0) | (fragmentOffset & 0x1FFF))
        b.append(ttl)
        b.append(proto)
        b.put16(0)
        b.put32(source.value)
        b.put32(destination.value)
        for _ in 0..<optionWords { b.append(contentsOf: [1, 1, 1, 1]) }  // NOP options
        b.append(contentsOf: payload)
        return b
    }

    public static func ipv6(source: IPv6Address, destination: IPv6Address, nextHeader: UInt8, payload: [UInt8],
                            extensions: [IPv6Extension] = [], hopLimit: UInt8 = 64) -> [UInt8] {
        var ext: [UInt8] = []
        for (i, e) in extensions.enumerated() {
            let next = i + 1 < extensions.count ? extensions[i + 1].number : nextHeader
            switch e {
            case .hopByHop(let octets), .routing(let octets), .destinationOptions(let octets):
                precondition(octets >= 8 && octets % 8 == 0)
                ext.append(next)
                ext.append(UInt8(octets / 8 - 1))
                if case .routing = e {
                    ext.append(4)  // type
                    ext.append(0)  // segments left
                    ext.append(contentsOf: repeatElement(0, count: octets - 4))
                } else {
                    ext.append(1)  // PadN
                    ext.append(UInt8(octets - 4))
                    ext.append(contentsOf: repeatElement(0, count: octets - 4))
                }
            case .fragment(let offset, let more, let identification):
                ext.append(next)
                ext.append(0)
                ext.put16(offset << 3 | (more ? 1 : 0))
                ext.put32(identification)
            case .authentication(let icvWords):
                ext.append(next)
                ext.append(UInt8(1 + icvWords))
                ext.put16(0)
                ext.put32(0x100)  // SPI
                ext.put32(1)  // sequence
                ext.append(contentsOf: repeatElement(0, count: icvWords * 4))
            }
        }
        var b: [UInt8] = []
        b.reserveCapacity(40 + ext.count + payload.count)
        b.put32(0x6000_0000)
        b.put16(UInt16(truncatingIfNeeded: ext.count + payload.count))
        b.append(extensions.first?.number ?? nextHeader)
        b.append(hopLimit)
        b.put64(source.high)
        b.put64(source.low)
        b.put64(destination.high)
        b.put64(destination.low)
        b.append(contentsOf: ext)
        b.append(contentsOf: payload)
        return b
    }

    /// IPv4 or IPv6 by the addresses' family (both must be of the same one).
    public static func ip(source: IPAddress, destination: IPAddress, protocol proto: UInt8,
                          payload: [UInt8]) -> [UInt8] {
        switch (source, destination) {
        case (.v4(let s), .v4(let d)): return ipv4(source: s, destination: d, protocol: proto, payload: payload)
        case (.v6(let s), .v6(let d)): return ipv6(source: s, destination: d, nextHeader: proto, payload: payload)
        default: preconditionFailure("mixed address families")
        }
    }

    /// An IP packet carried in an IP packet (IPVS tunnel forwarding, ip_vs_xmit.c `ip_vs_tunnel_xmit`): protocol 4
    /// for an inner IPv4 packet, 41 for IPv6.
    public static func ipInIP(outerSource: IPAddress, outerDestination: IPAddress, inner: [UInt8]) -> [UInt8] {
        ip(source: outerSource, destination: outerDestination, protocol: inner.first.map { $0 >> 4 == 6 } == true ? 41 : 4,
           payload: inner)
    }

    /// A GRE header (RFC 2784/2890) for an inner IP packet, with optional checksum and key words.
    public static func gre(inner: [UInt8], checksum: Bool = false, key: UInt32? = nil) -> [UInt8] {
        var b: [UInt8] = []
        b.put16((checksum ? 0x8000 : 0) | (key != nil ? 0x2000 : 0))
        b.put16(inner.first.map { $0 >> 4 == 6 } == true ? 0x86DD : 0x0800)
        if checksum { b.put32(0) }
        if let key { b.put32(key) }
        b.append(contentsOf: inner)
        return b
    }

    /// A GUE version 0 header (4 bytes plus `optionWords` words) for an inner IP packet.
    public static func gue(inner: [UInt8], optionWords: Int = 0) -> [UInt8] {
        var b: [UInt8] = [UInt8(optionWords & 0x1F), inner.first.map { $0 >> 4 == 6 } == true ? 41 : 4, 0, 0]
        b.append(contentsOf: repeatElement(0, count: optionWords * 4))
        b.append(contentsOf: inner)
        return b
    }

    // MARK: Link

    /// An 802.1Q (0x8100) or 802.1ad (0x88A8) tag.
    public struct VLANTag: Sendable, Hashable {
        public var protocolIdentifier: UInt16
        public var identifier: UInt16
        public init(_ identifier: UInt16, protocolIdentifier: UInt16 = 0x8100) {
            self.identifier = identifier
            self.protocolIdentifier = protocolIdentifier
        }
    }

    static func etherType(of packet: [UInt8]) -> UInt16 { packet.first.map { $0 >> 4 == 6 } == true ? 0x86DD : 0x0800 }

    public static func ethernet(destination: UInt64, source: UInt64, vlans: [VLANTag] = [], etherType: UInt16? = nil,
                                payload: [UInt8]) -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(14 + vlans.count * 4 + payload.count)
        b.putMAC(destination)
        b.putMAC(source)
        for v in vlans {
            b.put16(v.protocolIdentifier)
            b.put16(v.identifier)
        }
        b.put16(etherType ?? Self.etherType(of: payload))
        b.append(contentsOf: payload)
        return b
    }

    /// Linux cooked capture v1 (pcap/sll.h): packet type, ARPHRD_ETHER, a 6-byte source address.
    public static func linuxSLL(packetType: UInt16 = 0, source: UInt64, vlans: [VLANTag] = [],
                                etherType: UInt16? = nil, payload: [UInt8]) -> [UInt8] {
        var b: [UInt8] = []
        b.put16(packetType)
        b.put16(1)  // ARPHRD_ETHER
        b.put16(6)
        b.putMAC(source)
        b.put16(0)
        b.put16(vlans.first?.protocolIdentifier ?? etherType ?? Self.etherType(of: payload))
        for (i, v) in vlans.enumerated() {
            b.put16(v.identifier)
            b.put16(i + 1 < vlans.count ? vlans[i + 1].protocolIdentifier : etherType ?? Self.etherType(of: payload))
        }
        b.append(contentsOf: payload)
        return b
    }

    /// Linux cooked capture v2 (pcap/sll.h): protocol, interface index, ARPHRD_ETHER, packet type, source address.
    public static func linuxSLL2(interfaceIndex: UInt32, packetType: UInt8 = 0, source: UInt64,
                                 vlans: [VLANTag] = [], etherType: UInt16? = nil, payload: [UInt8]) -> [UInt8] {
        var b: [UInt8] = []
        b.put16(vlans.first?.protocolIdentifier ?? etherType ?? Self.etherType(of: payload))
        b.put16(0)
        b.put32(interfaceIndex)
        b.put16(1)
        b.append(packetType)
        b.append(6)
        b.putMAC(source)
        b.put16(0)
        for (i, v) in vlans.enumerated() {
            b.put16(v.identifier)
            b.put16(i + 1 < vlans.count ? vlans[i + 1].protocolIdentifier : etherType ?? Self.etherType(of: payload))
        }
        b.append(contentsOf: payload)
        return b
    }

    /// `packet` (an IP packet) framed for `linkType` with the given link-layer details.
    public static func frame(_ linkType: LinkType, ip packet: [UInt8], destinationMAC: UInt64 = 0x02_00_00_00_00_02,
                             sourceMAC: UInt64 = 0x02_00_00_00_00_01, interfaceIndex: UInt32 = 1,
                             packetType: UInt8 = 0, vlans: [VLANTag] = []) -> [UInt8] {
        switch linkType {
        case .ethernet:
            return ethernet(destination: destinationMAC, source: sourceMAC, vlans: vlans, payload: packet)
        case .linuxSLL:
            return linuxSLL(packetType: UInt16(packetType), source: sourceMAC, vlans: vlans, payload: packet)
        case .linuxSLL2:
            return linuxSLL2(interfaceIndex: interfaceIndex, packetType: packetType, source: sourceMAC, vlans: vlans,
                             payload: packet)
        default:
            return packet
        }
    }
}

extension [UInt8] {
    mutating func put16(_ v: UInt16) {
        append(UInt8(truncatingIfNeeded: v >> 8))
        append(UInt8(truncatingIfNeeded: v))
    }

    mutating func put32(_ v: UInt32) {
        put16(UInt16(truncatingIfNeeded: v >> 16))
        put16(UInt16(truncatingIfNeeded: v))
    }

    mutating func put64(_ v: UInt64) {
        put32(UInt32(truncatingIfNeeded: v >> 32))
        put32(UInt32(truncatingIfNeeded: v))
    }

    mutating func putMAC(_ v: UInt64) {
        put16(UInt16(truncatingIfNeeded: v >> 32))
        put32(UInt32(truncatingIfNeeded: v))
    }
}
