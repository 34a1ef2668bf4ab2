import Foundation
import Glibc

extension Tool {
    static let unshare = "/usr/bin/unshare"
    static let diff = "/usr/bin/diff"
}

/// Runs random rule sets through ipvsadm and ipvsctl in the VM and compares what they print.
///
/// Every process start costs about a second under the VM's emulation (ipvsctl's Swift runtime two to three on a
/// busy host), and that, not the kernel's dumps, was where the time went when each listing mode was a process of
/// its own. So each tool runs a whole rule set in one `-R` process: both take listing lines in `-R` (ipvsadm.c
/// `process_options` runs any command but -R for a line), so the load and every listing mode are one process,
/// with `-L --timeout` between the modes to tell their outputs apart. Per rule set, with its load L, batch B and
/// final lines F (see ``DifferentialRuleSet``):
///
///     1. ipvsadm -R  < L B F   ipvsadm writes the table and lists it
///     2. ipvsctl -R  < B L F   ipvsctl lists the table ipvsadm wrote, then writes its own (the reverse)
///     3. ipvsadm -R  < B F     ipvsadm lists the table ipvsctl wrote
///     4. ipvsadm ARGS, ipvsctl ARGS: one command line of their own, on that table
///
/// and 2 and 3 must print what 1 printed, byte for byte, on stdout and stderr, with the same status; so must the
/// two of 4. Both run as `ipvsadm` (`exec -a`), so that the messages naming the program match. Several workers,
/// each in a network namespace of its own (IPVS tables are per namespace) and a mount namespace with the hosts
/// file of ``DifferentialNames``, run the rule sets at once: the VM has two CPUs.
struct DifferentialRunner {
    let seed: UInt64
    let directory: URL
    let hostsFile: URL
    let script: URL

    init(seed: UInt64) throws {
        self.seed = seed
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ipvsctl-diff-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        hostsFile = directory.appendingPathComponent("hosts")
        let base = (try? String(contentsOfFile: "/etc/hosts", encoding: .utf8)) ?? "127.0.0.1 localhost\n"
        try Data(DifferentialNames.hostsFile(base: base).utf8).write(to: hostsFile)
        script = directory.appendingPathComponent("worker")
        try Data(Self.workerScript.utf8).write(to: script)
    }

    func removeFiles() { try? FileManager.default.removeItem(at: directory) }

    /// The rule set with index `index` of this seed.
    func ruleSet(_ index: Int) -> DifferentialRuleSet {
        var random = SeededGenerator(seed: seed &+ UInt64(index))
        return RandomRuleSet.make(&random, index: index)
    }

    /// One worker's shell: everything a rule set needs in one process tree, timed per step.
    static let workerScript = #"""
        #!/bin/bash
        # nsenter --net=NS -- unshare --mount -- bash worker HOSTS IPVSADM IPVSCTL SETDIR...
        set -u
        hosts=$1 adm=$2 ctl=$3
        shift 3
        /usr/bin/mount --bind "$hosts" /etc/hosts || exit 3
        /usr/sbin/ip link set lo up || exit 3
        run() { # NAME TOOL INPUT ARGS...
            local name=$1 tool=$2 input=$3 start=${EPOCHREALTIME/./}
            shift 3
            (exec -a ipvsadm "$tool" "$@") <"$input" >"$d/$name.out" 2>"$d/$name.err"
            echo $? >"$d/$name.rc"
            echo "$name $(((${EPOCHREALTIME/./} - start) / 1000))" >>"$d/times"
        }
        for d in "$@"; do
            : >"$d/times"
            run adm-write-list "$adm" "$d/adm-input" -R
            run ctl-list-write "$ctl" "$d/ctl-input" -R
            run adm-list "$adm" "$d/list-input" -R
            [ -e "$d/standalone" ] || continue
            mapfile -t words <"$d/standalone"
            run adm-alone "$adm" /dev/null "${words[@]}"
            run ctl-alone "$ctl" /dev/null "${words[@]}"
        done
        """#

    /// What one process printed.
    struct CommandOutput: Equatable {
        var standardOutput: String
        var standardError: String
        var status: String
    }

    /// Everything the runs of one rule set printed, and how long each took (milliseconds).
    struct SetRun {
        var index: Int
        var ruleSet: DifferentialRuleSet
        var outputs: [String: CommandOutput]
        var milliseconds: [String: Int]
    }

    static let steps = ["adm-write-list", "ctl-list-write", "adm-list", "adm-alone", "ctl-alone"]

    /// Runs the rule sets `indices` spread over `workers` workers at once; `attempt` keeps the files of reruns apart.
    func run(_ indices: [Int], workers: Int, attempt: Int) throws -> [SetRun] {
        guard !indices.isEmpty else { return [] }
        var sets: [(index: Int, ruleSet: DifferentialRuleSet, directory: URL)] = []
        for index in indices {
            let ruleSet = ruleSet(index)
            let setDirectory = directory.appendingPathComponent("set-\(index)-\(attempt)")
            try FileManager.default.createDirectory(at: setDirectory, withIntermediateDirectories: true)
            func write(_ name: String, _ lines: [String]) throws {
                try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: setDirectory.appendingPathComponent(name))
            }
            try write("adm-input", ruleSet.load + ruleSet.batch + ruleSet.finals)
            try write("ctl-input", ruleSet.batch + ruleSet.load + ruleSet.finals)
            try write("list-input", ruleSet.reverseBatch + ruleSet.finals)
            if let standalone = ruleSet.standalone { try write("standalone", standalone) }
            sets.append((index, ruleSet, setDirectory))
        }
        let count = min(workers, sets.count)
        let namespaces = try NetworkNamespace.create((0..<count).map { "ipvsctl-diff\($0)" })
        var processes: [BackgroundProcess] = []
        for (w, namespace) in namespaces.enumerated() {
            let mine = stride(from: w, to: sets.count, by: count).map { sets[$0].directory.path }
            processes.append(try namespace.start(
                Tool.unshare,
                ["--mount", "--", "/bin/bash", script.path, hostsFile.path, Tool.ipvsadm, IPVSCtlBinary.path] + mine))
        }
        // Generous: a rule set takes 10-30 s on a busy host.
        let limit = Duration.seconds(120 + 90 * (sets.count / count + 1))
        for process in processes {
            let result = process.wait(timeout: limit)
            guard result.succeeded else { throw CommandFailure(result: result) }
        }
        return try sets.map { set in
            var outputs: [String: CommandOutput] = [:]
            for step in Self.steps where step.hasSuffix("-alone") ? set.ruleSet.standalone != nil : true {
                func read(_ suffix: String) throws -> String {
                    try String(contentsOf: set.directory.appendingPathComponent("\(step).\(suffix)"), encoding: .utf8)
                }
                outputs[step] = CommandOutput(
                    standardOutput: try read("out"), standardError: try read("err"),
                    status: try read("rc").trimmingCharacters(in: .whitespacesAndNewlines))
            }
            var milliseconds: [String: Int] = [:]
            let times = try String(contentsOf: set.directory.appendingPathComponent("times"), encoding: .utf8)
            for line in times.split(separator: "\n") {
                let words = line.split(separator: " ")
                if words.count == 2, let ms = Int(words[1]) { milliseconds[String(words[0])] = ms }
            }
            return SetRun(index: set.index, ruleSet: set.ruleSet, outputs: outputs, milliseconds: milliseconds)
        }
    }

    /// One difference between the tools.
    struct Mismatch {
        var what: String
        var expected: String
        var actual: String
    }

    /// What was compared in one rule set's runs, and what differed.
    struct Comparison {
        var listingOutputs = 0
        var errorOutputs = 0
        var mismatches: [Mismatch] = []
        /// Problems of the test itself (ipvsadm did not run the whole batch).
        var problems: [String] = []
    }

    static func compare(_ run: SetRun) -> Comparison {
        var comparison = Comparison()
        let o = run.outputs
        guard let reference = o["adm-write-list"], let ctl = o["ctl-list-write"], let reverse = o["adm-list"] else {
            comparison.problems.append("missing outputs: \(o.keys.sorted())")
            return comparison
        }
        let segments = run.ruleSet.segments
        let expected = split(reference.standardOutput)
        if expected.count != segments.count + 1 {
            comparison.problems.append(
                "ipvsadm -R ran \(expected.count - 1) of the \(segments.count) listings of the batch:\n"
                    + reference.standardError)
        }
        // ipvsadm's listing of each segment, by name, and what it printed for the final lines.
        var byName: [String: String] = [:]
        for (name, text) in zip(segments, expected) { byName[name] = text }
        let reverseExpected = run.ruleSet.reverseSegments.map { byName[$0] ?? "" } + [expected.last ?? ""]
        let runs: [(String, CommandOutput, [String], [String])] = [
            ("ipvsctl, on the table ipvsadm -R wrote", ctl, segments, expected),
            ("ipvsadm, on the table ipvsctl -R wrote", reverse, run.ruleSet.reverseSegments, reverseExpected),
        ]
        for (what, actual, names, want) in runs {
            // stdout: every listing segment.
            let got = split(actual.standardOutput)
            comparison.listingOutputs += want.count
            if want.count != got.count {
                comparison.mismatches.append(Mismatch(
                    what: "stdout of \(what): \(got.count - 1) listings instead of \(want.count - 1)",
                    expected: want.joined(), actual: actual.standardOutput))
            } else {
                for (k, (w, g)) in zip(want, got).enumerated() where w != g {
                    let mode = k < names.count ? names[k] : "final lines \(run.ruleSet.finals)"
                    comparison.mismatches.append(Mismatch(what: "\(mode) (stdout of \(what))", expected: w, actual: g))
                }
            }
            // stderr and status: the refused changes, the final lines, the load.
            comparison.errorOutputs += 2
            if actual.standardError != reference.standardError {
                comparison.mismatches.append(Mismatch(
                    what: "stderr of \(what) (refused changes, final lines \(run.ruleSet.finals))",
                    expected: reference.standardError, actual: actual.standardError))
            }
            if actual.status != reference.status {
                comparison.mismatches.append(Mismatch(
                    what: "status of \(what) (final lines \(run.ruleSet.finals))", expected: reference.status,
                    actual: actual.status))
            }
        }
        guard let standalone = run.ruleSet.standalone, let admAlone = o["adm-alone"], let ctlAlone = o["ctl-alone"]
        else { return comparison }
        let alone = "`ipvsadm \(standalone.joined(separator: " "))` on its own"
        comparison.listingOutputs += 1
        comparison.errorOutputs += 2
        for (part, w, g) in [
            ("stdout", admAlone.standardOutput, ctlAlone.standardOutput),
            ("stderr", admAlone.standardError, ctlAlone.standardError), ("status", admAlone.status, ctlAlone.status),
        ] where w != g {
            comparison.mismatches.append(Mismatch(what: "\(part) of \(alone)", expected: w, actual: g))
        }
        return comparison
    }

    /// A listing batch's stdout cut after each line starting with ``DifferentialRuleSet/markerOutput``; the last
    /// part is what the final lines printed.
    static func split(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            current += line + "\n"
            if line.hasPrefix(DifferentialRuleSet.markerOutput) {
                parts.append(current)
                current = ""
            }
        }
        // Text after the last newline, if any, belongs to the last part.
        if !text.hasSuffix("\n"), let tail = text.split(separator: "\n", omittingEmptySubsequences: false).last {
            current += tail
        }
        parts.append(current)
        return parts
    }

    /// `diff -u` of two texts (only run for a mismatch).
    static func diff(_ expected: String, _ actual: String) -> String {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("ipvsctl-diff-\(UUID().uuidString)")
        let a = base.appendingPathExtension("ipvsadm"), b = base.appendingPathExtension("ipvsctl")
        defer {
            try? FileManager.default.removeItem(at: a)
            try? FileManager.default.removeItem(at: b)
        }
        guard (try? Data(expected.utf8).write(to: a)) != nil, (try? Data(actual.utf8).write(to: b)) != nil,
            let result = try? Command.run(Tool.diff, ["-u", "--label", "ipvsadm", "--label", "ipvsctl", a.path, b.path])
        else { return "ipvsadm:\n\(expected)\nipvsctl:\n\(actual)" }
        return result.standardOutput
    }

    /// The report of one mismatch: seed, rule set, mode, diff.
    func report(_ mismatch: Mismatch, in run: SetRun, total: Int) -> String {
        """
        ipvsctl differs from ipvsadm: \(mismatch.what)
        seed \(seed), rule set \(run.index) (replay: IPVSCTL_SEED=\(seed) IPVSCTL_SET=\(run.index))
        \(Self.diff(mismatch.expected, mismatch.actual))
        rule set (-R input):
        \(run.ruleSet.load.joined(separator: "\n"))
        batch (-R input after it):
        \(run.ruleSet.batch.joined(separator: "\n"))
        final lines:
        \(run.ruleSet.finals.joined(separator: "\n"))
        """
    }
}
