import CIPVSLinux
import Glibc
import IPVSCore
import IPVSNetlink
import Testing

/// Every refusal of every command, IPv4, IPv6 and fwmark, worded as ipvsadm words it: for each, ipvsadm runs the
/// same command on the same table and must print exactly our words (after our operation prefix).
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct NetlinkClientErrorTests {
    static let tcp = VirtualService(.address(.tcp, IPAddress("10.0.0.1")!, port: 80), scheduler: .wlc)
    static let udp6 = VirtualService(.address(.udp, IPAddress("2001:db8::1")!, port: 53), scheduler: .rr)
    static let fwmark = VirtualService(.firewallMark(7, .inet), scheduler: .sh)
    static let masq = RealServer(IPAddress("10.0.1.2")!, port: 8080, forwarding: .masquerade)
    static let route6 = RealServer(IPAddress("2001:db8::2")!, port: 53, forwarding: .route)
    static let route = RealServer(IPAddress("10.0.1.5")!, port: 0, forwarding: .route)

    static let missingTCP = VirtualService(.address(.tcp, IPAddress("10.9.9.9")!, port: 80), scheduler: .rr)
    static let missingUDP6 = VirtualService(.address(.udp, IPAddress("2001:db8::9")!, port: 53), scheduler: .rr)
    static let missingMark = VirtualService(.firewallMark(99, .inet), scheduler: .rr)
    static let strangerTCP = RealServer(IPAddress("10.0.1.9")!, port: 80, forwarding: .masquerade)
    static let strangerV6 = RealServer(IPAddress("2001:db8::99")!, port: 53, forwarding: .route)
    static let stranger = RealServer(IPAddress("10.0.1.99")!, port: 0, forwarding: .route)

    /// A table with a service of each kind and a destination in each.
    static func fill(_ handle: inout IPVSHandle) throws {
        try handle.addService(tcp)
        try handle.addService(udp6)
        try handle.addService(fwmark)
        try handle.addDestination(masq, to: tcp)
        try handle.addDestination(route6, to: udp6)
        try handle.addDestination(route, to: fwmark)
    }

    /// Our words, the errno, what the case is about, ipvsadm's arguments for the same request, and the request.
    typealias Case = (String, Int32, String, [String], @Sendable (inout IPVSHandle) throws -> Void)

    static let cases: [Case] = [
        ("add service: Service already exists", EEXIST, "", ["-A", "-t", "10.0.0.1:80", "-s", "wlc"],
         { try $0.addService(tcp) }),
        ("add service: Service already exists", EEXIST, "", ["-A", "-u", "[2001:db8::1]:53", "-s", "rr"],
         { try $0.addService(udp6) }),
        ("add service: Service already exists", EEXIST, "", ["-A", "-f", "7", "-s", "sh"],
         { try $0.addService(fwmark) }),
        ("edit service: No such service", ESRCH, "", ["-E", "-t", "10.9.9.9:80", "-s", "rr"],
         { try $0.editService(missingTCP) }),
        ("edit service: No such service", ESRCH, "", ["-E", "-u", "[2001:db8::9]:53", "-s", "rr"],
         { try $0.editService(missingUDP6) }),
        ("edit service: No such service", ESRCH, "", ["-E", "-f", "99", "-s", "rr"],
         { try $0.editService(missingMark) }),
        ("delete service: No such service", ESRCH, "", ["-D", "-t", "10.9.9.9:80"],
         { try $0.deleteService(missingTCP) }),
        ("delete service: No such service", ESRCH, "", ["-D", "-u", "[2001:db8::9]:53"],
         { try $0.deleteService(missingUDP6) }),
        ("delete service: No such service", ESRCH, "", ["-D", "-f", "99"], { try $0.deleteService(missingMark) }),
        ("add destination: Service not defined", ESRCH, "", ["-a", "-t", "10.9.9.9:80", "-r", "10.0.1.9:80", "-m"],
         { try $0.addDestination(strangerTCP, to: missingTCP) }),
        ("add destination: Service not defined", ESRCH, "",
         ["-a", "-u", "[2001:db8::9]:53", "-r", "[2001:db8::99]:53", "-g"],
         { try $0.addDestination(strangerV6, to: missingUDP6) }),
        ("add destination: Service not defined", ESRCH, "", ["-a", "-f", "99", "-r", "10.0.1.99", "-g"],
         { try $0.addDestination(stranger, to: missingMark) }),
        ("edit destination: Service not defined", ESRCH, "", ["-e", "-t", "10.9.9.9:80", "-r", "10.0.1.9:80", "-m"],
         { try $0.editDestination(strangerTCP, in: missingTCP) }),
        ("delete destination: Service not defined", ESRCH, "", ["-d", "-f", "99", "-r", "10.0.1.99"],
         { try $0.deleteDestination(stranger, from: missingMark) }),
        ("add destination: Destination already exists", EEXIST, "",
         ["-a", "-t", "10.0.0.1:80", "-r", "10.0.1.2:8080", "-m"], { try $0.addDestination(masq, to: tcp) }),
        ("add destination: Destination already exists", EEXIST, "",
         ["-a", "-u", "[2001:db8::1]:53", "-r", "[2001:db8::2]:53", "-g"], { try $0.addDestination(route6, to: udp6) }),
        ("add destination: Destination already exists", EEXIST, "", ["-a", "-f", "7", "-r", "10.0.1.5", "-g"],
         { try $0.addDestination(route, to: fwmark) }),
        ("edit destination: No such destination", ENOENT, "", ["-e", "-t", "10.0.0.1:80", "-r", "10.0.1.9:80", "-m"],
         { try $0.editDestination(strangerTCP, in: tcp) }),
        ("edit destination: No such destination", ENOENT, "",
         ["-e", "-u", "[2001:db8::1]:53", "-r", "[2001:db8::99]:53", "-g"],
         { try $0.editDestination(strangerV6, in: udp6) }),
        ("delete destination: No such destination", ENOENT, "", ["-d", "-t", "10.0.0.1:80", "-r", "10.0.1.9:80"],
         { try $0.deleteDestination(strangerTCP, from: tcp) }),
        ("delete destination: No such destination", ENOENT, "",
         ["-d", "-u", "[2001:db8::1]:53", "-r", "[2001:db8::99]:53"],
         { try $0.deleteDestination(strangerV6, from: udp6) }),
        ("delete destination: No such destination", ENOENT, "", ["-d", "-f", "7", "-r", "10.0.1.99"],
         { try $0.deleteDestination(stranger, from: fwmark) }),
        ("add service: Scheduler or persistence engine not found", ENOENT, "unknown scheduler",
         ["-A", "-t", "10.0.0.2:80", "-s", "nosuch"], {
             var request = IPVSRequest.newService(VirtualService(.address(.tcp, IPAddress("10.0.0.2")!, port: 80)))
             request.schedulerName = "nosuch"
             _ = try $0.perform(request, .addService)
         }),
        ("edit service: Scheduler or persistence engine not found", ENOENT, "unknown scheduler",
         ["-E", "-u", "[2001:db8::1]:53", "-s", "nosuch"], {
             var request = IPVSRequest.setService(udp6)
             request.schedulerName = "nosuch"
             _ = try $0.perform(request, .editService)
         }),
        ("add service: Scheduler or persistence engine not found", ENOENT, "unknown persistence engine",
         ["-A", "-u", "10.0.0.8:5060", "-s", "rr", "-p", "10", "--pe", "nosuch"], {
             try $0.addService(
                 VirtualService(
                     .address(.udp, IPAddress("10.0.0.8")!, port: 5060), scheduler: .rr, flags: .persistent,
                     persistenceTimeout: 10, persistenceEngine: "nosuch"))
         }),
        ("add destination: Numerical result out of range", ERANGE, "upper threshold below the lower",
         ["-a", "-t", "10.0.0.1:80", "-r", "10.0.1.3:80", "-m", "-x", "5", "-y", "10"], {
             try $0.addDestination(
                 RealServer(IPAddress("10.0.1.3")!, port: 80, upperThreshold: 5, lowerThreshold: 10), to: tcp)
         }),
        ("add destination: Invalid operation.  Possibly wrong module version, address not unicast, ...", EINVAL,
         "multicast destination", ["-a", "-t", "10.0.0.1:80", "-r", "224.0.0.1:80", "-m"], {
             try $0.addDestination(RealServer(IPAddress("224.0.0.1")!, port: 80, forwarding: .masquerade), to: tcp)
         }),
    ]

    @Test func everyRefusalIsWordedAsIpvsadmWordsItAndChangesNothing() throws {
        let namespace = try NetworkNamespace("nl-err")
        var handle = try IPVSHandle(networkNamespaceNamed: namespace.name)
        try Self.fill(&handle)
        let before = try namespace.ipvsadm("-Sn")
        for (message, errno, _, ipvsadm, body) in Self.cases {
            try NetlinkClientSyncDaemonTests.expect(errno, message, ipvsadm: ipvsadm, in: namespace) {
                try body(&handle)
            }
        }
        #expect(try namespace.ipvsadm("-Sn") == before)
        #expect(try handle.services().count == 3)
    }

    /// GENL_ADMIN_PERM on every IPVS command (ip_vs_ctl.c ip_vs_genl_ops): without CAP_NET_ADMIN the kernel
    /// answers EPERM, reads included. Capabilities are per thread: this thread drops CAP_NET_ADMIN from its
    /// effective set, and takes it back from its permitted set afterwards.
    @Test func withoutNetAdminEveryCommandIsRefusedWithIpvsadmsWords() throws {
        let namespace = try NetworkNamespace("nl-perm")
        var privileged = try IPVSHandle(networkNamespace: namespace.path)
        try privileged.addService(NetlinkClientTests.tcp)
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        let denied = "Permission denied (you must be root)"
        try Self.withoutNetAdmin {
            NetlinkClientTests.expect(EPERM, "get IPVS info: \(denied)") { _ = try handle.info() }
            NetlinkClientTests.expect(EPERM, "list services: \(denied)") { _ = try handle.services() }
            NetlinkClientTests.expect(EPERM, "add service: \(denied)") {
                try handle.addService(NetlinkClientTests.udp6)
            }
            NetlinkClientTests.expect(EPERM, "flush: \(denied)") { try handle.flush() }
            NetlinkClientTests.expect(EPERM, "start daemon: \(denied)") {
                try handle.startDaemon(IPVSSyncDaemon(.master, interface: "lo"))
            }
            // A handle opened without the capability is refused too: opening needs none.
            var unprivileged = try IPVSHandle(networkNamespace: namespace.path)
            NetlinkClientTests.expect(EPERM, "delete service: \(denied)") {
                try unprivileged.deleteService(NetlinkClientTests.tcp)
            }
        }
        // ipvsadm without the capability fails its first request with the same words.
        let theirs = try Command.run(
            "/usr/bin/setpriv",
            ["--inh-caps=-net_admin", "--bounding-set=-net_admin", Tool.nsenter, "--net=\(namespace.path)", "--",
             Tool.ipvsadm, "-Ln"])
        #expect(theirs.status != 0 && theirs.standardError.contains(denied), "\(theirs)")
        // Nothing changed.
        #expect(try privileged.services().map(\.service) == [NetlinkClientTests.tcp])
    }

    /// Runs `body` with CAP_NET_ADMIN out of this thread's effective set (the test is synchronous: it stays on
    /// this thread), then puts it back.
    static func withoutNetAdmin(_ body: () throws -> Void) throws {
        let capNetAdmin: Int32 = 12  // CAP_NET_ADMIN, <linux/capability.h>
        #expect(CIPVSLinux_set_effective_capability(capNetAdmin, 0) == 0, "capset: \(errno)")
        defer { precondition(CIPVSLinux_set_effective_capability(capNetAdmin, 1) == 0, "capset back: \(errno)") }
        try body()
    }

    @Test func aHandleOpenedByNameWorksInThatNamespaceOnly() throws {
        let namespaces = try [NetworkNamespace("nl-name"), NetworkNamespace("nl-name")]
        var handle = try IPVSHandle(networkNamespaceNamed: namespaces[0].name)
        try handle.addService(Self.udp6)
        #expect(try namespaces[0].ipvsadm("-Sn") == "-A -u [2001:db8::1]:53 -s rr\n")
        #expect(try namespaces[1].ipvsadm("-Sn") == "")
        #expect(try handle.services().map(\.service) == [Self.udp6])
        let gone = namespaces[1].name
        #expect(throws: IPVSError(.open, .networkNamespaceNotFound(gone + "-x"))) {
            _ = try IPVSHandle(networkNamespaceNamed: gone + "-x")
        }
    }
}
