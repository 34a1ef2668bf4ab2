import Glibc
import IPVSCore
import IPVSNetlink
import Testing

/// IPVSHandle against the kernel's IPVS: every command, its errors, and what `ipvsadm -Ln` then shows. Each test
/// opens its handle in a namespace of its own (IPVS keeps one table per network namespace).
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct NetlinkClientTests {
    static let tcp = VirtualService(.address(.tcp, IPAddress("10.0.0.1")!, port: 80), scheduler: .wlc)
    static let udp6 = VirtualService(
        .address(.udp, IPAddress("2001:db8::1")!, port: 53), scheduler: .rr, flags: .persistent,
        persistenceTimeout: 300, netmask: 64)
    static let fwmark = VirtualService(.firewallMark(7, .inet), scheduler: .sh, flags: [.shFallback, .shPort])
    static let masq = RealServer(
        IPAddress("10.0.1.2")!, port: 8080, forwarding: .masquerade, weight: 3, upperThreshold: 100,
        lowerThreshold: 50)
    static let route6 = RealServer(IPAddress("2001:db8::2")!, port: 53, forwarding: .route, weight: 2)
    static let gue = RealServer(
        IPAddress("10.0.1.3")!, port: 80, forwarding: .tunnel, weight: 1, tunnelType: .gue, tunnelPort: 6080,
        tunnelFlags: [.checksum, .remoteChecksum])

    static func open(_ namespace: NetworkNamespace) throws -> IPVSHandle {
        try IPVSHandle(networkNamespace: namespace.path)
    }

    @Test func infoIsWhatIpvsadmPrintsInItsHeader() throws {
        let namespace = try NetworkNamespace("nl")
        var handle = try Self.open(namespace)
        let info = try handle.info()
        let header = try namespace.ipvsadm("-Ln").split(separator: "\n").first.map(String.init)
        #expect(header == "IP Virtual Server version \(info.version) (size=\(info.connectionTableSize))")
        #expect(handle.familyID != 0 && handle.portID != 0)
    }

    @Test func addedServicesAndDestinationsAreListedByIpvsadmAndDumpedBack() throws {
        let namespace = try NetworkNamespace("nl")
        var handle = try Self.open(namespace)
        try handle.addService(Self.tcp)
        try handle.addService(Self.udp6)
        try handle.addService(Self.fwmark)
        try handle.addDestination(Self.masq, to: Self.tcp)
        try handle.addDestination(Self.gue, to: Self.tcp)
        try handle.addDestination(Self.route6, to: Self.udp6)

        let services = try handle.services()
        #expect(Set(services.map(\.service)) == [Self.tcp, Self.udp6, Self.fwmark])
        #expect(services.allSatisfy { $0.kernelFlags.contains(.hashed) && $0.statistics.is64Bit })
        // New destinations go to the head of the kernel's list (ip_vs_ctl.c __ip_vs_update_dest).
        #expect(try handle.destinations(of: Self.tcp).map(\.server) == [Self.gue, Self.masq])
        #expect(try handle.destinations(of: Self.udp6).map(\.server) == [Self.route6])
        #expect(try handle.destinations(of: Self.fwmark).isEmpty)
        #expect(try handle.service(Self.udp6).service == Self.udp6)

        let listing = try namespace.ipvsadm("-Ln")
        #expect(listing.contains("TCP  10.0.0.1:80 wlc\n"), "\(listing)")
        #expect(listing.contains("  -> 10.0.1.2:8080                Masq    3      0          0"), "\(listing)")
        #expect(listing.contains("  -> 10.0.1.3:80                  Tunnel  1      0          0"), "\(listing)")
        #expect(listing.contains("UDP  [2001:db8::1]:53 rr persistent 300 mask 64\n"), "\(listing)")
        #expect(listing.contains("  -> [2001:db8::2]:53             Route   2      0          0"), "\(listing)")
        #expect(listing.contains("FWM  7 sh (sh-fallback,sh-port)\n"), "\(listing)")
        // Thresholds, as ipvsadm shows them.
        #expect(
            try namespace.ipvsadm("-Ln", "--thresholds").contains("  -> 10.0.1.2:8080                100        50"))
    }

    @Test func editsReachTheKernel() throws {
        let namespace = try NetworkNamespace("nl")
        var handle = try Self.open(namespace)
        try handle.addService(Self.tcp)
        try handle.addDestination(Self.masq, to: Self.tcp)

        var edited = Self.tcp
        edited.scheduler = .rr
        edited.flags = .persistent
        edited.persistenceTimeout = 60
        try handle.editService(edited)
        var heavier = Self.masq
        heavier.weight = 9
        heavier.forwarding = .route
        try handle.editDestination(heavier, in: edited)

        #expect(try handle.service(Self.tcp).service == edited)
        #expect(try handle.destinations(of: edited).map(\.server) == [heavier])
        let listing = try namespace.ipvsadm("-Ln")
        #expect(listing.contains("TCP  10.0.0.1:80 rr persistent 60\n"), "\(listing)")
        #expect(listing.contains("  -> 10.0.1.2:8080                Route   9      0          0"), "\(listing)")
    }

    @Test func deletesAndFlushEmptyTheTable() throws {
        let namespace = try NetworkNamespace("nl")
        var handle = try Self.open(namespace)
        try handle.addService(Self.tcp)
        try handle.addService(Self.udp6)
        try handle.addDestination(Self.masq, to: Self.tcp)
        try handle.addDestination(Self.gue, to: Self.tcp)

        try handle.deleteDestination(Self.masq, from: Self.tcp)
        #expect(try handle.destinations(of: Self.tcp).map(\.server) == [Self.gue])
        try handle.deleteService(Self.udp6)
        #expect(try handle.services().map(\.service) == [Self.tcp])
        try handle.flush()
        #expect(try handle.services().isEmpty)
        #expect(try namespace.ipvsadm("-Ln").split(separator: "\n").count == 3, "only the header")
    }

    @Test func timeoutsAreSetAndReadBack() throws {
        let namespace = try NetworkNamespace("nl")
        var handle = try Self.open(namespace)
        try handle.setTimeouts(IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 300))
        #expect(try handle.timeouts() == IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 300))
        // 0 leaves a timeout as it was (ip_vs_ctl.c ip_vs_set_timeout).
        try handle.setTimeouts(IPVSTimeouts(tcp: 0, tcpFin: 0, udp: 45))
        #expect(try handle.timeouts() == IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 45))
        #expect(try namespace.ipvsadm("-L", "--timeout") == "Timeout (tcp tcpfin udp): 900 120 45\n")
    }

    @Test func kernelErrorsCarryTheOperationTheErrnoAndIpvsadmsWords() throws {
        let namespace = try NetworkNamespace("nl")
        var handle = try Self.open(namespace)
        try handle.addService(Self.tcp)
        try handle.addDestination(Self.masq, to: Self.tcp)
        let missing = VirtualService(.address(.tcp, IPAddress("10.9.9.9")!, port: 80))
        let stranger = RealServer(IPAddress("10.0.1.9")!, port: 80)

        Self.expect(EEXIST, "add service: Service already exists") { try handle.addService(Self.tcp) }
        Self.expect(ESRCH, "delete service: No such service") { try handle.deleteService(missing) }
        Self.expect(ESRCH, "edit service: No such service") { try handle.editService(missing) }
        Self.expect(ESRCH, "get service: No such service") { _ = try handle.service(missing) }
        // The kernel answers a destination dump of a missing service with an empty dump, not an error
        // (ip_vs_ctl.c ip_vs_genl_dump_dests); ipvsadm's "No such service" comes from its GET_SERVICE first.
        #expect(try handle.destinations(of: missing).isEmpty)
        Self.expect(EEXIST, "add destination: Destination already exists") {
            try handle.addDestination(Self.masq, to: Self.tcp)
        }
        Self.expect(ESRCH, "add destination: Service not defined") { try handle.addDestination(stranger, to: missing) }
        Self.expect(ENOENT, "delete destination: No such destination") {
            try handle.deleteDestination(stranger, from: Self.tcp)
        }
        Self.expect(ENOENT, "edit destination: No such destination") {
            try handle.editDestination(stranger, in: Self.tcp)
        }
        // A scheduler the kernel has no module for.
        Self.expect(ENOENT, "add service: Scheduler or persistence engine not found") {
            let other = VirtualService(.address(.tcp, IPAddress("10.0.0.2")!, port: 80))
            var request = IPVSRequest.newService(other)
            request.schedulerName = "nosuch"
            _ = try handle.perform(request, .addService)
        }
        Self.expect(ENOENT, "add service: Scheduler or persistence engine not found") {
            try handle.addService(
                VirtualService(
                    .address(.udp, IPAddress("10.0.0.2")!, port: 5060), scheduler: .rr, flags: .persistent,
                    persistenceTimeout: 60, persistenceEngine: "nosuch"))
        }
        // A negative weight: ERANGE (ip_vs_ctl.c ip_vs_add_dest), which ipvsadm words as strerror does.
        Self.expect(ERANGE, "add destination: Numerical result out of range") {
            try handle.addDestination(RealServer(IPAddress("10.0.1.4")!, port: 80, weight: -1), to: Self.tcp)
        }
        // ipvsadm reports the same for the same mistakes.
        let again = try namespace.run(Tool.ipvsadm, ["-A", "-t", "10.0.0.1:80", "-s", "wlc"])
        #expect(again.standardError.contains("Service already exists"), "\(again)")
        // The failures changed nothing, and the handle still works.
        #expect(try handle.services().map(\.service) == [Self.tcp])
        #expect(try handle.destinations(of: Self.tcp).map(\.server) == [Self.masq])
    }

    @Test func handlesInTwoNamespacesSeeTheirOwnTables() throws {
        let namespaces = try [NetworkNamespace("nl-a"), NetworkNamespace("nl-b")]
        var a = try Self.open(namespaces[0])
        var b = try Self.open(namespaces[1])
        try a.addService(Self.tcp)
        try b.addService(Self.udp6)
        #expect(try a.servicesConsistently().map(\.service) == [Self.tcp])
        #expect(try b.servicesConsistently().map(\.service) == [Self.udp6])
        #expect(try namespaces[1].ipvsadm("-Ln").contains("UDP  [2001:db8::1]:53"))
        #expect(try !namespaces[1].ipvsadm("-Ln").contains("10.0.0.1:80"))
    }

    @Test func aDumpOfManyServicesSpansSeveralReceives() throws {
        let namespace = try NetworkNamespace("nl")
        var handle = try Self.open(namespace)
        // About 300 bytes a service: 400 of them take several 32 KiB dump steps.
        let services = (0..<400).map { i in
            VirtualService(
                .address(.tcp, .v4(IPv4Address(10, 1, UInt8(i / 256), UInt8(i % 256))), port: 80), scheduler: .rr)
        }
        for service in services { try handle.addService(service) }
        let dumped = try handle.servicesConsistently().map(\.service)
        #expect(dumped.count == 400)
        #expect(Set(dumped) == Set(services))
        // ipvsadm's own dump resumes by counting every namespace's services too (see
        // IPVSHandle.consistentServices): other tests changing theirs can make one listing repeat or skip lines.
        var previous = ""
        var listing = try namespace.ipvsadm("-Ln")
        for _ in 0..<8 where listing != previous {
            previous = listing
            listing = try namespace.ipvsadm("-Ln")
        }
        #expect(listing.split(separator: "\n").count == 3 + 400)
    }

    static func expect(
        _ errno: Int32, _ message: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () throws -> Void
    ) {
        do {
            try body()
            Issue.record("expected errno \(errno) (\(message)), got success", sourceLocation: sourceLocation)
        } catch let error as IPVSError {
            #expect(error.errno == errno, "\(error)", sourceLocation: sourceLocation)
            #expect(error.description == message, sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected an IPVSError, got \(error)", sourceLocation: sourceLocation)
        }
    }
}
