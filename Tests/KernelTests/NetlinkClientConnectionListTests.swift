import IPVSCore
import IPVSNetlink
import Testing

/// IPVSConnectionList on the live /proc/net/ip_vs_conn of a namespace with real connections through a persistent
/// NAT service (see ``NATTopology``), compared with what `ipvsadm -Lnc` prints from the same file.
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct NetlinkClientConnectionListTests {
    @Test func liveConnectionsAndTheirTemplateAreListedAsIpvsadmListsThem() throws {
        let network = try NATTopology(realServers: 1)
        let vip = NATTopology.virtualAddress
        let real = NATTopology.realServerAddress(0)
        let server = try IdentityHTTPServer(in: network.realServers[0], address: real, identity: "real-server-0")
        try network.director.ipvsadm(restore: ["-A -t \(vip):80 -s rr -p 300", "-a -t \(vip):80 -r \(real):80 -m"])
        for _ in 0..<2 { #expect(try network.get() == "\(server.identity)\n") }

        let entries = try IPVSConnectionList.read(networkNamespace: network.director.path)
        let connections = entries.filter { !$0.isTemplate }
        let templates = entries.filter(\.isTemplate)
        #expect(connections.count == 2 && templates.count == 1, "\(entries)")
        for entry in entries {
            #expect(entry.protocolName == "TCP" && entry.ipProtocol == .tcp)
            #expect(entry.client == IPAddress(NATTopology.clientAddress))
            #expect(entry.virtualAddress == IPAddress(vip) && entry.virtualPort == 80)
            #expect(entry.destination == IPAddress(real) && entry.destinationPort == 80)
            #expect(entry.expiresInSeconds > 0 && entry.expiresInSeconds <= 300)
        }
        #expect(Set(connections.map(\.clientPort)).count == 2, "a fresh source port each")
        #expect(templates.first?.state == "ASSURED" && templates.first?.clientPort == 0)

        // ipvsadm -Lnc reads the same file: one line per entry, with the same client, virtual and destination.
        let listing = try network.director.ipvsadm("-Lnc").split(separator: "\n").dropFirst(2)
        #expect(listing.count == entries.count, "\(listing)")
        for entry in entries {
            let triple = "\(entry.client):\(entry.clientPort)".padding(19) + "\(vip):80".padding(19) + "\(real):80"
            #expect(listing.contains { $0.hasPrefix("TCP") && $0.contains(triple) }, "\(triple) in \(listing)")
        }
    }

    @Test func aNamespaceThatDoesNotExistIsReportedByPath() {
        #expect(throws: IPVSConnectionListError.self) {
            _ = try IPVSConnectionList.read(networkNamespace: "/run/netns/no-such-namespace-here")
        }
    }
}

extension String {
    /// Left-aligned in `width` columns, as ipvsadm's %-18s then a space.
    fileprivate func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }
}
