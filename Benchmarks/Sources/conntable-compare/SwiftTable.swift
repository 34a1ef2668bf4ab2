// IPVSCore's ConnectionTable behind the BenchTable protocol: the same keys as ConnectionKey values, the same
// capacity and hash seed as the C tables (so every key has the same home slot in ConnectionTable and in flat C).
import CConnTableReference
import IPVSCore

/// A stream of ConnectionKeys converted from C keys (untimed), with the C stream's operation codes.
struct SwiftStream: @unchecked Sendable {
    let keys: UnsafeMutableBufferPointer<ConnectionKey>
    let ops: UnsafeMutableBufferPointer<UInt8>?
}

extension ConnectionKey {
    /// The ConnectionKey of a C key built by CConnRef_make_key (IPv4 TCP, no mark), through the public initialiser.
    init(_ k: CConnRef_Key) {
        let f = KeyFields(k)
        self.init(
            .tcp, client: IPv4Address(f.clientAddress), clientPort: f.clientPort, virtual: IPv4Address(f.virtualAddress),
            virtualPort: f.virtualPort)
    }
}

/// The instant the workloads run at: every inserted connection expires 900 s later, so none expires.
let benchmarkNow = Timestamp(nanoseconds: 1_000_000_000)
let benchmarkExpiry = Timestamp(nanoseconds: 901_000_000_000)

final class SwiftConnectionTable: BenchTable, @unchecked Sendable {
    let table: ConnectionTable
    /// Run in bursts of `ConnectionTable.batchWidth` keys (see Implementation.swiftBatch).
    let batched: Bool

    init(capacity: Int, batched: Bool) throws {
        table = try ConnectionTable(capacity: capacity, hashSeed: CCONNREF_HASH_SEED)
        self.batched = batched
    }

    static func prepare(_ b: KeyBuffer) -> SwiftStream {
        let keys = UnsafeMutableBufferPointer<ConnectionKey>.allocate(capacity: b.count)
        for i in 0..<b.count {
            let k = ConnectionKey(b.keys[i])
            precondition(k.clientPort == UInt16(truncatingIfNeeded: b.keys[i].ports) && k.ipProtocol == .tcp)
            keys.initializeElement(at: i, to: k)
        }
        return SwiftStream(keys: keys, ops: b.ops)
    }

    static func release(_ s: SwiftStream) { s.keys.deallocate() }

    func enter(thread: Int) {}
    func exit(thread: Int) {}

    func run(thread: Int, _ s: SwiftStream, range: Range<Int>, uniformOp: Int32) -> CConnRef_Result {
        batched ? runBatched(s, range: range, uniformOp: uniformOp) : runSingle(s, range: range, uniformOp: uniformOp)
    }

    /// One operation at a time: `lookup(_:now:)`, `insert`, `remove`.
    func runSingle(_ s: SwiftStream, range: Range<Int>, uniformOp: Int32) -> CConnRef_Result {
        let table = self.table
        let now = benchmarkNow
        let template = ConnectionValue(destination: 0, service: 1, state: 1, expiry: benchmarkExpiry)
        var r = CConnRef_Result()
        let keys = s.keys.baseAddress!
        for n in range {
            let key = keys[n]
            let op = s.ops.map { Int32($0[n]) } ?? uniformOp
            if op == CConnRef_OpLookup {
                if let v = table.lookup(key, now: now) {
                    r.hits &+= 1
                    r.checksum &+= UInt64(v.destination)
                } else {
                    r.misses &+= 1
                }
            } else if op == CConnRef_OpInsert {
                var value = template
                value.destination = UInt32(key.clientPort & 0xFF)
                if case .inserted = table.insert(key, value, now: now) {
                    r.inserted &+= 1
                } else {
                    r.insertFailed &+= 1
                }
            } else {
                if table.remove(key) != nil {
                    r.deleted &+= 1
                } else {
                    r.deleteFailed &+= 1
                }
            }
        }
        return r
    }

    /// Bursts of `batchWidth` keys: a lookup-only stream through `lookup(_:now:into:)`; any other stream with
    /// `prefetch(_:)` on each burst, then its operations one by one as in `runSingle`.
    func runBatched(_ s: SwiftStream, range: Range<Int>, uniformOp: Int32) -> CConnRef_Result {
        let table = self.table
        let width = ConnectionTable.batchWidth
        let keys = UnsafeBufferPointer(s.keys)
        var r = CConnRef_Result()
        if s.ops == nil && uniformOp == CConnRef_OpLookup {
            let values = UnsafeMutableBufferPointer<ConnectionValue?>.allocate(capacity: width)
            defer { values.deallocate() }
            var start = range.lowerBound
            while start < range.upperBound {
                let end = min(start + width, range.upperBound)
                let found = table.lookup(UnsafeBufferPointer(rebasing: keys[start..<end]), now: benchmarkNow, into: values)
                r.hits &+= UInt64(found)
                r.misses &+= UInt64(end - start - found)
                for i in 0..<(end - start) { r.checksum &+= UInt64(values[i]?.destination ?? 0) }
                start = end
            }
            return r
        }
        var start = range.lowerBound
        while start < range.upperBound {
            let end = min(start + width, range.upperBound)
            table.prefetch(UnsafeBufferPointer(rebasing: keys[start..<end]))
            let part = runSingle(s, range: start..<end, uniformOp: uniformOp)
            r.hits &+= part.hits
            r.misses &+= part.misses
            r.inserted &+= part.inserted
            r.insertFailed &+= part.insertFailed
            r.deleted &+= part.deleted
            r.deleteFailed &+= part.deleteFailed
            r.checksum &+= part.checksum
            start = end
        }
        return r
    }

    var count: Int { table.count() }
    func destroy() {}
}

func measureSwiftTable(entries: Int, batched: Bool, options: Options, report: (Measurement) -> Void) {
    measure(batched ? .swiftBatch : .swift, entries: entries, options: options, make: { entries, _ in
        let capacity = referenceCapacity(entries)
        return (try? SwiftConnectionTable(capacity: capacity, batched: batched)).map { ($0, capacity) }
    }, report: report)
}
