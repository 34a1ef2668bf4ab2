import Foundation
import Glibc
import Testing

/// ipvsctl against Debian's ipvsadm 1.31 on the same kernel table: random rule sets (every protocol and family,
/// firewall marks above 2^31, every scheduler and flag, persistence with masks and engines, thresholds, every tunnel
/// type, addresses far apart so that ipvsadm's wrapping sort shows) are restored by ipvsadm, then every listing mode
/// is run by both tools and must be identical byte for byte (stdout, stderr, status). In reverse, the same rules
/// restored by `ipvsctl -R` must leave the table `ipvsadm -Sn` lists for ipvsadm's own restore.
///
/// The seed is printed; `IPVSCTL_SEED` replays it, `IPVSCTL_RULE_SETS` sets how many rule sets run (default 3, to
/// keep the VM run short) and `IPVSCTL_ALL_MODES` runs every listing mode on every set (default: -Ln, -Sn and five
/// others chosen by the seed).
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct IPVSCtlDifferentialTests {
    static let listingModes: [String] = [
        "-Ln", "-L", "-Ln --stats", "-Ln --rate", "-Ln --stats --exact", "-Ln --rate --exact", "-Ln --thresholds",
        "-Ln --persistent-conn", "-Ln --tun-info", "-Ln --nosort", "-Ln --nosort --stats", "-Sn", "-S",
        "-Ln --timeout", "-Lnc", "-L --daemon", "-lnc --persistent-conn",
    ]

    @Test func randomRuleSetsListTheSameWithBothTools() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["IPVSCTL_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        let count = environment["IPVSCTL_RULE_SETS"].flatMap { Int($0) } ?? 3
        let modesPerSet = environment["IPVSCTL_ALL_MODES"] != nil ? Self.listingModes.count : 5
        print("IPVSCtlDifferentialTests: seed \(seed), \(count) rule sets (IPVSCTL_SEED=\(seed) replays them)")
        let namespace = try NetworkNamespace("ipvsctl")
        var compared = 0
        for index in 0..<count {
            var random = SeededGenerator(seed: seed &+ UInt64(index))
            let rules = RandomRuleSet.make(&random)
            let input = rules.map { $0 + "\n" }.joined()
            let context = "seed \(seed) set \(index):\n\(input)"

            // ipvsadm writes the table; both list it in every mode.
            try namespace.check("/bin/sh", ["-c", "\(Tool.ipvsadm) -C && \(Tool.ipvsadm) -R"], input: input)
            // -Ln and -Sn every time, and a rotating choice of the other modes: each tool run costs about a second
            // under the VM's emulation.
            var modes = ["-Ln", "-Sn"]
            modes += Self.listingModes.filter { !modes.contains($0) }.shuffled(using: &random).prefix(modesPerSet)
            if let one = rules.first(where: { $0.hasPrefix("-A ") }), Bool.random(using: &random) {
                // One service: the words after -A up to the first option that is not the service.
                let words = one.split(separator: " ").map(String.init)
                modes.append("-Ln " + words[1...].prefix(while: { !["-s", "-p", "-o", "--pe", "-b", "-M"].contains($0) })
                    .joined(separator: " "))
            }
            var expected = try Self.listings(Tool.ipvsadm, modes, in: namespace)
            var actual = try Self.listings(IPVSCtlBinary.path, modes, in: namespace)
            // The kernel's service dump is no snapshot while other tests change their own namespaces: it resumes
            // each step by counting every namespace's services, so either tool's listing can repeat or skip a
            // service (ip_vs_ctl.c ip_vs_genl_dump_services). List both again while they differ; a real
            // difference never goes away.
            for _ in 0..<4 where expected != actual {
                expected = try Self.listings(Tool.ipvsadm, modes, in: namespace)
                actual = try Self.listings(IPVSCtlBinary.path, modes, in: namespace)
            }
            for (mode, (want, got)) in zip(modes, zip(expected, actual)) {
                #expect(got == want, "ipvsctl \(mode) differs from ipvsadm; \(context)")
                compared += 1
            }

            // ipvsctl writes the same rules; ipvsadm must list what its own restore left.
            let saved = try Self.settledRules(in: namespace)
            let restore = try namespace.run("/bin/sh", ["-c", "\(Tool.ipvsadm) -C && \(IPVSCtlBinary.path) -R"], input: input)
            #expect(restore.status == 0 && restore.standardError.isEmpty, "ipvsctl -R: \(restore); \(context)")
            #expect(try Self.settledRules(in: namespace) == saved, "ipvsctl -R left another table; \(context)")
        }
        #expect(compared >= count * 7)
    }

    /// Commands the kernel refuses (and the options only the kernel checks), run by both tools on the same table:
    /// the same message on stderr and the same status, and the table unchanged.
    @Test func refusedChangesFailTheSameWithBothTools() throws {
        let namespace = try NetworkNamespace("ipvsctl")
        try namespace.ipvsadm(restore: [
            "-A -t 10.0.0.1:80 -s rr", "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 3", "-A -f 5 -s wlc",
            "-A -t [2001:db8::1]:443 -s sh",
        ])
        try namespace.ipvsadm("--start-daemon", "master", "--mcast-interface", "lo")
        let refused = [
            "-A -t 10.0.0.1:80 -s rr", "-A -t 10.0.0.9:80 -s nosuchsched", "-A -u 10.0.0.9:53 -p --pe nosuchpe",
            "-E -t 10.0.0.9:80 -s rr", "-E -t 10.0.0.1:80 -s nosuchsched", "-D -t 10.0.0.9:80", "-D -f 6",
            "-a -t 10.0.0.9:80 -r 10.0.0.2:80", "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m",
            "-a -t 10.0.0.1:80 -r 10.0.0.3:80 -m -x 5 -y 10", "-a -t 10.0.0.1:80 -r 224.0.0.1:80 -m",
            "-e -t 10.0.0.1:80 -r 10.0.0.7:80 -m", "-e -t 10.0.0.9:80 -r 10.0.0.2:80 -m",
            "-d -t 10.0.0.1:80 -r 10.0.0.42:80", "-d -t 10.0.0.9:80 -r 10.0.0.2:80", "-Z -t 10.0.0.9:80",
            "-Z -f 6", "--start-daemon master --mcast-interface lo",
            "--start-daemon backup --mcast-interface nosuchif0", "--stop-daemon backup",
            "-a -t [2001:db8::1]:443 -r 10.0.0.2:443 -i --tun-type gue --tun-port 6080 --tun-remcsum",
        ]
        // All through -R, one process per tool: a kernel refusal prints its message and -R goes on to the next line.
        let before = try namespace.check(Tool.ipvsadm, ["-Sn"])
        let input = refused.map { $0 + "\n" }.joined()
        let expected = try namespace.run(Tool.ipvsadm, ["-R"], input: input)
        let actual = try namespace.run(IPVSCtlBinary.path, ["-R"], input: input)
        #expect(expected.standardError.split(separator: "\n").count == refused.count, "\(expected)")
        #expect(actual.standardError == expected.standardError)
        #expect(actual.status == expected.status && actual.standardOutput == expected.standardOutput)
        #expect(try namespace.check(Tool.ipvsadm, ["-Sn"]) == before)
        // Listing a service that is not there ends ipvsadm with status 1.
        let missing = ["-Ln -t 10.0.0.9:80", "-L -f 6 -6"]
        #expect(try Self.listings(IPVSCtlBinary.path, missing, in: namespace)
            == Self.listings(Tool.ipvsadm, missing, in: namespace))
    }

    /// -Z, --start-daemon, --stop-daemon and -L --daemon through ipvsctl, listed by ipvsadm.
    @Test func zeroAndSyncDaemonsReachTheKernel() throws {
        let namespace = try NetworkNamespace("ipvsctl")
        let ctl = IPVSCtlBinary.path
        try namespace.check(ctl, ["-A", "-u", "10.0.0.1:53", "-s", "rr"])
        try namespace.check(ctl, ["-Z", "-u", "10.0.0.1:53"])
        try namespace.check(ctl, ["-Z"])
        try namespace.check(ctl, ["--start-daemon", "master", "--mcast-interface", "lo", "--syncid", "7"])
        try namespace.check(ctl, ["--start-daemon", "backup", "--mcast-interface", "lo", "--mcast-port", "9000"])
        let daemons = try namespace.ipvsadm("-L", "--daemon")
        #expect(daemons.hasPrefix("master sync daemon (mcast=lo, syncid=7"), "\(daemons)")
        #expect(daemons.contains("backup sync daemon (mcast=lo, syncid=0"), "\(daemons)")
        #expect(daemons.contains(", port=9000"), "\(daemons)")
        #expect(try namespace.check(ctl, ["-L", "--daemon"]) == daemons)
        try namespace.check(ctl, ["--stop-daemon", "master"])
        try namespace.check(ctl, ["--stop-daemon", "backup"])
        #expect(try namespace.ipvsadm("-L", "--daemon") == "")
    }

    /// Runs every mode with `tool` in one shell, and returns for each what it printed and its status.
    /// `ipvsadm -Sn`, read until two reads in a row agree (see the comment on the listings above: one read can
    /// repeat or skip a service while other namespaces change).
    static func settledRules(in namespace: NetworkNamespace) throws -> String {
        var last = try namespace.check(Tool.ipvsadm, ["-Sn"])
        for _ in 0..<5 {
            let next = try namespace.check(Tool.ipvsadm, ["-Sn"])
            if next == last { break }
            last = next
        }
        return last
    }

    static func listings(_ tool: String, _ modes: [String], in namespace: NetworkNamespace) throws -> [String] {
        let marker = "@@ipvsctl-differential@@"
        let script = modes.map { mode in
            "echo '\(marker)'; \(tool) \(mode) 2>&1; echo \"status $?\""
        }.joined(separator: "\n")
        let output = try namespace.check("/bin/bash", ["-c", script], timeout: .seconds(300))
        let parts = output.components(separatedBy: marker + "\n").dropFirst()
        return Array(parts)
    }
}

/// The ipvsctl executable built next to the test bundle.
enum IPVSCtlBinary {
    static let path: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = n > 0 ? String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("ipvsctl").path
    }()
}

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

/// A random table as ipvsadm -R lines.
enum RandomRuleSet {
    static let schedulers = ["rr", "wrr", "lc", "wlc", "sed", "nq", "dh", "sh", "mh", "fo", "ovf", "lblc", "lblcr"]

    static func make(_ r: inout SeededGenerator) -> [String] {
        var lines: [String] = []
        var services = Set<String>()
        for _ in 0..<Int.random(in: 3...12, using: &r) {
            let (service, v6, proto) = randomService(&r)
            guard services.insert(service).inserted else { continue }
            let scheduler = schedulers.randomElement(using: &r)!
            var line = "-A \(service) -s \(scheduler)"
            if Int.random(in: 0..<3, using: &r) == 0 {
                line += " -p \(Int.random(in: 1...86400, using: &r))"
                if Bool.random(using: &r) {
                    line += v6 ? " -M \(Int.random(in: 48...128, using: &r))" : " -M \(mask(Int.random(in: 8...32, using: &r)))"
                }
                if proto == "-u" && Int.random(in: 0..<3, using: &r) == 0 { line += " --pe sip" }
            } else if service.hasPrefix("-t") || service.hasPrefix("-u") || service.hasPrefix("--sctp") {
                if service.hasSuffix(":0") { line += " -p" }
            }
            if (proto == "-u" || proto == "-f") && Int.random(in: 0..<4, using: &r) == 0 { line += " -o" }
            switch (scheduler, Int.random(in: 0..<3, using: &r)) {
            case ("sh", 0), ("mh", 0): line += " -b \(scheduler)-port"
            case ("sh", 1), ("mh", 1): line += " -b \(scheduler)-fallback,\(scheduler)-port"
            case (_, 2) where Int.random(in: 0..<4, using: &r) == 0: line += " -b flag-\(Int.random(in: 1...3, using: &r))"
            default: break
            }
            lines.append(line)
            let isMark = service.hasPrefix("-f")
            let servicePort = service.split(separator: ":").last.map(String.init) ?? "0"
            var servers = Set<String>()
            for _ in 0..<Int.random(in: 0...6, using: &r) {
                let tunnel = Int.random(in: 0..<4, using: &r) == 0
                let serverV6 = tunnel ? Bool.random(using: &r) : v6
                let address = serverV6 ? "[\(v6Address(&r))]" : v4Unicast(&r)
                guard servers.insert(address).inserted else { continue }
                let forwarding = tunnel ? "-i" : ["-m", "-g"].randomElement(using: &r)!
                let port = forwarding == "-m" || isMark ? String(Int.random(in: 0...65535, using: &r)) : servicePort
                var dest = "-a \(service) -r \(address):\(port) \(forwarding) -w \(Int.random(in: 0...1000, using: &r))"
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
                lines.append(dest)
            }
        }
        return lines
    }

    static func randomService(_ r: inout SeededGenerator) -> (String, Bool, String) {
        switch Int.random(in: 0..<10, using: &r) {
        case 0:
            let mark = UInt32.random(in: 1...UInt32.max, using: &r)
            return ("-f \(mark)", false, "-f")
        case 1:
            return ("-f \(UInt32.random(in: 1...UInt32.max, using: &r)) -6", true, "-f")
        case 2, 3:
            let proto = ["-t", "-u", "--sctp-service"].randomElement(using: &r)!
            return ("\(proto) [\(v6Address(&r))]:\(Int.random(in: 0...65535, using: &r))", true, proto)
        default:
            let proto = ["-t", "-t", "-u", "--sctp-service"].randomElement(using: &r)!
            return ("\(proto) \(v4Any(&r)):\(Int.random(in: 0...65535, using: &r))", false, proto)
        }
    }

    /// Any address with a first octet from 1 to 223, far apart across the space.
    static func v4Any(_ r: inout SeededGenerator) -> String {
        "\(Int.random(in: 1...223, using: &r)).\(Int.random(in: 0...255, using: &r)).\(Int.random(in: 0...255, using: &r)).\(Int.random(in: 1...254, using: &r))"
    }

    /// A unicast address the kernel accepts for a real server (not loopback, not this host's).
    static func v4Unicast(_ r: inout SeededGenerator) -> String {
        while true {
            let first = Int.random(in: 1...223, using: &r)
            if first == 127 { continue }
            return "\(first).\(Int.random(in: 0...255, using: &r)).\(Int.random(in: 0...255, using: &r)).\(Int.random(in: 1...254, using: &r))"
        }
    }

    /// A global unicast IPv6 address (2000::/3), groups random so that compressed forms vary.
    static func v6Address(_ r: inout SeededGenerator) -> String {
        var groups = (0..<8).map { _ in Int.random(in: 0..<4, using: &r) == 0 ? 0 : Int.random(in: 0...0xffff, using: &r) }
        groups[0] = Int.random(in: 0x2000...0x3fff, using: &r)
        return groups.map { String($0, radix: 16) }.joined(separator: ":")
    }

    static func mask(_ prefix: Int) -> String {
        let value: UInt32 = prefix == 0 ? 0 : UInt32.max << (32 - UInt32(prefix))
        return "\(value >> 24).\((value >> 16) & 0xff).\((value >> 8) & 0xff).\(value & 0xff)"
    }
}
