// restore-bench: the user-space cost of `ipvsctl -R` per line, on the host (tools/bench/restore-parse). The script
// is tools/bench/kernel-sync's (S services × D destinations, as `ipvsadm -S -n` writes them); every line is read
// into its kernel request through IPVSAdmRestoreInput twice — the full popt-compatible parser alone, and with the
// byte-level fast path — alternately, best of several rounds, and the two request lists must be equal. The batch
// encoding of those requests (what `perform(batch:)` adds before the kernel) is timed beside them, and so is
// `ipvsctl -R --dry-run`'s simulation of the script against an empty table (with its plan and resulting rules).
import Glibc
import IPVSAdmin
import IPVSCore
import IPVSNetlink

/// A message on stderr and exit status 1 (2 for usage).
func fail(_ message: String, status: Int32 = 1) -> Never {
    var text = message
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(status)
}

var services = 10_000
var destinations = 10
var rounds = 5
var fastOnly = false
var dryRunOnly = false
var arguments = CommandLine.arguments.dropFirst()
while let option = arguments.popFirst() {
    switch option {
    case "--services": services = Int(arguments.popFirst() ?? "") ?? services
    case "--destinations": destinations = Int(arguments.popFirst() ?? "") ?? destinations
    case "--rounds": rounds = Int(arguments.popFirst() ?? "") ?? rounds
    // Only the fast path, `--rounds` times, nothing printed: for a profiler.
    case "--fast-only": fastOnly = true
    // Only the dry run's simulation, `--rounds` times, its two parts' times printed.
    case "--dry-run-only": dryRunOnly = true
    default:
        fail(
            "usage: restore-bench [--services N] [--destinations N] [--rounds N] [--fast-only | --dry-run-only]\n",
            status: 2)
    }
}

// tools/bench/kernel-sync's table: service i TCP 10.16.(i / 250).(i % 250 + 1):80 wlc, destination j
// 172.(16 + j).(i / 250).(i % 250 + 1):8080 NAT weight 1.
var script = ""
for i in 0..<services {
    let host = "\(i / 250).\(i % 250 + 1)"
    script += "-A -t 10.16.\(host):80 -s wlc\n"
    for j in 0..<destinations { script += "-a -t 10.16.\(host):80 -r 172.\(16 + j).\(host):8080 -m -w 1\n" }
}
let bytes = Array(script.utf8)
let lineCount = bytes.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }

func read(fastPath: Bool) -> ([IPVSRequest], Duration) {
    let clock = ContinuousClock()
    let start = clock.now
    var input = IPVSAdmRestoreInput(bytes, program: "ipvsctl", posixlyCorrect: false, fastPath: fastPath)
    guard case .end = input.readChanges() else { fail("restore-bench: a line is not a change\n") }
    return (input.requests, clock.now - start)
}

/// The loop `-R` ran before the fast path: the whole input as a String, each line's words as Strings, the full
/// parser.
func readOriginal() -> ([IPVSRequest], Duration) {
    var requests: [IPVSRequest] = []
    let clock = ContinuousClock()
    let start = clock.now
    var reader = IPVSAdmRestoreReader(String(decoding: bytes, as: UTF8.self))
    while let words = reader.nextLine() {
        if words.isEmpty { continue }
        guard let invocation = try? IPVSAdmParser.parse(["ipvsctl"] + words, readingRestore: true),
            let change = IPVSAdmRequests.change(invocation)
        else {
            fail("restore-bench: a line is not a change\n")
        }
        requests.append(change.0)
    }
    return (requests, clock.now - start)
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

// `ipvsctl -R --dry-run` of the same script against an empty table: the simulation, its plan and the rules after.
/// Best of the rounds; the output's size in `outputBytes`.
@MainActor func measureDryRun(outputBytes: inout Int) -> Duration {
    (0..<rounds).map { _ in
        let clock = ContinuousClock()
        let start = clock.now
        let simulation = IPVSAdmRestoreSimulation.simulate(script, program: "ipvsctl", table: IPVSSimulatedTable())
        let simulated = clock.now - start
        outputBytes = simulation.plan().utf8.count + simulation.resultingRules().utf8.count
        if dryRunOnly { print("simulate \(simulated), plan and rules \(clock.now - start - simulated)") }
        guard simulation.status == 0, simulation.steps.count == lineCount else {
            fail("restore-bench: the dry run refused a line or lost one\n")
        }
        return clock.now - start
    }.min()!
}
var dryRunBytes = 0
if dryRunOnly {
    _ = measureDryRun(outputBytes: &dryRunBytes)
    exit(0)
}

if fastOnly {
    for _ in 0..<rounds { _ = read(fastPath: true) }
    exit(0)
}

var original = Duration.seconds(1000)
var full = Duration.seconds(1000)
var fast = Duration.seconds(1000)
var fullRequests: [IPVSRequest] = []
var fastRequests: [IPVSRequest] = []
var originalRequests: [IPVSRequest] = []
for _ in 0..<rounds {
    let (o, t0) = readOriginal()
    original = min(original, t0)
    originalRequests = o
    let (a, t1) = read(fastPath: false)
    full = min(full, t1)
    let (b, t2) = read(fastPath: true)
    fast = min(fast, t2)
    fullRequests = a
    fastRequests = b
}
guard fullRequests == fastRequests, originalRequests == fastRequests, fullRequests.count == lineCount else {
    fail("restore-bench: the fast path's requests differ from the full parser's\n")
}
let encode = (0..<rounds).map { _ in IPVSHandle.measureEncoding(fastRequests) }.min()!
// `ipvsctl -Ln`'s formatting of the same table (services and destinations as the kernel would report them),
// best of the rounds: what the listing costs beside the kernel's dumps.
var table: [IPVSAdmServiceListing] = []
for request in fastRequests {
    switch request.body {
    case .service(let service, keyOnly: false):
        let entry = IPVSServiceEntry(service: service, kernelFlags: [], statistics: IPVSStatistics())
        table.append(IPVSAdmServiceListing(entry, []))
    case .destination(_, let server, keyOnly: false):
        // The script adds each service's destinations right after it.
        table[table.count - 1].destinations.append(IPVSDestinationEntry(server: server))
    default: break
    }
}
let listing = IPVSAdmListing(format: .numeric)
var listBytes = 0
let listFormat = (0..<rounds).map { _ in
    let clock = ContinuousClock()
    let start = clock.now
    var out = IPVSAdmTextBuffer(capacity: 1 << 20)
    for service in table {
        listing.write(service, into: &out)
        if out.count >= 1 << 19 {
            listBytes += out.count
            out.removeAll()
        }
    }
    listBytes += out.count
    return clock.now - start
}.min()!

let dryRun = measureDryRun(outputBytes: &dryRunBytes)

let perLine = { (d: Duration) in seconds(d) * 1e9 / Double(lineCount) }
print(
    "{\"lines\": \(lineCount), \"original_ns_per_line\": \(Int(perLine(original))), "
        + "\"full_parser_ns_per_line\": \(Int(perLine(full))), "
        + "\"fast_path_ns_per_line\": \(Int(perLine(fast))), "
        + "\"speedup_over_original\": \(Double(Int(seconds(original) / seconds(fast) * 10)) / 10), "
        + "\"encode_ns_per_line\": \(Int(perLine(encode))), \"full_parser_s\": \(seconds(full)), "
        + "\"fast_path_s\": \(seconds(fast)), \"encode_s\": \(seconds(encode)), "
        + "\"list_format_ns_per_line\": \(Int(perLine(listFormat))), \"list_format_s\": \(seconds(listFormat)), "
        + "\"list_bytes\": \(listBytes / rounds), \"dry_run_ns_per_line\": \(Int(perLine(dryRun))), "
        + "\"dry_run_s\": \(seconds(dryRun)), \"dry_run_output_bytes\": \(dryRunBytes)}")
