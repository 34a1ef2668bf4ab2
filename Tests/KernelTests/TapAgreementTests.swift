import Foundation
import IPVSCore
import IPVSNetlink
import IPVSTap
import Testing

/// The pcap tap's verifier on real traffic: one topology of namespaces (100 client addresses, a director, five real
/// servers of our own that answer with their identity), one virtual service per scenario on the director, and for
/// each scenario `connectionsPerScenario` TCP connections (1 000 by default) made by our own non-blocking client
/// (`TCPBulkClient`: connect, read the identity, close), all scenarios at once from one thread, each with up to
/// `window` connections in flight. Every connection's real server, as the tap saw it forwarded and as the real
/// server itself reported it, must be the one IPVSCore predicts for the kernel's table at that moment — including
/// mid-run table changes (a destination added, one drained) — for 100% agreement per scheduler.
///
/// Ordering: the client thread and the real servers' threads are pinned to CPU 0, so every packet crosses the
/// director on CPU 0, one after the other, in the order the tap captures them; the capture runs on the other CPU.
/// The verifier replays the capture with every packet through the kernel's TCP state machine (lc and wlc read the
/// active and inactive counters that it moves). The schedulers that read no counter are also checked on the
/// client's own record alone (connect order and the identity answered), without the capture.
@Suite("Tap: the kernel's choices on real TCP traffic agree with IPVSCore", .kernelIPVS, .tags(.kernelIPVS))
struct TapAgreementTests {
    struct Change: Sendable {
        /// Applied after this many of the scenario's connections.
        var after: Int
        /// ipvsadm arguments, e.g. ["-e", "-t", "VIP:80", "-r", "RS:80", "-m", "-w", "0"].
        var ipvsadm: [String]
    }

    struct Scenario: Sendable {
        var name: String
        var scheduler: SchedulerKind
        /// ipvsadm -b flags.
        var schedulerFlags: [String] = []
        var persistence: UInt32? = nil
        /// Weights of real servers 0, 1, 2, 3 (real server 4 is kept for additions).
        var weights: [Int32]
        var virtualAddresses: [String]
        var changes: [Change] = []
        var connections = TapAgreementTests.connectionsPerScenario
        var window = TapAgreementTests.window

        /// lc and wlc read the counters, which connections in flight move: only the tracked capture checks them.
        var readsCounters: Bool { scheduler == .lc || scheduler == .wlc }
    }

    /// Connections per scenario: 1 000 (10 000 in all, from 100 client addresses; changes come at 40% and 70% of
    /// them). `TAP_AGREEMENT_CONNECTIONS=N` for a quicker look.
    static let connectionsPerScenario =
        ProcessInfo.processInfo.environment["TAP_AGREEMENT_CONNECTIONS"].flatMap { Int($0) } ?? 1000
    /// Connections in flight per scenario (`TAP_AGREEMENT_WINDOW`; 1: one after the other).
    static let window = ProcessInfo.processInfo.environment["TAP_AGREEMENT_WINDOW"].flatMap { Int($0) } ?? 16

    /// Progress on stderr, unbuffered: the VM is slow and a stuck step should show where it is.
    static func progress(_ line: String) {
        FileHandle.standardError.write(Data("tap-agreement: \(line)\n".utf8))
    }

    /// What the verifier needs of the director's traffic: every client packet to a virtual address, every packet
    /// from a real server (the state machine's both directions), and of the forwarded copies only the SYN, which
    /// names the real server (the rest would double the frames for nothing).
    static let captureFilter = "tcp and (dst net 10.96.0.0/16 or src net 10.2.0.0/16 or "
        + "(dst net 10.2.0.0/16 and tcp[tcpflags] & tcp-syn != 0))"

    static let clientCount = 100
    static let realServerCount = 5
    static func clientAddress(_ i: Int) -> String { "10.1.\(i / 200).\(i % 200 + 1)" }
    static func realServerAddress(_ i: Int) -> String { "10.2.\(i).2" }

    static func vip(_ s: Int) -> String { "10.96.0.\(s + 1)" }

    static func scenarios() -> [Scenario] {
        // Mid-run: real server 4 added (weight 2) after 40% of the connections, real server 0 drained to weight 0
        // after 70%.
        func changes(_ v: Int) -> [Change] {
            let service = ["-t", vip(v) + ":80"]
            return [
                Change(after: connectionsPerScenario * 4 / 10,
                       ipvsadm: ["-a"] + service + ["-r", realServerAddress(4) + ":80", "-m", "-w", "2"]),
                Change(after: connectionsPerScenario * 7 / 10,
                       ipvsadm: ["-e"] + service + ["-r", realServerAddress(0) + ":80", "-m", "-w", "0"]),
            ]
        }
        return [
            Scenario(name: "rr", scheduler: .rr, weights: [1, 1, 1, 1], virtualAddresses: [vip(0)]),
            Scenario(name: "wrr, server added + drained", scheduler: .wrr, weights: [4, 3, 2, 1],
                     virtualAddresses: [vip(1)], changes: changes(1)),
            Scenario(name: "lc", scheduler: .lc, weights: [1, 1, 1, 1], virtualAddresses: [vip(2)]),
            Scenario(name: "wlc, server added + drained", scheduler: .wlc, weights: [1, 2, 3, 4],
                     virtualAddresses: [vip(3)], changes: changes(3)),
            Scenario(name: "sh", scheduler: .sh, weights: [1, 2, 1, 3], virtualAddresses: [vip(4)]),
            Scenario(name: "sh with sh-port", scheduler: .sh, schedulerFlags: ["sh-port"], weights: [1, 2, 1, 3],
                     virtualAddresses: [vip(5)]),
            Scenario(name: "dh (20 VIPs)", scheduler: .dh, weights: [1, 1, 2, 1],
                     virtualAddresses: (0..<20).map { "10.96.1.\($0 + 1)" }),
            Scenario(name: "mh", scheduler: .mh, weights: [1, 2, 3, 1], virtualAddresses: [vip(7)]),
            Scenario(name: "mh with mh-port", scheduler: .mh, schedulerFlags: ["mh-port"], weights: [2, 1, 1, 3],
                     virtualAddresses: [vip(8)]),
            Scenario(name: "ClientIP affinity (rr -p), added + drained", scheduler: .rr, persistence: 10800,
                     weights: [1, 1, 1, 1], virtualAddresses: [vip(9)], changes: changes(9)),
        ]
    }

    /// Scenario `si`'s connections: client addresses in turn, a source port per round over them.
    static func plan(_ s: Scenario, _ si: Int) -> [TCPIdentityClient.Connection] {
        (0..<s.connections).map { k in
            TCPIdentityClient.Connection(
                client: clientAddress(k % clientCount),
                clientPort: UInt16(20000 + si * 50 + k / clientCount),
                virtualAddress: s.virtualAddresses[(k * 7 + k / 3) % s.virtualAddresses.count],
                virtualPort: 80)
        }
    }

    final class TrafficBox: @unchecked Sendable {
        // @unchecked: written by the client thread, read after it is joined.
        var results: [[TCPIdentityClient.Result]] = []
        var changes: [TimedTableChange] = []
        var failures: [String] = []
        var clientCPU = 0.0
    }

    /// The table change of scenario `s` due before its connection `index`: made with ipvsadm, then what it did to
    /// the kernel's table (this scenario's services only), read back and diffed: the verifier's event.
    static func change(_ s: Scenario, before index: Int, director: NetworkNamespace, into box: TrafficBox) throws
        -> [TimedTableChange]
    {
        guard let change = s.changes.first(where: { $0.after == index }) else { return [] }
        let keys = Set(s.virtualAddresses.map { ServiceKey.address(.tcp, IPAddress($0)!, port: 80) })
        let before = try KernelTableSnapshot.read(networkNamespace: director.path)
            .filter { keys.contains($0.service.key) }
        try director.check(Tool.ipvsadm, change.ipvsadm)
        let after = try KernelTableSnapshot.read(networkNamespace: director.path)
            .filter { keys.contains($0.service.key) }
        let time = CaptureTime(nanoseconds: TCPIdentityClient.now())
        let diff = TableChange.changes(from: before, to: after)
        if diff.count != 1 { box.failures.append("ipvsadm \(change.ipvsadm.joined(separator: " ")) changed \(diff)") }
        let timed = diff.map { TimedTableChange(time: time, change: $0) }
        box.changes += timed
        return timed
    }

    @Test("Every scheduler on real TCP traffic: 100% agreement, table changes applied mid-run")
    func agreementOnRealTraffic() throws {
        let started = ContinuousClock.now
        let scenarios = Self.scenarios()
        let namespaces = try NetworkNamespace.create(
            ["tcl", "tdir"] + (0..<Self.realServerCount).map { "trs\($0)" })
        let (client, director) = (namespaces[0], namespaces[1])
        let realServers = Array(namespaces[2...])
        try buildTopology(client: client, director: director, realServers: realServers, scenarios: scenarios)
        let servers = try realServers.enumerated().map { i, ns in
            try IdentityTCPServer(in: ns, address: Self.realServerAddress(i), identity: Self.realServerAddress(i),
                                  pinnedTo: 0)
        }
        defer { for s in servers { s.stop() } }

        var rules: [String] = []
        for s in scenarios {
            for v in s.virtualAddresses {
                var line = "-A -t \(v):80 -s \(s.scheduler)"
                if !s.schedulerFlags.isEmpty { line += " -b \(s.schedulerFlags.joined(separator: ","))" }
                if let p = s.persistence { line += " -p \(p)" }
                rules.append(line)
                for (i, w) in s.weights.enumerated() {
                    rules.append("-a -t \(v):80 -r \(Self.realServerAddress(i)):80 -m -w \(w)")
                }
            }
        }
        try director.ipvsadm(restore: rules)
        Self.progress("topology, \(servers.count) identity servers and \(rules.count) rules ready")
        let setUp = ContinuousClock.now - started

        // The table as the kernel has it, read back through netlink: the verifier's starting point.
        let table = try KernelTableSnapshot.read(networkNamespace: director.path)
        #expect(table.count == scenarios.map(\.virtualAddresses.count).reduce(0, +))

        // The tap captures on the director throughout, and verifies as it captures (on its own thread): every
        // real server of the topology is watched for every service (real server 4 is added mid-run).
        let everyServer = (0..<Self.realServerCount).map {
            RealServer(IPAddress(Self.realServerAddress($0))!, port: 80, forwarding: .masquerade)
        }
        let capture = try TapCapture(in: director, services: table.map {
            WatchedService($0.service, realServers: everyServer)
        }, table: table, filter: Self.captureFilter)

        // Every scenario at once, from one thread pinned to CPU 0 (as the servers are).
        let box = TrafficBox()
        var streams = scenarios.enumerated().map { si, s in
            TCPBulkClient.Stream(connections: Self.plan(s, si), window: s.window, pauses: s.changes.map(\.after))
        }
        // lc and wlc first, on their own: they read the counters, which connections leave as they expire (TIME_WAIT,
        // 120 s after their last packet). The kernel's timer wheel expires them up to a few seconds late, which no
        // model can follow to the jiffy: a scenario whose connections all come within 120 s of its first sees none
        // expire.
        for (si, s) in scenarios.enumerated() where !s.readsCounters { streams[si].stage = 1 }
        let plannedStreams = streams
        try NamespaceThread.run(in: client.path, pinnedTo: 0) {
            do {
                let before = Self.threadCPU()
                box.results = try TCPBulkClient.run(plannedStreams) { si, index in
                    for c in try Self.change(scenarios[si], before: index, director: director, into: box) {
                        capture.post(c)
                    }
                }
                box.clientCPU = Self.threadCPU() - before
                return nil
            } catch {
                return "\(error)"
            }
        }
        let trafficTime = ContinuousClock.now - started - setUp
        Self.progress("\(streams.map(\.connections.count).reduce(0, +)) connections in \(trafficTime); the client "
                      + String(format: "thread's CPU time (user and system) %.1f s", box.clientCPU))
        var failures = box.failures
        var observed: [ObservedConnection] = []
        for r in box.results.joined() {
            if let e = r.error { failures.append(e) }
            observed.append(ObservedConnection(
                firstSeen: CaptureTime(nanoseconds: r.startedNanoseconds), transport: .tcp,
                client: IPAddress(r.connection.client)!, clientPort: r.connection.clientPort,
                virtualAddress: IPAddress(r.connection.virtualAddress)!, virtualPort: 80,
                realServer: r.identity.flatMap { IPAddress($0) }, realPort: r.identity == nil ? nil : 80,
                forwarding: .masquerade))
        }
        observed.sort { $0.firstSeen < $1.firstSeen }
        let changes = box.changes
        #expect(failures.isEmpty, Comment(rawValue: "\(failures.count) failures: \(failures.prefix(5))"))
        #expect(changes.count == scenarios.map(\.changes.count).reduce(0, +))
        for (si, s) in scenarios.enumerated() where s.readsCounters {
            let starts = box.results[si].map(\.startedNanoseconds)
            let span = Double(starts.max()! - starts.min()!) / 1e9
            Self.progress(String(format: "\(s.name): \(starts.count) connections within %.1f s", span))
            #expect(span < 115, Comment(rawValue: String(format: "\(s.name): connections over %.1f s: the first "
                + "ones expired (TIME_WAIT 120 s) during the run, on the kernel's timer wheel", span)))
        }
        var phase = ContinuousClock.now
        let captured = try capture.stop()
        Self.progress("capture and verification finished \(ContinuousClock.now - phase) after the traffic: "
                      + "\(captured.frames) frames, \(captured.events) events")

        // What the tap saw on the wire, verified with the kernel's state machine fed every captured packet.
        let tapReport = captured.report
        print("Agreement of the tap's capture with IPVSCore (every packet through the kernel's state machine):")
        print(Self.agreementTable(scenarios, tapReport,
                                  clients: box.results.map { Set($0.map(\.connection.client)).count }))
        print("set-up \(setUp), \(observed.count) connections in \(trafficTime) (one client thread, window "
              + "\(Self.window) per scheduler), \(changes.count) table changes")
        let stats = captured.tracker.statistics
        print("tap: \(captured.frames) frames (\(captured.kernelDropped) dropped by the kernel), "
              + "\(stats.newConnections) connections, \(stats.forwardedPackets) forwarded copies, "
              + "\(stats.unmatchedForwarded) unmatched; verified (tracked states): \(tapReport.summary.matched) agree, "
              + "\(tapReport.summary.mismatched) disagree, \(tapReport.summary.notForwarded) not seen forwarded")
        #expect(captured.kernelDropped == 0)
        #expect(captured.refusedChanges.isEmpty, "\(captured.refusedChanges)")
        #expect(tapReport.summary.connections == observed.count)
        #expect(tapReport.summary.noService == 0)
        #expect(tapReport.summary.notForwarded == 0)
        #expect(tapReport.summary.mismatched == 0, Comment(rawValue: tapReport.text(maximumListed: 10)))
        #expect(tapReport.summary.unexplainedPersistenceViolations == 0)
        #expect(tapReport.tableChanges.count == changes.count)
        let tapPassed = tapReport.passed
        #expect(tapPassed)
        for (si, s) in scenarios.enumerated() {
            let clients = Set(box.results[si].map(\.connection.client)).count
            #expect(clients >= min(50, s.connections), "\(s.name): \(clients) client addresses")
        }
        // And the tap's real server is, connection by connection, the one that answered the client: the capture
        // and the real servers' own word agree.
        struct Source: Hashable {
            var client: IPAddress
            var port: UInt16
        }
        let answered = Dictionary(observed.map { (Source(client: $0.client, port: $0.clientPort), $0.realServer) },
                                  uniquingKeysWith: { a, _ in a })
        let differing = captured.tracker.connections.filter {
            answered[Source(client: $0.client, port: $0.clientPort)] != $0.realServer
        }
        #expect(captured.tracker.connections.count == observed.count)
        #expect(differing.isEmpty, "the tap and the real servers disagree on \(differing.count) connections")

        // The same traffic against a model with one wrong weight must disagree: the test can fail. wrr and mh read
        // no counter, so the client's own record (connect order, the identity answered) is enough to replay them.
        phase = ContinuousClock.now
        let perturbedKeys = Set(table.filter {
            $0.service.scheduler == .wrr || ($0.service.scheduler == .mh && $0.service.flags.isEmpty)
        }.map(\.service.key))
        let perturbed = table.filter { perturbedKeys.contains($0.service.key) }.map { snap -> ServiceSnapshot in
            var s = snap
            s.destinations[0].server.weight += 1
            return s
        }
        let perturbedAddresses = Set(perturbedKeys.compactMap { k -> IPAddress? in
            if case .address(_, let a, _) = k { return a } else { return nil }
        })
        let theirs = observed.filter { perturbedAddresses.contains($0.virtualAddress) }
        let wrong = try Verifier.verify(theirs, table: perturbed, changes: changes.filter {
            perturbedKeys.contains($0.change.serviceKey)
        }, options: VerifierOptions(recordEveryConnection: false))
        let wrongServices = Set(wrong.mismatches.compactMap(\.service))
        #expect(wrong.summary.mismatched > 0, "a wrong weight went unnoticed")
        #expect(wrongServices.isSubset(of: perturbedKeys), "mismatches only where the model was changed")
        Self.progress("negative control in \(ContinuousClock.now - phase)")
        print("with one weight off by one on the wrr and mh (no flags) services: \(wrong.summary.mismatched) of "
              + "\(wrong.summary.checked) of their connections disagree, in \(wrongServices.count) services")
    }

    /// The calling thread's CPU time so far, in seconds (CLOCK_THREAD_CPUTIME_ID).
    static func threadCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// One line per scenario: connections, client addresses, agreement, and per real server kernel / IPVSCore counts.
    static func agreementTable(_ scenarios: [Scenario], _ report: VerificationReport, clients: [Int]) -> String {
        var rows = [["Scheduler", "Connections", "Clients", "Agree", "Disagree", "Unseen", "Agreement",
                     "Per real server (kernel/IPVSCore)"]]
        for (si, s) in scenarios.enumerated() {
            let keys = Set(s.virtualAddresses.map { ServiceKey.address(.tcp, IPAddress($0)!, port: 80) })
            let services = report.services.filter { keys.contains($0.key) }
            let connections = services.map(\.connections).reduce(0, +)
            let matched = services.map(\.matched).reduce(0, +)
            let mismatched = services.map(\.mismatched).reduce(0, +)
            let unseen = services.map(\.notForwarded).reduce(0, +)
            var perServer: [String: (Int, Int)] = [:]
            for svc in services {
                for d in svc.destinations {
                    let name = String(d.destination.address.description.split(separator: ".")[2])
                    perServer["rs\(name)", default: (0, 0)].0 += d.observed
                    perServer["rs\(name)", default: (0, 0)].1 += d.predicted
                }
            }
            let spread = perServer.keys.sorted().map { "\($0) \(perServer[$0]!.0)/\(perServer[$0]!.1)" }
            let checked = matched + mismatched
            let pct = checked == 0 ? "n/a" : String(format: "%.2f%%", 100 * Double(matched) / Double(checked))
            rows.append([s.name, String(connections), String(clients[si]), String(matched), String(mismatched),
                         String(unseen), pct, spread.joined(separator: "  ")])
        }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        return rows.map { r in
            r.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// clients (100 addresses) ──veth── director (virtual addresses on a dummy device) ──veth── real server i
    /// (10.2.i.2, routing back through the director, as NAT needs).
    func buildTopology(client: NetworkNamespace, director: NetworkNamespace, realServers: [NetworkNamespace],
                       scenarios: [Scenario]) throws {
        var directorBatch = [
            "link set lo up",
            "link add cl type veth peer name eth0 netns \(client.name)",
            "address add 10.1.255.254/16 dev cl",
            "link set cl up",
            "link add vips type dummy",
            "link set vips up",
        ]
        for s in scenarios {
            for v in s.virtualAddresses { directorBatch.append("address add \(v)/32 dev vips") }
        }
        for (i, rs) in realServers.enumerated() {
            directorBatch += [
                "link add rs\(i) type veth peer name eth0 netns \(rs.name)",
                "address add 10.2.\(i).1/24 dev rs\(i)",
                "link set rs\(i) up",
            ]
        }
        try director.ip(batch: directorBatch)
        try director.setSysctl("net.ipv4.ip_forward", "1")

        var clientBatch = ["link set lo up", "address add 10.1.255.1/16 dev eth0", "link set eth0 up"]
        for i in 0..<Self.clientCount { clientBatch.append("address add \(Self.clientAddress(i))/16 dev eth0") }
        clientBatch.append("route add 10.96.0.0/16 via 10.1.255.254")
        try client.ip(batch: clientBatch)
        for (i, rs) in realServers.enumerated() {
            try rs.ip(batch: [
                "link set lo up",
                "address add \(Self.realServerAddress(i))/24 dev eth0",
                "link set eth0 up",
                "route add default via 10.2.\(i).1",
            ])
        }
        try waitUntil("the client namespace routes to the virtual addresses", timeout: .seconds(60)) {
            try client.run(Tool.ip, ["-4", "route", "get", "10.96.0.1"]).status == 0
        }
    }
}
