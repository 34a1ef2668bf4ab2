/// SplitMix64: a seeded generator, so a printed seed replays a rule set.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Addresses and ports that resolve to names, so that the listings without `-n` really compare name resolution
/// (ipvsadm.c `addr_to_host` and `port_to_service`: gethostbyaddr and getservbyport through nsswitch).
///
/// The VM shares the host's /etc read-only, whose hosts file names only 127.0.0.1; the differential workers run in
/// a mount namespace of their own with ``hostsLines`` added to a copy of it bind-mounted over /etc/hosts, so that
/// IPv6 names and names long enough for ipvsadm to cut the `host:port` column show too. Nothing outside the
/// workers sees the copy.
enum DifferentialNames {
    static let hostsLines: [(address: String, name: String)] = [
        ("10.20.30.40", "web.differential.test"),
        // 80 characters: ipvsadm cuts `name:port` to 59 bytes (its 60-byte buffer) and then pads or not by column.
        ("192.0.2.77", "a-host-name-long-enough-that-ipvsadm-cuts-the-address-and-port.differential.test"),
        ("198.51.100.1", "db"),
        ("2001:db8::10", "v6.differential.test"),
        ("2001:db8:ffff::1", "a-long-ipv6-host-name-that-ipvsadm-cuts.differential.test"),
        ("::1", "ip6-localhost"),
    ]
    /// 127.0.0.1 is `localhost` in the host's own hosts file.
    static let v4 = ["127.0.0.1", "10.20.30.40", "192.0.2.77", "198.51.100.1"]
    static let v6 = ["2001:db8::10", "2001:db8:ffff::1", "::1"]
    /// Ports /etc/services names for some protocols and not others (123 is ntp for UDP only, 5672 amqp for TCP,
    /// UDP and SCTP, 3306 mysql for TCP), and 0.
    static let ports = [80, 443, 53, 22, 25, 123, 5060, 5672, 8080, 3306, 0]

    /// The host's hosts file with ``hostsLines`` added.
    static func hostsFile(base: String) -> String {
        var text = base
        if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
        for line in hostsLines { text += "\(line.address) \(line.name)\n" }
        return text
    }
}

/// One random table and everything run against it, as `ipvsadm -R` lines.
struct DifferentialRuleSet {
    /// Flushes the table, maybe sets the timeouts, then adds the services and their real servers.
    var load: [String]
    /// What both tools run on the loaded table, in one `-R` process each: sync daemons started, every listing mode
    /// each followed by ``marker``, commands the kernel refuses (and then a listing showing nothing changed), the
    /// daemons stopped.
    var batch: [String]
    /// The same with only the listing modes of ``RandomRuleSet/reverseModes`` (and the refused changes): what
    /// ipvsadm runs on the table ipvsctl wrote.
    var reverseBatch: [String]
    var reverseSegments: [String]
    /// One or two lines for the very end, after which nothing else runs: a parse error (some end the process), a
    /// missing service listed (status 1). Not -h and -v: ipvsctl's help and version are its own.
    var finals: [String]
    /// The name of each listing segment of ``batch``, in order: segment k of a tool's output is what it printed up
    /// to and including the k-th line starting with ``markerOutput``.
    var segments: [String]
    /// The error lines of ``batch`` (for the report).
    var refused: [String]
    /// One command line run on its own (no arguments means -L), to compare what `-R` lines cannot show: the
    /// program's own argument parsing, combined short flags, its exit status. Nil for none.
    var standalone: [String]?

    /// Ends each listing segment: `-L --timeout` prints one line no other listing prints.
    static let marker = "-L --timeout"
    static let markerOutput = "Timeout (tcp tcpfin udp): "
}

/// Random tables: IPv4, IPv6 and firewall-mark services (marks above 2^31), every scheduler and flag, persistence
/// with masks and engines, thresholds, every tunnel type, addresses far apart so that ipvsadm's wrapping sort
/// shows, and addresses and ports that have names.
enum RandomRuleSet {
    static let schedulers = ["rr", "wrr", "lc", "wlc", "sed", "nq", "dh", "sh", "mh", "fo", "ovf", "lblc", "lblcr"]

    /// Every listing mode, as `-R` lines: each runs on every rule set, numeric, and `-L` and `-S` named too.
    static let listingModes: [String] = [
        "-L", "-L -n", "-Ln", "-L -n --stats", "-L -n --rate", "-L -n --stats --exact", "-L -n --rate --exact",
        "-L -n --thresholds", "-L -n --persistent-conn", "-L -n --tun-info", "-L -n --nosort",
        "-L -n --nosort --stats", "-S", "-S -n", "-L -c", "-L -n -c", "-L --daemon",
    ]
    /// The other modes with names: two per rule set in turn. A named listing costs ten numeric ones in the VM
    /// (gethostbyaddr and getservbyport for every address, each reading /etc/hosts and /etc/services, and DNS
    /// failing), and every mode prints names through the same code as `-L`; 20 rule sets show each one 5 times.
    static let namedModes: [String] = [
        "-L --stats", "-L --rate", "-L --rate --exact", "-L --thresholds", "-L --persistent-conn", "-L --tun-info",
        "-L --nosort --stats", "-L --stats --exact",
    ]
    /// What ipvsadm lists of the table ipvsctl -R wrote, to compare with what it listed of its own: these show all
    /// of a table's state (-S leaves out thresholds).
    static let reverseModes: Set<String> = ["-S -n", "-L -n --thresholds", "-L -n --tun-info", "-L --daemon"]

    /// Command lines run on their own, one per rule set in turn: no arguments, combined short flags, long names,
    /// the rarer combinations of listing options, a missing service, parse errors.
    static let standaloneModes: [[String]] = [
        [], ["-Ln"], ["-L"], ["-Sn"], ["-S"], ["-Lnc"], ["-ln", "--stats"], ["-L", "--rate", "--exact"],
        ["--list", "--numeric", "--thresholds"], ["-L", "--timeout"], ["-nL", "--tun-info"], ["-L", "--daemon"],
        ["-Ln", "--persistent-conn"], ["-Ln", "-t", "0.0.0.1:1"], ["-L", "-w", "3"], ["-A", "-t", "1.2.3.4:80", "-s"],
        ["-l", "-n"], ["--save", "--numeric"], ["-L", "-c", "--persistent-conn"],
        ["--list", "--numeric", "--stats", "--rate"], ["-L", "-n", "--sort"], ["-L", "--nosort", "--rate", "--exact"],
        ["-L", "--stats", "--exact"], ["-Ln", "--exact"],
    ]

    /// Lines that end the process or fail to parse, one or two at the end of every batch: parse errors (some end
    /// the process, as ipvsadm's `fail` does; popt's own errors only end the line), a missing service listed
    /// (status 1), a real server of the other family without tunnelling (ipvsadm refuses it itself and
    /// ends). None may change the table: the next run of the batch must find it as this one did.
    static let finalLines: [String] = [
        "-A -t 10.9.9.9:80 -s", "-L -w 3", "-A -t 10.9.9.9:80 -f 5", "-A -t 300.1.2.3:80", "-A -t 10.9.9.9:99999",
        "-a -t 10.9.9.9:80 -r 10.9.9.8:80 -w 70000", "-a -t 10.9.9.9:80 -r 10.9.9.8:80 -x -1",
        "-A -t 10.9.9.9:80 -p abc", "-A -t 10.9.9.9:80 -M", "-A -t 10.9.9.9:80 -s rr -b nosuchflag",
        "-A -f 0", "-A -t [2001:db8::9]:80 -6", "-A -t 10.9.9.9:80 --tun-type gue",
        "-a -t 10.9.9.9:80 -r 10.9.9.8:80 -i --tun-type vxlan", "-a -t 10.9.9.9:80 -r 10.9.9.8:80 -i --tun-type gue",
        "-a -t 10.9.9.9:80 -r 10.9.9.8:80 -m --tun-type ipip", "--set 1 2", "--set a b c", "--start-daemon",
        "--start-daemon sideways", "-L -n -c -t 10.9.9.9:80", "-L --timeout --daemon", "-R", "-S -t 10.9.9.9:80",
        "-Z -r 10.9.9.8:80", "--bogus", "-X", "-L -n -t 10.9.9.9:80", "-L -u [2001:db8::9]:53 --stats",
        "-L -f 4242 -6", "-A -t localhost:http -s wrr -x 3", "-a -u 10.9.9.9:53 -r 10.9.9.8 -g -w", "-E",
        "-A -t 10.9.9.9:80 -p 0", "-a -t 10.9.9.9:80 -r 10.9.9.8:80 -y 70000",
        "-a -t 10.9.9.9:80 -r 10.9.9.8:80 --tun-port 1",
        "-L -n --stats --rate --thresholds", "-A -t 10.9.9.9:http -s rr -o", "-6 -A -t 10.9.9.9:80",
        "-a -t 10.9.9.9:80 -r [2001:db8::9]:80 -m", "-a -f 9 -6 -r 10.9.9.8:80 -g",
    ]

    struct Service {
        var words: String  // "-t 1.2.3.4:80", "-f 7 -6"
        var v6: Bool
        var proto: String
        var port: String
        var destinations: [String]  // "1.2.3.4:80", "[2001:db8::1]:80"
        var persistent: Bool
    }

    static func make(_ r: inout SeededGenerator, index: Int) -> DifferentialRuleSet {
        var load = ["-C"]
        if Int.random(in: 0..<3, using: &r) == 0 {
            let timeouts = (0..<3).map { _ in String(Int.random(in: 0...20000, using: &r)) }
            load.append("--set \(timeouts.joined(separator: " "))")
        }
        var services: [Service] = []
        var keys = Set<String>()
        // Small tables (3 to 8 services, up to 4 real servers each) keep a rule set cheap; the addresses still lie
        // far apart, and 200 rule sets in the long run (tools/differential-long) cover the rest.
        for _ in 0..<Int.random(in: 3...8, using: &r) {
            let (words, v6, proto, port) = randomServiceAndPort(&r)
            guard keys.insert(words).inserted else { continue }
            let scheduler = schedulers.randomElement(using: &r)!
            var line = "-A \(words) -s \(scheduler)"
            var persistent = false
            if Int.random(in: 0..<3, using: &r) == 0 {
                persistent = true
                line += " -p \(Int.random(in: 1...86400, using: &r))"
                if Bool.random(using: &r) {
                    let netmask =
                        v6 ? String(Int.random(in: 48...128, using: &r)) : mask(Int.random(in: 8...32, using: &r))
                    line += " -M \(netmask)"
                }
                if proto == "-u" && Int.random(in: 0..<3, using: &r) == 0 { line += " --pe sip" }
            } else if proto != "-f" && port == "0" {
                // Port 0 is for persistent services only.
                persistent = true
                line += " -p"
            }
            if (proto == "-u" || proto == "-f") && Int.random(in: 0..<4, using: &r) == 0 { line += " -o" }
            switch (scheduler, Int.random(in: 0..<3, using: &r)) {
            case ("sh", 0), ("mh", 0): line += " -b \(scheduler)-port"
            case ("sh", 1), ("mh", 1): line += " -b \(scheduler)-fallback,\(scheduler)-port"
            case (_, 2) where Int.random(in: 0..<4, using: &r) == 0:
                line += " -b flag-\(Int.random(in: 1...3, using: &r))"
            default: break
            }
            load.append(line)
            var service = Service(
                words: words, v6: v6, proto: proto, port: port, destinations: [], persistent: persistent)
            var addresses = Set<String>()
            for _ in 0..<Int.random(in: 0...4, using: &r) {
                let tunnel = Int.random(in: 0..<4, using: &r) == 0
                let serverV6 = tunnel ? Bool.random(using: &r) : v6
                let address = serverV6 ? "[\(v6Address(&r))]" : v4Unicast(&r)
                guard addresses.insert(address).inserted else { continue }
                let forwarding = tunnel ? "-i" : ["-m", "-g"].randomElement(using: &r)!
                let destinationPort = forwarding == "-m" || proto == "-f" ? randomPort(&r) : port
                let weight = Int.random(in: 0...1000, using: &r)
                var dest = "-a \(words) -r \(address):\(destinationPort) \(forwarding) -w \(weight)"
                // The kernel refuses a lower threshold above the upper one (ERANGE).
                let upper = Bool.random(using: &r) ? Int.random(in: 0...5000, using: &r) : 0
                if upper > 0 || Bool.random(using: &r) { dest += " -x \(upper)" }
                if Bool.random(using: &r) { dest += " -y \(Int.random(in: 0...upper, using: &r))" }
                if tunnel {
                    switch Int.random(in: 0..<4, using: &r) {
                    case 0: dest += " --tun-type gue --tun-port \(Int.random(in: 1...65535, using: &r))"
                        dest += ["", " --tun-nocsum", " --tun-csum", " --tun-remcsum"].randomElement(using: &r)!
                    case 1: dest += " --tun-type gre" + ["", " --tun-nocsum", " --tun-csum"].randomElement(using: &r)!
                    case 2: dest += " --tun-type ipip"
                    default: break
                    }
                }
                load.append(dest)
                // Refused changes name only servers of the service's family: ipvsadm itself ends on a mixed one
                // without tunnelling ("Different address family is allowed only for tunneling servers").
                if serverV6 == v6 { service.destinations.append("\(address):\(destinationPort)") }
            }
            services.append(service)
        }

        var batch: [String] = [], reverseBatch: [String] = []
        var segments: [String] = [], reverseSegments: [String] = []
        func segment(_ name: String, _ lines: [String], reverse: Bool) {
            batch += lines + [DifferentialRuleSet.marker]
            segments.append(name)
            guard reverse else { return }
            reverseBatch += lines + [DifferentialRuleSet.marker]
            reverseSegments.append(name)
        }
        // Sync daemons, in a quarter of the sets; stopped again before the end so that the next run starts clean.
        var daemons: [String] = []
        if Int.random(in: 0..<4, using: &r) == 0 {
            daemons = Bool.random(using: &r) ? ["master"] : ["master", "backup"]
            for role in daemons {
                var line = "--start-daemon \(role) --mcast-interface lo --syncid \(Int.random(in: 0...255, using: &r))"
                if Bool.random(using: &r) { line += " --sync-maxlen \(Int.random(in: 1400...1500, using: &r))" }
                if Bool.random(using: &r) { line += " --mcast-port \(Int.random(in: 1024...65535, using: &r))" }
                if Bool.random(using: &r) { line += " --mcast-ttl \(Int.random(in: 1...255, using: &r))" }
                batch.append(line)
                reverseBatch.append(line)
            }
        }
        var modes = listingModes
        modes += [namedModes[(2 * index) % namedModes.count], namedModes[(2 * index + 1) % namedModes.count]]
        // One service at a time, named and numeric, for a few of them.
        for service in services.shuffled(using: &r).prefix(2) {
            modes += ["-L -n \(service.words)", "-L \(service.words)"]
        }
        for mode in modes.shuffled(using: &r) { segment(mode, [mode], reverse: reverseModes.contains(mode)) }

        // Refused changes, then a listing: the same messages, and nothing changed.
        let refused = refusedChanges(&r, services: services, keys: keys, daemons: daemons)
        segment("refused changes, then -S -n", refused + ["-S -n"], reverse: true)

        batch += daemons.map { "--stop-daemon \($0)" }
        reverseBatch += daemons.map { "--stop-daemon \($0)" }
        let finals = (0..<Int.random(in: 1...2, using: &r)).map { _ in finalLines.randomElement(using: &r)! }
        // Every other rule set: each costs two process starts, the dearest thing in the VM.
        let standalone = index % 2 == 0 ? standaloneModes[index / 2 % standaloneModes.count] : nil
        return DifferentialRuleSet(
            load: load, batch: batch, reverseBatch: reverseBatch, reverseSegments: reverseSegments, finals: finals,
            segments: segments, refused: refused, standalone: standalone)
    }

    /// Changes the kernel refuses on this table (ipvsadm's messages come from its errno mapping, ipvsadm.c and
    /// libipvs `ipvs_strerror`): what exists added again, what is missing edited or deleted, unknown schedulers and
    /// engines, a lower threshold above the upper one, a multicast real server, a sync daemon twice.
    static func refusedChanges(
        _ r: inout SeededGenerator, services: [Service], keys: Set<String>, daemons: [String]
    ) -> [String] {
        var missing: String
        repeat {
            missing = "-t \(v4Any(&r)):\(Int.random(in: 1...65535, using: &r))"
        } while keys.contains(missing)
        var lines = [
            "-E \(missing) -s wlc", "-D \(missing)", "-Z \(missing)", "-a \(missing) -r 10.0.0.2:80 -m",
            "-A \(missing) -s nosuchsched", "-A -u \(v4Any(&r)):53 -p --pe nosuchpe", "-D -f 4294967295 -6",
            "-d \(missing) -r 10.0.0.2:80",
        ]
        if let service = services.randomElement(using: &r) {
            // Port 0 needs -p, or ipvsadm ends ("Zero port specified for non-persistent service").
            let p = service.proto != "-f" && service.port == "0" ? " -p" : ""
            lines += [
                "-A \(service.words) -s rr\(p)", "-E \(service.words) -s nosuchsched\(p)",
                "-d \(service.words) -r \(service.v6 ? "[2001:db8::dead]" : "10.255.255.1"):80",
                "-e \(service.words) -r \(service.v6 ? "[2001:db8::dead]" : "10.255.255.1"):80 -m",
                "-a \(service.words) -r \(service.v6 ? "[2001:db8::beef]" : "10.255.255.2"):80 -m -x 5 -y 10",
                "-a \(service.words) -r \(service.v6 ? "[ff02::1]" : "224.0.0.1"):80 -m",
            ]
            if let destination = service.destinations.randomElement(using: &r) {
                lines += [
                    "-a \(service.words) -r \(destination) -m", "-e \(service.words) -r \(destination) -x 5 -y 10",
                ]
            }
        }
        for role in daemons { lines.append("--start-daemon \(role) --mcast-interface lo") }
        if daemons.count < 2 { lines.append("--stop-daemon backup") }
        if daemons.isEmpty { lines.append("--start-daemon backup --mcast-interface nosuchif0") }
        return lines.shuffled(using: &r)
    }

    static func randomPort(_ r: inout SeededGenerator) -> String {
        Bool.random(using: &r)
            ? String(DifferentialNames.ports.randomElement(using: &r)!) : String(Int.random(in: 0...65535, using: &r))
    }

    /// A random table alone, as `-A`/`-a` lines (no flush, no timeouts): for other kernel tests that want one.
    static func make(_ r: inout SeededGenerator) -> [String] {
        make(&r, index: 0).load.filter { $0.hasPrefix("-A ") || $0.hasPrefix("-a ") }
    }

    /// (the words naming the service, IPv6?, protocol option)
    static func randomService(_ r: inout SeededGenerator) -> (String, Bool, String) {
        let (words, v6, proto, _) = randomServiceAndPort(&r)
        return (words, v6, proto)
    }

    /// (the words naming the service, IPv6?, protocol option, port)
    static func randomServiceAndPort(_ r: inout SeededGenerator) -> (String, Bool, String, String) {
        switch Int.random(in: 0..<10, using: &r) {
        case 0:
            return ("-f \(UInt32.random(in: 1...UInt32.max, using: &r))", false, "-f", "0")
        case 1:
            return ("-f \(UInt32.random(in: 1...UInt32.max, using: &r)) -6", true, "-f", "0")
        case 2, 3:
            let proto = ["-t", "-u", "--sctp-service"].randomElement(using: &r)!
            let port = randomPort(&r)
            return ("\(proto) [\(v6Address(&r))]:\(port)", true, proto, port)
        default:
            let proto = ["-t", "-t", "-u", "--sctp-service"].randomElement(using: &r)!
            let port = randomPort(&r)
            return ("\(proto) \(v4Any(&r)):\(port)", false, proto, port)
        }
    }

    /// Any address with a first octet from 1 to 223, far apart across the space, or one with a name.
    static func v4Any(_ r: inout SeededGenerator) -> String {
        if Int.random(in: 0..<4, using: &r) == 0 { return DifferentialNames.v4.randomElement(using: &r)! }
        return "\(Int.random(in: 1...223, using: &r)).\(Int.random(in: 0...255, using: &r))."
            + "\(Int.random(in: 0...255, using: &r)).\(Int.random(in: 1...254, using: &r))"
    }

    /// A unicast address the kernel accepts for a real server, or one with a name (127.0.0.1 among them: the kernel
    /// takes a local address too, ip_vs_ctl.c `ip_vs_new_dest`).
    static func v4Unicast(_ r: inout SeededGenerator) -> String {
        while true {
            let address = v4Any(&r)
            if address == "127.0.0.1" || !address.hasPrefix("127.") { return address }
        }
    }

    /// A global unicast IPv6 address (2000::/3), groups random so that compressed forms vary, or one with a name.
    static func v6Address(_ r: inout SeededGenerator) -> String {
        if Int.random(in: 0..<4, using: &r) == 0 { return DifferentialNames.v6.randomElement(using: &r)! }
        var groups = (0..<8).map { _ in
            Int.random(in: 0..<4, using: &r) == 0 ? 0 : Int.random(in: 0...0xffff, using: &r)
        }
        groups[0] = Int.random(in: 0x2000...0x3fff, using: &r)
        return groups.map { String($0, radix: 16) }.joined(separator: ":")
    }

    static func mask(_ prefix: Int) -> String {
        let value: UInt32 = prefix == 0 ? 0 : UInt32.max << (32 - UInt32(prefix))
        return "\(value >> 24).\((value >> 16) & 0xff).\((value >> 8) & 0xff).\(value & 0xff)"
    }
}
