import Foundation
import Glibc
import Testing

/// ipvsctl against Debian's ipvsadm 1.31 on the same kernel table: random rule sets (see ``RandomRuleSet``) are
/// restored by ipvsadm and then by ipvsctl, and every listing mode, the refused changes and the parse errors run by
/// both tools on both tables must print the same bytes with the same status (``DifferentialRunner`` says how,
/// cheaply enough for every CI run).
///
/// The seed is printed. Environment: `IPVSCTL_SEED` replays a run, `IPVSCTL_RULE_SETS` sets how many rule sets run
/// (default 20), `IPVSCTL_SET` runs only rule set N of the seed, `IPVSCTL_WORKERS` how many run at once (default 2,
/// the VM's CPUs). Every listing mode runs on every rule set (`IPVSCTL_ALL_MODES`, which used to ask for that, is
/// no longer needed). tools/differential-long runs 200 rule sets.
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct IPVSCtlDifferentialTests {
    @Test func randomRuleSetsListTheSameWithBothTools() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["IPVSCTL_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        let count = environment["IPVSCTL_RULE_SETS"].flatMap { Int($0) } ?? 20
        let workers = max(1, environment["IPVSCTL_WORKERS"].flatMap { Int($0) } ?? 2)
        let indices = environment["IPVSCTL_SET"].flatMap { Int($0) }.map { [$0] } ?? Array(0..<count)
        print("IPVSCtlDifferentialTests: seed \(seed), \(indices.count) rule sets, \(workers) workers "
            + "(IPVSCTL_SEED=\(seed) replays them)")
        let runner = try DifferentialRunner(seed: seed)
        defer { runner.removeFiles() }
        let clock = ContinuousClock()
        let started = clock.now

        var runs = try runner.run(indices, workers: workers, attempt: 0)
        var comparisons = runs.map(DifferentialRunner.compare)
        let firstRunTime = clock.now - started
        // The kernel's service dump is no snapshot while other namespaces change theirs (the other workers, the
        // other tests): it resumes each step by counting every namespace's services, so a listing can repeat or
        // skip a service (ip_vs_ctl.c ip_vs_genl_dump_services). A rule set that differs runs again, alone; a real
        // difference never goes away.
        var retried: [String] = []
        for attempt in 1...3 {
            let differing = zip(runs, comparisons).filter { !$0.1.mismatches.isEmpty }.map { $0.0.index }
            guard !differing.isEmpty else { break }
            let again = try runner.run(differing, workers: 1, attempt: attempt)
            for rerun in again {
                let position = runs.firstIndex { $0.index == rerun.index }!
                let first = comparisons[position].mismatches.first!
                comparisons[position] = DifferentialRunner.compare(rerun)
                runs[position] = rerun
                if comparisons[position].mismatches.isEmpty {
                    retried.append("rule set \(rerun.index) (\(first.what)) identical on attempt \(attempt + 1)")
                }
            }
        }

        var listings = 0, errors = 0, mismatches = 0
        for (run, comparison) in zip(runs, comparisons) {
            listings += comparison.listingOutputs
            errors += comparison.errorOutputs
            mismatches += comparison.mismatches.count
            for problem in comparison.problems {
                Issue.record(Comment(rawValue: "seed \(seed), rule set \(run.index): test problem: \(problem)"))
            }
            for mismatch in comparison.mismatches {
                Issue.record(Comment(rawValue: runner.report(mismatch, in: run, total: indices.count)))
            }
        }
        var phases: [String: (total: Int, count: Int)] = [:]
        for run in runs {
            for (step, ms) in run.milliseconds {
                let sum = phases[step] ?? (0, 0)
                phases[step] = (sum.total + ms, sum.count + 1)
            }
        }
        let perSet = DifferentialRunner.steps.compactMap { step in
            phases[step].map { "\(step) \($0.total / max(1, $0.count)) ms" }
        }
        print("""
            IPVSCtlDifferentialTests: seed \(seed): \(runs.count) rule sets, \(listings) listing outputs and \
            \(errors) error outputs (stderr, status) compared, \(mismatches) mismatches; \
            \(firstRunTime) for the first pass with \(workers) workers, \(clock.now - started) in all; \
            per rule set: \(perSet.joined(separator: ", "))
            """)
        for note in retried { print("IPVSCtlDifferentialTests: note: \(note)") }
        #expect(runs.count == indices.count)
        #expect(listings >= indices.count * RandomRuleSet.listingModes.count)
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
        // The table is read with `settledIpvsadm`: CI of 28 Nov 09:49 saw a single dump "change" with every line
        // refused by both tools.
        let before = try namespace.settledIpvsadm("-Sn")
        let input = refused.map { $0 + "\n" }.joined()
        let expected = try namespace.run(Tool.ipvsadm, ["-R"], input: input)
        let actual = try namespace.run(IPVSCtlBinary.path, ["-R"], input: input)
        #expect(expected.standardError.split(separator: "\n").count == refused.count, "\(expected)")
        #expect(actual.standardError == expected.standardError)
        #expect(actual.status == expected.status && actual.standardOutput == expected.standardOutput)
        #expect(try namespace.settledIpvsadm("-Sn") == before)
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

    /// Without root (setpriv to nobody, no capabilities): the kernel refuses IPVS's netlink commands to a process
    /// without CAP_NET_ADMIN, and both tools must say so the same way, whatever the command.
    @Test func withoutRootBothToolsFailTheSame() throws {
        let namespace = try NetworkNamespace("ipvsctl")
        let commands = ["-Ln", "-A -t 10.0.0.1:80 -s rr", "-C", "--bogus", "-L --daemon"]
        func runAsNobody(_ tool: String) throws -> String {
            let script = commands.map { command in
                "echo '@@ \(command)'; /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "
                    + "\(tool) \(command) 2>&1; echo \"status $?\""
            }.joined(separator: "\n")
            return try namespace.check("/bin/bash", ["-c", script], timeout: .seconds(300))
        }
        let expected = try runAsNobody(Tool.ipvsadm)
        #expect(expected.contains("Permission denied"), "\(expected)")
        #expect(try runAsNobody(IPVSCtlBinary.path) == expected)
    }

    /// Runs every mode with `tool` in one shell, and returns for each what it printed and its status.
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
