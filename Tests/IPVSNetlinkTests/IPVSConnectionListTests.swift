import Foundation
import IPVSCore
import IPVSNetlink
import Testing

/// IPVSConnectionList against /proc/net/ip_vs_conn as the kernel wrote it in the VM (Fixtures/ip_vs_conn.txt,
/// written by Fixtures/capture-connections): IPv4 and IPv6, TCP and UDP, connections and persistence templates.
@Suite struct IPVSConnectionListTests {
    static let captured: String = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/ip_vs_conn.txt").path
        return try! String(contentsOfFile: path, encoding: .utf8)
    }()

    static func v4(_ text: String) -> IPAddress { IPAddress(text)! }

    @Test func everyCapturedEntryIsParsedWithItsAddressesPortsStateAndExpiry() throws {
        let entries = try IPVSConnectionList.parse(Self.captured)
        #expect(entries.count == Self.captured.split(separator: "\n").count - 1)
        #expect(
            entries.first
                == IPVSConnectionEntry(
                    protocolName: "TCP", client: Self.v4("10.250.0.2"), clientPort: 0x937A,
                    virtualAddress: Self.v4("10.250.0.1"), virtualPort: 80, destination: Self.v4("10.250.1.2"),
                    destinationPort: 80, state: "TIME_WAIT", expiresInSeconds: 111))
        #expect(
            entries[3]
                == IPVSConnectionEntry(
                    protocolName: "UDP", client: IPAddress("fd00::2")!, clientPort: 0x8755,
                    virtualAddress: IPAddress("fd00::1")!, virtualPort: 53, destination: IPAddress("fd00:1::2")!,
                    destinationPort: 53, state: "UDP", expiresInSeconds: 299))
        #expect(entries.allSatisfy { $0.persistenceEngine == nil && $0.persistenceData == nil })
        #expect(Set(entries.map(\.protocolName)) == ["TCP", "UDP"])
        #expect(entries.filter { $0.client.family == .inet6 }.count == 3)
    }

    /// The persistent services' templates: client port 0, state NONE (UDP, not yet assured) or ASSURED.
    @Test func persistenceTemplatesAreRecognised() throws {
        let templates = try IPVSConnectionList.parse(Self.captured).filter(\.isTemplate)
        #expect(templates.map(\.state).sorted() == ["ASSURED", "NONE"])
        #expect(Set(templates.map(\.virtualPort)) == [8080, 53])
        #expect(templates.allSatisfy { $0.clientPort == 0 })
    }

    @Test func headerAloneIsAnEmptyTable() throws {
        let header = String(Self.captured.prefix { $0 != "\n" })
        #expect(try IPVSConnectionList.parse(header + "\n").isEmpty)
    }

    /// Not captured (see Fixtures/capture-connections): the columns a persistence engine adds, the "IP" protocol
    /// of a fwmark service's template and an IPv4 service with an IPv6 real server, written here in the form of
    /// ip_vs_conn.c `ip_vs_conn_seq_show` ("%-3s %08X %04X %08X %04X %s %04X %-11s %7u%s").
    @Test func engineColumnsFwmarkTemplatesAndMixedFamiliesFollowTheKernelsFormat() throws {
        let header = String(Self.captured.prefix { $0 != "\n" })
        let lines = [
            "UDP 0AFA0002 0000 0AFA0001 13C4 0AFA0102 13C4 NONE             59 sip a84b4c76e66710@client",
            "IP  0AFA0002 0000 00000000 0000 0AFA0102 0000 ASSURED         300",
            "TCP 0AFA0002 C001 0AFA0001 0050 fd00:0001:0000:0000:0000:0000:0000:0002 0050 ESTABLISHED     900",
        ]
        let entries = try IPVSConnectionList.parse(([header] + lines).joined(separator: "\n") + "\n")
        #expect(entries[0].persistenceEngine == "sip" && entries[0].persistenceData == "a84b4c76e66710@client")
        #expect(entries[0].virtualPort == 5060 && entries[0].isTemplate && entries[0].ipProtocol == .udp)
        #expect(entries[1].protocolName == "IP" && entries[1].ipProtocol == nil && entries[1].isTemplate)
        #expect(entries[1].virtualAddress == Self.v4("0.0.0.0"))
        #expect(entries[2].client == Self.v4("10.250.0.2") && entries[2].destination == IPAddress("fd00:1::2")!)
        #expect(!entries[2].isTemplate && entries[2].ipProtocol == .tcp)
    }

    /// (line number, text replaced in that line, its replacement, the problem reported).
    @Test(arguments: [
        (2, " 937A ", " 93ZA ", "client port \"93ZA\" is not 4 hex digits"),
        (3, "0AFA0001 0035", "0AFA01 0035", "virtual address \"0AFA01\" is neither 8 hex digits nor IPv6"),
        (4, "fd00:0001:", "fd00:00g1:", "destination address \"fd00:00g1:0000:0000:0000:0000:0000:0002\" is not IPv6"),
        (6, "     114", "     11x", "expiry \"11x\" is not a number"),
        (7, "0AFA0001 1F90 0AFA0102 0050 ASSURED", "0AFA0001 1F90 ASSURED", "7 fields, expected at least 9"),
    ])
    func aMalformedLineFailsTheParseWithItsNumber(line: Int, find: String, replace: String, problem: String) {
        var lines = Self.captured.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[line - 1].contains(find))
        lines[line - 1] = lines[line - 1].replacingOccurrences(of: find, with: replace)
        #expect(throws: IPVSConnectionListError.malformedLine(line: line, text: lines[line - 1], problem: problem)) {
            _ = try IPVSConnectionList.parse(lines.joined(separator: "\n"))
        }
    }

    @Test func aFileThatIsNotTheConnectionTableIsRefusedAtLineOne() {
        let text = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n"
        #expect(throws: IPVSConnectionListError.self) { _ = try IPVSConnectionList.parse(text) }
        do {
            _ = try IPVSConnectionList.parse(text)
        } catch {
            #expect(error.line == 1)
            #expect(error.description.hasPrefix("/proc/net/ip_vs_conn line 1: not the ip_vs_conn header"))
        }
        #expect(throws: IPVSConnectionListError.self) { _ = try IPVSConnectionList.parse("") }
    }
}
