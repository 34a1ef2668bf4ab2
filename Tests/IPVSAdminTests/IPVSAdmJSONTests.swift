import Foundation
import IPVSAdmin
import IPVSCore
import IPVSNetlink
import Testing

/// `--json`: the documents IPVSAdmJSON writes for decoded table values are the ones docs/ipvsctl-json.md shows (the
/// document is the golden file: each example there is compared, byte for byte once the layout whitespace between
/// tokens is taken out, with what the encoder writes for the values below); 64-bit counters keep every digit.
struct IPVSAdmJSONTests {
    static let info = IPVSInfo(versionCode: 0x01_02_01, connectionTableSize: 4096)

    /// A table with a persistent IPv4 TCP service whose counters are above 2^32 and 2^53 (up to UInt64.max), with a
    /// NAT and a GUE-tunnelled server, and an IPv6 firewall-mark service with sh flags. Listed by the kernel with
    /// the IPv6 service first, so that the sorted and `--nosort` orders differ.
    static var table: [IPVSAdmServiceListing] {
        var web = IPVSServiceEntry(
            service: VirtualService(
                .address(.tcp, .v4(IPv4Address(192, 168, 1, 10)), port: 80), scheduler: .rr, flags: .persistent,
                persistenceTimeout: 300, netmask: 0xffff_ff00),
            kernelFlags: [.persistent, .hashed], statistics: IPVSStatistics())
        web.statistics.connections = 5_000_000_000  // above 2^32
        web.statistics.incomingPackets = 9_007_199_254_740_993  // 2^53 + 1: a double would make it ...992
        web.statistics.outgoingPackets = 4_294_967_296  // 2^32
        web.statistics.incomingBytes = UInt64.max
        web.statistics.outgoingBytes = 18_446_744_073_709_551_000
        web.statistics.connectionsPerSecond = 12
        web.statistics.incomingPacketsPerSecond = 340
        web.statistics.outgoingPacketsPerSecond = 310
        web.statistics.incomingBytesPerSecond = 4_400_000_000
        web.statistics.outgoingBytesPerSecond = 52_000
        var nat = IPVSDestinationEntry(
            server: RealServer(.v4(IPv4Address(10, 0, 0, 3)), port: 8080, forwarding: .masquerade, weight: 3,
                               upperThreshold: 100, lowerThreshold: 50),
            activeConnections: 7, inactiveConnections: 2, persistentConnections: 1)
        nat.statistics.connections = 3_000_000_000
        nat.statistics.incomingBytes = 10_000_000_000_000_000_000
        let gue = IPVSDestinationEntry(
            server: RealServer(.v4(IPv4Address(10, 0, 0, 2)), port: 80, forwarding: .tunnel, weight: 1,
                               tunnelType: .gue, tunnelPort: 6080, tunnelFlags: .checksum))
        let mark = IPVSServiceEntry(
            service: VirtualService(
                .firewallMark(5, .inet6), scheduler: .sh, flags: [.schedulerFlag1, .schedulerFlag2], netmask: 64),
            kernelFlags: [.hashed, .schedulerFlag1, .schedulerFlag2], statistics: IPVSStatistics())
        let v6 = IPVSDestinationEntry(server: RealServer(.v6(IPv6Address("2001:db8::7")!), port: 0, weight: 0))
        return [IPVSAdmServiceListing(mark, [v6]), IPVSAdmServiceListing(web, [nat, gue])]
    }

    static var connections: [IPVSConnectionEntry] {
        [
            IPVSConnectionEntry(
                protocolName: "TCP", client: .v4(IPv4Address(10, 250, 0, 2)), clientPort: 33854,
                virtualAddress: .v4(IPv4Address(192, 168, 1, 10)), virtualPort: 80,
                destination: .v4(IPv4Address(10, 0, 0, 3)), destinationPort: 8080, state: "ESTABLISHED",
                expiresInSeconds: 899),
            IPVSConnectionEntry(
                protocolName: "IP", client: .v6(IPv6Address("2001:db8:1::")!), clientPort: 0,
                virtualAddress: .v6(IPv6Address("::")!), virtualPort: 0,
                destination: .v6(IPv6Address("2001:db8::7")!), destinationPort: 0, state: "NONE",
                expiresInSeconds: 360),
            IPVSConnectionEntry(
                protocolName: "UDP", client: .v4(IPv4Address(10, 250, 0, 9)), clientPort: 5060,
                virtualAddress: .v4(IPv4Address(192, 168, 1, 11)), virtualPort: 5060,
                destination: .v4(IPv4Address(10, 0, 0, 4)), destinationPort: 5060, state: "UDP",
                expiresInSeconds: 299, persistenceEngine: "sip", persistenceData: "a84b4c76e66710\"x"),
        ]
    }

    /// Every example of the document, by its name, as the encoder writes it.
    static var documents: [String: String] {
        let t = table
        return [
            "services": IPVSAdmJSON.services(info: info, services: t, noSort: false),
            "services-nosort": IPVSAdmJSON.services(info: info, services: t, noSort: true),
            "service": IPVSAdmJSON.service(info: info, t[1], noSort: false),
            "rules": IPVSAdmJSON.rules(info: info, services: t, noSort: false),
            "connections": IPVSAdmJSON.connections(info: info, connections),
            "timeouts": IPVSAdmJSON.timeouts(info: info, IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 300)),
            "daemons": IPVSAdmJSON.daemons(
                info: info,
                [
                    IPVSSyncDaemon(.backup, interface: "eth1", syncID: 0, maximumMessageLength: 1472,
                                   multicastGroup: .v6(IPv6Address("ff02::81")!), multicastPort: 8848,
                                   multicastTTL: 1),
                    IPVSSyncDaemon(.master, interface: "eth0", syncID: 7),
                ]),
        ]
    }

    static let docPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/ipvsctl-json.md").path

    /// The examples of docs/ipvsctl-json.md: a `<!-- example: NAME -->` line, then a ```json block.
    static func documentedExamples() throws -> [String: String] {
        let text = try String(contentsOfFile: docPath, encoding: .utf8)
        var examples: [String: String] = [:]
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)[...]
        while let line = lines.popFirst() {
            guard line.hasPrefix("<!-- example: "), line.hasSuffix(" -->") else { continue }
            let name = String(line.dropFirst("<!-- example: ".count).dropLast(" -->".count))
            guard lines.popFirst() == "```json" else { continue }
            var block: [Substring] = []
            while let l = lines.popFirst(), l != "```" { block.append(l) }
            examples[name] = block.joined(separator: "\n")
        }
        return examples
    }

    /// Takes out the whitespace between tokens (outside strings), as a reader of JSON ignores it.
    static func compact(_ json: String) -> String {
        var out = ""
        var inString = false, escaped = false
        for c in json {
            if inString {
                out.append(c)
                if escaped {
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    inString = false
                }
            } else if c == "\"" {
                inString = true
                out.append(c)
            } else if !c.isWhitespace {
                out.append(c)
            }
        }
        return out
    }

    /// `IPVSCTL_JSON_EXAMPLES_OUT=DIR` writes each document to DIR/NAME.json, to regenerate the doc's examples after
    /// a deliberate change of the format (then pretty-print them into docs/ipvsctl-json.md).
    @Test func theEncoderWritesExactlyTheDocumentedExamples() throws {
        let documents = Self.documents
        if let directory = ProcessInfo.processInfo.environment["IPVSCTL_JSON_EXAMPLES_OUT"] {
            for (name, document) in documents {
                try document.write(toFile: "\(directory)/\(name).json", atomically: true, encoding: .utf8)
            }
        }
        let examples = try Self.documentedExamples()
        #expect(Set(examples.keys) == Set(documents.keys), "examples in the doc: \(examples.keys.sorted())")
        for (name, document) in documents.sorted(by: { $0.key < $1.key }) {
            guard let example = examples[name] else { continue }
            #expect(document.hasSuffix("}\n") && !document.dropLast().contains("\n"), "\(name): one line")
            #expect(String(document.dropLast()) == Self.compact(example), "\(name):\n\(document)")
        }
    }

    @Test func countersAbove2To32And2To53KeepEveryDigit() {
        let document = Self.documents["services"]!
        for digits in ["5000000000", "9007199254740993", "4294967296", "18446744073709551615", "18446744073709551000",
                       "4400000000", "3000000000", "10000000000000000000"] {
            #expect(document.contains(":\(digits),") || document.contains(":\(digits)}"), "\(digits)")
        }
        // Decoded back as UInt64 (JSONDecoder reads the digits, not a double), every counter is the value given.
        struct Document: Decodable {
            struct Service: Decodable { var stats: Counters }
            struct Counters: Decodable {
                var connections, packets_in, packets_out, bytes_in, bytes_out: UInt64
            }
            var services: [Service]
        }
        let decoded = try? JSONDecoder().decode(Document.self, from: Data(document.utf8))
        let stats = decoded?.services.first?.stats
        #expect(stats?.connections == 5_000_000_000)
        #expect(stats?.packets_in == 9_007_199_254_740_993)
        #expect(stats?.packets_out == 4_294_967_296)
        #expect(stats?.bytes_in == UInt64.max)
        #expect(stats?.bytes_out == 18_446_744_073_709_551_000)
    }

    @Test func everyDocumentIsValidJSONWithTheHeaderFirst() throws {
        for (name, document) in Self.documents {
            let object = try JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any]
            #expect(object?["schema"] as? String == "ipvsctl-json", "\(name)")
            #expect((object?["version"] as? NSNumber)?.intValue == 1, "\(name)")
            #expect(object?["kind"] as? String == name.replacingOccurrences(of: "-nosort", with: ""), "\(name)")
            #expect(document.hasPrefix("{\"schema\":\"ipvsctl-json\",\"version\":1,\"kind\":"), "\(name)")
        }
    }

    @Test func sortedAsIpvsadmSortsAndInTheKernelsOrderWithNoSort() throws {
        func order(_ document: String) throws -> [String] {
            let object = try JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any]
            let services = object?["services"] as? [[String: Any]] ?? []
            return services.map { ($0["address"] as? String) ?? "fwmark \($0["fwmark"] ?? "")" }
        }
        // ipvsadm's comparator puts the firewall mark (5) after the address service (mark 0).
        #expect(try order(Self.documents["services"]!) == ["192.168.1.10", "fwmark 5"])
        #expect(try order(Self.documents["services-nosort"]!) == ["fwmark 5", "192.168.1.10"])
        // Destinations too: 10.0.0.2 before 10.0.0.3 sorted, the kernel's order (.3 first) with --nosort.
        #expect(Self.documents["services"]!.contains("\"10.0.0.2\",\"port\":80,\"forwarding\":\"tunnel\""))
        let nosort = Self.documents["services-nosort"]!
        let three = nosort.range(of: "\"10.0.0.3\"")!.lowerBound, two = nosort.range(of: "\"10.0.0.2\"")!.lowerBound
        #expect(three < two)
    }

    @Test func stringsAreEscaped() {
        var w = IPVSJSONWriter()
        w.beginObject()
        w.member("a\"b", "q\"\\\n\t\u{01}é")
        w.endObject()
        #expect(w.text == "{\"a\\\"b\":\"q\\\"\\\\\\n\\t\\u0001é\"}")
    }

    @Test func rulesHaveNoCountersAndListingsHaveAll() {
        let rules = Self.documents["rules"]!
        for key in ["stats", "rates", "active_connections", "inactive_connections", "persistent_connections"] {
            #expect(!rules.contains("\"\(key)\""), "\(key)")
            #expect(Self.documents["services"]!.contains("\"\(key)\""), "\(key)")
        }
    }
}
