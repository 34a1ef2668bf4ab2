// tap-bench: throughput of the pcap tap (issue 7 target: ≥ 1 M packets/s decoded and tracked on one core from a
// pcap file). Run through tools/bench/tap, which builds it in release mode.
//
// Generates a director capture with SyntheticTraffic (NAT, both sides of the director as `tcpdump -i any` sees
// them: client → VIP, its rewritten copy, the real server's reply and its rewritten copy; TCP handshakes, data
// segments, FIN; many clients, many connections open at once), writes it to a file, then times over the same file,
// interleaved, several passes each (medians):
//   read         libpcap alone: pcap_next_ex over the file through PcapHandle, touching nothing (the reference)
//   decode       read + PacketDecoder
//   tap          read + decode + FlowTracker (Tap.process): the target
//   tap-memory   decode + track of frames already in memory (no libpcap): the tap's own cost
//   tcpdump      `tcpdump -r FILE -w /dev/null` (a child process; its CPU time from RUSAGE_CHILDREN): the usual
//                tool's one pass over the same file, reading and writing every record
// Prints one JSON line per measurement and a summary line with packets/s and the ratios to `read`.
#if canImport(Glibc)
import Glibc
#endif
import IPVSCore
import IPVSTap

struct Options {
    var connections = 80_000
    var clients = 2_000
    var dataPackets = 4
    var concurrent = 256
    var passes = 5
    var linkType = LinkType.linuxSLL2
    var file: String?
    var write: String?
    var tcpdump = true
}

func fail(_ message: String) -> Never {
    let text = "tap-bench: \(message)\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(64)
}

var options = Options()
var arguments = CommandLine.arguments.dropFirst()
while let a = arguments.popFirst() {
    func value() -> String {
        guard let v = arguments.popFirst() else { fail("\(a) needs a value") }
        return v
    }
    func number() -> Int {
        guard let n = Int(value()), n > 0 else { fail("\(a) needs a positive number") }
        return n
    }
    switch a {
    case "--connections": options.connections = number()
    case "--clients": options.clients = number()
    case "--data-packets": options.dataPackets = number()
    case "--concurrent": options.concurrent = number()
    case "--passes": options.passes = number()
    case "--file": options.file = value()
    case "--write": options.write = value()
    case "--no-tcpdump": options.tcpdump = false
    case "--link":
        switch value() {
        case "ethernet": options.linkType = .ethernet
        case "sll": options.linkType = .linuxSLL
        case "sll2": options.linkType = .linuxSLL2
        case "raw": options.linkType = .raw
        default: fail("--link: ethernet, sll, sll2 or raw")
        }
    default:
        fail("unknown option \(a) (--connections N --clients N --data-packets N --concurrent N --passes N "
            + "--link ethernet|sll|sll2|raw --file PATH | --write PATH, --no-tcpdump)")
    }
}

func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func wallSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

let servers = (1...8).map { RealServer(.v4(IPv4Address(10, 0, 1, UInt8($0))), port: 8080, forwarding: .masquerade) }
let watched = WatchedService(VirtualService(.address(.tcp, .v4(IPv4Address(10, 96, 0, 1)), port: 80), scheduler: .rr),
                             realServers: servers)

// 1. The capture.
let path = options.file ?? options.write ?? "/tmp/tap-bench-\(getpid()).pcap"
var expected: [ObservedConnection] = []
if options.file == nil {
    let start = wallSeconds()
    let writer: PcapWriter
    do {
        writer = try PcapWriter(path: path, format: PcapFileFormat(linkType: options.linkType, precision: .nanoseconds))
    } catch { fail("\(error)") }
    var traffic = SyntheticTraffic.Options()
    traffic.linkType = options.linkType
    traffic.connections = options.connections
    traffic.clients = options.clients
    traffic.dataPackets = options.dataPackets
    traffic.concurrent = options.concurrent
    let generated = SyntheticTraffic(watched, options: traffic, into: writer)
    do { try writer.close() } catch { fail("\(error)") }
    expected = generated.expected
    print("{\"generated\":\"\(path)\",\"frames\":\(generated.frames),\"connections\":\(options.connections),"
        + "\"clients\":\(options.clients),\"link\":\"\(options.linkType)\",\"seconds\":\(wallSeconds() - start)}")
}
let removeCapture = options.file == nil && options.write == nil

// Frames in memory for tap-memory: one buffer, offsets.
var memory: [UInt8] = []
var offsets: [Int] = [0]
var times: [CaptureTime] = []
var linkType = LinkType.ethernet
do {
    let h = try PcapHandle.open(file: path)
    linkType = h.linkType
    while case .packet(let r) = try h.next() {
        memory.append(contentsOf: r.data)
        offsets.append(memory.count)
        times.append(r.time)
    }
} catch { fail("\(error)") }
let frameCount = times.count

struct Measurement {
    var packets: Int
    var wall: Double
    var cpu: Double
    var check: Int
}

@MainActor func measure(_ body: () throws -> (Int, Int)) -> Measurement {
    let w0 = wallSeconds(), c0 = cpuSeconds()
    let (packets, check) = (try? body()) ?? (0, 0)
    return Measurement(packets: packets, wall: wallSeconds() - w0, cpu: cpuSeconds() - c0, check: check)
}

@MainActor func readOnly() throws -> (Int, Int) {
    let h = try PcapHandle.open(file: path)
    var n = 0, bytes = 0
    while case .packet(let r) = try h.next() {
        n += 1
        bytes &+= r.data.count
    }
    return (n, bytes)
}

@MainActor func decodeOnly() throws -> (Int, Int) {
    let h = try PcapHandle.open(file: path)
    var decoder = PacketDecoder()
    var packet = DecodedPacket()
    var n = 0, ports = 0
    while case .packet(let r) = try h.next() {
        n += 1
        if decoder.decode(r.data, linkType: h.linkType, into: &packet) == .decoded { ports &+= Int(packet.sourcePort) }
    }
    return (n, ports)
}

@MainActor func tapFile() throws -> (Int, Int) {
    let h = try PcapHandle.open(file: path)
    var tap = Tap(services: [watched])
    let n = try tap.run(h)
    return (n, tap.tracker.connections.count)
}

@MainActor func tapMemory() -> (Int, Int) {
    var tap = Tap(services: [watched])
    memory.withUnsafeBytes { all in
        for i in 0..<frameCount {
            let frame = UnsafeRawBufferPointer(rebasing: all[offsets[i]..<offsets[i + 1]])
            tap.process(frame, linkType: linkType, at: times[i])
        }
    }
    return (frameCount, tap.tracker.connections.count)
}

// Correctness first: the tracker must find every generated connection, exactly.
do {
    let h = try PcapHandle.open(file: path)
    var tap = Tap(services: [watched])
    try tap.run(h)
    if !expected.isEmpty && tap.tracker.connections != expected {
        fail("the tracker's connections differ from the generated ones")
    }
    print("{\"check\":\"connections\",\"found\":\(tap.tracker.connections.count),"
        + "\"expected\":\(expected.isEmpty ? "null" : String(expected.count)),"
        + "\"withRealServer\":\(tap.tracker.connections.filter { $0.realServer != nil }.count)}")
} catch { fail("\(error)") }

/// `tcpdump -r FILE -w /dev/null` as a child process: wall time and the child's CPU time (RUSAGE_CHILDREN).
@MainActor func tcpdump(_ binary: String) -> Measurement {
    func childCPU() -> Double {
        var u = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec)
            + Double(u.ru_stime.tv_usec) / 1e6
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup(binary), strdup("-r"), strdup(path), strdup("-w"),
                                                 strdup("/dev/null"), nil]
    defer { for a in argv { free(a) } }
    let w0 = wallSeconds(), c0 = childCPU()
    var pid: pid_t = 0
    guard posix_spawn(&pid, binary, &actions, nil, argv, environ) == 0 else { fail("cannot start \(binary)") }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    guard status == 0 else { fail("\(binary) -r \(path) failed (status \(status))") }
    return Measurement(packets: frameCount, wall: wallSeconds() - w0, cpu: childCPU() - c0, check: 0)
}

let tcpdumpBinary = ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].first { (p: String) in access(p, X_OK) == 0 }
let kinds = ["read", "decode", "tap", "tap-memory"] + (options.tcpdump && tcpdumpBinary != nil ? ["tcpdump"] : [])
var results: [String: [Measurement]] = [:]
for pass in 0..<options.passes {
    for kind in kinds {
        let m: Measurement
        switch kind {
        case "read": m = measure(readOnly)
        case "decode": m = measure(decodeOnly)
        case "tap": m = measure(tapFile)
        case "tcpdump": m = tcpdump(tcpdumpBinary!)
        default: m = measure { tapMemory() }
        }
        guard m.packets == frameCount else { fail("\(kind): read \(m.packets) of \(frameCount) frames") }
        results[kind, default: []].append(m)
        print("{\"pass\":\(pass),\"kind\":\"\(kind)\",\"packets\":\(m.packets),\"wall_s\":\(m.wall),\"cpu_s\":\(m.cpu),"
            + "\"mpps_cpu\":\(Double(m.packets) / m.cpu / 1e6)}")
    }
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
var summary: [String] = []
var rates: [String: Double] = [:]
for kind in kinds {
    let ms = results[kind]!
    rates[kind] = Double(frameCount) / median(ms.map(\.cpu))
    let wallRate = Double(frameCount) / median(ms.map(\.wall))
    summary.append("\"\(kind)_mpps_cpu\":\(rates[kind]! / 1e6),\"\(kind)_mpps_wall\":\(wallRate / 1e6)")
}
print("{\"summary\":true,\"frames\":\(frameCount),\"link\":\"\(linkType)\",\(summary.joined(separator: ",")),"
    + "\"tap_over_read_time\":\(rates["read"]! / rates["tap"]!),\"target_mpps\":1.0,"
    + "\"target_met\":\(rates["tap"]! >= 1e6)}")
if removeCapture { unlink(path) }
