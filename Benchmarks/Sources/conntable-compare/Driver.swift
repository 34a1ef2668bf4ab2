// Runs the workloads on one implementation: table creation and prefill (untimed), then each workload's timed
// passes on 1 and 2 threads, checking every pass's results (a table that loses, duplicates or invents entries
// stops the run: a fast wrong answer is not a figure).
import CConnTableReference

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var entries: [Int] = [16_000, 1_000_000, 16_000_000]
    var threads: [Int] = [1, 2]
    var workloads: [Workload] = Workload.allCases
    var implementations: [Implementation] = Implementation.allCases
    var opsPerPass = 2_000_000
    var passes = 3
    var seed: UInt64 = 0x1234_5678_9ABC_DEF0
    var pin = true
    var table = false
    var ckMixed = false
}

struct Measurement {
    var implementation: Implementation
    var workload: Workload
    var entries: Int
    var threads: Int
    var capacity: Int
    var opsPerPass: Int
    var wall: [Double] = []
    var cpu: [Double] = []
    /// AnonHugePages of the process (KiB) while the table was live: whether it was backed by 2 MiB pages.
    var hugeKiB = 0

    var mopsWall: Double { Double(opsPerPass) / median(wall) / 1e6 }
    var mopsCPU: Double { Double(opsPerPass) / median(cpu) / 1e6 }
    var mopsWallBest: Double { Double(opsPerPass) / wall.min()! / 1e6 }
    /// The share of the wall time the threads spent on a CPU (thread-CPU seconds ÷ (wall seconds × threads)), from
    /// the medians: near 1 on a quiet machine; much lower means other processes had the CPUs, and then the wall
    /// figures, and the 2-thread ÷ 1-thread scaling in wall time, say more about the load than about the table.
    var cpuShare: Double { median(cpu) / (median(wall) * Double(threads)) }

    var json: String {
        "{\"workload\":\"\(workload.rawValue)\",\"entries\":\(entries),\"threads\":\(threads),"
            + "\"mops_wall\":\(format(mopsWall)),\"mops_cpu\":\(format(mopsCPU)),"
            + "\"impl\":\"\(implementation.rawValue)\",\"mops_wall_best\":\(format(mopsWallBest)),"
            + "\"passes\":\(wall.count),\"ops_per_pass\":\(opsPerPass),\"capacity\":\(capacity),"
            + "\"anon_huge_kib\":\(hugeKiB),\"cpu_share\":\(format(cpuShare))}"
    }
}

extension Measurement {
    /// A measurement from one of its JSON lines (for `--report`): the medians become one-pass figures; nil for any
    /// other line.
    init?(jsonLine line: String) {
        func field(_ name: String) -> Substring? {
            guard let r = line.firstRange(of: "\"\(name)\":") else { return nil }
            let rest = line[r.upperBound...]
            let end = rest.firstIndex { $0 == "," || $0 == "}" } ?? rest.endIndex
            return rest[..<end].filter { $0 != "\"" }[...]
        }
        guard let w = field("workload").flatMap({ Workload(rawValue: String($0)) }),
            let i = field("impl").flatMap({ Implementation(rawValue: String($0)) }),
            let e = field("entries").flatMap({ Int($0) }), let t = field("threads").flatMap({ Int($0) }),
            let ops = field("ops_per_pass").flatMap({ Int($0) }), let mw = field("mops_wall").flatMap({ Double($0) }),
            let mc = field("mops_cpu").flatMap({ Double($0) }), mw > 0, mc > 0
        else { return nil }
        self.init(implementation: i, workload: w, entries: e, threads: t,
                  capacity: field("capacity").flatMap { Int($0) } ?? 0, opsPerPass: ops)
        wall = [Double(ops) / (mw * 1e6)]
        cpu = [Double(ops) / (mc * 1e6)]
        hugeKiB = field("anon_huge_kib").flatMap { Int($0) } ?? 0
    }
}

/// The process's AnonHugePages in KiB (/proc/self/smaps_rollup), 0 when unknown: tools/bench/conntable asks
/// glibc for transparent huge pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1), and this shows whether it got them.
func anonHugeKiB() -> Int {
    guard let f = fopen("/proc/self/smaps_rollup", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), f) != nil {
        let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if s.hasPrefix("AnonHugePages:") {
            return Int(s.dropFirst("AnonHugePages:".count).split(separator: " ").first ?? "") ?? 0
        }
    }
    return 0
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func format(_ x: Double, _ digits: Int = 2) -> String {
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    return "\((x * p).rounded() / p)"
}

func fail(_ message: String) -> Never {
    print("{\"error\":\"\(message)\"}")
    exit(1)
}

/// Slots for `entries` keys in the C tables: the power of two ≥ 2 × (entries + 64), a load factor just under 0.5
/// (ck_ht doubles above 0.5; the slack covers the mixed workload's in-flight inserts).
func referenceCapacity(_ entries: Int) -> Int {
    var c = 16
    while c < 2 * (entries + 64) { c <<= 1 }
    return c
}

final class ParallelJob: @unchecked Sendable {
    let enter: (Int) -> Void
    let body: (Int) -> Void
    let exit: (Int) -> Void

    init(enter: @escaping (Int) -> Void, body: @escaping (Int) -> Void, exit: @escaping (Int) -> Void) {
        self.enter = enter
        self.body = body
        self.exit = exit
    }
}

/// Runs `body` on `threads` pinned threads started together; returns (wall seconds, summed thread-CPU seconds).
func runParallel(threads: Int, pin: Bool, _ job: ParallelJob) -> (wall: Double, cpu: Double) {
    var timings = [CConnBench_Timing](repeating: CConnBench_Timing(), count: threads)
    let error = withExtendedLifetime(job) {
        CConnBench_run_parallel(
            Int32(threads), pin, Unmanaged.passUnretained(job).toOpaque(),
            { Unmanaged<ParallelJob>.fromOpaque($0!).takeUnretainedValue().enter(Int($1)) },
            { Unmanaged<ParallelJob>.fromOpaque($0!).takeUnretainedValue().body(Int($1)) },
            { Unmanaged<ParallelJob>.fromOpaque($0!).takeUnretainedValue().exit(Int($1)) },
            &timings)
    }
    if error != 0 { fail("pthread_create failed: errno \(error)") }
    let start = timings.map(\.wallStart).min()!, end = timings.map(\.wallEnd).max()!
    return (end - start, timings.map(\.cpuSeconds).reduce(0, +))
}

/// One timed pass: thread t runs `ranges[t]` of `streams[t]`; returns the timing and the summed results.
func timedPass<T: BenchTable>(
    _ table: T, _ streams: [T.Prepared], ranges: [Range<Int>], uniformOp: Int32, pin: Bool
) -> (wall: Double, cpu: Double, result: CConnRef_Result) {
    let results = UnsafeMutableBufferPointer<CConnRef_Result>.allocate(capacity: streams.count)
    defer { results.deallocate() }
    let job = ParallelJob(
        enter: { table.enter(thread: $0) },
        body: { results[$0] = table.run(thread: $0, streams[$0], range: ranges[$0], uniformOp: uniformOp) },
        exit: { table.exit(thread: $0) })
    let (wall, cpu) = runParallel(threads: streams.count, pin: pin, job)
    var sum = CConnRef_Result()
    for r in results {
        sum.hits += r.hits
        sum.misses += r.misses
        sum.inserted += r.inserted
        sum.insertFailed += r.insertFailed
        sum.deleted += r.deleted
        sum.deleteFailed += r.deleteFailed
        sum.checksum &+= r.checksum
    }
    return (wall, cpu, sum)
}

func describe(_ r: CConnRef_Result) -> String {
    "hits \(r.hits) misses \(r.misses) inserted \(r.inserted) insertFailed \(r.insertFailed) "
        + "deleted \(r.deleted) deleteFailed \(r.deleteFailed)"
}

/// All requested workloads on one implementation at one size. `make` creates an empty table for `entries` keys
/// and `threads` threads, and returns it with its capacity (slots).
func measure<T: BenchTable>(
    _ implementation: Implementation, entries: Int, options: Options, make: (Int, Int) -> (T, Int)?,
    report: (Measurement) -> Void
) {
    let factory = StreamFactory(seed: options.seed, entries: entries)
    let maxThreads = options.threads.max()!
    func newTable() -> (T, Int) {
        guard let made = make(entries, maxThreads) else { fail("\(implementation.rawValue): cannot create a table for \(entries) entries") }
        return made
    }
    func supported(_ w: Workload, _ t: Int) -> Bool {
        options.workloads.contains(w) && implementation.supports(w, threads: t, options: options)
    }

    // Insert into an empty table; small tables are filled many times (a fresh table each time) for a stable median.
    for threads in options.threads where supported(.insert, threads) {
        let buffers = (0..<threads).map { factory.inserts(thread: $0, threads: threads) }
        let prepared = buffers.map { T.prepare($0) }
        let repeats = max(options.passes, min(101, 2_000_000 / entries))
        var m: Measurement? = nil
        for _ in 0..<repeats {
            let (table, capacity) = newTable()
            if m == nil {
                m = Measurement(implementation: implementation, workload: .insert, entries: entries, threads: threads,
                                capacity: capacity, opsPerPass: entries)
            }
            let pass = timedPass(table, prepared, ranges: buffers.map { 0..<$0.count }, uniformOp: Int32(CConnRef_OpInsert), pin: options.pin)
            guard pass.result.inserted == entries, pass.result.insertFailed == 0, table.count == entries else {
                fail("\(implementation.rawValue) insert \(entries) × \(threads) threads: \(describe(pass.result)), count \(table.count)")
            }
            m!.wall.append(pass.wall)
            m!.cpu.append(pass.cpu)
            m!.hugeKiB = anonHugeKiB()
            table.destroy()
        }
        report(m!)
        prepared.forEach { T.release($0) }
        buffers.forEach { $0.free() }
    }

    let later: [Workload] = [.lookup, .miss, .mixed]
    guard later.contains(where: { w in options.threads.contains { supported(w, $0) } }) else { return }

    // Prefill (untimed), by one thread in chunks of 1 Mi keys.
    let (table, capacity) = newTable()
    do {
        let chunk = 1 << 20
        var start = 0
        while start < entries {
            let end = min(entries, start + chunk)
            let b = KeyBuffer(count: end - start, withOps: false)
            for i in start..<end { b.keys[i - start] = factory.key(i) }
            let p = T.prepare(b)
            let pass = timedPass(table, [p], ranges: [0..<b.count], uniformOp: Int32(CConnRef_OpInsert), pin: options.pin)
            T.release(p)
            b.free()
            guard pass.result.inserted == end - start else { fail("\(implementation.rawValue) prefill: \(describe(pass.result))") }
            start = end
        }
        guard table.count == entries else { fail("\(implementation.rawValue) prefill: count \(table.count), expected \(entries)") }
    }

    for (workload, hits) in [(Workload.lookup, true), (.miss, false)] {
        for threads in options.threads where supported(workload, threads) {
            let buffers = (0..<threads).map { factory.lookups(thread: $0, count: options.opsPerPass, hits: hits) }
            let prepared = buffers.map { T.prepare($0) }
            var m = Measurement(implementation: implementation, workload: workload, entries: entries, threads: threads,
                                capacity: capacity, opsPerPass: options.opsPerPass * threads)
            for _ in 0..<options.passes {
                let pass = timedPass(table, prepared, ranges: buffers.map { 0..<$0.count }, uniformOp: Int32(CConnRef_OpLookup), pin: options.pin)
                let expected = UInt64(m.opsPerPass)
                guard hits ? pass.result.hits == expected : pass.result.misses == expected else {
                    fail("\(implementation.rawValue) \(workload.rawValue) \(entries) × \(threads): \(describe(pass.result))")
                }
                m.wall.append(pass.wall)
                m.cpu.append(pass.cpu)
            }
            m.hugeKiB = anonHugeKiB()
            report(m)
            prepared.forEach { T.release($0) }
            buffers.forEach { $0.free() }
        }
    }

    var state = MixedState(entries: entries)
    for threads in options.threads where supported(.mixed, threads) {
        measureMixed(implementation, table, capacity: capacity, entries: entries, threads: threads, state: &state,
                     options: options, report: report)
    }
    table.destroy()
}

/// The mixed workload's timed passes on `threads` threads over `table` (holding the live keys of `state`): every
/// pass's results are checked, and the table must still hold `entries` keys at the end.
func measureMixed<T: BenchTable>(
    _ implementation: Implementation, _ table: T, capacity: Int, entries: Int, threads: Int, state: inout MixedState,
    options: Options, report: (Measurement) -> Void
) {
    let ops = options.opsPerPass / 40 * 40
    let buffers = state.streams(factory: StreamFactory(seed: options.seed, entries: entries), threads: threads,
                                opsPerPass: ops, passes: options.passes)
    let prepared = buffers.map { T.prepare($0) }
    var m = Measurement(implementation: implementation, workload: .mixed, entries: entries, threads: threads,
                        capacity: capacity, opsPerPass: ops * threads)
    for p in 0..<options.passes {
        let range = p * ops..<(p + 1) * ops
        let pass = timedPass(table, prepared, ranges: Array(repeating: range, count: threads), uniformOp: 0, pin: options.pin)
        let writes = UInt64(ops / 20 * threads)
        guard pass.result.inserted == writes, pass.result.deleted == writes,
            pass.result.hits == UInt64(ops * threads) - 2 * writes, pass.result.misses == 0,
            pass.result.insertFailed == 0, pass.result.deleteFailed == 0
        else {
            fail("\(implementation.rawValue) mixed \(entries) × \(threads) pass \(p): \(describe(pass.result))")
        }
        m.wall.append(pass.wall)
        m.cpu.append(pass.cpu)
    }
    guard table.count == entries else { fail("\(implementation.rawValue) mixed: count \(table.count), expected \(entries)") }
    m.hugeKiB = anonHugeKiB()
    report(m)
    prepared.forEach { T.release($0) }
    buffers.forEach { $0.free() }
}

/// The idealised T-thread ceiling of the mixed workload (Implementation.flatSplit): for each T ≥ 2 of `--threads`,
/// T flat C tables of capacity / T slots (the same memory and load factor as every other implementation's one
/// table), table t prefilled with the keys thread t owns (indices ≡ t mod T, untimed, by thread t), then the very
/// streams the shared tables run, thread t on table t alone.
func measureSplitCeiling(_ implementation: Implementation, entries: Int, options: Options, report: (Measurement) -> Void) {
    guard options.workloads.contains(.mixed) else { return }
    let kind = implementation == .flatSplitBatch ? CConnRef_FlatBatch : CConnRef_Flat
    let factory = StreamFactory(seed: options.seed, entries: entries)
    let capacity = referenceCapacity(entries)
    for threads in options.threads where implementation.supports(.mixed, threads: threads, options: options) {
        guard let table = SplitReferenceTable(kind: kind, capacity: capacity, threads: threads) else {
            fail("\(implementation.rawValue): cannot create \(threads) tables for \(entries) entries")
        }
        let buffers = (0..<threads).map { t in
            let b = KeyBuffer(count: (entries - t + threads - 1) / threads, withOps: false)
            for j in 0..<b.count { b.keys[j] = factory.key(t + j * threads) }
            return b
        }
        let pass = timedPass(table, buffers, ranges: buffers.map { 0..<$0.count }, uniformOp: Int32(CConnRef_OpInsert),
                             pin: options.pin)
        buffers.forEach { $0.free() }
        guard pass.result.inserted == entries, table.count == entries else {
            fail("\(implementation.rawValue) prefill: \(describe(pass.result))")
        }
        var state = MixedState(entries: entries)
        measureMixed(implementation, table, capacity: capacity, entries: entries, threads: threads, state: &state,
                     options: options, report: report)
        table.destroy()
    }
}
