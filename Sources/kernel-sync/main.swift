// kernel-sync: KernelMirror against ipvsadm on the same table, inside the kernel VM (tools/bench/kernel-sync).
//
// 1. In a fresh network namespace A: load S services × D destinations through KernelMirror from an empty table;
//    read the whole table back; change one destination and count the messages of that pass; one more pass (nothing
//    to do); then empty A through the mirror, so its table costs the other side nothing (the kernel's estimator
//    walks every service and destination of every namespace every 2 s).
// 2. In a fresh namespace B: the same rules through `ipvsadm -R`, timed end to end (process start included:
//    `nsenter --net=B ipvsadm -R`, nsenter execs ipvsadm without forking); then the mirror's load again in a fresh
//    namespace C. The load ratio is ipvsadm's time over the mean of the two mirror loads around it. Right before
//    ipvsadm's, `ipvsctl -R` of the same script in a fresh namespace D (ratio: ipvsadm -R's time over it; D must
//    hold the table B then holds), and D emptied: both restores load into a kernel holding no other service (the
//    service hash table is shared by all namespaces). The mirror's second load runs with B's table in place.
// 3. Our read of B's table (the very table ipvsadm loaded; checked equal to A's), `ipvsadm -Ln` of it, our read
//    again: the dump ratio is ipvsadm's time over the mean of our two. The emulated VM shares a busy host and its
//    speed drifts over minutes; bracketing keeps each ratio's two sides close in time. `ipvsctl -Ln` runs first and
//    last around those three (ratio: ipvsadm's time over the mean of both), and its output must equal ipvsadm's.
// 4. Both ipvsctl commands also as an ipvsctl user types them, `ipvsctl --netns NAME …` (ipvsctl enters the namespace
//    itself; ipvsadm cannot, so it runs under nsenter): the restore in a fresh namespace E right after D's, the
//    listing right inside the nsenter ones. Reported beside the nsenter figures (ipvsctl_netns_*).
// 5. The floor, in the same run: the raw-netlink C loader (tools/bench/netlink-reference/load.c) of the same table
//    in a fresh namespace F right after E's restore, and the C reader (dump.c, two threads) of B's table right
//    before and after `ipvsadm -Ln`; both timed as ipvsctl is (c_*: what any client could reach against ipvsadm
//    on this VM today, and ipvsctl's time over theirs).
// Prints one JSON line. Fresh namespaces matter: a flushed table keeps its destinations on a trash list that every
// later add scans (ip_vs_ctl.c ip_vs_trash_get_dest). A, D, E and F (emptied) are deleted after ipvsadm's restore
// and C after its load, each followed by a wait for the kernel to go idle, so that the reads run with nothing left
// of the loads (an emptied namespace's trash timer walks its 100 000 destinations every 60 s).
import Foundation
import Glibc
import IPVSCore
import IPVSNetlink

struct Failure: Error, CustomStringConvertible {
    var description: String
}

func tool(_ name: String) throws -> String {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] where access("\(dir)/\(name)", X_OK) == 0 {
        return "\(dir)/\(name)"
    }
    throw Failure(description: "\(name) not found")
}

/// Runs a command with `input` on stdin and stdout to /dev/null (or to the file `output`); returns its wall time.
@discardableResult
func run(_ executable: String, _ arguments: [String], input: Data? = nil, output: String? = nil) throws -> Duration {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let output {
        guard FileManager.default.createFile(atPath: output, contents: nil),
            let file = FileHandle(forWritingAtPath: output)
        else { throw Failure(description: "cannot create \(output)") }
        process.standardOutput = file
    } else {
        process.standardOutput = FileHandle.nullDevice
    }
    let pipe = Pipe()
    if input != nil { process.standardInput = pipe }
    let clock = ContinuousClock()
    let start = clock.now
    try process.run()
    if let input {
        // A writer thread: ipvsadm -R reads as it goes, and the script is larger than a pipe holds.
        let writer = Thread {
            pipe.fileHandleForWriting.write(input)
            try? pipe.fileHandleForWriting.close()
        }
        writer.start()
    }
    process.waitUntilExit()
    let elapsed = clock.now - start
    guard process.terminationStatus == 0 else {
        throw Failure(
            description: "\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
    }
    return elapsed
}

/// Progress on stderr: the whole run takes minutes under emulation.
func progress(_ text: String) {
    FileHandle.standardError.write("kernel-sync: \(text)\n".data(using: .utf8)!)
}

/// The VM's available memory and this process's resident size, from /proc: reported beside the timed phases, since
/// a guest short of memory slows whatever runs next.
func memoryLine() -> String {
    func field(_ file: String, _ name: String) -> String {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") })
        else { return "?" }
        return line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
    }
    let available = field("/proc/meminfo", "MemAvailable"), resident = field("/proc/self/status", "VmRSS")
    return "MemAvailable \(available), kernel-sync VmRSS \(resident)"
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

func measure<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
    let clock = ContinuousClock()
    let start = clock.now
    let value = try body()
    return (value, clock.now - start)
}

var serviceCount = 10_000
var destinationsPerService = 10
var offline = false
var loadOnly = false
var readOnly = false
var readNamespace: String?
var arguments = CommandLine.arguments.dropFirst()
while let option = arguments.popFirst() {
    switch option {
    case "--services": serviceCount = Int(arguments.popFirst() ?? "") ?? serviceCount
    case "--destinations": destinationsPerService = Int(arguments.popFirst() ?? "") ?? destinationsPerService
    case "--offline": offline = true
    case "--encode-loop": offline = true
    case "--load-only": loadOnly = true
    case "--read-only": readOnly = true
    case "--namespace": readNamespace = arguments.popFirst()
    default:
        FileHandle.standardError.write("usage: kernel-sync [--services N] [--destinations N] [--load-only | --read-only [--namespace NAME] | --offline | --encode-loop]\n".data(using: .utf8)!)
        exit(2)
    }
}

/// Service i: TCP 10.16.(i / 250).(i % 250 + 1):80, wlc; destination j of it: 172.(16 + j).(i / 250).(i % 250 + 1):8080,
/// NAT, weight 1. (No .0 or .255 host part: the kernel refuses some of those as destinations.)
func address(_ a: Int, _ b: Int, _ c: Int, _ d: Int) -> IPAddress {
    .v4(IPv4Address(UInt8(a), UInt8(b), UInt8(c), UInt8(d)))
}
let desired: [MirroredService] = (0..<serviceCount).map { i in
    MirroredService(
        VirtualService(.address(.tcp, address(10, 16, i / 250, i % 250 + 1), port: 80), scheduler: .wlc),
        destinations: (0..<destinationsPerService).map { j in
            RealServer(address(172, 16 + j, i / 250, i % 250 + 1), port: 8080, forwarding: .masquerade, weight: 1)
        })
}
var script = ""
script.reserveCapacity(serviceCount * destinationsPerService * 48)
for entry in desired {
    guard case .address(_, let vip, _) = entry.service.key else { continue }
    script += "-A -t \(vip):80 -s wlc\n"
    for r in entry.destinations { script += "-a -t \(vip):80 -r \(r.address):8080 -m -w 1\n" }
}
let scope = MirrorScope(networks: [.init(address(10, 0, 0, 0), prefixLength: 8)])

if offline {
    // Host-side costs only, no kernel: validation, planning from an empty table, encoding every request.
    let (_, validateTime) = try measure { try MirrorPlanner.validate(desired, scope: scope) }
    let (plan, planTime) = measure { MirrorPlanner.plan(kernel: [], desired: desired, scope: scope) }
    let (requests, requestsTime) = measure { plan.requests }
    if CommandLine.arguments.contains("--encode-loop") {
        for _ in 0..<100 { _ = IPVSHandle.measureEncoding(plan) }
        exit(0)
    }
    let encodeTime = (0..<5).map { _ in IPVSHandle.measureEncoding(plan) }.min()!
    let requestEncodeTime = (0..<5).map { _ in IPVSHandle.measureEncoding(requests) }.min()!
    let planAgain = (0..<5).map { _ in measure { MirrorPlanner.plan(kernel: [], desired: desired, scope: scope) }.1 }
        .min()!
    print("plan min", planAgain)
    print(
        "{\"validate_s\": \(seconds(validateTime)), \"plan_s\": \(seconds(planTime)), \"requests_s\": \(seconds(requestsTime)), "
            + "\"encode_s\": \(seconds(encodeTime)), \"request_encode_s\": \(seconds(requestEncodeTime)), "
            + "\"messages\": \(requests.count)}")
    exit(0)
}

if readOnly {
    // Only the read side, three times, on one table the mirror loaded: one service dump, the confirmed service
    // dumps, the destination dumps on two sockets, and the whole mirror read. For profiling the read path.
    // With --namespace NAME, the table already in that namespace (left there afterwards), so that other programs
    // (tools/bench/netlink-reference's C reader) can read the same table in the same VM session.
    let ip = try tool("ip")
    let ns = readNamespace ?? "ks-read-\(getpid())"
    if readNamespace == nil {
        try run(ip, ["netns", "add", ns])
        try run(ip, ["-n", ns, "link", "set", "lo", "up"])
    }
    defer { if readNamespace == nil { _ = try? run(ip, ["netns", "delete", ns]) } }
    let mirror = try KernelMirror(scope: scope, networkNamespace: "/run/netns/\(ns)", timeout: .seconds(120))
    if readNamespace == nil {
        guard try mirror.apply(desired).converged else { throw Failure(description: "load failed") }
    }
    var handle = try IPVSHandle(networkNamespace: "/run/netns/\(ns)", timeout: .seconds(120))
    let reader = try IPVSDestinationReader(
        networkNamespace: "/run/netns/\(ns)", familyID: handle.familyID, timeout: .seconds(120))
    var rounds: [String] = []
    for _ in 0..<3 {
        let (entries, serviceTime) = try measure { try handle.services() }
        let (_, confirmedTime) = try measure { try handle.consistentServices() }
        let services = entries.map(\.service)
        let (_, destinationTime) = measure { reader.destinations(of: services) }
        let (_, readTime) = try measure { try mirror.read() }
        rounds.append(
            "{\"service_dump_s\": \(String(format: "%.3f", seconds(serviceTime))), "
                + "\"consistent_services_s\": \(String(format: "%.3f", seconds(confirmedTime))), "
                + "\"destination_dumps_s\": \(String(format: "%.3f", seconds(destinationTime))), "
                + "\"mirror_read_s\": \(String(format: "%.3f", seconds(readTime)))}")
    }
    print("{\"services\": \(serviceCount), \"destinations_per_service\": \(destinationsPerService), "
        + "\"reads\": [\(rounds.joined(separator: ", "))]}")
    exit(0)
}

if loadOnly {
    // Only the mirror's load, twice, each in a fresh namespace: for profiling (`perf record` around it) and quick
    // before/after comparisons of the load path. No ipvsadm, so no ratio.
    let ip = try tool("ip")
    var loads: [String] = []
    for round in 0..<2 {
        let ns = "ks-load-\(getpid())-\(round)"
        try run(ip, ["netns", "add", ns])
        defer { _ = try? run(ip, ["netns", "delete", ns]) }
        try run(ip, ["-n", ns, "link", "set", "lo", "up"])
        let mirror = try KernelMirror(scope: scope, networkNamespace: "/run/netns/\(ns)", timeout: .seconds(120))
        let (plan, planTime) = try measure { try mirror.plan(desired) }
        let (load, applyTime) = measure { mirror.apply(plan: plan) }
        guard load.converged else { throw Failure(description: "load failed: \(load.failures.prefix(3))") }
        loads.append(
            "{\"plan_s\": \(String(format: "%.3f", seconds(planTime))), "
                + "\"apply_s\": \(String(format: "%.3f", seconds(applyTime))), "
                + "\"load_s\": \(String(format: "%.3f", seconds(planTime + applyTime))), "
                + "\"sends\": \(load.result.sends), \"messages\": \(load.mutatingMessages)}")
        try mirror.apply([])
    }
    print("{\"services\": \(serviceCount), \"destinations_per_service\": \(destinationsPerService), "
        + "\"loads\": [\(loads.joined(separator: ", "))]}")
    exit(0)
}

/// A program built next to this one (tools/bench/kernel-sync builds ipvsctl and the C references), copied to the
/// VM's /tmp (tmpfs) and run from there. The VM mounts the repository without a page cache (tools/vm/init: 9p,
/// read-write, uncached), so a program run from it reads every page it touches through emulated 9p at every start —
/// ipvsctl's start took 4 s there, ipvsadm's 0.3 s from /usr/sbin (the host root, mounted cache=loose). Installed
/// tools run from a local, cached file system; all run from one now.
func installed(_ name: String) throws -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let exe = String(decoding: buffer[..<max(0, n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let built = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(name).path
    guard access(built, X_OK) == 0 else { throw Failure(description: "no \(name) next to kernel-sync: \(built)") }
    let installed = "/tmp/kernel-sync-\(getpid())/\(name)"
    try? FileManager.default.removeItem(atPath: installed)
    try FileManager.default.createDirectory(
        atPath: URL(fileURLWithPath: installed).deletingLastPathComponent().path, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: built, toPath: installed)
    guard chmod(installed, 0o755) == 0, access(installed, X_OK) == 0 else {
        throw Failure(description: "cannot install \(name) as \(installed)")
    }
    return installed
}
let ipvsctl = try installed("ipvsctl")
/// The floor: raw-netlink C clients (tools/bench/netlink-reference/load.c and dump.c) that parse, decode and print
/// nothing — the kernel's cost plus the least any client adds. Timed the same way as ipvsctl (a process under
/// nsenter, end to end), in the same run, their ratios say what this VM's kernel allows against ipvsadm today.
let cLoad = try installed("c-load")
let cDump = try installed("c-dump")

let ip = try tool("ip")
let nsenter = try tool("nsenter")
let ipvsadm = try tool("ipvsadm")
// Both tools are started once before anything is timed. In this VM the host's files arrive over 9p and each boot
// starts with an empty page cache: a tool's first start reads its libraries through emulated I/O. That is a cost of
// the VM's file system, not of either tool; it is reported apart, as *_cold_start_s.
let ctlColdStart = try run(ipvsctl, ["-v"])
let admColdStart = try run(ipvsadm, ["-v"])
let ctlWarmStart = try run(ipvsctl, ["-v"])
let admWarmStart = try run(ipvsadm, ["-v"])
progress("cold starts: ipvsctl \(ctlColdStart), ipvsadm \(admColdStart); warm: \(ctlWarmStart), \(admWarmStart)")
let suffix = String(getpid())
let nsA = "ks-mirror-\(suffix)"
let nsB = "ks-ipvsadm-\(suffix)"
let nsC = "ks-mirror2-\(suffix)"
let nsD = "ks-ipvsctl-\(suffix)"
let nsE = "ks-ipvsctl-netns-\(suffix)"
let nsF = "ks-c-load-\(suffix)"
try run(ip, ["netns", "add", nsA])
try run(ip, ["netns", "add", nsB])
try run(ip, ["netns", "add", nsC])
try run(ip, ["netns", "add", nsD])
try run(ip, ["netns", "add", nsE])
try run(ip, ["netns", "add", nsF])
// Loopback up: until a namespace has a local routing table the kernel refuses every IPv4 destination as not unicast
// (ip_vs_ctl.c ip_vs_new_dest → inet_addr_type, which answers RTN_BROADCAST without a table).
try run(ip, ["-n", nsA, "link", "set", "lo", "up"])
try run(ip, ["-n", nsB, "link", "set", "lo", "up"])
try run(ip, ["-n", nsC, "link", "set", "lo", "up"])
try run(ip, ["-n", nsD, "link", "set", "lo", "up"])
try run(ip, ["-n", nsE, "link", "set", "lo", "up"])
try run(ip, ["-n", nsF, "link", "set", "lo", "up"])
defer {
    _ = try? run(ip, ["netns", "delete", nsF])
    _ = try? run(ip, ["netns", "delete", nsE])
    _ = try? run(ip, ["netns", "delete", nsD])
    _ = try? run(ip, ["netns", "delete", nsA])
    _ = try? run(ip, ["netns", "delete", nsB])
    _ = try? run(ip, ["netns", "delete", nsC])
}

/// Waits until the VM's CPUs are idle — under 15 % busy over a second, twice in a row (at most 90 s) — so that a
/// timed phase does not share the CPUs with kernel work an earlier phase left behind. Returns how long it waited.
func settle() -> Duration {
    func sample() -> (busy: UInt64, total: UInt64)? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first
        else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard fields.count >= 5 else { return nil }
        let total = fields.reduce(0, +)
        return (total - fields[3] - fields[4], total)  // all but idle and iowait
    }
    let (_, waited) = measure {
        var quiet = 0
        for _ in 0..<90 {
            guard let a = sample() else { return }
            usleep(1_000_000)
            guard let b = sample() else { return }
            quiet = Double(b.busy &- a.busy) < 0.15 * Double(max(1, b.total &- a.total)) ? quiet + 1 : 0
            if quiet == 2 { return }
        }
    }
    return waited
}

/// Deletes a namespace whose table was emptied and whose sockets are closed, and waits for the kernel to tear it
/// down: an emptied table keeps its deleted destinations on the namespace's trash list, which a timer walks every
/// 60 s and frees after 120 s (ip_vs_ctl.c `ip_vs_dest_trash_expire`) — bursts of kernel work that would land in a
/// later phase's timing. Deleting the namespace frees them at once (`ip_vs_trash_cleanup`), in a workqueue; then
/// ``settle()`` waits for the CPUs to go idle.
func retire(_ namespace: String) throws {
    try run(ip, ["netns", "delete", namespace])
    progress("deleted \(namespace); the kernel settled in \(settle())")
}

progress("settled in \(settle()); the mirror's load next")
// Side A: the mirror. Its objects live in this block only, so that their sockets (which hold the namespace) are
// closed when A is retired.
var changed = desired
changed[serviceCount * 7 / 10].destinations[destinationsPerService / 2].weight = 3
let (load, planTime, applyTime, tableA, dumpA, change, changeTime, idle, idleTime, empty, emptyTime) = try {
    let mirror = try KernelMirror(scope: scope, networkNamespace: "/run/netns/\(nsA)", timeout: .seconds(120))
    let (plan, planTime) = try measure { try mirror.plan(desired) }
    let (load, applyTime) = measure { mirror.apply(plan: plan) }
    guard load.converged else { throw Failure(description: "load failed: \(load.failures.prefix(3))") }
    progress("mirror loaded \(load.mutatingMessages) messages in \(planTime + applyTime)")
    let (tableA, dumpA) = try measure { try mirror.read() }
    progress("mirror read its table in \(dumpA)")
    let (change, changeTime) = try measure { try mirror.apply(changed) }
    let (idle, idleTime) = try measure { try mirror.apply(changed) }
    let (empty, emptyTime) = try measure { try mirror.apply([]) }
    return (load, planTime, applyTime, tableA, dumpA, change, changeTime, idle, idleTime, empty, emptyTime)
}()
let loadTime = planTime + applyTime

progress("change pass \(changeTime), idle pass \(idleTime), emptied in \(emptyTime); ipvsctl -R next")
// `ipvsctl -R` of ipvsadm's script, in a fresh namespace D, right before `ipvsadm -R` and like it with no other
// namespace holding services: the kernel's service hash table (256 chains) is shared by all namespaces, so a table
// loaded elsewhere lengthens every lookup of a load, and the estimator walks it every 2 s. D is read back (it must
// hold the table ipvsadm loads) and emptied.
let ctlRestoreTime = try run(nsenter, ["--net=/run/netns/\(nsD)", "--", ipvsctl, "-R"], input: script.data(using: .utf8)!)
progress("ipvsctl -R took \(ctlRestoreTime)")
/// Reads the table of `namespace` and empties it.
func readAndEmpty(_ namespace: String) throws -> [KernelService] {
    let ctlMirror = try KernelMirror(scope: scope, networkNamespace: "/run/netns/\(namespace)", timeout: .seconds(120))
    let table = try ctlMirror.read()
    try ctlMirror.apply([])
    return table
}
let tableD = try readAndEmpty(nsD)
// The same restore as an ipvsctl user types it: `ipvsctl --netns E -R`, ipvsctl entering the namespace itself
// (ipvsadm has no such option: nsenter, or `ip netns exec`, starts it there). In a fresh namespace E, like D.
progress("settled in \(settle()); ipvsctl --netns -R next")
let ctlNetnsRestoreTime = try run(ipvsctl, ["--netns", nsE, "-R"], input: script.data(using: .utf8)!)
progress("ipvsctl --netns -R took \(ctlNetnsRestoreTime)")
let tableE = try readAndEmpty(nsE)
// The floor: the C loader of the same table in a fresh namespace F, like D and E.
progress("settled in \(settle()); the C loader next")
let cRestoreTime = try run(
    nsenter, ["--net=/run/netns/\(nsF)", "--", cLoad, "\(serviceCount)", "\(destinationsPerService)"],
    output: "/tmp/kernel-sync-c-load")
progress("the C loader took \(cRestoreTime)")
let tableF = try readAndEmpty(nsF)
// Side B: ipvsadm, and our client on ipvsadm's table.
progress("settled in \(settle()); ipvsadm -R next")
let restoreTime = try run(nsenter, ["--net=/run/netns/\(nsB)", "--", ipvsadm, "-R"], input: script.data(using: .utf8)!)
progress("ipvsadm -R took \(restoreTime)")
// The mirror's load again, in a fresh namespace right after ipvsadm's: the ratio is taken against the mean of both.
// A and D, emptied, go now: deleting a namespace that held a table slowed the restore right after it (`ipvsctl -R`
// took 3.56 and 3.87 s after A was deleted, 2.97–3.19 s after A was only emptied), so both restores run as before,
// beside emptied namespaces, and only the phases from here on run with nothing left of the others.
try retire(nsA)
try retire(nsD)
try retire(nsE)
try retire(nsF)
progress("settled in \(settle()); the second mirror load next")
let secondLoadTime = try {
    let second = try KernelMirror(scope: scope, networkNamespace: "/run/netns/\(nsC)", timeout: .seconds(120))
    let (secondLoad, secondLoadTime) = try measure { try second.apply(desired) }
    guard secondLoad.converged else { throw Failure(description: "second load failed") }
    progress("second mirror load took \(secondLoadTime)")
    try second.apply([])
    return secondLoadTime
}()
try retire(nsC)
// The emulated VM shares its host: its speed drifts over minutes. Our dump is timed right before and right after
// `ipvsadm -Ln`, and the ratio taken against their mean.
// `ipvsctl -Ln` is timed the same way, end to end, first and last, and so is `ipvsctl --netns B -Ln` (ipvsctl
// entering the namespace itself) inside them, and the C reader right around ipvsadm's: ctl, ctl --netns, mirror read,
// C read, ipvsadm, C read, mirror read, ctl --netns, ctl.
let reader = try KernelMirror(scope: scope, networkNamespace: "/run/netns/\(nsB)", timeout: .seconds(120))
progress("memory before the listings: \(memoryLine())")
let ctlListBefore = try run(
    nsenter, ["--net=/run/netns/\(nsB)", "--", ipvsctl, "-Ln"], output: "/tmp/kernel-sync-ipvsctl-Ln")
progress("ipvsctl -Ln took \(ctlListBefore)")
let ctlNetnsListBefore = try run(ipvsctl, ["--netns", nsB, "-Ln"], output: "/tmp/kernel-sync-ipvsctl-netns-Ln")
progress("ipvsctl --netns -Ln took \(ctlNetnsListBefore)")
let (tableB, dumpBefore) = try measure { try reader.read() }
progress("our read of ipvsadm's table took \(dumpBefore)")
let cListBefore = try run(nsenter, ["--net=/run/netns/\(nsB)", "--", cDump, "2"], output: "/tmp/kernel-sync-c-dump")
progress("the C reader took \(cListBefore)")
let listTime = try run(
    nsenter, ["--net=/run/netns/\(nsB)", "--", ipvsadm, "-Ln"], output: "/tmp/kernel-sync-ipvsadm-Ln")
progress("ipvsadm -Ln took \(listTime)")
let cListAfter = try run(nsenter, ["--net=/run/netns/\(nsB)", "--", cDump, "2"])
progress("the C reader took \(cListAfter)")
let (_, dumpAfter) = try measure { try reader.read() }
progress("our read of ipvsadm's table took \(dumpAfter)")
let ctlNetnsListAfter = try run(ipvsctl, ["--netns", nsB, "-Ln"])
progress("ipvsctl --netns -Ln took \(ctlNetnsListAfter)")
progress("memory: \(memoryLine())")
let ctlListAfter = try run(nsenter, ["--net=/run/netns/\(nsB)", "--", ipvsctl, "-Ln"])
progress("ipvsctl -Ln took \(ctlListAfter)")
let ctlListing = FileManager.default.contents(atPath: "/tmp/kernel-sync-ipvsctl-Ln")
let ctlNetnsListing = FileManager.default.contents(atPath: "/tmp/kernel-sync-ipvsctl-netns-Ln")
let admListing = FileManager.default.contents(atPath: "/tmp/kernel-sync-ipvsadm-Ln")
let sameListing = ctlListing != nil && ctlListing == admListing && ctlNetnsListing == admListing
let listedLines = admListing.map { $0.reduce(0) { $0 + ($1 == 10 ? 1 : 0) } } ?? 0
let dumpB = (dumpBefore + dumpAfter) / 2
var handle = try IPVSHandle(networkNamespace: "/run/netns/\(nsB)", timeout: .seconds(120))
let (serviceDump, serviceDumpTime) = try measure { try handle.services().count }
// For comparison: the whole table through one libnl IPVSHandle (64 KiB receives), one thread.
let (_, handleDumpTime) = try measure {
    for entry in tableB { _ = try handle.destinations(of: entry.service) }
}

func normalized(_ table: [KernelService]) -> Set<[String]> {
    Set(table.map { ["\($0.service)"] + $0.destinations.map { "\($0.server)" }.sorted() })
}
// A's table was read before the change: it is the desired table, which ipvsadm loaded into B.
let sameTable = normalized(tableA) == normalized(tableB)
let destinations = tableB.reduce(0) { $0 + $1.destinations.count }

let loadRatio = seconds(restoreTime) / seconds((loadTime + secondLoadTime) / 2)
let dumpRatio = seconds(listTime) / seconds(dumpB)
let ctlList = (ctlListBefore + ctlListAfter) / 2
let ctlListRatio = seconds(listTime) / seconds(ctlList)
let ctlRestoreRatio = seconds(restoreTime) / seconds(ctlRestoreTime)
let ctlSameTable = normalized(tableD) == normalized(tableB) && normalized(tableE) == normalized(tableB)
let ctlNetnsList = (ctlNetnsListBefore + ctlNetnsListAfter) / 2
let ctlNetnsListRatio = seconds(listTime) / seconds(ctlNetnsList)
let ctlNetnsRestoreRatio = seconds(restoreTime) / seconds(ctlNetnsRestoreTime)
let cRestoreRatio = seconds(restoreTime) / seconds(cRestoreTime)
let cSameTable = normalized(tableF) == normalized(tableB)
let cList = (cListBefore + cListAfter) / 2
let cListRatio = seconds(listTime) / seconds(cList)
/// The C reader's count of destinations (its one line of JSON).
let cDumped: Int = {
    guard let data = FileManager.default.contents(atPath: "/tmp/kernel-sync-c-dump"),
        let text = String(data: data, encoding: .utf8),
        let field = text.range(of: "\"destinations\": ")
    else { return -1 }
    return Int(text[field.upperBound...].prefix { $0.isNumber }) ?? -1
}()
/// Two timings of one phase (before and after the other side's), as a JSON array of seconds.
func beforeAfter(_ a: Duration, _ b: Duration) -> String {
    "[\(String(format: "%.3f", seconds(a))), \(String(format: "%.3f", seconds(b)))]"
}
let json: [(String, String)] = [
    ("services", "\(serviceCount)"),
    ("destinations_per_service", "\(destinationsPerService)"),
    ("messages_loaded", "\(load.mutatingMessages)"),
    ("sends", "\(load.result.sends)"),
    ("mirror_load_s", String(format: "%.3f", seconds((loadTime + secondLoadTime) / 2))),
    ("mirror_load_before_after_s", beforeAfter(loadTime, secondLoadTime)),
    ("mirror_load_plan_s", String(format: "%.3f", seconds(planTime))),
    ("mirror_load_apply_s", String(format: "%.3f", seconds(applyTime))),
    ("us_per_message", String(format: "%.2f", seconds(applyTime) * 1e6 / Double(max(1, load.mutatingMessages)))),
    ("ipvsadm_restore_s", String(format: "%.3f", seconds(restoreTime))),
    ("load_ratio", String(format: "%.1f", loadRatio)),
    ("mirror_dump_s", String(format: "%.3f", seconds(dumpB))),
    ("mirror_dump_before_after_s", beforeAfter(dumpBefore, dumpAfter)),
    ("mirror_dump_own_table_s", String(format: "%.3f", seconds(dumpA))),
    ("service_dump_s", String(format: "%.3f", seconds(serviceDumpTime))),
    ("one_handle_dump_s", String(format: "%.3f", seconds(handleDumpTime + serviceDumpTime))),
    ("ipvsadm_list_s", String(format: "%.3f", seconds(listTime))),
    ("dump_ratio", String(format: "%.1f", dumpRatio)),
    ("dumped_services", "\(tableB.count)"),
    ("dumped_destinations", "\(destinations)"),
    ("same_table", "\(sameTable && serviceDump == serviceCount)"),
    ("change_mutating_messages", "\(change.mutatingMessages)"),
    ("change_read_requests", "\(change.readRequests)"),
    ("change_pass_s", String(format: "%.3f", seconds(changeTime))),
    ("idle_pass_mutating_messages", "\(idle.mutatingMessages)"),
    ("idle_pass_s", String(format: "%.3f", seconds(idleTime))),
    ("delete_all_messages", "\(empty.mutatingMessages)"),
    ("delete_all_s", String(format: "%.3f", seconds(emptyTime))),
    ("ipvsctl_restore_s", String(format: "%.3f", seconds(ctlRestoreTime))),
    ("ipvsctl_restore_ratio", String(format: "%.1f", ctlRestoreRatio)),
    ("ipvsctl_restore_same_table", "\(ctlSameTable)"),
    ("ipvsctl_list_s", String(format: "%.3f", seconds(ctlList))),
    ("ipvsctl_list_before_after_s", beforeAfter(ctlListBefore, ctlListAfter)),
    ("ipvsctl_list_ratio", String(format: "%.1f", ctlListRatio)),
    ("ipvsctl_netns_restore_s", String(format: "%.3f", seconds(ctlNetnsRestoreTime))),
    ("ipvsctl_netns_restore_ratio", String(format: "%.1f", ctlNetnsRestoreRatio)),
    ("ipvsctl_netns_list_before_after_s", beforeAfter(ctlNetnsListBefore, ctlNetnsListAfter)),
    ("ipvsctl_netns_list_ratio", String(format: "%.1f", ctlNetnsListRatio)),
    ("ipvsctl_list_identical", "\(sameListing)"),
    ("c_restore_s", String(format: "%.3f", seconds(cRestoreTime))),
    ("c_restore_ratio", String(format: "%.1f", cRestoreRatio)),
    ("c_restore_same_table", "\(cSameTable)"),
    ("ipvsctl_restore_over_c", String(format: "%.2f", seconds(ctlRestoreTime) / seconds(cRestoreTime))),
    ("c_list_s", String(format: "%.3f", seconds(cList))),
    ("c_list_before_after_s", beforeAfter(cListBefore, cListAfter)),
    ("c_list_ratio", String(format: "%.1f", cListRatio)),
    ("c_list_destinations", "\(cDumped)"),
    ("ipvsctl_list_over_c", String(format: "%.2f", seconds(ctlList) / seconds(cList))),
    ("listed_lines", "\(listedLines)"),
    ("ipvsctl_cold_start_s", String(format: "%.3f", seconds(ctlColdStart))),
    ("ipvsadm_cold_start_s", String(format: "%.3f", seconds(admColdStart))),
    ("ipvsctl_warm_start_s", String(format: "%.3f", seconds(ctlWarmStart))),
    ("ipvsadm_warm_start_s", String(format: "%.3f", seconds(admWarmStart))),
    ("target_load_25x", "\(loadRatio >= 25)"),
    ("target_dump_5x", "\(dumpRatio >= 5)"),
    ("target_one_change_one_message", "\(change.mutatingMessages == 1)"),
    ("target_ipvsctl_restore_25x", "\(ctlRestoreRatio >= 25)"),
    ("target_ipvsctl_list_5x", "\(ctlListRatio >= 5)"),
    ("target_ipvsctl_netns_restore_25x", "\(ctlNetnsRestoreRatio >= 25)"),
    ("target_ipvsctl_netns_list_5x", "\(ctlNetnsListRatio >= 5)"),
]
print("{" + json.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
