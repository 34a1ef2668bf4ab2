import IPVSCore
import IPVSNetlink
import Testing

/// Real TCP connections through an IPVS NAT virtual service, from a client namespace to real servers in namespaces
/// of their own (see ``NATTopology``). Nothing leaves the VM: it has no network device.
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct NATForwardingTests {
    let vip = NATTopology.virtualAddress

    @Test func connectionReachesTheRealServerAndIsInTheConnectionTable() throws {
        let network = try NATTopology(realServers: 1)
        let server = try IdentityHTTPServer(
            in: network.realServers[0], address: NATTopology.realServerAddress(0), identity: "real-server-0")
        try network.director.ipvsadm(restore: [
            "-A -t \(vip):80 -s rr",
            "-a -t \(vip):80 -r \(NATTopology.realServerAddress(0)):80 -m",
        ])

        #expect(try network.get() == "\(server.identity)\n")

        let connections = try IPVSConnectionList.read(networkNamespace: network.director.path)
        let connection = try #require(connections.first, "no connection in /proc/net/ip_vs_conn")
        #expect(connections.count == 1)
        #expect(connection.protocolName == "TCP")
        #expect(connection.client == IPAddress(NATTopology.clientAddress))
        #expect(connection.virtualAddress == IPAddress(vip))
        #expect(connection.virtualPort == 80)
        #expect(connection.destination == IPAddress(NATTopology.realServerAddress(0)))
        #expect(connection.destinationPort == 80)
        // The connection is over: the kernel keeps the entry in TIME_WAIT, or in another closing state if the
        // last packets raced the read.
        #expect(
            ["TIME_WAIT", "CLOSE", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK"].contains(connection.state), "\(connection)")
    }

    @Test func roundRobinSpreadsConnectionsOverTheRealServers() throws {
        let network = try NATTopology(realServers: 2)
        let servers = try (0..<2).map {
            try IdentityHTTPServer(
                in: network.realServers[$0], address: NATTopology.realServerAddress($0), identity: "real-server-\($0)")
        }
        try network.director.ipvsadm(
            restore: ["-A -t \(vip):80 -s rr"]
                + servers.indices.map { "-a -t \(vip):80 -r \(NATTopology.realServerAddress($0)):80 -m" })

        let answers = try (0..<4).map { _ in try network.get() }
        #expect(Set(answers) == Set(servers.map { "\($0.identity)\n" }))
        #expect(answers[0] != answers[1] && answers[0] == answers[2] && answers[1] == answers[3], "\(answers)")
    }

    @Test func realServerSideCarriesTheRealServerAddress() throws {
        let network = try NATTopology(realServers: 1)
        let realServer = NATTopology.realServerAddress(0)
        let server = try IdentityHTTPServer(in: network.realServers[0], address: realServer, identity: "real-server-0")
        try network.director.ipvsadm(restore: ["-A -t \(vip):80 -s rr", "-a -t \(vip):80 -r \(realServer):80 -m"])
        let capture = try PacketCapture(
            in: network.director, interface: NATTopology.directorInterface(towardRealServer: 0),
            filter: ["tcp", "port", "80"])

        #expect(try network.get() == "\(server.identity)\n")

        // Destination NAT: the client's packets leave the director for the real server's address, not the VIP.
        let packets = try capture.stop()
        let toServer = packets.filter {
            $0.contains("\(NATTopology.clientAddress).") && $0.contains("> \(realServer).80:")
        }
        #expect(!toServer.isEmpty, "\(packets.joined(separator: "\n"))")
        #expect(!packets.contains { $0.contains("> \(vip).80:") }, "\(packets.joined(separator: "\n"))")
    }
}
