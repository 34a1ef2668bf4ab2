// The implementations under test behind one small protocol. Each call runs a whole slice of a stream (millions of
// operations) in the implementation's own loop, so the protocol's dispatch is not in the measured per-operation cost.
import CConnTableReference

enum Implementation: String, CaseIterable {
    case swift, lfht, ck, flat
    /// ConnectionTable in bursts of 16 keys: `lookup(_:now:into:)` for lookups, `prefetch(_:)` then one operation
    /// at a time for inserts and the mixed workload.
    case swiftBatch = "swift-batch"
    /// The flat C table in bursts of 16 keys, each burst's home slots prefetched first (CConnRef_FlatBatch).
    case flatBatch = "flat-batch"
    /// An idealised ceiling for the mixed workload on T threads: T independent flat C tables of capacity / T
    /// slots each, thread t alone on table t, which holds exactly the keys thread t owns in the mixed workload
    /// (indices ≡ t mod T). No sharing, no synchronisation, no cache line ever crosses cores: no concurrent table
    /// can do better than this on the same workload, memory and load factor. Mixed only, T ≥ 2.
    case flatSplit = "flat-split"
    /// The same in bursts of 16 keys with `__builtin_prefetch` (T flat-batch tables).
    case flatSplitBatch = "flat-split-batch"

    var label: String {
        switch self {
        case .swift: "ConnectionTable"
        case .lfht: "cds_lfht"
        case .ck: "ck_ht"
        case .flat: "flat C"
        case .swiftBatch: "ConnectionTable batched"
        case .flatBatch: "flat C batched"
        case .flatSplit: "flat C per-thread tables"
        case .flatSplitBatch: "flat C per-thread tables batched"
        }
    }

    /// The flat table has no synchronisation: several threads may only read it. ck_ht runs the mixed workload only
    /// when asked (`--ck-mixed`): it never turns tombstones back into empty slots (only growth rehashes, ck_ht.c), so
    /// under steady churn its empty slots run out and every insert then scans the whole probe limit — at 16 K entries
    /// a pass of 2 M operations takes minutes, and the figure measures how long the run was, not a steady state.
    func supports(_ workload: Workload, threads: Int, options: Options) -> Bool {
        if workload == .balancerNew || workload == .balancerExisting { return false }  // measureBalancer's
        if self == .flatSplit || self == .flatSplitBatch { return workload == .mixed && threads >= 2 }
        if self == .ck && workload == .mixed { return options.ckMixed }
        return (self != .flat && self != .flatBatch) || threads == 1 || workload == .lookup || workload == .miss
    }
}

/// One table under test. `prepare` converts a C key stream into what `run` consumes (the identity for C tables;
/// the Swift key type for ConnectionTable), outside the timed region.
protocol BenchTable: AnyObject, Sendable {
    associatedtype Prepared: Sendable
    static func prepare(_ buffer: KeyBuffer) -> Prepared
    static func release(_ prepared: Prepared)
    func enter(thread: Int)
    func exit(thread: Int)
    func run(thread: Int, _ prepared: Prepared, range: Range<Int>, uniformOp: Int32) -> CConnRef_Result
    var count: Int { get }
    func destroy()
}

final class CReferenceTable: BenchTable, @unchecked Sendable {
    let table: OpaquePointer

    init?(kind: CConnRef_Kind, capacity: Int, threads: Int) {
        guard let t = CConnRef_create(kind, UInt64(capacity), Int32(threads)) else { return nil }
        table = t
    }

    static func prepare(_ buffer: KeyBuffer) -> KeyBuffer { buffer }
    static func release(_ prepared: KeyBuffer) {}
    func enter(thread: Int) { CConnRef_thread_enter(table, Int32(thread)) }
    func exit(thread: Int) { CConnRef_thread_exit(table, Int32(thread)) }

    func run(thread: Int, _ b: KeyBuffer, range: Range<Int>, uniformOp: Int32) -> CConnRef_Result {
        var r = CConnRef_Result()
        CConnRef_run(
            table, Int32(thread), b.keys.baseAddress! + range.lowerBound,
            b.ops.map { UnsafePointer($0.baseAddress! + range.lowerBound) }, uniformOp, range.count, &r)
        return r
    }

    var count: Int { Int(CConnRef_count(table)) }
    func destroy() { CConnRef_destroy(table) }
}

/// T flat C tables, thread t on table t only (Implementation.flatSplit): the idealised multi-thread ceiling.
final class SplitReferenceTable: BenchTable, @unchecked Sendable {
    let parts: [CReferenceTable]

    init?(kind: CConnRef_Kind, capacity: Int, threads: Int) {
        var parts: [CReferenceTable] = []
        for _ in 0..<threads {
            guard let p = CReferenceTable(kind: kind, capacity: capacity / threads, threads: 1) else {
                parts.forEach { $0.destroy() }
                return nil
            }
            parts.append(p)
        }
        self.parts = parts
    }

    static func prepare(_ buffer: KeyBuffer) -> KeyBuffer { buffer }
    static func release(_ prepared: KeyBuffer) {}
    func enter(thread: Int) {}
    func exit(thread: Int) {}

    func run(thread: Int, _ b: KeyBuffer, range: Range<Int>, uniformOp: Int32) -> CConnRef_Result {
        parts[thread].run(thread: 0, b, range: range, uniformOp: uniformOp)
    }

    var count: Int { parts.reduce(0) { $0 + $1.count } }
    func destroy() { parts.forEach { $0.destroy() } }
}
