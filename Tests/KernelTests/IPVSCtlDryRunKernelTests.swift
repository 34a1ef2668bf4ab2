import Foundation
import IPVSCore
import IPVSNetlink
import Testing

/// `ipvsctl -R --dry-run` against the kernel: on a random table, a random restore input (new and existing
/// services and real servers, edits, deletions of what is there and of what is not, flushes, bad lines) is first
/// simulated — the kernel's table must not change — and then really restored by ipvsadm: the dry run's messages and
/// exit status must be ipvsadm's, and the table it printed must be what `ipvsadm -Sn` lists afterwards.
@Suite("ipvsctl -R --dry-run against the kernel", .kernelIPVS, .tags(.kernelIPVS))
struct IPVSCtlDryRunKernelTests {
    static let marker = "table after the restore (as ipvsadm -Sn would list it):\n"

    @Test func theDryRunChangesNothingAndPrintsWhatTheRestoreThenDoes() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["IPVSCTL_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        let count = environment["IPVSCTL_DRY_RUNS"].flatMap { Int($0) } ?? 3
        print("IPVSCtlDryRunKernelTests: seed \(seed), \(count) inputs (IPVSCTL_SEED=\(seed) replays them)")
        let namespace = try NetworkNamespace("dryrun")
        var failingLines = 0
        for index in 0..<count {
            var random = SeededGenerator(seed: seed &+ 0x5eed &+ UInt64(index))
            let base = RandomRuleSet.make(&random)
            try namespace.check("/bin/sh", ["-c", "\(Tool.ipvsadm) -C && \(Tool.ipvsadm) -R"],
                                input: base.map { $0 + "\n" }.joined())
            let input = Self.changes(to: base, &random).map { $0 + "\n" }.joined()
            let context = "seed \(seed) input \(index):\n--- table\n\(base.joined(separator: "\n"))\n--- input\n\(input)"

            let before = try namespace.settledIpvsadm("-Sn")
            let timeouts = try namespace.check(Tool.ipvsadm, ["-L", "--timeout"])
            let dry = try namespace.run(IPVSCtlBinary.path, ["-R", "--dry-run"], input: input)
            #expect(try namespace.settledIpvsadm("-Sn") == before,
                    "the dry run changed the table; \(context)")
            #expect(try namespace.check(Tool.ipvsadm, ["-L", "--timeout"]) == timeouts)

            // The real restore by ipvsctl itself (whose -R the differential tests hold to ipvsadm's): the messages
            // that name the program then name the same one.
            let real = try namespace.run(IPVSCtlBinary.path, ["-R"], input: input)
            #expect(dry.status == real.status, "status: dry run \(dry.status), ipvsadm -R \(real.status); \(context)")
            #expect(dry.standardError == real.standardError, "messages differ; \(context)\n--- plan\n\(dry.standardOutput)")
            let after = try namespace.settledIpvsadm("-Sn")
            let parts = dry.standardOutput.components(separatedBy: Self.marker)
            #expect(parts.count == 2, "no table in the dry run's output: \(dry.standardOutput)")
            // Services are compared as blocks (a service and its real servers): ipvsadm's sort of services is not
            // a total order (it subtracts unsigned values as int), so its result depends on the order of the
            // kernel's dump, which is its hash order, not the order the simulation added them in.
            #expect(Self.blocks(parts.last ?? "") == Self.blocks(after), Comment(rawValue: "the simulated table differs from the restored one; "
                    + "\(context)\n--- simulated\n\(parts.last ?? "")--- kernel\n\(after)"))
            failingLines += real.standardError.split(separator: "\n").count
        }
        // The inputs must exercise refusals, not only changes.
        #expect(failingLines >= count)
        print("IPVSCtlDryRunKernelTests: \(count) inputs, \(failingLines) refused lines, all as ipvsadm -R")
    }

    /// The services of an `-Sn` listing, each with its real-server lines, sorted.
    static func blocks(_ rules: String) -> [String] {
        var blocks: [String] = []
        for line in rules.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            if line.hasPrefix("-A ") || blocks.isEmpty { blocks.append("") }
            blocks[blocks.count - 1] += line + "\n"
        }
        return blocks.sorted()
    }

    /// A restore input that changes `base`: new services and real servers, duplicates (refused), edits, deletions
    /// of what exists and of what does not, zeroing, an occasional flush, and bad command lines.
    static func changes(to base: [String], _ r: inout SeededGenerator) -> [String] {
        // The services of the base table ("-t 1.2.3.4:80", "-f 7 -6", ...) and their real servers ("-r X:P").
        var services: [String] = []
        var servers: [String: [String]] = [:]
        for line in base {
            let words = line.split(separator: " ").map(String.init)
            if words.first == "-A" {
                let service = words[1...].prefix { !["-s", "-p", "-o", "--pe", "-b", "-M"].contains($0) }
                    .joined(separator: " ")
                services.append(service)
            } else if words.first == "-a", let r = words.firstIndex(of: "-r") {
                servers[words[1..<r].joined(separator: " "), default: []].append(words[r + 1])
            }
        }
        var lines: [String] = []
        for _ in 0..<Int.random(in: 8...20, using: &r) {
            let existing = services.randomElement(using: &r)
            switch Int.random(in: 0..<14, using: &r) {
            case 0:  // a new service (or, by chance, an existing one)
                let (service, _, _) = RandomRuleSet.randomService(&r)
                let persistent = service.hasSuffix(":0") ? " -p" : ""
                lines.append("-A \(service) -s \(RandomRuleSet.schedulers.randomElement(using: &r)!)\(persistent)")
                services.append(service)
            case 1:  // an existing service again: refused
                if let s = existing { lines.append("-A \(s) -s wlc" + (s.hasSuffix(":0") ? " -p" : "")) }
            case 2:  // edit a service, sometimes with a scheduler that does not exist
                if let s = existing {
                    let scheduler = Int.random(in: 0..<5, using: &r) == 0
                        ? "nosuch" : RandomRuleSet.schedulers.randomElement(using: &r)!
                    lines.append("-E \(s) -s \(scheduler)" + (s.hasSuffix(":0") ? " -p 60" : ""))
                }
            case 3:  // delete a service (maybe twice)
                if let s = existing { lines.append("-D \(s)") }
            case 4, 5:  // a real server, new or already there
                if let s = existing {
                    let v6 = s.contains("[") || s.hasSuffix("-6")
                    let address = Int.random(in: 0..<3, using: &r) == 0 ? servers[s]?.randomElement(using: &r)
                        : nil
                    let port = s.hasPrefix("-f") ? "\(Int.random(in: 1...65535, using: &r))"
                        : String(s.split(separator: ":").last ?? "80")
                    let server = address
                        ?? (v6 ? "[\(RandomRuleSet.v6Address(&r))]:\(port)" : "\(RandomRuleSet.v4Unicast(&r)):\(port)")
                    lines.append("-a \(s) -r \(server) -m -w \(Int.random(in: 0...100, using: &r))")
                    servers[s, default: []].append(server)
                }
            case 6:  // edit a real server, with thresholds (sometimes the lower above the upper: ERANGE)
                if let s = existing, let server = servers[s]?.randomElement(using: &r) {
                    let x = Int.random(in: 0...50, using: &r)
                    let y = Int.random(in: 0...60, using: &r)
                    lines.append("-e \(s) -r \(server) -m -w \(Int.random(in: 0...100, using: &r)) -x \(x) -y \(y)")
                }
            case 7, 8:  // delete a real server, which may be gone already
                if let s = existing, let server = servers[s]?.randomElement(using: &r) {
                    lines.append("-d \(s) -r \(server)")
                }
            case 9:  // a real server that is not there
                if let s = existing {
                    lines.append("-d \(s) -r " + (s.contains("[") || s.hasSuffix("-6") ? "[2001:db8::dead]:1"
                                                                                        : "10.99.99.99:1"))
                }
            case 10:  // a service that is not there
                lines.append(["-D -t 10.250.0.1:1", "-E -u 10.250.0.1:2 -s rr", "-a -t 10.250.0.1:3 -r 10.1.1.1:3 -m",
                              "-Z -f 99999"].randomElement(using: &r)!)
            case 11:  // a multicast real server: EINVAL
                if let s = existing, !(s.contains("[") || s.hasSuffix("-6")) {
                    lines.append("-a \(s) -r 224.0.0.9:1 -m")
                }
            case 12:
                lines.append(Int.random(in: 0..<4, using: &r) == 0 ? "-C" : "--set 100 20 30")
            default:  // a line ipvsadm refuses before the kernel sees it
                lines.append(["-A -t 10.0.0.1:80 -s rr --bogus", "-a -t 10.0.0.1:80", "-Q"].randomElement(using: &r)!)
            }
        }
        return lines
    }
}
