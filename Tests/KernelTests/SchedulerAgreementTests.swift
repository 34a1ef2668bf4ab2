import CIPVSLinux
import Foundation
import IPVSCore
import IPVSNetlink
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real kernel against IPVSCore: for each scheduler, a director namespace gets the same services and real servers
/// through `ipvsadm -R` as a model gets through `VirtualServer`; a client namespace then opens hundreds of UDP
/// connections from many addresses and ports, and every destination the kernel chose (read back from
/// /proc/net/ip_vs_conn) must be the one IPVSCore predicted, connection by connection, in order.
///
/// UDP keeps every connection "inactive" for 300 s, so the counters the lc family reads grow with each connection,
/// exactly as the model's do. The real servers need not exist: the kernel creates the connection when it schedules
/// the first packet, before forwarding it (to a dummy device that drops it).
@Suite("Scheduler agreement with the kernel", .kernelIPVS, .tags(.kernelIPVS))
struct SchedulerAgreementTests {
    struct Scenario: CustomTestStringConvertible, Sendable {
        var name: String
        var scheduler: SchedulerKind
        var flags: ServiceFlags = []
        /// Persistence timeout in seconds; nil for none.
        var persistence: UInt32? = nil
        var netmask: String? = nil
        var weights: [Int32]
        /// Upper connection thresholds, per real server (0: none).
        var upperThresholds: [UInt32] = []
        var virtualAddresses = 1
        var clients = 60
        var connections = 400
        var ipv6 = false

        var testDescription: String { name }
    }

    static let scenarios: [Scenario] = [
        Scenario(name: "rr with a quiesced server", scheduler: .rr, weights: [1, 1, 0, 1, 1]),
        Scenario(name: "wrr", scheduler: .wrr, weights: [5, 1, 3, 7, 2, 4]),
        Scenario(name: "wrr with a common divisor", scheduler: .wrr, weights: [6, 4, 2]),
        Scenario(name: "lc", scheduler: .lc, weights: [1, 1, 1, 1]),
        Scenario(name: "wlc", scheduler: .wlc, weights: [1, 2, 3, 4, 5]),
        Scenario(name: "wlc with upper thresholds", scheduler: .wlc, weights: [3, 1, 2],
                 upperThresholds: [40, 0, 25]),
        Scenario(name: "sed", scheduler: .sed, weights: [1, 3, 2]),
        Scenario(name: "nq", scheduler: .nq, weights: [2, 1, 3]),
        Scenario(name: "fo with thresholds", scheduler: .fo, weights: [2, 5, 3], upperThresholds: [0, 30, 50]),
        Scenario(name: "ovf", scheduler: .ovf, weights: [2, 5, 3]),
        Scenario(name: "dh over 24 virtual addresses", scheduler: .dh, weights: [1, 2, 1, 0, 3], virtualAddresses: 24),
        Scenario(name: "sh", scheduler: .sh, weights: [1, 2, 3, 1, 1]),
        Scenario(name: "sh with sh-port", scheduler: .sh, flags: .shPort, weights: [1, 2, 3, 1, 1]),
        Scenario(name: "sh with sh-fallback and a quiesced server", scheduler: .sh, flags: .shFallback,
                 weights: [1, 0, 2, 1]),
        Scenario(name: "mh", scheduler: .mh, weights: [1, 2, 3, 1, 1]),
        Scenario(name: "mh with mh-port", scheduler: .mh, flags: .mhPort, weights: [4, 1, 1, 2]),
        Scenario(name: "mh with mh-fallback and a quiesced server", scheduler: .mh, flags: .mhFallback,
                 weights: [1, 0, 2, 1]),
        Scenario(name: "lblc over 24 virtual addresses", scheduler: .lblc, weights: [1, 2, 3], virtualAddresses: 24),
        Scenario(name: "lblcr over 24 virtual addresses", scheduler: .lblcr, weights: [1, 2, 3], virtualAddresses: 24),
        Scenario(name: "rr persistent (ClientIP affinity)", scheduler: .rr, persistence: 10800, weights: [1, 1, 1]),
        Scenario(name: "wlc persistent with a /30 mask", scheduler: .wlc, persistence: 300,
                 netmask: "255.255.255.252", weights: [1, 2, 1]),
        Scenario(name: "IPv6 sh", scheduler: .sh, weights: [1, 2, 1, 3], ipv6: true),
        Scenario(name: "IPv6 mh with mh-port", scheduler: .mh, flags: .mhPort, weights: [2, 1, 3], ipv6: true),
        Scenario(name: "IPv6 wrr persistent", scheduler: .wrr, persistence: 60, weights: [3, 1, 2], ipv6: true),
    ]

    static let servicePort: UInt16 = 5000

    func virtualAddress(_ i: Int, _ s: Scenario) -> String { s.ipv6 ? "2001:db8:96::\(i + 1)" : "10.96.0.\(i + 1)" }
    func realServer(_ i: Int, _ s: Scenario) -> String { s.ipv6 ? "2001:db8:2::\(i + 1)" : "10.2.0.\(i + 1)" }
    func client(_ i: Int, _ s: Scenario) -> String {
        s.ipv6 ? "2001:db8:1::\(i / 200):\(i % 200 + 1)" : "10.1.\(i / 200).\(i % 200 + 1)"
    }

    @Test("The kernel picks what IPVSCore predicts, connection by connection", arguments: scenarios)
    func agreement(_ s: Scenario) throws {
        let director = try NetworkNamespace("dir")
        let clients = try NetworkNamespace("cl")
        try buildTopology(s, director: director, clients: clients)

        // The same configuration, in the same order, for the kernel and for the model.
        var rules: [String] = []
        var models: [VirtualServer] = []
        let proto = IPProtocol.udp
        for v in 0..<s.virtualAddresses {
            let vip = IPAddress(virtualAddress(v, s))!
            let service = VirtualService(
                .address(proto, vip, port: Self.servicePort), scheduler: s.scheduler, flags: s.flags
                    .union(s.persistence == nil ? [] : .persistent),
                persistenceTimeout: s.persistence ?? 0,
                netmask: s.netmask.map { IPv4Address($0)!.value })
            let vipText = s.ipv6 ? "[\(vip)]:\(Self.servicePort)" : "\(vip):\(Self.servicePort)"
            var line = "-A -u \(vipText) -s \(s.scheduler)"
            var schedFlags: [String] = []
            if s.flags.contains(.schedulerFlag1) { schedFlags.append(s.scheduler == .sh ? "sh-fallback" : "mh-fallback") }
            if s.flags.contains(.schedulerFlag2) { schedFlags.append(s.scheduler == .sh ? "sh-port" : "mh-port") }
            if !schedFlags.isEmpty { line += " -b \(schedFlags.joined(separator: ","))" }
            if let p = s.persistence { line += " -p \(p)" }
            if let m = s.netmask { line += " -M \(m)" }
            rules.append(line)
            var servers: [RealServer] = []
            for (i, w) in s.weights.enumerated() {
                let u = i < s.upperThresholds.count ? s.upperThresholds[i] : 0
                let rs = RealServer(IPAddress(realServer(i, s))!, port: Self.servicePort, forwarding: .masquerade,
                                    weight: w, upperThreshold: u)
                servers.append(rs)
                let rsText = s.ipv6 ? "[\(rs.address)]:\(Self.servicePort)" : "\(rs.address):\(Self.servicePort)"
                rules.append("-a -u \(vipText) -r \(rsText) -m -w \(w)" + (u > 0 ? " -x \(u)" : ""))
            }
            models.append(try VirtualServer(service, servers: servers))
        }
        try director.check(Tool.ipvsadm, ["-R"], input: rules.joined(separator: "\n") + "\n")

        // The connections: client addresses and virtual addresses interleaved, a fresh source port each.
        var flows: [Flow] = []
        for k in 0..<s.connections {
            let c = IPAddress(client(k % s.clients, s))!
            let v = IPAddress(virtualAddress((k / 7 + k) % s.virtualAddresses, s))!
            flows.append(Flow(proto, from: c, port: UInt16(20000 + k), to: v, port: Self.servicePort))
        }
        try UDPSender.send(flows, inNamespace: clients.path)

        // What the kernel chose. /proc/net/ip_vs_conn is not a snapshot: the kernel serves it 4 KiB at a time and
        // resumes each read by counting the connections of every namespace from the start of its hash table
        // (ip_vs_conn.c ip_vs_conn_array), so connections that other tests add meanwhile shift the count and a read
        // can skip entries; and a datagram sent over veth may still wait in the backlog when the sender returns. A
        // connection's real server never changes and these UDP connections live 300 s: read again, merging, until
        // every flow is seen or 10 s pass without a new one.
        var chosen: [String: String] = [:]
        var lastProgress = ContinuousClock.now
        while chosen.count < flows.count && ContinuousClock.now - lastProgress < .seconds(10) {
            let before = chosen.count
            for c in try IPVSConnectionList.read(networkNamespace: director.path) where c.clientPort != 0 {
                chosen["\(c.client):\(c.clientPort)"] = c.destination.description
            }
            if chosen.count > before { lastProgress = ContinuousClock.now } else { usleep(100_000) }
        }

        // What IPVSCore predicts, replaying the same connections in the same order.
        var agreed = 0
        var mismatches: [String] = []
        for f in flows {
            let v = (0..<s.virtualAddresses).first { virtualAddress($0, s) == f.destinationAddress.description }!
            let predicted = models[v].newConnection(f, now: .zero)?.address.description
            let actual = chosen["\(f.sourceAddress):\(f.sourcePort)"]
            if predicted == actual {
                agreed += 1
            } else if mismatches.count < 10 {
                mismatches.append("\(f.sourceAddress):\(f.sourcePort) → \(f.destinationAddress): kernel \(actual ?? "none"), "
                                  + "IPVSCore \(predicted ?? "none")")
            }
        }
        let scheduledByKernel = chosen.count
        #expect(scheduledByKernel > 0, "the kernel scheduled no connection at all")
        #expect(agreed == flows.count, Comment(rawValue: "\(s.name): \(agreed)/\(flows.count) agree; first mismatches:\n"
                + mismatches.joined(separator: "\n")))
        print("agreement \(s.name): \(agreed)/\(flows.count) connections, \(scheduledByKernel) scheduled by the kernel")
    }

    /// clients (many addresses) --veth-- director (virtual addresses on a dummy device; real servers routed to
    /// another dummy device, which drops what it is sent). Nothing leaves these namespaces.
    func buildTopology(_ s: Scenario, director: NetworkNamespace, clients: NetworkNamespace) throws {
        let v6 = s.ipv6
        try clients.connect("eth0", address: v6 ? "2001:db8:1::ffff/64" : "10.1.255.1/16", to: director,
                            as: "cl", address: v6 ? "2001:db8:1::fffe/64" : "10.1.255.254/16")
        if v6 {
            // No duplicate address detection: the addresses are usable at once.
            for ns in [clients, director] { try ns.setSysctl("net.ipv6.conf.all.accept_dad", "0") }
        }
        // A permanent neighbour entry for the director: without it the first datagrams wait for address resolution
        // in a short queue, and the kernel never sees those that overflow it.
        let link = try director.ip("-o", "link", "show", "cl")
        guard let mac = link.split(separator: " ").drop(while: { $0 != "link/ether" }).dropFirst().first else {
            throw UDPSender.Failure(description: "no MAC address in: \(link)")
        }
        var batch: [String] = [
            "neigh replace \(v6 ? "2001:db8:1::fffe" : "10.1.255.254") lladdr \(mac) dev eth0 nud permanent"
        ]
        for i in 0..<s.clients {
            batch.append(v6 ? "address add \(client(i, s))/64 dev eth0 nodad" : "address add \(client(i, s))/16 dev eth0")
        }
        batch.append(v6 ? "route add 2001:db8:96::/64 via 2001:db8:1::fffe" : "route add 10.96.0.0/16 via 10.1.255.254")
        try clients.check(Tool.ip, ["-batch", "-"], input: batch.joined(separator: "\n") + "\n")

        batch = ["link add vips type dummy", "link set vips up", "link add rs type dummy", "link set rs up"]
        for v in 0..<s.virtualAddresses {
            batch.append(v6 ? "address add \(virtualAddress(v, s))/128 dev vips nodad"
                            : "address add \(virtualAddress(v, s))/32 dev vips")
        }
        batch.append(v6 ? "route add 2001:db8:2::/64 dev rs" : "route add 10.2.0.0/16 dev rs")
        if v6 {
            batch.append("address change 2001:db8:1::fffe/64 dev cl nodad")
        }
        try director.check(Tool.ip, ["-batch", "-"], input: batch.joined(separator: "\n") + "\n")
        try director.setSysctl(v6 ? "net.ipv6.conf.all.forwarding" : "net.ipv4.ip_forward", "1")
        // Wait until the client side can route to the director (IPv6 link-local setup, neighbour entries).
        try waitUntil("the director answers from the client namespace", timeout: .seconds(60)) {
            try clients.run(Tool.ip, [v6 ? "-6" : "-4", "route", "get", v6 ? "2001:db8:96::1" : "10.96.0.1"])
                .status == 0
        }
    }
}

/// Sends one UDP datagram per flow, each from its own socket bound to the flow's source address and port, from
/// inside another network namespace. The sending thread enters the namespace with setns(2) (which moves only that
/// thread) and is pinned to one CPU, so the director sees the datagrams in the order they were sent.
enum UDPSender {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private final class Outcome: @unchecked Sendable {
        var failure: String? = nil
        let done = DispatchSemaphore(value: 0)
    }

    static func send(_ flows: [Flow], inNamespace path: String) throws {
        let outcome = Outcome()
        let thread = Thread {
            outcome.failure = sendOnThisThread(flows, inNamespace: path)
            outcome.done.signal()
        }
        thread.start()
        outcome.done.wait()
        if let failure = outcome.failure { throw Failure(description: failure) }
    }

    private static func sendOnThisThread(_ flows: [Flow], inNamespace path: String) -> String? {
        if CIPVSLinux_pin_to_cpu(0) != 0 { return "sched_setaffinity: errno \(errno)" }
        let target = open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { return "open \(path): errno \(errno)" }
        defer { close(target) }
        // This thread is thrown away afterwards, so it need not go back to its original namespace.
        guard CIPVSLinux_setns_net(target) == 0 else { return "setns: errno \(errno)" }
        let payload: [UInt8] = Array("swift-ipvs agreement".utf8)
        for f in flows {
            let isV6 = f.sourceAddress.family == .inet6
            let fd = socket(isV6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { return "socket: errno \(errno)" }
            defer { close(fd) }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            let ok: Bool
            switch (f.sourceAddress, f.destinationAddress) {
            case (.v4(let src), .v4(let dst)):
                ok = bindAndSend(fd, from: sockaddr_in.make(src, f.sourcePort), to: sockaddr_in.make(dst, f.destinationPort),
                                 payload)
            case (.v6(let src), .v6(let dst)):
                ok = bindAndSend(fd, from: sockaddr_in6.make(src, f.sourcePort),
                                 to: sockaddr_in6.make(dst, f.destinationPort), payload)
            default:
                return "mixed address families in \(f)"
            }
            if !ok { return "sending \(f.sourceAddress):\(f.sourcePort) → \(f.destinationAddress): errno \(errno)" }
        }
        return nil
    }
}

/// bind(2) to `local`, then sendto(2) `remote`; `Address` is sockaddr_in or sockaddr_in6.
private func bindAndSend<Address>(_ fd: Int32, from local: Address, to remote: Address, _ payload: [UInt8]) -> Bool {
    let length = socklen_t(MemoryLayout<Address>.size)
    var local = local
    var remote = remote
    let bound = withUnsafePointer(to: &local) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 }
    }
    return bound && withUnsafePointer(to: &remote) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, payload, payload.count, 0, $0, length) >= 0 }
    }
}

extension sockaddr_in {
    static func make(_ a: IPv4Address, _ port: UInt16) -> sockaddr_in {
        var s = sockaddr_in()
        s.sin_family = sa_family_t(AF_INET)
        s.sin_port = port.bigEndian
        s.sin_addr = in_addr(s_addr: a.value.bigEndian)
        return s
    }
}

extension sockaddr_in6 {
    static func make(_ a: IPv6Address, _ port: UInt16) -> sockaddr_in6 {
        var s = sockaddr_in6()
        s.sin6_family = sa_family_t(AF_INET6)
        s.sin6_port = port.bigEndian
        let b = a.bytes
        withUnsafeMutableBytes(of: &s.sin6_addr) { raw in
            for i in 0..<16 { raw[i] = b[i] }
        }
        return s
    }
}
