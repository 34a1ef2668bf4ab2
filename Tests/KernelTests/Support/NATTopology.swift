/// The smallest network for an IPVS NAT virtual service, every node in a namespace of its own:
///
///     client 10.250.0.2 ──veth── 10.250.0.1 director ─┬─veth── 10.250.1.2 real server 0
///                                   (virtual address)  └─veth── 10.250.2.2 real server 1 …
///
/// The director forwards, and each real server routes back through it (NAT needs the replies to come back through
/// the director to be rewritten). The director's client-side address is the virtual address. Addresses exist only
/// inside these namespaces, so topologies of tests running at once do not meet.
final class NATTopology: Sendable {
    static let clientAddress = "10.250.0.2"
    static let virtualAddress = "10.250.0.1"

    /// Real server `index`'s address (from 0).
    static func realServerAddress(_ index: Int) -> String { "10.250.\(index + 1).2" }
    /// The director's interface toward real server `index`.
    static func directorInterface(towardRealServer index: Int) -> String { "rs\(index)" }
    /// The director's interface toward the client.
    static let directorClientInterface = "client"

    let client: NetworkNamespace
    let director: NetworkNamespace
    let realServers: [NetworkNamespace]

    /// Builds it with as few processes as it can: one to create the namespaces, one `ip -batch` for each, and
    /// one to let the director forward.
    init(realServers count: Int) throws {
        let namespaces = try NetworkNamespace.create(["client", "director"] + (0..<count).map { "rs\($0)" })
        client = namespaces[0]
        director = namespaces[1]
        realServers = Array(namespaces[2...])

        var directorCommands = [
            "link set lo up",
            "link add \(Self.directorClientInterface) type veth peer name eth0 netns \(client.name)",
            "address add \(Self.virtualAddress)/24 dev \(Self.directorClientInterface)",
            "link set \(Self.directorClientInterface) up",
        ]
        for (index, server) in realServers.enumerated() {
            let interface = Self.directorInterface(towardRealServer: index)
            directorCommands += [
                "link add \(interface) type veth peer name eth0 netns \(server.name)",
                "address add \(Self.gateway(index))/24 dev \(interface)",
                "link set \(interface) up",
            ]
        }
        try director.ip(batch: directorCommands)
        try client.ip(batch: [
            "link set lo up",
            "address add \(Self.clientAddress)/24 dev eth0",
            "link set eth0 up",
            "route add default via \(Self.virtualAddress)",
        ])
        for (index, server) in realServers.enumerated() {
            try server.ip(batch: [
                "link set lo up",
                "address add \(Self.realServerAddress(index))/24 dev eth0",
                "link set eth0 up",
                "route add default via \(Self.gateway(index))",
            ])
        }
        try director.setSysctl("net.ipv4.ip_forward", "1")
    }

    /// The director's address toward real server `index`: that server's default gateway.
    static func gateway(_ index: Int) -> String { "10.250.\(index + 1).1" }

    /// Fetches `path` from `address` over HTTP from the client namespace and returns the body.
    func get(_ path: String = "/", from address: String = virtualAddress, port: Int = 80) throws -> String {
        // Not busybox wget's own -T, which crashes under `ip netns exec`: the command's time limit kills it.
        try client.check(
            Tool.busybox, ["wget", "-q", "-O", "-", "http://\(address):\(port)\(path)"], timeout: .seconds(30))
    }
}
