@testable import IPVSCore
import Testing

/// Single-thread behaviour of `Balancer`. Expected values are derived by hand from the kernel (each test says how).
@Suite("Balancer")
struct BalancerTests {
    static let vip = v4("10.0.0.1")
    static let service = ServiceKey.address(.tcp, vip, port: 80)

    func balancer(_ scheduler: SchedulerKind = .rr, servers: [RealServer]? = nil, flags: ServiceFlags = [],
                  capacity: Int = 1024, configure: (inout Balancer.Configuration) -> Void = { _ in })
        throws -> Balancer
    {
        var c = Balancer.Configuration(connectionCapacity: capacity, maximumServices: 8, maximumDestinations: 16,
                                       hashSeed: 42)
        configure(&c)
        let b = try Balancer(c)
        try b.addService(tcpService(scheduler, flags: flags),
                         servers: servers ?? ["10.0.1.1", "10.0.1.2", "10.0.1.3"].map { server($0, port: 8080) })
        return b
    }

    func syn(_ client: String, _ port: UInt16, length: Int = 60) -> BalancerPacket {
        .tcp(v4(client), port, to: Self.vip, 80, flags: .syn, length: length)
    }

    func packet(_ client: String, _ port: UInt16, _ flags: TCPFlags, _ direction: PacketDirection = .input,
                length: Int = 60) -> BalancerPacket {
        .tcp(v4(client), port, to: Self.vip, 80, flags: flags, direction: direction, length: length)
    }

    /// (active, inactive) per destination address, in list order.
    func counts(_ b: Balancer, _ service: ServiceKey = Self.service) -> [String: [Int32]] {
        var r: [String: [Int32]] = [:]
        for d in b.destinations(of: service) ?? [] {
            r[d.server.address.description] = [d.activeConnections, d.inactiveConnections]
        }
        return r
    }

    func address(_ r: BalancerResult) -> String? { r.decision?.destination.address.description }

    @Test("New flows go where rr sends them (head of the list first); an existing flow sticks to its destination")
    func roundRobinAndStickiness() throws {
        let b = try balancer(.rr)  // list [.3, .2, .1]
        let t0 = Timestamp.seconds(1)
        var picks: [String] = []
        for p in 0..<4 {
            let r = b.process(syn("192.168.0.1", 1000 + UInt16(p)), now: t0)
            guard case .created(let d) = r else { Issue.record("not created: \(r)"); return }
            picks.append(d.destination.address.description)
        }
        #expect(picks == ["10.0.1.3", "10.0.1.2", "10.0.1.1", "10.0.1.3"])
        // The second flow's packets keep going to .2, whatever rr's cursor says.
        for _ in 0..<3 {
            let r = b.process(packet("192.168.0.1", 1001, .ack), now: t0)
            guard case .existing(let d) = r else { Issue.record("not existing: \(r)"); return }
            #expect(d.destination == DestinationKey(address: v4("10.0.1.2"), port: 8080))
        }
        #expect(b.table.count() == 4)
    }

    @Test("TCP through NAT: counters follow the kernel's states — SYN_RECV active, CLOSE_WAIT inactive, expiry frees")
    func tcpLifecycleCounts() throws {
        let b = try balancer(.rr, servers: [server("10.0.1.1", port: 8080)])
        let c = "192.168.0.7"
        // Expected from ip_vs_proto_tcp.c tcp_states (input/output rows) and tcp_state_active_table, with the
        // connection bound inactive by ip_vs_bind_dest and the first SYN's transition applied at once.
        let steps: [(BalancerPacket, TCPState, [Int32], UInt64)] = [
            (syn(c, 5000), .synReceived, [1, 0], 60),  // NONE → SYN_RECV: active
            (packet(c, 5000, [.syn, .ack], .output), .synReceived, [1, 0], 60),
            (packet(c, 5000, .ack), .established, [1, 0], 900),
            (packet(c, 5000, [.psh, .ack]), .established, [1, 0], 900),
            (packet(c, 5000, [.fin, .ack]), .closeWait, [0, 1], 60),  // leaves the active states
            (packet(c, 5000, [.fin, .ack], .output), .timeWait, [0, 1], 120),
            (packet(c, 5000, .ack), .timeWait, [0, 1], 120),
        ]
        var now = Timestamp.seconds(100)
        for (i, (p, state, expectedCounts, timeout)) in steps.enumerated() {
            let r = b.process(p, now: now)
            #expect(r.decision?.state == state.rawValue, "step \(i): \(r)")
            #expect(counts(b)["10.0.1.1"] == expectedCounts, "step \(i)")
            #expect(b.connection(p, now: now).map { _ in true } == true)
            // The timer restarted with the state's timeout: alive just before, gone at it.
            #expect(b.connection(p, now: now.adding(seconds: timeout - 1)) != nil, "step \(i)")
            #expect(b.connection(p, now: now.adding(seconds: timeout)) == nil, "step \(i)")
            now = now.adding(seconds: 1)
        }
        // TIME_WAIT runs out 120 s after the last packet: the sweep releases the connection once.
        let last = now.adding(seconds: 119)  // the last packet was at now - 1
        #expect(b.sweep(now: last) == 1)
        #expect(counts(b)["10.0.1.1"] == [0, 0])
        #expect(b.sweep(now: last.adding(seconds: 1000)) == 0)
        #expect(counts(b)["10.0.1.1"] == [0, 0])
    }

    @Test("Direct routing: input-only rows until a reply is seen (ESTABLISHED + FIN → FIN_WAIT)")
    func directRoutingNoOutput() throws {
        let dr = RealServer(v4("10.0.1.1"), port: 80, forwarding: .route)
        let b = try balancer(.rr, servers: [dr])
        let c = "192.168.0.8"
        _ = b.process(syn(c, 6000), now: .seconds(1))
        #expect(b.process(packet(c, 6000, .ack), now: .seconds(1)).decision?.state == TCPState.established.rawValue)
        let r = b.process(packet(c, 6000, [.fin, .ack]), now: .seconds(2))
        #expect(r.decision?.state == TCPState.finWait.rawValue)  // NAT would give CLOSE_WAIT
        #expect(r.decision?.forwarding == .route)
        #expect(counts(b)["10.0.1.1"] == [0, 1])
    }

    @Test("A RST closes: ESTABLISHED → CLOSE, inactive, 10 s")
    func reset() throws {
        let b = try balancer(.rr, servers: [server("10.0.1.1")])
        _ = b.process(syn("192.168.0.9", 7000), now: .seconds(1))
        _ = b.process(packet("192.168.0.9", 7000, .ack), now: .seconds(1))
        let r = b.process(packet("192.168.0.9", 7000, .rst), now: .seconds(2))
        #expect(r.decision?.state == TCPState.close.rawValue)
        #expect(counts(b)["10.0.1.1"] == [0, 1])
        #expect(b.sweep(now: .seconds(12)) == 1)
        #expect(counts(b)["10.0.1.1"] == [0, 0])
    }

    @Test("wlc chooses by the counters the state machine keeps: an active connection weighs 257 inactive ones")
    func weightedLeastConnectionUsesCounts() throws {
        // List [.2, .1] (added .1 then .2), weights 1.
        let b = try balancer(.wlc, servers: [server("10.0.1.1"), server("10.0.1.2")])
        // First SYN: all idle, the head (.2). It is active at once (SYN_RECV).
        #expect(address(b.process(syn("192.168.1.1", 1), now: .seconds(1))) == "10.0.1.2")
        // .2 overhead (1 << 8) + 1 = 257, .1 overhead 0: .1 gets the next one; then both are at 257, a tie the
        // head (.2) wins.
        #expect(address(b.process(syn("192.168.1.2", 1), now: .seconds(1))) == "10.0.1.1")
        #expect(address(b.process(syn("192.168.1.3", 1), now: .seconds(1))) == "10.0.1.2")  // tie 257/257: head
        // Close the .2 connections' handshakes into CLOSE_WAIT (inactive): .2 has 2 inactive (2), .1 1 active (257).
        for c in ["192.168.1.1", "192.168.1.3"] {
            _ = b.process(packet(c, 1, .ack), now: .seconds(2))
            _ = b.process(packet(c, 1, .fin), now: .seconds(2))
        }
        #expect(counts(b)["10.0.1.2"] == [0, 2] && counts(b)["10.0.1.1"] == [1, 0])
        #expect(address(b.process(syn("192.168.1.4", 1), now: .seconds(3))) == "10.0.1.2")
    }

    @Test("lc over UDP: every connection is inactive, so the least total wins")
    func leastConnectionUDP() throws {
        let b = try Balancer(.init(connectionCapacity: 256, maximumServices: 2, maximumDestinations: 4))
        let svc = ServiceKey.address(.udp, Self.vip, port: 53)
        try b.addService(VirtualService(svc, scheduler: .lc), servers: [server("10.0.1.1"), server("10.0.1.2")])
        var got: [String] = []
        for p in 0..<4 {
            got.append(address(b.process(.udp(v4("192.168.2.1"), UInt16(100 + p), to: Self.vip, 53),
                                         now: .seconds(1))) ?? "-")
        }
        #expect(got == ["10.0.1.2", "10.0.1.1", "10.0.1.2", "10.0.1.1"])
        #expect(counts(b, svc)["10.0.1.1"] == [0, 2])
        // 300 s after its last datagram a UDP connection expires; a datagram at 200 s keeps one alive.
        _ = b.process(.udp(v4("192.168.2.1"), 100, to: Self.vip, 53, direction: .output), now: .seconds(200))
        #expect(b.sweep(now: .seconds(301)) == 3)
        #expect(counts(b, svc)["10.0.1.2"] == [0, 1] && counts(b, svc)["10.0.1.1"] == [0, 0])
        #expect(b.sweep(now: .seconds(500)) == 1)
        #expect(counts(b, svc)["10.0.1.2"] == [0, 0])
    }

    @Test("Only SYN opens a TCP connection; a packet for no service is left alone")
    func firstPacketRules() throws {
        let b = try balancer(.rr)
        #expect(b.process(packet("192.168.0.1", 1, .ack), now: .seconds(1)) == .notScheduled)
        #expect(b.process(packet("192.168.0.1", 1, [.syn, .rst]), now: .seconds(1)) == .notScheduled)
        #expect(b.process(.tcp(v4("192.168.0.1"), 1, to: v4("10.0.0.2"), 80, flags: .syn), now: .seconds(1))
                == .noService)
        #expect(b.process(.tcp(v4("192.168.0.1"), 20, to: Self.vip, 80, flags: .syn), now: .seconds(1))
                == .notScheduled)  // FTP data
        #expect(b.table.count() == 0)
        #expect(counts(b).values.allSatisfy { $0 == [0, 0] })
    }

    @Test("ClientIP persistence: a client's connections share its template's destination; the template is counted")
    func persistence() throws {
        let b = try Balancer(.init(connectionCapacity: 256, maximumServices: 2, maximumDestinations: 4))
        try b.addService(.clientIPAffinity(Self.service, scheduler: .rr, timeoutSeconds: 100),
                         servers: [server("10.0.1.1"), server("10.0.1.2")])  // list [.2, .1]
        let a1 = address(b.process(syn("192.168.3.1", 1000), now: .seconds(1)))
        let a2 = address(b.process(syn("192.168.3.1", 1001), now: .seconds(2)))
        let other = address(b.process(syn("192.168.3.2", 1000), now: .seconds(3)))
        #expect(a1 == "10.0.1.2" && a2 == "10.0.1.2" && other == "10.0.1.1")
        let d2 = b.destination(DestinationKey(address: v4("10.0.1.2"), port: 80), in: Self.service)!
        #expect(d2.persistentConnections == 1 && d2.activeConnections == 2)
        // End both connections; the template outlives them by its timeout (100 s from the last use, at 2 s).
        #expect(b.close(syn("192.168.3.1", 1000)) && b.close(syn("192.168.3.1", 1001)))
        _ = b.sweep(now: .seconds(101))
        #expect(b.destination(d2.key, in: Self.service)!.persistentConnections == 1)
        #expect(address(b.process(syn("192.168.3.1", 1002), now: .seconds(101))) == "10.0.1.2")  // still pinned
        #expect(b.close(syn("192.168.3.1", 1002)))
        _ = b.sweep(now: .seconds(201))  // 100 s after the last use
        let after = b.destination(d2.key, in: Self.service)!
        #expect(after.persistentConnections == 0 && after.totalConnections == 0)
    }

    @Test("A template outlives its timeout while it controls a connection, then goes 60 s later (expire_later)")
    func templateControl() throws {
        let b = try Balancer(.init(connectionCapacity: 256, maximumServices: 2, maximumDestinations: 4))
        try b.addService(.clientIPAffinity(Self.service, scheduler: .rr, timeoutSeconds: 10),
                         servers: [server("10.0.1.1")])
        let key = DestinationKey(address: v4("10.0.1.1"), port: 80)
        _ = b.process(syn("192.168.3.9", 1000), now: .seconds(1))  // template timer: 1 + 10 = 11 s
        _ = b.process(packet("192.168.3.9", 1000, .ack), now: .seconds(1))  // ESTABLISHED until 901 s
        _ = b.sweep(now: .seconds(20))  // fired at 11 s while controlling: kept, next look at 71 s
        #expect(b.destination(key, in: Self.service)!.persistentConnections == 1)
        #expect(b.close(syn("192.168.3.9", 1000)))
        _ = b.sweep(now: .seconds(70))
        #expect(b.destination(key, in: Self.service)!.persistentConnections == 1)
        _ = b.sweep(now: .seconds(71))
        #expect(b.destination(key, in: Self.service)!.persistentConnections == 0)
    }

    @Test("Drain: weight 0 gets no new flows, its existing flows keep going")
    func drain() throws {
        let b = try balancer(.rr, servers: [server("10.0.1.1"), server("10.0.1.2")])  // list [.2, .1]
        #expect(address(b.process(syn("192.168.4.1", 1), now: .seconds(1))) == "10.0.1.2")
        try b.editDestination(server("10.0.1.2", weight: 0), in: Self.service)
        for p in 2..<6 {
            #expect(address(b.process(syn("192.168.4.1", UInt16(p)), now: .seconds(2))) == "10.0.1.1")
        }
        let r = b.process(packet("192.168.4.1", 1, .ack), now: .seconds(3))
        guard case .existing(let d) = r else { Issue.record("\(r)"); return }
        #expect(d.destination.address == v4("10.0.1.2") && d.state == TCPState.established.rawValue)
    }

    @Test("Remove a destination with connections: they keep it, counted in the trash, until they end")
    func removeWithInFlight() throws {
        let b = try balancer(.rr, servers: [server("10.0.1.1"), server("10.0.1.2")])
        let gone = DestinationKey(address: v4("10.0.1.2"), port: 80)
        #expect(address(b.process(syn("192.168.5.1", 1), now: .seconds(1))) == "10.0.1.2")
        try b.removeDestination(gone, from: Self.service)
        #expect(b.destinations(of: Self.service)!.map(\.key) == [DestinationKey(address: v4("10.0.1.1"), port: 80)])
        #expect(address(b.process(syn("192.168.5.1", 2), now: .seconds(1))) == "10.0.1.1")
        let r = b.process(packet("192.168.5.1", 1, .ack), now: .seconds(2))
        #expect(r == .existing(r.decision!) && r.decision!.destination == gone)
        #expect(b.destination(gone, in: Self.service)!.activeConnections == 1)
        // Packets of a removed destination are not counted (ip_vs_in_stats: only IP_VS_DEST_F_AVAILABLE).
        let before = b.statistics(of: gone, in: Self.service)!
        _ = b.process(packet("192.168.5.1", 1, .ack, length: 1000), now: .seconds(3))
        #expect(b.statistics(of: gone, in: Self.service)! == before)
        #expect(b.close(syn("192.168.5.1", 1)))
        #expect(b.destination(gone, in: Self.service)!.totalConnections == 0)
        // Its slot is freed 120 s after nothing refers to it; adding it back then starts afresh.
        _ = b.sweep(now: .seconds(10))
        _ = b.sweep(now: .seconds(131))
        #expect(b.statistics(of: gone, in: Self.service) == nil)
        try b.addDestination(server("10.0.1.2"), to: Self.service)
        #expect(b.statistics(of: gone, in: Self.service) == .zero)
    }

    @Test("Adding a removed destination back while its connections live restores it with them")
    func reAddFromTrash() throws {
        let b = try balancer(.rr, servers: [server("10.0.1.1"), server("10.0.1.2")])
        let key = DestinationKey(address: v4("10.0.1.2"), port: 80)
        let first = b.process(syn("192.168.5.2", 1), now: .seconds(1)).decision!
        try b.removeDestination(key, from: Self.service)
        try b.addDestination(server("10.0.1.2", weight: 3), to: Self.service)
        let again = b.process(packet("192.168.5.2", 1, .ack), now: .seconds(2)).decision!
        #expect(again.destinationID == first.destinationID)
        #expect(b.destination(key, in: Self.service)!.activeConnections == 1)
    }

    @Test("A full table refuses a new connection with .tableFull and changes no counter")
    func fullTable() throws {
        let b = try balancer(.rr, capacity: 4) { $0.probeLimit = 4 }
        for p in 0..<4 {
            #expect(b.process(syn("192.168.6.1", UInt16(p)), now: .seconds(1)).decision != nil)
        }
        let before = counts(b)
        #expect(b.process(syn("192.168.6.1", 99), now: .seconds(1)) == .tableFull)
        #expect(counts(b) == before)
        #expect(b.table.fullInsertions == 1)
        // The same tuple again after its connection expired: the table replaces it, and the expired one is
        // released exactly once (ip_vs_unbind_dest).
        #expect(b.process(syn("192.168.6.1", 0), now: .seconds(100)) != .tableFull)
        let total = counts(b).values.reduce(Int32(0)) { $0 + $1[0] + $1[1] }
        #expect(total == Int32(b.table.count()))
    }

    @Test("Statistics: connections, packets and bytes in and out per service, destination and total")
    func statistics() throws {
        let b = try balancer(.rr, servers: [server("10.0.1.1")])
        let d = DestinationKey(address: v4("10.0.1.1"), port: 80)
        _ = b.process(syn("192.168.7.1", 1, length: 60), now: .seconds(1))
        _ = b.process(packet("192.168.7.1", 1, [.syn, .ack], .output, length: 60), now: .seconds(1))
        _ = b.process(packet("192.168.7.1", 1, .ack, length: 52), now: .seconds(1))
        _ = b.process(packet("192.168.7.1", 1, .ack, .output, length: 1500), now: .seconds(1))
        let expected = StatisticsCounters(connections: 1, inPackets: 2, outPackets: 2, inBytes: 112, outBytes: 1560)
        #expect(b.statistics(of: Self.service) == expected)
        #expect(b.statistics(of: d, in: Self.service) == expected)
        #expect(b.totalStatistics == expected)
    }

    @Test("Rates: 100 connections in the first 2 s read 12/s (12800 scaled), then climb as ip_vs_est.c climbs")
    func rates() throws {
        let b = try balancer(.rr)
        b.tick(now: .seconds(0))  // starts the 2-s clock
        for p in 1000..<1100 { _ = b.process(syn("192.168.8.1", UInt16(p)), now: .seconds(1)) }
        b.tick(now: .seconds(2))
        // 100 << 9 = 51200, / 4 = 12800 → (12800 + 511) >> 10 = 12.
        #expect(b.rates(of: Self.service)?.connectionsPerSecond == 12)
        #expect(b.totalRates.connectionsPerSecond == 12)
        // In packets: 100 SYNs of 60 bytes → inbps: 6000 << 4 = 96000, / 4 = 24000 → (24000 + 15) >> 5 = 750.
        #expect(b.rates(of: Self.service)?.inBytesPerSecond == 750)
        for p in 1100..<1200 { _ = b.process(syn("192.168.8.1", UInt16(p)), now: .seconds(3)) }
        b.tick(now: .seconds(4))
        // 12800 + (51200 - 12800) >> 2 = 22400 → 22.
        #expect(b.rates(of: Self.service)?.connectionsPerSecond == 22)
        // rr split them over three destinations: 67/67/66 per 200 → the head got 34 then 33.
        let head = DestinationKey(address: v4("10.0.1.3"), port: 8080)
        #expect(b.statistics(of: head, in: Self.service)?.connections == 67)
        // Three idle periods at once (6, 8, 10 s): 22400 → 16800 → 12600 → 9450 → 9.
        b.tick(now: .seconds(10))
        #expect(b.rates(of: Self.service)?.connectionsPerSecond == 9)
    }

    @Test("ipvsadm --set: a shorter ESTABLISHED timeout applies from the next packet")
    func setTimeouts() throws {
        let b = try balancer(.rr, servers: [server("10.0.1.1")])
        _ = b.process(syn("192.168.9.1", 1), now: .seconds(1))
        _ = b.process(packet("192.168.9.1", 1, .ack), now: .seconds(1))
        try b.setTimeouts(tcp: 10, tcpFin: 0, udp: 0)
        #expect(b.connection(syn("192.168.9.1", 1), now: .seconds(11)) != nil)  // still 900 s
        _ = b.process(packet("192.168.9.1", 1, .ack), now: .seconds(2))
        #expect(b.connection(syn("192.168.9.1", 1), now: .seconds(12)) == nil)
        #expect(throws: BalancerError.timeout(.outOfRange("tcp", 9_000_000))) {
            try b.setTimeouts(tcp: 9_000_000, tcpFin: 0, udp: 0)
        }
        #expect(b.timeouts[TCPState.established] == 10)
    }

    @Test("Firewall-mark services: a marked packet finds the mark's service; its connection is keyed with the mark")
    func firewallMark() throws {
        let b = try Balancer(.init(connectionCapacity: 256, maximumServices: 2, maximumDestinations: 4))
        let fwm = ServiceKey.firewallMark(7, .inet)
        try b.addService(VirtualService(fwm, scheduler: .rr), servers: [server("10.0.1.1"), server("10.0.1.2")])
        let p = BalancerPacket.tcp(v4("192.168.10.1"), 1, to: v4("10.9.9.9"), 443, flags: .syn, firewallMark: 7)
        #expect(address(b.process(p, now: .seconds(1))) == "10.0.1.2")
        var unmarked = p
        unmarked.firewallMark = 0
        #expect(b.process(unmarked, now: .seconds(1)) == .noService)
        var ack = p
        ack.event = TCPFlags.ack.rawValue
        #expect(address(b.process(ack, now: .seconds(2))) == "10.0.1.2")
        #expect(b.process(ack, now: .seconds(2)).decision?.state == TCPState.established.rawValue)
    }

    @Test("Removing a service: new packets find no service, in-flight connections go on and are released")
    func removeService() throws {
        let b = try balancer(.rr, servers: [server("10.0.1.1")])
        _ = b.process(syn("192.168.11.1", 1), now: .seconds(1))
        try b.removeService(Self.service)
        #expect(b.process(syn("192.168.11.1", 2), now: .seconds(1)) == .noService)
        #expect(b.process(packet("192.168.11.1", 1, .ack), now: .seconds(2)).decision?.destination.address
                == v4("10.0.1.1"))
        #expect(b.sweep(now: .seconds(2000)) == 1)
        _ = b.sweep(now: .seconds(2200))
        #expect(throws: BalancerError.noSuchService(Self.service)) { try b.removeService(Self.service) }
        try b.addService(tcpService(.rr), servers: [server("10.0.1.1")])  // the key is free again
    }

    @Test("Bad configuration is refused with a clear error and changes nothing")
    func badConfiguration() throws {
        let b = try balancer(.rr)
        #expect(throws: BalancerError.serviceExists(Self.service)) { try b.addService(tcpService(.rr)) }
        #expect(throws: BalancerError.configuration(.weightOutOfRange(
            DestinationKey(address: v4("10.0.1.9"), port: 80), -1))) {
            try b.addDestination(server("10.0.1.9", weight: -1), to: Self.service)
        }
        #expect(b.destinations(of: Self.service)?.count == 3)
        let small = try Balancer(.init(connectionCapacity: 16, maximumServices: 1, maximumDestinations: 2))
        #expect(throws: BalancerError.tooManyDestinations(2)) {
            try small.addService(tcpService(.rr), servers: [server("10.0.1.1"), server("10.0.1.2"),
                                                             server("10.0.1.3")])
        }
        #expect(small.serviceKeys.isEmpty)
        try small.addService(tcpService(.rr))
        #expect(throws: BalancerError.tooManyServices(1)) { try small.addService(tcpService(.rr, port: 81)) }
    }

    @Test("SCTP: INIT opens, the association is active only while ESTABLISHED")
    func sctp() throws {
        let b = try Balancer(.init(connectionCapacity: 64, maximumServices: 1, maximumDestinations: 2))
        let svc = ServiceKey.address(.sctp, Self.vip, port: 3868)
        try b.addService(VirtualService(svc, scheduler: .rr), servers: [server("10.0.1.1", port: 3868)])
        func chunk(_ type: UInt8, _ dir: PacketDirection = .input) -> BalancerPacket {
            BalancerPacket(.sctp, client: v4("192.168.12.1"), clientPort: 5000, virtual: Self.vip, virtualPort: 3868,
                           direction: dir, event: type)
        }
        #expect(b.process(chunk(0), now: .seconds(1)) == .notScheduled)  // DATA does not open one
        #expect(b.process(chunk(1), now: .seconds(1)).decision?.state == SCTPState.initSent1.rawValue)
        _ = b.process(chunk(2, .output), now: .seconds(1))
        _ = b.process(chunk(10), now: .seconds(1))
        #expect(counts(b, svc)["10.0.1.1"] == [0, 1])
        #expect(b.process(chunk(11, .output), now: .seconds(1)).decision?.state == SCTPState.established.rawValue)
        #expect(counts(b, svc)["10.0.1.1"] == [1, 0])
        _ = b.process(chunk(7), now: .seconds(2))
        #expect(counts(b, svc)["10.0.1.1"] == [0, 1])
    }
}
