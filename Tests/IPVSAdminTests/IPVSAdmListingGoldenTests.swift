import Foundation
import IPVSAdmin
import IPVSCore
import IPVSNetlink
import Testing

/// Listings compared byte for byte with what Debian's ipvsadm 1.31 printed for the same kernel table
/// (Fixtures/ipvsadm-1.31/NN.cmd and NN.stdout, captured from Linux 6.1). The table is rebuilt here as the typed
/// entries IPVSHandle returns, services and real servers in the kernel's dump order (/proc/net/ip_vs of the same
/// run), so that the sort is exercised too.
struct IPVSAdmListingGoldenTests {
    static let info = IPVSInfo(versionCode: 0x01_02_01, connectionTableSize: 4096)

    static func entry(_ service: VirtualService, _ flags: ServiceFlags = []) -> IPVSServiceEntry {
        IPVSServiceEntry(
            service: service, kernelFlags: service.flags.union(flags).union(.hashed), statistics: IPVSStatistics())
    }

    static func server(
        _ address: String, _ port: UInt16, _ forwarding: ForwardingMethod, weight: Int32, x: UInt32 = 0, y: UInt32 = 0
    ) -> IPVSDestinationEntry {
        IPVSDestinationEntry(
            server: RealServer(
                IPAddress(address)!, port: port, forwarding: forwarding, weight: weight, upperThreshold: x,
                lowerThreshold: y))
    }

    static let tcp80 = IPVSAdmServiceListing(
        entry(VirtualService(.address(.tcp, IPAddress("10.0.0.1")!, port: 80), scheduler: .rr)),
        [server("10.0.0.2", 80, .masquerade, weight: 3)])

    /// The table of captures 16 to 23, in the kernel's order.
    static let table: [IPVSAdmServiceListing] = [
        IPVSAdmServiceListing(
            entry(
                VirtualService(
                    .address(.udp, IPAddress("10.0.0.1")!, port: 53), scheduler: .wlc, flags: .persistent,
                    persistenceTimeout: 300, netmask: 0xffff_ff00)),
            [server("10.0.0.4", 5353, .masquerade, weight: 0), server("10.0.0.3", 53, .route, weight: 1, x: 100, y: 50)]),
        IPVSAdmServiceListing(
            entry(
                VirtualService(
                    .address(.tcp, IPAddress("2001:db8::1")!, port: 443), scheduler: .sh, flags: .shPort)),
            [server("2001:db8::2", 8443, .masquerade, weight: 1)]),
        tcp80,
        IPVSAdmServiceListing(
            entry(VirtualService(.address(.udp, IPAddress("10.0.0.1")!, port: 5061), scheduler: .sh, flags: .onePacket)),
            []),
        IPVSAdmServiceListing(
            entry(
                VirtualService(
                    .address(.udp, IPAddress("10.0.0.1")!, port: 5060), scheduler: .wrr, flags: .persistent,
                    persistenceTimeout: 60, persistenceEngine: "sip")),
            []),
        IPVSAdmServiceListing(
            entry(VirtualService(.firewallMark(7, .inet), scheduler: .mh, flags: [.mhFallback, .mhPort])),
            [server("10.0.0.5", 0, .tunnel, weight: 2)]),
    ]

    static func capture(_ number: String) throws -> (command: String, output: String) {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/ipvsadm-1.31")
        let command = try String(contentsOf: directory.appendingPathComponent("\(number).cmd"), encoding: .utf8)
        let output = try String(contentsOf: directory.appendingPathComponent("\(number).stdout"), encoding: .utf8)
        return (command.trimmingCharacters(in: .whitespacesAndNewlines), output)
    }

    /// The listing format ipvsctl's parser makes of the captured command line.
    static func format(_ command: String) throws -> IPVSAdmInvocation {
        let words = command.split(separator: " ").map(String.init)
        return try IPVSAdmParser.parse(words)
    }

    @Test(arguments: ["03", "04", "05"])
    func oneServiceTablesListAsIpvsadmListedThem(number: String) throws {
        let (command, expected) = try Self.capture(number)
        let invocation = try Self.format(command)
        let listing = IPVSAdmListing(format: invocation.format, resolver: NoNames())
        #expect(listing.all(info: Self.info, services: [Self.tcp80]) == expected, "\(command)")
    }

    @Test(arguments: ["16", "17", "18", "19", "20", "21", "23"])
    func everyListingModeMatchesIpvsadm(number: String) throws {
        let (command, expected) = try Self.capture(number)
        let invocation = try Self.format(command)
        let listing = IPVSAdmListing(format: invocation.format, resolver: NoNames())
        #expect(listing.all(info: Self.info, services: Self.table) == expected, "\(command)")
    }

    @Test func oneServiceListingMatchesIpvsadm() throws {
        let (command, expected) = try Self.capture("22")
        let invocation = try Self.format(command)
        #expect(invocation.options.contains(.service))
        let listing = IPVSAdmListing(format: invocation.format, resolver: NoNames())
        #expect(listing.one(Self.tcp80) == expected)
    }

    @Test func timeoutsListAsIpvsadmListedThem() throws {
        let (_, expected) = try Self.capture("25")
        #expect(IPVSAdmListing.timeouts(IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 300)) == expected)
    }

    @Test func emptyConnectionTableListsTheTitle() throws {
        let (_, expected) = try Self.capture("24")
        let listing = IPVSAdmConnectionListing(format: .numeric, resolver: NoNames())
        #expect(
            listing.listing(procText: "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n")
                == expected)
    }

    @Test func noSortKeepsTheKernelsOrder() {
        let text = IPVSAdmListing(format: [.numeric, .noSort], resolver: NoNames()).all(info: Self.info, services: Self.table)
        let serviceLines = text.split(separator: "\n").filter { !$0.hasPrefix("  ->") }.dropFirst(2)
        #expect(
            serviceLines.map { String($0.prefix(22)) } == [
                "UDP  10.0.0.1:53 wlc p", "TCP  [2001:db8::1]:443", "TCP  10.0.0.1:80 rr", "UDP  10.0.0.1:5061 sh ",
                "UDP  10.0.0.1:5060 wrr", "FWM  7 mh (mh-fallback",
            ])
        #expect(text.contains("  -> 10.0.0.4:5353                Masq    0      0          0         \n  -> 10.0.0.3:53"))
    }
}

/// A resolver that knows no names, so that a listing without -n prints numbers (and a test can tell it asked).
struct NoNames: IPVSAdmNameResolver {
    func hostName(_ address: IPAddress) -> String? { nil }
    func serviceName(port: UInt16, ipProtocol: UInt16) -> String? { nil }
}
