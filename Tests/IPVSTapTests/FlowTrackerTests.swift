import IPVSCore
import Testing

@testable import IPVSTap

@Suite("FlowTracker")
struct FlowTrackerTests {
    static let vip = IPAddress("10.96.0.1")!
    static let vip6 = IPAddress("fd00:96::1")!

    static func service(_ p: IPProtocol = .tcp, _ vip: IPAddress = vip, port: UInt16 = 80,
                        _ servers: [RealServer]) -> WatchedService {
        WatchedService(VirtualService(.address(p, vip, port: port), scheduler: .rr), realServers: servers)
    }

    static func masq(_ n: Int, port: UInt16 = 8080, family: AddressFamily = .inet) -> [RealServer] {
        (1...n).map { RealServer(family == .inet ? IPAddress("10.0.1.\($0)")! : IPAddress("fd00:1::\($0)")!,
                                 port: port, forwarding: .masquerade) }
    }

    /// Generates, writes to a file, reads back through libpcap, decodes and tracks.
    static func roundTrip(_ watched: WatchedService, _ options: SyntheticTraffic.Options,
                          routes: Bool = true) throws -> (SyntheticTraffic, Tap, [FlowEvent]) {
        let writer = PcapWriter(format: PcapFileFormat(linkType: options.linkType, precision: .nanoseconds))
        let traffic = SyntheticTraffic(watched, options: options, into: writer)
        let path = T.temporaryPath("flows")
        defer { T.remove(path) }
        try writer.write(to: path)
        var tap = Tap(services: [watched], routes: routes ? traffic.routes : RouteTopology())
        var events: [FlowEvent] = []
        let handle = try PcapHandle.open(file: path)
        let frames = try tap.run(handle) { event, _ in
            events.append(event)
            return true
        }
        #expect(frames == traffic.frames)
        return (traffic, tap, events)
    }

    static let scenarios: [(String, LinkType, IPProtocol, [RealServer])] = {
        var s: [(String, LinkType, IPProtocol, [RealServer])] = []
        for link in [LinkType.ethernet, .linuxSLL, .linuxSLL2, .raw] {
            s.append(("masq", link, .tcp, masq(3)))
            s.append(("masq-udp", link, .udp, masq(2, port: 53)))
            s.append(("masq-sctp", link, .sctp, masq(2, port: 3868)))
            s.append(("ipip", link, .tcp, (1...3).map { RealServer(IPAddress("10.0.2.\($0)")!, port: 80, forwarding: .tunnel) }))
            s.append(("ipip-v4-in-v6", link, .tcp, (1...2).map { RealServer(IPAddress("fd00:2::\($0)")!, port: 80, forwarding: .tunnel) }))
            s.append(("gre", link, .udp, (1...2).map { RealServer(IPAddress("10.0.3.\($0)")!, port: 80, forwarding: .tunnel, tunnelType: .gre) }))
            s.append(("gue", link, .tcp, (1...2).map { RealServer(IPAddress("10.0.4.\($0)")!, port: 80, forwarding: .tunnel, tunnelType: .gue, tunnelPort: 6080) }))
        }
        // Direct routing needs the link layer: the destination MAC (Ethernet) or the interface (SLL2).
        for link in [LinkType.ethernet, .linuxSLL2] {
            s.append(("route", link, .tcp, (1...4).map { RealServer(IPAddress("10.0.5.\($0)")!, port: 80, forwarding: .route) }))
            s.append(("route-udp", link, .udp, (1...2).map { RealServer(IPAddress("10.0.5.\($0)")!, port: 80, forwarding: .route) }))
        }
        return s
    }()

    @Test("a real server added while the capture runs (watch) pairs its forwarded copies; unwatched, they are unmatched")
    func watchAddedRealServer() throws {
        var options = SyntheticTraffic.Options()
        options.connections = 60
        options.clients = 7
        let servers = Self.masq(3)
        let writer = PcapWriter(format: PcapFileFormat(linkType: options.linkType, precision: .nanoseconds))
        let traffic = SyntheticTraffic(Self.service(.tcp, Self.vip, port: 80, servers), options: options, into: writer)
        let path = T.temporaryPath("watch")
        defer { T.remove(path) }
        try writer.write(to: path)
        let toThird = traffic.expected.filter { $0.realServer == servers[2].address }.count
        #expect(toThird > 0)

        // Told only of the first two: copies to the third pair with nothing.
        let partial = Self.service(.tcp, Self.vip, port: 80, Array(servers.prefix(2)))
        var blind = Tap(services: [partial])
        try blind.run(try PcapHandle.open(file: path))
        #expect(blind.tracker.connections.filter { $0.realServer == nil }.count == toThird)
        #expect(blind.tracker.statistics.unrelatedPackets > 0)  // to no real server it knows

        // Told of the third before the traffic: every connection as generated.
        var told = Tap(services: [partial])
        let first = told.tracker.watch(servers[2], of: partial.service.key)
        let again = told.tracker.watch(servers[2], of: partial.service.key)  // twice: once
        let elsewhere = told.tracker.watch(servers[2], of: .address(.tcp, T.a("10.96.9.9"), port: 80))
        #expect(first && again && !elsewhere)
        #expect(told.tracker.services[0].realServers.count == 3)
        try told.run(try PcapHandle.open(file: path))
        #expect(told.tracker.connections == traffic.expected)
        #expect(told.tracker.statistics.unmatchedForwarded == 0)

        // A service added later: its connections are followed from then on.
        var late = Tap(services: [])
        late.tracker.watch(Self.service(.tcp, Self.vip, port: 80, servers))
        late.tracker.watch(Self.service(.tcp, Self.vip, port: 80, servers))
        #expect(late.tracker.services.count == 1)
        try late.run(try PcapHandle.open(file: path))
        #expect(late.tracker.connections == traffic.expected)
    }

    @Test("every link type, forwarding method and encapsulation: connections exactly as generated, in order",
          arguments: scenarios)
    func generatedCaptures(name: String, linkType: LinkType, transport: IPProtocol, servers: [RealServer]) throws {
        var options = SyntheticTraffic.Options()
        options.linkType = linkType
        options.connections = 120
        options.clients = 17
        options.malformedEvery = 7
        options.seed = UInt64(linkType.rawValue) &* 31 &+ UInt64(name.utf8.count)
        let vip = servers[0].address.family == .inet6 && name != "ipip-v4-in-v6" ? Self.vip6 : Self.vip
        let watched = Self.service(transport, vip, port: 80, servers)
        let (traffic, tap, events) = try Self.roundTrip(watched, options)
        let got = tap.tracker.connections
        let firstDifference = (0..<min(got.count, traffic.expected.count)).first { got[$0] != traffic.expected[$0] }
        #expect(firstDifference == nil,
                "\(name) \(linkType): connection \(firstDifference ?? -1): \(firstDifference.map { "\(got[$0])" } ?? "") expected \(firstDifference.map { "\(traffic.expected[$0])" } ?? "")")
        #expect(tap.tracker.connections.count == 120)
        #expect(tap.decoder.statistics.malformed == UInt64(traffic.malformedFrames))
        #expect(traffic.malformedFrames > 0)
        #expect(tap.tracker.statistics.unmatchedForwarded == 0)
        #expect(tap.tracker.statistics.unrelatedPackets == 0)
        #expect(tap.tracker.statistics.midstreamPackets == 0)
        #expect(tap.tracker.statistics.realServerConflicts == 0)
        // Events: one opening per connection, in order, each followed later by its first forwarded copy.
        let opened = events.compactMap { if case .opened(let i) = $0 { return i } else { return nil } }
        #expect(opened == Array(0..<120))
        let firstForwarded = events.enumerated().reduce(into: [Int: Int]()) { seen, e in
            if case .forwarded(let c) = e.element, seen[c] == nil { seen[c] = e.offset }
        }
        #expect(firstForwarded.count == 120)
        // Replies reach the state machine once each, and only for NAT (direct routing and tunnels bypass the
        // director on the way back).
        let outputs = events.filter { if case .packet(_, .output, _) = $0 { return true } else { return false } }
        let repliesPerConnection = transport == .tcp ? 2 + options.dataPackets : options.dataPackets
        #expect(outputs.count == (servers[0].forwarding == .masquerade ? 120 * repliesPerConnection : 0))
    }

    @Test("NAT on an any capture: each event of one connection, in order")
    func natEventsInOrder() throws {
        var options = SyntheticTraffic.Options()
        options.connections = 1
        options.clients = 1
        options.dataPackets = 1
        let rs = Self.masq(1)
        let (traffic, tap, events) = try Self.roundTrip(Self.service(.tcp, port: 80, rs), options)
        let syn = TCPFlags.syn.rawValue, synAck = TCPFlags([.syn, .ack]).rawValue, ack = TCPFlags.ack.rawValue
        let psh = TCPFlags([.psh, .ack]).rawValue, fin = TCPFlags([.fin, .ack]).rawValue
        _ = syn
        #expect(events == [
            .opened(0), .forwarded(0),  // SYN, its NAT copy
            .packet(0, .output, event: synAck),  // SYN-ACK from the real server (its copy to the client: not again)
            .packet(0, .input, event: ack), .forwarded(0),
            .packet(0, .input, event: psh), .forwarded(0),
            .packet(0, .output, event: psh),
            .packet(0, .input, event: fin), .forwarded(0),
            .packet(0, .output, event: fin),
        ])
        #expect(tap.tracker.connections == traffic.expected)
        #expect(tap.tracker.connections[0].realServer == rs[0].address)
        #expect(tap.tracker.connections[0].realPort == 8080)
        #expect(tap.tracker.connections[0].packets == 4)
        #expect(tap.tracker.statistics.replyPackets == 6)
        #expect(tap.tracker.statistics.forwardedPackets == 4)
        #expect(tap.tracker.statistics.clientPackets == 4)
        #expect(tap.tracker.flow(of: 0) == Flow(.tcp, from: traffic.expected[0].client,
                                                port: traffic.expected[0].clientPort, to: Self.vip, port: 80))
    }

    /// Tracks hand-made frames (raw IP) at 1-second steps.
    struct Script {
        var tap: Tap
        var second: UInt64 = 0
        var events: [FlowEvent] = []

        init(_ services: [WatchedService], routes: RouteTopology = RouteTopology(), timeouts: FlowTimeouts = FlowTimeouts()) {
            tap = Tap(services: services, routes: routes, timeouts: timeouts)
        }

        mutating func send(_ frame: [UInt8], linkType: LinkType = .raw, after seconds: UInt64 = 1) {
            second += seconds
            let e = frame.withUnsafeBytes {
                tap.process($0, linkType: linkType, at: CaptureTime(nanoseconds: second * 1_000_000_000))
            }
            events.append(e)
        }

        static func tcp(_ from: String, _ sport: UInt16, _ to: String, _ dport: UInt16, _ flags: TCPFlags) -> [UInt8] {
            PacketBuilder.ip(source: T.a(from), destination: T.a(to), protocol: 6,
                             payload: PacketBuilder.tcp(source: sport, destination: dport, flags: flags))
        }

        static func udp(_ from: String, _ sport: UInt16, _ to: String, _ dport: UInt16) -> [UInt8] {
            PacketBuilder.ip(source: T.a(from), destination: T.a(to), protocol: 17,
                             payload: PacketBuilder.udp(source: sport, destination: dport))
        }
    }

    @Test("TCP: a repeated SYN is the same connection; a SYN after FIN or RST, or after the timeout, a new one")
    func tcpOpenings() {
        var s = Script([Self.service(.tcp, port: 80, Self.masq(2))], timeouts: FlowTimeouts(tcpSeconds: 100))
        s.send(Script.tcp("192.0.2.1", 1000, "10.96.0.1", 80, .syn))
        s.send(Script.tcp("192.0.2.1", 1000, "10.96.0.1", 80, .syn))  // retransmission
        s.send(Script.tcp("192.0.2.1", 1000, "10.0.1.2", 8080, .syn))  // the NAT copy
        s.send(Script.tcp("192.0.2.1", 1000, "10.96.0.1", 80, [.fin, .ack]))
        s.send(Script.tcp("192.0.2.1", 1000, "10.96.0.1", 80, .syn))  // reuse after FIN: new
        s.send(Script.tcp("192.0.2.1", 1000, "10.0.1.1", 8080, .syn))
        s.send(Script.tcp("10.0.1.1", 8080, "192.0.2.1", 1000, .rst))  // reset by the real server
        s.send(Script.tcp("192.0.2.1", 1000, "10.96.0.1", 80, .syn))  // new again
        s.send(Script.tcp("192.0.2.1", 1000, "10.96.0.1", 80, .ack), after: 101)  // idle past the timeout
        s.send(Script.tcp("192.0.2.1", 1000, "10.96.0.1", 80, .syn))  // new after the timeout
        s.send(Script.tcp("192.0.2.9", 5, "10.96.0.1", 80, .ack))  // midstream
        s.send(Script.tcp("192.0.2.9", 5, "10.96.0.2", 80, .syn))  // another address: unrelated
        s.send(Script.tcp("192.0.2.9", 6, "10.0.1.1", 8080, .syn))  // a copy of nothing known
        #expect(s.events == [
            .opened(0), .packet(0, .input, event: TCPFlags.syn.rawValue), .forwarded(0),
            .packet(0, .input, event: TCPFlags([.fin, .ack]).rawValue), .opened(1), .forwarded(1),
            .packet(1, .output, event: TCPFlags.rst.rawValue), .opened(2), .none, .opened(3), .none, .none, .none,
        ])
        let c = s.tap.tracker.connections
        #expect(c.map(\.firstSeen.nanoseconds) == [1, 5, 8, 110].map { $0 * 1_000_000_000 })
        #expect(c.map(\.realServer) == [T.a("10.0.1.2"), T.a("10.0.1.1"), nil, nil])
        #expect(c.map(\.packets) == [3, 1, 1, 1])
        #expect(c[0].bytes == 120)
        let st = s.tap.tracker.statistics
        #expect(st.repeatedOpenings == 1)
        #expect(st.midstreamPackets == 2)
        #expect(st.unrelatedPackets == 1)
        #expect(st.unmatchedForwarded == 1)
        #expect(st.newConnections == 4)
    }

    @Test("UDP: datagrams within the timeout are one connection; after it, a new one")
    func udpTimeout() {
        var s = Script([Self.service(.udp, port: 53, Self.masq(1, port: 53))], timeouts: FlowTimeouts(udpSeconds: 30))
        s.send(Script.udp("192.0.2.1", 4000, "10.96.0.1", 53))
        s.send(Script.udp("192.0.2.1", 4000, "10.96.0.1", 53), after: 30)
        s.send(Script.udp("192.0.2.1", 4000, "10.96.0.1", 53), after: 31)
        s.send(Script.udp("192.0.2.1", 4001, "10.96.0.1", 53))
        #expect(s.events == [.opened(0), .packet(0, .input, event: 0), .opened(1), .opened(2)])
        #expect(s.tap.tracker.connections.map(\.packets) == [2, 1, 1])
    }

    @Test("a copy to a second real server is a conflict; the first one stays")
    func realServerConflict() {
        var s = Script([Self.service(.tcp, port: 80, Self.masq(2))])
        s.send(Script.tcp("192.0.2.1", 1000, "10.96.0.1", 80, .syn))
        s.send(Script.tcp("192.0.2.1", 1000, "10.0.1.1", 8080, .syn))
        s.send(Script.tcp("192.0.2.1", 1000, "10.0.1.2", 8080, .syn))
        #expect(s.tap.tracker.connections[0].realServer == T.a("10.0.1.1"))
        #expect(s.tap.tracker.statistics.realServerConflicts == 1)
    }

    @Test("two services sharing a NAT real server: the copy belongs to the connection's own service")
    func sharedRealServer() {
        let rs = RealServer(T.a("10.0.1.1"), port: 8080, forwarding: .masquerade)
        let a = Self.service(.tcp, T.a("10.96.0.1"), port: 80, [rs])
        let b = Self.service(.tcp, T.a("10.96.0.2"), port: 80, [rs])
        var s = Script([a, b])
        s.send(Script.tcp("192.0.2.1", 1000, "10.96.0.2", 80, .syn))
        s.send(Script.tcp("192.0.2.1", 1000, "10.0.1.1", 8080, .syn))
        #expect(s.events == [.opened(0), .forwarded(0)])
        #expect(s.tap.tracker.connections[0].virtualAddress == T.a("10.96.0.2"))
        #expect(s.tap.tracker.connections[0].realServer == T.a("10.0.1.1"))
    }

    @Test("a port-zero (all ports) service takes any port of its address; its NAT copy keeps the port")
    func portZeroService() {
        let rs = RealServer(T.a("10.0.1.1"), port: 0, forwarding: .masquerade)
        var s = Script([Self.service(.tcp, T.a("10.96.0.1"), port: 0, [rs])])
        s.send(Script.tcp("192.0.2.1", 1000, "10.96.0.1", 443, .syn))
        s.send(Script.tcp("192.0.2.1", 1000, "10.0.1.1", 443, .syn))
        #expect(s.events == [.opened(0), .forwarded(0)])
        #expect(s.tap.tracker.connections[0].virtualPort == 443)
        #expect(s.tap.tracker.connections[0].realPort == 443)
    }

    @Test("direct routing without the link-layer facts: copies look like client packets and no server is known")
    func routeWithoutTopology() throws {
        var options = SyntheticTraffic.Options()
        options.linkType = .ethernet
        options.connections = 10
        let servers = (1...2).map { RealServer(IPAddress("10.0.5.\($0)")!, port: 80, forwarding: .route) }
        let (_, tap, _) = try Self.roundTrip(Self.service(.tcp, port: 80, servers), options, routes: false)
        #expect(tap.tracker.connections.count == 10)
        #expect(tap.tracker.connections.allSatisfy { $0.realServer == nil })
        #expect(tap.tracker.statistics.repeatedOpenings == 10)
    }
}
