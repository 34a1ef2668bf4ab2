import IPVSCore

/// Decodes captured frames in place, without copying or allocating: link layer (Ethernet, Linux cooked v1/v2, raw
/// IP), up to four 802.1Q/802.1ad tags, IPv4 (options skipped) or IPv6 (extension headers walked), one level of
/// tunnel (IP-in-IP in any combination of families, GRE, GUE on configured ports) and the TCP, UDP or SCTP header.
///
/// Every read is checked against the captured length first, so a damaged or cut-short frame ends in a
/// `PacketDisposition` that says where it broke; `statistics` counts every frame by disposition.
///
/// Fragments: the first fragment of an IPv4 or IPv6 packet carries the transport header and is decoded (with
/// `isFragment` set); later fragments carry no ports and are counted as `.nonFirstFragment` and skipped. The tap does
/// not reassemble: IPVS sees reassembled packets (ip_vs_core.c gathers fragments through nf_defrag before the
/// lookup), so bytes of later fragments are missing from the tap's byte counts.
public struct PacketDecoder: Sendable {
    public private(set) var statistics = DecodeStatistics()
    /// UDP destination ports on which GUE (`--tun-type gue --tun-port N`) is decoded; empty: none.
    public var guePorts: [UInt16]

    public init(guePorts: [UInt16] = []) {
        self.guePorts = guePorts
    }

    /// Decodes one frame of a capture with link type `linkType` into `packet` (overwriting every field) and counts
    /// the outcome. `packet` is meaningful only up to the layer where decoding stopped.
    public mutating func decode(_ frame: UnsafeRawBufferPointer, linkType: LinkType,
                                into packet: inout DecodedPacket) -> PacketDisposition {
        packet = DecodedPacket()
        packet.linkType = linkType
        let disposition = Self.decodeFrame(frame, linkType: linkType, into: &packet, guePorts: guePorts)
        statistics.add(disposition)
        return disposition
    }

    /// Resets the counters.
    public mutating func resetStatistics() { statistics = DecodeStatistics() }

    // MARK: - Layers

    static func decodeFrame(_ f: UnsafeRawBufferPointer, linkType: LinkType, into p: inout DecodedPacket,
                            guePorts: [UInt16]) -> PacketDisposition {
        let n = f.count
        var offset: Int
        var etherType: UInt16
        switch linkType {
        case .ethernet:
            guard n >= 14 else { return .truncatedLinkHeader }
            p.destinationMAC = f.mac(at: 0)
            p.sourceMAC = f.mac(at: 6)
            etherType = f.u16(at: 12)
            offset = 14
        case .linuxSLL:
            // pcap/sll.h: packet type, ARPHRD type, address length, 8 address bytes, protocol.
            guard n >= 16 else { return .truncatedLinkHeader }
            p.cookedPacketType = UInt8(truncatingIfNeeded: f.u16(at: 0))
            if f.u16(at: 4) == 6 { p.sourceMAC = f.mac(at: 6) }
            etherType = f.u16(at: 14)
            offset = 16
        case .linuxSLL2:
            // pcap/sll.h: protocol, reserved, interface index, ARPHRD type, packet type, address length, 8 bytes.
            guard n >= 20 else { return .truncatedLinkHeader }
            etherType = f.u16(at: 0)
            p.interfaceIndex = f.u32(at: 4)
            p.cookedPacketType = f[10]
            if f[11] == 6 { p.sourceMAC = f.mac(at: 12) }
            offset = 20
        case .raw:
            guard n >= 1 else { return .truncatedLinkHeader }
            switch f[0] >> 4 {
            case 4: etherType = 0x0800
            case 6: etherType = 0x86DD
            default: return .badIPVersion
            }
            offset = 0
        case .ipv4:
            etherType = 0x0800
            offset = 0
        case .ipv6:
            etherType = 0x86DD
            offset = 0
        default:
            return .unsupportedLinkType
        }

        // 802.1Q (0x8100), 802.1ad (0x88A8) and the pre-standard QinQ 0x9100 tags.
        while etherType == 0x8100 || etherType == 0x88A8 || etherType == 0x9100 {
            guard p.vlanCount < 4 else { return .tooManyVLANTags }
            guard n - offset >= 4 else { return .truncatedVLANTag }
            let vid = f.u16(at: offset) & 0x0FFF
            if p.vlanCount == 0 { p.outerVLAN = vid } else if p.vlanCount == 1 { p.innerVLAN = vid }
            p.vlanCount += 1
            etherType = f.u16(at: offset + 2)
            offset += 4
        }
        let version: UInt8
        switch etherType {
        case 0x0800: version = 4
        case 0x86DD: version = 6
        default: return .notIP
        }
        return decodeNetwork(f, offset: offset, version: version, into: &p, guePorts: guePorts)
    }

    /// The IP header at `offset`, then whatever it carries: a tunnel (one level) or the transport header.
    static func decodeNetwork(_ f: UnsafeRawBufferPointer, offset start: Int, version start4or6: UInt8,
                              into p: inout DecodedPacket, guePorts: [UInt16]) -> PacketDisposition {
        var offset = start
        var version = start4or6
        var end = f.count
        var nextProtocol: UInt8 = 0
        while true {
            let d = version == 4
                ? decodeIPv4(f, offset: &offset, end: &end, into: &p.ip)
                : decodeIPv6(f, offset: &offset, end: &end, into: &p.ip)
            guard d == .decoded else { return d }
            nextProtocol = p.ip.nextProtocol
            switch nextProtocol {
            case 6:
                guard end - offset >= 20 else { return .truncatedTCPHeader }
                guard f[offset + 12] >> 4 >= 5 else { return .badTCPDataOffset }
                p.transport = .tcp
                p.sourcePort = f.u16(at: offset)
                p.destinationPort = f.u16(at: offset + 2)
                p.tcpFlags = TCPFlags(rawValue: f[offset + 13])
                p.transportOffset = Int32(offset)
                return .decoded
            case 17:
                guard end - offset >= 8 else { return .truncatedUDPHeader }
                let destinationPort = f.u16(at: offset + 2)
                if !guePorts.isEmpty && guePorts.contains(destinationPort) {
                    // GUE (draft-ietf-intarea-gue): version 0 has a 4-byte header (version, C bit, header length in
                    // words, protocol, flags) plus optional fields; version 1 is the inner IP header itself.
                    guard p.tunnel == .none else { return .tunnelTooDeep }
                    guard end - offset >= 9 else { return .truncatedGUEHeader }
                    let first = f[offset + 8]
                    var inner: UInt8
                    var innerOffset: Int
                    switch first >> 6 {
                    case 0:
                        guard end - offset >= 12 else { return .truncatedGUEHeader }
                        guard first & 0x20 == 0 else { return .unsupportedTunnel }
                        inner = f[offset + 9]
                        innerOffset = offset + 12 + Int(first & 0x1F) * 4
                        guard innerOffset <= end else { return .truncatedGUEHeader }
                    case 1:
                        inner = first >> 4 == 4 ? 4 : (first >> 4 == 6 ? 41 : 0)
                        innerOffset = offset + 8
                    default:
                        return .unsupportedTunnel
                    }
                    switch inner {
                    case 4: version = 4
                    case 41: version = 6
                    default: return .unsupportedTunnel
                    }
                    p.tunnel = .gue
                    p.outer = p.ip
                    offset = innerOffset
                    continue
                }
                p.transport = .udp
                p.sourcePort = f.u16(at: offset)
                p.destinationPort = destinationPort
                p.transportOffset = Int32(offset)
                return .decoded
            case 132:
                guard end - offset >= 16 else { return .truncatedSCTPHeader }
                p.transport = .sctp
                p.sourcePort = f.u16(at: offset)
                p.destinationPort = f.u16(at: offset + 2)
                p.sctpFirstChunk = f[offset + 12]
                p.transportOffset = Int32(offset)
                return .decoded
            case 4, 41:
                guard p.tunnel == .none else { return .tunnelTooDeep }
                p.tunnel = .ipInIP
                p.outer = p.ip
                version = nextProtocol == 4 ? 4 : 6
                continue
            case 47:
                // RFC 2784/2890: flags and version, protocol type, then checksum+reserved, key, sequence number
                // words as the C, K and S bits announce them.
                guard p.tunnel == .none else { return .tunnelTooDeep }
                guard end - offset >= 4 else { return .truncatedGREHeader }
                let flags = f.u16(at: offset)
                guard flags & 0x4007 == 0 else { return .unsupportedTunnel }  // routing present, or version ≠ 0
                var length = 4
                if flags & 0x8000 != 0 { length += 4 }
                if flags & 0x2000 != 0 { length += 4 }
                if flags & 0x1000 != 0 { length += 4 }
                guard end - offset >= length else { return .truncatedGREHeader }
                switch f.u16(at: offset + 2) {
                case 0x0800: version = 4
                case 0x86DD: version = 6
                default: return .unsupportedTunnel
                }
                p.tunnel = .gre
                p.outer = p.ip
                offset += length
                continue
            default:
                return .unsupportedTransport
            }
        }
    }

    /// IPv4 (RFC 791): on success `offset` is past the header (options included) and `end` is where the packet ends
    /// (its total length, or the captured end when the capture cut it short). A total length of 0 is taken as
    /// "unknown" rather than malformed: Linux BIG TCP GSO packets over 64 KiB carry 0 (net/ipv4 `iph_set_totlen`).
    static func decodeIPv4(_ f: UnsafeRawBufferPointer, offset: inout Int, end: inout Int,
                           into h: inout IPHeaderSummary) -> PacketDisposition {
        let o = offset
        guard end - o >= 1 else { return .truncatedIPv4Header }
        let versionAndLength = f[o]
        guard versionAndLength >> 4 == 4 else { return .badIPVersion }
        guard end - o >= 20 else { return .truncatedIPv4Header }
        let headerLength = Int(versionAndLength & 0x0F) * 4
        guard headerLength >= 20 else { return .badIPv4HeaderLength }
        guard end - o >= headerLength else { return .truncatedIPv4Header }
        let total = Int(f.u16(at: o + 2))
        guard total == 0 || total >= headerLength else { return .badIPv4TotalLength }
        h.family = .inet
        h.offset = Int32(o)
        h.totalLength = UInt32(total)
        h.hopLimit = f[o + 8]
        h.nextProtocol = f[o + 9]
        h.source = PacketAddress(high: 0, low: UInt64(f.u32(at: o + 12)))
        h.destination = PacketAddress(high: 0, low: UInt64(f.u32(at: o + 16)))
        h.extensionHeaderCount = 0
        let fragment = f.u16(at: o + 6)
        h.isFragment = fragment & 0x3FFF != 0
        if fragment & 0x1FFF != 0 { return .nonFirstFragment }
        if total != 0 { end = min(end, o + total) }
        offset = o + headerLength
        return .decoded
    }

    /// IPv6 (RFC 8200) and its extension headers: hop-by-hop (0), routing (43), fragment (44), destination options
    /// (60), mobility (135) and AH (51, RFC 4302: length in 4-byte words minus 2). `nextProtocol` is the protocol
    /// after the last of them. A payload length of 0 (jumbogram) leaves `end` at the captured end.
    static func decodeIPv6(_ f: UnsafeRawBufferPointer, offset: inout Int, end: inout Int,
                           into h: inout IPHeaderSummary) -> PacketDisposition {
        let o = offset
        guard end - o >= 1 else { return .truncatedIPv6Header }
        guard f[o] >> 4 == 6 else { return .badIPVersion }
        guard end - o >= 40 else { return .truncatedIPv6Header }
        let payloadLength = Int(f.u16(at: o + 4))
        h.family = .inet6
        h.offset = Int32(o)
        h.totalLength = UInt32(40 + payloadLength)
        h.hopLimit = f[o + 7]
        h.source = PacketAddress(high: f.u64(at: o + 8), low: f.u64(at: o + 16))
        h.destination = PacketAddress(high: f.u64(at: o + 24), low: f.u64(at: o + 32))
        h.isFragment = false
        if payloadLength != 0 { end = min(end, o + 40 + payloadLength) }
        var next = f[o + 6]
        var cursor = o + 40
        var count: UInt8 = 0
        walk: while true {
            let length: Int
            switch next {
            case 0, 43, 60, 135:
                guard end - cursor >= 2 else { return .truncatedIPv6ExtensionHeader }
                length = (Int(f[cursor + 1]) + 1) * 8
            case 51:
                guard end - cursor >= 2 else { return .truncatedIPv6ExtensionHeader }
                length = (Int(f[cursor + 1]) + 2) * 4
            case 44:
                guard end - cursor >= 8 else { return .truncatedIPv6ExtensionHeader }
                length = 8
                h.isFragment = true
                if f.u16(at: cursor + 2) >> 3 != 0 {
                    h.nextProtocol = f[cursor]
                    h.extensionHeaderCount = count + 1
                    return .nonFirstFragment
                }
            default:
                break walk
            }
            guard end - cursor >= length else { return .truncatedIPv6ExtensionHeader }
            guard count < 8 else { return .tooManyIPv6ExtensionHeaders }
            count += 1
            next = f[cursor]
            cursor += length
        }
        h.nextProtocol = next
        h.extensionHeaderCount = count
        offset = cursor
        return .decoded
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func u16(at offset: Int) -> UInt16 { UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }

    @inline(__always)
    func u32(at offset: Int) -> UInt32 { UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }

    @inline(__always)
    func u64(at offset: Int) -> UInt64 { UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }

    /// Six bytes as a MAC in the low 48 bits.
    @inline(__always)
    func mac(at offset: Int) -> UInt64 { UInt64(u16(at: offset)) << 32 | UInt64(u32(at: offset + 2)) }
}
