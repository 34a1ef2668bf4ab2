// listing-bench: the user-space cost of `ipvsctl -Ln` per destination line, on the host (tools/bench/listing). The
// kernel's destination replies for tools/bench/kernel-sync's table (S services × D destinations) are written once,
// laid out as the kernel sends them (ip_vs_ctl.c `ip_vs_genl_fill_dest`: every attribute, STATS and STATS64), packed
// into page-sized dump steps; then every service's step is decoded and formatted as `ipvsctl -L -n` does it, best of
// several rounds. The listing must equal the one formatted from the same table built directly.
import CIPVSNetlink
import CNetlink
import Glibc
import IPVSAdmin
import IPVSCore
import IPVSNetlink

func fail(_ message: String, status: Int32 = 1) -> Never {
    var text = message
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(status)
}

var services = 10_000
var destinations = 10
var rounds = 5
var arguments = CommandLine.arguments.dropFirst()
while let option = arguments.popFirst() {
    switch option {
    case "--services": services = Int(arguments.popFirst() ?? "") ?? services
    case "--destinations": destinations = Int(arguments.popFirst() ?? "") ?? destinations
    case "--rounds": rounds = Int(arguments.popFirst() ?? "") ?? rounds
    default: fail("usage: listing-bench [--services N] [--destinations N] [--rounds N]\n", status: 2)
    }
}

/// Netlink attributes written as the kernel writes them (nla_put: 4-byte header, payload, padding to 4).
struct AttributeWriter {
    var bytes: [UInt8] = []

    mutating func put(_ type: Int32, _ payload: [UInt8]) {
        let length = 4 + payload.count
        bytes += [UInt8(length & 0xff), UInt8(length >> 8), UInt8(type & 0xff), UInt8(type >> 8)] + payload
        bytes += [UInt8](repeating: 0, count: (4 - length % 4) % 4)
    }
    mutating func u8(_ type: Int32, _ v: UInt8) { put(type, [v]) }
    mutating func u16(_ type: Int32, _ v: UInt16) { put(type, [UInt8(v & 0xff), UInt8(v >> 8)]) }
    mutating func u32(_ type: Int32, _ v: UInt32) { put(type, (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) }) }
    mutating func u64(_ type: Int32, _ v: UInt64) {
        // nla_put_64bit pads with an IPVS_*_ATTR_PAD attribute when the payload would not be 8-byte aligned; the
        // decoder skips it as any unknown type, so its cost is counted by writing it where the kernel would.
        put(type, (0..<8).map { UInt8((v >> (8 * UInt64($0))) & 0xff) })
    }
    mutating func nest(_ type: Int32, _ body: (inout AttributeWriter) -> Void) {
        var inner = AttributeWriter()
        body(&inner)
        put(type | Int32(NLA_F_NESTED), inner.bytes)
    }

    /// The two statistics nests of `counters` (IPVS_STATS_ATTR_CONNS on), as ip_vs_genl_fill_stats and
    /// ip_vs_genl_fill_stats64 write them: in `stats` only the byte counts are 64-bit, in `stats64` all of them.
    mutating func counters(_ counters: [UInt64], stats: Int32, stats64: Int32) {
        nest(stats) { s in
            for (i, v) in counters.enumerated() {
                let type = Int32(IPVS_STATS_ATTR_CONNS) + Int32(i)
                if type == Int32(IPVS_STATS_ATTR_INBYTES) || type == Int32(IPVS_STATS_ATTR_OUTBYTES) {
                    s.u64(type, v)
                } else {
                    s.u32(type, UInt32(v))
                }
            }
        }
        nest(stats64) { s in
            for (i, v) in counters.enumerated() { s.u64(Int32(IPVS_STATS_ATTR_CONNS) + Int32(i), v) }
        }
    }

    /// A reply of `command` carrying these attributes: netlink header (any family id, NLM_F_MULTI), genl header.
    func message(command: UInt8, sequence: UInt32) -> [UInt8] {
        let length = 16 + 4 + bytes.count
        var m: [UInt8] = []
        m += (0..<4).map { UInt8((UInt32(length) >> (8 * UInt32($0))) & 0xff) }
        m += [0x42, 0x00, 0x02, 0x00]
        m += (0..<4).map { UInt8((sequence >> (8 * UInt32($0))) & 0xff) }
        m += [0, 0, 0, 0]
        m += [command, 1, 0, 0]
        return m + bytes
    }
}

/// One IPVS_CMD_NEW_DEST reply (header included), as ip_vs_genl_fill_dest writes it.
func destinationReply(_ server: RealServer, sequence: UInt32, connections: UInt32) -> [UInt8] {
    var a = AttributeWriter()
    a.nest(Int32(IPVS_CMD_ATTR_DEST)) { d in
        var address = [UInt8](repeating: 0, count: 16)
        if case .v4(let v4) = server.address {
            let raw = v4.value
            address[0..<4] = [UInt8(raw >> 24), UInt8((raw >> 16) & 0xff), UInt8((raw >> 8) & 0xff), UInt8(raw & 0xff)]
        }
        d.put(Int32(IPVS_DEST_ATTR_ADDR), address)
        d.u16(Int32(IPVS_DEST_ATTR_ADDR_FAMILY), UInt16(AF_INET))
        d.u16(Int32(IPVS_DEST_ATTR_PORT), server.port.bigEndian)
        d.u32(Int32(IPVS_DEST_ATTR_FWD_METHOD), server.forwarding.rawValue)
        d.u32(Int32(IPVS_DEST_ATTR_WEIGHT), UInt32(bitPattern: server.weight))
        d.u8(Int32(IPVS_DEST_ATTR_TUN_TYPE), 0)
        d.u16(Int32(IPVS_DEST_ATTR_TUN_PORT), 0)
        d.u16(Int32(IPVS_DEST_ATTR_TUN_FLAGS), 0)
        d.u32(Int32(IPVS_DEST_ATTR_U_THRESH), 0)
        d.u32(Int32(IPVS_DEST_ATTR_L_THRESH), 0)
        d.u32(Int32(IPVS_DEST_ATTR_ACTIVE_CONNS), connections)
        d.u32(Int32(IPVS_DEST_ATTR_INACT_CONNS), connections / 2)
        d.u32(Int32(IPVS_DEST_ATTR_PERSIST_CONNS), 0)
        let counters: [UInt64] = [UInt64(connections), 7_000, 6_000, 900_000, 800_000, 1, 2, 3, 400, 500]
        d.counters(counters, stats: Int32(IPVS_DEST_ATTR_STATS), stats64: Int32(IPVS_DEST_ATTR_STATS64))
    }
    return a.message(command: UInt8(IPVS_CMD_NEW_DEST), sequence: sequence)
}

// tools/bench/kernel-sync's table: service i TCP 10.16.(i / 250).(i % 250 + 1):80 wlc, destination j
// 172.(16 + j).(i / 250).(i % 250 + 1):8080 NAT weight 1. The kernel lists destinations newest first.
var entries: [IPVSServiceEntry] = []
var tables: [[IPVSDestinationEntry]] = []
var steps: [[UInt8]] = []
for i in 0..<services {
    let (b, c) = (UInt8(i / 250 % 256), UInt8(i % 250 + 1))
    let service = VirtualService(.address(.tcp, .v4(IPv4Address(10, 16, b, c)), port: 80), scheduler: .wlc)
    entries.append(IPVSServiceEntry(service: service, kernelFlags: [.hashed], statistics: IPVSStatistics()))
    var step: [UInt8] = []
    var table: [IPVSDestinationEntry] = []
    for j in (0..<destinations).reversed() {
        let server = RealServer(.v4(IPv4Address(172, UInt8(16 + j % 200), b, c)), port: 8080, forwarding: .masquerade)
        let reply = destinationReply(server, sequence: UInt32(i + 1), connections: UInt32(i % 7 + j))
        step += reply + [UInt8](repeating: 0, count: (4 - reply.count % 4) % 4)
        table.append(try! reply.withUnsafeBytes { try IPVSReplyDecoder.destination(in: $0) })
    }
    steps.append(step)
    tables.append(table)
}
let lines = services * (destinations + 1)
let listing = IPVSAdmListing(format: [.numeric])

/// What ipvsctl does with one service's dump step (KernelMirrorReader.swift `DestinationDumpSocket.scan`, then
/// Session.listAll's visit): decode every message into the entries, then format the service and its lines.
@inline(never)
func listStep(
    _ step: UnsafeRawBufferPointer, _ entry: IPVSServiceEntry, _ listing: IPVSAdmListing,
    _ decoder: inout IPVSDestinationDecoder, into out: inout IPVSAdmTextBuffer
) {
    var decoded: [IPVSDestinationEntry] = []
    decoded.reserveCapacity(16)
    var offset = 0
    while step.count - offset >= 16 {
        let length = Int(step.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        decoded.append(try! decoder.decode(UnsafeRawBufferPointer(rebasing: step[offset..<offset + length])))
        offset += (length + 3) & ~3
    }
    listing.write(IPVSAdmServiceListing(entry, decoded), into: &out)
}

var expected = IPVSAdmTextBuffer(capacity: lines * 80)
for i in 0..<services { listing.write(IPVSAdmServiceListing(entries[i], tables[i]), into: &expected) }

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}
var best = Double.infinity
var out = IPVSAdmTextBuffer(capacity: lines * 80)
var decoder = IPVSDestinationDecoder(readsStatistics: false)
for _ in 0..<rounds {
    out.removeAll()
    let start = now()
    for i in 0..<services { steps[i].withUnsafeBytes { listStep($0, entries[i], listing, &decoder, into: &out) } }
    best = min(best, now() - start)
}
let same = out.withUnsafeBytes { a in expected.withUnsafeBytes { b in a.elementsEqual(b) } }
guard same else { fail("listing-bench: the listing from the replies differs from the one from the table\n") }
print(
    "listing-bench: \(services) services × \(destinations) destinations, \(lines) lines: "
        + "decode and format \(Int((best * 1e9 / Double(lines)).rounded())) ns per line "
        + "(best of \(rounds), \(Int((best * 1e3).rounded())) ms in all)")

// The parts: decoding alone (the full walk of every reply, and the decoder `ipvsctl -L` keeps per socket), and
// formatting alone from decoded entries.
@inline(never)
func decodeStep(_ step: UnsafeRawBufferPointer, _ decoder: inout IPVSDestinationDecoder?) -> Int {
    var decoded: [IPVSDestinationEntry] = []
    decoded.reserveCapacity(16)
    var offset = 0
    while step.count - offset >= 16 {
        let length = Int(step.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        let message = UnsafeRawBufferPointer(rebasing: step[offset..<offset + length])
        decoded.append(try! decoder == nil ? IPVSReplyDecoder.destination(in: message) : decoder!.decode(message))
        offset += (length + 3) & ~3
    }
    return decoded.count
}
var bestWalk = Double.infinity
var bestDecoder = Double.infinity
var bestFormat = Double.infinity
var sink = 0
var noDecoder: IPVSDestinationDecoder? = nil
var partsDecoder: IPVSDestinationDecoder? = IPVSDestinationDecoder(readsStatistics: false)
for _ in 0..<rounds {
    var start = now()
    for i in 0..<services { sink &+= steps[i].withUnsafeBytes { decodeStep($0, &noDecoder) } }
    bestWalk = min(bestWalk, now() - start)
    start = now()
    for i in 0..<services { sink &+= steps[i].withUnsafeBytes { decodeStep($0, &partsDecoder) } }
    bestDecoder = min(bestDecoder, now() - start)
    out.removeAll()
    start = now()
    for i in 0..<services { listing.write(IPVSAdmServiceListing(entries[i], tables[i]), into: &out) }
    bestFormat = min(bestFormat, now() - start)
}
func perLine(_ t: Double) -> Int { Int((t * 1e9 / Double(lines)).rounded()) }
print(
    "listing-bench: parts, ns per line: decoding \(perLine(bestWalk)) (full walk of every reply), "
        + "\(perLine(bestDecoder)) (decoder, \(partsDecoder!.reused) of \(partsDecoder!.reused + partsDecoder!.walked) "
        + "replies from the remembered layout); formatting \(perLine(bestFormat)) (\(sink / rounds / 2) replies a round)"
)

// The service phase of `ipvsctl -Ln` before any destination dump: the service dump's replies decoded in place
// without their counters (IPVSHandle.servicesDump), checked for repeats, and ipvsadm's order of the services.
func serviceReply(_ entry: IPVSServiceEntry, sequence: UInt32) -> [UInt8] {
    var a = AttributeWriter()
    a.nest(Int32(IPVS_CMD_ATTR_SERVICE)) { s in
        let service = entry.service
        s.u16(Int32(IPVS_SVC_ATTR_AF), UInt16(AF_INET))
        if case .address(let p, .v4(let v4), let port) = service.key {
            s.u16(Int32(IPVS_SVC_ATTR_PROTOCOL), p.rawValue)
            let raw = v4.value
            var address = [UInt8](repeating: 0, count: 16)
            address[0..<4] = [UInt8(raw >> 24), UInt8((raw >> 16) & 0xff), UInt8((raw >> 8) & 0xff), UInt8(raw & 0xff)]
            s.put(Int32(IPVS_SVC_ATTR_ADDR), address)
            s.u16(Int32(IPVS_SVC_ATTR_PORT), port.bigEndian)
        }
        s.put(Int32(IPVS_SVC_ATTR_SCHED_NAME), Array(service.scheduler.rawValue.utf8) + [0])
        s.put(Int32(IPVS_SVC_ATTR_FLAGS), [UInt8](repeating: 0, count: 8))
        s.u32(Int32(IPVS_SVC_ATTR_TIMEOUT), 0)
        s.u32(Int32(IPVS_SVC_ATTR_NETMASK), UInt32.max)
        let counters: [UInt64] = [1, 7_000, 6_000, 900_000, 800_000, 1, 2, 3, 400, 500]
        s.counters(counters, stats: Int32(IPVS_SVC_ATTR_STATS), stats64: Int32(IPVS_SVC_ATTR_STATS64))
    }
    return a.message(command: UInt8(IPVS_CMD_NEW_SERVICE), sequence: sequence)
}
var serviceReplies: [UInt8] = []
var serviceOffsets: [Int] = []
for (i, e) in entries.enumerated() {
    serviceOffsets.append(serviceReplies.count)
    serviceReplies += serviceReply(e, sequence: UInt32(i))
}
var bestServiceDecode = Double.infinity
var bestServiceRepeats = Double.infinity
var bestServiceOrder = Double.infinity
for _ in 0..<rounds {
    var start = now()
    var decoded: [IPVSServiceEntry] = []
    serviceReplies.withUnsafeBytes { all in
        for o in serviceOffsets {
            let length = Int(all.loadUnaligned(fromByteOffset: o, as: UInt32.self))
            let message = UnsafeRawBufferPointer(rebasing: all[o..<o + length])
            decoded.append(try! IPVSReplyDecoder.service(in: message, readsStatistics: false))
        }
    }
    bestServiceDecode = min(bestServiceDecode, now() - start)
    guard decoded.map(\.service) == entries.map(\.service) else {
        fail("listing-bench: the services decoded from the replies differ from the table's\n")
    }
    start = now()
    if ServiceKeyTable.hasRepeats(decoded) { fail("listing-bench: the services' replies repeat a service\n") }
    bestServiceRepeats = min(bestServiceRepeats, now() - start)
    start = now()
    let list = decoded.map(\.service)
    let order = IPVSAdmSortOrder.serviceOrder(list)
    sink &+= order.map { list[$0] }.count
    bestServiceOrder = min(bestServiceOrder, now() - start)
}
let serviceCount = Double(services)
func perService(_ t: Double) -> Int { Int((t * 1e9 / serviceCount).rounded()) }
print(
    "listing-bench: services, ns per service: decoding \(perService(bestServiceDecode)), repeats check "
        + "\(perService(bestServiceRepeats)), order \(perService(bestServiceOrder))")
