import Foundation
import Glibc
import Testing

/// ipvsctl's extensions on a real kernel: `--json` lists the same values as the text listings (`-Ln --stats --exact`,
/// `-Ln --rate --exact`, `-Ln`, `-Lnc`, `--timeout`, `--daemon`), and `--netns` puts every command (changes, -R,
/// -c, --start-daemon, -C) in the namespace it names and nowhere else. ipvsctl runs from the test's own namespace; only
/// `--netns` takes it into the test's namespaces.
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct IPVSCtlJSONAndNetnsTests {
    static let ctl = IPVSCtlBinary.path

    /// Counters and rates move with real connections through a NAT service; JSON and the exact text agree number
    /// for number, for every service and destination, in the same order.
    @Test func jsonAgreesValueForValueWithTheExactTextListings() throws {
        let network = try NATTopology(realServers: 2)
        let servers = try (0..<2).map {
            try IdentityHTTPServer(
                in: network.realServers[$0], address: NATTopology.realServerAddress($0), identity: "rs\($0)")
        }
        let vip = NATTopology.virtualAddress
        let rules = [
            "-A -t \(vip):80 -s rr",
            "-a -t \(vip):80 -r \(NATTopology.realServerAddress(0)):80 -m -w 3",
            "-a -t \(vip):80 -r \(NATTopology.realServerAddress(1)):80 -m -w 1 -x 50 -y 10",
            "-A -u 10.9.0.1:53 -s wlc -p 120 -M 255.255.255.0",
            "-a -u 10.9.0.1:53 -r 10.9.1.1:53 -g",
            "-A -t [2001:db8::1]:443 -s sh -b sh-port",
            "-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -m",
            "-A -f 7 -6 -s mh",
        ]
        // Written by ipvsctl into the director's namespace by name.
        try Command.check(Self.ctl, ["--netns", network.director.name, "-R"],
                          input: rules.map { $0 + "\n" }.joined())
        for _ in 0..<3 { _ = try network.get() }
        #expect(servers.count == 2)

        // Counters reach what the kernel reports when its estimator runs (every 2 s): list until two text listings
        // around the JSON one are the same, so that all three saw the same counters.
        let ns = ["--netns", network.director.name]
        for mode in [["--stats"], ["--rate"]] {
            var agreed = false
            for _ in 0..<20 where !agreed {
                // Rates decay at every estimator tick for a minute or more after the traffic, and each ipvsctl
                // start costs up to a second in the VM: begin right after a tick (a listing that changed), so that
                // the three listings fit in one period.
                let probe = try Command.check(Self.ctl, ns + ["-Ln", "--exact"] + mode)
                var before = probe
                let tick = ContinuousClock.now + .milliseconds(2500)
                while before == probe && ContinuousClock.now < tick {
                    before = try Command.check(Self.ctl, ns + ["-Ln", "--exact"] + mode)
                }
                let json = try Command.check(Self.ctl, ns + ["-Ln", "--json"] + mode)
                let after = try Command.check(Self.ctl, ns + ["-Ln", "--exact"] + mode)
                guard before == after else { continue }
                agreed = true
                let text = Self.textRows(before)
                let fromJSON = try Self.jsonRows(json, member: mode == ["--stats"] ? "stats" : "rates")
                #expect(text.map(\.name) == fromJSON.map(\.name), "order: \(before)\n\(json)")
                #expect(text.count == 8, "\(before)")
                for (t, j) in zip(text, fromJSON) {
                    #expect(t.values == j.values, "\(mode) \(t.name): text \(t.values), json \(j.values)")
                }
                if mode == ["--stats"] {
                    // The traffic counted: three connections through the TCP service.
                    #expect(text.first { $0.name == "TCP \(vip):80" }?.values.first == 3, "\(before)")
                }
            }
            #expect(agreed, "the \(mode) listings never settled")
        }

        // Configuration fields against -Ln and --thresholds.
        let json = try Self.object(try Command.check(Self.ctl, ns + ["--json"]))
        let services = json["services"] as? [[String: Any]] ?? []
        let text = try Command.check(Self.ctl, ns + ["-Ln"])
        for service in services {
            let name = Self.serviceName(service)
            let line = text.split(separator: "\n").first { $0.split(separator: " ").joined(separator: " ")
                .hasPrefix(name + " ") }
            #expect(line?.contains(" \(service["scheduler"] as? String ?? "?")") == true, "\(name): \(text)")
            for d in service["destinations"] as? [[String: Any]] ?? [] {
                let dname = Self.destinationName(d)
                let row = text.split(separator: "\n").first { $0.hasPrefix("  -> \(dname) ") }
                    .map { $0.split(separator: " ").map(String.init) }
                // "->", name, forward, weight, active, inactive
                #expect(row?[2].lowercased() == d["forwarding"] as? String, "\(dname) \(text)")
                #expect(row.map { Int($0[3]) } == (d["weight"] as? NSNumber)?.intValue, "\(dname)")
                #expect(row.map { Int($0[4]) } == (d["active_connections"] as? NSNumber)?.intValue, "\(dname)")
                #expect(row.map { Int($0[5]) } == (d["inactive_connections"] as? NSNumber)?.intValue, "\(dname)")
            }
        }
        let persistent = services.first { $0["address"] as? String == "10.9.0.1" }
        #expect(persistent?["persistent"] as? Bool == true)
        #expect((persistent?["persistence_timeout"] as? NSNumber)?.intValue == 120)
        #expect(persistent?["netmask"] as? String == "255.255.255.0")
        #expect((services.first { $0["address"] as? String == "2001:db8::1" }?["scheduler_flags"] as? [String])
            == ["sh-port"])
        let thresholds = services.first { $0["address"] as? String == vip }?["destinations"] as? [[String: Any]]
        #expect(thresholds?.map { ($0["upper_threshold"] as? NSNumber)?.intValue ?? -1 } == [0, 50])

        // -c: the connections of the three GETs (TIME_WAIT for a while), as ipvsadm -Lnc lists them.
        let connections = try Self.object(try Command.check(Self.ctl, ns + ["-Lnc", "--json"]))["connections"]
            as? [[String: Any]] ?? []
        let clients = connections.filter { $0["virtual_address"] as? String == vip }
        #expect(clients.count >= 1, "\(connections)")
        #expect(clients.allSatisfy { $0["client_address"] as? String == NATTopology.clientAddress })
        let textConnections = try network.director.check(Tool.ipvsadm, ["-Lnc"])
        // Not in the namespace ipvsctl started in.
        let own = try Command.check(Self.ctl, ["-Lnc"])
        #expect(!own.contains(NATTopology.clientAddress + ":"), "\(own)")
        for c in clients {
            let source = "\(c["client_address"] as? String ?? ""):\((c["client_port"] as? NSNumber)?.intValue ?? 0)"
            #expect(textConnections.contains(source), "\(source) not in \(textConnections)")
        }

        // --timeout and --daemon.
        try network.director.ipvsadm("--set", "901", "121", "301")
        let timeouts = try Self.object(try Command.check(Self.ctl, ns + ["-L", "--timeout", "--json"]))["timeouts"]
            as? [String: Any]
        let timeoutValues = ["tcp", "tcp_fin", "udp"].map { (timeouts?[$0] as? NSNumber)?.intValue ?? 0 }
        #expect(timeoutValues == [901, 121, 301], "\(timeouts ?? [:])")
        try Command.check(Self.ctl, ns + ["--start-daemon", "master", "--mcast-interface", "lo", "--syncid", "9"])
        let daemons = try Self.object(try Command.check(Self.ctl, ns + ["-L", "--daemon", "--json"]))["daemons"]
            as? [[String: Any]]
        #expect(daemons?.count == 1 && daemons?.first?["role"] as? String == "master", "\(daemons ?? [])")
        #expect((daemons?.first?["syncid"] as? NSNumber)?.intValue == 9)
        #expect(try network.director.ipvsadm("-L", "--daemon").contains("syncid=9"))
        try Command.check(Self.ctl, ns + ["--stop-daemon", "master"])
    }

    /// Rules written with --netns land in that namespace only; listings of two namespaces differ as their tables
    /// do; -c, -R, -C, --start-daemon follow the namespace; a missing namespace fails clearly and changes
    /// nothing.
    @Test func everyCommandRunsInTheNamespaceItNames() throws {
        let namespaces = try NetworkNamespace.create(["netns-a", "netns-b"])
        let (a, b) = (namespaces[0], namespaces[1])
        try a.ip(batch: ["link set lo up"])
        try b.ip(batch: ["link set lo up"])
        let ownBefore = try Command.run(Tool.ipvsadm, ["-Sn"])

        try Command.check(Self.ctl, ["--netns", a.name, "-A", "-t", "10.1.1.1:80", "-s", "rr"])
        try Command.check(Self.ctl, ["--netns", a.name, "-a", "-t", "10.1.1.1:80", "-r", "10.1.1.2:80", "-m"])
        // The path form, and --netns after the command.
        try Command.check(Self.ctl, ["-R", "--netns=\(b.path)"],
                          input: "-A -u 10.2.2.2:53 -s wlc\n-a -u 10.2.2.2:53 -r 10.2.2.3:53 -m -w 5\n")
        try Command.check(Self.ctl, ["--netns", b.name, "-E", "-u", "10.2.2.2:53", "-s", "lc"])

        let savedA = try a.ipvsadm("-Sn"), savedB = try b.ipvsadm("-Sn")
        #expect(savedA == "-A -t 10.1.1.1:80 -s rr\n-a -t 10.1.1.1:80 -r 10.1.1.2:80 -m -w 1\n", "\(savedA)")
        #expect(savedB == "-A -u 10.2.2.2:53 -s lc\n-a -u 10.2.2.2:53 -r 10.2.2.3:53 -m -w 5\n", "\(savedB)")
        // ipvsctl lists each namespace as ipvsadm inside it does, and the two differ.
        for (ns, saved) in [(a, savedA), (b, savedB)] {
            #expect(try Command.check(Self.ctl, ["--netns", ns.name, "-Sn"]) == saved)
            #expect(try Command.check(Self.ctl, ["--netns", ns.name, "-Ln"]) == ns.ipvsadm("-Ln"))
        }
        #expect(try Command.check(Self.ctl, ["--netns", a.name, "-Ln", "--json"])
            != Command.check(Self.ctl, ["--netns", b.name, "-Ln", "--json"]))
        // The namespace ipvsctl was started in did not change.
        let ownAfter = try Command.run(Tool.ipvsadm, ["-Sn"])
        #expect(!ownAfter.standardOutput.contains("10.1.1.1") && !ownAfter.standardOutput.contains("10.2.2.2"))
        #expect(ownAfter.status == ownBefore.status)

        // -c reads each namespace's own /proc/net/ip_vs_conn (both empty here; the NAT test lists real ones).
        for ns in [a, b] {
            #expect(try Command.check(Self.ctl, ["--netns", ns.name, "-Lnc"]) == ns.ipvsadm("-Lnc"))
            let json = try Self.object(try Command.check(Self.ctl, ["--netns", ns.name, "-Lnc", "--json"]))
            #expect((json["connections"] as? [Any])?.isEmpty == true)
        }

        // Sync daemons start in the named namespace.
        try Command.check(Self.ctl, ["--netns", a.name, "--start-daemon", "backup", "--mcast-interface", "lo"])
        #expect(try a.ipvsadm("-L", "--daemon").hasPrefix("backup sync daemon (mcast=lo"))
        #expect(try b.ipvsadm("-L", "--daemon").isEmpty)
        try Command.check(Self.ctl, ["--netns", a.name, "--stop-daemon", "backup"])

        // -Z and -C stay in their namespace.
        try Command.check(Self.ctl, ["--netns", a.name, "-C"])
        #expect(try a.ipvsadm("-Sn").isEmpty)
        #expect(try b.ipvsadm("-Sn") == savedB)

        // A namespace that does not exist: a clear message, status 2, nothing changed anywhere.
        let missing = try Command.run(Self.ctl, ["--netns", "kt-no-such-namespace", "-A", "-t", "10.3.3.3:80"])
        #expect(missing.status == 2, "\(missing)")
        #expect(missing.standardError == "ipvsctl: --netns kt-no-such-namespace: no network namespace named "
            + "\"kt-no-such-namespace\" (/run/netns/kt-no-such-namespace does not exist; `ip netns add "
            + "kt-no-such-namespace` creates it)\n", "\(missing)")
        #expect(missing.standardOutput.isEmpty)
        let notNamespace = try Command.run(Self.ctl, ["--netns", "/etc/hostname", "-Ln"])
        #expect(notNamespace.status == 2 && notNamespace.standardError.contains("not a network namespace"),
                "\(notNamespace)")
        #expect(try Command.run(Tool.ipvsadm, ["-Sn"]).standardOutput == ownAfter.standardOutput)
        #expect(try b.ipvsadm("-Sn") == savedB)
    }

    // MARK: - Reading the listings

    struct Row: Equatable {
        var name: String
        var values: [UInt64]
    }

    /// `-Ln --stats --exact` / `--rate --exact`: per service and destination line, its name and its five numbers.
    /// A destination's name is prefixed with its service's, so that rows are unique.
    static func textRows(_ text: String) -> [Row] {
        var rows: [Row] = []
        var service = ""
        for line in text.split(separator: "\n").dropFirst(3) {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count >= 6 else { continue }
            let values = fields.suffix(5).compactMap { UInt64($0) }
            let name = fields.dropLast(5).joined(separator: " ")
            if fields[0] == "->" {
                rows.append(Row(name: service + " " + fields[1], values: values))
            } else {
                service = name
                rows.append(Row(name: name, values: values))
            }
        }
        return rows
    }

    static func object(_ json: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] ?? [:]
    }

    static func serviceName(_ s: [String: Any]) -> String {
        if let mark = s["fwmark"] as? NSNumber {
            return "FWM \(mark.uint32Value)" + (s["family"] as? String == "inet6" ? " IPv6" : "")
        }
        let address = s["address"] as? String ?? ""
        let host = s["family"] as? String == "inet6" ? "[\(address)]" : address
        return "\((s["protocol"] as? String ?? "").uppercased()) \(host):\((s["port"] as? NSNumber)?.intValue ?? -1)"
    }

    static func destinationName(_ d: [String: Any]) -> String {
        let address = d["address"] as? String ?? ""
        let host = d["family"] as? String == "inet6" ? "[\(address)]" : address
        return "\(host):\((d["port"] as? NSNumber)?.intValue ?? -1)"
    }

    static func jsonRows(_ json: String, member: String) throws -> [Row] {
        let keys = ["connections", "packets_in", "packets_out", "bytes_in", "bytes_out"]
        func values(_ o: [String: Any]) -> [UInt64] {
            let counters = o[member] as? [String: Any] ?? [:]
            return keys.map { (counters[$0] as? NSNumber)?.uint64Value ?? UInt64.max }
        }
        var rows: [Row] = []
        for s in try object(json)["services"] as? [[String: Any]] ?? [] {
            let name = serviceName(s)
            rows.append(Row(name: name, values: values(s)))
            for d in s["destinations"] as? [[String: Any]] ?? [] {
                rows.append(Row(name: name + " " + destinationName(d), values: values(d)))
            }
        }
        return rows
    }
}
