import IPVSCore
import Testing

@testable import IPVSTap

@Suite("CaptureFilter")
struct CaptureFilterTests {
    static let mixed: [WatchedService] = [
        WatchedService(VirtualService(.address(.tcp, T.a("10.96.0.1"), port: 80), scheduler: .rr), realServers: [
            RealServer(T.a("10.0.1.1"), port: 8080, forwarding: .masquerade),
            RealServer(T.a("10.0.1.2"), port: 8080, forwarding: .masquerade),
            RealServer(T.a("10.0.5.1"), port: 80, forwarding: .route),
            RealServer(T.a("10.0.2.1"), port: 80, forwarding: .tunnel),
            RealServer(T.a("fd00:2::1"), port: 80, forwarding: .tunnel, tunnelType: .gre),
            RealServer(T.a("10.0.4.1"), port: 80, forwarding: .tunnel, tunnelType: .gue, tunnelPort: 6080),
        ]),
        WatchedService(VirtualService(.address(.udp, T.a("fd00:96::53"), port: 53), scheduler: .sh), realServers: [
            RealServer(T.a("fd00:1::1"), port: 5353, forwarding: .masquerade),
        ]),
        WatchedService(VirtualService(.address(.sctp, T.a("10.96.0.3"), port: 0), scheduler: .rr), realServers: [
            RealServer(T.a("10.0.1.1"), port: 0, forwarding: .masquerade),
        ]),
        WatchedService(VirtualService(.firewallMark(7, .inet), scheduler: .rr), realServers: [
            RealServer(T.a("10.0.7.1"), port: 0, forwarding: .route),
        ]),
    ]

    @Test("the expression names every VIP, NAT real server and tunnel end, once each")
    func expressionText() {
        #expect(CaptureFilter.expression(for: Self.mixed) == [
            "(tcp and host 10.96.0.1 and port 80)",
            "(tcp and host 10.0.1.1 and port 8080)",
            "(tcp and host 10.0.1.2 and port 8080)",
            "(host 10.0.2.1 and (ip proto 4 or ip proto 41))",
            "(host fd00:2::1 and ip6 proto 47)",
            "(udp and host 10.0.4.1 and port 6080)",
            "(udp and host fd00:96::53 and port 53)",
            "(udp and host fd00:1::1 and port 5353)",
            "(sctp and host 10.96.0.3)",
            "(sctp and host 10.0.1.1)",
            "(host 10.0.7.1)",
        ].joined(separator: " or "))
        let one = [WatchedService(VirtualService(.address(.tcp, T.a("10.96.0.1"), port: 80), scheduler: .rr),
                                  realServers: [])]
        #expect(CaptureFilter.expression(for: one, vlan: true)
            == "(tcp and host 10.96.0.1 and port 80) or (vlan and ((tcp and host 10.96.0.1 and port 80)))")
        #expect(CaptureFilter.expression(for: []) == "")
    }

    @Test("libpcap compiles the expression for every link type", arguments: [LinkType.ethernet, .linuxSLL, .linuxSLL2, .raw])
    func compiles(linkType: LinkType) throws {
        let filter = try CaptureFilter.compile(CaptureFilter.expression(for: Self.mixed), linkType: linkType)
        #expect(filter.instructionCount > 20)
        let tagged = CaptureFilter.expression(for: Self.mixed, vlan: true)
        if linkType == .ethernet {
            #expect(try CaptureFilter.compile(tagged, linkType: linkType).instructionCount > filter.instructionCount)
        } else {
            // libpcap 1.10 has no `vlan` for cooked or raw captures (the kernel strips the tag into metadata).
            #expect(throws: PcapError.self) { _ = try CaptureFilter.compile(tagged, linkType: linkType) }
        }
    }

    @Test("a refused expression throws libpcap's message")
    func refused() {
        do {
            _ = try CaptureFilter.compile("tcp and hots 10.0.0.1", linkType: .ethernet)
            Issue.record("compiled")
        } catch {
            #expect(error.operation == "compile filter \"tcp and hots 10.0.0.1\" for EN10MB")
            #expect(error.message.contains("syntax error"))
        }
    }

    @Test("the compiled filter passes every frame of a director's traffic and nothing else",
          arguments: [LinkType.ethernet, .linuxSLL2])
    func matchesGeneratedTraffic(linkType: LinkType) throws {
        for (index, servers) in [
            [RealServer(T.a("10.0.1.1"), port: 8080, forwarding: .masquerade)],
            [RealServer(T.a("10.0.2.1"), port: 80, forwarding: .tunnel)],
            [RealServer(T.a("10.0.4.1"), port: 80, forwarding: .tunnel, tunnelType: .gue, tunnelPort: 6080)],
            [RealServer(T.a("10.0.5.1"), port: 80, forwarding: .route)],
        ].enumerated() {
            let watched = WatchedService(VirtualService(.address(.tcp, T.a("10.96.0.1"), port: 80), scheduler: .rr),
                                         realServers: servers)
            let writer = PcapWriter(format: PcapFileFormat(linkType: linkType))
            var options = SyntheticTraffic.Options()
            options.linkType = linkType
            options.connections = 20
            let traffic = SyntheticTraffic(watched, options: options, into: writer)
            let path = T.temporaryPath("filter")
            defer { T.remove(path) }
            try writer.write(to: path)
            let frames = try T.readAll(path)
            #expect(frames.count == traffic.frames)
            let filter = try CaptureFilter.compile(CaptureFilter.expression(for: [watched]), linkType: linkType)
            let passed = frames.filter { f in f.1.withUnsafeBytes { filter.matches($0) } }.count
            #expect(passed == traffic.frames, "servers \(index)")
            // Another VIP, another port, another real server port: refused.
            let others = [
                PacketBuilder.ipv4(source: T.client4, destination: IPv4Address(10, 96, 0, 2), protocol: 6,
                                   payload: PacketBuilder.tcp(source: 1, destination: 80, flags: .syn)),
                PacketBuilder.ipv4(source: T.client4, destination: IPv4Address(10, 96, 0, 1), protocol: 6,
                                   payload: PacketBuilder.tcp(source: 1, destination: 81, flags: .syn)),
                PacketBuilder.ipv4(source: T.client4, destination: IPv4Address(10, 96, 0, 1), protocol: 17,
                                   payload: PacketBuilder.udp(source: 1, destination: 80)),
            ]
            for other in others {
                let frame = PacketBuilder.frame(linkType, ip: other)
                #expect(!frame.withUnsafeBytes { filter.matches($0) })
            }
        }
    }
}
