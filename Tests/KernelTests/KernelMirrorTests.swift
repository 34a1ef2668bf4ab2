import CIPVSLinux
import Foundation
import Glibc
import IPVSCore
import IPVSNetlink
import Synchronization
import Testing

/// KernelMirror against the kernel: convergence, scope, idempotence, minimal changes, interrupted passes, drain,
/// and a 10 000-service table. Each test works in namespaces of its own.
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct KernelMirrorTests {
    static let scope = MirrorScope(
        networks: [.init(IPAddress("10.0.0.0")!, prefixLength: 16), .init(IPAddress("2001:db8::")!, prefixLength: 32)],
        firewallMarks: [1...99])

    static func tcp(_ i: Int, port: UInt16 = 80) -> VirtualService {
        VirtualService(
            .address(.tcp, .v4(IPv4Address(10, 0, UInt8(i >> 8), UInt8(i & 0xff))), port: port), scheduler: .wlc)
    }
    static func server(_ i: Int, weight: Int32 = 1) -> RealServer {
        RealServer(
            .v4(IPv4Address(10, 1, UInt8(i >> 8), UInt8(i & 0xff))), port: 8080, forwarding: .masquerade, weight: weight
        )
    }

    /// A mixed table: TCP with thresholds, a persistent IPv6 UDP service, a firewall mark with scheduler flags, a
    /// SIP persistence engine, a tunnel destination.
    static var mixed: [MirroredService] {
        [
            MirroredService(
                tcp(1),
                destinations: [
                    RealServer(
                        IPAddress("10.1.0.2")!, port: 8080, forwarding: .masquerade, weight: 3, upperThreshold: 100,
                        lowerThreshold: 50),
                    RealServer(
                        IPAddress("10.1.0.3")!, port: 80, forwarding: .tunnel, weight: 1, tunnelType: .gue,
                        tunnelPort: 6080, tunnelFlags: [.checksum]),
                ]),
            MirroredService(
                VirtualService(
                    .address(.udp, IPAddress("2001:db8::1")!, port: 53), scheduler: .rr, flags: .persistent,
                    persistenceTimeout: 300, netmask: 64),
                destinations: [RealServer(IPAddress("2001:db8::2")!, port: 53, weight: 2)]),
            MirroredService(
                VirtualService(.firewallMark(7, .inet), scheduler: .sh, flags: [.shFallback, .shPort]),
                destinations: [RealServer(IPAddress("10.1.0.4")!, port: 0)]),
            MirroredService(
                VirtualService(
                    .address(.udp, IPAddress("10.0.0.3")!, port: 5060), scheduler: .lc, flags: .persistent,
                    persistenceTimeout: 60, netmask: 0xffff_ff00, persistenceEngine: "sip"),
                destinations: [RealServer(IPAddress("10.1.0.5")!, port: 5060, forwarding: .masquerade)]),
        ]
    }

    /// The kernel's table as desired-table values, for comparison (order-free).
    static func snapshot(_ kernel: [KernelService]) -> Set<Set<String>> {
        Set(kernel.map { k in Set(["service \(k.service)"] + k.destinations.map { "dest \($0.server)" }) })
    }
    static func snapshot(_ desired: [MirroredService]) -> Set<Set<String>> {
        Set(desired.map { d in Set(["service \(d.service)"] + d.destinations.map { "dest \($0)" }) })
    }

    @Test func convergesFromAnEmptyTableAndIpvsadmSeesIt() throws {
        let namespace = try NetworkNamespace("mirror")
        let mirror = try KernelMirror(scope: Self.scope, networkNamespace: namespace.path)
        let report = try mirror.apply(Self.mixed)
        #expect(report.converged)
        #expect(report.applied == [.addService: 4, .addDestination: 5])
        #expect(report.mutatingMessages == 9)
        #expect(report.readRequests == 2, "two service dumps of an empty table")
        #expect(Self.snapshot(try mirror.read()) == Self.snapshot(Self.mixed))
        let listing = try namespace.ipvsadm("-Ln")
        #expect(listing.contains("UDP  [2001:db8::1]:53 rr persistent 300 mask 64\n"), "\(listing)")
        #expect(listing.contains("FWM  7 sh (sh-fallback,sh-port)\n"), "\(listing)")
        #expect(listing.contains("  -> 10.1.0.2:8080                Masq    3      0          0"), "\(listing)")
    }

    @Test func convergesFromAnotherTableAndLeavesServicesOutsideItsScopeAlone() throws {
        let namespace = try NetworkNamespace("mirror")
        try namespace.ipvsadm(restore: [
            // Owned: a service to delete, one to edit (scheduler), one whose destinations differ.
            "-A -t 10.0.9.9:80 -s rr",
            "-a -t 10.0.9.9:80 -r 10.1.9.9:80 -m",
            "-A -t 10.0.0.1:80 -s rr",
            "-a -t 10.0.0.1:80 -r 10.1.0.2:8080 -m -w 1",
            "-a -t 10.0.0.1:80 -r 10.1.0.99:8080 -m -w 1",
            "-A -f 7 -s sh",
            // Not owned: another network, another mark range.
            "-A -t 192.168.1.1:443 -s lc",
            "-a -t 192.168.1.1:443 -r 192.168.2.2:443 -m -w 4",
            "-A -f 500 -s rr",
        ])
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        let outsideBefore = try handle.servicesConsistently().filter { !Self.scope.contains($0.service.key) }.map(
            \.service)
        #expect(outsideBefore.count == 2)
        let outsideDestinations = try handle.destinations(of: outsideBefore.first { $0.key.ipProtocol == .tcp }!)

        let mirror = try KernelMirror(scope: Self.scope, networkNamespace: namespace.path)
        let report = try mirror.apply(Self.mixed)
        #expect(report.converged, "\(report.failures)")
        #expect(report.plan.count(.deleteService) == 1)
        #expect(report.plan.count(.editService) == 2, "tcp 10.0.0.1 scheduler, fwmark 7 flags")
        // 10.1.0.99 had no connection: deleted at once, even in a TCP service.
        #expect(report.plan.count(.deleteDestination) == 1)
        #expect(report.plan.count(.editDestination) == 1, "10.1.0.2 weight and thresholds")
        #expect(Self.snapshot(try mirror.read()) == Self.snapshot(Self.mixed))

        let outsideAfter = try handle.servicesConsistently().filter { !Self.scope.contains($0.service.key) }.map(
            \.service)
        #expect(Set(outsideAfter) == Set(outsideBefore))
        #expect(try handle.destinations(of: outsideBefore.first { $0.key.ipProtocol == .tcp }!) == outsideDestinations)
    }

    @Test func aSecondPassSendsNothingAndAReadOnlyPlanChangesNothing() throws {
        let namespace = try NetworkNamespace("mirror")
        let mirror = try KernelMirror(scope: Self.scope, networkNamespace: namespace.path)
        // Dry run first: a plan, and the kernel still empty.
        let plan = try mirror.plan(Self.mixed)
        #expect(plan.steps.count == 9)
        #expect(try mirror.read().isEmpty)
        #expect(mirror.mutatingMessagesSent == 0)

        try mirror.apply(Self.mixed)
        let second = try mirror.apply(Self.mixed)
        #expect(second.plan.steps.isEmpty, "\(second.plan.steps)")
        #expect(second.mutatingMessages == 0)
        // Two service dumps (up to 8 while other tests' namespaces change services and shift the dumps, see
        // IPVSHandle.consistentServices) and one destination dump per owned service.
        #expect(second.plan.readDisturbed || (2...8).contains(second.readRequests - Self.mixed.count))
        #expect(second.readRequests >= 2 + Self.mixed.count)
    }

    @Test func oneChangedDestinationAmongManyServicesIsOneMessage() throws {
        let namespace = try NetworkNamespace("mirror")
        let mirror = try KernelMirror(scope: Self.scope, networkNamespace: namespace.path)
        var desired = (1...300).map { i in
            MirroredService(Self.tcp(i), destinations: (0..<3).map { Self.server(i * 3 + $0) })
        }
        let load = try mirror.apply(desired)
        #expect(load.converged)
        #expect(load.mutatingMessages == 1200)
        #expect(load.result.sends == 1, "1 200 messages fit one send")

        desired[137].destinations[1].weight = 9
        let change = try mirror.apply(desired)
        #expect(change.mutatingMessages == 1)
        #expect(change.plan.requests == [.setDestination(desired[137].destinations[1], in: desired[137].service)])
        #expect(
            change.plan.readDisturbed || (302...308).contains(change.readRequests), "2 service dumps (more if disturbed) + 300")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        let changed = desired[137].destinations[1].key
        #expect(
            try handle.destinations(of: desired[137].service).first { $0.server.key == changed }?.server.weight == 9)
    }

    /// A pass cut short (the process killed between two sends: the kernel runs each send's messages to the end,
    /// af_netlink.c `netlink_rcv_skb`, so a kill lands between sends) leaves any prefix of the plan applied. The
    /// next pass converges whatever the prefix.
    @Test(arguments: [1, 4, 9, 23, 40])
    func aPassInterruptedAfterAnyPrefixIsFinishedByTheNext(prefix: Int) throws {
        let namespace = try NetworkNamespace("mirror")
        try namespace.ipvsadm(restore: [
            "-A -t 10.0.9.9:80 -s rr", "-a -t 10.0.9.9:80 -r 10.1.9.9:80 -m",
            "-A -t 10.0.0.1:80 -s rr", "-a -t 10.0.0.1:80 -r 10.1.0.2:8080 -m -w 1",
        ])
        let mirror = try KernelMirror(scope: Self.scope, networkNamespace: namespace.path)
        let desired =
            Self.mixed
            + (2..<12).map { i in
                MirroredService(Self.tcp(i), destinations: (0..<3).map { Self.server(i * 3 + $0) })
            }
        var plan = try mirror.plan(desired)
        #expect(plan.steps.count > 40)
        plan = plan.prefix(prefix)
        let partial = mirror.apply(plan: plan)
        #expect(partial.converged && partial.mutatingMessages == prefix)

        let next = try mirror.apply(desired)
        #expect(next.converged, "\(next.failures)")
        #expect(Self.snapshot(try mirror.read()) == Self.snapshot(desired))
        #expect(try mirror.apply(desired).mutatingMessages == 0)
    }

    /// The same, with a writer process really killed part way: `ipvsadm -R` loading a big script is SIGKILLed
    /// after some services are in (starting this test bundle again as the child would take too long under
    /// emulation). The mirror converges the half-loaded table, and a second pass sends nothing.
    @Test func aLoadKilledHalfwayIsConvergedByTheNextPass() throws {
        let namespace = try NetworkNamespace("mirror")
        let desired = (1...2000).map { i in
            MirroredService(Self.tcp(i), destinations: (0..<2).map { Self.server(i * 2 + $0) })
        }
        // Another table's worth of rules, loaded by a process we kill part way.
        let script = desired.flatMap { d -> [String] in
            guard case .address(_, let a, let port) = d.service.key else { return [] }
            return ["-A -t \(a):\(port) -s rr"]
                + d.destinations.map { "-a -t \(a):\(port) -r \($0.address):\($0.port) -m -w 5" }
        }
        let loader = try BackgroundProcess(
            Tool.nsenter, ["--net=\(namespace.path)", "--", Tool.ipvsadm, "-R"],
            input: script.joined(separator: "\n") + "\n")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        try waitUntil("ipvsadm loaded some services", timeout: .seconds(60), interval: .milliseconds(5)) {
            try handle.servicesConsistently().count >= 20
        }
        _ = loader.stop(signal: SIGKILL, grace: .seconds(5))
        let loaded = try handle.servicesConsistently().count
        #expect(loaded >= 20 && loaded < 2000, "killed after \(loaded) services")

        let mirror = try KernelMirror(scope: Self.scope, networkNamespace: namespace.path)
        let pass = try mirror.apply(desired)
        #expect(pass.converged, "\(pass.failures)")
        #expect(pass.plan.count(.addService) == 2000 - loaded)
        #expect(Self.snapshot(try mirror.read()) == Self.snapshot(desired))
        #expect(try mirror.apply(desired).mutatingMessages == 0)
    }

    /// Graceful termination over a real connection: client → director (IPVS NAT) → real server, in namespaces.
    @Test func removedTCPDestinationDrainsWhileItHasConnectionsAndGoesAfter() throws {
        let network = try NATTopology(realServers: 2)
        let vip = IPAddress(NATTopology.virtualAddress)!
        let service = VirtualService(.address(.tcp, vip, port: 80), scheduler: .rr)
        let servers = (0..<2).map {
            RealServer(IPAddress(NATTopology.realServerAddress($0))!, port: 80, forwarding: .masquerade, weight: 1)
        }
        let scope = MirrorScope(services: [service.key])
        let mirror = try KernelMirror(scope: scope, networkNamespace: network.director.path)
        // Only server 0 at first, so the connection goes there.
        try mirror.apply([MirroredService(service, destinations: [servers[0]])])
        let listener = try TCPSocket.listen(
            in: network.realServers[0], address: NATTopology.realServerAddress(0), port: 80)
        let client = try TCPSocket.connect(in: network.client, to: NATTopology.virtualAddress, port: 80)
        var handle = try IPVSHandle(networkNamespace: network.director.path)
        func entry(_ r: RealServer) throws -> IPVSDestinationEntry? {
            try handle.destinations(of: service).first { $0.server.key == r.key }
        }
        try waitUntil("the connection is established through IPVS") { try entry(servers[0])?.activeConnections == 1 }

        // Server 0 removed, server 1 added: 0 drains (weight 0, kept), 1 is added.
        let moved = [MirroredService(service, destinations: [servers[1]])]
        let drain = try mirror.apply(moved)
        #expect(drain.plan.counts == [.drainDestination: 1, .addDestination: 1])
        #expect(try entry(servers[0])?.server.weight == 0)
        #expect(drain.plan.draining.map(\.destination.server.key) == [servers[0].key])
        // Still connected: a second pass keeps it and sends nothing.
        let wait = try mirror.apply(moved)
        #expect(wait.mutatingMessages == 0 && wait.plan.draining.count == 1)
        #expect(try entry(servers[0]) != nil)

        // It comes back while draining: its weight is restored.
        let back = try mirror.apply([MirroredService(service, destinations: servers)])
        #expect(back.plan.counts == [.restoreDestination: 1])
        #expect(try entry(servers[0])?.server.weight == 1)
        try mirror.apply(moved)

        // The connection ends with a reset: IPVS moves it to CLOSE (10 s, ip_vs_proto_tcp.c tcp_timeouts), then
        // the counts reach 0 and the next pass deletes the destination.
        client.reset()
        listener.close()
        try waitUntil("the connection has expired", timeout: .seconds(60), interval: .milliseconds(250)) {
            let e = try entry(servers[0])
            return e.map { $0.activeConnections == 0 && $0.inactiveConnections == 0 } ?? true
        }
        let done = try mirror.apply(moved)
        #expect(done.plan.counts == [.deleteDestination: 1])
        #expect(try handle.destinations(of: service).map(\.server) == [servers[1]])
    }

    @Test func removedUDPDestinationIsDeletedAtOnceWithItsConnection() throws {
        let network = try NATTopology(realServers: 1)
        let service = VirtualService(.address(.udp, IPAddress(NATTopology.virtualAddress)!, port: 53), scheduler: .rr)
        let server = RealServer(IPAddress(NATTopology.realServerAddress(0))!, port: 53, forwarding: .masquerade)
        let mirror = try KernelMirror(
            scope: MirrorScope(services: [service.key]), networkNamespace: network.director.path)
        try mirror.apply([MirroredService(service, destinations: [server])])
        try UDPDatagram.send(in: network.client, to: NATTopology.virtualAddress, port: 53)
        var handle = try IPVSHandle(networkNamespace: network.director.path)
        try waitUntil("IPVS has the UDP connection") {
            try handle.destinations(of: service).first.map { $0.activeConnections + $0.inactiveConnections > 0 }
                ?? false
        }
        let pass = try mirror.apply([MirroredService(service)])
        #expect(pass.plan.counts == [.deleteDestination: 1])
        #expect(try handle.destinations(of: service).isEmpty)
    }

    /// Services added and deleted in another namespace all the while. The kernel resumes each step of a service dump
    /// by counting the services of every namespace, so those changes make our dumps repeat and skip services (the
    /// test first shows they do); the mirror's passes must still see its whole table and change only what changed.
    @Test func servicesChangingInAnotherNamespaceDoNotMisleadAPass() throws {
        let namespaces = [try NetworkNamespace("mirror"), try NetworkNamespace("churn")]
        let mirror = try KernelMirror(scope: Self.scope, networkNamespace: namespaces[0].path, timeout: .seconds(60))
        var desired = (1...2000).map { i in MirroredService(Self.tcp(i), destinations: [Self.server(i)]) }
        let load = try mirror.apply(desired)
        #expect(load.converged, "\(load.failures.prefix(3))")
        let wanted = Set(desired.map(\.service.key))

        let churn = ServiceChurn(in: namespaces[1])
        defer { churn.stop() }
        try waitUntil("the other namespace is changing services", timeout: .seconds(60)) {
            churn.rounds > 2 || churn.failures > 0
        }
        var handle = try IPVSHandle(networkNamespace: namespaces[0].path, timeout: .seconds(60))
        var wrong = 0
        var dumps = 0
        while wrong == 0 && dumps < 40 {
            dumps += 1
            let keys = try handle.services().map(\.service.key)
            #expect(Set(keys).count == keys.count, "a service listed twice")
            if Set(keys) != wanted { wrong += 1 }
        }
        #expect(wrong > 0, "no single dump of 2000 services was disturbed in \(dumps): the test would prove nothing")

        var disturbedPasses = 0
        for (pass, index) in [7, 777, 1555].enumerated() {
            desired[index].destinations[0].weight = Int32(2 + pass)
            let change = try mirror.apply(desired)
            #expect(change.converged, "\(change.failures.prefix(3))")
            #expect(change.plan.counts == [.editDestination: 1], "pass \(pass): \(change.plan.counts)")
            if change.plan.readDisturbed { disturbedPasses += 1 }
        }
        // A plain read while the churn goes on: the union of its dumps, every service of ours in it.
        #expect(Self.snapshot(try mirror.read()) == Self.snapshot(desired))
        let rounds = churn.rounds
        churn.stop()
        #expect(churn.failures == 0)
        print(
            "mirror-churn: \(wrong) of \(dumps) plain dumps wrong; \(disturbedPasses) of 3 passes read a disturbed "
                + "table and looked services up; \(rounds) rounds of 32 adds + 32 deletes in the other namespace")
        #expect(Self.snapshot(try mirror.read()) == Self.snapshot(desired))
        #expect(try mirror.apply(desired).mutatingMessages == 0)
    }

    /// 10 000 services loaded through the mirror, dumped back, one destination changed: one message.
    @Test func tenThousandServices() throws {
        let namespace = try NetworkNamespace("mirror")
        let mirror = try KernelMirror(scope: Self.scope, networkNamespace: namespace.path, timeout: .seconds(60))
        var desired = (1...10_000).map { i in
            MirroredService(Self.tcp(i), destinations: (0..<2).map { Self.server(i * 2 + $0) })
        }
        let load = try mirror.apply(desired)
        #expect(load.converged, "\(load.failures.prefix(3))")
        #expect(load.mutatingMessages == 30_000)
        #expect(load.result.sends > 1, "30 000 messages need several sends")

        let kernel = try mirror.read()
        #expect(kernel.count == 10_000)
        #expect(kernel.reduce(0) { $0 + $1.destinations.count } == 20_000)
        #expect(Self.snapshot(kernel) == Self.snapshot(desired))

        desired[7_777].destinations[0].weight = 3
        let change = try mirror.apply(desired)
        #expect(change.mutatingMessages == 1)
        #expect(change.plan.counts == [.editDestination: 1])
        #expect(change.readRequests >= 10_002)
    }
}

/// Sockets opened inside another namespace from this process: the calling thread enters the namespace, opens
/// the socket, and comes back (the socket stays in the namespace it was made in). No process to start.
enum InNamespace {
    static func run<T>(_ namespace: NetworkNamespace, _ body: () throws -> T) throws -> T {
        let own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        let target = open(namespace.path, O_RDONLY | O_CLOEXEC)
        defer {
            close(own)
            close(target)
        }
        guard own >= 0, target >= 0, CIPVSLinux_setns_net(target) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        defer { precondition(CIPVSLinux_setns_net(own) == 0, "setns back failed") }
        return try body()
    }

    static func address(_ text: String, _ port: UInt16) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        inet_pton(AF_INET, text, &a.sin_addr)
        return a
    }

    static func check(_ status: Int32) throws {
        if status < 0 { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }
}

/// A TCP socket for drain tests: a listener whose backlog completes handshakes without accept, and a client
/// connection that can end with a reset.
final class TCPSocket {
    private(set) var descriptor: Int32
    private init(_ d: Int32) { descriptor = d }
    deinit { close() }

    func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    /// close() with SO_LINGER {1, 0}: the kernel sends RST.
    func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }

    static func listen(in namespace: NetworkNamespace, address: String, port: UInt16) throws -> TCPSocket {
        try InNamespace.run(namespace) {
            let s = TCPSocket(socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0))
            var one: Int32 = 1
            setsockopt(s.descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var a = InNamespace.address(address, port)
            try InNamespace.check(
                withUnsafePointer(to: &a) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(s.descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                })
            try InNamespace.check(Glibc.listen(s.descriptor, 8))
            return s
        }
    }

    static func connect(in namespace: NetworkNamespace, to address: String, port: UInt16) throws -> TCPSocket {
        try InNamespace.run(namespace) {
            let s = TCPSocket(socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0))
            var a = InNamespace.address(address, port)
            try InNamespace.check(
                withUnsafePointer(to: &a) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.connect(s.descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                })
            return s
        }
    }
}

enum UDPDatagram {
    static func send(in namespace: NetworkNamespace, to address: String, port: UInt16) throws {
        try InNamespace.run(namespace) {
            let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(s) }
            var a = InNamespace.address(address, port)
            let sent = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(s, "x", 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            try InNamespace.check(Int32(sent))
        }
    }
}

/// A thread adding 32 services to a namespace and deleting them again, round after round, until stopped.
final class ServiceChurn: @unchecked Sendable {
    private let stopping = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private let completedRounds = Atomic<Int>(0)
    private let failedRequests = Atomic<Int>(0)

    init(in namespace: NetworkNamespace) {
        let path = namespace.path
        let thread = Thread { [self] in
            defer { finished.store(true, ordering: .releasing) }
            guard var handle = try? IPVSHandle(networkNamespace: path) else {
                failedRequests.add(1, ordering: .relaxed)
                return
            }
            let services = (0..<32).map { i in
                VirtualService(.address(.udp, .v4(IPv4Address(10, 9, 0, UInt8(i))), port: 53), scheduler: .rr)
            }
            while !stopping.load(ordering: .relaxed) {
                for service in services {
                    do { try handle.addService(service) } catch { failedRequests.add(1, ordering: .relaxed) }
                }
                for service in services {
                    do { try handle.deleteService(service) } catch { failedRequests.add(1, ordering: .relaxed) }
                }
                completedRounds.add(1, ordering: .relaxed)
            }
        }
        thread.start()
    }

    var rounds: Int { completedRounds.load(ordering: .relaxed) }
    var failures: Int { failedRequests.load(ordering: .relaxed) }

    /// Stops the thread and waits for it.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        while !finished.load(ordering: .acquiring) { usleep(1000) }
    }
}
