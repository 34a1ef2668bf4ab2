// allocation-gate: fails (exit 1) when a hot path of IPVSCore allocates.
//
// The issue's stable benchmark metric: allocations per operation must stay 0 on ConnectionTable lookup, insert,
// update and remove, and on the Balancer's packets: an existing flow (process → .existing, and the read-only
// connection lookup) and a new flow scheduled by wlc (process → .created). Each path runs tens of thousands of times,
// after a warm-up, between two reads of a malloc counter interposed in this executable (CMallocCounter); the
// difference must be 0. Allocation counts do not depend on the machine's load, so the gate is not flaky.
//
// One JSON line per path: {"benchmark":"allocations","path":…,"operations":…,"allocations":…,"gated":…}; a last
// line with "pass". Built in release by tools/test.d/host/30-benchmark-gate.
import CMallocCounter
import IPVSCore

#if canImport(Glibc)
import Glibc
#endif

@inline(never)
func blackHole<T>(_ x: T) {
    withUnsafePointer(to: x) { _ = $0 }
}

var failures: [String] = []

/// Runs `body` (which performs `operations` operations) and records its allocations.
@MainActor
func measure(_ path: String, operations: Int, gated: Bool = true, _ body: () -> Void) {
    let before = CMallocCounter_allocations()
    body()
    let allocations = CMallocCounter_allocations() &- before
    print("{\"benchmark\":\"allocations\",\"path\":\"\(path)\",\"operations\":\(operations),"
        + "\"allocations\":\(allocations),\"gated\":\(gated)}")
    if gated && allocations != 0 { failures.append(path) }
}

// The counter must see allocations at all, or a 0 proves nothing: a Swift array's buffer (swift_slowAlloc in the
// Swift runtime library, calling malloc) must be counted.
do {
    let before = CMallocCounter_allocations()
    blackHole([Int](repeating: 7, count: CommandLine.arguments.count + 100))
    guard CMallocCounter_allocations() > before else {
        print("{\"error\":\"the malloc interposer is not bound: a Swift array allocation was not counted\"}")
        exit(2)
    }
}

// MARK: - ConnectionTable

let count = 50_000
let now = Timestamp.seconds(10)
let expiry = Timestamp.seconds(910)

func key(_ i: Int, port: UInt16 = 80) -> ConnectionKey {
    let v = UInt32(truncatingIfNeeded: i &* 2_654_435_761)
    return ConnectionKey(.tcp, client: IPv4Address(0xC0A8_0000 | v & 0xFFFF), clientPort: UInt16(truncatingIfNeeded: v >> 16),
                         virtual: IPv4Address(10, 0, 0, 1), virtualPort: port)
}

let present = (0..<count).map { key($0) }
let fresh = (0..<count).map { key($0, port: 443) }
let absent = (0..<count).map { key($0, port: 8443) }
let table = try ConnectionTable(capacity: 4 * count, hashSeed: 7)
for (i, k) in present.enumerated() {
    _ = table.insert(k, ConnectionValue(destination: UInt32(i % 16), service: 1, expiry: expiry), now: now)
}
// Warm-up: one of each operation (lazy globals, first-touch paths).
blackHole(table.lookup(present[0], now: now))
blackHole(table.insert(absent[0], ConnectionValue(destination: 1, service: 1, expiry: expiry), now: now))
blackHole(table.remove(absent[0]))
blackHole(table.update(present[0], now: now) { var v = $0; v.state = 1; return v })

var sink: UInt64 = 0
measure("ConnectionTable.lookup", operations: 2 * count) {
    for k in present { sink &+= UInt64(table.lookup(k, now: now)?.destination ?? 0) }
    for k in absent { sink &+= UInt64(table.lookup(k, now: now)?.destination ?? 1) }
}
let batchValues = UnsafeMutableBufferPointer<ConnectionValue?>.allocate(capacity: count)
measure("ConnectionTable.lookup(_:now:into:)", operations: 2 * count) {
    present.withUnsafeBufferPointer { sink &+= UInt64(table.lookup($0, now: now, into: batchValues)) }
    absent.withUnsafeBufferPointer { sink &+= UInt64(table.lookup($0, now: now, into: batchValues)) }
}
measure("ConnectionTable.prefetch", operations: count) {
    present.withUnsafeBufferPointer { table.prefetch($0) }
}
measure("ConnectionTable.insert", operations: count) {
    for (i, k) in fresh.enumerated() {
        if case .inserted = table.insert(k, ConnectionValue(destination: UInt32(i % 16), service: 1, expiry: expiry), now: now) {
            sink &+= 1
        }
    }
}
measure("ConnectionTable.update", operations: count) {
    for k in present {
        if case .updated = table.update(k, now: now, { var v = $0; v.state = 2; v.expiry = expiry; return v }) { sink &+= 1 }
    }
}
measure("ConnectionTable.remove", operations: count) {
    for k in fresh { sink &+= UInt64(table.remove(k)?.destination ?? 0) }
}

// MARK: - Balancer

let vip = IPAddress.v4(IPv4Address(10, 0, 0, 1))
let balancer = try Balancer(Balancer.Configuration(connectionCapacity: 4 * count, hashSeed: 11))
try balancer.addService(
    VirtualService(.address(.tcp, vip, port: 80), scheduler: .wlc),
    servers: (1...8).map { RealServer(.v4(IPv4Address(10, 0, 1, UInt8($0))), port: 8080, forwarding: .masquerade) })

func client(_ i: Int) -> IPAddress { .v4(IPv4Address(0xC0A8_0000 | UInt32(truncatingIfNeeded: i) & 0xFFFF)) }
func clientPort(_ i: Int) -> UInt16 { UInt16(truncatingIfNeeded: 1024 + i / 0x1_0000) }
let syns = (0..<count).map { BalancerPacket.tcp(client($0), clientPort($0), to: vip, 80, flags: .syn, length: 60) }
let acks = (0..<count).map { BalancerPacket.tcp(client($0), clientPort($0), to: vip, 80, flags: .ack, length: 1500) }

blackHole(balancer.process(syns[0], now: now))  // warm-up: the first flow
blackHole(balancer.process(acks[0], now: now))
blackHole(balancer.connection(acks[0], now: now))
measure("Balancer.process new flow (SYN, wlc)", operations: count - 1) {
    for p in syns.dropFirst() {
        if case .created = balancer.process(p, now: now) { sink &+= 1 }
    }
}
measure("Balancer.process existing flow", operations: count) {
    for p in acks {
        if case .existing = balancer.process(p, now: now) { sink &+= 1 }
    }
}
measure("Balancer.connection lookup", operations: count) {
    for p in acks { sink &+= UInt64(balancer.connection(p, now: now)?.destinationID ?? 0) }
}

blackHole(sink)
if failures.isEmpty {
    print("{\"benchmark\":\"allocations\",\"pass\":true}")
} else {
    print("{\"benchmark\":\"allocations\",\"pass\":false,\"allocating\":[\(failures.map { "\"\($0)\"" }.joined(separator: ","))]}")
    exit(1)
}
