// conntable-compare: IPVSCore's ConnectionTable against liburcu's cds_lfht, Concurrency Kit's ck_ht and a flat C
// table (the single-threaded ceiling), on identical workloads in the same run.
//
// Workloads (keys: IPv4 connection tuples from a SplitMix64 sequence, identical in Swift and C, checked at start):
//   insert   fill an empty table with `entries` keys (T threads: a disjoint slice each)
//   lookup   lookups of present keys, uniformly random, `--ops` per thread per pass
//   miss     lookups of absent keys
//   mixed    90 % lookups of present keys / 5 % inserts of new keys / 5 % deletes of the oldest keys: the table
//            stays at `entries`; every result is checked (no lost, duplicated or invented entry)
//   balancer-new, balancer-existing   Balancer.process of a new flow's SYN (wlc, 8 servers; `entries` flows into
//            an empty balancer) and of an existing flow's packet (random among `entries` flows); ours only
// at each of `--entries` (default 16 K, 1 M, 16 M; K = 1000) on each of `--threads` (default 1, 2; pinned to CPUs).
// Each measurement prints one JSON line: {"workload","entries","threads","mops_wall","mops_cpu","impl",…}: millions
// of operations per wall-clock second (all threads together) and per thread-CPU second (CLOCK_THREAD_CPUTIME_ID,
// summed over threads: steadier on a shared machine), medians over `--passes`. `--table` adds a Markdown table with
// the ratios of ConnectionTable to each reference.
import CConnTableReference

#if canImport(Glibc)
import Glibc
#endif

func usage() -> Never {
    print(
        """
        usage: conntable-compare [--entries N,…] [--threads T,…] [--workload insert|lookup|miss|mixed|balancer-new|balancer-existing,…]
                                 [--impl swift|swift-batch|lfht|ck|flat|flat-batch|flat-split|flat-split-batch,…] [--ops N] [--passes K] [--seed S] [--no-pin] [--table] [--ck-mixed]
               conntable-compare --report FILE…   (the table from JSON lines printed earlier)
        N accepts K and M suffixes (powers of ten) and Ki, Mi (powers of two).
        """)
    exit(64)
}

func parseCount(_ s: Substring) -> Int? {
    let units: [(String, Int)] = [("Ki", 1 << 10), ("Mi", 1 << 20), ("K", 1000), ("M", 1_000_000)]
    for (suffix, factor) in units where s.hasSuffix(suffix) {
        return Int(s.dropLast(suffix.count)).map { $0 * factor }
    }
    return Int(s)
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst()
    func list<T>(_ parse: (Substring) -> T?) -> [T] {
        guard let v = args.popFirst() else { usage() }
        let items = v.split(separator: ",").map(parse)
        guard !items.isEmpty, items.allSatisfy({ $0 != nil }) else { usage() }
        return items.map { $0! }
    }
    while let a = args.popFirst() {
        switch a {
        case "--entries": o.entries = list(parseCount)
        case "--threads": o.threads = list { Int($0) }
        case "--workload", "--workloads":
            o.workloads = list { $0 == "hits" ? .lookup : $0 == "misses" ? .miss : Workload(rawValue: String($0)) }
        case "--impl", "--impls": o.implementations = list { Implementation(rawValue: String($0)) }
        case "--ops": o.opsPerPass = list(parseCount)[0]
        case "--passes": o.passes = list { Int($0) }[0]
        case "--seed": o.seed = list { UInt64($0) }[0]
        case "--no-pin": o.pin = false
        case "--table": o.table = true
        case "--ck-mixed": o.ckMixed = true
        default: usage()
        }
    }
    guard o.entries.allSatisfy({ $0 >= 64 && $0 % 2 == 0 }), o.threads.allSatisfy({ (1...8).contains($0) }),
        o.opsPerPass >= 40, o.passes >= 1
    else { usage() }
    return o
}

// `--report FILE…`: the Markdown table from JSON lines printed earlier (one run's, or several runs' — e.g. a run cut
// short, or 16 M entries measured separately); the figures are the lines' medians, nothing is measured.
if CommandLine.arguments.dropFirst().first == "--report" {
    let files = CommandLine.arguments.dropFirst(2)
    guard !files.isEmpty else { usage() }
    var ms: [Measurement] = []
    for path in files {
        guard let f = fopen(path, "r") else { fail("cannot open \(path)") }
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let m = Measurement(jsonLine: text) { ms.append(m) }
        }
        fclose(f)
    }
    guard !ms.isEmpty else { fail("no measurement lines in \(files.joined(separator: " "))") }
    printTable(ms)
    exit(0)
}

let options = parseOptions()
guard keySequencesAgree(seed: options.seed) else { fail("the Swift and C key sequences differ") }

var measurements: [Measurement] = []
let report: (Measurement) -> Void = { m in
    print(m.json)
    fflush(nil)  // each line as it is measured, also into a file or a pipe
    measurements.append(m)
}

for entries in options.entries {
    for implementation in options.implementations {
        switch implementation {
        case .swift:
            measureSwiftTable(entries: entries, batched: false, options: options, report: report)
            measureBalancer(entries: entries, options: options, report: report)
        case .swiftBatch:
            measureSwiftTable(entries: entries, batched: true, options: options, report: report)
        case .flatSplit, .flatSplitBatch:
            measureSplitCeiling(implementation, entries: entries, options: options, report: report)
        case .lfht, .ck, .flat, .flatBatch:
            let kind: CConnRef_Kind
            switch implementation {
            case .lfht: kind = CConnRef_LFHT
            case .ck: kind = CConnRef_CKHT
            case .flatBatch: kind = CConnRef_FlatBatch
            default: kind = CConnRef_Flat
            }
            measure(implementation, entries: entries, options: options, make: { entries, threads in
                let capacity = referenceCapacity(entries)
                return CReferenceTable(kind: kind, capacity: capacity, threads: threads).map { ($0, capacity) }
            }, report: report)
        }
    }
}

if measurements.isEmpty {
    fail("nothing to measure: flat C runs inserts and mixed on 1 thread only; ck_ht runs mixed only with --ck-mixed")
}
if options.table { printTable(measurements) }
