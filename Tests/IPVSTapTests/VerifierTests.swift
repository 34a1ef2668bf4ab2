import Foundation
import IPVSCore
import IPVSTap
import Testing

/// The verifier on synthetic capture streams: the "kernel's" choices below are worked out by hand from the kernel's
/// algorithms (ip_vs_rr.c, ip_vs_wrr.c, ip_vs_wlc.c, ip_vs_core.c `ip_vs_sched_persist`), never by IPVSCore, so a
/// stream that must agree proves the verifier's bookkeeping and one that must not proves it reports what differs.
@Suite("Verifier: kernel choices against IPVSCore's predictions")
struct VerifierTests {
    static let vip = IPAddress("10.96.0.1")!
    static let serviceKey = ServiceKey.address(.tcp, vip, port: 80)

    static func rs(_ last: Int, weight: Int32 = 1, port: UInt16 = 8080) -> RealServer {
        RealServer(IPAddress("10.0.0.\(last)")!, port: port, forwarding: .masquerade, weight: weight)
    }

    static func snapshot(_ scheduler: SchedulerKind, _ servers: [RealServer], persistence: UInt32? = nil)
        -> ServiceSnapshot
    {
        let service = VirtualService(serviceKey, scheduler: scheduler, flags: persistence == nil ? [] : .persistent,
                                     persistenceTimeout: persistence ?? 0)
        return ServiceSnapshot(service: service, destinations: servers.map { DestinationState($0) })
    }

    /// Connection `i` from client 10.1.0.(client), at `seconds`, which the kernel sent to 10.0.0.(server).
    static func conn(_ i: Int, client: Int? = nil, server: Int?, at seconds: Double? = nil,
                     port: UInt16 = 8080) -> ObservedConnection {
        ObservedConnection(
            firstSeen: CaptureTime(nanoseconds: UInt64((seconds ?? Double(i)) * 1e9)), transport: .tcp,
            client: IPAddress("10.1.0.\(client ?? (i % 50 + 1))")!, clientPort: UInt16(30000 + i),
            virtualAddress: vip, virtualPort: 80,
            realServer: server.map { IPAddress("10.0.0.\($0)")! }, realPort: server == nil ? nil : port,
            forwarding: .masquerade, packets: 5, bytes: 400)
    }

    static func stream(_ servers: [Int], start: Int = 0) -> [ObservedConnection] {
        servers.enumerated().map { conn(start + $0.offset, server: $0.element) }
    }

    @Test("rr: the kernel's cycle from the head agrees connection by connection")
    func roundRobinAgrees() throws {
        // List head first: .1, .2, .3 — rr starts at the head and walks on.
        let table = [Self.snapshot(.rr, [Self.rs(1), Self.rs(2), Self.rs(3)])]
        let report = try Verifier.verify(Self.stream(Array(repeating: [1, 2, 3], count: 10).flatMap { $0 }),
                                         table: table)
        #expect(report.passed)
        #expect(report.summary.matched == 30 && report.summary.mismatched == 0)
        #expect(report.summary.agreement == 1)
        let rows = report.services[0].destinations
        #expect(rows.map(\.observed) == [10, 10, 10])
        #expect(rows.map(\.predicted) == [10, 10, 10])
        #expect(rows.map(\.expectedByWeight) == [10, 10, 10])
    }

    @Test("rr: one connection sent elsewhere is reported as the mismatch it is, with both choices")
    func roundRobinMismatch() throws {
        let table = [Self.snapshot(.rr, [Self.rs(1), Self.rs(2), Self.rs(3)])]
        var servers = Array(repeating: [1, 2, 3], count: 4).flatMap { $0 }
        servers[4] = 3  // the kernel "chose" .3 where rr gives .2
        let report = try Verifier.verify(Self.stream(servers), table: table)
        #expect(!report.passed)
        #expect(report.summary.mismatched >= 1)
        let first = try #require(report.mismatches.first)
        #expect(first.index == 4)
        #expect(first.predicted == DestinationKey(address: IPAddress("10.0.0.2")!, port: 8080))
        #expect(first.connection.realServer == IPAddress("10.0.0.3")!)
        #expect(report.text().contains("FAIL"))
        #expect(report.text().contains("#4 "))
    }

    @Test("NAT: the right address on the wrong port is a mismatch")
    func natPortMatters() throws {
        let table = [Self.snapshot(.rr, [Self.rs(1), Self.rs(2)])]
        let report = try Verifier.verify([Self.conn(0, server: 1), Self.conn(1, server: 2, port: 9999)], table: table)
        #expect(report.summary.matched == 1)
        #expect(report.summary.mismatched == 1)
    }

    @Test("wrr 3:1 built by additions: .1 .2 at cw 1, then .1 .1 .1 .2 repeats")
    func weightedRoundRobin() throws {
        let table = [Self.snapshot(.wrr, [Self.rs(1, weight: 3), Self.rs(2, weight: 1)])]
        let good = [1, 2] + Array(repeating: [1, 1, 1, 2], count: 4).flatMap { $0 } + [1, 1]
        let report = try Verifier.verify(Self.stream(good), table: table)
        #expect(report.passed, Comment(rawValue: report.text()))
        #expect(report.services[0].destinations.map(\.expectedByWeight) == [15, 5])
        // Plain alternation has the right servers and the wrong order and shares.
        let bad = Array(repeating: [1, 2], count: 10).flatMap { $0 }
        let failed = try Verifier.verify(Self.stream(bad), table: table)
        #expect(!failed.passed)
        #expect(failed.mismatches.first?.index == 3)  // .1 .2 .1 agree, then .2 where wrr gives .1
    }

    @Test("wrr's start state: a table built by additions leaves cw at 1, not at the largest weight")
    func weightedRoundRobinStartState() throws {
        // Added .1 (4), .2 (3), .3 (2), .4 (1): the list is .4 .3 .2 .1. ip_vs_wrr_dest_changed keeps cw: it is 1 from
        // the empty service's init (mw = 0 - (0 - 1)), stays 1 while weights come in, so the walk starts with cw 1.
        let table = [Self.snapshot(.wrr, [Self.rs(4, weight: 1), Self.rs(3, weight: 2), Self.rs(2, weight: 3),
                                          Self.rs(1, weight: 4)])]
        let kernel = [4, 3, 2, 1, /* cw 4 */ 1, /* cw 3 */ 2, 1, /* cw 2 */ 3, 2, 1, /* cw 1 */ 4, 3, 2, 1]
        let replayed = try Verifier.verify(Self.stream(kernel), table: table)
        #expect(replayed.passed, Comment(rawValue: replayed.text()))
        // Initialised over the finished list, wrr starts at cw 4 and disagrees from the first connection.
        let fresh = try Verifier.verify(Self.stream(kernel), table: table,
                                        options: VerifierOptions(startState: .freshOverList))
        #expect(fresh.mismatches.first?.index == 0)
        #expect(try Verifier.verify(Self.stream([1, 2, 1, 3, 2, 1, 4, 3, 2, 1]), table: table,
                                    options: VerifierOptions(startState: .freshOverList)).passed)
    }

    @Test("Table changes apply at their time: an added destination and a drained one")
    func tableChangesMidRun() throws {
        let table = [Self.snapshot(.rr, [Self.rs(1), Self.rs(2)])]
        // rr: .1, .2; then .3 is added at the head: the cursor (on .2) wraps to .3, then .1, .2; then .1 is drained
        // to weight 0 and rr skips it: .3, .2, .3, .2.
        let servers = [1, 2, 3, 1, 2, 3, 2, 3, 2]
        let changes = [
            TimedTableChange(time: CaptureTime(nanoseconds: 1_500_000_000),
                             change: .addDestination(Self.serviceKey, Self.rs(3))),
            TimedTableChange(time: CaptureTime(nanoseconds: 4_500_000_000),
                             change: .editDestination(Self.serviceKey, Self.rs(1, weight: 0))),
        ]
        let report = try Verifier.verify(Self.stream(servers), table: table, changes: changes)
        #expect(report.passed, Comment(rawValue: report.text()))
        #expect(report.tableChanges.map(\.beforeConnection) == [2, 5])
        let rows = report.services[0].destinations
        #expect(rows.map(\.destination.address.description) == ["10.0.0.3", "10.0.0.1", "10.0.0.2"])
        #expect(rows.map(\.weight) == [1, 0, 1])
        #expect(rows.map(\.observed) == [3, 2, 4])

        // Without the changes the same capture disagrees from the third connection on.
        let stale = try Verifier.verify(Self.stream(servers), table: table)
        #expect(!stale.passed)
        #expect(stale.mismatches.first?.index == 2)
        // And a change applied too late disagrees too.
        let late = try Verifier.verify(
            Self.stream(servers), table: table,
            changes: [TimedTableChange(time: CaptureTime(nanoseconds: 3_500_000_000),
                                       change: .addDestination(Self.serviceKey, Self.rs(3)))])
        #expect(late.mismatches.first?.index == 2)
    }

    @Test("A deleted destination: its name stays in the report, marked deleted, and rr no longer picks it")
    func deletedDestination() throws {
        let table = [Self.snapshot(.rr, [Self.rs(1), Self.rs(2), Self.rs(3)])]
        let changes = [TimedTableChange(time: CaptureTime(nanoseconds: 1_500_000_000),
                                        change: .deleteDestination(Self.serviceKey, Self.rs(3).key))]
        // .1, .2, then .3 is gone: .1, .2, .1.
        let report = try Verifier.verify(Self.stream([1, 2, 1, 2, 1]), table: table, changes: changes)
        #expect(report.passed, Comment(rawValue: report.text()))
        let deleted = try #require(report.services[0].destinations.last)
        #expect(deleted.destination.address == IPAddress("10.0.0.3")!)
        #expect(!deleted.inTable)
        #expect(report.text().contains("(deleted)"))
    }

    @Test("A change the kernel would refuse is refused, and the model is unchanged")
    func refusedChange() throws {
        var verifier = try Verifier(table: [Self.snapshot(.rr, [Self.rs(1)])])
        #expect(throws: VerifierError.self) {
            try verifier.apply(.addDestination(Self.serviceKey, Self.rs(1)), at: CaptureTime(nanoseconds: 0))
        }
        #expect(throws: VerifierError.self) {
            try verifier.apply(.editDestination(.address(.udp, Self.vip, port: 53), Self.rs(1)),
                               at: CaptureTime(nanoseconds: 0))
        }
        #expect(verifier.report().tableChanges.isEmpty)
        #expect(verifier.model(of: Self.serviceKey)?.destinations.count == 1)
    }

    @Test("Persistence: a client sent to another server within the timeout is a mismatch and a violation")
    func persistenceViolation() throws {
        let table = [Self.snapshot(.rr, [Self.rs(1), Self.rs(2)], persistence: 300)]
        // Client 7 → .1 (rr's first), client 8 → .2, client 7 again: its template holds → .1.
        let good = [Self.conn(0, client: 7, server: 1), Self.conn(1, client: 8, server: 2),
                    Self.conn(2, client: 7, server: 1), Self.conn(3, client: 8, server: 2)]
        let ok = try Verifier.verify(good, table: table)
        #expect(ok.passed)
        #expect(ok.persistenceViolations.isEmpty)

        var bad = good
        bad[2] = Self.conn(2, client: 7, server: 2)
        let report = try Verifier.verify(bad, table: table)
        #expect(!report.passed)
        #expect(report.summary.unexplainedPersistenceViolations == 1)
        let v = try #require(report.persistenceViolations.first)
        #expect(v.client == IPAddress("10.1.0.7")!)
        #expect(v.previous.address == IPAddress("10.0.0.1")! && v.current.address == IPAddress("10.0.0.2")!)
        #expect(!v.explainedByModel)
        #expect(report.text().contains("VIOLATION"))
    }

    @Test("Persistence: a template whose server was deleted lets the client move, and the move is explained")
    func persistenceAfterDeletion() throws {
        let table = [Self.snapshot(.rr, [Self.rs(1), Self.rs(2)], persistence: 300)]
        let changes = [TimedTableChange(time: CaptureTime(nanoseconds: 1_500_000_000),
                                        change: .deleteDestination(Self.serviceKey, Self.rs(1).key))]
        // Client 7 → .1; .1 is deleted; client 7 comes back: ip_vs_check_template drops the template → .2.
        let report = try Verifier.verify([Self.conn(0, client: 7, server: 1), Self.conn(2, client: 7, server: 2)],
                                         table: table, changes: changes)
        #expect(report.passed, Comment(rawValue: report.text()))
        #expect(report.persistenceViolations.count == 1)
        #expect(report.persistenceViolations.first?.explainedByModel == true)
    }

    @Test("Persistence: after the template expires (its connections ended) the client is scheduled afresh")
    func persistenceExpiry() throws {
        var verifier = try Verifier(table: [Self.snapshot(.rr, [Self.rs(1), Self.rs(2), Self.rs(3)],
                                                          persistence: 60)])
        let first = Self.conn(0, client: 7, server: 1, at: 0)
        verifier.observe(first)
        verifier.observe(Self.conn(1, client: 8, server: 2, at: 1))
        verifier.connectionEnded(Flow(.tcp, from: first.client, port: first.clientPort, to: Self.vip, port: 80),
                                 at: CaptureTime(nanoseconds: 2_000_000_000))
        // 100 s later the template (60 s) is gone: rr's next, .3, and no violation (beyond the timeout).
        #expect(verifier.observe(Self.conn(2, client: 7, server: 3, at: 100)).verdict == .match)
        let report = verifier.report()
        #expect(report.passed)
        #expect(report.persistenceViolations.isEmpty)
    }

    @Test("wlc: the lifecycle assumption decides the counters, and tracked packets follow the kernel's states")
    func leastConnectionLifecycle() throws {
        let table = [Self.snapshot(.wlc, [Self.rs(1), Self.rs(2)])]
        // c0 → .1 (tie: the head), c1 → .2. Then c1 is reset (RST: CLOSE, inactive) while c0 stays established:
        // .1 weighs (1 << 8) + 1 = 257, .2 weighs 1, so the kernel sends c2 to .2.
        let c0 = Self.conn(0, server: 1, at: 0), c1 = Self.conn(1, server: 2, at: 1), c2 = Self.conn(2, server: 2, at: 3)
        func flow(_ c: ObservedConnection) -> Flow {
            Flow(.tcp, from: c.client, port: c.clientPort, to: Self.vip, port: 80)
        }
        var tracked = try Verifier(table: table, options: VerifierOptions(lifecycle: .tracked(ProtocolTimeouts())))
        tracked.observe(c0)
        tracked.packet(of: flow(c0), direction: .output, event: TCPFlags([.syn, .ack]).rawValue,
                       at: CaptureTime(nanoseconds: 100))
        tracked.packet(of: flow(c0), direction: .input, event: TCPFlags.ack.rawValue, at: CaptureTime(nanoseconds: 200))
        tracked.observe(c1)
        // Established first (a reset in SYN_RECV leaves the kernel's entry in SYN_RECV), then reset.
        tracked.packet(of: flow(c1), direction: .output, event: TCPFlags([.syn, .ack]).rawValue,
                       at: CaptureTime(nanoseconds: 1_000_000_100))
        tracked.packet(of: flow(c1), direction: .input, event: TCPFlags.ack.rawValue,
                       at: CaptureTime(nanoseconds: 1_000_000_200))
        tracked.packet(of: flow(c1), direction: .input, event: TCPFlags.rst.rawValue,
                       at: CaptureTime(nanoseconds: 2_000_000_000))
        #expect(tracked.model(of: Self.serviceKey)?.destinations.map(\.activeConnections) == [1, 0])
        #expect(tracked.observe(c2).verdict == .match)

        // Assuming every connection inactive, .1 and .2 weigh 1 each and wlc would take the head: a mismatch.
        let assumed = try Verifier.verify([c0, c1, c2], table: table)
        #expect(assumed.mismatches.map(\.index) == [2])

        // And 10 s after the reset, CLOSE's timeout, c1 expires: .2 weighs 0.
        tracked.advance(to: CaptureTime(nanoseconds: 13_000_000_000))
        #expect(tracked.model(of: Self.serviceKey)?.destinations.map(\.totalConnections) == [1, 1])
    }

    @Test("Connections the capture never saw forwarded, or to no watched service, are counted, not checked")
    func uncheckedConnections() throws {
        let table = [Self.snapshot(.rr, [Self.rs(1), Self.rs(2)])]
        var other = Self.conn(2, server: 1)
        other.virtualPort = 443
        let report = try Verifier.verify([Self.conn(0, server: 1), Self.conn(1, server: nil), other,
                                          Self.conn(3, server: 1)], table: table)
        #expect(report.summary.notForwarded == 1)
        #expect(report.summary.noService == 1)
        // The unseen one still took rr's turn (.2), so the fourth is .1 again.
        #expect(report.summary.matched == 2)
        #expect(report.passed)
        let nothing = try Verifier.verify([Self.conn(0, server: nil)], table: table)
        #expect(!nothing.passed, "nothing checked is no pass")
    }

    @Test("The JSON report follows its schema")
    func jsonReport() throws {
        let table = [Self.snapshot(.rr, [Self.rs(1), Self.rs(2)], persistence: 300)]
        let changes = [TimedTableChange(time: CaptureTime(nanoseconds: 1_500_000_000),
                                        change: .addDestination(Self.serviceKey, Self.rs(3, weight: 2)))]
        let report = try Verifier.verify([Self.conn(0, client: 7, server: 1), Self.conn(2, client: 7, server: 2)],
                                         table: table, changes: changes)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
        #expect(object["schema"] as? String == "swift-ipvs/verify-report/1")
        #expect(object["passed"] as? Bool == false)
        #expect(object["lifecycle"] as? String == "inactive-until-end")
        #expect(object["startState"] as? String == "replay-additions")
        let summary = try #require(object["summary"] as? [String: Any])
        #expect(summary["connections"] as? Int == 2)
        #expect(summary["matched"] as? Int == 1)
        #expect(summary["mismatched"] as? Int == 1)
        #expect(summary["agreement"] as? Double == 0.5)
        #expect(summary["unexplainedPersistenceViolations"] as? Int == 1)
        let services = try #require(object["services"] as? [[String: Any]])
        #expect(services.first?["service"] as? String == "TCP 10.96.0.1:80")
        #expect(services.first?["persistenceTimeout"] as? Int == 300)
        let rows = try #require(services.first?["destinations"] as? [[String: Any]])
        #expect(rows.map { $0["address"] as? String } == ["10.0.0.3", "10.0.0.1", "10.0.0.2"])
        let changeList = try #require(object["tableChanges"] as? [[String: Any]])
        #expect(changeList.first?["kind"] as? String == "add-destination")
        #expect(changeList.first?["weight"] as? Int == 2)
        let connections = try #require(object["connections"] as? [[String: Any]])
        #expect(connections.map { $0["verdict"] as? String } == ["match", "mismatch"])
        let predicted = try #require(connections[1]["predicted"] as? [String: Any])
        #expect(predicted["address"] as? String == "10.0.0.1")
        #expect(connections[1]["firewallMark"] is NSNull)
        let violations = try #require(object["persistenceViolations"] as? [[String: Any]])
        #expect(violations.first?["explainedByModel"] as? Bool == false)
    }

    @Test("Re-reading the table: the changes between two reads, added destinations deepest first")
    func tableDiff() {
        let before = [Self.snapshot(.rr, [Self.rs(1), Self.rs(2)])]
        let after = [Self.snapshot(.rr, [Self.rs(4), Self.rs(3), Self.rs(1, weight: 0)]),
                     ServiceSnapshot(service: VirtualService(.address(.udp, Self.vip, port: 53)),
                                     destinations: [DestinationState(Self.rs(9))])]
        let changes = TableChange.changes(from: before, to: after)
        #expect(changes == [
            .deleteDestination(Self.serviceKey, Self.rs(2).key),
            .editDestination(Self.serviceKey, Self.rs(1, weight: 0)),
            .addDestination(Self.serviceKey, Self.rs(3)),
            .addDestination(Self.serviceKey, Self.rs(4)),
            .addService(VirtualService(.address(.udp, Self.vip, port: 53))),
            .addDestination(.address(.udp, Self.vip, port: 53), Self.rs(9)),
        ])
        // Applied to a verifier, they give the new list in the kernel's order.
        var verifier = try? Verifier(table: before)
        for c in changes { try? verifier?.apply(c, at: CaptureTime(nanoseconds: 0)) }
        #expect(verifier?.model(of: Self.serviceKey)?.destinations.map(\.server) == after[0].destinations.map(\.server))
    }
}
