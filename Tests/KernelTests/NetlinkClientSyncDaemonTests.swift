import Glibc
import IPVSCore
import IPVSNetlink
import Testing

/// Sync daemons started, listed and stopped through IPVSHandle, checked against `ipvsadm -L --daemon`, and the
/// kernel's refusals worded as ipvsadm words them (ipvsadm run on the same state prints the same words).
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct NetlinkClientSyncDaemonTests {
    /// What ipvsadm prints for a running daemon (ipvsadm.c `print_daemon`).
    static func ipvsadmLine(_ d: IPVSSyncDaemon) -> String {
        let group = d.multicastGroup.map { "\($0)" } ?? "?"
        return "\(d.role) sync daemon (mcast=\(d.interface), syncid=\(d.syncID), "
            + "maxlen=\(d.maximumMessageLength ?? 0), group=\(group), port=\(d.multicastPort ?? 0), "
            + "ttl=\(d.multicastTTL ?? 0))"
    }

    @Test func masterAndBackupOnLoopbackAreListedWithTheKernelsDefaultsAndStopped() throws {
        let namespace = try NetworkNamespace("nl-sync")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        #expect(try handle.daemons().isEmpty)

        try handle.startDaemon(IPVSSyncDaemon(.master, interface: "lo"))
        try handle.startDaemon(IPVSSyncDaemon(.backup, interface: "lo", syncID: 7))
        let daemons = try handle.daemons()
        #expect(daemons.map(\.role) == [.master, .backup])
        #expect(daemons.map(\.interface) == ["lo", "lo"])
        #expect(daemons.map(\.syncID) == [0, 7])
        // Defaults filled in by the kernel (ip_vs_sync.c start_sync_thread).
        for daemon in daemons {
            #expect(daemon.multicastGroup == IPVSSyncDaemon.defaultMulticastGroup)
            #expect(daemon.multicastPort == IPVSSyncDaemon.defaultMulticastPort)
            #expect(daemon.multicastTTL == IPVSSyncDaemon.defaultMulticastTTL)
            #expect((daemon.maximumMessageLength ?? 0) > 0)
        }
        let listing = try namespace.ipvsadm("-L", "--daemon")
        #expect(listing == daemons.map { Self.ipvsadmLine($0) + "\n" }.joined(), "\(listing)")

        try handle.stopDaemon(.master)
        #expect(try handle.daemons().map(\.role) == [.backup])
        try handle.stopDaemon(.backup)
        #expect(try handle.daemons().isEmpty)
        #expect(try namespace.ipvsadm("-L", "--daemon") == "")
    }

    @Test func everyOptionalFieldReachesTheKernelAndComesBack() throws {
        let namespace = try NetworkNamespace("nl-sync")
        // An IPv6 group needs an interface the master's socket can route on: loopback has none (ENETUNREACH).
        try namespace.ip(batch: ["link add sync0 type dummy", "link set sync0 up"])
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        let master = IPVSSyncDaemon(
            .master, interface: "sync0", syncID: 200, maximumMessageLength: 1200,
            multicastGroup: IPAddress("ff02::81")!, multicastPort: 9000, multicastTTL: 4)
        let backup = IPVSSyncDaemon(
            .backup, interface: "sync0", syncID: 9, maximumMessageLength: 1024,
            multicastGroup: IPAddress("239.1.2.3")!, multicastPort: 9100, multicastTTL: 3)
        try handle.startDaemon(master)
        try handle.startDaemon(backup)
        let daemons = try handle.daemons()
        #expect(daemons.count == 2)
        #expect(daemons.first { $0.role == .backup } == backup)
        let running = try #require(daemons.first { $0.role == .master })
        var expected = master
        // The master's message length is bounded by the interface's MTU less the IPv6 and UDP headers and kept as
        // asked when it fits (ip_vs_sync.c start_sync_thread); ipvsadm shows what the kernel kept.
        expected.maximumMessageLength = running.maximumMessageLength
        #expect(running == expected)
        #expect(try namespace.ipvsadm("-L", "--daemon") == daemons.map { Self.ipvsadmLine($0) + "\n" }.joined())
        try handle.stopDaemon(.master)
        try handle.stopDaemon(.backup)
    }

    @Test func refusalsAreWordedAsIpvsadmWordsThem() throws {
        let namespace = try NetworkNamespace("nl-sync")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        try handle.startDaemon(IPVSSyncDaemon(.master, interface: "lo"))

        try Self.expect(
            EEXIST, "start daemon: Daemon has already run",
            ipvsadm: ["--start-daemon", "master", "--mcast-interface", "lo"], in: namespace
        ) { try handle.startDaemon(IPVSSyncDaemon(.master, interface: "lo")) }
        try Self.expect(
            ESRCH, "stop daemon: No daemon is running", ipvsadm: ["--stop-daemon", "backup"], in: namespace
        ) { try handle.stopDaemon(.backup) }
        try Self.expect(
            ENODEV, "start daemon: No such device",
            ipvsadm: ["--start-daemon", "backup", "--mcast-interface", "nosuch0"], in: namespace
        ) { try handle.startDaemon(IPVSSyncDaemon(.backup, interface: "nosuch0")) }
        // A unicast group: EINVAL (ip_vs_ctl.c ip_vs_genl_new_daemon). ipvsadm refuses it itself, so no comparison.
        let invalid = "Invalid operation.  Possibly wrong module version, address not unicast, ..."
        NetlinkClientTests.expect(EINVAL, "start daemon: \(invalid)") {
            try handle.startDaemon(IPVSSyncDaemon(.backup, interface: "lo", multicastGroup: IPAddress("10.0.0.1")!))
        }
        // Nothing changed: the master still runs alone.
        #expect(try handle.daemons().map(\.role) == [.master])
        try handle.stopDaemon(.master)
    }

    /// Expects `body` to fail with `errno` and `message`, then runs ipvsadm with `arguments` on the same state and
    /// expects it to print the same words after our operation prefix.
    static func expect(
        _ errno: Int32, _ message: String, ipvsadm arguments: [String], in namespace: NetworkNamespace,
        sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
    ) throws {
        NetlinkClientTests.expect(errno, message, sourceLocation: sourceLocation, body)
        let theirs = try namespace.run(Tool.ipvsadm, arguments)
        let words = String(message.drop { $0 != ":" }.dropFirst(2))
        #expect(theirs.status != 0, "\(theirs)", sourceLocation: sourceLocation)
        #expect(theirs.standardError == words + "\n", "\(theirs)", sourceLocation: sourceLocation)
    }
}
