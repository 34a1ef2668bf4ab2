import IPVSCore
import Testing

@testable import IPVSTap

@Suite("PacketDecoder")
struct PacketDecoderTests {
    static let linkTypes: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .raw]

    @Test("an IPv4 TCP SYN decodes on every link type", arguments: linkTypes + [.ipv4])
    func ipv4TCPOnEveryLinkType(linkType: LinkType) {
        let ip = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 6,
                                    payload: PacketBuilder.tcp(source: 40000, destination: 80, flags: .syn))
        let frame = PacketBuilder.frame(linkType, ip: ip, destinationMAC: 0x0A0B_0C0D_0E0F, sourceMAC: 0x0102_0304_0506,
                                        interfaceIndex: 7, packetType: 4)
        let (d, p) = T.decode(frame, linkType)
        #expect(d == .decoded)
        #expect(p.ip.family == .inet)
        #expect(p.ip.sourceAddress == .v4(T.client4))
        #expect(p.ip.destinationAddress == .v4(T.vip4))
        #expect(p.ip.totalLength == 40)
        #expect(p.transport == .tcp)
        #expect(p.sourcePort == 40000)
        #expect(p.destinationPort == 80)
        #expect(p.tcpFlags == .syn)
        #expect(p.tunnel == .none)
        let linkLength: Int32 = linkType == .ethernet ? 14 : linkType == .linuxSLL ? 16 : linkType == .linuxSLL2 ? 20 : 0
        #expect(p.ip.offset == linkLength)
        #expect(p.transportOffset == linkLength + 20)
        #expect(p.destinationMAC == (linkType == .ethernet ? 0x0A0B_0C0D_0E0F : 0))
        #expect(p.sourceMAC == (linkLength == 0 ? 0 : 0x0102_0304_0506))
        #expect(p.interfaceIndex == (linkType == .linuxSLL2 ? 7 : 0))
        #expect(p.cookedPacketType == (linkType == .linuxSLL || linkType == .linuxSLL2 ? 4 : 0))
    }

    @Test("an IPv6 UDP datagram decodes on every link type", arguments: linkTypes + [.ipv6])
    func ipv6UDPOnEveryLinkType(linkType: LinkType) {
        let ip = PacketBuilder.ipv6(source: T.client6, destination: T.vip6, nextHeader: 17,
                                    payload: PacketBuilder.udp(source: 5353, destination: 53, payloadLength: 12))
        let (d, p) = T.decode(PacketBuilder.frame(linkType, ip: ip), linkType)
        #expect(d == .decoded)
        #expect(p.ip.family == .inet6)
        #expect(p.ip.sourceAddress == .v6(T.client6))
        #expect(p.ip.destinationAddress == .v6(T.vip6))
        #expect(p.ip.totalLength == 60)
        #expect(p.transport == .udp)
        #expect(p.sourcePort == 5353)
        #expect(p.destinationPort == 53)
    }

    @Test("VLAN tags (802.1Q, 802.1ad QinQ) are passed over and their ids kept", arguments: [LinkType.ethernet, .linuxSLL, .linuxSLL2])
    func vlanTags(linkType: LinkType) {
        let ip = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 17,
                                    payload: PacketBuilder.udp(source: 1, destination: 2))
        let single = PacketBuilder.frame(linkType, ip: ip, vlans: [.init(100)])
        let (d1, p1) = T.decode(single, linkType)
        #expect(d1 == .decoded)
        #expect(p1.vlanCount == 1)
        #expect(p1.outerVLAN == 100)
        #expect(p1.destinationPort == 2)
        let qinq = PacketBuilder.frame(linkType, ip: ip, vlans: [.init(200, protocolIdentifier: 0x88A8), .init(4095)])
        let (d2, p2) = T.decode(qinq, linkType)
        #expect(d2 == .decoded)
        #expect(p2.vlanCount == 2)
        #expect(p2.outerVLAN == 200)
        #expect(p2.innerVLAN == 4095)
        #expect(p2.ip.sourceAddress == .v4(T.client4))
        let five = PacketBuilder.frame(linkType, ip: ip, vlans: (1...5).map { PacketBuilder.VLANTag($0) })
        #expect(T.decode(five, linkType).0 == .tooManyVLANTags)
        let four = PacketBuilder.frame(linkType, ip: ip, vlans: (1...4).map { PacketBuilder.VLANTag($0) })
        #expect(T.decode(four, linkType).0 == .decoded)
    }

    @Test("IPv4 options are skipped by the header length")
    func ipv4Options() {
        let ip = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 6,
                                    payload: PacketBuilder.tcp(source: 1234, destination: 443, flags: [.syn, .ack]),
                                    optionWords: 10)
        let (d, p) = T.decode(PacketBuilder.frame(.ethernet, ip: ip), .ethernet)
        #expect(d == .decoded)
        #expect(p.transportOffset == 14 + 60)
        #expect(p.sourcePort == 1234)
        #expect(p.destinationPort == 443)
        #expect(p.tcpFlags == [.syn, .ack])
    }

    @Test("IPv4 fragments: the first is decoded with its ports, later ones are skipped")
    func ipv4Fragments() {
        let udp = PacketBuilder.udp(source: 7000, destination: 53, payloadLength: 100)
        let first = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 17, payload: udp,
                                       moreFragments: true)
        let (d1, p1) = T.decode(PacketBuilder.frame(.raw, ip: first), .raw)
        #expect(d1 == .decoded)
        #expect(p1.ip.isFragment)
        #expect(p1.sourcePort == 7000)
        let later = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 17,
                                       payload: Array(repeating: 0, count: 40), fragmentOffset: 14)
        let (d2, p2) = T.decode(later, .raw)
        #expect(d2 == .nonFirstFragment)
        #expect(p2.ip.isFragment)
        let whole = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 17, payload: udp)
        #expect(!T.decode(whole, .raw).1.ip.isFragment)
    }

    @Test("IPv6 extension headers (hop-by-hop, routing, destination options, AH, fragment) are walked")
    func ipv6ExtensionHeaders() {
        let tcp = PacketBuilder.tcp(source: 50000, destination: 8443, flags: .syn)
        let extensions: [PacketBuilder.IPv6Extension] = [
            .hopByHop(octets: 8), .routing(octets: 24), .destinationOptions(octets: 16), .authentication(icvWords: 3),
            .fragment(offset: 0, more: true, identification: 9),
        ]
        let ip = PacketBuilder.ipv6(source: T.client6, destination: T.vip6, nextHeader: 6, payload: tcp,
                                    extensions: extensions)
        let (d, p) = T.decode(PacketBuilder.frame(.linuxSLL2, ip: ip), .linuxSLL2)
        #expect(d == .decoded)
        #expect(p.ip.extensionHeaderCount == 5)
        #expect(p.ip.nextProtocol == 6)
        #expect(p.ip.isFragment)
        #expect(p.transportOffset == 20 + 40 + 8 + 24 + 16 + 24 + 8)
        #expect(p.sourcePort == 50000)
        #expect(p.destinationPort == 8443)

        let later = PacketBuilder.ipv6(source: T.client6, destination: T.vip6, nextHeader: 6,
                                       payload: Array(repeating: 0, count: 64),
                                       extensions: [.fragment(offset: 181, more: false, identification: 9)])
        #expect(T.decode(later, .ipv6).0 == .nonFirstFragment)

        let nine = PacketBuilder.ipv6(source: T.client6, destination: T.vip6, nextHeader: 6, payload: tcp,
                                      extensions: Array(repeating: .destinationOptions(octets: 8), count: 9))
        #expect(T.decode(nine, .ipv6).0 == .tooManyIPv6ExtensionHeaders)
        let eight = PacketBuilder.ipv6(source: T.client6, destination: T.vip6, nextHeader: 6, payload: tcp,
                                       extensions: Array(repeating: .destinationOptions(octets: 8), count: 8))
        #expect(T.decode(eight, .ipv6).0 == .decoded)
        let noNext = PacketBuilder.ipv6(source: T.client6, destination: T.vip6, nextHeader: 59, payload: [])
        #expect(T.decode(noNext, .ipv6).0 == .unsupportedTransport)
    }

    @Test("SCTP: ports and the first chunk's type")
    func sctp() {
        let ip = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 132,
                                    payload: PacketBuilder.sctp(source: 3868, destination: 3868, chunk: 1))
        let (d, p) = T.decode(PacketBuilder.frame(.ethernet, ip: ip), .ethernet)
        #expect(d == .decoded)
        #expect(p.transport == .sctp)
        #expect(p.sourcePort == 3868)
        #expect(p.sctpFirstChunk == SCTPChunkType.initiation)
    }

    static let families: [(String, String)] = [
        ("10.0.0.1", "10.0.1.5"), ("fd00:1::1", "fd00:2::5"),
    ]

    @Test("IP-in-IP in every family combination: outer to the real server, inner to the VIP",
          arguments: [(false, false), (false, true), (true, false), (true, true)])
    func ipInIP(outerIs6: Bool, innerIs6: Bool) {
        let inner = innerIs6
            ? PacketBuilder.ipv6(source: T.client6, destination: T.vip6, nextHeader: 6,
                                 payload: PacketBuilder.tcp(source: 33000, destination: 80, flags: .syn))
            : PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 6,
                                 payload: PacketBuilder.tcp(source: 33000, destination: 80, flags: .syn))
        let (director, real) = outerIs6 ? Self.families[1] : Self.families[0]
        let outer = PacketBuilder.ipInIP(outerSource: T.a(director), outerDestination: T.a(real), inner: inner)
        let (d, p) = T.decode(PacketBuilder.frame(.ethernet, ip: outer), .ethernet)
        #expect(d == .decoded)
        #expect(p.tunnel == .ipInIP)
        #expect(p.outer.sourceAddress == T.a(director))
        #expect(p.outer.destinationAddress == T.a(real))
        #expect(p.outer.nextProtocol == (innerIs6 ? 41 : 4))
        #expect(p.ip.sourceAddress == (innerIs6 ? .v6(T.client6) : .v4(T.client4)))
        #expect(p.ip.destinationAddress == (innerIs6 ? .v6(T.vip6) : .v4(T.vip4)))
        #expect(p.sourcePort == 33000)
        #expect(p.destinationPort == 80)
        #expect(p.tcpFlags == .syn)

        let twice = PacketBuilder.ipInIP(outerSource: T.a(director), outerDestination: T.a(real), inner: outer)
        #expect(T.decode(twice, .raw).0 == .tunnelTooDeep)
    }

    @Test("GRE with checksum and key words, and GUE on a configured port")
    func greAndGUE() {
        let inner = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 17,
                                       payload: PacketBuilder.udp(source: 999, destination: 53))
        for (checksum, key) in [(false, UInt32?.none), (true, nil), (false, 7), (true, 7)] {
            let gre = PacketBuilder.ip(source: T.a("10.0.0.1"), destination: T.a("10.0.1.5"), protocol: 47,
                                       payload: PacketBuilder.gre(inner: inner, checksum: checksum, key: key))
            let (d, p) = T.decode(gre, .raw)
            #expect(d == .decoded)
            #expect(p.tunnel == .gre)
            #expect(p.outer.destinationAddress == T.a("10.0.1.5"))
            #expect(p.ip.destinationAddress == .v4(T.vip4))
            #expect(p.destinationPort == 53)
        }
        var bridged = PacketBuilder.gre(inner: inner)
        bridged[2] = 0x65
        bridged[3] = 0x58  // transparent Ethernet bridging
        #expect(T.decode(PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 47, payload: bridged),
                         .raw).0 == .unsupportedTunnel)

        let inner6 = PacketBuilder.ipv6(source: T.client6, destination: T.vip6, nextHeader: 6,
                                        payload: PacketBuilder.tcp(source: 4, destination: 443, flags: .syn))
        for optionWords in [0, 2] {
            let gue = PacketBuilder.ip(
                source: T.a("10.0.0.1"), destination: T.a("10.0.1.5"), protocol: 17,
                payload: PacketBuilder.udp(source: 40001, destination: 6080,
                                           payload: PacketBuilder.gue(inner: inner6, optionWords: optionWords)))
            let (d, p) = T.decode(gue, .raw, guePorts: [6080])
            #expect(d == .decoded)
            #expect(p.tunnel == .gue)
            #expect(p.outer.destinationAddress == T.a("10.0.1.5"))
            #expect(p.ip.destinationAddress == .v6(T.vip6))
            #expect(p.destinationPort == 443)
            // Without the port configured it is plain UDP to the real server.
            let (d2, p2) = T.decode(gue, .raw)
            #expect(d2 == .decoded)
            #expect(p2.tunnel == .none)
            #expect(p2.transport == .udp)
            #expect(p2.destinationPort == 6080)
        }
        // GUE version 1: the inner IP header directly after UDP.
        let direct = PacketBuilder.ip(source: T.a("10.0.0.1"), destination: T.a("10.0.1.5"), protocol: 17,
                                      payload: PacketBuilder.udp(source: 1, destination: 6080, payload: inner))
        let (d3, p3) = T.decode(direct, .raw, guePorts: [6080])
        #expect(d3 == .decoded)
        #expect(p3.tunnel == .gue)
        #expect(p3.ip.destinationAddress == .v4(T.vip4))
    }

    @Test("Ethernet padding after a short IPv4 packet is not read as transport header")
    func ethernetPadding() {
        let udp = PacketBuilder.udp(source: 1, destination: 2)
        let ip = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 17, payload: udp)
        let padded = PacketBuilder.frame(.ethernet, ip: ip) + Array(repeating: 0, count: 18)
        let (d, p) = T.decode(padded, .ethernet)
        #expect(d == .decoded)
        #expect(p.ip.totalLength == 28)
        // A total length that ends inside the TCP header: the header is cut short even if padding follows.
        let tcpIP = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 6,
                                       payload: PacketBuilder.tcp(source: 1, destination: 2, flags: .syn),
                                       totalLength: 30)
        #expect(T.decode(PacketBuilder.frame(.ethernet, ip: tcpIP), .ethernet).0 == .truncatedTCPHeader)
        // Total length 0 (BIG TCP GSO) reads to the captured end.
        let big = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 6,
                                     payload: PacketBuilder.tcp(source: 1, destination: 2, flags: .ack), totalLength: 0)
        #expect(T.decode(big, .ipv4).0 == .decoded)
    }

    /// Cuts `frame` at every length and checks the reason against the layer the cut falls in.
    func expectTruncations(_ frame: [UInt8], _ linkType: LinkType, guePorts: [UInt16] = [],
                           _ layers: [(end: Int, reason: PacketDisposition)],
                           sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(T.decode(frame, linkType, guePorts: guePorts).0 == .decoded, sourceLocation: sourceLocation)
        for length in 0..<frame.count {
            let expected = layers.first { length < $0.end }?.reason ?? .decoded
            let got = T.decode(Array(frame[..<length]), linkType, guePorts: guePorts).0
            #expect(got == expected, "cut at \(length) of \(frame.count)", sourceLocation: sourceLocation)
        }
    }

    @Test("a frame cut at any byte is counted with the layer where it broke")
    func truncationAtEveryLayer() {
        let tcp = PacketBuilder.tcp(source: 1, destination: 2, flags: .syn, optionWords: 3)
        let v4 = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 6, payload: tcp, optionWords: 1)
        expectTruncations(PacketBuilder.frame(.ethernet, ip: v4, vlans: [.init(5)]), .ethernet, [
            (14, .truncatedLinkHeader), (18, .truncatedVLANTag), (18 + 24, .truncatedIPv4Header),
            (18 + 24 + 20, .truncatedTCPHeader),
        ])

        let udp = PacketBuilder.udp(source: 1, destination: 2, payloadLength: 4)
        let v6 = PacketBuilder.ipv6(source: T.client6, destination: T.vip6, nextHeader: 17, payload: udp,
                                    extensions: [.hopByHop(octets: 8), .fragment(offset: 0, more: true, identification: 1)])
        expectTruncations(PacketBuilder.frame(.linuxSLL2, ip: v6), .linuxSLL2, [
            (20, .truncatedLinkHeader), (60, .truncatedIPv6Header), (76, .truncatedIPv6ExtensionHeader),
            (84, .truncatedUDPHeader),
        ])
        expectTruncations(PacketBuilder.frame(.linuxSLL, ip: v6, vlans: [.init(7)]), .linuxSLL, [
            (16, .truncatedLinkHeader), (20, .truncatedVLANTag), (60, .truncatedIPv6Header),
            (76, .truncatedIPv6ExtensionHeader), (84, .truncatedUDPHeader),
        ])

        let sctp = PacketBuilder.sctp(source: 1, destination: 2, chunk: 1)
        let tunnelled = PacketBuilder.ipInIP(
            outerSource: T.a("10.0.0.1"), outerDestination: T.a("10.0.1.5"),
            inner: PacketBuilder.ipv6(source: T.client6, destination: T.vip6, nextHeader: 132, payload: sctp))
        expectTruncations(tunnelled, .raw, [
            (1, .truncatedLinkHeader), (20, .truncatedIPv4Header), (60, .truncatedIPv6Header),
            (76, .truncatedSCTPHeader),
        ])

        let gre = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 47,
                                     payload: PacketBuilder.gre(inner: v4, checksum: true, key: 1))
        expectTruncations(gre, .ipv4, [
            (20, .truncatedIPv4Header), (32, .truncatedGREHeader), (56, .truncatedIPv4Header),
            (76, .truncatedTCPHeader),
        ])

        let gue = PacketBuilder.ipv4(
            source: T.client4, destination: T.vip4, protocol: 17,
            payload: PacketBuilder.udp(source: 1, destination: 5555, payload: PacketBuilder.gue(inner: v6, optionWords: 1)))
        expectTruncations(gue, .ipv4, guePorts: [5555], [
            (20, .truncatedIPv4Header), (28, .truncatedUDPHeader), (36, .truncatedGUEHeader),
            (76, .truncatedIPv6Header), (92, .truncatedIPv6ExtensionHeader), (100, .truncatedUDPHeader),
        ])
    }

    @Test("invalid header fields are counted by reason")
    func malformedFields() {
        let tcp = PacketBuilder.tcp(source: 1, destination: 2, flags: .syn)
        let v4 = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 6, payload: tcp)
        var badVersion = v4
        badVersion[0] = 0x55
        #expect(T.decode(badVersion, .ipv4).0 == .badIPVersion)
        #expect(T.decode(badVersion, .raw).0 == .badIPVersion)
        #expect(T.decode(v4, .ipv6).0 == .badIPVersion)
        var shortHeader = v4
        shortHeader[0] = 0x44
        #expect(T.decode(shortHeader, .ipv4).0 == .badIPv4HeaderLength)
        var shortTotal = v4
        shortTotal[2] = 0
        shortTotal[3] = 19
        #expect(T.decode(shortTotal, .ipv4).0 == .badIPv4TotalLength)
        var badOffset = v4
        badOffset[20 + 12] = 0x40
        #expect(T.decode(badOffset, .ipv4).0 == .badTCPDataOffset)
        let arp = PacketBuilder.ethernet(destination: 0xFFFF_FFFF_FFFF, source: 1, etherType: 0x0806,
                                         payload: Array(repeating: 0, count: 28))
        #expect(T.decode(arp, .ethernet).0 == .notIP)
        let icmp = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 1, payload: [8, 0, 0, 0])
        #expect(T.decode(icmp, .ipv4).0 == .unsupportedTransport)
        #expect(T.decode(v4, LinkType(rawValue: 105)).0 == .unsupportedLinkType)
        var greVersion1 = PacketBuilder.gre(inner: v4)
        greVersion1[1] = 1
        #expect(T.decode(PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 47, payload: greVersion1),
                         .ipv4).0 == .unsupportedTunnel)
    }

    @Test("statistics count every disposition and the malformed total")
    func statistics() {
        var decoder = PacketDecoder()
        var packet = DecodedPacket()
        let good = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 17,
                                      payload: PacketBuilder.udp(source: 1, destination: 2))
        let frames: [[UInt8]] = [good, good, Array(good[..<10]), Array(good[..<25]), [0x70], []]
        for f in frames { _ = f.withUnsafeBytes { decoder.decode($0, linkType: .raw, into: &packet) } }
        #expect(decoder.statistics[.decoded] == 2)
        #expect(decoder.statistics[.truncatedIPv4Header] == 1)
        #expect(decoder.statistics[.truncatedUDPHeader] == 1)
        #expect(decoder.statistics[.badIPVersion] == 1)
        #expect(decoder.statistics[.truncatedLinkHeader] == 1)
        #expect(decoder.statistics.total == 6)
        #expect(decoder.statistics.malformed == 4)
        #expect(decoder.statistics.nonZero.map(\.0) == [.decoded, .truncatedLinkHeader, .truncatedIPv4Header,
                                                         .badIPVersion, .truncatedUDPHeader])
    }

    @Test("random bytes never crash the decoder and every frame is counted once")
    func randomBytes() {
        var rng = SystemRandomNumberGenerator()
        var decoder = PacketDecoder(guePorts: [6080])
        var packet = DecodedPacket()
        var frames = 0
        let seeds: [[UInt8]] = [
            PacketBuilder.frame(.ethernet, ip: PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 4,
                payload: PacketBuilder.ipv6(source: T.client6, destination: T.vip6, nextHeader: 0,
                                            payload: [6, 0, 1, 4, 0, 0, 0, 0] + PacketBuilder.tcp(source: 1, destination: 2, flags: .syn)))),
        ]
        for linkType in Self.linkTypes + [.ipv4, .ipv6] {
            for _ in 0..<4_000 {
                var bytes: [UInt8]
                if Bool.random(using: &rng) {
                    bytes = (0..<Int.random(in: 0...120, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                } else {
                    bytes = seeds[0]
                    for _ in 0..<3 { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
                    bytes = Array(bytes[..<Int.random(in: 0...bytes.count, using: &rng)])
                }
                _ = bytes.withUnsafeBytes { decoder.decode($0, linkType: linkType, into: &packet) }
                frames += 1
            }
        }
        #expect(decoder.statistics.total == UInt64(frames))
        #expect(decoder.statistics.malformed > 0)
    }
}
