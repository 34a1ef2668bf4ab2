import CIPVSNetlink
import Glibc
import IPVSCore
import IPVSNetlink
import Testing

/// The sync daemon and zero commands against what ipvsadm sent to the real kernel and what the kernel answered
/// (Fixtures/ipvsadm-kernel.txt, written by Fixtures/capture).
@Suite struct SyncDaemonAndZeroGoldenTests {
    static let master = IPVSSyncDaemon(.master, interface: "lo")
    static let backup = IPVSSyncDaemon(
        .backup, interface: "lo", syncID: 9, maximumMessageLength: 1000,
        multicastGroup: IPAddress("239.1.2.3")!, multicastPort: 9000, multicastTTL: 3)
    static let master6 = IPVSSyncDaemon(
        .master, interface: "lo", syncID: 200, multicastGroup: IPAddress("ff02::81")!)

    static let byteForByte: [(String, IPVSRequest)] = [
        ("--start-daemon master --mcast-interface lo", .newDaemon(master)),
        (
            "--start-daemon backup --mcast-interface lo --syncid 9 --mcast-group 239.1.2.3 --mcast-port 9000 "
                + "--mcast-ttl 3 --sync-maxlen 1000", .newDaemon(backup)
        ),
        ("--start-daemon master --mcast-interface lo --syncid 200 --mcast-group ff02::81", .newDaemon(master6)),
        ("-L --daemon", .dumpDaemons),
        ("-Z", .zero(nil)),
    ]

    @Test(arguments: byteForByte)
    func requestIsByteForByteWhatIpvsadmSent(command: String, request: IPVSRequest) throws {
        let (ours, theirs) = try GoldenRequestTests.pair(command, request)
        #expect(ours == theirs, "\(Attribute.top(ours)) vs \(Attribute.top(theirs))")
    }

    /// ipvsadm sends the whole service (with an empty scheduler) to zero one; the kernel reads only its key
    /// (ip_vs_ctl.c `ip_vs_genl_parse_service` with full_entry false), which is all ours carries.
    static let zeroes: [(String, IPVSRequest)] = [
        ("-Z -t 10.0.0.1:80", .zero(Fixture.tcp)),
        ("-Z -u [2001:db8::1]:53", .zero(Fixture.udp6)),
        ("-Z -f 7", .zero(Fixture.fwmark)),
    ]

    @Test(arguments: zeroes)
    func zeroOfOneServiceCarriesIpvsadmsServiceKey(command: String, request: IPVSRequest) throws {
        let (ours, theirs) = try GoldenRequestTests.pair(command, request)
        #expect(Array(ours[4..<20]) == Array(theirs[4..<20]), "netlink and generic netlink headers")
        let ourTop = Attribute.top(ours)
        #expect(GoldenRequestTests.serviceKey(ourTop) == GoldenRequestTests.serviceKey(Attribute.top(theirs)))
        #expect(GoldenRequestTests.serviceKey(ourTop) == ourTop.first?.children)
    }

    /// ipvsadm sends an empty interface and sync id 0 with the role; the kernel reads only the role
    /// (ip_vs_ctl.c `ip_vs_genl_del_daemon`).
    @Test(arguments: [IPVSSyncDaemon.Role.master, .backup])
    func stopCarriesIpvsadmsRole(role: IPVSSyncDaemon.Role) throws {
        let (ours, theirs) = try GoldenRequestTests.pair("--stop-daemon \(role)", .deleteDaemon(role))
        #expect(Array(ours[4..<20]) == Array(theirs[4..<20]))
        let state = { (m: [UInt8]) in
            Attribute.top(m).first { $0.type == Int(IPVS_CMD_ATTR_DAEMON) }?.children
                .filter { $0.type == Int(IPVS_DAEMON_ATTR_STATE) }
        }
        #expect(state(ours) == state(theirs))
        #expect(state(ours)?.first?.payload == [UInt8(role.rawValue), 0, 0, 0])
        #expect(Attribute.top(ours).first?.children.count == 1)
    }

    /// The kernel reports every field, defaults included: the master was started with none of the optional ones.
    /// The backup asked for a 1000-byte message and got 1024 (ip_vs_sync.c `start_sync_thread` rounds it).
    @Test func daemonDumpDecodesBothDaemonsWithTheKernelsDefaults() throws {
        let block = try #require(GoldenVectors.shared.block("-L --daemon"))
        // After ipvsadm's GET_INFO reply, one IPVS_CMD_NEW_DAEMON message per daemon.
        let daemons = try block.dataReplies.filter { Int($0[16]) == Int(IPVS_CMD_NEW_DAEMON) }
            .map(IPVSReplyDecoder.daemon)
        var master = Self.master
        master.maximumMessageLength = 1472
        master.multicastGroup = IPVSSyncDaemon.defaultMulticastGroup
        master.multicastPort = IPVSSyncDaemon.defaultMulticastPort
        master.multicastTTL = IPVSSyncDaemon.defaultMulticastTTL
        var backup = Self.backup
        backup.maximumMessageLength = 1024
        #expect(daemons == [master, backup])
    }

    @Test(arguments: [
        ("--start-daemon master --mcast-interface lo", 1, EEXIST, IPVSError.Operation.startDaemon,
         "Daemon has already run"),
        ("--stop-daemon master", 1, ESRCH, .stopDaemon, "No daemon is running"),
        ("-Z -t 10.9.9.9:80", 0, ESRCH, .zeroService, "No such service"),
        ("--start-daemon master --mcast-interface nosuch0", 0, ENODEV, .startDaemon, "No such device"),
        // An IPv6 group on lo: the kernel finds no route for the master's socket.
        ("--start-daemon master --mcast-interface lo --syncid 200 --mcast-group ff02::81", 0, ENETUNREACH,
         .startDaemon, "Network is unreachable"),
    ])
    func kernelErrorsCarryTheErrnoIpvsadmReports(
        command: String, occurrence: Int, errno: Int32, operation: IPVSError.Operation, message: String
    ) throws {
        let block = try #require(GoldenVectors.shared.block(command, occurrence: occurrence))
        let codes = try block.received.flatMap { try NetlinkFrame.split($0) }.compactMap(\.errorCode).filter {
            $0 != 0
        }
        #expect(codes == [-errno])
        #expect(IPVSError(operation, .kernel(errno: errno)).description == "\(operation.rawValue): \(message)")
    }

    @Test func anInterfaceNameTooLongForTheKernelIsRefusedBeforeSending() {
        let daemon = IPVSSyncDaemon(.master, interface: "sixteen-bytes-xx")
        let refused = IPVSCodecError.unsupportedValue(
            attribute: "IPVS_DAEMON_ATTR_MCAST_IFN", value: "\"\(daemon.interface)\"")
        #expect(throws: refused) {
            _ = try IPVSRequest.newDaemon(daemon).encode(family: 32, sequence: 1)
        }
        #expect(throws: IPVSCodecError.self) {
            _ = try IPVSRequest.newDaemon(IPVSSyncDaemon(.backup, interface: "")).encode(family: 32, sequence: 1)
        }
    }
}
