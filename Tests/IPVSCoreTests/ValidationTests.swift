import IPVSCore
import Testing

@Suite("Validation of services and real servers")
struct ValidationTests {
    let vip = IPAddress("10.0.0.1")!

    @Test("Every value the kernel or ipvsadm refuses for a service is refused with its own error")
    func serviceErrors() {
        let cases: [(VirtualService, IPVSConfigurationError)] = [
            (VirtualService(.address(.tcp, vip, port: 0)), .zeroPortWithoutPersistence(.address(.tcp, vip, port: 0))),
            (VirtualService(.address(.tcp, vip, port: 53), flags: .onePacket),
             .onePacketNotUDP(.address(.tcp, vip, port: 53))),
            (VirtualService(.address(.tcp, vip, port: 80), flags: .persistent, persistenceTimeout: 300,
                            netmask: 0xFF00_FF00), .badNetmask(.address(.tcp, vip, port: 80), 0xFF00_FF00)),
            (VirtualService(.address(.tcp, IPAddress("2001:db8::1")!, port: 80), flags: .persistent,
                            persistenceTimeout: 300, netmask: 129),
             .badNetmask(.address(.tcp, IPAddress("2001:db8::1")!, port: 80), 129)),
            (VirtualService(.address(.tcp, vip, port: 80), scheduler: .rr, flags: .shPort),
             .schedulerFlagsUnsupported(.rr, .schedulerFlag2)),
            (VirtualService(.address(.tcp, vip, port: 80), scheduler: .sh, flags: .schedulerFlag3),
             .schedulerFlagsUnsupported(.sh, .schedulerFlag3)),
            (VirtualService(.address(.tcp, vip, port: 80), flags: .persistent, persistenceTimeout: 0),
             .persistenceTimeoutZero(.address(.tcp, vip, port: 80))),
            (VirtualService(.address(.udp, vip, port: 5060), persistenceEngine: "sip"),
             .persistenceEngineWithoutPersistence(.address(.udp, vip, port: 5060), "sip")),
            (VirtualService(.address(.udp, vip, port: 5060), flags: .persistent, persistenceTimeout: 60,
                            persistenceEngine: "rtsp"), .unknownPersistenceEngine(.address(.udp, vip, port: 5060), "rtsp")),
            (VirtualService(.firewallMark(0, .inet)), .zeroFirewallMark),
            (VirtualService(.address(.tcp, IPAddress("0.0.0.0")!, port: 80)), .unspecifiedAddress("service TCP 0.0.0.0:80")),
        ]
        for (service, expected) in cases {
            #expect(throws: expected, "\(service.key)") { try service.validate() }
        }
    }

    @Test("Valid services pass: one-packet UDP and fwmark, persistent port 0, sh flags, IPv6 prefix")
    func validServices() throws {
        try VirtualService(.address(.udp, vip, port: 53), flags: .onePacket).validate()
        try VirtualService(.firewallMark(7, .inet), scheduler: .mh, flags: [.mhFallback, .mhPort]).validate()
        try VirtualService(.address(.tcp, vip, port: 0), flags: .persistent, persistenceTimeout: 300).validate()
        try VirtualService(.address(.tcp, vip, port: 80), flags: .persistent, persistenceTimeout: 300,
                           netmask: 0xFFFF_FF00).validate()
        try VirtualService(.address(.tcp, IPAddress("2001:db8::1")!, port: 443), scheduler: .sh, flags: .shPort).validate()
        try VirtualService.clientIPAffinity(.address(.tcp, vip, port: 80), timeoutSeconds: 86400).validate()
        try VirtualService(.address(.udp, vip, port: 5060), flags: .persistent, persistenceTimeout: 60,
                           persistenceEngine: "sip").validate()
    }

    @Test("Every value the kernel or ipvsadm refuses for a real server is refused with its own error")
    func realServerErrors() {
        let svc = VirtualService(.address(.tcp, vip, port: 80))
        let a = IPAddress("10.0.1.1")!
        let k = DestinationKey(address: a, port: 80)
        let cases: [(RealServer, IPVSConfigurationError)] = [
            (RealServer(a, port: 80, weight: -1), .weightOutOfRange(k, -1)),
            (RealServer(a, port: 80, weight: 65536), .weightOutOfRange(k, 65536)),
            (RealServer(a, port: 80, upperThreshold: 10, lowerThreshold: 11),
             .lowerThresholdAboveUpper(k, lower: 11, upper: 10)),
            (RealServer(a, port: 80, upperThreshold: 0, lowerThreshold: 5),
             .lowerThresholdAboveUpper(k, lower: 5, upper: 0)),
            (RealServer(a, port: 80, upperThreshold: UInt32(Int32.max) + 1), .thresholdOutOfRange(k, UInt32(Int32.max) + 1)),
            (RealServer(IPAddress("2001:db8::2")!, port: 80, forwarding: .masquerade),
             .familyMismatch(svc.key, DestinationKey(address: IPAddress("2001:db8::2")!, port: 80))),
            (RealServer(a, port: 80, forwarding: .route, tunnelType: .gre), .tunnelOptionsWithoutTunnel(k)),
            (RealServer(a, port: 80, forwarding: .tunnel, tunnelType: .gue), .tunnelPortMissing(k)),
            (RealServer(a, port: 80, forwarding: .tunnel, tunnelType: .ipip, tunnelPort: 5555),
             .tunnelPortNotForType(k, .ipip)),
            (RealServer(a, port: 80, forwarding: .tunnel, tunnelType: .gre, tunnelFlags: .remoteChecksum),
             .remoteChecksumNotForType(k, .gre)),
        ]
        for (rs, expected) in cases {
            #expect(throws: expected, "\(rs)") { try rs.validate(for: svc) }
        }
    }

    @Test("Tunnels may mix families; GUE takes a port and remote checksum offload")
    func validRealServers() throws {
        let svc = VirtualService(.address(.tcp, vip, port: 80))
        try RealServer(IPAddress("2001:db8::2")!, port: 80, forwarding: .tunnel).validate(for: svc)
        try RealServer(IPAddress("10.0.1.1")!, port: 80, forwarding: .tunnel, tunnelType: .gue, tunnelPort: 6080,
                       tunnelFlags: [.checksum, .remoteChecksum]).validate(for: svc)
        try RealServer(IPAddress("10.0.1.1")!, port: 80, weight: 65535, upperThreshold: 10, lowerThreshold: 10)
            .validate(for: svc)
    }

    @Test("Errors say what was wrong and where")
    func messages() {
        let k = DestinationKey(address: IPAddress("10.0.1.1")!, port: 80)
        #expect(IPVSConfigurationError.weightOutOfRange(k, -1).description
            == "real server 10.0.1.1:80: weight -1 is out of range (0…65535)")
        #expect(IPVSConfigurationError.unknownScheduler("foo").description.hasPrefix("unknown scheduler 'foo' (known: rr, wrr"))
        #expect(throws: IPVSConfigurationError.unknownScheduler("twos")) { try SchedulerKind.named("twos") }
    }

    @Test("A refused change leaves the service scheduler as it was")
    func refusedChangeChangesNothing() throws {
        var s = try ServiceScheduler(tcpService(.rr), servers: [server("10.0.1.1"), server("10.0.1.2")])
        #expect(s.next() == "10.0.1.2")
        #expect(throws: IPVSConfigurationError.self) { try s.addDestination(server("10.0.1.3", weight: -5)) }
        #expect(throws: IPVSConfigurationError.destinationExists(s.key("10.0.1.1"))) {
            try s.addDestination(server("10.0.1.1"))
        }
        #expect(throws: IPVSConfigurationError.noSuchDestination(s.key("10.0.1.9"))) {
            try s.removeDestination(s.key("10.0.1.9"))
        }
        #expect(throws: IPVSConfigurationError.self) { try s.editService(tcpService(.rr, flags: .shPort)) }
        #expect(s.destinations.map(\.server.address.description) == ["10.0.1.2", "10.0.1.1"])
        #expect(s.service.scheduler == .rr)
        #expect(s.next() == "10.0.1.1")  // the cursor did not move
    }
}

@Suite("ServiceScheduler: kernel list order, trash, counters and the overload flag")
struct ServiceSchedulerTests {
    @Test("Destinations are linked at the head, as list_add_rcu does")
    func headInsertion() throws {
        let s = try ServiceScheduler(tcpService(.rr), servers: [server("10.0.1.1"), server("10.0.1.2"), server("10.0.1.3")])
        #expect(s.destinations.map(\.server.address.description) == ["10.0.1.3", "10.0.1.2", "10.0.1.1"])
    }

    /// ip_vs_conn.c (6.1.192): the bind that makes totalconns equal u_threshold sets OVERLOAD; the unbind from
    /// exactly l_threshold_val (l_threshold, or u - u>>2) clears it. More cases in OverloadHysteresisTests.
    @Test("The overload flag follows the thresholds as ip_vs_bind_dest / ip_vs_unbind_dest set it")
    func overloadHysteresis() throws {
        var s = try ServiceScheduler(tcpService(.rr), servers: [server("10.0.1.1", upper: 4)])
        let k = s.key("10.0.1.1")
        for _ in 0..<3 { s.connectionBound(to: k) }
        #expect(s.destinations[0].overloaded == false)
        s.connectionBound(to: k)                                  // totalconns == u: set
        #expect(s.destinations[0].overloaded)
        s.connectionUnbound(from: k, wasActive: false)            // from 4, l_threshold_val is 4 - 1 = 3: kept
        #expect(s.destinations[0].overloaded)
        s.connectionUnbound(from: k, wasActive: false)            // from 3 == l_threshold_val: 2 < 4, cleared
        #expect(s.destinations[0].overloaded == false)

        var t = try ServiceScheduler(tcpService(.rr), servers: [server("10.0.1.1", upper: 4, lower: 2)])
        for _ in 0..<4 { t.connectionBound(to: k) }
        t.connectionUnbound(from: k, wasActive: false)            // from 4
        t.connectionUnbound(from: k, wasActive: false)            // from 3
        #expect(t.destinations[0].overloaded)
        t.connectionUnbound(from: k, wasActive: false)            // from 2 == l_threshold_val: cleared
        #expect(t.destinations[0].overloaded == false)
    }

    @Test("A threshold edit re-evaluates the overload flag (__ip_vs_update_dest, mode 0); an unchanged one does not")
    func thresholdEditClearsOverload() throws {
        var s = try ServiceScheduler(tcpService(.rr), servers: [server("10.0.1.1", upper: 1)])
        s.connectionBound(to: s.key("10.0.1.1"))
        #expect(s.destinations[0].overloaded)
        try s.editDestination(server("10.0.1.1", upper: 1))       // same threshold: stays overloaded
        #expect(s.destinations[0].overloaded)
        try s.editDestination(server("10.0.1.1", upper: 2))       // l_threshold_val 2: 1 < 2, cleared
        #expect(s.destinations[0].overloaded == false)
    }

    @Test("Connections start inactive and move to active when established")
    func activity() throws {
        var s = try ServiceScheduler(tcpService(.lc), servers: [server("10.0.1.1")])
        let k = s.key("10.0.1.1")
        s.connectionBound(to: k)
        #expect((s.destinations[0].activeConnections, s.destinations[0].inactiveConnections) == (0, 1))
        s.connectionChangedActivity(on: k, nowActive: true)
        #expect((s.destinations[0].activeConnections, s.destinations[0].inactiveConnections) == (1, 0))
        s.connectionBound(to: k, isTemplate: true)
        #expect(s.destinations[0].persistentConnections == 1)
        s.connectionUnbound(from: k, wasActive: true)
        #expect(s.destinations[0].totalConnections == 0)
    }

    @Test("A deleted destination keeps its counters in the trash and gets them back when re-added")
    func trash() throws {
        var s = try ServiceScheduler(tcpService(.lc), servers: [server("10.0.1.1"), server("10.0.1.2")])
        let k = s.key("10.0.1.1")
        s.connectionBound(to: k)
        s.connectionChangedActivity(on: k, nowActive: true)
        try s.removeDestination(k)
        #expect(s.trash[k]?.activeConnections == 1)
        s.connectionBound(to: k)                                  // a connection still bound to it changes too
        try s.addDestination(server("10.0.1.1", weight: 3))
        #expect(s.destinations[0].key == k)                       // back at the head
        #expect(s.destinations[0].activeConnections == 1 && s.destinations[0].inactiveConnections == 1)
        #expect(s.destinations[0].weight == 3)
        #expect(s.trash.isEmpty)
    }

    @Test("last_weight keeps the latest non-zero weight")
    func lastWeight() throws {
        var s = try ServiceScheduler(tcpService(.mh), servers: [server("10.0.1.1", weight: 5)])
        try s.editDestination(server("10.0.1.1", weight: 0))
        #expect(s.destinations[0].lastWeight == 5)
        try s.editDestination(server("10.0.1.1", weight: 2))
        #expect(s.destinations[0].lastWeight == 2)
        try s.addDestination(server("10.0.1.2", weight: 0))
        #expect(s.destinations[0].lastWeight == 0)
    }

    @Test("Changing the scheduler starts the new one over the current list")
    func schedulerChange() throws {
        var s = try ServiceScheduler(tcpService(.rr), servers: [server("10.0.1.1"), server("10.0.1.2")])
        s.setCounters(of: s.key("10.0.1.2"), active: 5, inactive: 0)
        #expect(s.next() == "10.0.1.2")
        try s.editService(tcpService(.lc))
        #expect(s.scheduler.kind == .lc)
        #expect(s.next() == "10.0.1.1")
    }
}
