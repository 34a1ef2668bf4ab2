import IPVSAdmin
import IPVSCore
import IPVSNetlink
import Testing

/// `-R`'s byte-level reader (``IPVSAdmRestoreFastPath``) against the full parser: on every line it takes, it must
/// give the very invocation (and so the very kernel request) ``IPVSAdmParser`` gives; every line the full parser
/// refuses it must leave to the full parser (which prints ipvsadm's message); and it must take the lines `-S -n`
/// writes, or it speeds nothing up.
@Suite("ipvsctl -R fast path")
struct IPVSAdmRestoreFastPathTests {
    /// The full parser on one restore line, as `-R` calls it.
    static func full(_ line: String) -> IPVSAdmInvocation? {
        let words = IPVSAdmRestoreReader.words(ArraySlice(line.utf8))
        guard !words.isEmpty else { return nil }
        return try? IPVSAdmParser.parse(["ipvsadm"] + words, readingRestore: true)
    }

    static func fast(_ line: String) -> IPVSAdmInvocation? {
        let bytes = Array(line.utf8)
        return bytes.withUnsafeBufferPointer { IPVSAdmRestoreFastPath.parse($0) }
    }

    /// Compares both readers on `line`; returns whether the fast path took it.
    @discardableResult
    static func compare(_ line: String, seed: UInt64? = nil) -> Bool {
        let context = seed.map { " (seed \($0))" } ?? ""
        guard let fast = fast(line) else { return false }
        guard let full = full(line) else {
            Issue.record("fast path took \(line.debugDescription), the full parser refuses it\(context)")
            return true
        }
        #expect(fast == full, "\(line.debugDescription)\(context)")
        #expect(fast.timeouts == full.timeouts && fast.daemon == full.daemon, "\(line.debugDescription)\(context)")
        let fastChange = IPVSAdmRequests.change(fast)
        let fullChange = IPVSAdmRequests.change(full)
        #expect(fastChange?.0 == fullChange?.0, "request of \(line.debugDescription)\(context)")
        #expect(fastChange?.1 == fullChange?.1, "function of \(line.debugDescription)\(context)")
        return true
    }

    @Test("The lines tools/bench/kernel-sync and -S -n write go through the fast path, with the full parser's result")
    func savedLinesAreTaken() {
        let lines = [
            "-A -t 10.16.0.1:80 -s wlc",
            "-a -t 10.16.0.1:80 -r 172.16.0.1:8080 -m -w 1",
            "-A -u 10.0.0.2:53 -s rr -p 360",
            "-A -t 10.0.0.3:443 -s sh -p 300 -M 255.255.255.0",
            "-A -t [2001:db8::1]:80 -s mh -p 60 -M 64",
            "-a -t [2001:db8::1]:80 -r [2001:db8::10]:80 -g -w 0",
            "-A -f 1 -s wrr",
            "-A -f 7 -6 -s lc -p 120 -M 96",
            "-a -f 7 -6 -r [fd00::7]:0 -i -w 3",
            "-A -u 10.0.0.9:5060 -s rr -o",
            "-a -u 10.0.0.9:5060 -r 10.1.0.9:5060 -m -w 2 -x 100 -y 50",
            "-e -t 10.16.0.1:80 -r 172.16.0.1:8080 -m -w 5",
            "-d -t 10.16.0.1:80 -r 172.16.0.1:8080",
            "-D -t 10.16.0.1:80",
            "-E -t 10.16.0.1:80 -s rr",
            "ipvsadm -A -t 10.16.0.2:80 -s wlc",
            "\t-A  -t\t10.16.0.3:80 \r-s  wlc \r",
            "-a -t 10.16.0.1:80 -r 172.16.0.2 -m",
            "-A -t 10.0.0.4:80 -s a-scheduler-name-longer-than-15",
        ]
        for line in lines {
            #expect(Self.full(line) != nil, "full parser refuses \(line.debugDescription)")
            #expect(Self.compare(line), "fast path left \(line.debugDescription) to the full parser")
        }
    }

    @Test("Lines the full parser refuses, or reads with rules of its own, are left to it")
    func badAndOddLinesAreLeft() {
        let lines = [
            "-A -t 10.0.0.1:80 -s wlc -s rr",  // repeated option
            "-A -t 10.0.0.1 -s wlc",  // zero port, not persistent
            "-A -t 10.0.0.1:80 -s rr -o",  // one-packet on TCP
            "-a -t 10.0.0.1:80 -r [::1]:80 -m",  // families differ
            "-A -t 10.0.0.1:80 -r 10.0.0.2:80",  // -r with -A
            "-a -t 10.0.0.1:80",  // no -r
            "-A -t 1.2.3.256:80 -s rr",
            "-A -t 01.2.3.4:80 -s rr",  // octal to inet_aton: the full parser reads 1.2.3.4
            "-A -t 1.2.3.4:65536 -s rr",
            "-A -t 1.2.3.4:http -s rr",  // a service name
            "-A -t 1.2.3.4: -s rr",
            "-A -t [::1] -s rr",
            "-A -t 1234 -s rr",
            "-A -t 10.0.0.1:80 -s -t",  // popt: the scheduler is "-t"
            "-A -t 10.0.0.1:80 -srr",  // combined
            "-A --tcp-service 10.0.0.1:80 -s rr",
            "-A -t 10.0.0.1:80 -s sh -b sh-port",
            "-A -t 10.0.0.1:80 -s rr --pe sip",
            "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -i --tun-type gue --tun-port 6080",
            "-A -t 10.0.0.1:80 -s rr stray",
            "-A -6 -f 1 -s rr",  // -6 before -f
            "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -w -1",
            "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -w +1",
            "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -w 2147483648",
            "-A -f 0 -s rr",
            "-A -f 4294967296 -s rr",
            "-C",
            "-L -n",
            "-R",
            "--set 1 2 3",
        ]
        for line in lines {
            let taken = Self.compare(line)
            #expect(!taken || Self.full(line) != nil, "\(line.debugDescription)")
        }
        // Not one of the refused lines may be taken.
        for line in lines where Self.full(line) == nil {
            #expect(Self.fast(line) == nil, "fast path took the refused line \(line.debugDescription)")
        }
    }

    @Test("Generated lines, good and bad, options in random order: the fast path agrees with the full parser")
    func generatedCorpus() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var random = SplitMix(seed: seed)
        var taken = 0
        var refused = 0
        let count = 40_000
        for _ in 0..<count {
            let line = Self.generatedLine(&random)
            if Self.compare(line, seed: seed) { taken += 1 }
            if Self.full(line) == nil { refused += 1 }
        }
        // The corpus must exercise both sides: many lines taken, many refused.
        #expect(taken > count / 4, "seed \(seed): only \(taken) of \(count) lines took the fast path")
        #expect(refused > count / 10, "seed \(seed): only \(refused) of \(count) lines were refused")
    }

    // MARK: - The generator

    // SplitMix (IPVSAdmListingByteFormatterTests.swift) with below/pick/chance: one generator for the module's tests.

    static let goodV4 = ["10.0.0.1", "192.168.1.254", "0.0.0.0", "255.255.255.255", "172.16.5.9", "1.2.3.4"]
    static let goodV6 = ["2001:db8::1", "::1", "fd00::7", "::ffff:1.2.3.4", "fe80::1:2:3:4", "2001:db8:0:0:1:0:0:1"]
    static let ports = ["80", "0", "8080", "65535", "65536", "080", "00443", "", "http", "+80", "-1", "99999999999999"]
    static let badHosts = [
        "1.2.3.256", "01.2.3.4", "1.2.3", "0x7f.0.0.1", "1.2.3.4.5", "1..2.3", "127.1", "1.2.3.-4", "1234", "",
        "2001:db8::1::2", "gggg::1", "[::1", "::1]", "1.2.3.04",
    ]
    static let schedulers = [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos", "nosuch",
        "a-scheduler-name-longer-than-15", "-t", "sch\u{e9}dul\u{e9}-nam\u{e9}-long", "Rr",
    ]
    static let numbers = [
        "0", "1", "2", "300", "65535", "2147483647", "2147483648", "4294967295", "4294967296", "-1", "+5", "010", "x",
        "1x", "2678400", "2678401", "86400", "129", "128", "64", "",
    ]
    static let masks = ["255.255.255.0", "255.255.0.0", "255.255.255.255", "0.0.0.0", "24", "64", "128", "0", "010.0.0.0"]

    static func address(_ r: inout SplitMix) -> String {
        switch r.below(10) {
        case 0, 1, 2, 3: return r.pick(goodV4) + ":" + r.pick(ports)
        case 4: return r.pick(goodV4)
        case 5, 6: return "[" + r.pick(goodV6) + "]:" + r.pick(ports)
        case 7: return r.pick(goodV6)
        case 8: return r.pick(badHosts) + (r.chance(50) ? ":" + r.pick(ports) : "")
        default: return "[" + r.pick(goodV4 + badHosts) + "]" + (r.chance(70) ? ":" + r.pick(ports) : "")
        }
    }

    /// One option with its value, as words.
    static func option(_ r: inout SplitMix) -> [String] {
        switch r.below(22) {
        case 0, 1: return [r.pick(["-t", "-u"]), address(&r)]
        case 2: return ["-f", r.pick(numbers)]
        case 3, 4: return ["-s", r.pick(schedulers)]
        case 5: return r.chance(40) ? ["-p"] : ["-p", r.pick(numbers)]
        case 6: return ["-M", r.pick(masks + numbers)]
        case 7, 8: return ["-r", address(&r)]
        case 9, 10: return [r.pick(["-m", "-g", "-i"])]
        case 11: return ["-w", r.pick(numbers)]
        case 12: return [r.pick(["-x", "-y"]), r.pick(numbers)]
        case 13: return ["-6"]
        case 14: return ["-o"]
        case 15: return ["ipvsadm"]
        case 16:
            return r.pick([
                ["-b", "sh-port"], ["--pe", "sip"], ["--tun-type", "gue"], ["-n"], ["-c"], ["--weight", "3"],
                ["-w3"], ["-mw", "2"], ["stray"], ["--"], ["-p=30"], ["-X"], ["--sctp-service", "1.2.3.4:80"],
            ])
        default:
            // The options of a well-formed line come up most.
            return r.pick([["-s", "rr"], ["-w", "1"], ["-m"], ["-p", "300"], ["-r", "10.1.0.1:80"], ["-r", "10.1.0.1"]])
        }
    }

    /// A line ipvsadm accepts, options in random order, sometimes with one word swapped for an odd or bad one.
    static func wellFormedLine(_ r: inout SplitMix) -> [String] {
        let command = r.pick(["-A", "-E", "-D", "-a", "-e", "-d", "-A", "-a", "-a"])
        let v6 = r.chance(25)
        let host = { (r: inout SplitMix) in v6 ? "[" + r.pick(goodV6) + "]" : r.pick(goodV4) }
        var units: [[String]] = []
        let udp = r.chance(30)
        let mark = r.chance(15)
        if mark {
            units.append(["-f", r.pick(["1", "7", "4294967295", "0010"])] + (v6 ? ["-6"] : []))
        } else {
            units.append([udp ? "-u" : "-t", host(&r) + ":" + r.pick(["80", "53", "65535", "1", "080"])])
        }
        switch command {
        case "-A", "-E":
            units.append(["-s", r.pick(schedulers.filter { $0 != "-t" && $0.utf8.allSatisfy { $0 < 0x80 } })])
            if r.chance(40) {
                units.append(r.chance(30) ? ["-p"] : ["-p", r.pick(["1", "300", "2678400", "0360"])])
                if r.chance(50) {
                    units.append(["-M", v6 && mark ? r.pick(["64", "128", "1", "096"]) : r.pick(["255.255.255.0", "255.255.0.0", "0.0.0.0"])])
                }
            }
            if (udp || mark) && r.chance(30) { units.append(["-o"]) }
        case "-a", "-e":
            let port = r.chance(80) ? ":" + r.pick(["80", "8080", "0", "65535"]) : ""
            units.append(["-r", (v6 && !(port.isEmpty) ? host(&r) : (v6 ? r.pick(goodV6) : host(&r))) + (v6 && port.isEmpty ? "" : port)])
            units.append([r.pick(["-m", "-g", "-i"])])
            if r.chance(70) { units.append(["-w", r.pick(["0", "1", "100", "2147483647", "007"])]) }
            if r.chance(30) { units.append(["-x", r.pick(["0", "10", "2147483647"])]) }
            if r.chance(30) { units.append(["-y", r.pick(["0", "5"])]) }
        case "-d":
            units.append(["-r", host(&r) + ":" + r.pick(["80", "8080"])])
        default:
            break
        }
        var shuffled: [[String]] = []
        for unit in units { shuffled.insert(unit, at: r.below(shuffled.count + 1)) }
        var words = [command] + shuffled.flatMap { $0 }
        if r.chance(30) {
            // One word swapped: a value for an odd or bad one, or an option for another.
            let i = 1 + r.below(words.count - 1)
            words[i] = words[i].hasPrefix("-") ? r.pick(["-t", "-s", "-r", "-w", "-6", "-p", "-o", "-M", "-x"])
                : r.pick(numbers + badHosts + masks + ["10.0.0.1:80", "[::1]:80"])
        }
        if r.chance(5) { words.insert("ipvsadm", at: r.below(words.count + 1)) }
        return words
    }

    static func generatedLine(_ r: inout SplitMix) -> String {
        var words: [String] = []
        if r.chance(90) {
            words.append(r.pick(["-A", "-E", "-D", "-a", "-e", "-d", "-A", "-a"]))
        } else {
            words.append(r.pick(["-C", "-Z", "-L", "--set", "-R", "-S", "A", "--add-service", "-Ln", "-at", "ipvsadm"]))
        }
        // Most lines name their service first, as -S writes them; the rest in any order.
        var rest: [[String]] = []
        if r.chance(70) {
            words += r.chance(85) ? [r.pick(["-t", "-u"]), address(&r)] : ["-f", r.pick(numbers)] + (r.chance(30) ? ["-6"] : [])
        }
        for _ in 0..<r.below(6) { rest.append(option(&r)) }
        if words.first == "-a" || words.first == "-e" || words.first == "-d", r.chance(70) {
            rest.insert(["-r", address(&r)], at: r.below(rest.count + 1))
        }
        for o in rest { words += o }
        if r.chance(50) { words = wellFormedLine(&r) }
        var line = ""
        for (i, w) in words.enumerated() {
            if i > 0 || r.chance(10) { line += r.chance(85) ? " " : r.pick(["  ", "\t", " \r", "\t\t"]) }
            line += w
        }
        if r.chance(5) { line += r.pick([" ", "\r", "\t "]) }
        return line
    }
}
